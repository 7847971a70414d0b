// Wiping secrets so the compiler cannot elide it.
//
// A plain memset of a buffer that is never read again is a dead store: at -O2/-O3 the compiler
// removes it (this was seen in derive_prg_key). secure_wipe calls memset through a volatile
// function pointer, which the optimiser cannot see through, and adds a compiler barrier, so the
// bytes are zeroed before the memory is released. Every derived key, AES key schedule, HKDF/HMAC
// intermediate and seed copy in the core is wiped with it (AesKey and SecretBytes do it in their
// destructors). Thread-safe; never throws.
#pragma once
#include <array>
#include <cstddef>
#include <cstdint>

namespace secagg {

void secure_wipe(void* p, size_t n) noexcept;

// A fixed-size secret that wipes itself when it goes out of scope (an aggregate, like std::array).
template <size_t N>
struct SecretBytes : std::array<uint8_t, N> {
  ~SecretBytes() { secure_wipe(this->data(), N); }
};

// Wipes an object (e.g. a hash state that saw a secret) when the scope ends.
template <class T>
class WipeOnExit {
 public:
  explicit WipeOnExit(T& obj) noexcept : obj_(obj) {}
  ~WipeOnExit() { secure_wipe(&obj_, sizeof(T)); }
  WipeOnExit(const WipeOnExit&) = delete;
  WipeOnExit& operator=(const WipeOnExit&) = delete;

 private:
  T& obj_;
};

}  // namespace secagg
