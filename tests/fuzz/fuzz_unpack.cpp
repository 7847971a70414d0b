// libFuzzer target: the bit-packing decoder (secagg::unpack_bits) on untrusted bytes.
// Input: byte 0 picks the bit width (1..64), the rest is the packed vector; d is the largest count
// whose packed size equals the rest (as the bindings require). Checks: every value < 2^bits, add=true
// adds the same values, and packing them again gives the input with its padding bits cleared.
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "secagg/packing.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  const unsigned bits = 1 + data[0] % 64;
  const uint8_t* in = data + 1;
  const size_t n = size - 1;
  const size_t d = n * 8 / bits;
  if (secagg::packed_size(d, bits) != n) return 0;  // the bindings refuse such lengths
  std::vector<uint64_t> out(d), acc(d, 1);
  secagg::unpack_bits(in, d, bits, out.data(), false);
  secagg::unpack_bits(in, d, bits, acc.data(), true);
  const uint64_t mask = bits == 64 ? ~0ULL : (1ULL << bits) - 1;
  for (size_t i = 0; i < d; ++i)
    if ((out[i] & ~mask) || acc[i] != out[i] + 1) std::abort();
  std::vector<uint8_t> again(n);
  secagg::pack_bits<uint64_t>(out.data(), d, bits, again.data());
  std::vector<uint8_t> want(in, in + n);
  const unsigned used = unsigned((d * bits) % 8);
  if (n && used) want[n - 1] &= uint8_t((1u << used) - 1);
  if (again != want) std::abort();
  return 0;
}
