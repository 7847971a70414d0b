// Skellam table inversion on AVX2 (SkellamTable::sample_words_avx2); compiled with -mavx2
// (isa.cmake), called only when use_avx2(backend) (secagg/cpu.hpp).
#include "secagg/skellam.hpp"

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>

namespace secagg {

// Four words at a time: the guide entries loaded into one vector, the coarse comparison in 32-bit
// lanes; a group with a slow element is redone by the scalar code. Returns how many were done.
size_t SkellamTable::sample_words_avx2(const uint64_t* w, size_t n, int64_t* out) const {
  const int* guide = reinterpret_cast<const int*>(guide_.data());
  const int gshift = 64 - guide_bits_;
  const __m128i bits = _mm_cvtsi32_si128(guide_bits_);
  const __m256i pick = _mm256_setr_epi32(0, 2, 4, 6, 0, 2, 4, 6);  // low halves of 64-bit lanes
  const __m128i index_mask = _mm_set1_epi32(int(kIndexMask));
  const __m128i max_code = _mm_set1_epi32(4095);
  const __m128i width = _mm_set1_epi32(int(width_));  // W < 2^18
  size_t i = 0;
  for (; i + 4 <= n; i += 4) {
    const __m256i x = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(w + i));
    // four scalar loads: measured faster than vpgatherqd on Zen 3
    const __m128i e = _mm_setr_epi32(guide[w[i] >> gshift], guide[w[i + 1] >> gshift],
                                     guide[w[i + 2] >> gshift], guide[w[i + 3] >> gshift]);
    // top 12 bits of the in-slot offset: bits [52 - B, 64 - B) of w
    const __m256i top64 = _mm256_srli_epi64(_mm256_sll_epi64(x, bits), 52);
    const __m128i top = _mm256_castsi256_si128(_mm256_permutevar8x32_epi32(top64, pick));
    const __m128i code = _mm_srli_epi32(e, kIndexBits);  // includes kSlow's bit (> 4095)
    const __m128i slow = _mm_or_si128(_mm_cmpeq_epi32(code, top), _mm_cmpgt_epi32(code, max_code));
    if (_mm_movemask_epi8(slow)) {
      for (size_t k = i; k < i + 4; ++k) out[k] = sample_word(w[k]);
      continue;
    }
    // j0 + (top > code) - W: cmpgt gives -1 where true
    const __m128i j0 = _mm_and_si128(e, index_mask);
    const __m128i r = _mm_sub_epi32(_mm_sub_epi32(j0, _mm_cmpgt_epi32(top, code)), width);
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(out + i), _mm256_cvtepi32_epi64(r));
  }
  return i;
}

}  // namespace secagg

#else  // not x86: never selected (use_avx2() is false there).
namespace secagg {
size_t SkellamTable::sample_words_avx2(const uint64_t*, size_t, int64_t*) const { return 0; }
}  // namespace secagg
#endif
