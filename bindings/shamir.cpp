// pybind11 bindings of src_cpp/shamir.cpp. Thin: size checks, exact dtypes (no casting), GIL released
// around the loops. Argument validation with user-facing messages lives in secagg/shamir.py.
#include <pybind11/numpy.h>
#include <pybind11/stl.h>

#include <algorithm>
#include <array>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "register.hpp"
#include "secagg/shamir.hpp"

namespace py = pybind11;
namespace sh = secagg::shamir;

namespace {

using U64Array = py::array_t<std::uint64_t, py::array::c_style>;
using U32Array = py::array_t<std::uint32_t, py::array::c_style>;

U64Array sample_field(py::bytes randomness, std::size_t max_out) {
  const std::string_view rnd = randomness;
  std::vector<std::uint64_t> tmp(std::min(max_out, rnd.size() / 8));
  std::size_t n;
  {
    py::gil_scoped_release release;
    n = sh::sample_field_elements(reinterpret_cast<const std::uint8_t*>(rnd.data()), rnd.size(),
                                  tmp.data(), tmp.size());
  }
  U64Array out(static_cast<py::ssize_t>(n));
  std::copy(tmp.begin(), tmp.begin() + static_cast<std::ptrdiff_t>(n), out.mutable_data());
  return out;
}

U64Array split(py::bytes secret, std::uint32_t threshold, std::uint32_t num_shares,
               const U64Array& coefficients, bool portable) {
  const std::string_view s = secret;
  if (s.size() != sh::kSecretBytes) throw std::invalid_argument("secret must be 32 bytes");
  if (threshold < 1 || threshold > num_shares || num_shares > sh::kMaxShares)
    throw std::invalid_argument("need 1 <= threshold <= num_shares <= 2^20");
  if (coefficients.ndim() != 1 ||
      static_cast<std::size_t>(coefficients.size()) != (threshold - 1) * sh::kChunks)
    throw std::invalid_argument("coefficients must be a 1-D array of (threshold - 1) * 8 values");
  U64Array out({static_cast<py::ssize_t>(num_shares), static_cast<py::ssize_t>(sh::kChunks)});
  const std::uint64_t* coef = coefficients.data();
  std::uint64_t* dst = out.mutable_data();
  {
    py::gil_scoped_release release;
    sh::split(reinterpret_cast<const std::uint8_t*>(s.data()), threshold, num_shares, coef, dst,
              portable ? sh::SplitImpl::kPortable : sh::SplitImpl::kAuto);
  }
  return out;
}

// indices/values: flat sequences (all groups back to back) of ints and 64-byte bytes objects; they are
// copied into a tuple so the bytes stay alive and unchanged while the GIL is released.
py::tuple combine_many(const py::sequence& indices, const U64Array& offsets, const U32Array& thresholds,
                       const py::sequence& values, const U64Array& check_points) {
  const auto num_groups = static_cast<std::size_t>(thresholds.size());
  const py::tuple idx_t(indices), val_t(values);
  const auto total = static_cast<std::size_t>(idx_t.size());
  if (offsets.ndim() != 1 || thresholds.ndim() != 1 || check_points.ndim() != 1)
    throw std::invalid_argument("offsets, thresholds and check_points must be 1-D");
  if (static_cast<std::size_t>(offsets.size()) != num_groups + 1)
    throw std::invalid_argument("offsets must have len(thresholds) + 1 entries");
  if (static_cast<std::size_t>(check_points.size()) != sh::kCheckPoints)
    throw std::invalid_argument("check_points must have SHAMIR_CHECK_POINTS entries");
  if (static_cast<std::size_t>(val_t.size()) != total)
    throw std::invalid_argument("indices and values must have the same length");
  const std::uint64_t* off = offsets.data();
  if (off[0] != 0 || off[num_groups] != total)
    throw std::invalid_argument("offsets must start at 0 and end at len(indices)");
  for (std::size_t g = 0; g < num_groups; ++g)
    if (off[g + 1] < off[g]) throw std::invalid_argument("offsets must be non-decreasing");

  std::vector<std::uint32_t> idx(total);
  std::vector<const std::uint8_t*> ptr(total);
  for (std::size_t i = 0; i < total; ++i) {
    PyObject* o = PyTuple_GET_ITEM(idx_t.ptr(), static_cast<py::ssize_t>(i));
    if (!PyLong_Check(o)) throw std::invalid_argument("indices must be ints");
    const unsigned long v = PyLong_AsUnsignedLong(o);
    if (PyErr_Occurred()) {
      PyErr_Clear();
      throw std::invalid_argument("indices must be in 0..2^32-1");
    }
    idx[i] = v > 0xFFFFFFFFul ? 0u : static_cast<std::uint32_t>(v);  // 0 is reported as a bad index
    PyObject* b = PyTuple_GET_ITEM(val_t.ptr(), static_cast<py::ssize_t>(i));
    if (!PyBytes_Check(b) || PyBytes_GET_SIZE(b) != static_cast<py::ssize_t>(sh::kValueBytes))
      throw std::invalid_argument("values must be bytes of length 64");
    ptr[i] = reinterpret_cast<const std::uint8_t*>(PyBytes_AS_STRING(b));
  }
  std::vector<sh::GroupView> groups(num_groups);
  const auto* thr = thresholds.data();
  for (std::size_t g = 0; g < num_groups; ++g)
    groups[g] = {idx.data() + off[g], ptr.data() + off[g], off[g + 1] - off[g], thr[g]};
  std::array<std::uint64_t, sh::kCheckPoints> rho{};
  std::copy(check_points.data(), check_points.data() + sh::kCheckPoints, rho.begin());

  std::vector<std::uint8_t> secrets(num_groups * sh::kSecretBytes);
  std::vector<sh::Status> status(num_groups);
  {
    py::gil_scoped_release release;
    sh::combine_many(groups.data(), num_groups, rho, secrets.data(), status.data());
  }
  py::array_t<std::int32_t> codes(static_cast<py::ssize_t>(num_groups));
  auto* c = codes.mutable_data();
  for (std::size_t g = 0; g < num_groups; ++g) c[g] = static_cast<std::int32_t>(status[g]);
  return py::make_tuple(py::bytes(reinterpret_cast<const char*>(secrets.data()), secrets.size()),
                        codes);
}

}  // namespace

namespace secagg_bindings {

void register_shamir(py::module_& m) {
  m.attr("SHAMIR_PRIME") = py::int_(sh::kPrime);
  m.attr("SHAMIR_MAX_SHARES") = py::int_(sh::kMaxShares);
  m.attr("SHAMIR_CHECK_POINTS") = py::int_(sh::kCheckPoints);
  m.def("shamir_sample_field", &sample_field, py::arg("randomness"), py::arg("max_out"),
        "Rejection-sample up to max_out uniform elements of GF(2^61-1) from 8-byte LE words.");
  m.def("shamir_split", &split, py::arg("secret"), py::arg("threshold"), py::arg("num_shares"),
        py::arg("coefficients"), py::kw_only(), py::arg("portable") = false,
        "Evaluate the 8 chunk polynomials at x = 1..num_shares; returns uint64 (num_shares, 8).\n"
        "portable=True forces the plain C++ loop instead of the AVX2 one (same output).");
  m.def("shamir_combine_many", &combine_many, py::arg("indices"), py::arg("offsets"),
        py::arg("thresholds"), py::arg("values"), py::arg("check_points"),
        "Reconstruct groups of shares; returns (secrets bytes, int32 status per group).");
  m.def("shamir_status_message",
        [](std::int32_t code) { return std::string(sh::status_message(static_cast<sh::Status>(code))); },
        py::arg("code"), "Human-readable message for a combine status code.");
}

}  // namespace secagg_bindings
