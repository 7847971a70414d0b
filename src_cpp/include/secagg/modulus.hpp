// The modulus R ("modulus_range") of masked vectors: any power of two in [2, 2^64], or any other
// integer in [3, 2^62]. Elements are stored as uint32 when R <= 2^32, else as uint64.
#pragma once
#include <cstdint>

namespace secagg {

struct Modulus {
  uint64_t minus_one = 0;    // R - 1 (so that R = 2^64 is representable)
  bool pow2 = false;         // R is a power of two: arithmetic wraps, keep the low bits
  bool wide = false;         // R > 2^32: elements (and PRG words) are 64-bit
  bool word64 = false;       // PRG reads 64-bit words (wide, or not a power of two)
  uint64_t reject_mask = 0;  // not pow2: smallest 2^b - 1 >= R - 1 (rejection sampling)

  // Validates and builds; throws Error(kModulus) when R is out of range.
  static Modulus from_minus_one(uint64_t r_minus_one);
  // Reads a C-ABI modulus, where 0 stands for 2^64.
  static Modulus from_c(uint64_t r_or_zero) { return from_minus_one(r_or_zero - 1); }
};

}  // namespace secagg
