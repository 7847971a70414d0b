// secagg._core: thin pybind11 bindings over the pure C++ core in src_cpp/.
#include "register.hpp"

PYBIND11_MODULE(_core, m) {
  m.doc() = "secagg native core: AES-CTR PRG, fused quantize-and-mask, unmasking, Shamir sharing";
  secagg_bindings::register_prg(m);
  secagg_bindings::register_kernels(m);
  secagg_bindings::register_shamir(m);
}
