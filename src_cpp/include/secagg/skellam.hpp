// Integer Skellam noise for distributed differential privacy, and the fused kernel that adds it.
//
// The contract (identical to secagg/dp/skellam.py, so Python and C++ produce the same integers
// from the same seed):
//   sub_seed(s, label, j) = HKDF-SHA256(ikm = s, no salt,
//                                       info = "secagg-dp-v1/" + label + "/" + j as 8 bytes BE, 32)
//   element i of Skellam(v), 0 < v <= 2^27: the uniform u = ((w >> 11) + 0.5) * 2^-53 of the
//   64-bit word w = word i of PRG(sub_seed(seed, "skellam", 0)) inverted through the table of
//   skellam.py (Miller's backward Bessel recurrence, W = ceil(20 sqrt(v)) + 30): the smallest k in
//   [-W, W] with u <= cdf(k), or W if none.
// Variances above 2^27 are not supported natively (Error kConfig).
#pragma once
#include <cstddef>
#include <cstdint>
#include <vector>

#include "secagg/modulus.hpp"
#include "secagg/prg.hpp"
#include "secagg/quantize_mask.hpp"

namespace secagg {

inline constexpr double kSkellamTableMaxVariance = 134217728.0;  // 2^27

// HKDF sub-seed of the DP layer (see above).
Seed dp_sub_seed(const Seed& seed, const char* label, uint64_t index);

// Inversion table of Skellam(variance), 0 < variance <= 2^27.
class SkellamTable {
 public:
  explicit SkellamTable(double variance);
  // The smallest k in [-W, W] with u <= cdf(k) (W if none), for the uniform
  // u = ((w >> 11) + 0.5) * 2^-53 of the PRG word w.
  int64_t sample_word(uint64_t w) const;
  // out[i] = sample_word(w[i]) for i < n; avx2: may use the AVX2 kernel (pass use_avx2(backend)).
  void sample_words(const uint64_t* w, size_t n, int64_t* out, bool avx2) const;
  int64_t width() const { return width_; }

 private:
  // Integer form of the inversion: u(m) = (m + 0.5) 2^-53 is non-decreasing in m = w >> 11, so
  // {m : u(m) <= cdf(k)} is a prefix [0, lim_[j]) of the 53-bit grid (lim_ settled by the double
  // comparison itself at the prefix's end, so no rounding argument is needed), and the answer for m
  // is #{j : lim_[j] <= m} (clamped to the last entry) -- the same integer as the double search.
  //
  // Guide over the top guide_bits_ bits of m (slot s, offset r = m mod 2^R, R = 53 - guide_bits_):
  // per slot a 32-bit entry j0 (low kIndexBits: #{j : lim_[j] <= slot start}) | code << kIndexBits.
  // code < 2^12: the slot holds at most one threshold, at offset b; code = top 12 bits of b
  // (4095 when there is none). The answer is j0 + (top12(r) > code) unless top12(r) == code, when
  // the exact comparison decides. kSlow (bit 31): several thresholds in the slot, exact search.
  static constexpr int kIndexBits = 19;
  static constexpr uint32_t kIndexMask = (1u << kIndexBits) - 1;
  static constexpr uint32_t kSlow = 0x80000000u;
  int64_t sample_slow(uint64_t m, uint32_t j0) const;
  size_t sample_words_avx2(const uint64_t* w, size_t n, int64_t* out) const;  // noise_avx2.cpp

  int64_t width_ = 0;
  size_t last_ = 0;              // index of the last real entry of the table
  int guide_bits_ = 1;           // the guide has 2^guide_bits_ slots (>= 2 (2W + 1))
  int coarse_shift_ = 0;         // R - 12: top12(r) = r >> coarse_shift_
  uint64_t offset_mask_ = 0;     // 2^R - 1
  std::vector<uint64_t> lim_;    // 2W + 1 entries (see above)
  std::vector<uint32_t> guide_;  // 2^guide_bits_ entries
};

// out[0..n) = n Skellam(variance) integers from `seed` (the Python sample_skellam contract).
void skellam_sample(const Seed& seed, double variance, size_t n, int64_t* out, unsigned threads);

// quantize_and_mask (quantize_mask.hpp) with Skellam(variance) noise added to every quantized
// element inside the same pass: y = (q + noise_i + masks) mod R. variance == 0 adds nothing.
template <class F, class T>
void quantize_and_mask_skellam(const F* update, size_t d, const QuantizeConfig& q, const Modulus& m,
                               const Seed* self_seed, const Seed* peer_seeds, const int* peer_signs,
                               size_t num_peers, const Seed& rounding_seed, const Seed& noise_seed,
                               double variance, T* out, unsigned threads);

}  // namespace secagg
