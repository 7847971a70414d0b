// Portable quantization loop (scalar; see quantize_kernels.hpp).
#include <cmath>

#include "quantize_kernels.hpp"

namespace secagg {
namespace detail {

template <class F, class T>
bool quantize_small_portable(const SmallQuantizer& p, const F* x, const uint32_t* w, size_t n, T* out) {
  bool bad = false;
  for (size_t i = 0; i < n; ++i) {
    double v = double(x[i]);
    bad |= !(std::fabs(v) <= 1.7976931348623157e308);
    v = v < -p.c ? -p.c : v;
    v = v > p.c ? p.c : v;
    const double t = (v + p.c) * p.scale;  // >= 0, so truncation is floor
    const int32_t fi = bad ? 0 : int32_t(t);
    const double frac = t - double(fi);
    int32_t q = fi + (double(w[i]) < frac * 4294967296.0 ? 1 : 0);
    q = q > p.qmax ? p.qmax : q;
    out[i] = T(uint32_t(q));
  }
  return !bad;
}

template bool quantize_small_portable<float, uint32_t>(const SmallQuantizer&, const float*, const uint32_t*, size_t, uint32_t*);
template bool quantize_small_portable<float, uint64_t>(const SmallQuantizer&, const float*, const uint32_t*, size_t, uint64_t*);
template bool quantize_small_portable<double, uint32_t>(const SmallQuantizer&, const double*, const uint32_t*, size_t, uint32_t*);
template bool quantize_small_portable<double, uint64_t>(const SmallQuantizer&, const double*, const uint32_t*, size_t, uint64_t*);

}  // namespace detail
}  // namespace secagg
