// Internal: GF(2^61 - 1) helpers shared by shamir.cpp and its AVX2 kernel (shamir_avx2.cpp,
// compiled with -mavx2, called only when use_avx2(active_backend())).
#pragma once
#include <cstdint>

#include "secagg/shamir.hpp"

namespace secagg::shamir {
namespace detail {

inline std::uint64_t fold64(std::uint64_t x) {  // any x < 2^64 -> [0, p)
  std::uint64_t r = (x & kPrime) + (x >> 61);    // < 2^61 + 8
  return r >= kPrime ? r - kPrime : r;
}

// split() evaluated with AVX2 (same output as the scalar loop).
void split_avx2(const std::uint64_t* s, std::uint32_t threshold, std::uint32_t num_shares,
                const std::uint64_t* coefficients, std::uint64_t* out);

}  // namespace detail
using detail::fold64;
using detail::split_avx2;
}  // namespace secagg::shamir
