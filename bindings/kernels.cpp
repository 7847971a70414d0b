// Scaffold: filled in by the kernels work.
#include "register.hpp"
namespace secagg_bindings {
void register_kernels(pybind11::module_& m) { (void)m; }
}  // namespace secagg_bindings
