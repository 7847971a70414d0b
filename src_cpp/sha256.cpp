// SHA-256 / HMAC / HKDF, straight from FIPS 180-4 and RFC 5869.
#include "secagg/sha256.hpp"
#include "secagg/wipe.hpp"

#include <cstring>
#include <vector>

#include "secagg/errors.hpp"

namespace secagg {
namespace {

constexpr uint32_t kK[64] = {
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
    0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
    0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
    0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
    0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
    0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
    0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2};

inline uint32_t rotr(uint32_t x, int n) { return (x >> n) | (x << (32 - n)); }

inline uint32_t load_be32(const uint8_t* p) {
  return (uint32_t(p[0]) << 24) | (uint32_t(p[1]) << 16) | (uint32_t(p[2]) << 8) | uint32_t(p[3]);
}

}  // namespace

Sha256::Sha256()
    : h_{0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab,
         0x5be0cd19} {}

void Sha256::compress(const uint8_t* block) {
  uint32_t w[64];
  for (int i = 0; i < 16; ++i) w[i] = load_be32(block + 4 * i);
  for (int i = 16; i < 64; ++i) {
    uint32_t s0 = rotr(w[i - 15], 7) ^ rotr(w[i - 15], 18) ^ (w[i - 15] >> 3);
    uint32_t s1 = rotr(w[i - 2], 17) ^ rotr(w[i - 2], 19) ^ (w[i - 2] >> 10);
    w[i] = w[i - 16] + s0 + w[i - 7] + s1;
  }
  uint32_t a = h_[0], b = h_[1], c = h_[2], d = h_[3], e = h_[4], f = h_[5], g = h_[6], h = h_[7];
  for (int i = 0; i < 64; ++i) {
    uint32_t t1 = h + (rotr(e, 6) ^ rotr(e, 11) ^ rotr(e, 25)) + ((e & f) ^ (~e & g)) + kK[i] + w[i];
    uint32_t t2 = (rotr(a, 2) ^ rotr(a, 13) ^ rotr(a, 22)) + ((a & b) ^ (a & c) ^ (b & c));
    h = g; g = f; f = e; e = d + t1; d = c; c = b; b = a; a = t1 + t2;
  }
  h_[0] += a; h_[1] += b; h_[2] += c; h_[3] += d; h_[4] += e; h_[5] += f; h_[6] += g; h_[7] += h;
}

void Sha256::update(const uint8_t* data, size_t len) {
  total_len_ += len;
  while (len > 0) {
    size_t take = 64 - buf_len_ < len ? 64 - buf_len_ : len;
    std::memcpy(buf_ + buf_len_, data, take);
    buf_len_ += take; data += take; len -= take;
    if (buf_len_ == 64) { compress(buf_); buf_len_ = 0; }
  }
}

Digest Sha256::finish() {
  uint64_t bits = total_len_ * 8;
  uint8_t pad = 0x80;
  update(&pad, 1);
  uint8_t zero = 0;
  while (buf_len_ != 56) update(&zero, 1);
  uint8_t len_be[8];
  for (int i = 0; i < 8; ++i) len_be[i] = uint8_t(bits >> (56 - 8 * i));
  update(len_be, 8);
  Digest out;
  for (int i = 0; i < 8; ++i)
    for (int j = 0; j < 4; ++j) out[4 * i + j] = uint8_t(h_[i] >> (24 - 8 * j));
  return out;
}

Digest sha256(const uint8_t* data, size_t len) {
  Sha256 s;
  s.update(data, len);
  return s.finish();
}

Digest hmac_sha256(const uint8_t* key, size_t key_len, const uint8_t* msg, size_t msg_len) {
  // the key (an HKDF seed or PRK) and everything derived from it are wiped on return
  uint8_t k[64] = {0};
  WipeOnExit<uint8_t[64]> wipe_k(k);
  if (key_len > 64) {
    Digest kd = sha256(key, key_len);
    std::memcpy(k, kd.data(), 32);
    secure_wipe(kd.data(), kd.size());
  } else if (key_len > 0) {
    std::memcpy(k, key, key_len);
  }
  uint8_t ipad[64], opad[64];
  WipeOnExit<uint8_t[64]> wipe_ipad(ipad), wipe_opad(opad);
  for (int i = 0; i < 64; ++i) { ipad[i] = k[i] ^ 0x36; opad[i] = k[i] ^ 0x5c; }
  Sha256 inner, outer;
  WipeOnExit<Sha256> wipe_inner(inner), wipe_outer(outer);
  inner.update(ipad, 64);
  inner.update(msg, msg_len);
  Digest ih = inner.finish();
  WipeOnExit<Digest> wipe_ih(ih);
  outer.update(opad, 64);
  outer.update(ih.data(), ih.size());
  return outer.finish();
}

void hkdf_sha256(const uint8_t* ikm, size_t ikm_len, const uint8_t* salt, size_t salt_len,
                 const uint8_t* info, size_t info_len, uint8_t* out, size_t out_len) {
  if (out_len > 255 * 32) throw Error(ErrorCode::kConfig, "HKDF output longer than 255*32 bytes");
  uint8_t zeros[32] = {0};
  if (salt == nullptr || salt_len == 0) { salt = zeros; salt_len = 32; }
  Digest prk = hmac_sha256(salt, salt_len, ikm, ikm_len);
  std::vector<uint8_t> msg;
  msg.reserve(32 + info_len + 1);  // never reallocated: the one buffer is wiped at the end
  Digest t{};
  WipeOnExit<Digest> wipe_prk(prk), wipe_t(t);
  size_t t_len = 0, done = 0;
  for (uint8_t counter = 1; done < out_len; ++counter) {
    msg.assign(t.begin(), t.begin() + t_len);
    msg.insert(msg.end(), info, info + info_len);
    msg.push_back(counter);
    t = hmac_sha256(prk.data(), prk.size(), msg.data(), msg.size());
    t_len = 32;
    size_t take = out_len - done < 32 ? out_len - done : 32;
    std::memcpy(out + done, t.data(), take);
    done += take;
  }
  secure_wipe(msg.data(), msg.size());  // holds the previous block of output key material
}

}  // namespace secagg
