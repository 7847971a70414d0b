// AVX2 kernels for general moduli (see field_kernels.hpp). Values are < 2^62, so the signed
// 64-bit compare of AVX2 orders them correctly.
#include "field_kernels.hpp"

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>

#include <array>
#include <type_traits>

namespace secagg {
namespace detail {
namespace {

// For each 4-bit keep-mask, the 32-bit lane indices that move the kept 64-bit lanes to the front.
constexpr std::array<std::array<int32_t, 8>, 16> make_compress_table() {
  std::array<std::array<int32_t, 8>, 16> t{};
  for (int m = 0; m < 16; ++m) {
    int k = 0;
    for (int lane = 0; lane < 4; ++lane)
      if (m & (1 << lane)) {
        t[m][2 * k] = 2 * lane;
        t[m][2 * k + 1] = 2 * lane + 1;
        ++k;
      }
    for (; k < 4; ++k) { t[m][2 * k] = 0; t[m][2 * k + 1] = 1; }
  }
  return t;
}
alignas(32) constexpr auto kCompress = make_compress_table();

template <class T>
inline __m256i load4(const T* p) {
  if constexpr (std::is_same_v<T, uint32_t>)
    return _mm256_cvtepu32_epi64(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
  else
    return _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p));
}

template <class T>
inline void store4(T* p, __m256i v) {
  if constexpr (std::is_same_v<T, uint32_t>) {
    const __m256i low = _mm256_setr_epi32(0, 2, 4, 6, 0, 2, 4, 6);
    _mm_storeu_si128(reinterpret_cast<__m128i*>(p),
                     _mm256_castsi256_si128(_mm256_permutevar8x32_epi32(v, low)));
  } else {
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(p), v);
  }
}

}  // namespace

size_t reject_filter_avx2(uint64_t* buf, size_t n, uint64_t mask, uint64_t r) {
  const __m256i vmask = _mm256_set1_epi64x(static_cast<long long>(mask));
  const __m256i vr = _mm256_set1_epi64x(static_cast<long long>(r));
  size_t i = 0, j = 0;
  for (; i + 4 <= n; i += 4) {
    __m256i v = _mm256_and_si256(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(buf + i)), vmask);
    // keep lanes with v < r, i.e. r > v (both < 2^63 after masking with mask < 2^62)
    const int keep = _mm256_movemask_pd(_mm256_castsi256_pd(_mm256_cmpgt_epi64(vr, v)));
    const __m256i idx = _mm256_load_si256(reinterpret_cast<const __m256i*>(kCompress[keep].data()));
    // The store covers buf[j..j+3] with j <= i: those words were already loaded.
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(buf + j), _mm256_permutevar8x32_epi32(v, idx));
    j += static_cast<size_t>(__builtin_popcount(static_cast<unsigned>(keep)));
  }
  for (; i < n; ++i) {
    uint64_t v = buf[i] & mask;
    buf[j] = v;
    j += v < r;
  }
  return j;
}

template <class T>
void mod_add_avx2(T* acc, const uint64_t* v, size_t n, uint64_t r) {
  const __m256i vr = _mm256_set1_epi64x(static_cast<long long>(r));
  const __m256i vr1 = _mm256_set1_epi64x(static_cast<long long>(r - 1));
  size_t i = 0;
  for (; i + 4 <= n; i += 4) {
    __m256i s = _mm256_add_epi64(load4(acc + i), _mm256_loadu_si256(reinterpret_cast<const __m256i*>(v + i)));
    const __m256i ge = _mm256_cmpgt_epi64(s, vr1);  // s >= r
    store4(acc + i, _mm256_sub_epi64(s, _mm256_and_si256(ge, vr)));
  }
  for (; i < n; ++i) {
    uint64_t s = uint64_t(acc[i]) + v[i];
    acc[i] = T(s - (r & (0 - uint64_t(s >= r))));
  }
}

template <class T>
void mod_sub_avx2(T* acc, const uint64_t* v, size_t n, uint64_t r) {
  const __m256i vr = _mm256_set1_epi64x(static_cast<long long>(r));
  size_t i = 0;
  for (; i + 4 <= n; i += 4) {
    const __m256i a = load4(acc + i);
    const __m256i b = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(v + i));
    const __m256i lt = _mm256_cmpgt_epi64(b, a);  // a < b
    store4(acc + i, _mm256_add_epi64(_mm256_sub_epi64(a, b), _mm256_and_si256(lt, vr)));
  }
  for (; i < n; ++i) {
    uint64_t a = acc[i];
    acc[i] = T(a - v[i] + (r & (0 - uint64_t(a < v[i]))));
  }
}

template void mod_add_avx2<uint32_t>(uint32_t*, const uint64_t*, size_t, uint64_t);
template void mod_add_avx2<uint64_t>(uint64_t*, const uint64_t*, size_t, uint64_t);
template void mod_sub_avx2<uint32_t>(uint32_t*, const uint64_t*, size_t, uint64_t);
template void mod_sub_avx2<uint64_t>(uint64_t*, const uint64_t*, size_t, uint64_t);

}  // namespace detail
}  // namespace secagg

#else  // not x86: never selected (use_avx2() is false there).
namespace secagg {
namespace detail {
size_t reject_filter_avx2(uint64_t*, size_t, uint64_t, uint64_t) { return 0; }
template <class T> void mod_add_avx2(T*, const uint64_t*, size_t, uint64_t) {}
template <class T> void mod_sub_avx2(T*, const uint64_t*, size_t, uint64_t) {}
template void mod_add_avx2<uint32_t>(uint32_t*, const uint64_t*, size_t, uint64_t);
template void mod_add_avx2<uint64_t>(uint64_t*, const uint64_t*, size_t, uint64_t);
template void mod_sub_avx2<uint32_t>(uint32_t*, const uint64_t*, size_t, uint64_t);
template void mod_sub_avx2<uint64_t>(uint64_t*, const uint64_t*, size_t, uint64_t);
}  // namespace detail
}  // namespace secagg
#endif
