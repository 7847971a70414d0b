// Packing bindings: pack_bits / unpack_bits over the bit-stream kernels of src_cpp/packing.cpp.
// Exact dtypes (never a cast); the GIL is released around each kernel.
#include <pybind11/numpy.h>

#include <cstring>
#include <string>

#include "convert.hpp"
#include "register.hpp"
#include "secagg/packing.hpp"

namespace secagg_bindings {
namespace {

unsigned to_bits(int bits) {
  if (bits < 1 || bits > 64)
    throw Error(ErrorCode::kShape, "bit width must be in [1, 64], got " + std::to_string(bits));
  return unsigned(bits);
}

template <class T>
py::bytes pack_impl(const py::array& a, unsigned bits) {
  const T* in = vector_data<T>(a, "values");
  const size_t d = size_t(a.size());
  const size_t total = secagg::packed_size(d, bits);
  PyObject* raw = PyBytes_FromStringAndSize(nullptr, static_cast<py::ssize_t>(total));
  if (!raw) throw py::error_already_set();
  py::bytes out = py::reinterpret_steal<py::bytes>(raw);
  auto* o = reinterpret_cast<uint8_t*>(PyBytes_AS_STRING(raw));
  {
    py::gil_scoped_release release;
    secagg::pack_bits<T>(in, d, bits, o);
  }
  return out;
}

}  // namespace

void register_packing(py::module_& m) {
  m.def(
      "pack_bits",
      [](const py::handle& values, int bits) -> py::bytes {
        const unsigned b = to_bits(bits);
        py::array a = as_array(values, "values");
        if (has_dtype<uint32_t>(a)) return pack_impl<uint32_t>(a, b);
        if (has_dtype<uint64_t>(a)) return pack_impl<uint64_t>(a, b);
        throw Error(ErrorCode::kDType, "values has dtype " + std::string(py::str(a.dtype())) +
                                           "; expected uint32 or uint64");
      },
      py::arg("values"), py::arg("bits"),
      "Little-endian bit stream of values (1-D uint32/uint64, each < 2**bits), bits per value.");

  m.def(
      "unpack_bits",
      [](const py::bytes& data, size_t length, int bits, const py::handle& out, bool add) {
        const unsigned b = to_bits(bits);
        char* buf = nullptr;
        py::ssize_t size = 0;
        if (PyBytes_AsStringAndSize(data.ptr(), &buf, &size) != 0) throw py::error_already_set();
        if (size_t(size) != secagg::packed_size(length, b))
          throw Error(ErrorCode::kShape, "packed vector has " + std::to_string(size) +
                                             " bytes; expected " +
                                             std::to_string(secagg::packed_size(length, b)));
        py::array a = as_array(out, "out");
        vector_data<uint64_t>(a, "out");
        if (size_t(a.size()) != length)
          throw Error(ErrorCode::kShape, "out has length " + std::to_string(a.size()) +
                                             "; expected " + std::to_string(length));
        if (!a.writeable()) throw Error(ErrorCode::kShape, "out must be writeable");
        auto* o = static_cast<uint64_t*>(a.mutable_data());
        const auto* in = reinterpret_cast<const uint8_t*>(buf);
        py::gil_scoped_release release;
        secagg::unpack_bits(in, length, b, o, add);
      },
      py::arg("data"), py::arg("length"), py::arg("bits"), py::arg("out"), py::arg("add") = false,
      "Unpack length values of bits bits into out (uint64, 1-D), or add them (mod 2**64).");
}

}  // namespace secagg_bindings
