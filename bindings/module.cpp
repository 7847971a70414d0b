// secagg._core: thin pybind11 bindings over the pure C++ core in src_cpp/.
#include "register.hpp"
#include "secagg/errors.hpp"

namespace {

// secagg::Error codes -> the package's exception classes (secagg/errors.py).
const char* error_class(secagg::ErrorCode code) {
  switch (code) {
    case secagg::ErrorCode::kSeed: return "SeedError";
    case secagg::ErrorCode::kModulus: return "ModulusError";
    case secagg::ErrorCode::kConfig: return "ConfigError";
    case secagg::ErrorCode::kNonFinite: return "NonFiniteError";
    case secagg::ErrorCode::kDType: return "DTypeError";
    case secagg::ErrorCode::kShape: return "ShapeError";
    case secagg::ErrorCode::kNullPointer:
    case secagg::ErrorCode::kRange: return "InputError";
    default: return "NativeError";
  }
}

}  // namespace

PYBIND11_MODULE(_core, m) {
  m.doc() = "secagg native core: AES-CTR PRG, fused quantize-and-mask, unmasking, Shamir sharing";
  pybind11::register_exception_translator([](std::exception_ptr p) {
    try {
      if (p) std::rethrow_exception(p);
    } catch (const secagg::Error& e) {
      pybind11::object cls = pybind11::module_::import("secagg.errors").attr(error_class(e.code()));
      PyErr_SetString(cls.ptr(), e.what());
    } catch (const std::bad_alloc&) {
      PyErr_SetString(PyExc_MemoryError, "secagg: out of memory");
    }
  });
  secagg_bindings::register_prg(m);
  secagg_bindings::register_kernels(m);
  secagg_bindings::register_shamir(m);
  secagg_bindings::register_noise(m);
  secagg_bindings::register_packing(m);
}
