#include "secagg/unmask.hpp"

#include <string>

#include "mask_pass.hpp"

namespace secagg {
namespace {

// Throws kRange naming the first element of v[0..n) (global index base + i) that is >= R.
template <class T>
[[noreturn]] void throw_out_of_range(const T* v, size_t n, size_t base, const Modulus& m,
                                     const char* what) {
  size_t i = 0;
  while (i < n && uint64_t(v[i]) <= m.minus_one) ++i;
  throw Error(ErrorCode::kRange, std::string(what) + " element " + std::to_string(base + i) +
                                     " is >= modulus_range; inputs must be reduced mod modulus_range");
}

template <class T>
inline bool any_out_of_range(const T* v, size_t n, const Modulus& m) {
  if (uint64_t(T(~T(0))) == m.minus_one) return false;
  const T lim = T(m.minus_one);
  bool bad = false;
  for (size_t i = 0; i < n; ++i) bad |= v[i] > lim;
  return bad;
}

template <class T>
struct CopySource {
  const T* src;
  const Modulus& m;
  void fill(size_t lo, size_t hi, T* dst) const {
    if (any_out_of_range(src + lo, hi - lo, m)) throw_out_of_range(src + lo, hi - lo, lo, m, "masked_sum");
    if (dst != src + lo) std::memmove(dst, src + lo, (hi - lo) * sizeof(T));
  }
};

}  // namespace

template <class T>
void sum_vectors(const T* const* vecs, size_t n, size_t d, const Modulus& m, T* out,
                 unsigned threads) {
  if (m.wide != (sizeof(T) == 8))
    throw Error(ErrorCode::kDType, "element type does not match modulus_range");
  if (n == 0) throw Error(ErrorCode::kShape, "sum of zero vectors: pass at least one vector");
  for (size_t j = 0; j < n; ++j)
    if (vecs[j] == nullptr && d > 0) throw Error(ErrorCode::kNullPointer, "a vector pointer is NULL");
  constexpr size_t B = detail::kBlockBytes / sizeof(T);
  const uint64_t r = m.minus_one + 1;  // only used when !pow2
  threads = resolve_threads(threads, n * d);
  parallel_for(d, threads, 64, [&](size_t lo, size_t hi) {
    for (size_t b = lo; b < hi; b += B) {
      const size_t len = std::min(hi, b + B) - b;
      T* acc = out + b;
      for (size_t j = 0; j < n; ++j) {
        const T* v = vecs[j] + b;
        if (any_out_of_range(v, len, m)) throw_out_of_range(v, len, b, m, ("vector " + std::to_string(j)).c_str());
        if (m.pow2) {
          if (j == 0) std::memcpy(acc, v, len * sizeof(T));
          else for (size_t i = 0; i < len; ++i) acc[i] = T(acc[i] + v[i]);
        } else {
          if (j == 0) std::memcpy(acc, v, len * sizeof(T));
          else for (size_t i = 0; i < len; ++i) acc[i] = T(detail::add_mod(acc[i], v[i], r));
        }
      }
      if (m.pow2) detail::reduce_pow2<T>(m, acc, len);
    }
  });
}

template <class T>
void unmask(const T* masked_sum, size_t d, const Modulus& m, const Seed* self_seeds,
            size_t num_self, const Seed* peer_seeds, const int* peer_signs, size_t num_peers,
            T* out, unsigned threads) {
  if ((num_self > 0 && self_seeds == nullptr) ||
      (num_peers > 0 && (peer_seeds == nullptr || peer_signs == nullptr)) ||
      (d > 0 && (masked_sum == nullptr || out == nullptr)))
    throw Error(ErrorCode::kNullPointer, "a required pointer is NULL");
  // Removing a mask = adding it with the opposite sign.
  auto keys = detail::make_keys(self_seeds ? self_seeds->data() : nullptr, num_self, -1,
                                peer_seeds ? peer_seeds->data() : nullptr, peer_signs, num_peers, -1);
  CopySource<T> src{masked_sum, m};
  detail::masked_pass<T>(m, active_backend(), keys, src, out, d,
                         resolve_threads(threads, d * (keys.size() + 1)));
}

template void sum_vectors<uint32_t>(const uint32_t* const*, size_t, size_t, const Modulus&, uint32_t*, unsigned);
template void sum_vectors<uint64_t>(const uint64_t* const*, size_t, size_t, const Modulus&, uint64_t*, unsigned);
template void unmask<uint32_t>(const uint32_t*, size_t, const Modulus&, const Seed*, size_t, const Seed*,
                               const int*, size_t, uint32_t*, unsigned);
template void unmask<uint64_t>(const uint64_t*, size_t, const Modulus&, const Seed*, size_t, const Seed*,
                               const int*, size_t, uint64_t*, unsigned);

}  // namespace secagg
