// Skellam noise (skellam.hpp): table inversion driven by the seekable PRG, and the
// Noise policy that adds it inside the fused quantize-and-mask pass (noise.hpp).
#include <algorithm>
#include <cmath>
#include <cstring>
#include <memory>
#include <string>

#include "quantize_source.hpp"
#include "secagg/errors.hpp"
#include "secagg/parallel.hpp"
#include "secagg/sha256.hpp"
#include "secagg/skellam.hpp"

namespace secagg {

Seed dp_sub_seed(const Seed& seed, const char* label, uint64_t index) {
  std::string info = std::string("secagg-dp-v1/") + label + "/";
  for (int b = 7; b >= 0; --b) info.push_back(char((index >> (8 * b)) & 0xff));
  Seed out;
  hkdf_sha256(seed.data(), seed.size(), nullptr, 0, reinterpret_cast<const uint8_t*>(info.data()),
              info.size(), out.data(), out.size());
  return out;
}

namespace {

// (w >> 11) < 2^53 fits int64: the signed conversion is one instruction, and the value is the same.
inline double uniform(uint64_t w) { return (double(int64_t(w >> 11)) + 0.5) * 0x1p-53; }

// Words lo..hi-1 of the PRG keyed by `key` (64-bit word i sits in counter block i / 2).
void words(Backend be, const AesKey& key, size_t lo, size_t hi, uint64_t* out) {
  const size_t b0 = lo / 2, b1 = (hi + 1) / 2;
  if (lo % 2 == 0) {
    const size_t full = (hi - lo) / 2;
    if (full) ctr_process(be, key, Counter{0, b0}, full, reinterpret_cast<uint8_t*>(out), CtrOp::kStore);
    if ((hi - lo) % 2) {
      uint64_t tmp[2];
      ctr_process(be, key, Counter{0, b0 + full}, 1, reinterpret_cast<uint8_t*>(tmp), CtrOp::kStore);
      out[hi - lo - 1] = tmp[0];
    }
    return;
  }
  std::vector<uint64_t> tmp(2 * (b1 - b0));
  ctr_process(be, key, Counter{0, b0}, b1 - b0, reinterpret_cast<uint8_t*>(tmp.data()), CtrOp::kStore);
  std::memcpy(out, tmp.data() + 1, (hi - lo) * sizeof(uint64_t));
}

}  // namespace

SkellamTable::SkellamTable(double v) {
  if (!(v > 0.0 && v <= kSkellamTableMaxVariance))
    throw Error(ErrorCode::kConfig, "Skellam variance must be in (0, 2**27] for the native sampler; "
                                    "lower the noise or the scale");
  const int64_t w = int64_t(std::ceil(20.0 * std::sqrt(v))) + 30;
  width_ = w;
  const int64_t start = w + 10;
  std::vector<double> t(size_t(start + 2), 0.0);
  t[size_t(start)] = 1.0;
  const double big = 0x1p600, shrink = 0x1p-600;
  for (int64_t k = start; k > 0; --k) {
    const double val = t[size_t(k + 1)] + ((2.0 * double(k)) / v) * t[size_t(k)];
    t[size_t(k - 1)] = val;
    if (val > big)
      for (int64_t j = k - 1; j <= start; ++j) t[size_t(j)] = t[size_t(j)] * shrink;
  }
  double acc = 0.0;
  for (int64_t k = 1; k <= w; ++k) acc = acc + t[size_t(k)];
  const double total = t[0] + 2.0 * acc;
  cdf_.resize(size_t(2 * w + 1));
  double run = 0.0;
  for (int64_t j = 0; j <= 2 * w; ++j) {
    const int64_t k = j - w < 0 ? w - j : j - w;
    run = run + t[size_t(k)] / total;
    cdf_[size_t(j)] = run;
  }
  // Guide over the top k bits of the PRG word: slot s holds every word w with w >> (64 - k) == s,
  // i.e. the uniforms uniform(m) for m = w >> 11 in [s 2^(53-k), (s+1) 2^(53-k) - 1]. The entry
  // is the answer for the slot's smallest uniform (a lower bound for all of them), flagged when
  // it is also the answer for the largest one, so the whole slot maps to it (the common case).
  int bits = 1;
  while ((size_t(1) << bits) < 2 * cdf_.size() && bits < 30) ++bits;
  guide_bits_ = bits;
  const size_t g = size_t(1) << bits;
  guide_.resize(g);
  size_t j = 0;
  const size_t n = cdf_.size();
  for (size_t i = 0; i < g; ++i) {
    const uint64_t m_lo = uint64_t(i) << (53 - bits), m_hi = ((uint64_t(i) + 1) << (53 - bits)) - 1;
    const double u_lo = uniform(m_lo << 11), u_hi = uniform(m_hi << 11);
    while (j + 1 < n && cdf_[j] < u_lo) ++j;
    const bool whole = cdf_[j] >= u_hi || j + 1 == n;
    guide_[i] = uint32_t(j) | (whole ? kWhole : 0u);
  }
  last_ = cdf_.size() - 1;
  // two sentinels above any u, so the first two scan steps need no bounds check
  cdf_.push_back(2.0);
  cdf_.push_back(2.0);
}

int64_t SkellamTable::sample_word(uint64_t w) const {
  const uint32_t e = guide_[size_t(w >> (64 - guide_bits_))];
  if (e & kWhole) return int64_t(e & ~kWhole) - width_;
  const double u = uniform(w);
  const double* cdf = cdf_.data();
  size_t j = e;
  // Usually 0-2 steps: two branch-free ones (sentinels end the table), then a loop for the rare
  // longer scans; the result is clamped to the last real entry.
  j += size_t(cdf[j] < u);
  j += size_t(cdf[j] < u);
  while (cdf[j] < u && j < last_) ++j;
  return int64_t(std::min(j, last_)) - width_;
}

namespace {

// The Noise policy of noise.hpp: Skellam noise added mod R to each quantized element.
class SkellamNoise {
 public:
  static constexpr bool kEnabled = true;

  SkellamNoise(const Seed& noise_seed, double variance, Backend be) : be_(be) {
    if (variance > 0.0) {
      table_ = std::make_shared<const SkellamTable>(variance);
      const Seed stream = dp_sub_seed(noise_seed, "skellam", 0);
      key_ = std::make_shared<const AesKey>(derive_prg_key(stream.data()));
    }
  }

  // noise[0 .. hi-lo) for elements lo..hi-1.
  void draw(size_t lo, size_t hi, int64_t* noise) const {
    if (!table_) {
      std::fill(noise, noise + (hi - lo), int64_t(0));
      return;
    }
    constexpr size_t kChunk = 512;
    uint64_t w[kChunk];
    const SkellamTable& t = *table_;
    for (size_t b = lo; b < hi; b += kChunk) {
      const size_t e = std::min(hi, b + kChunk), n = e - b;
      words(be_, *key_, b, e, w);
      for (size_t i = 0; i < n; ++i) noise[b - lo + i] = t.sample_word(w[i]);
    }
  }

  template <class T>
  void apply(size_t lo, size_t hi, T* q, const Modulus& m) const {
    if (!table_) return;
    constexpr size_t kChunk = 512;
    int64_t noise[kChunk];
    const uint64_t r1 = m.minus_one;
    for (size_t b = lo; b < hi; b += kChunk) {
      const size_t e = std::min(hi, b + kChunk), n = e - b;
      draw(b, e, noise);
      T* out = q + (b - lo);
      if (m.pow2) {
        for (size_t i = 0; i < n; ++i) out[i] = T((uint64_t(out[i]) + uint64_t(noise[i])) & r1);
      } else {
        const uint64_t r = r1 + 1;  // not a power of two, so r <= 2^62
        for (size_t i = 0; i < n; ++i) {
          const int64_t z = noise[i];
          const uint64_t a = z >= 0 ? uint64_t(z) % r : (r - uint64_t(-(z + 1)) % r - 1);
          const uint64_t s = uint64_t(out[i]) + a;
          out[i] = T(s >= r ? s - r : s);
        }
      }
    }
  }

 private:
  // shared, so that copying the policy into the pass is cheap
  std::shared_ptr<const SkellamTable> table_;  // null when variance == 0
  std::shared_ptr<const AesKey> key_;
  Backend be_;
};

}  // namespace

void skellam_sample(const Seed& seed, double variance, size_t n, int64_t* out, unsigned threads) {
  if (!(std::isfinite(variance) && variance >= 0.0 && variance <= kSkellamTableMaxVariance))
    throw Error(ErrorCode::kConfig, "Skellam variance must be in [0, 2**27]");
  if (n > 0 && out == nullptr) throw Error(ErrorCode::kNullPointer, "out is NULL");
  const SkellamNoise noise(seed, variance, active_backend());
  parallel_for(n, resolve_threads(threads, n), 2,
                      [&](size_t lo, size_t hi) { noise.draw(lo, hi, out + lo); });
}

template <class F, class T>
void quantize_and_mask_skellam(const F* update, size_t d, const QuantizeConfig& q, const Modulus& m,
                               const Seed* self_seed, const Seed* peer_seeds, const int* peer_signs,
                               size_t num_peers, const Seed& rounding_seed, const Seed& noise_seed,
                               double variance, T* out, unsigned threads) {
  if (!(std::isfinite(variance) && variance >= 0.0))
    throw Error(ErrorCode::kConfig, "Skellam variance must be finite and >= 0");
  detail::quantize_and_mask_with_noise<F, T>(update, d, q, m, self_seed, peer_seeds, peer_signs,
                                             num_peers, rounding_seed, out, threads,
                                             SkellamNoise(noise_seed, variance, active_backend()));
}

#define SECAGG_INSTANTIATE(F, T)                                                                \
  template void quantize_and_mask_skellam<F, T>(const F*, size_t, const QuantizeConfig&,        \
                                                const Modulus&, const Seed*, const Seed*,       \
                                                const int*, size_t, const Seed&, const Seed&,   \
                                                double, T*, unsigned);
SECAGG_INSTANTIATE(float, uint32_t)
SECAGG_INSTANTIATE(float, uint64_t)
SECAGG_INSTANTIATE(double, uint32_t)
SECAGG_INSTANTIATE(double, uint64_t)
#undef SECAGG_INSTANTIATE

}  // namespace secagg
