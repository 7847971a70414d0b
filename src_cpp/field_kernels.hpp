// Internal: vector kernels for general (non power-of-two) moduli r < 2^62 -- rejection filtering
// of PRG words and modular add/subtract -- in AVX2 (field_avx2.cpp, compiled with -mavx2, picked
// at run time). Scalar equivalents live in mask_pass.hpp; results are identical.
#pragma once
#include <cstddef>
#include <cstdint>

namespace secagg {
namespace detail {

// Replaces each buf[i] by buf[i] & mask, keeps (in order, compacted to the front) those < r, and
// returns how many were kept.
size_t reject_filter_avx2(uint64_t* buf, size_t n, uint64_t mask, uint64_t r);

// acc[i] = (acc[i] + v[i]) mod r and acc[i] = (acc[i] - v[i]) mod r, all values < r < 2^62.
template <class T>
void mod_add_avx2(T* acc, const uint64_t* v, size_t n, uint64_t r);
template <class T>
void mod_sub_avx2(T* acc, const uint64_t* v, size_t n, uint64_t r);

}  // namespace detail
}  // namespace secagg
