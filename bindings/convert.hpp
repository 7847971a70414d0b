// Argument conversion shared by prg.cpp and kernels.cpp: exact dtypes (never a cast), seeds,
// signs and the modulus. Failures throw secagg::Error, which module.cpp maps to secagg.errors.
#pragma once
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <cstdint>
#include <string>
#include <vector>

#include "secagg/errors.hpp"
#include "secagg/modulus.hpp"
#include "secagg/prg.hpp"
#include "secagg/quantize_mask.hpp"

namespace secagg_bindings {
namespace py = pybind11;
using secagg::Error;
using secagg::ErrorCode;

// modulus_range as a Python int in [2, 2**64] -> Modulus.
inline secagg::Modulus to_modulus(const py::handle& r) {
  if (!PyLong_Check(r.ptr()) || PyBool_Check(r.ptr()))
    throw Error(ErrorCode::kModulus, "modulus_range must be an int");
  py::object rm1 = r - py::int_(1);
  unsigned long long v = PyLong_AsUnsignedLongLong(rm1.ptr());
  if (v == static_cast<unsigned long long>(-1) && PyErr_Occurred()) {
    PyErr_Clear();
    throw Error(ErrorCode::kModulus, "modulus_range must be in [2, 2**64]");
  }
  return secagg::Modulus::from_minus_one(v);
}

inline secagg::Seed to_seed(const py::handle& h, const std::string& what) {
  if (!PyBytes_Check(h.ptr()))
    throw Error(ErrorCode::kSeed, what + " must be bytes of length 32");
  std::string s = py::reinterpret_borrow<py::bytes>(h);
  if (s.size() != 32)
    throw Error(ErrorCode::kSeed, what + " has " + std::to_string(s.size()) +
                                      " bytes; seeds must be exactly 32 bytes");
  secagg::Seed out;
  std::copy(s.begin(), s.end(), out.begin());
  return out;
}

inline std::vector<secagg::Seed> to_seeds(const py::sequence& seq, const std::string& what) {
  std::vector<secagg::Seed> out;
  out.reserve(seq.size());
  for (size_t i = 0; i < seq.size(); ++i)
    out.push_back(to_seed(seq[i], what + "[" + std::to_string(i) + "]"));
  return out;
}

inline std::vector<int> to_signs(const py::sequence& seq) {
  std::vector<int> out;
  out.reserve(seq.size());
  for (size_t i = 0; i < seq.size(); ++i) {
    py::handle h = seq[i];
    long v = 0;
    if (PyLong_Check(h.ptr()) && !PyBool_Check(h.ptr())) {
      int overflow = 0;
      v = PyLong_AsLongAndOverflow(h.ptr(), &overflow);
      if (overflow) v = 0;
    }
    if (v != 1 && v != -1)
      throw Error(ErrorCode::kSeed, "peer_signs[" + std::to_string(i) + "] must be +1 or -1");
    out.push_back(static_cast<int>(v));
  }
  return out;
}

template <class T>
inline bool has_dtype(const py::array& a) {
  return a.dtype().equal(py::dtype::of<T>());
}

// A 1-D C-contiguous array of exactly dtype T (no conversion, no copy).
template <class T>
inline const T* vector_data(const py::array& a, const std::string& what) {
  if (!has_dtype<T>(a))
    throw Error(ErrorCode::kDType, what + " has dtype " + std::string(py::str(a.dtype())) +
                                       "; expected " + std::string(py::str(py::dtype::of<T>())));
  if (a.ndim() != 1) throw Error(ErrorCode::kShape, what + " must be 1-D");
  if (!(a.flags() & py::array::c_style))
    throw Error(ErrorCode::kShape, what + " must be C-contiguous (use numpy.ascontiguousarray)");
  return static_cast<const T*>(a.data());
}

inline py::array as_array(const py::handle& h, const std::string& what) {
  if (!py::isinstance<py::array>(h))
    throw Error(ErrorCode::kDType, what + " must be a numpy array");
  return py::reinterpret_borrow<py::array>(h);
}

// quantization_range (a Python int in [2, 2**53 + 1]) and clipping_range as a validated config.
inline secagg::QuantizeConfig to_quantize_config(double clipping_range, const py::handle& q) {
  if (!PyLong_Check(q.ptr()) || PyBool_Check(q.ptr()))
    throw Error(ErrorCode::kConfig, "quantization_range must be an int");
  py::object qm1 = q - py::int_(1);
  unsigned long long v = PyLong_AsUnsignedLongLong(qm1.ptr());
  if (v == static_cast<unsigned long long>(-1) && PyErr_Occurred()) {
    PyErr_Clear();
    throw Error(ErrorCode::kConfig, "quantization_range must be in [2, 2**53 + 1]");
  }
  secagg::QuantizeConfig cfg{clipping_range, v};
  secagg::validate_quantize_config(cfg);
  return cfg;
}

// Calls fn(const F* data, size_t d) with the update's exact float type (float32 or float64).
template <class Fn>
inline auto with_update(const py::handle& update, Fn&& fn) {
  py::array a = as_array(update, "update");
  if (has_dtype<float>(a)) return fn(vector_data<float>(a, "update"), size_t(a.size()));
  if (has_dtype<double>(a)) return fn(vector_data<double>(a, "update"), size_t(a.size()));
  throw Error(ErrorCode::kDType, "update has dtype " + std::string(py::str(a.dtype())) +
                                     "; expected float32 or float64");
}

}  // namespace secagg_bindings
