// Internal: the one cache-blocked pass shared by prg_expand, quantize_and_mask and unmask.
//
// For each block of kBlockBytes of output (L1-sized), a Source writes the starting values
// (quantized update, a copy of the masked sum, or zeros), then the keystream of every seed for that
// block is generated and added/subtracted straight into it (in registers for the power-of-two
// case), then the block is reduced mod R. Power-of-two moduli split the element range over threads
// (the PRG is seekable); other moduli use rejection sampling, which is sequential per seed, so
// threads take disjoint sets of seeds and their partial sums are added mod R at the end. Either way
// the result is bit-identical to the single-threaded one.
#pragma once
#include <algorithm>
#include <cstring>
#include <functional>
#include <vector>

#include "field_kernels.hpp"
#include "secagg/aes.hpp"
#include "secagg/errors.hpp"
#include "secagg/modulus.hpp"
#include "secagg/parallel.hpp"

namespace secagg {
namespace detail {

constexpr size_t kBlockBytes = 16384;

struct SignedKey {
  AesKey key;
  int sign;  // +1 adds the mask, -1 subtracts it
};

// ---- power-of-two moduli: seekable keystream ------------------------------------------------

// out[0 .. hi-lo) holds elements lo..hi-1; lo must be a multiple of 16 / sizeof(T).
template <class T>
void add_masks_pow2(Backend be, const SignedKey* keys, size_t nkeys, size_t lo, size_t hi, T* out) {
  constexpr size_t per = 16 / sizeof(T);
  constexpr CtrOp add = sizeof(T) == 4 ? CtrOp::kAdd32 : CtrOp::kAdd64;
  constexpr CtrOp sub = sizeof(T) == 4 ? CtrOp::kSub32 : CtrOp::kSub64;
  const size_t n = hi - lo, full = n / per, rem = n % per;
  for (size_t k = 0; k < nkeys; ++k) {
    const SignedKey& sk = keys[k];
    ctr_process(be, sk.key, Counter{0, lo / per}, full, reinterpret_cast<uint8_t*>(out),
                sk.sign > 0 ? add : sub);
    if (rem) {
      T tmp[per];
      ctr_process(be, sk.key, Counter{0, lo / per + full}, 1, reinterpret_cast<uint8_t*>(tmp),
                  CtrOp::kStore);
      for (size_t r = 0; r < rem; ++r)
        out[full * per + r] = sk.sign > 0 ? T(out[full * per + r] + tmp[r])
                                          : T(out[full * per + r] - tmp[r]);
    }
  }
}

template <class T>
inline void reduce_pow2(const Modulus& m, T* out, size_t n) {
  const T mask = T(m.minus_one);
  if (mask == T(~T(0))) return;
  for (size_t i = 0; i < n; ++i) out[i] &= mask;
}

// ---- other moduli: rejection sampling -------------------------------------------------------

// The accepted values of one seed's PRG, in order.
class RejectionStream {
 public:
  RejectionStream(Backend be, const AesKey* key, const Modulus& m, bool simd)
      : be_(be), key_(key), r_(m.minus_one + 1), mask_(m.reject_mask), simd_(simd) {}

  void take(uint64_t* dst, size_t n) {
    while (n > 0) {
      if (pos_ == len_) refill();
      size_t k = std::min(n, len_ - pos_);
      std::memcpy(dst, buf_ + pos_, k * sizeof(uint64_t));
      pos_ += k; dst += k; n -= k;
    }
  }

 private:
  static constexpr size_t kWords = 512;
  void refill() {
    ctr_process(be_, *key_, Counter{0, next_block_}, kWords / 2, reinterpret_cast<uint8_t*>(buf_),
                CtrOp::kStore);
    next_block_ += kWords / 2;
    size_t j = 0;
    if (simd_) {
      j = reject_filter_avx2(buf_, kWords, mask_, r_);
    } else {
      for (size_t i = 0; i < kWords; ++i) {
        uint64_t v = buf_[i] & mask_;
        buf_[j] = v;
        j += v < r_;
      }
    }
    pos_ = 0;
    len_ = j;
  }

  Backend be_;
  const AesKey* key_;
  uint64_t r_, mask_;
  bool simd_;
  uint64_t next_block_ = 0;
  size_t pos_ = 0, len_ = 0;
  uint64_t buf_[kWords];
};

// Branch-free modular add/subtract of values < r < 2^62 (a data-dependent branch here would
// mispredict half the time).
inline uint64_t add_mod(uint64_t a, uint64_t b, uint64_t r) {
  uint64_t s = a + b;
  return s - (r & (0 - uint64_t(s >= r)));
}

inline uint64_t sub_mod(uint64_t a, uint64_t b, uint64_t r) {
  uint64_t s = a - b;
  return s + (r & (0 - uint64_t(a < b)));
}

template <class T>
inline void mod_add(T* acc, const uint64_t* v, size_t n, uint64_t r) {
  for (size_t i = 0; i < n; ++i) acc[i] = T(add_mod(acc[i], v[i], r));
}

template <class T>
inline void mod_sub(T* acc, const uint64_t* v, size_t n, uint64_t r) {
  for (size_t i = 0; i < n; ++i) acc[i] = T(sub_mod(acc[i], v[i], r));
}

template <class T>
void masks_general_blocked(Backend be, const Modulus& m, const SignedKey* keys, size_t nkeys,
                           size_t d, T* acc, bool fill, const std::function<void(size_t, size_t, T*)>& fill_fn) {
  constexpr size_t B = kBlockBytes / sizeof(T);
  const uint64_t r = m.minus_one + 1;
  // "portable" means no ISA extensions at all, so it also selects the scalar loops.
  const bool simd = use_avx2(be);
  std::vector<RejectionStream> streams;
  streams.reserve(nkeys);
  for (size_t k = 0; k < nkeys; ++k) streams.emplace_back(be, &keys[k].key, m, simd);
  std::vector<uint64_t> tmp(B);
  for (size_t b = 0; b < d; b += B) {
    size_t e = std::min(d, b + B);
    if (fill) fill_fn(b, e, acc + b);
    for (size_t k = 0; k < nkeys; ++k) {
      streams[k].take(tmp.data(), e - b);
      if (simd) {
        if (keys[k].sign > 0) mod_add_avx2<T>(acc + b, tmp.data(), e - b, r);
        else mod_sub_avx2<T>(acc + b, tmp.data(), e - b, r);
      } else {
        if (keys[k].sign > 0) mod_add(acc + b, tmp.data(), e - b, r);
        else mod_sub(acc + b, tmp.data(), e - b, r);
      }
    }
  }
}

// ---- the pass --------------------------------------------------------------------------------

// Source: void fill(size_t lo, size_t hi, T* dst) writes elements lo..hi-1 (each < R) to dst;
// lo is always a multiple of 64. It may throw secagg::Error; it must be callable concurrently on
// disjoint ranges.
template <class T, class Source>
void masked_pass(const Modulus& m, Backend be, const std::vector<SignedKey>& keys, Source& src,
                 T* out, size_t d, unsigned threads) {
  static_assert(sizeof(T) == 4 || sizeof(T) == 8, "elements are uint32 or uint64");
  if (m.wide != (sizeof(T) == 8))
    throw Error(ErrorCode::kDType, "output element type does not match modulus_range");
  constexpr size_t B = kBlockBytes / sizeof(T);
  if (m.pow2) {
    parallel_for(d, threads, 64, [&](size_t lo, size_t hi) {
      for (size_t b = lo; b < hi; b += B) {
        size_t e = std::min(hi, b + B);
        src.fill(b, e, out + b);
        add_masks_pow2<T>(be, keys.data(), keys.size(), b, e, out + b);
        reduce_pow2<T>(m, out + b, e - b);
      }
    });
    return;
  }
  auto fill_fn = [&src](size_t lo, size_t hi, T* dst) { src.fill(lo, hi, dst); };
  size_t groups = std::max<size_t>(1, std::min<size_t>(threads, keys.size()));
  if (groups == 1) {
    masks_general_blocked<T>(be, m, keys.data(), keys.size(), d, out, true, fill_fn);
    return;
  }
  // Thread g masks seeds [g*K/G, (g+1)*K/G); group 0 also fills `out`, the others start from 0.
  std::vector<std::vector<T>> partial(groups - 1);
  parallel_for(groups, static_cast<unsigned>(groups), 1, [&](size_t g0, size_t g1) {
    for (size_t g = g0; g < g1; ++g) {
      size_t k0 = g * keys.size() / groups, k1 = (g + 1) * keys.size() / groups;
      T* acc = out;
      if (g > 0) {
        partial[g - 1].assign(d, T(0));
        acc = partial[g - 1].data();
      }
      masks_general_blocked<T>(be, m, keys.data() + k0, k1 - k0, d, acc, g == 0, fill_fn);
    }
  });
  const uint64_t r = m.minus_one + 1;
  parallel_for(d, threads, 64, [&](size_t lo, size_t hi) {
    for (size_t i = lo; i < hi; ++i) {
      uint64_t s = out[i];
      for (const auto& p : partial) s = add_mod(s, p[i], r);
      out[i] = T(s);
    }
  });
}

template <class T>
struct ZeroSource {
  void fill(size_t lo, size_t hi, T* dst) const { std::memset(dst, 0, (hi - lo) * sizeof(T)); }
};

std::vector<SignedKey> make_keys(const uint8_t* self_seeds, size_t num_self, int self_sign,
                                 const uint8_t* peer_seeds, const int* peer_signs, size_t num_peers,
                                 int peer_factor);

}  // namespace detail
}  // namespace secagg
