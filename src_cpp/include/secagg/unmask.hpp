// Server side: summing masked vectors mod R and removing reconstructed masks.
#pragma once
#include <cstddef>
#include <cstdint>

#include "secagg/modulus.hpp"
#include "secagg/prg.hpp"

namespace secagg {

// out = sum of the n vectors vecs[0..n) (each of length d, every element < R) mod R, computed
// without overflow. Throws Error(kRange) if an element is >= R. T: uint32_t iff R <= 2^32.
template <class T>
void sum_vectors(const T* const* vecs, size_t n, size_t d, const Modulus& m, T* out,
                 unsigned threads);

// out = masked_sum - sum_i PRG(self_seeds[i]) - sum_j peer_signs[j] * PRG(peer_seeds[j]) mod R,
// where peer_signs[j] is the sign the surviving client used when it added that peer mask.
// out may alias masked_sum. Throws Error(kRange) if an element of masked_sum is >= R.
template <class T>
void unmask(const T* masked_sum, size_t d, const Modulus& m, const Seed* self_seeds,
            size_t num_self, const Seed* peer_seeds, const int* peer_signs, size_t num_peers,
            T* out, unsigned threads);

}  // namespace secagg
