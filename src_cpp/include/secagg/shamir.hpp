// t-of-n Shamir secret sharing of 32-byte secrets over the prime field GF(p), p = 2^61 - 1.
//
// Encoding (stable; the Python API and any other client must follow it):
//   * The 32-byte secret is read as eight 32-bit little-endian chunks s_0..s_7 (bytes 4c..4c+3 -> s_c).
//   * Each chunk is shared with its own polynomial f_c(X) = s_c + a_{c,1} X + ... + a_{c,t-1} X^{t-1}
//     over GF(p). The coefficients a_{c,k} must be independent and uniform in [0, p): draw them with
//     sample_field_elements() from OS CSPRNG bytes (rejection sampling, no modulo bias).
//   * Share number i (1 <= i <= n) holds x = i and the eight values f_0(i)..f_7(i), each in [0, p).
//     x = 0 is never a share: it is where the secret lives.
//   * threshold t = 1 is allowed but gives no secrecy: every share then equals the secret.
//
// Reconstruction (combine) accepts m >= t shares with distinct indices. The secret is interpolated at 0
// from the t smallest indices. When m > t the m points must all lie on one polynomial of degree < t;
// this is verified with a randomised parity check of the Reed-Solomon code: with barycentric weights
// w_i = 1 / prod_{j != i}(x_i - x_j), the points lie on a degree < t polynomial iff the syndrome
// s_k = sum_i w_i x_i^k y_i vanishes for k = 0..L-1, L = m - t. The check evaluates
// sum_k rho^k s_k for kCheckPoints independent uniform rho drawn from the OS CSPRNG by the caller for
// every call; an inconsistent share set passes with probability at most ((L-1)/p)^kCheckPoints
// < 2^-120 for m <= kMaxShares. A reconstructed chunk >= 2^32 is also rejected (it cannot come from a
// valid 32-byte secret). With exactly t shares no check can detect a tampered share except by the
// chunk-range test (which misses with probability about 2^-29 per chunk): give more than t shares when
// tampering is a concern.
//
// Pure C++17; no Python headers.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <vector>

namespace secagg::shamir {

inline constexpr std::uint64_t kPrime = (std::uint64_t{1} << 61) - 1;  // 2^61 - 1
inline constexpr std::size_t kSecretBytes = 32;
inline constexpr std::size_t kChunks = 8;             // 32-bit chunks per secret
inline constexpr std::size_t kValueBytes = kChunks * 8;  // one share value: 8 little-endian uint64
inline constexpr std::uint32_t kMaxShares = 1u << 20;    // n and every index are <= this
inline constexpr std::size_t kCheckPoints = 3;           // random rho per combine call

// Rejection sampler: reads `len / 8` little-endian 64-bit words from `bytes`, keeps the low 61 bits of
// each and accepts it when < p (so accepted words are uniform in [0, p)). Writes at most `max_out`
// accepted values to `out` and returns how many were written. Deterministic in its input.
std::size_t sample_field_elements(const std::uint8_t* bytes, std::size_t len, std::uint64_t* out,
                                  std::size_t max_out);

// kAuto uses AVX2 when use_avx2(active_backend()) (secagg/cpu.hpp: the CPU has it and the backend
// is not forced to portable); kPortable always uses the plain C++ loop. Both give identical output.
enum class SplitImpl { kAuto, kPortable };

// Splits `secret` (kSecretBytes bytes) into `num_shares` shares with threshold `threshold`.
// coefficients: (threshold - 1) * kChunks values, each in [0, p); coefficients[(k-1)*kChunks + c] is
//   a_{c,k}, the coefficient of X^k of chunk c's polynomial.
// out: num_shares * kChunks values; out[(i-1)*kChunks + c] = f_c(i).
// Throws secagg::Error: kConfig unless 1 <= threshold <= num_shares <= kMaxShares, kRange if a
// coefficient is >= p. Does not allocate.
void split(const std::uint8_t* secret, std::uint32_t threshold, std::uint32_t num_shares,
           const std::uint64_t* coefficients, std::uint64_t* out, SplitImpl impl = SplitImpl::kAuto);

// Outcome of reconstructing one group of shares (values are stable: they cross the binding).
enum class Status : std::int32_t {
  kOk = 0,
  kTooFewShares = 1,     // fewer shares than the threshold
  kBadThreshold = 2,     // threshold 0 or > kMaxShares
  kBadIndex = 3,         // an index is 0 or > kMaxShares
  kDuplicateIndex = 4,   // two shares with the same index
  kValueOutOfRange = 5,  // a share value element >= p
  kInconsistent = 6,     // the m > t shares do not lie on one polynomial of degree < t
  kNotASecret = 7,       // a reconstructed chunk is >= 2^32: shares tampered or mixed
};

const char* status_message(Status s);

// One group of m shares of one secret: indices[0..m) and values[0..m), values[i] pointing to the
// kValueBytes bytes of share i (kChunks little-endian uint64 field elements).
struct GroupView {
  const std::uint32_t* indices;
  const std::uint8_t* const* values;
  std::size_t num_shares;
  std::uint32_t threshold;
};

// Batch reconstruction. Coefficients that depend only on (threshold, index set) cost O(t^2), plus
// O(m^2) when m > t (about 0.2 s for m = 10,000), and are computed once per distinct set (and kept in
// a small process-wide, thread-safe LRU cache of 64 sets across calls); after that a secret costs
// O(t * kChunks), plus O(m * kChunks * kCheckPoints) for the consistency check when m > t.
// check_points: kCheckPoints values in [0, p), fresh from the OS CSPRNG for every call.
// For every group writes kSecretBytes bytes to secrets_out + g * kSecretBytes (zeros unless kOk) and
// its status to status_out[g]. Never throws for bad share data; throws secagg::Error (kRange) only for
// a check point >= p. Thread-safe; does not touch Python state.
void combine_many(const GroupView* groups, std::size_t num_groups,
                  const std::array<std::uint64_t, kCheckPoints>& check_points,
                  std::uint8_t* secrets_out, Status* status_out);

}  // namespace secagg::shamir
