// AES-256-CTR with VAES on 256-bit ymm registers: two blocks per instruction, 8 registers
// (16 blocks) in flight; keystream is combined with the destination by AVX2 adds while still in
// registers. Compiled with -mvaes -mavx2 -maes (see isa.cmake); only called when the CPU has them.
#include "aes_impl.hpp"

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>

namespace secagg {
namespace detail {
namespace {

template <CtrOp op>
inline void combine(uint8_t* d, __m256i ks) {
  __m256i* p = reinterpret_cast<__m256i*>(d);
  if constexpr (op == CtrOp::kStore) {
    _mm256_storeu_si256(p, ks);
  } else if constexpr (op == CtrOp::kAdd32) {
    _mm256_storeu_si256(p, _mm256_add_epi32(_mm256_loadu_si256(p), ks));
  } else if constexpr (op == CtrOp::kSub32) {
    _mm256_storeu_si256(p, _mm256_sub_epi32(_mm256_loadu_si256(p), ks));
  } else if constexpr (op == CtrOp::kAdd64) {
    _mm256_storeu_si256(p, _mm256_add_epi64(_mm256_loadu_si256(p), ks));
  } else {
    _mm256_storeu_si256(p, _mm256_sub_epi64(_mm256_loadu_si256(p), ks));
  }
}

template <CtrOp op>
void run(const AesKey& key, Counter start, size_t n, uint8_t* dst) {
  __m256i rk[15];
  for (int i = 0; i < 15; ++i)
    rk[i] = _mm256_broadcastsi128_si256(_mm_load_si128(reinterpret_cast<const __m128i*>(key.rk) + i));
  // Per 128-bit lane: the counter as a little-endian (lo, hi) pair, byte-reversed into a block.
  const __m256i bswap = _mm256_broadcastsi128_si256(
      _mm_set_epi8(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15));
  const long long hi = static_cast<long long>(start.hi);
  const long long lo = static_cast<long long>(start.lo);
  __m256i ctr = _mm256_set_epi64x(hi, lo + 1, hi, lo);
  const __m256i two = _mm256_set_epi64x(0, 2, 0, 2);
  const __m256i sixteen = _mm256_set_epi64x(0, 16, 0, 16);
  while (n >= 16) {
    __m256i b[8];
    __m256i c = ctr;
    for (int j = 0; j < 8; ++j) {
      b[j] = _mm256_xor_si256(_mm256_shuffle_epi8(c, bswap), rk[0]);
      c = _mm256_add_epi64(c, two);
    }
    ctr = _mm256_add_epi64(ctr, sixteen);
    for (int r = 1; r < 14; ++r)
      for (int j = 0; j < 8; ++j) b[j] = _mm256_aesenc_epi128(b[j], rk[r]);
    for (int j = 0; j < 8; ++j) combine<op>(dst + 32 * j, _mm256_aesenclast_epi128(b[j], rk[14]));
    dst += 256;
    n -= 16;
  }
  while (n >= 2) {
    __m256i b = _mm256_xor_si256(_mm256_shuffle_epi8(ctr, bswap), rk[0]);
    ctr = _mm256_add_epi64(ctr, two);
    for (int r = 1; r < 14; ++r) b = _mm256_aesenc_epi128(b, rk[r]);
    combine<op>(dst, _mm256_aesenclast_epi128(b, rk[14]));
    dst += 32;
    n -= 2;
  }
  if (n == 1) {
    // Last odd block: run a full pair into a scratch buffer and use its first half.
    alignas(32) uint8_t tmp[32];
    const __m256i ks = [&] {
      __m256i b = _mm256_xor_si256(_mm256_shuffle_epi8(ctr, bswap), rk[0]);
      for (int r = 1; r < 14; ++r) b = _mm256_aesenc_epi128(b, rk[r]);
      return _mm256_aesenclast_epi128(b, rk[14]);
    }();
    _mm256_store_si256(reinterpret_cast<__m256i*>(tmp), ks);
    __m128i k = _mm_load_si128(reinterpret_cast<const __m128i*>(tmp));
    __m128i* p = reinterpret_cast<__m128i*>(dst);
    if constexpr (op == CtrOp::kStore) _mm_storeu_si128(p, k);
    else if constexpr (op == CtrOp::kAdd32) _mm_storeu_si128(p, _mm_add_epi32(_mm_loadu_si128(p), k));
    else if constexpr (op == CtrOp::kSub32) _mm_storeu_si128(p, _mm_sub_epi32(_mm_loadu_si128(p), k));
    else if constexpr (op == CtrOp::kAdd64) _mm_storeu_si128(p, _mm_add_epi64(_mm_loadu_si128(p), k));
    else _mm_storeu_si128(p, _mm_sub_epi64(_mm_loadu_si128(p), k));
  }
  secure_wipe(rk, sizeof rk);  // the key schedule's copy (wherever the compiler put it)
}

}  // namespace

void ctr_vaes(const AesKey& key, Counter start, size_t nblocks, uint8_t* dst, CtrOp op) {
  switch (op) {
    case CtrOp::kStore: run<CtrOp::kStore>(key, start, nblocks, dst); break;
    case CtrOp::kAdd32: run<CtrOp::kAdd32>(key, start, nblocks, dst); break;
    case CtrOp::kSub32: run<CtrOp::kSub32>(key, start, nblocks, dst); break;
    case CtrOp::kAdd64: run<CtrOp::kAdd64>(key, start, nblocks, dst); break;
    case CtrOp::kSub64: run<CtrOp::kSub64>(key, start, nblocks, dst); break;
  }
}

}  // namespace detail
}  // namespace secagg

#else  // not x86: never selected (backend_available() is false); keeps the build portable.
namespace secagg {
namespace detail {
void ctr_vaes(const AesKey& key, Counter start, size_t nblocks, uint8_t* dst, CtrOp op) {
  ctr_portable(key, start, nblocks, dst, op);
}
}  // namespace detail
}  // namespace secagg
#endif
