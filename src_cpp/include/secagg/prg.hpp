// The secagg PRG (an interoperability contract: phone clients and the server must agree bit for
// bit):
//   key       = HKDF-SHA256(ikm = 32-byte seed, salt = none, info = "secagg-prg-v1", length 32)
//   keystream = AES-256-CTR(key), first counter block = 16 zero bytes, incremented as a 128-bit
//               big-endian integer
//   words     = the keystream read as little-endian unsigned integers; 32-bit words when
//               modulus_range is a power of two <= 2^32, 64-bit words otherwise
//   element i = power-of-two R: word i & (R - 1)   (so the stream is seekable: word i lives in
//               counter block i*wordsize/16)
//               other R (<= 2^62): the i-th 64-bit word w (in stream order) with
//               (w & (2^ceil(log2 R) - 1)) < R, taken as that masked value (rejection sampling)
#pragma once
#include <array>
#include <cstddef>
#include <cstdint>

#include "secagg/aes.hpp"
#include "secagg/modulus.hpp"
#include "secagg/wipe.hpp"

namespace secagg {

using Seed = SecretBytes<32>;  // a 32-byte seed, wiped when it goes out of scope

inline constexpr char kPrgInfo[] = "secagg-prg-v1";

// HKDF-SHA256(seed, no salt, info "secagg-prg-v1") expanded into an AES-256 key schedule.
AesKey derive_prg_key(const uint8_t seed[32]);
// The raw 32-byte AES key (for tests and other implementations); wiped when dropped.
SecretBytes<32> derive_prg_key_bytes(const uint8_t seed[32]);

// out[0..length) = the first `length` elements of PRG(seed) mod R. T must be uint64_t when
// R > 2^32 and uint32_t otherwise. threads: 0 = automatic.
template <class T>
void prg_expand(const uint8_t seed[32], const Modulus& m, size_t length, T* out, unsigned threads);

}  // namespace secagg
