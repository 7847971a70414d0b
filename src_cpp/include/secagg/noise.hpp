// Extension point: integer noise added to the quantized values inside the fused pass.
//
// quantize_and_mask is templated on a Noise policy. A policy provides
//   static constexpr bool kEnabled;
//   template <class T> void apply(size_t lo, size_t hi, T* q, const Modulus& m) const;
// apply() receives the quantized elements lo..hi-1 (already in [0, Q-1]) of one cache block and
// must replace each by (q + noise_i) mod R. It is called concurrently on disjoint ranges, so the
// noise of element i must depend only on i and the policy's key (e.g. drawn from a seekable PRG
// stream), never on how the range was split; that keeps threaded results bit-identical.
// NoNoise compiles to nothing, so the no-noise path pays no cost.
#pragma once
#include <cstddef>

#include "secagg/modulus.hpp"

namespace secagg {

struct NoNoise {
  static constexpr bool kEnabled = false;
  template <class T>
  void apply(size_t, size_t, T*, const Modulus&) const {}
};

}  // namespace secagg
