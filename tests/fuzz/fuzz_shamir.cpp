// libFuzzer target: the Shamir share decoder (secagg::shamir::combine_many) on untrusted shares.
// Input: byte 0 = number of groups (1..4); then per group a threshold byte, a share-count byte and,
// per share, a 4-byte little-endian index followed by the 64-byte value (8 LE uint64, maybe >= p).
// Checks: never crashes; a failed group's secret is all zeros; a kOk group with m > t shares lies
// on one polynomial, so any t of them reconstruct the same secret.
#include <array>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "secagg/shamir.hpp"

namespace sh = secagg::shamir;

namespace {

struct Reader {
  const uint8_t* p;
  size_t left;
  bool take(void* out, size_t n) {
    if (left < n) return false;
    std::memcpy(out, p, n);
    p += n;
    left -= n;
    return true;
  }
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  Reader r{data, size};
  uint8_t ng = 0;
  if (!r.take(&ng, 1)) return 0;
  ng = uint8_t(1 + ng % 4);
  std::vector<std::vector<uint32_t>> indices(ng);
  std::vector<std::vector<std::array<uint8_t, sh::kValueBytes>>> values(ng);
  std::vector<std::vector<const uint8_t*>> ptrs(ng);
  std::vector<sh::GroupView> groups(ng);
  for (size_t g = 0; g < ng; ++g) {
    uint8_t t = 0, m = 0;
    if (!r.take(&t, 1) || !r.take(&m, 1)) return 0;
    m = uint8_t(m % 12);
    indices[g].resize(m);
    values[g].resize(m);
    for (size_t i = 0; i < m; ++i) {
      uint8_t idx[4];
      if (!r.take(idx, 4) || !r.take(values[g][i].data(), sh::kValueBytes)) return 0;
      indices[g][i] = uint32_t(idx[0]) | uint32_t(idx[1]) << 8 | uint32_t(idx[2]) << 16 | uint32_t(idx[3]) << 24;
      ptrs[g].push_back(values[g][i].data());
    }
    groups[g] = {indices[g].data(), ptrs[g].data(), m, t};
  }
  const std::array<uint64_t, sh::kCheckPoints> rho = {12345, 67890, 424242};
  std::vector<uint8_t> secrets(ng * sh::kSecretBytes, 0xAA);
  std::vector<sh::Status> status(ng);
  sh::combine_many(groups.data(), ng, rho, secrets.data(), status.data());
  for (size_t g = 0; g < ng; ++g) {
    const uint8_t* s = secrets.data() + g * sh::kSecretBytes;
    if (int32_t(status[g]) < 0 || int32_t(status[g]) > 7) std::abort();
    if (status[g] != sh::Status::kOk) {
      for (size_t k = 0; k < sh::kSecretBytes; ++k)
        if (s[k]) std::abort();
      continue;
    }
    const uint32_t t = groups[g].threshold;
    if (groups[g].num_shares <= t) continue;
    // Reconstruct from the last t shares: the same secret (the shares passed the parity check).
    sh::GroupView tail = {indices[g].data() + (groups[g].num_shares - t),
                          ptrs[g].data() + (groups[g].num_shares - t), t, t};
    uint8_t again[sh::kSecretBytes];
    sh::Status st;
    sh::combine_many(&tail, 1, rho, again, &st);
    if (st != sh::Status::kOk || std::memcmp(again, s, sh::kSecretBytes) != 0) std::abort();
  }
  return 0;
}
