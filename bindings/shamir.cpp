// Scaffold: filled in by the shamir work.
#include "register.hpp"
namespace secagg_bindings {
void register_shamir(pybind11::module_& m) { (void)m; }
}  // namespace secagg_bindings
