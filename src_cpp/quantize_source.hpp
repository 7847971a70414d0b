// Internal: the Source of the fused pass that clips, scales and stochastically rounds an update
// (formula in quantize_mask.hpp), then applies the Noise policy (noise.hpp).
#pragma once
#include <cmath>
#include <string>

#include "mask_pass.hpp"
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
        noise_(noise) {}

  void fill(size_t lo, size_t hi, T* dst) const {
    constexpr size_t kChunk = 1024;  // multiple of 4: each chunk starts on a counter block
    alignas(32) uint32_t w[kChunk];
    for (size_t b = lo; b < hi; b += kChunk) {
      const size_t n = std::min(hi, b + kChunk) - b;
      const F* x = x_ + b;
      bool bad = false;
      for (size_t i = 0; i < n; ++i) bad |= !(std::fabs(double(x[i])) <= 1.7976931348623157e308);
      if (bad) {
        size_t i = 0;
        while (std::isfinite(double(x[i]))) ++i;
        throw Error(ErrorCode::kNonFinite, "update[" + std::to_string(b + i) +
                                               "] is NaN or infinite; remove non-finite values "
                                               "before quantizing");
      }
      ctr_process(be_, key_, Counter{0, b / 4}, (n + 3) / 4, reinterpret_cast<uint8_t*>(w),
                  CtrOp::kStore);
      T* out = dst + (b - lo);
      for (size_t i = 0; i < n; ++i) {
        double v = double(x[i]);
        v = v < -c_ ? -c_ : (v > c_ ? c_ : v);
        const double t = (v + c_) * scale_;
        const double fl = std::floor(t);
        const double frac = t - fl;
        uint64_t q = uint64_t(fl) + (double(w[i]) < frac * 4294967296.0 ? 1 : 0);
        out[i] = T(q > qmax_ ? qmax_ : q);
      }
    }
    if constexpr (Noise::kEnabled) noise_.apply(lo, hi, dst, m_);
  }

 private:
  const F* x_;
  double c_, scale_;
  uint64_t qmax_;
  const AesKey& key_;
  Backend be_;
  Modulus m_;
  Noise noise_;
};

}  // namespace detail
}  // namespace secagg
