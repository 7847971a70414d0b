// Kernel bindings: quantize, quantize_and_mask, sum_masked, unmask. Inputs are checked for their
// exact dtype (never cast), seeds are copied, then the GIL is released for the whole kernel.
#include <pybind11/numpy.h>

#include <string>
#include <vector>

#include "convert.hpp"
#include "register.hpp"
#include "secagg/quantize_mask.hpp"
#include "secagg/unmask.hpp"

namespace secagg_bindings {
namespace {

template <class T>
py::array_t<T> new_vector(size_t d) {
  return py::array_t<T>(static_cast<py::ssize_t>(d));
}

// Pointers to the rows of a 2-D array or to each 1-D array of a sequence (all of dtype T).
template <class T>
std::vector<const T*> rows_of(const py::handle& vectors, size_t& d, std::vector<py::array>& keep) {
  std::vector<const T*> ptrs;
  if (py::isinstance<py::array>(vectors)) {
    py::array a = py::reinterpret_borrow<py::array>(vectors);
    if (a.ndim() != 2) throw Error(ErrorCode::kShape, "vectors must be a 2-D array or a sequence of 1-D arrays");
    if (!has_dtype<T>(a))
      throw Error(ErrorCode::kDType, "vectors has dtype " + std::string(py::str(a.dtype())) +
                                         "; expected " + std::string(py::str(py::dtype::of<T>())));
    if (!(a.flags() & py::array::c_style)) throw Error(ErrorCode::kShape, "vectors must be C-contiguous");
    d = size_t(a.shape(1));
    const T* base = static_cast<const T*>(a.data());
    for (py::ssize_t i = 0; i < a.shape(0); ++i) ptrs.push_back(base + size_t(i) * d);
    keep.push_back(a);
    return ptrs;
  }
  py::sequence seq = py::reinterpret_borrow<py::sequence>(vectors);
  for (size_t i = 0; i < seq.size(); ++i) {
    std::string what = "vectors[" + std::to_string(i) + "]";
    py::array a = as_array(seq[i], what);
    const T* p = vector_data<T>(a, what);
    if (i == 0) d = size_t(a.size());
    else if (size_t(a.size()) != d)
      throw Error(ErrorCode::kShape, what + " has length " + std::to_string(a.size()) +
                                         ", vectors[0] has " + std::to_string(d) + "; all must match");
    ptrs.push_back(p);
    keep.push_back(a);
  }
  return ptrs;
}

template <class T>
py::array sum_impl(const py::handle& vectors, const secagg::Modulus& mod, unsigned threads) {
  size_t d = 0;
  std::vector<py::array> keep;
  auto ptrs = rows_of<T>(vectors, d, keep);
  if (ptrs.empty()) throw Error(ErrorCode::kShape, "sum_masked needs at least one vector");
  auto out = new_vector<T>(d);
  T* o = out.mutable_data();
  {
    py::gil_scoped_release release;
    secagg::sum_vectors<T>(ptrs.data(), ptrs.size(), d, mod, o, threads);
  }
  return std::move(out);
}

template <class T>
py::array unmask_impl(const py::handle& masked_sum, const secagg::Modulus& mod,
                      const std::vector<secagg::Seed>& self_seeds,
                      const std::vector<secagg::Seed>& peer_seeds, const std::vector<int>& signs,
                      unsigned threads) {
  py::array a = as_array(masked_sum, "masked_sum");
  const T* in = vector_data<T>(a, "masked_sum");
  size_t d = size_t(a.size());
  auto out = new_vector<T>(d);
  T* o = out.mutable_data();
  {
    py::gil_scoped_release release;
    secagg::unmask<T>(in, d, mod, self_seeds.data(), self_seeds.size(), peer_seeds.data(),
                      signs.data(), signs.size(), o, threads);
  }
  return std::move(out);
}

void check_peer_lengths(size_t seeds, size_t signs) {
  if (seeds != signs)
    throw Error(ErrorCode::kShape, "peer_seeds has " + std::to_string(seeds) + " entries but peer_signs has " +
                                       std::to_string(signs) + "; give one sign per peer seed");
}

}  // namespace

void register_kernels(py::module_& m) {
  m.def(
      "quantize",
      [](const py::handle& update, double clipping_range, const py::handle& quantization_range,
         const py::handle& rounding_seed, unsigned threads) -> py::array {
        auto cfg = to_quantize_config(clipping_range, quantization_range);
        secagg::Seed rs = to_seed(rounding_seed, "rounding_seed");
        return with_update(update, [&](auto* x, size_t d) -> py::array {
          auto run = [&](auto tag) -> py::array {
            using T = decltype(tag);
            auto out = new_vector<T>(d);
            T* o = out.mutable_data();
            {
              py::gil_scoped_release release;
              secagg::quantize(x, d, cfg, rs, o, threads);
            }
            return std::move(out);
          };
          if (cfg.quantization_max > 0xffffffffull) return run(uint64_t{});
          return run(uint32_t{});
        });
      },
      py::arg("update"), py::arg("clipping_range"), py::arg("quantization_range"),
      py::arg("rounding_seed"), py::arg("threads") = 0,
      "Clip, scale and stochastically round (no mask); values in [0, quantization_range - 1].");

  m.def(
      "quantize_and_mask",
      [](const py::handle& update, double clipping_range, const py::handle& quantization_range,
         const py::handle& modulus_range, const py::object& self_seed, const py::sequence& peer_seeds,
         const py::sequence& peer_signs, const py::handle& rounding_seed, unsigned threads) -> py::array {
        auto cfg = to_quantize_config(clipping_range, quantization_range);
        secagg::Modulus mod = to_modulus(modulus_range);
        check_peer_lengths(peer_seeds.size(), peer_signs.size());
        auto peers = to_seeds(peer_seeds, "peer_seeds");
        auto signs = to_signs(peer_signs);
        secagg::Seed self{};
        const bool has_self = !self_seed.is_none();
        if (has_self) self = to_seed(self_seed, "self_seed");
        secagg::Seed rs = to_seed(rounding_seed, "rounding_seed");
        return with_update(update, [&](auto* x, size_t d) -> py::array {
          auto run = [&](auto tag) -> py::array {
            using T = decltype(tag);
            auto out = new_vector<T>(d);
            T* o = out.mutable_data();
            {
              py::gil_scoped_release release;
              secagg::quantize_and_mask(x, d, cfg, mod, has_self ? &self : nullptr, peers.data(),
                                        signs.data(), peers.size(), rs, o, threads);
            }
            return std::move(out);
          };
          if (mod.wide) return run(uint64_t{});
          return run(uint32_t{});
        });
      },
      py::arg("update"), py::arg("clipping_range"), py::arg("quantization_range"),
      py::arg("modulus_range"), py::arg("self_seed"), py::arg("peer_seeds"), py::arg("peer_signs"),
      py::arg("rounding_seed"), py::arg("threads") = 0,
      "(quantize(update) + PRG(self_seed) + sum_j sign_j PRG(peer_seed_j)) mod modulus_range, fused.");

  m.def(
      "sum_masked",
      [](const py::handle& vectors, const py::handle& modulus_range, unsigned threads) -> py::array {
        secagg::Modulus mod = to_modulus(modulus_range);
        if (mod.wide) return sum_impl<uint64_t>(vectors, mod, threads);
        return sum_impl<uint32_t>(vectors, mod, threads);
      },
      py::arg("vectors"), py::arg("modulus_range"), py::arg("threads") = 0,
      "Sum mod modulus_range of a 2-D array's rows or of a sequence of equal-length 1-D arrays "
      "(uint32 if modulus_range <= 2**32, else uint64; every element < modulus_range).");

  m.def(
      "unmask",
      [](const py::handle& masked_sum, const py::handle& modulus_range, const py::sequence& self_seeds,
         const py::sequence& peer_seeds, const py::sequence& peer_signs, unsigned threads) -> py::array {
        secagg::Modulus mod = to_modulus(modulus_range);
        check_peer_lengths(peer_seeds.size(), peer_signs.size());
        auto selfs = to_seeds(self_seeds, "self_seeds");
        auto peers = to_seeds(peer_seeds, "peer_seeds");
        auto signs = to_signs(peer_signs);
        if (mod.wide) return unmask_impl<uint64_t>(masked_sum, mod, selfs, peers, signs, threads);
        return unmask_impl<uint32_t>(masked_sum, mod, selfs, peers, signs, threads);
      },
      py::arg("masked_sum"), py::arg("modulus_range"), py::arg("self_seeds"), py::arg("peer_seeds"),
      py::arg("peer_signs"), py::arg("threads") = 0,
      "masked_sum - sum PRG(self_seeds) - sum_j sign_j PRG(peer_seeds_j) mod modulus_range.");
}

}  // namespace secagg_bindings
