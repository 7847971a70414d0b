// Bindings for distributed-DP noise: the Skellam sampler and quantize_and_mask with Skellam noise
// in the same fused pass. Exact dtypes, seeds copied, GIL released around the kernels.
#include <pybind11/numpy.h>

#include <string>
#include <vector>

#include "convert.hpp"
#include "register.hpp"
#include "secagg/skellam.hpp"

namespace secagg_bindings {
namespace {

template <class F>
py::array run_noisy(const F* x, size_t d, const secagg::QuantizeConfig& cfg, const secagg::Modulus& mod,
                    const secagg::Seed* self, const std::vector<secagg::Seed>& peers,
                    const std::vector<int>& signs, const secagg::Seed& rs, const secagg::Seed& ns,
                    double variance, unsigned threads) {
  auto run = [&](auto tag) -> py::array {
    using T = decltype(tag);
    py::array_t<T> out(static_cast<py::ssize_t>(d));
    T* o = out.mutable_data();
    {
      py::gil_scoped_release release;
      secagg::quantize_and_mask_skellam(x, d, cfg, mod, self, peers.data(), signs.data(),
                                        peers.size(), rs, ns, variance, o, threads);
    }
    return std::move(out);
  };
  if (mod.wide) return run(uint64_t{});
  return run(uint32_t{});
}

}  // namespace

void register_noise(py::module_& m) {
  m.def(
      "skellam_sample",
      [](const py::handle& seed, double variance, size_t n, unsigned threads) -> py::array {
        secagg::Seed s = to_seed(seed, "seed");
        py::array_t<int64_t> out(static_cast<py::ssize_t>(n));
        int64_t* o = out.mutable_data();
        {
          py::gil_scoped_release release;
          secagg::skellam_sample(s, variance, n, o, threads);
        }
        return std::move(out);
      },
      py::arg("seed"), py::arg("variance"), py::arg("n"), py::arg("threads") = 0,
      "n Skellam(variance) int64 values from seed (same integers as secagg.dp.sample_skellam).");

  m.def(
      "_skellam_sample_words",
      [](double variance, py::array_t<uint64_t, py::array::c_style | py::array::forcecast> words,
         bool batch) -> py::array {
        const secagg::SkellamTable table(variance);
        const size_t n = size_t(words.size());
        const uint64_t* w = words.data();
        py::array_t<int64_t> out(static_cast<py::ssize_t>(n));
        int64_t* o = out.mutable_data();
        if (batch) {
          table.sample_words(w, n, o, secagg::use_avx2(secagg::active_backend()));
        } else {
          for (size_t i = 0; i < n; ++i) o[i] = table.sample_word(w[i]);
        }
        return std::move(out);
      },
      py::arg("variance"), py::arg("words"), py::arg("batch"),
      "Testing hook: the Skellam(variance) integers of the given PRG words (batch: the vectorized "
      "sample_words, else the one-word sample_word).");

  m.def(
      "quantize_and_mask_skellam",
      [](const py::handle& update, double clipping_range, const py::handle& quantization_range,
         const py::handle& modulus_range, const py::object& self_seed, const py::sequence& peer_seeds,
         const py::sequence& peer_signs, const py::handle& rounding_seed, const py::handle& noise_seed,
         double variance, unsigned threads) -> py::array {
        auto cfg = to_quantize_config(clipping_range, quantization_range);
        secagg::Modulus mod = to_modulus(modulus_range);
        if (peer_seeds.size() != peer_signs.size())
          throw Error(ErrorCode::kShape, "peer_seeds and peer_signs must have the same length");
        auto peers = to_seeds(peer_seeds, "peer_seeds");
        auto signs = to_signs(peer_signs);
        secagg::Seed self{};
        const bool has_self = !self_seed.is_none();
        if (has_self) self = to_seed(self_seed, "self_seed");
        secagg::Seed rs = to_seed(rounding_seed, "rounding_seed");
        secagg::Seed ns = to_seed(noise_seed, "noise_seed");
        const secagg::Seed* sp = has_self ? &self : nullptr;
        return with_update(update, [&](auto* x, size_t d) -> py::array {
          return run_noisy(x, d, cfg, mod, sp, peers, signs, rs, ns, variance, threads);
        });
      },
      py::arg("update"), py::arg("clipping_range"), py::arg("quantization_range"),
      py::arg("modulus_range"), py::arg("self_seed"), py::arg("peer_seeds"), py::arg("peer_signs"),
      py::arg("rounding_seed"), py::arg("noise_seed"), py::arg("variance"), py::arg("threads") = 0,
      "quantize_and_mask with Skellam(variance) noise added to each quantized element in the same pass.");
}

}  // namespace secagg_bindings
