// extern "C" surface of the core: validates pointers, converts C++ exceptions into error codes.
#include "secagg/secagg.h"

#include <new>
#include <vector>

#include "secagg/aes.hpp"
#include "secagg/errors.hpp"
#include "secagg/prg.hpp"
#include "secagg/quantize_mask.hpp"

#define SECAGG_API extern "C" __attribute__((visibility("default")))

namespace {

template <class Fn>
int guarded(Fn&& fn) noexcept {
  try {
    fn();
    return SECAGG_OK;
  } catch (const secagg::Error& e) {
    return static_cast<int>(e.code());
  } catch (const std::bad_alloc&) {
    return SECAGG_ERR_INTERNAL;
  } catch (...) {
    return SECAGG_ERR_INTERNAL;
  }
}

void require(bool ok, const char* what) {
  if (!ok) throw secagg::Error(secagg::ErrorCode::kNullPointer, what);
}

}  // namespace

SECAGG_API const char* secagg_version(void) { return SECAGG_VERSION; }

SECAGG_API const char* secagg_strerror(int code) {
  switch (code) {
    case SECAGG_OK: return "success";
    case SECAGG_ERR_NULL_POINTER: return "a required pointer argument is NULL";
    case SECAGG_ERR_SEED: return "a sign is not +1 or -1 (or a seed is invalid)";
    case SECAGG_ERR_MODULUS:
      return "modulus_range must be a power of two in [2, 2^64] or an integer in [3, 2^62], "
             "and at least quantization_range";
    case SECAGG_ERR_CONFIG:
      return "clipping_range must be finite and > 0; quantization_range in [2, 2^53 + 1]";
    case SECAGG_ERR_NON_FINITE: return "the update contains NaN or infinity";
    case SECAGG_ERR_DTYPE:
      return "output word size does not match modulus_range (uint32 iff modulus_range <= 2^32)";
    case SECAGG_ERR_SHAPE: return "inconsistent lengths";
    case SECAGG_ERR_RANGE: return "an input element is >= modulus_range";
    case SECAGG_ERR_INTERNAL: return "internal error (out of memory or thread failure)";
    default: return "unknown error code";
  }
}

SECAGG_API const char* secagg_prg_backend(void) {
  return secagg::backend_name(secagg::active_backend());
}

SECAGG_API int secagg_prg_expand_u32(const uint8_t seed[32], uint64_t modulus_range, uint32_t* out,
                                     size_t length, unsigned threads) {
  return guarded([&] {
    require(seed != nullptr && (out != nullptr || length == 0), "seed/out is NULL");
    secagg::Modulus m = secagg::Modulus::from_c(modulus_range);
    if (m.wide) throw secagg::Error(secagg::ErrorCode::kDType, "use secagg_prg_expand_u64");
    secagg::prg_expand<uint32_t>(seed, m, length, out, threads);
  });
}

SECAGG_API int secagg_prg_expand_u64(const uint8_t seed[32], uint64_t modulus_range, uint64_t* out,
                                     size_t length, unsigned threads) {
  return guarded([&] {
    require(seed != nullptr && (out != nullptr || length == 0), "seed/out is NULL");
    secagg::Modulus m = secagg::Modulus::from_c(modulus_range);
    if (!m.wide) throw secagg::Error(secagg::ErrorCode::kDType, "use secagg_prg_expand_u32");
    secagg::prg_expand<uint64_t>(seed, m, length, out, threads);
  });
}

SECAGG_API int secagg_quantize_and_mask(const float* update_f32, const double* update_f64,
                                        size_t length, double clipping_range,
                                        uint64_t quantization_range, uint64_t modulus_range,
                                        const uint8_t* self_seed, const uint8_t* peer_seeds,
                                        const int8_t* peer_signs, size_t num_peers,
                                        const uint8_t rounding_seed[32], uint32_t* out_u32,
                                        uint64_t* out_u64, unsigned threads) {
  return guarded([&] {
    require((update_f32 == nullptr) != (update_f64 == nullptr) || length == 0,
            "exactly one of update_f32/update_f64 must be given");
    require((out_u32 == nullptr) != (out_u64 == nullptr) || length == 0,
            "exactly one of out_u32/out_u64 must be given");
    require(rounding_seed != nullptr, "rounding_seed is NULL");
    require(num_peers == 0 || (peer_seeds != nullptr && peer_signs != nullptr),
            "peer_seeds/peer_signs is NULL");
    if (quantization_range < 2)
      throw secagg::Error(secagg::ErrorCode::kConfig, "quantization_range must be >= 2");
    const secagg::QuantizeConfig cfg{clipping_range, quantization_range - 1};
    const secagg::Modulus m = secagg::Modulus::from_c(modulus_range);
    if (length > 0 && (out_u64 != nullptr) != m.wide)
      throw secagg::Error(secagg::ErrorCode::kDType, "output word size does not match modulus_range");
    // Seeds arrive as flat byte arrays; the core takes arrays of Seed (same layout, copied).
    secagg::Seed self{}, rounding{};
    if (self_seed) std::copy(self_seed, self_seed + 32, self.begin());
    std::copy(rounding_seed, rounding_seed + 32, rounding.begin());
    std::vector<secagg::Seed> peers(num_peers);
    std::vector<int> signs(num_peers);
    for (size_t j = 0; j < num_peers; ++j) {
      std::copy(peer_seeds + 32 * j, peer_seeds + 32 * (j + 1), peers[j].begin());
      signs[j] = peer_signs[j];
    }
    const secagg::Seed* sp = self_seed ? &self : nullptr;
    static const float kEmptyF = 0;
    if (length == 0 && update_f32 == nullptr && update_f64 == nullptr) update_f32 = &kEmptyF;
    uint32_t dummy32 = 0;
    if (length == 0 && out_u32 == nullptr && out_u64 == nullptr) {
      if (m.wide) out_u64 = reinterpret_cast<uint64_t*>(&dummy32) /* never written */;
      else out_u32 = &dummy32;
    }
    if (update_f32 && out_u32)
      secagg::quantize_and_mask(update_f32, length, cfg, m, sp, peers.data(), signs.data(), num_peers, rounding, out_u32, threads);
    else if (update_f32)
      secagg::quantize_and_mask(update_f32, length, cfg, m, sp, peers.data(), signs.data(), num_peers, rounding, out_u64, threads);
    else if (out_u32)
      secagg::quantize_and_mask(update_f64, length, cfg, m, sp, peers.data(), signs.data(), num_peers, rounding, out_u32, threads);
    else
      secagg::quantize_and_mask(update_f64, length, cfg, m, sp, peers.data(), signs.data(), num_peers, rounding, out_u64, threads);
  });
}
