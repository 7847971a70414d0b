#include "secagg/prg.hpp"

#include <string>

#include "mask_pass.hpp"
#include "secagg/sha256.hpp"

namespace secagg {

SecretBytes<32> derive_prg_key_bytes(const uint8_t seed[32]) {
  SecretBytes<32> key;
  hkdf_sha256(seed, 32, nullptr, 0, reinterpret_cast<const uint8_t*>(kPrgInfo),
              sizeof(kPrgInfo) - 1, key.data(), key.size());
  return key;
}

AesKey derive_prg_key(const uint8_t seed[32]) {
  auto bytes = derive_prg_key_bytes(seed);  // wiped by its destructor (a plain memset was elided)
  AesKey k;
  aes256_expand_key(bytes.data(), k);
  return k;
}

namespace detail {

std::vector<SignedKey> make_keys(const uint8_t* self_seeds, size_t num_self, int self_sign,
                                 const uint8_t* peer_seeds, const int* peer_signs, size_t num_peers,
                                 int peer_factor) {
  std::vector<SignedKey> keys;
  keys.reserve(num_self + num_peers);
  for (size_t j = 0; j < num_peers; ++j)
    if (peer_signs[j] != 1 && peer_signs[j] != -1)
      throw Error(ErrorCode::kSeed, "peer_signs[" + std::to_string(j) + "] is " +
                                        std::to_string(peer_signs[j]) + "; each sign must be +1 or -1");
  for (size_t i = 0; i < num_self; ++i)
    keys.push_back(SignedKey{derive_prg_key(self_seeds + 32 * i), self_sign});
  for (size_t j = 0; j < num_peers; ++j)
    keys.push_back(SignedKey{derive_prg_key(peer_seeds + 32 * j), peer_factor * peer_signs[j]});
  return keys;
}

}  // namespace detail

template <class T>
void prg_expand(const uint8_t seed[32], const Modulus& m, size_t length, T* out, unsigned threads) {
  if (seed == nullptr) throw Error(ErrorCode::kNullPointer, "seed is NULL");
  std::vector<detail::SignedKey> keys{detail::SignedKey{derive_prg_key(seed), +1}};
  detail::ZeroSource<T> zero;
  detail::masked_pass<T>(m, active_backend(), keys, zero, out, length,
                         resolve_threads(threads, length));
}

template void prg_expand<uint32_t>(const uint8_t*, const Modulus&, size_t, uint32_t*, unsigned);
template void prg_expand<uint64_t>(const uint8_t*, const Modulus&, size_t, uint64_t*, unsigned);

}  // namespace secagg
