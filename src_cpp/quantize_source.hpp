// Internal: the Source of the fused pass that clips, scales and stochastically rounds an update
// (formula in quantize_mask.hpp), then applies the Noise policy (noise.hpp).
#pragma once
#include <cmath>
#include <string>

#include "mask_pass.hpp"
#include "quantize_kernels.hpp"
#include "secagg/noise.hpp"
#include "secagg/quantize_mask.hpp"

namespace secagg {
namespace detail {

template <class F, class T, class Noise = NoNoise>
class QuantizeSource {
 public:
  QuantizeSource(const F* update, const QuantizeConfig& q, const AesKey& rounding_key, Backend be,
                 const Modulus& m, Noise noise = Noise{})
      : x_(update),
        c_(q.clipping_range),
        scale_(double(q.quantization_max) / (2.0 * q.clipping_range)),
        qmax_(q.quantization_max),
        key_(rounding_key),
        be_(be),
        m_(m),
        noise_(noise),
        avx2_(use_avx2(be)) {}

  void fill(size_t lo, size_t hi, T* dst) const {
    constexpr size_t kChunk = 1024;  // multiple of 4: each chunk starts on a counter block
    alignas(32) uint32_t w[kChunk];
    for (size_t b = lo; b < hi; b += kChunk) {
      const size_t n = std::min(hi, b + kChunk) - b;
      const F* x = x_ + b;
      T* out = dst + (b - lo);
      ctr_process(be_, key_, Counter{0, b / 4}, (n + 3) / 4, reinterpret_cast<uint8_t*>(w),
                  CtrOp::kStore);
      bool ok;
      if (qmax_ <= kSmallMax) {
        const SmallQuantizer p{c_, scale_, int32_t(qmax_)};
        ok = avx2_ ? quantize_small_avx2<F, T>(p, x, w, n, out)
                   : quantize_small_portable<F, T>(p, x, w, n, out);
      } else {
        ok = quantize_large(x, w, n, out);
      }
      if (!ok) {
        size_t i = 0;
        while (i < n && std::isfinite(double(x[i]))) ++i;
        if (i == n) throw Error(ErrorCode::kInternal, "quantization kernel reported a non-finite value it did not see");
        throw Error(ErrorCode::kNonFinite, "update[" + std::to_string(b + i) +
                                               "] is NaN or infinite; remove non-finite values "
                                               "before quantizing");
      }
    }
    if constexpr (Noise::kEnabled) noise_.apply(lo, hi, dst, m_);
  }

 private:
  // Levels up to 2^30 take the vectorized int32 path (quantize_kernels.hpp).
  static constexpr uint64_t kSmallMax = uint64_t(1) << 30;

  bool quantize_large(const F* x, const uint32_t* w, size_t n, T* out) const {
    bool bad = false;
    for (size_t i = 0; i < n; ++i) {
      double v = double(x[i]);
      bad |= !(std::fabs(v) <= 1.7976931348623157e308);
      v = v < -c_ ? -c_ : v;
      v = v > c_ ? c_ : v;
      const double t = bad ? 0.0 : (v + c_) * scale_;
      const double fl = std::floor(t);
      const double frac = t - fl;
      uint64_t q = uint64_t(fl) + (double(w[i]) < frac * 4294967296.0 ? 1 : 0);
      out[i] = T(q > qmax_ ? qmax_ : q);
    }
    return !bad;
  }

  const F* x_;
  double c_, scale_;
  uint64_t qmax_;
  const AesKey& key_;
  Backend be_;
  Modulus m_;
  Noise noise_;
  bool avx2_;
};

// The fused client kernel for any Noise policy (noise.hpp). quantize_and_mask() is this with
// NoNoise; a noisy variant instantiates it with its own policy, in the same single pass.
template <class F, class T, class Noise>
void quantize_and_mask_with_noise(const F* update, size_t d, const QuantizeConfig& q,
                                  const Modulus& m, const Seed* self_seed, const Seed* peer_seeds,
                                  const int* peer_signs, size_t num_peers, const Seed& rounding_seed,
                                  T* out, unsigned threads, const Noise& noise) {
  validate_quantize_config(q);
  if (q.quantization_max > m.minus_one)
    throw Error(ErrorCode::kModulus,
                "modulus_range must be >= quantization_range; raise modulus_range");
  if (num_peers > 0 && (peer_seeds == nullptr || peer_signs == nullptr))
    throw Error(ErrorCode::kNullPointer, "peer_seeds/peer_signs is NULL");
  if (d > 0 && (update == nullptr || out == nullptr))
    throw Error(ErrorCode::kNullPointer, "update/out is NULL");
  const Backend be = active_backend();
  const AesKey rkey = derive_prg_key(rounding_seed.data());
  auto keys = make_keys(self_seed ? self_seed->data() : nullptr, self_seed ? 1 : 0, +1,
                        peer_seeds ? peer_seeds->data() : nullptr, peer_signs, num_peers, +1);
  QuantizeSource<F, T, Noise> src(update, q, rkey, be, m, noise);
  masked_pass<T>(m, be, keys, src, out, d, resolve_threads(threads, d * (keys.size() + 1)));
}

}  // namespace detail
}  // namespace secagg
