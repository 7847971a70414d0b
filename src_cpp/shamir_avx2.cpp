// Shamir split evaluated on AVX2 (see shamir_kernels.hpp); compiled with -mavx2 (isa.cmake).
#include "shamir_kernels.hpp"

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>

namespace secagg::shamir::detail {
namespace {
using u64 = std::uint64_t;

// One Horner step on four lanes with 32x32->64 multiplies: acc = h * 2^32 + l with h < 2^31 (acc <
// 2^63), x < 2^21, so h*x < 2^52 and l*x < 2^53; h*x*2^32 = (hx >> 29) * 2^61 + (hx mod 2^29) * 2^32
// == (hx >> 29) + ((hx mod 2^29) << 32) (mod p). Result < 2^53 + 2^23 + 2^61 + 2^61 < 2^63.
inline __m256i horner_step(__m256i acc, __m256i x, __m256i row, __m256i m29) {
  const __m256i hx = _mm256_mul_epu32(_mm256_srli_epi64(acc, 32), x);
  const __m256i lx = _mm256_mul_epu32(acc, x);
  const __m256i hi = _mm256_add_epi64(_mm256_srli_epi64(hx, 29),
                                      _mm256_slli_epi64(_mm256_and_si256(hx, m29), 32));
  return _mm256_add_epi64(_mm256_add_epi64(lx, hi), row);
}

}  // namespace

// Same result as split_scalar; four points per pass (8 independent vector chains).
void split_avx2(const u64* s, std::uint32_t threshold, std::uint32_t num_shares,
                const u64* coefficients, u64* out) {
  static_assert(kChunks == 8, "two 4-lane vectors per point");
  constexpr std::uint32_t kPoints = 4;
  const __m256i m29 = _mm256_set1_epi64x((std::int64_t{1} << 29) - 1);
  const u64* top = threshold >= 2 ? coefficients + (threshold - 2) * kChunks : s;
  const __m256i top0 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(top));
  const __m256i top1 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(top + 4));
  for (std::uint32_t x0 = 1; x0 <= num_shares; x0 += kPoints) {
    __m256i xv[kPoints], lo[kPoints], hi[kPoints];  // points x0..x0+3 (extra ones are not stored)
    for (std::uint32_t j = 0; j < kPoints; ++j) {
      xv[j] = _mm256_set1_epi64x(static_cast<std::int64_t>(x0 + j));
      lo[j] = top0;
      hi[j] = top1;
    }
    for (std::size_t k = threshold - 1; k-- > 0;) {
      const u64* row = k == 0 ? s : coefficients + (k - 1) * kChunks;
      const __m256i r0 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(row));
      const __m256i r1 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(row + 4));
      for (std::uint32_t j = 0; j < kPoints; ++j) {
        lo[j] = horner_step(lo[j], xv[j], r0, m29);
        hi[j] = horner_step(hi[j], xv[j], r1, m29);
      }
    }
    for (std::uint32_t j = 0; j < kPoints && x0 + j <= num_shares; ++j) {
      alignas(32) u64 tmp[kChunks];
      _mm256_store_si256(reinterpret_cast<__m256i*>(tmp), lo[j]);
      _mm256_store_si256(reinterpret_cast<__m256i*>(tmp + 4), hi[j]);
      u64* dst = out + static_cast<std::size_t>(x0 + j - 1) * kChunks;
      for (std::size_t c = 0; c < kChunks; ++c) dst[c] = fold64(tmp[c]);
    }
  }
}


}  // namespace secagg::shamir::detail

#else  // not x86: never selected (use_avx2() is false there).
namespace secagg::shamir::detail {
void split_avx2(const std::uint64_t*, std::uint32_t, std::uint32_t, const std::uint64_t*,
                std::uint64_t*) {}
}  // namespace secagg::shamir::detail
#endif
