#include "secagg/modulus.hpp"

#include "secagg/errors.hpp"

namespace secagg {

Modulus Modulus::from_minus_one(uint64_t r_minus_one) {
  if (r_minus_one == 0) throw Error(ErrorCode::kModulus, "modulus_range must be at least 2");
  Modulus m;
  m.minus_one = r_minus_one;
  m.pow2 = (r_minus_one & (r_minus_one + 1)) == 0;
  m.wide = r_minus_one > 0xffffffffull;
  m.word64 = m.wide || !m.pow2;
  if (!m.pow2) {
    if (r_minus_one >= (uint64_t(1) << 62))
      throw Error(ErrorCode::kModulus,
                  "modulus_range must be a power of two or at most 2**62; choose a smaller modulus");
    uint64_t mask = r_minus_one;
    for (int s = 1; s < 64; s <<= 1) mask |= mask >> s;
    m.reject_mask = mask;
  }
  return m;
}

}  // namespace secagg
