// Native test driver: the C ABI and core kernels without Python, built by .ci/sanitize under
// AddressSanitizer + UndefinedBehaviorSanitizer (SECAGG_SANITIZE) so that any memory or UB error in
// them aborts the run. Known-answer vectors: NIST SP 800-38A F.5.5 (AES-256-CTR), RFC 5869 cases 1
// and 3 (HKDF-SHA256), and the secagg PRG of seed 00..1f (computed with `cryptography`).
// Exit status 0 when every check passes; run it once more with SECAGG_FORCE_PORTABLE=1.
#include <array>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "secagg/aes.hpp"
#include "secagg/errors.hpp"
#include "secagg/packing.hpp"
#include "secagg/prg.hpp"
#include "secagg/secagg.h"
#include "secagg/sha256.hpp"
#include "secagg/shamir.hpp"
#include "secagg/unmask.hpp"

namespace {

int g_failures = 0;

void check(bool ok, const std::string& what) {
  if (!ok) {
    std::fprintf(stderr, "FAIL: %s\n", what.c_str());
    ++g_failures;
  }
}

std::vector<uint8_t> hex(const char* s) {
  std::vector<uint8_t> out;
  for (size_t i = 0; s[i] && s[i + 1]; i += 2) out.push_back(uint8_t(std::stoul(std::string(s + i, 2), nullptr, 16)));
  return out;
}

void test_aes_ctr_nist() {
  const auto key = hex("603deb1015ca71be2b73aef0857d77811f352c073b6108d72d9810a30914dff4");
  const auto pt = hex(
      "6bc1bee22e409f96e93d7e117393172aae2d8a571e03ac9c9eb76fac45af8e51"
      "30c81c46a35ce411e5fbc1191a0a52eff69f2445df4f9b17ad2b417be66c3710");
  const auto ct = hex(
      "601ec313775789a5b7a7f504bbf3d228f443e3ca4d62b59aca84e990cacaf5c5"
      "2b0930daa23de94ce87017ba2d84988ddfc9c58db67aada613c2dd08457941a6");
  secagg::AesKey k;
  secagg::aes256_expand_key(key.data(), k);
  std::vector<uint8_t> ks(64);
  secagg::ctr_process(secagg::active_backend(), k, {0xf0f1f2f3f4f5f6f7ULL, 0xf8f9fafbfcfdfeffULL}, 4,
                      ks.data(), secagg::CtrOp::kStore);
  for (size_t i = 0; i < 64; ++i) ks[i] ^= pt[i];
  check(ks == ct, std::string("NIST SP 800-38A F.5.5 on backend ") +
                      secagg::backend_name(secagg::active_backend()));
}

void test_hkdf_rfc5869() {
  const auto ikm = hex("0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b");
  const auto salt = hex("000102030405060708090a0b0c");
  const auto info = hex("f0f1f2f3f4f5f6f7f8f9");
  std::vector<uint8_t> okm(42);
  secagg::hkdf_sha256(ikm.data(), ikm.size(), salt.data(), salt.size(), info.data(), info.size(),
                      okm.data(), okm.size());
  check(okm == hex("3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf34007208d5b887185865"),
        "RFC 5869 test case 1");
  secagg::hkdf_sha256(ikm.data(), ikm.size(), nullptr, 0, nullptr, 0, okm.data(), okm.size());
  check(okm == hex("8da4e775a563c18f715f802a063c5a31b8a11f5c5ee1879ec3454e5f3c738d2d9d201395faa4b61a96c8"),
        "RFC 5869 test case 3");
}

void test_prg_known_answer() {
  uint8_t seed[32];
  for (int i = 0; i < 32; ++i) seed[i] = uint8_t(i);
  uint32_t w32[8];
  check(secagg_prg_expand_u32(seed, 0x100000000ULL, w32, 8, 1) == SECAGG_OK, "prg_expand_u32 status");
  const uint32_t want32[8] = {0x0cb6d1ef, 0x8612ca85, 0x9de17d1e, 0x681923f5,
                              0xbff8cc3e, 0xe86c529c, 0xc51dfbfa, 0xcd1b866b};
  check(std::memcmp(w32, want32, sizeof w32) == 0, "PRG(00..1f) mod 2^32");
  uint64_t w64[4];
  check(secagg_prg_expand_u64(seed, 0, w64, 4, 1) == SECAGG_OK, "prg_expand_u64 status");
  const uint64_t want64[4] = {0x8612ca850cb6d1efULL, 0x681923f59de17d1eULL, 0xe86c529cbff8cc3eULL,
                              0xcd1b866bc51dfbfaULL};
  check(std::memcmp(w64, want64, sizeof w64) == 0, "PRG(00..1f) mod 2^64");
  // Threads and odd lengths give a prefix of the same stream; a non-power-of-two modulus stays < R.
  std::vector<uint32_t> a(100003), b(100003);
  check(secagg_prg_expand_u32(seed, 1000003, a.data(), a.size(), 1) == SECAGG_OK &&
            secagg_prg_expand_u32(seed, 1000003, b.data(), b.size(), 4) == SECAGG_OK && a == b,
        "PRG threads agree");
  bool in_range = true;
  for (uint32_t v : a) in_range &= v < 1000003;
  check(in_range, "PRG mod 1000003 in range");
}

void test_capi_errors() {
  uint8_t seed[32] = {1};
  uint32_t out[4];
  uint64_t out64[4];
  check(secagg_prg_expand_u32(nullptr, 1 << 16, out, 4, 0) == SECAGG_ERR_NULL_POINTER, "NULL seed");
  check(secagg_prg_expand_u32(seed, 1, out, 4, 0) == SECAGG_ERR_MODULUS, "modulus 1");
  check(secagg_prg_expand_u32(seed, 0, out, 4, 0) != SECAGG_OK, "u32 with 2^64");
  check(secagg_prg_expand_u64(seed, 1 << 16, out64, 4, 0) != SECAGG_OK, "u64 with 2^16");
  const float nan_update[2] = {0.5f, std::numeric_limits<float>::quiet_NaN()};
  uint8_t rounding[32] = {7};
  check(secagg_quantize_and_mask(nan_update, nullptr, 2, 1.0, 1024, 1 << 16, nullptr, nullptr, nullptr,
                                 0, rounding, out, nullptr, 0) == SECAGG_ERR_NON_FINITE,
        "NaN update");
  const float update[2] = {0.5f, -0.5f};
  const int8_t bad_sign[1] = {2};
  check(secagg_quantize_and_mask(update, nullptr, 2, 1.0, 1024, 1 << 16, nullptr, seed, bad_sign, 1,
                                 rounding, out, nullptr, 0) == SECAGG_ERR_SEED,
        "sign 2");
  check(secagg_quantize_and_mask(update, nullptr, 2, 1.0, 1024, 1 << 16, nullptr, nullptr, nullptr, 0,
                                 rounding, nullptr, out64, 0) == SECAGG_ERR_DTYPE,
        "u64 output for 2^16");
  for (int code = 0; code < 12; ++code) check(secagg_strerror(code) != nullptr, "strerror");
  check(std::strlen(secagg_version()) > 0, "version");
}

// Two clients share a pairwise seed (one adds, one subtracts its mask), each adds a self mask; the
// server's sum minus the self masks equals the sum of the quantized updates.
template <class T>
void test_masks_cancel(uint64_t modulus) {
  const size_t d = 4099;
  std::mt19937_64 rng(modulus);
  std::uniform_real_distribution<double> u(-1.5, 1.5);
  std::vector<double> x1(d), x2(d);
  for (size_t i = 0; i < d; ++i) x1[i] = u(rng), x2[i] = u(rng);
  uint8_t pair[32], self1[32], self2[32], r1[32], r2[32];
  for (int i = 0; i < 32; ++i) pair[i] = uint8_t(i), self1[i] = uint8_t(40 + i), self2[i] = uint8_t(90 + i),
                               r1[i] = uint8_t(150 + i), r2[i] = uint8_t(200 + i);
  const int8_t plus[1] = {1}, minus[1] = {-1};
  std::vector<T> q1(d), q2(d), m1(d), m2(d);
  constexpr bool wide = sizeof(T) == 8;
  auto call = [&](const double* x, const uint8_t* self, const int8_t* sign, const uint8_t* round, T* out) {
    const size_t peers = sign ? 1 : 0;
    return secagg_quantize_and_mask(nullptr, x, d, 1.0, 1 << 12, modulus, self, sign ? pair : nullptr,
                                    sign, peers, round, wide ? nullptr : reinterpret_cast<uint32_t*>(out),
                                    wide ? reinterpret_cast<uint64_t*>(out) : nullptr, 2);
  };
  bool ok = call(x1.data(), nullptr, nullptr, r1, q1.data()) == SECAGG_OK &&
            call(x2.data(), nullptr, nullptr, r2, q2.data()) == SECAGG_OK &&
            call(x1.data(), self1, plus, r1, m1.data()) == SECAGG_OK &&
            call(x2.data(), self2, minus, r2, m2.data()) == SECAGG_OK;
  check(ok, "quantize_and_mask status, modulus " + std::to_string(modulus));
  if (!ok) return;
  const auto m = secagg::Modulus::from_c(modulus);
  const T* vecs[2] = {m1.data(), m2.data()};
  std::vector<T> sum(d), unmasked(d);
  secagg::sum_vectors<T>(vecs, 2, d, m, sum.data(), 2);
  secagg::Seed selves[2];
  std::memcpy(selves[0].data(), self1, 32);
  std::memcpy(selves[1].data(), self2, 32);
  secagg::unmask<T>(sum.data(), d, m, selves, 2, nullptr, nullptr, 0, unmasked.data(), 2);
  const T* plain[2] = {q1.data(), q2.data()};
  std::vector<T> want(d);
  secagg::sum_vectors<T>(plain, 2, d, m, want.data(), 1);
  check(unmasked == want, "masks cancel, modulus " + std::to_string(modulus));
}

void test_packing_roundtrip() {
  std::mt19937_64 rng(5);
  for (unsigned bits = 1; bits <= 64; ++bits) {
    for (size_t d : {size_t(0), size_t(1), size_t(7), size_t(64), size_t(1001)}) {
      std::vector<uint64_t> in(d), out(d, 0);
      const uint64_t mask = bits == 64 ? ~0ULL : (1ULL << bits) - 1;
      for (auto& v : in) v = rng() & mask;
      std::vector<uint8_t> packed(secagg::packed_size(d, bits));
      secagg::pack_bits<uint64_t>(in.data(), d, bits, packed.data());
      secagg::unpack_bits(packed.data(), d, bits, out.data(), false);
      check(in == out, "pack/unpack " + std::to_string(bits) + " bits, d " + std::to_string(d));
    }
  }
  const uint64_t too_big[1] = {4};
  uint8_t buf[1];
  bool threw = false;
  try {
    secagg::pack_bits<uint64_t>(too_big, 1, 2, buf);
  } catch (const secagg::Error& e) {
    threw = e.code() == secagg::ErrorCode::kRange;
  }
  check(threw, "pack_bits refuses a value >= 2^bits");
}

void test_shamir() {
  namespace sh = secagg::shamir;
  std::mt19937_64 rng(11);
  const uint32_t t = 3, n = 6;
  uint8_t secret[32];
  for (auto& b : secret) b = uint8_t(rng());
  std::vector<uint64_t> coeff((t - 1) * sh::kChunks), shares(n * sh::kChunks);
  for (auto& c : coeff) c = rng() % sh::kPrime;
  sh::split(secret, t, n, coeff.data(), shares.data());
  std::vector<std::array<uint8_t, sh::kValueBytes>> bytes(n);
  for (uint32_t i = 0; i < n; ++i)
    for (size_t c = 0; c < sh::kChunks; ++c)
      for (int k = 0; k < 8; ++k) bytes[i][c * 8 + k] = uint8_t(shares[i * sh::kChunks + c] >> (8 * k));
  const uint32_t idx[4] = {2, 4, 5, 6};
  const uint8_t* vals[4] = {bytes[1].data(), bytes[3].data(), bytes[4].data(), bytes[5].data()};
  const std::array<uint64_t, sh::kCheckPoints> rho = {rng() % sh::kPrime, rng() % sh::kPrime,
                                                      rng() % sh::kPrime};
  sh::GroupView groups[2] = {{idx, vals, 4, t}, {idx, vals, 2, t}};
  uint8_t out[64];
  sh::Status status[2];
  sh::combine_many(groups, 2, rho, out, status);
  check(status[0] == sh::Status::kOk && std::memcmp(out, secret, 32) == 0, "shamir 4 of t=3");
  check(status[1] == sh::Status::kTooFewShares, "shamir 2 of t=3");
  bytes[3][0] ^= 1;  // tamper with one share: 4 > t shares detect it
  sh::combine_many(groups, 1, rho, out, status);
  check(status[0] == sh::Status::kInconsistent, "shamir tampered share");
}

}  // namespace

int main() {
  test_aes_ctr_nist();
  test_hkdf_rfc5869();
  test_prg_known_answer();
  test_capi_errors();
  test_masks_cancel<uint32_t>(1ULL << 32);
  test_masks_cancel<uint32_t>(1000003);
  test_masks_cancel<uint64_t>(0);
  test_masks_cancel<uint64_t>(3ULL << 40);
  test_packing_roundtrip();
  test_shamir();
  std::printf("native tests (backend %s): %s\n", secagg_prg_backend(), g_failures ? "FAILED" : "ok");
  return g_failures ? 1 : 0;
}
