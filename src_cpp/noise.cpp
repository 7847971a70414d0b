// Skellam noise (skellam.hpp): table inversion driven by the seekable PRG, and the
// Noise policy that adds it inside the fused quantize-and-mask pass (noise.hpp).
#include <algorithm>
#include <cmath>
#include <cstring>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>


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
  const size_t n = size_t(2 * w + 1);
  std::vector<double> cdf(n);
  double run = 0.0;
  for (int64_t j = 0; j <= 2 * w; ++j) {
    const int64_t k = j - w < 0 ? w - j : j - w;
    run = run + t[size_t(k)] / total;
    cdf[size_t(j)] = run;
  }
  // lim_[j] = #{m in [0, 2^53) : uniform(m) <= cdf[j]}. A candidate from cdf[j] 2^53 (exact
  // scaling): below 2^52, m + 0.5 is exact, so the prefix ends at floor(g + 0.5); above, m + 0.5
  // rounds to even. The candidate is then checked, and if need be moved, with the double
  // comparison itself, so lim_ is exact whatever the candidate was.
  constexpr uint64_t kGrid = uint64_t(1) << 53;
  lim_.resize(n);
  for (size_t j = 0; j < n; ++j) {
    const double c = cdf[j];
    const double g = c * 0x1p53;
    uint64_t l;
    if (!(g > 0.0)) {
      l = 0;
    } else if (g < 0x1p52) {
      const double f = std::floor(g);
      l = uint64_t(f) + uint64_t(g - f >= 0.5);
    } else if (g < 0x1p53) {
      const uint64_t whole = uint64_t(g);  // g is an integer here
      l = whole + uint64_t(whole % 2 == 0);
    } else {
      l = kGrid;
    }
    if (l > 0 && !(uniform((l - 1) << 11) <= c))
      while (l > 0 && !(uniform((l - 1) << 11) <= c)) --l;
    else
      while (l < kGrid && uniform(l << 11) <= c) ++l;
    lim_[j] = l;
  }
  int bits = 1;
  while ((size_t(1) << bits) < 2 * n && bits < 30) ++bits;
  guide_bits_ = bits;
  const int r_bits = 53 - bits;
  coarse_shift_ = r_bits - 12;
  offset_mask_ = (uint64_t(1) << r_bits) - 1;
  last_ = n - 1;
  const size_t g = size_t(1) << bits;
  // cnt[s] = #{j : lim_[j] <= s 2^R} (slot s starts at m = s 2^R), s = 0..g, by counting each
  // threshold at its first slot start ceil(lim_[j] / 2^R) and summing: no data-dependent branch.
  guide_.assign(g + 1, 0u);
  for (size_t j = 0; j < n; ++j) ++guide_[size_t((lim_[j] + offset_mask_) >> r_bits)];
  uint32_t acc_count = 0;
  for (size_t s = 0; s <= g; ++s) acc_count = guide_[s] += acc_count;
  // Slot s holds the thresholds j in [cnt[s], cnt[s + 1]) (lim_[j] in (start, next start]).
  for (size_t s = 0; s < g; ++s) {  // selects, not branches: d is irregular near the mode
    const size_t j0 = guide_[s], d = guide_[s + 1] - j0;
    const size_t jc = std::min(j0, last_);
    const uint64_t off = lim_[jc] - (uint64_t(s) << r_bits);  // used only when d == 1
    const uint32_t code = uint32_t(std::min<uint64_t>(off >> coarse_shift_, 4095));
    // one answer (d == 0, or the only threshold leads past the last entry): code 4095
    const bool one = d == 0 || (d == 1 && j0 == last_);
    const uint32_t hi = one ? (4095u << kIndexBits) : d == 1 ? (code << kIndexBits) : kSlow;
    guide_[s] = uint32_t(jc) | hi;
  }
  guide_.pop_back();
}

int64_t SkellamTable::sample_slow(uint64_t m, uint32_t j0) const {
  const size_t j = size_t(std::upper_bound(lim_.begin() + j0, lim_.end(), m) - lim_.begin());
  return int64_t(std::min(j, last_)) - width_;
}

int64_t SkellamTable::sample_word(uint64_t w) const {
  const uint64_t m = w >> 11;
  const uint32_t e = guide_[size_t(w >> (64 - guide_bits_))];
  const uint32_t j0 = e & kIndexMask, code = e >> kIndexBits;  // code includes kSlow's bit
  const uint32_t top = uint32_t((m & offset_mask_) >> coarse_shift_);
  // slow: slots holding several thresholds (< 1% of the mass: the tails) and 1 word in 4096
  if (top == code || code > 4095u) return sample_slow(m, j0);
  return int64_t(j0 + uint32_t(top > code)) - width_;
}

void SkellamTable::sample_words(const uint64_t* w, size_t n, int64_t* out, bool avx2) const {
  // sample_word with the table's fields in locals (the stores to out cannot alias them).
  const uint32_t* guide = guide_.data();
  const int gshift = 64 - guide_bits_, cshift = coarse_shift_;
  const uint64_t omask = offset_mask_;
  const int64_t width = width_;
  size_t i = 0;
  if (avx2) i = sample_words_avx2(w, n, out);
  for (; i < n; ++i) {
    const uint64_t m = w[i] >> 11;
    const uint32_t e = guide[size_t(w[i] >> gshift)];
    const uint32_t j0 = e & kIndexMask, code = e >> kIndexBits;
    const uint32_t top = uint32_t((m & omask) >> cshift);
    out[i] = (top == code || code > 4095u) ? sample_slow(m, j0)
                                            : int64_t(j0 + uint32_t(top > code)) - width;
  }
}


namespace {

// The table of `variance`, shared by the calls that use it: every client of a round, and every
// round, draws with the same variance, and building the table costs about as much as sampling
// 10^5 elements at variance 10^5. The last few tables are kept (a table is immutable).
std::shared_ptr<const SkellamTable> cached_table(double variance) {
  static std::mutex mu;
  static std::vector<std::pair<double, std::shared_ptr<const SkellamTable>>> cache;
  constexpr size_t kKeep = 4;
  {
    std::lock_guard<std::mutex> lock(mu);
    for (size_t i = 0; i < cache.size(); ++i)
      if (cache[i].first == variance) {
        std::rotate(cache.begin(), cache.begin() + i, cache.begin() + i + 1);  // most recent first
        return cache.front().second;
      }
  }
  auto table = std::make_shared<const SkellamTable>(variance);  // built outside the lock
  std::lock_guard<std::mutex> lock(mu);
  cache.insert(cache.begin(), {variance, table});
  if (cache.size() > kKeep) cache.pop_back();
  return table;
}

// The Noise policy of noise.hpp: Skellam noise added mod R to each quantized element.
class SkellamNoise {
 public:
  static constexpr bool kEnabled = true;

  SkellamNoise(const Seed& noise_seed, double variance, Backend be) : be_(be) {
    if (variance > 0.0) {
      table_ = cached_table(variance);
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
      t.sample_words(w, n, noise + (b - lo), use_avx2(be_));
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
