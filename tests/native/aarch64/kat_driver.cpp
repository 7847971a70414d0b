// Known-answer driver for the cross-compiled (aarch64, qemu) core; see .ci/aarch64.
//
//   kat_driver [expected-backend]      exit 0 iff every check passes (prints one line per check)
//   kat_driver --keystream N           only N AES-256-CTR keystream blocks on the active backend
//                                      (what .ci/aarch64 counts instructions of)
//
// Checks: NIST SP 800-38A F.5.5 (CTR-AES256), FIPS-197 C.3, RFC 5869 A.1-A.3 (HKDF-SHA256), the
// PRG of a fixed seed against values computed by the x86-64 build, and masks cancelling through
// the C ABI (two clients, one pairwise seed, unmasked with both self masks).
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "secagg/aes.hpp"
#include "secagg/secagg.h"
#include "secagg/sha256.hpp"

namespace {

int g_failures = 0;

void check(bool ok, const char* what) {
  std::printf("%s %s\n", ok ? "ok  " : "FAIL", what);
  if (!ok) ++g_failures;
}

std::vector<uint8_t> hex(const char* s) {
  std::vector<uint8_t> out;
  for (size_t i = 0; s[i] && s[i + 1]; i += 2) out.push_back(uint8_t(std::strtoul(std::string(s + i, 2).c_str(), nullptr, 16)));
  return out;
}

std::vector<uint8_t> ctr(const std::vector<uint8_t>& key, const std::vector<uint8_t>& iv, size_t nblocks) {
  secagg::AesKey k;
  secagg::aes256_expand_key(key.data(), k);
  secagg::Counter c{0, 0};
  for (int i = 0; i < 8; ++i) {
    c.hi = (c.hi << 8) | iv[i];
    c.lo = (c.lo << 8) | iv[8 + i];
  }
  std::vector<uint8_t> out(16 * nblocks);
  secagg::ctr_process(secagg::active_backend(), k, c, nblocks, out.data(), secagg::CtrOp::kStore);
  return out;
}

void nist_ctr() {
  const auto key = hex("603deb1015ca71be2b73aef0857d77811f352c073b6108d72d9810a30914dff4");
  const auto iv = hex("f0f1f2f3f4f5f6f7f8f9fafbfcfdfeff");
  const auto pt = hex("6bc1bee22e409f96e93d7e117393172aae2d8a571e03ac9c9eb76fac45af8e51"
                      "30c81c46a35ce411e5fbc1191a0a52eff69f2445df4f9b17ad2b417be66c3710");
  const auto ct = hex("601ec313775789a5b7a7f504bbf3d228f443e3ca4d62b59aca84e990cacaf5c5"
                      "2b0930daa23de94ce87017ba2d84988ddfc9c58db67aada613c2dd08457941a6");
  auto ks = ctr(key, iv, 4);
  for (size_t i = 0; i < ks.size(); ++i) ks[i] ^= pt[i];
  check(ks == ct, "NIST SP 800-38A F.5.5 CTR-AES256");
}

void fips197() {
  std::vector<uint8_t> key(32);
  for (int i = 0; i < 32; ++i) key[i] = uint8_t(i);
  check(ctr(key, hex("00112233445566778899aabbccddeeff"), 1) == hex("8ea2b7ca516745bfeafc49904b496089"),
        "FIPS-197 C.3 AES-256 block");
}

void rfc5869() {
  struct Case { std::vector<uint8_t> ikm, salt, info; const char* okm; const char* name; };
  std::vector<uint8_t> ikm2(80), salt2(80), info2(80), info1(10), salt1(13);
  for (int i = 0; i < 80; ++i) { ikm2[i] = uint8_t(i); salt2[i] = uint8_t(0x60 + i); info2[i] = uint8_t(0xb0 + i); }
  for (int i = 0; i < 13; ++i) salt1[i] = uint8_t(i);
  for (int i = 0; i < 10; ++i) info1[i] = uint8_t(0xf0 + i);
  const std::vector<uint8_t> ikm1(22, 0x0b);
  const Case cases[] = {
      {ikm1, salt1, info1, "3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf34007208d5b887185865", "RFC 5869 A.1 HKDF-SHA256"},
      {ikm2, salt2, info2, "b11e398dc80327a1c8e7f78c596a49344f012eda2d4efad8a050cc4c19afa97c59045a99cac7827271cb41c65e590e09da3275600c2f09b8367793a9aca3db71cc30c58179ec3e87c14c01d5c1f3434f1d87", "RFC 5869 A.2 HKDF-SHA256"},
      {ikm1, {}, {}, "8da4e775a563c18f715f802a063c5a31b8a11f5c5ee1879ec3454e5f3c738d2d9d201395faa4b61a96c8", "RFC 5869 A.3 HKDF-SHA256"},
  };
  for (const Case& c : cases) {
    const auto want = hex(c.okm);
    std::vector<uint8_t> got(want.size());
    secagg::hkdf_sha256(c.ikm.data(), c.ikm.size(), c.salt.empty() ? nullptr : c.salt.data(), c.salt.size(),
                        c.info.data(), c.info.size(), got.data(), got.size());
    check(got == want, c.name);
  }
}

void prg_matches_x86() {
  uint8_t seed[32];
  for (int i = 0; i < 32; ++i) seed[i] = uint8_t(i);
  // secagg.prg_expand(bytes(range(32)), n, modulus_range=...) on the x86-64 build
  const uint32_t want32[8] = {0x0cb6d1ef, 0x8612ca85, 0x9de17d1e, 0x681923f5,
                              0xbff8cc3e, 0xe86c529c, 0xc51dfbfa, 0xcd1b866b};
  const uint32_t want_p[4] = {446959, 97566, 576574, 916474};
  uint32_t got32[8], got_p[4];
  check(secagg_prg_expand_u32(seed, uint64_t(1) << 32, got32, 8, 1) == SECAGG_OK &&
            std::memcmp(got32, want32, sizeof want32) == 0,
        "PRG (power-of-two modulus) equals the x86-64 build");
  check(secagg_prg_expand_u32(seed, 1000003, got_p, 4, 1) == SECAGG_OK &&
            std::memcmp(got_p, want_p, sizeof want_p) == 0,
        "PRG (rejection sampling) equals the x86-64 build");
}

void masks_cancel() {
  const size_t d = 1003;
  std::vector<float> x(d);
  for (size_t i = 0; i < d; ++i) x[i] = float(i % 97) / 48.0f - 1.0f;
  uint8_t s1[32], s2[32], pair[32], rnd[32] = {0};
  for (int i = 0; i < 32; ++i) { s1[i] = uint8_t(i + 1); s2[i] = uint8_t(3 * i + 7); pair[i] = uint8_t(255 - i); }
  const int8_t plus = 1, minus = -1;
  std::vector<uint32_t> y1(d), y2(d), q(d), m1(d), m2(d);
  int rc = secagg_quantize_and_mask(x.data(), nullptr, d, 1.0, 1 << 12, uint64_t(1) << 32, s1, pair, &plus, 1, rnd, y1.data(), nullptr, 0);
  rc |= secagg_quantize_and_mask(x.data(), nullptr, d, 1.0, 1 << 12, uint64_t(1) << 32, s2, pair, &minus, 1, rnd, y2.data(), nullptr, 0);
  rc |= secagg_quantize_and_mask(x.data(), nullptr, d, 1.0, 1 << 12, uint64_t(1) << 32, nullptr, nullptr, nullptr, 0, rnd, q.data(), nullptr, 0);
  rc |= secagg_prg_expand_u32(s1, uint64_t(1) << 32, m1.data(), d, 0);
  rc |= secagg_prg_expand_u32(s2, uint64_t(1) << 32, m2.data(), d, 0);
  bool ok = rc == SECAGG_OK;
  for (size_t i = 0; i < d; ++i) ok = ok && uint32_t(y1[i] + y2[i] - m1[i] - m2[i]) == uint32_t(2 * q[i]);
  check(ok, "masks cancel (C ABI, two clients, one pairwise seed)");
}

}  // namespace

int main(int argc, char** argv) {
  if (argc == 3 && std::strcmp(argv[1], "--keystream") == 0) {
    const size_t n = std::strtoul(argv[2], nullptr, 10);
    std::vector<uint8_t> key(32, 0x5a), iv(16, 0);
    const auto ks = ctr(key, iv, n);
    std::printf("%s keystream of %zu blocks, last byte %02x\n", secagg_prg_backend(), n, ks.back());
    return 0;
  }
  const char* backend = secagg_prg_backend();
  std::printf("backend: %s\n", backend);
  if (argc == 2) check(std::strcmp(backend, argv[1]) == 0, "expected backend is active");
  nist_ctr();
  fips197();
  rfc5869();
  prg_matches_x86();
  masks_cancel();
  std::printf("%s: %d failure(s)\n", backend, g_failures);
  return g_failures == 0 ? 0 : 1;
}
