// AES-256-CTR with the ARMv8 Crypto Extensions (AESE/AESMC via arm_neon.h), 8 blocks in flight;
// the keystream is combined with the destination by NEON adds while still in registers (the
// structure of the VAES kernel). Compiled with -march=armv8-a+crypto (see isa.cmake); only called
// when cpu_features().arm_aes (getauxval(AT_HWCAP) & HWCAP_AES on Linux/Android, sysctl
// hw.optional.arm.FEAT_AES on Apple).
#include "aes_impl.hpp"

#if defined(__aarch64__) && defined(__ARM_FEATURE_AES)
#include <arm_neon.h>

namespace secagg {
namespace detail {
namespace {

template <CtrOp op>
inline void combine(uint8_t* d, uint8x16_t ks) {
  if constexpr (op == CtrOp::kStore) {
    vst1q_u8(d, ks);
  } else if constexpr (op == CtrOp::kAdd32) {
    vst1q_u8(d, vreinterpretq_u8_u32(vaddq_u32(vreinterpretq_u32_u8(vld1q_u8(d)), vreinterpretq_u32_u8(ks))));
  } else if constexpr (op == CtrOp::kSub32) {
    vst1q_u8(d, vreinterpretq_u8_u32(vsubq_u32(vreinterpretq_u32_u8(vld1q_u8(d)), vreinterpretq_u32_u8(ks))));
  } else if constexpr (op == CtrOp::kAdd64) {
    vst1q_u8(d, vreinterpretq_u8_u64(vaddq_u64(vreinterpretq_u64_u8(vld1q_u8(d)), vreinterpretq_u64_u8(ks))));
  } else {
    vst1q_u8(d, vreinterpretq_u8_u64(vsubq_u64(vreinterpretq_u64_u8(vld1q_u8(d)), vreinterpretq_u64_u8(ks))));
  }
}

// One AES-256 encryption: AESE = AddRoundKey + SubBytes + ShiftRows, AESMC = MixColumns.
inline uint8x16_t encrypt(uint8x16_t b, const uint8x16_t* rk) {
  for (int r = 0; r < 13; ++r) b = vaesmcq_u8(vaeseq_u8(b, rk[r]));
  return veorq_u8(vaeseq_u8(b, rk[13]), rk[14]);
}

// The counter block of start.lo + i: the 128-bit big-endian integer (hi, lo) as bytes.
inline uint8x16_t counter_block(uint64_t hi, uint64_t lo) {
  return vreinterpretq_u8_u64(vcombine_u64(vcreate_u64(__builtin_bswap64(hi)), vcreate_u64(__builtin_bswap64(lo))));
}

template <CtrOp op>
void run(const AesKey& key, Counter start, size_t n, uint8_t* dst) {
  uint8x16_t rk[15];
  for (int i = 0; i < 15; ++i) rk[i] = vld1q_u8(key.rk + 16 * i);
  uint64_t lo = start.lo;
  while (n >= 8) {
    uint8x16_t b[8];
    for (int j = 0; j < 8; ++j) b[j] = counter_block(start.hi, lo + uint64_t(j));
    for (int r = 0; r < 13; ++r)
      for (int j = 0; j < 8; ++j) b[j] = vaesmcq_u8(vaeseq_u8(b[j], rk[r]));
    for (int j = 0; j < 8; ++j) combine<op>(dst + 16 * j, veorq_u8(vaeseq_u8(b[j], rk[13]), rk[14]));
    lo += 8;
    dst += 128;
    n -= 8;
  }
  for (; n > 0; --n, ++lo, dst += 16) combine<op>(dst, encrypt(counter_block(start.hi, lo), rk));
  secure_wipe(rk, sizeof rk);  // the key schedule's copy (wherever the compiler put it)
}

}  // namespace

void ctr_armce(const AesKey& key, Counter start, size_t nblocks, uint8_t* dst, CtrOp op) {
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

#else  // not arm64 with +crypto: never selected (backend_available() is false there).
namespace secagg {
namespace detail {
void ctr_armce(const AesKey& key, Counter start, size_t nblocks, uint8_t* dst, CtrOp op) {
  ctr_portable(key, start, nblocks, dst, op);
}
}  // namespace detail
}  // namespace secagg
#endif
