// AVX2 quantization loop: 4 doubles per vector, no FMA (results must equal the scalar rule).
#include "quantize_kernels.hpp"

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>

#include <type_traits>

namespace secagg {
namespace detail {
namespace {

// 4 inputs as doubles, plus a mask of lanes whose exponent is all ones (NaN or inf).
inline __m256d load4(const float* x, __m256i& bad) {
  __m128 f = _mm_loadu_ps(x);
  const __m128i e = _mm_set1_epi32(0x7f800000);
  __m128i nonfinite = _mm_cmpeq_epi32(_mm_and_si128(_mm_castps_si128(f), e), e);
  bad = _mm256_or_si256(bad, _mm256_zextsi128_si256(nonfinite));  // cast: upper half undefined
  return _mm256_cvtps_pd(f);
}

inline __m256d load4(const double* x, __m256i& bad) {
  __m256d v = _mm256_loadu_pd(x);
  const __m256i e = _mm256_set1_epi64x(0x7ff0000000000000LL);
  bad = _mm256_or_si256(bad, _mm256_cmpeq_epi64(_mm256_and_si256(_mm256_castpd_si256(v), e), e));
  return v;
}

}  // namespace

template <class F, class T>
bool quantize_small_avx2(const SmallQuantizer& p, const F* x, const uint32_t* w, size_t n, T* out) {
  const __m256d c = _mm256_set1_pd(p.c), negc = _mm256_set1_pd(-p.c);
  const __m256d scale = _mm256_set1_pd(p.scale);
  const __m256d two32 = _mm256_set1_pd(4294967296.0), two31 = _mm256_set1_pd(2147483648.0);
  const __m128i flip = _mm_set1_epi32(int(0x80000000u));
  const __m128i qmax = _mm_set1_epi32(p.qmax);
  const __m256i low_halves = _mm256_setr_epi32(0, 2, 4, 6, 0, 2, 4, 6);
  __m256i bad = _mm256_setzero_si256();
  size_t i = 0;
  for (; i + 4 <= n; i += 4) {
    __m256d v = load4(x + i, bad);
    v = _mm256_min_pd(_mm256_max_pd(v, negc), c);
    const __m256d t = _mm256_mul_pd(_mm256_add_pd(v, c), scale);
    const __m128i fi = _mm256_cvttpd_epi32(t);
    const __m256d frac = _mm256_sub_pd(t, _mm256_cvtepi32_pd(fi));
    const __m128i wi = _mm_xor_si128(_mm_loadu_si128(reinterpret_cast<const __m128i*>(w + i)), flip);
    const __m256d wd = _mm256_add_pd(_mm256_cvtepi32_pd(wi), two31);
    const __m256d up = _mm256_cmp_pd(wd, _mm256_mul_pd(frac, two32), _CMP_LT_OQ);
    const __m128i up32 = _mm256_castsi256_si128(
        _mm256_permutevar8x32_epi32(_mm256_castpd_si256(up), low_halves));
    __m128i q = _mm_min_epi32(_mm_sub_epi32(fi, up32), qmax);
    if constexpr (std::is_same_v<T, uint32_t>) {
      _mm_storeu_si128(reinterpret_cast<__m128i*>(out + i), q);
    } else {
      _mm256_storeu_si256(reinterpret_cast<__m256i*>(out + i), _mm256_cvtepu32_epi64(q));
    }
  }
  if (!_mm256_testz_si256(bad, bad)) return false;
  return quantize_small_portable<F, T>(p, x + i, w + i, n - i, out + i);
}

template bool quantize_small_avx2<float, uint32_t>(const SmallQuantizer&, const float*, const uint32_t*, size_t, uint32_t*);
template bool quantize_small_avx2<float, uint64_t>(const SmallQuantizer&, const float*, const uint32_t*, size_t, uint64_t*);
template bool quantize_small_avx2<double, uint32_t>(const SmallQuantizer&, const double*, const uint32_t*, size_t, uint32_t*);
template bool quantize_small_avx2<double, uint64_t>(const SmallQuantizer&, const double*, const uint32_t*, size_t, uint64_t*);

}  // namespace detail
}  // namespace secagg

#else  // not x86: never selected.
namespace secagg {
namespace detail {
template <class F, class T>
bool quantize_small_avx2(const SmallQuantizer& p, const F* x, const uint32_t* w, size_t n, T* out) {
  return quantize_small_portable<F, T>(p, x, w, n, out);
}
template bool quantize_small_avx2<float, uint32_t>(const SmallQuantizer&, const float*, const uint32_t*, size_t, uint32_t*);
template bool quantize_small_avx2<float, uint64_t>(const SmallQuantizer&, const float*, const uint32_t*, size_t, uint64_t*);
template bool quantize_small_avx2<double, uint32_t>(const SmallQuantizer&, const double*, const uint32_t*, size_t, uint32_t*);
template bool quantize_small_avx2<double, uint64_t>(const SmallQuantizer&, const double*, const uint32_t*, size_t, uint64_t*);
}  // namespace detail
}  // namespace secagg
#endif
