// Scaffold: filled in by the prg work.
#include "register.hpp"
namespace secagg_bindings {
void register_prg(pybind11::module_& m) { (void)m; }
}  // namespace secagg_bindings
