// Shamir secret sharing over GF(2^61 - 1); contract in include/secagg/shamir.hpp.
#include "secagg/shamir.hpp"

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <list>
#include <memory>
#include <mutex>
#include <numeric>
#include <string>
#include <unordered_map>
#include <utility>

#include "secagg/cpu.hpp"
#include "secagg/errors.hpp"
#include "shamir_kernels.hpp"

namespace secagg::shamir {
namespace {

using u64 = std::uint64_t;
using u128 = unsigned __int128;

// ---- GF(p) arithmetic, p = 2^61 - 1 (2^61 == 1 mod p) -------------------------------------------
inline u64 reduce128(u128 x) {  // any x < 2^128 -> [0, p)
  u64 s = (static_cast<u64>(x) & kPrime) + (static_cast<u64>(x >> 61) & kPrime) +
          static_cast<u64>(x >> 122);  // < 2^62 + 64
  return fold64(s);
}
inline u64 mul(u64 a, u64 b) { return reduce128(static_cast<u128>(a) * b); }
inline u64 sub(u64 a, u64 b) { return a >= b ? a - b : a + kPrime - b; }
u64 pow_mod(u64 base, u64 e) {
  u64 r = 1;
  while (e) {
    if (e & 1) r = mul(r, base);
    base = mul(base, base);
    e >>= 1;
  }
  return r;
}
inline u64 inverse(u64 a) { return pow_mod(a, kPrime - 2); }  // a != 0

// Replaces every (nonzero) element of v by its inverse with one exponentiation.
void batch_invert(std::vector<u64>& v) {
  if (v.empty()) return;
  std::vector<u64> prefix(v.size());
  u64 acc = 1;
  for (std::size_t i = 0; i < v.size(); ++i) {
    prefix[i] = acc;
    acc = mul(acc, v[i]);
  }
  u64 inv = inverse(acc);
  for (std::size_t i = v.size(); i-- > 0;) {
    u64 vi = v[i];
    v[i] = mul(inv, prefix[i]);
    inv = mul(inv, vi);
  }
}

inline u64 load_le64(const std::uint8_t* p) {
  u64 v;
  std::memcpy(&v, p, sizeof v);
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
  v = __builtin_bswap64(v);
#endif
  return v;
}
inline std::uint32_t load_le32(const std::uint8_t* p) {
  return static_cast<std::uint32_t>(p[0]) | static_cast<std::uint32_t>(p[1]) << 8 |
         static_cast<std::uint32_t>(p[2]) << 16 | static_cast<std::uint32_t>(p[3]) << 24;
}
inline void store_le32(std::uint8_t* p, std::uint32_t v) {
  for (int b = 0; b < 4; ++b) p[b] = static_cast<std::uint8_t>(v >> (8 * b));
}

// ---- coefficients that depend only on (threshold, sorted index set) -----------------------------
struct IndexSetCoeffs {
  std::vector<u64> lagrange;     // t values: Lagrange basis at 0 over the t smallest indices
  std::vector<u64> barycentric;  // m values when m > t: w_i = 1 / prod_{j != i}(x_i - x_j)
};

// out[i] = prod_{j < n, j != i} (xs[i] - xs[j]) mod p for strictly increasing xs in [1, 2^20]. O(n^2)
// but cheap per step: |xs[i] - xs[j]| < 2^20, so acc < 2^63 times it stays < 2^83 and one fold keeps
// acc < 2^61 + 2^22 (no full reduction inside the loop); the sign is (-1)^(number of j > i). Four
// independent chains at a time; the factor for j == i is the only zero one and becomes 1 branch-free.
void difference_products(const std::uint32_t* xs, std::size_t n, u64* out) {
  constexpr std::size_t kLanes = 4;
  auto step = [](u64 acc, std::uint32_t a, std::uint32_t b) {
    u64 f = a > b ? a - b : b - a;
    f += (f == 0);
    const u128 prod = static_cast<u128>(acc) * f;
    return (static_cast<u64>(prod) & kPrime) + static_cast<u64>(prod >> 61);
  };
  std::size_t i = 0;
  for (; i + kLanes <= n; i += kLanes) {
    u64 acc[kLanes] = {1, 1, 1, 1};
    for (std::size_t j = 0; j < n; ++j)
      for (std::size_t l = 0; l < kLanes; ++l) acc[l] = step(acc[l], xs[i + l], xs[j]);
    for (std::size_t l = 0; l < kLanes; ++l) out[i + l] = fold64(acc[l]);
  }
  for (; i < n; ++i) {
    u64 acc = 1;
    for (std::size_t j = 0; j < n; ++j) acc = step(acc, xs[i], xs[j]);
    out[i] = fold64(acc);
  }
  for (i = 0; i < n; ++i)
    if ((n - 1 - i) % 2 == 1) out[i] = sub(0, out[i]);
}

std::shared_ptr<const IndexSetCoeffs> compute_coeffs(const std::vector<std::uint32_t>& xs,
                                                     std::uint32_t t) {
  auto out = std::make_shared<IndexSetCoeffs>();
  const std::size_t m = xs.size();
  // lambda_i = prod_{j != i} x_j / (x_j - x_i) = (prod_j x_j) / (x_i * prod_{j != i} (x_j - x_i)),
  // and prod_{j != i} (x_j - x_i) = (-1)^(t-1) prod_{j != i} (x_i - x_j).
  std::vector<u64> den(t);
  difference_products(xs.data(), t, den.data());
  u64 num = 1;
  for (std::size_t i = 0; i < t; ++i) {
    num = mul(num, xs[i]);
    den[i] = mul(den[i], xs[i]);
    if ((t - 1) % 2 == 1) den[i] = sub(0, den[i]);
  }
  batch_invert(den);
  out->lagrange.resize(t);
  for (std::size_t i = 0; i < t; ++i) out->lagrange[i] = mul(num, den[i]);
  if (m > t) {
    std::vector<u64> w(m);
    difference_products(xs.data(), m, w.data());
    batch_invert(w);
    out->barycentric = std::move(w);
  }
  return out;
}

// Small process-wide LRU of IndexSetCoeffs, so repeated combine() calls on the same holder set do not
// redo the O(m^2) work. Entries are immutable once published.
class CoeffCache {
 public:
  std::shared_ptr<const IndexSetCoeffs> get(const std::string& key, const std::vector<std::uint32_t>& xs,
                                            std::uint32_t t) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      auto it = map_.find(key);
      if (it != map_.end()) {
        lru_.splice(lru_.begin(), lru_, it->second);
        return it->second->second;
      }
    }
    auto fresh = compute_coeffs(xs, t);  // outside the lock: other threads keep going
    std::lock_guard<std::mutex> lock(mu_);
    auto it = map_.find(key);
    if (it != map_.end()) return it->second->second;
    lru_.emplace_front(key, fresh);
    map_[key] = lru_.begin();
    if (lru_.size() > kCapacity) {
      map_.erase(lru_.back().first);
      lru_.pop_back();
    }
    return fresh;
  }

 private:
  static constexpr std::size_t kCapacity = 64;
  using Entry = std::pair<std::string, std::shared_ptr<const IndexSetCoeffs>>;
  std::mutex mu_;
  std::list<Entry> lru_;
  std::unordered_map<std::string, std::list<Entry>::iterator> map_;
};

CoeffCache& coeff_cache() {
  static CoeffCache cache;
  return cache;
}

// Per-call data for one index set: the cached coefficients plus the random parity-check vectors
// v_k[i] = w_i * R_k(x_i), R_k(X) = sum_{l < L} (rho_k X)^l, L = m - t.
struct Prepared {
  std::shared_ptr<const IndexSetCoeffs> coeffs;
  std::vector<u64> check;  // kCheckPoints * m, empty when m == t
};

Prepared prepare(const std::string& key, const std::vector<std::uint32_t>& xs, std::uint32_t t,
                 const std::array<u64, kCheckPoints>& rho) {
  Prepared p;
  p.coeffs = coeff_cache().get(key, xs, t);
  const std::size_t m = xs.size();
  if (m == t) return p;
  const u64 L = m - t;
  std::vector<u64> numer(kCheckPoints * m), denom(kCheckPoints * m);
  for (std::size_t k = 0; k < kCheckPoints; ++k) {
    for (std::size_t i = 0; i < m; ++i) {
      const u64 q = mul(rho[k], xs[i]);
      const std::size_t at = k * m + i;
      if (q == 1) {  // geometric series degenerates to L terms equal to 1
        numer[at] = L % kPrime;
        denom[at] = 1;
      } else {
        numer[at] = sub(pow_mod(q, L), 1);
        denom[at] = sub(q, 1);
      }
    }
  }
  batch_invert(denom);
  p.check.resize(kCheckPoints * m);
  const auto& w = p.coeffs->barycentric;
  for (std::size_t k = 0; k < kCheckPoints; ++k)
    for (std::size_t i = 0; i < m; ++i)
      p.check[k * m + i] = mul(w[i], mul(numer[k * m + i], denom[k * m + i]));
  return p;
}

// sum_i coef[i] * y[i] mod p, with 128-bit lazy accumulation (each product < 2^122, so 32 of them
// fit before a reduction).
inline u64 dot(const u64* coef, const u64* y, std::size_t n) {
  u64 total = 0;
  for (std::size_t base = 0; base < n; base += 32) {
    const std::size_t end = std::min(n, base + 32);
    u128 acc = total;
    for (std::size_t i = base; i < end; ++i) acc += static_cast<u128>(coef[i]) * y[i];
    total = reduce128(acc);
  }
  return total;
}

// True when sum_i check[k * n + i] * y[i] == 0 mod p for every k < kCheckPoints (one pass over y).
inline bool passes_checks(const u64* check, const u64* y, std::size_t n) {
  static_assert(kCheckPoints == 3, "one accumulator per check point");
  const u64 *c0 = check, *c1 = check + n, *c2 = check + 2 * n;
  u64 t0 = 0, t1 = 0, t2 = 0;
  for (std::size_t base = 0; base < n; base += 32) {
    const std::size_t end = std::min(n, base + 32);
    u128 a0 = t0, a1 = t1, a2 = t2;
    for (std::size_t i = base; i < end; ++i) {
      const u64 yi = y[i];
      a0 += static_cast<u128>(c0[i]) * yi;
      a1 += static_cast<u128>(c1[i]) * yi;
      a2 += static_cast<u128>(c2[i]) * yi;
    }
    t0 = reduce128(a0);
    t1 = reduce128(a1);
    t2 = reduce128(a2);
  }
  return (t0 | t1 | t2) == 0;
}

Status combine_one(const GroupView& g, const std::array<u64, kCheckPoints>& rho,
                   std::unordered_map<std::string, Prepared>& local, std::vector<std::uint32_t>& order,
                   std::vector<std::uint32_t>& xs, std::vector<u64>& ys, std::uint8_t* secret_out) {
  const std::size_t m = g.num_shares;
  const std::uint32_t t = g.threshold;
  if (t == 0 || t > kMaxShares) return Status::kBadThreshold;
  for (std::size_t i = 0; i < m; ++i)
    if (g.indices[i] == 0 || g.indices[i] > kMaxShares) return Status::kBadIndex;
  order.resize(m);
  std::iota(order.begin(), order.end(), 0u);
  std::sort(order.begin(), order.end(),
            [&](std::uint32_t a, std::uint32_t b) { return g.indices[a] < g.indices[b]; });
  xs.resize(m);
  for (std::size_t i = 0; i < m; ++i) xs[i] = g.indices[order[i]];
  for (std::size_t i = 1; i < m; ++i)
    if (xs[i] == xs[i - 1]) return Status::kDuplicateIndex;
  if (m < t) return Status::kTooFewShares;
  ys.resize(m * kChunks);
  for (std::size_t i = 0; i < m; ++i) {
    const std::uint8_t* src = g.values[order[i]];
    for (std::size_t c = 0; c < kChunks; ++c) {
      const u64 v = load_le64(src + 8 * c);
      if (v >= kPrime) return Status::kValueOutOfRange;
      ys[c * m + i] = v;  // chunk-major: the dot products below run over contiguous memory
    }
  }

  std::string key(sizeof(std::uint32_t) * (m + 1), '\0');
  std::memcpy(&key[0], &t, sizeof t);
  std::memcpy(&key[sizeof t], xs.data(), sizeof(std::uint32_t) * m);
  auto it = local.find(key);
  if (it == local.end()) it = local.emplace(key, prepare(key, xs, t, rho)).first;
  const Prepared& p = it->second;

  std::uint32_t chunks[kChunks];
  bool not_a_secret = false;
  for (std::size_t c = 0; c < kChunks; ++c) {
    const u64* yc = ys.data() + c * m;
    if (!p.check.empty() && !passes_checks(p.check.data(), yc, m)) return Status::kInconsistent;
    const u64 s = dot(p.coeffs->lagrange.data(), yc, t);
    if (s >> 32) not_a_secret = true;
    chunks[c] = static_cast<std::uint32_t>(s);
  }
  if (not_a_secret) return Status::kNotASecret;
  for (std::size_t c = 0; c < kChunks; ++c) store_le32(secret_out + 4 * c, chunks[c]);
  return Status::kOk;
}

}  // namespace

std::size_t sample_field_elements(const std::uint8_t* bytes, std::size_t len, std::uint64_t* out,
                                  std::size_t max_out) {
  std::size_t n = 0;
  for (std::size_t off = 0; off + 8 <= len && n < max_out; off += 8) {
    const u64 v = load_le64(bytes + off) & kPrime;  // low 61 bits: uniform in [0, 2^61)
    if (v < kPrime) out[n++] = v;                  // reject the single value p
  }
  return n;
}

namespace {

void check_split_args(std::uint32_t threshold, std::uint32_t num_shares, const u64* coefficients) {
  if (threshold < 1 || threshold > num_shares || num_shares > kMaxShares)
    throw Error(ErrorCode::kConfig, "shamir::split: need 1 <= threshold <= num_shares <= 2^20");
  const std::size_t ncoef = static_cast<std::size_t>(threshold - 1) * kChunks;
  for (std::size_t i = 0; i < ncoef; ++i)
    if (coefficients[i] >= kPrime) throw Error(ErrorCode::kRange, "shamir::split: coefficient >= p");
}

// Horner at x = 1..n, lazy reduction: x <= 2^20 and acc < 2^63 keep acc * x < 2^83, and
// (low 61 bits) + (high part) + coefficient stays < 2^63.
void split_scalar(const u64* s, std::uint32_t threshold, std::uint32_t num_shares, const u64* coefficients,
                  u64* out) {
  const u64* top = coefficients + (threshold >= 2 ? (threshold - 2) * kChunks : 0);
  for (std::uint32_t x = 1; x <= num_shares; ++x) {
    u64 acc[kChunks];
    for (std::size_t c = 0; c < kChunks; ++c) acc[c] = threshold >= 2 ? top[c] : s[c];
    for (std::size_t k = threshold - 1; k-- > 0;) {
      const u64* row = k == 0 ? s : coefficients + (k - 1) * kChunks;
      for (std::size_t c = 0; c < kChunks; ++c) {
        const u128 prod = static_cast<u128>(acc[c]) * x;
        acc[c] = (static_cast<u64>(prod) & kPrime) + static_cast<u64>(prod >> 61) + row[c];
      }
    }
    u64* dst = out + static_cast<std::size_t>(x - 1) * kChunks;
    for (std::size_t c = 0; c < kChunks; ++c) dst[c] = fold64(acc[c]);
  }
}


}  // namespace

void split(const std::uint8_t* secret, std::uint32_t threshold, std::uint32_t num_shares,
           const std::uint64_t* coefficients, std::uint64_t* out, SplitImpl impl) {
  check_split_args(threshold, num_shares, coefficients);
  u64 s[kChunks];
  for (std::size_t c = 0; c < kChunks; ++c) s[c] = load_le32(secret + 4 * c);
  if (impl == SplitImpl::kAuto && use_avx2(active_backend()))
    return split_avx2(s, threshold, num_shares, coefficients, out);
  split_scalar(s, threshold, num_shares, coefficients, out);
}

const char* status_message(Status s) {
  switch (s) {
    case Status::kOk: return "ok";
    case Status::kTooFewShares: return "fewer shares than the threshold";
    case Status::kBadThreshold: return "threshold must be in 1..2^20";
    case Status::kBadIndex: return "share index must be in 1..2^20 (0 is never a share)";
    case Status::kDuplicateIndex: return "two shares have the same index";
    case Status::kValueOutOfRange: return "a share value element is not below p = 2^61 - 1";
    case Status::kInconsistent:
      return "shares are inconsistent (not on one polynomial of degree < threshold): tampered or mixed";
    case Status::kNotASecret:
      return "shares do not encode a 32-byte secret: tampered or mixed shares";
  }
  return "unknown status";
}

void combine_many(const GroupView* groups, std::size_t num_groups,
                  const std::array<std::uint64_t, kCheckPoints>& check_points,
                  std::uint8_t* secrets_out, Status* status_out) {
  for (u64 r : check_points)
    if (r >= kPrime) throw Error(ErrorCode::kRange, "shamir::combine_many: check point >= p");
  std::unordered_map<std::string, Prepared> local;
  std::vector<std::uint32_t> order, xs;
  std::vector<u64> ys;
  for (std::size_t g = 0; g < num_groups; ++g) {
    std::uint8_t* dst = secrets_out + g * kSecretBytes;
    std::memset(dst, 0, kSecretBytes);
    status_out[g] = combine_one(groups[g], check_points, local, order, xs, ys, dst);
  }
}

}  // namespace secagg::shamir
