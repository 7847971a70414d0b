// Bit-packing of masked vectors at the modulus' bit width (the wire format of
// secagg/protocol/packing.py): value i occupies bits [i*b, (i+1)*b) of a little-endian bit stream
// of ceil(d*b/8) bytes; the unused high bits of the last byte are zero.
#pragma once
#include <cstddef>
#include <cstdint>

namespace secagg {

// Bytes used by d values of `bits` bits.
inline size_t packed_size(size_t d, unsigned bits) { return (d * bits + 7) / 8; }

// Packs in[0..d) into out[0..packed_size(d, bits)). Contract: 1 <= bits <= 64 (else Error
// kShape) and every in[i] < 2^bits (else Error kRange, out unspecified). T: uint32_t or uint64_t.
template <class T>
void pack_bits(const T* in, size_t d, unsigned bits, uint8_t* out);

// Unpacks d values from in[0..packed_size(d, bits)) (the caller checks the byte count and the
// padding bits) and writes them to out[0..d), or with add=true adds them into out modulo 2^64.
void unpack_bits(const uint8_t* in, size_t d, unsigned bits, uint64_t* out, bool add);

}  // namespace secagg
