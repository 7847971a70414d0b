#include "secagg/quantize_mask.hpp"

#include <cmath>

#include "quantize_source.hpp"

namespace secagg {

void validate_quantize_config(const QuantizeConfig& q) {
  if (!(std::isfinite(q.clipping_range) && q.clipping_range > 0))
    throw Error(ErrorCode::kConfig, "clipping_range must be a finite number > 0");
  // 2c and (Q-1)/(2c) must be finite so that every intermediate of the rule is finite.
  if (!std::isfinite(2.0 * q.clipping_range) ||
      !std::isfinite(double(q.quantization_max) / (2.0 * q.clipping_range)))
    throw Error(ErrorCode::kConfig, "clipping_range is too large or too small for quantization_range");
  if (q.quantization_max < 1 || q.quantization_max > (uint64_t(1) << 53))
    throw Error(ErrorCode::kConfig, "quantization_range must be in [2, 2**53 + 1]");
}

template <class F, class T>
void quantize(const F* update, size_t d, const QuantizeConfig& q, const Seed& rounding_seed, T* out,
              unsigned threads) {
  validate_quantize_config(q);
  if ((q.quantization_max > 0xffffffffull) != (sizeof(T) == 8))
    throw Error(ErrorCode::kDType, "output must be uint32 when quantization_range <= 2**32, else uint64");
  const Modulus m = Modulus::from_minus_one(sizeof(T) == 4 ? 0xffffffffull : ~uint64_t(0));
  const Backend be = active_backend();
  const AesKey rkey = derive_prg_key(rounding_seed.data());
  detail::QuantizeSource<F, T> src(update, q, rkey, be, m);
  detail::masked_pass<T>(m, be, {}, src, out, d, resolve_threads(threads, d));
}

template <class F, class T>
void quantize_and_mask(const F* update, size_t d, const QuantizeConfig& q, const Modulus& m,
                       const Seed* self_seed, const Seed* peer_seeds, const int* peer_signs,
                       size_t num_peers, const Seed& rounding_seed, T* out, unsigned threads) {
  detail::quantize_and_mask_with_noise<F, T>(update, d, q, m, self_seed, peer_seeds, peer_signs,
                                             num_peers, rounding_seed, out, threads, NoNoise{});
}

#define SECAGG_INSTANTIATE(F, T)                                                               \
  template void quantize<F, T>(const F*, size_t, const QuantizeConfig&, const Seed&, T*,       \
                               unsigned);                                                      \
  template void quantize_and_mask<F, T>(const F*, size_t, const QuantizeConfig&, const Modulus&, \
                                        const Seed*, const Seed*, const int*, size_t,         \
                                        const Seed&, T*, unsigned);
SECAGG_INSTANTIATE(float, uint32_t)
SECAGG_INSTANTIATE(float, uint64_t)
SECAGG_INSTANTIATE(double, uint32_t)
SECAGG_INSTANTIATE(double, uint64_t)
#undef SECAGG_INSTANTIATE

}  // namespace secagg
