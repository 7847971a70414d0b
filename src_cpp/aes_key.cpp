// AES-256 key expansion (FIPS-197 section 5.2), shared by every backend, in constant time: the
// S-box is computed as x^254 in GF(2^8) followed by the affine map, with branch-free arithmetic,
// so no memory address or branch depends on a key byte (no lookup table).
#include <cstring>

#include "secagg/aes.hpp"

namespace secagg {
namespace {

// a * b in GF(2^8) mod x^8 + x^4 + x^3 + x + 1, without branches or tables.
inline uint8_t gf_mul(uint8_t a, uint8_t b) {
  uint8_t p = 0;
  for (int i = 0; i < 8; ++i) {
    p ^= uint8_t(a & (0 - (b & 1)));
    a = uint8_t((a << 1) ^ (0x1b & (0 - (a >> 7))));
    b >>= 1;
  }
  return p;
}

inline uint8_t rotl8(uint8_t x, int n) { return uint8_t((x << n) | (x >> (8 - n))); }

// S(x) = affine(x^254); x^254 = x^-1 for x != 0 and 0 for x = 0, as AES requires.
inline uint8_t sbox_ct(uint8_t x) {
  const uint8_t x2 = gf_mul(x, x), x3 = gf_mul(x2, x), x6 = gf_mul(x3, x3), x12 = gf_mul(x6, x6);
  uint8_t y = gf_mul(x12, x3);                   // x^15
  for (int i = 0; i < 4; ++i) y = gf_mul(y, y);  // x^240
  const uint8_t inv = gf_mul(gf_mul(y, x12), x2);  // x^(240 + 12 + 2) = x^254
  return uint8_t(inv ^ rotl8(inv, 1) ^ rotl8(inv, 2) ^ rotl8(inv, 3) ^ rotl8(inv, 4) ^ 0x63);
}

}  // namespace

void aes256_expand_key(const uint8_t key[32], AesKey& out) {
  uint8_t* w = out.rk;
  std::memcpy(w, key, 32);
  uint8_t rcon = 1;  // public: depends only on the word index
  for (int i = 8; i < 60; ++i) {
    uint8_t t[4];
    std::memcpy(t, w + 4 * (i - 1), 4);
    if (i % 8 == 0) {
      const uint8_t t0 = t[0];
      t[0] = uint8_t(sbox_ct(t[1]) ^ rcon);
      t[1] = sbox_ct(t[2]);
      t[2] = sbox_ct(t[3]);
      t[3] = sbox_ct(t0);
      rcon = uint8_t((rcon << 1) ^ ((rcon & 0x80) ? 0x1b : 0));
    } else if (i % 8 == 4) {
      for (auto& b : t) b = sbox_ct(b);
    }
    for (int j = 0; j < 4; ++j) w[4 * i + j] = uint8_t(w[4 * (i - 8) + j] ^ t[j]);
    secure_wipe(t, sizeof t);
  }
}

}  // namespace secagg
