// Portable AES-256: key expansion (shared by all backends) and a T-table block cipher.
// The tables are computed at compile time from the field arithmetic, so no constants to mistype.
#include <cstring>

#include "aes_impl.hpp"

namespace secagg {
namespace {

constexpr uint8_t xtime(uint8_t a) { return uint8_t((a << 1) ^ ((a & 0x80) ? 0x1b : 0)); }

constexpr uint8_t gmul(uint8_t a, uint8_t b) {
  uint8_t p = 0;
  for (int i = 0; i < 8; ++i) {
    if (b & 1) p ^= a;
    a = xtime(a);
    b >>= 1;
  }
  return p;
}

struct Tables {
  uint8_t sbox[256];
  uint32_t te[4][256];
};

constexpr uint8_t rotl8(uint8_t x, int n) { return uint8_t((x << n) | (x >> (8 - n))); }

constexpr Tables make_tables() {
  Tables t{};
  // Inverses via log/antilog tables of the generator 3.
  uint8_t exp3[255] = {}, log3[256] = {};
  uint8_t g = 1;
  for (int i = 0; i < 255; ++i) {
    exp3[i] = g;
    log3[g] = uint8_t(i);
    g = gmul(g, 3);
  }
  for (int x = 0; x < 256; ++x) {
    uint8_t inv = x == 0 ? 0 : exp3[(255 - log3[x]) % 255];
    uint8_t s = uint8_t(inv ^ rotl8(inv, 1) ^ rotl8(inv, 2) ^ rotl8(inv, 3) ^ rotl8(inv, 4) ^ 0x63);
    t.sbox[x] = s;
  }
  for (int x = 0; x < 256; ++x) {
    uint8_t s = t.sbox[x];
    // Contribution of a row-0 byte to a MixColumns column (2s, s, s, 3s), little-endian packed.
    uint32_t w = uint32_t(gmul(s, 2)) | (uint32_t(s) << 8) | (uint32_t(s) << 16) |
                 (uint32_t(gmul(s, 3)) << 24);
    for (int r = 0; r < 4; ++r) t.te[r][x] = r == 0 ? w : ((w << (8 * r)) | (w >> (32 - 8 * r)));
  }
  return t;
}

constexpr Tables kT = make_tables();

inline uint32_t load_le32(const uint8_t* p) {
  uint32_t v;
  std::memcpy(&v, p, 4);
  return v;  // the core assumes a little-endian host (x86-64, arm64)
}

}  // namespace

void aes256_expand_key(const uint8_t key[32], AesKey& out) {
  uint8_t* w = out.rk;
  std::memcpy(w, key, 32);
  uint8_t rcon = 1;
  for (int i = 8; i < 60; ++i) {
    uint8_t t[4];
    std::memcpy(t, w + 4 * (i - 1), 4);
    if (i % 8 == 0) {
      uint8_t t0 = t[0];
      t[0] = uint8_t(kT.sbox[t[1]] ^ rcon);
      t[1] = kT.sbox[t[2]];
      t[2] = kT.sbox[t[3]];
      t[3] = kT.sbox[t0];
      rcon = xtime(rcon);
    } else if (i % 8 == 4) {
      for (auto& b : t) b = kT.sbox[b];
    }
    for (int j = 0; j < 4; ++j) w[4 * i + j] = uint8_t(w[4 * (i - 8) + j] ^ t[j]);
  }
}

void aes256_encrypt_block_portable(const AesKey& key, const uint8_t in[16], uint8_t out[16]) {
  const uint8_t* rk = key.rk;
  const auto& te0 = kT.te[0];
  const auto& te1 = kT.te[1];
  const auto& te2 = kT.te[2];
  const auto& te3 = kT.te[3];
  uint32_t s0 = load_le32(in) ^ load_le32(rk), s1 = load_le32(in + 4) ^ load_le32(rk + 4);
  uint32_t s2 = load_le32(in + 8) ^ load_le32(rk + 8), s3 = load_le32(in + 12) ^ load_le32(rk + 12);
  for (int round = 1; round < 14; ++round) {
    const uint8_t* k = rk + 16 * round;
    uint32_t t0 = te0[s0 & 0xff] ^ te1[(s1 >> 8) & 0xff] ^ te2[(s2 >> 16) & 0xff] ^ te3[s3 >> 24] ^
                  load_le32(k);
    uint32_t t1 = te0[s1 & 0xff] ^ te1[(s2 >> 8) & 0xff] ^ te2[(s3 >> 16) & 0xff] ^ te3[s0 >> 24] ^
                  load_le32(k + 4);
    uint32_t t2 = te0[s2 & 0xff] ^ te1[(s3 >> 8) & 0xff] ^ te2[(s0 >> 16) & 0xff] ^ te3[s1 >> 24] ^
                  load_le32(k + 8);
    uint32_t t3 = te0[s3 & 0xff] ^ te1[(s0 >> 8) & 0xff] ^ te2[(s1 >> 16) & 0xff] ^ te3[s2 >> 24] ^
                  load_le32(k + 12);
    s0 = t0; s1 = t1; s2 = t2; s3 = t3;
  }
  const uint8_t* sb = kT.sbox;
  const uint32_t s[4] = {s0, s1, s2, s3};
  for (int c = 0; c < 4; ++c) {
    uint32_t v = uint32_t(sb[s[c] & 0xff]) | (uint32_t(sb[(s[(c + 1) & 3] >> 8) & 0xff]) << 8) |
                 (uint32_t(sb[(s[(c + 2) & 3] >> 16) & 0xff]) << 16) |
                 (uint32_t(sb[s[(c + 3) & 3] >> 24]) << 24);
    v ^= load_le32(rk + 16 * 14 + 4 * c);
    std::memcpy(out + 4 * c, &v, 4);
  }
}

namespace detail {

void ctr_portable(const AesKey& key, Counter start, size_t nblocks, uint8_t* dst, CtrOp op) {
  uint8_t ctr[16], ks[16];
  for (int i = 0; i < 8; ++i) ctr[i] = uint8_t(start.hi >> (56 - 8 * i));
  for (size_t b = 0; b < nblocks; ++b) {
    uint64_t lo = start.lo + b;
    for (int i = 0; i < 8; ++i) ctr[8 + i] = uint8_t(lo >> (56 - 8 * i));
    aes256_encrypt_block_portable(key, ctr, ks);
    uint8_t* d = dst + 16 * b;
    switch (op) {
      case CtrOp::kStore: std::memcpy(d, ks, 16); break;
      case CtrOp::kAdd32:
      case CtrOp::kSub32:
        for (int j = 0; j < 4; ++j) {
          uint32_t a, k;
          std::memcpy(&a, d + 4 * j, 4);
          std::memcpy(&k, ks + 4 * j, 4);
          a = op == CtrOp::kAdd32 ? a + k : a - k;
          std::memcpy(d + 4 * j, &a, 4);
        }
        break;
      case CtrOp::kAdd64:
      case CtrOp::kSub64:
        for (int j = 0; j < 2; ++j) {
          uint64_t a, k;
          std::memcpy(&a, d + 8 * j, 8);
          std::memcpy(&k, ks + 8 * j, 8);
          a = op == CtrOp::kAdd64 ? a + k : a - k;
          std::memcpy(d + 8 * j, &a, 8);
        }
        break;
    }
  }
}

}  // namespace detail
}  // namespace secagg
