// One register_<concept>() per binding file; module.cpp calls them all.
#pragma once
#include <pybind11/pybind11.h>

namespace secagg_bindings {
void register_prg(pybind11::module_& m);
void register_kernels(pybind11::module_& m);
void register_shamir(pybind11::module_& m);
void register_noise(pybind11::module_& m);
void register_packing(pybind11::module_& m);
}  // namespace secagg_bindings
