// PRG bindings: prg_expand, backend control, and the low-level AES-CTR / HKDF used by the KATs.
#include <pybind11/numpy.h>
#include <pybind11/stl.h>

#include <string>
#include <vector>

#include "convert.hpp"
#include "register.hpp"
#include "secagg/aes.hpp"
#include "secagg/prg.hpp"
#include "secagg/sha256.hpp"

namespace secagg_bindings {
namespace {

template <class T>
py::array_t<T> expand(const secagg::Seed& seed, const secagg::Modulus& m, size_t length,
                      unsigned threads) {
  py::array_t<T> out(static_cast<py::ssize_t>(length));
  T* data = out.mutable_data();
  {
    py::gil_scoped_release release;
    secagg::prg_expand<T>(seed.data(), m, length, data, threads);
  }
  return out;
}

secagg::Backend parse_backend(const std::string& name) {
  secagg::Backend b;
  if (!secagg::parse_backend(name.c_str(), b))
    throw Error(ErrorCode::kConfig, "unknown backend '" + name +
                                        "'; use 'auto', 'portable', 'bitsliced-avx2', 'armce', "
                                        "'aesni' or 'vaes'");
  return b;
}

// Slowest first, so the last available one is what "auto" picks.
constexpr secagg::Backend kBySpeed[] = {secagg::Backend::kPortable, secagg::Backend::kBitslicedAvx2,
                                        secagg::Backend::kArmCe, secagg::Backend::kAesni,
                                        secagg::Backend::kVaes};

}  // namespace

void register_prg(py::module_& m) {
  m.def(
      "prg_expand",
      [](const py::handle& seed, py::ssize_t length, const py::handle& modulus_range,
         unsigned threads) -> py::array {
        secagg::Seed s = to_seed(seed, "seed");
        if (length < 0) throw Error(ErrorCode::kShape, "length must be >= 0");
        secagg::Modulus mod = to_modulus(modulus_range);
        if (mod.wide) return expand<uint64_t>(s, mod, size_t(length), threads);
        return expand<uint32_t>(s, mod, size_t(length), threads);
      },
      py::arg("seed"), py::arg("length"), py::arg("modulus_range"), py::arg("threads") = 0,
      "First `length` elements of PRG(seed) mod modulus_range (uint32 if modulus_range <= 2**32, "
      "else uint64). threads=0: automatic.");

  m.def(
      "aes256_ctr",
      [](const py::bytes& key, const py::bytes& iv, size_t nbytes) {
        std::string k = key, c = iv;
        if (k.size() != 32) throw Error(ErrorCode::kSeed, "AES-256 key must be 32 bytes");
        if (c.size() != 16) throw Error(ErrorCode::kSeed, "initial counter block must be 16 bytes");
        secagg::AesKey ak;
        secagg::aes256_expand_key(reinterpret_cast<const uint8_t*>(k.data()), ak);
        secagg::Counter ctr{0, 0};
        for (int i = 0; i < 8; ++i) {
          ctr.hi = (ctr.hi << 8) | uint8_t(c[i]);
          ctr.lo = (ctr.lo << 8) | uint8_t(c[8 + i]);
        }
        std::vector<uint8_t> buf((nbytes + 15) / 16 * 16);
        {
          py::gil_scoped_release release;
          secagg::ctr_process(secagg::active_backend(), ak, ctr, buf.size() / 16, buf.data(),
                              secagg::CtrOp::kStore);
        }
        return py::bytes(reinterpret_cast<const char*>(buf.data()), nbytes);
      },
      py::arg("key"), py::arg("iv"), py::arg("nbytes"),
      "Raw AES-256-CTR keystream (counter = iv as a 128-bit big-endian integer), active backend.");

  m.def(
      "hkdf_sha256",
      [](const py::bytes& ikm, const py::object& salt, const py::bytes& info, size_t length) {
        std::string i = ikm, f = info, s;
        if (!salt.is_none()) s = py::cast<std::string>(py::bytes(salt));
        if (length > 255 * 32) throw Error(ErrorCode::kConfig, "HKDF length must be <= 8160");
        std::vector<uint8_t> out(length);
        secagg::hkdf_sha256(reinterpret_cast<const uint8_t*>(i.data()), i.size(),
                            s.empty() ? nullptr : reinterpret_cast<const uint8_t*>(s.data()), s.size(),
                            reinterpret_cast<const uint8_t*>(f.data()), f.size(), out.data(), length);
        return py::bytes(reinterpret_cast<const char*>(out.data()), length);
      },
      py::arg("ikm"), py::arg("salt"), py::arg("info"), py::arg("length"),
      "HKDF-SHA256 (RFC 5869) as implemented in the core (salt None = no salt).");

  m.def(
      "derive_prg_key",
      [](const py::handle& seed) {
        secagg::Seed s = to_seed(seed, "seed");
        auto k = secagg::derive_prg_key_bytes(s.data());
        return py::bytes(reinterpret_cast<const char*>(k.data()), k.size());
      },
      py::arg("seed"), "The AES-256 key of PRG(seed): HKDF-SHA256(seed, info=b'secagg-prg-v1').");

  m.def("prg_backend", [] { return std::string(secagg::backend_name(secagg::active_backend())); },
        "Name of the AES backend in use now (see available_backends).");

  m.def(
      "available_backends",
      [] {
        std::vector<std::string> names;
        for (auto b : kBySpeed)
          if (secagg::backend_available(b)) names.emplace_back(secagg::backend_name(b));
        return names;
      },
      "AES backends this CPU supports, slowest first (the last one is the automatic choice).");

  m.def(
      "kernel_backends",
      [] {
        const secagg::KernelBackends k = secagg::kernel_backends(secagg::active_backend());
        py::dict d;
        d["aes"] = k.aes;
        d["quantize"] = k.quantize;
        d["field"] = k.field;
        d["noise"] = k.noise;
        d["shamir"] = k.shamir;
        return d;
      },
      "The code path each kernel family runs now: {'aes': backend name, 'quantize' / 'field' / "
      "'noise' / 'shamir': 'avx2' or 'portable'}.");

  m.def(
      "set_backend",
      [](const std::string& name) {
        secagg::set_backend_override(name == "auto" ? -1 : static_cast<int>(parse_backend(name)));
      },
      py::arg("name"),
      "Force a backend process-wide ('portable', 'bitsliced-avx2', 'armce', 'aesni', 'vaes'), or "
      "'auto' (default: the fastest available unless SECAGG_FORCE_PORTABLE=1 is set in the "
      "environment). 'portable' also switches every SIMD kernel to its baseline-ISA code.");
}

}  // namespace secagg_bindings
