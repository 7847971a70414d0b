// Scalar bit-packing kernels: a 64-bit accumulator flushed one little-endian word at a time.
// They run at ~1 ns per value, far below the PRG work that produced the vector.
#include "secagg/packing.hpp"

#include <string>

#include "secagg/errors.hpp"

namespace secagg {
namespace {

void check_bits(unsigned bits) {
  if (bits < 1 || bits > 64)
    throw Error(ErrorCode::kShape, "bit width must be in [1, 64], got " + std::to_string(bits));
}

// Little-endian store / load of the low `n` (<= 8) bytes of a word, independent of host order.
inline void store_le(uint8_t* p, uint64_t w, size_t n) {
  for (size_t k = 0; k < n; ++k) p[k] = static_cast<uint8_t>(w >> (8 * k));
}

inline uint64_t load_le(const uint8_t* p, size_t n) {
  uint64_t w = 0;
  for (size_t k = 0; k < n; ++k) w |= uint64_t(p[k]) << (8 * k);
  return w;
}

}  // namespace

template <class T>
void pack_bits(const T* in, size_t d, unsigned bits, uint8_t* out) {
  check_bits(bits);
  const size_t total = packed_size(d, bits);
  uint64_t seen = 0;  // OR of all values: one range check at the end
  uint64_t acc = 0;   // pending bits, the lowest first
  unsigned fill = 0;  // number of pending bits, < 64
  size_t pos = 0;     // bytes written
  for (size_t i = 0; i < d; ++i) {
    const uint64_t v = in[i];
    seen |= v;
    acc |= v << fill;  // fill < 64
    const unsigned end = fill + bits;
    if (end >= 64) {   // the word is full: flush it and keep v's remaining high bits
      store_le(out + pos, acc, 8);
      pos += 8;
      fill = end - 64;
      acc = fill ? v >> (bits - fill) : 0;
    } else {
      fill = end;
    }
  }
  if (pos < total) store_le(out + pos, acc, total - pos);
  if (bits < 64 && (seen >> bits))
    throw Error(ErrorCode::kRange, "a value does not fit in " + std::to_string(bits) +
                                       " bits; every value must be < 2**bits");
}

namespace {

template <bool kAdd>
void unpack_impl(const uint8_t* in, size_t d, unsigned bits, uint64_t* out) {
  const size_t total = packed_size(d, bits);
  const uint64_t mask = bits == 64 ? ~uint64_t(0) : (uint64_t(1) << bits) - 1;
  uint64_t cur = 0;   // unread bits, the lowest first; zero above `have`
  unsigned have = 0;  // number of unread bits in cur, < 64
  size_t pos = 0;     // bytes loaded
  for (size_t i = 0; i < d; ++i) {
    uint64_t v;
    if (have >= bits) {  // bits < 64 here
      v = cur & mask;
      cur >>= bits;
      have -= bits;
    } else {  // take the rest from the next word (the last one may be partial)
      const size_t n = total - pos < 8 ? total - pos : 8;
      const uint64_t w = n == 8 ? load_le(in + pos, 8) : load_le(in + pos, n);
      pos += n;
      v = (cur | (w << have)) & mask;  // have < 64
      const unsigned used = bits - have;  // 1..64 bits of w
      cur = used == 64 ? 0 : w >> used;
      have = 64 - used;
    }
    out[i] = kAdd ? out[i] + v : v;
  }
}

}  // namespace

void unpack_bits(const uint8_t* in, size_t d, unsigned bits, uint64_t* out, bool add) {
  check_bits(bits);
  if (add) unpack_impl<true>(in, d, bits, out);
  else unpack_impl<false>(in, d, bits, out);
}

template void pack_bits<uint32_t>(const uint32_t*, size_t, unsigned, uint8_t*);
template void pack_bits<uint64_t>(const uint64_t*, size_t, unsigned, uint8_t*);

}  // namespace secagg
