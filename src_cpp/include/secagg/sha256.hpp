// SHA-256, HMAC-SHA256 and HKDF-SHA256 (FIPS 180-4, RFC 2104, RFC 5869).
// Kept inside the core so that the C ABI needs no crypto library to derive PRG keys; tested
// against the RFC 5869 vectors and against `cryptography`'s HKDF.
#pragma once
#include <array>
#include <cstddef>
#include <cstdint>

namespace secagg {

using Digest = std::array<uint8_t, 32>;

class Sha256 {
 public:
  Sha256();
  void update(const uint8_t* data, size_t len);
  Digest finish();

 private:
  void compress(const uint8_t* block);
  uint32_t h_[8];
  uint8_t buf_[64];
  size_t buf_len_ = 0;
  uint64_t total_len_ = 0;
};

Digest sha256(const uint8_t* data, size_t len);
Digest hmac_sha256(const uint8_t* key, size_t key_len, const uint8_t* msg, size_t msg_len);

// HKDF-SHA256: extract(salt, ikm) then expand(prk, info) to out_len bytes (out_len <= 255*32).
// salt == nullptr with salt_len == 0 means "no salt" (RFC 5869: a string of 32 zero bytes).
void hkdf_sha256(const uint8_t* ikm, size_t ikm_len, const uint8_t* salt, size_t salt_len,
                 const uint8_t* info, size_t info_len, uint8_t* out, size_t out_len);

}  // namespace secagg
