// AES-256-CTR with AES-NI on xmm registers, 8 blocks in flight (compiled with -maes -msse4.1,
// see isa.cmake; only called when the CPU has AES-NI).
#include "aes_impl.hpp"

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>

namespace secagg {
namespace detail {
namespace {

template <CtrOp op>
inline void combine(uint8_t* d, __m128i ks) {
  __m128i* p = reinterpret_cast<__m128i*>(d);
  if constexpr (op == CtrOp::kStore) {
    _mm_storeu_si128(p, ks);
  } else if constexpr (op == CtrOp::kAdd32) {
    _mm_storeu_si128(p, _mm_add_epi32(_mm_loadu_si128(p), ks));
  } else if constexpr (op == CtrOp::kSub32) {
    _mm_storeu_si128(p, _mm_sub_epi32(_mm_loadu_si128(p), ks));
  } else if constexpr (op == CtrOp::kAdd64) {
    _mm_storeu_si128(p, _mm_add_epi64(_mm_loadu_si128(p), ks));
  } else {
    _mm_storeu_si128(p, _mm_sub_epi64(_mm_loadu_si128(p), ks));
  }
}

template <CtrOp op>
void run(const AesKey& key, Counter start, size_t n, uint8_t* dst) {
  __m128i rk[15];
  for (int i = 0; i < 15; ++i) rk[i] = _mm_load_si128(reinterpret_cast<const __m128i*>(key.rk) + i);
  // The counter is kept as a little-endian 128-bit value (lo qword, hi qword) and byte-reversed
  // into the big-endian counter block.
  const __m128i bswap = _mm_set_epi8(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
  __m128i ctr = _mm_set_epi64x(static_cast<long long>(start.hi), static_cast<long long>(start.lo));
  const __m128i one = _mm_set_epi64x(0, 1);
  const __m128i eight = _mm_set_epi64x(0, 8);
  while (n >= 8) {
    __m128i b[8];
    __m128i c = ctr;
    for (int j = 0; j < 8; ++j) {
      b[j] = _mm_xor_si128(_mm_shuffle_epi8(c, bswap), rk[0]);
      c = _mm_add_epi64(c, one);
    }
    ctr = _mm_add_epi64(ctr, eight);
    for (int r = 1; r < 14; ++r)
      for (int j = 0; j < 8; ++j) b[j] = _mm_aesenc_si128(b[j], rk[r]);
    for (int j = 0; j < 8; ++j) combine<op>(dst + 16 * j, _mm_aesenclast_si128(b[j], rk[14]));
    dst += 128;
    n -= 8;
  }
  while (n > 0) {
    __m128i b = _mm_xor_si128(_mm_shuffle_epi8(ctr, bswap), rk[0]);
    ctr = _mm_add_epi64(ctr, one);
    for (int r = 1; r < 14; ++r) b = _mm_aesenc_si128(b, rk[r]);
    combine<op>(dst, _mm_aesenclast_si128(b, rk[14]));
    dst += 16;
    --n;
  }
  secure_wipe(rk, sizeof rk);  // the key schedule's copy (wherever the compiler put it)
}

}  // namespace

void ctr_aesni(const AesKey& key, Counter start, size_t nblocks, uint8_t* dst, CtrOp op) {
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
void ctr_aesni(const AesKey& key, Counter start, size_t nblocks, uint8_t* dst, CtrOp op) {
  ctr_portable(key, start, nblocks, dst, op);
}
}  // namespace detail
}  // namespace secagg
#endif
