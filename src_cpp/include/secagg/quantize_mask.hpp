// Client side: the fused, cache-blocked quantize-and-mask kernel.
//
// Quantization (per element, in float64 arithmetic, exactly this order so that other
// implementations can reproduce it bit for bit):
//   x  = clip(update[i], -c, c)                          c = clipping_range
//   t  = (x + c) * s                                     s = (Q - 1) / (2c), Q = quantization_range
//   q  = floor(t) + (w_i < (t - floor(t)) * 2^32)        w_i = 32-bit word i of PRG(rounding_seed)
//                                                        with R = 2^32, i.e. round up iff u < frac
//                                                        for u = w_i / 2^32 (unbiased)
//   q  = min(q, Q - 1)
// Masking: y = (q + PRG(self_seed) + sum_j sign_j * PRG(peer_seed_j)) mod R (see prg.hpp).
#pragma once
#include <cstddef>
#include <cstdint>

#include "secagg/modulus.hpp"
#include "secagg/prg.hpp"

namespace secagg {

struct QuantizeConfig {
  double clipping_range;      // c > 0, finite
  uint64_t quantization_max;  // Q - 1, in [1, 2^53]
};

// Throws Error(kConfig) if the configuration is out of range.
void validate_quantize_config(const QuantizeConfig& q);

// out[i] = quantized update[i] in [0, Q-1]. F is float or double; T is uint32_t when Q <= 2^32,
// else uint64_t. Throws Error(kNonFinite) for NaN/inf.
template <class F, class T>
void quantize(const F* update, size_t d, const QuantizeConfig& q, const Seed& rounding_seed, T* out,
              unsigned threads);

// The fused kernel. self_seed may be null (no self mask); peer_signs[j] must be +1 or -1;
// Q <= R required. T is uint32_t when R <= 2^32, else uint64_t.
template <class F, class T>
void quantize_and_mask(const F* update, size_t d, const QuantizeConfig& q, const Modulus& m,
                       const Seed* self_seed, const Seed* peer_seeds, const int* peer_signs,
                       size_t num_peers, const Seed& rounding_seed, T* out, unsigned threads);

}  // namespace secagg
