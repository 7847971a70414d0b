// Internal: the inner quantization loop for levels below 2^30 (the common case), in a portable
// version and an AVX2 version (quantize_avx2.cpp, compiled with -mavx2, picked at run time).
// Both compute exactly the rule in quantize_mask.hpp and return false if an element of x is NaN
// or infinite (out is then unspecified).
#pragma once
#include <cstddef>
#include <cstdint>

namespace secagg {
namespace detail {

struct SmallQuantizer {
  double c;       // clipping range
  double scale;   // (Q - 1) / (2c)
  int32_t qmax;   // Q - 1 <= 2^30
};

template <class F, class T>
bool quantize_small_portable(const SmallQuantizer& p, const F* x, const uint32_t* w, size_t n, T* out);

template <class F, class T>
bool quantize_small_avx2(const SmallQuantizer& p, const F* x, const uint32_t* w, size_t n, T* out);

}  // namespace detail
}  // namespace secagg
