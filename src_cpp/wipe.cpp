// secure_wipe: memset through a volatile function pointer, then a compiler barrier (see wipe.hpp).
#include "secagg/wipe.hpp"

#include <cstring>

namespace secagg {

namespace {
void* (*const volatile memset_not_elided)(void*, int, size_t) = std::memset;
}  // namespace

void secure_wipe(void* p, size_t n) noexcept {
  if (p == nullptr || n == 0) return;
  memset_not_elided(p, 0, n);
#if defined(__GNUC__) || defined(__clang__)
  __asm__ __volatile__("" : : "r"(p) : "memory");
#endif
}

}  // namespace secagg
