// AES-256-CTR front end: splits a call at the 2^64 wrap of the low counter word and runs the
// chosen backend's kernel on each part (backends are chosen in cpu.cpp).
#include "aes_impl.hpp"

namespace secagg {

void ctr_process(Backend backend, const AesKey& key, Counter start, size_t nblocks, uint8_t* dst,
                 CtrOp op) {
  while (nblocks > 0) {
    // Blocks left before the low 64 bits wrap (0 means 2^64, i.e. no wrap for any size_t count).
    uint64_t room = 0 - start.lo;
    size_t n = (room == 0 || room >= nblocks) ? nblocks : static_cast<size_t>(room);
    switch (backend) {
      case Backend::kVaes: detail::ctr_vaes(key, start, n, dst, op); break;
      case Backend::kAesni: detail::ctr_aesni(key, start, n, dst, op); break;
      case Backend::kBitslicedAvx2: detail::ctr_bitsliced_avx2(key, start, n, dst, op); break;
      case Backend::kArmCe: detail::ctr_armce(key, start, n, dst, op); break;
      default: detail::ctr_portable(key, start, n, dst, op); break;
    }
    dst += 16 * n;
    nblocks -= n;
    start.lo += n;
    if (start.lo == 0) ++start.hi;
  }
}

}  // namespace secagg
