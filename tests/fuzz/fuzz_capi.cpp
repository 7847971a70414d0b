// libFuzzer target: the C ABI entry points (secagg.h) with arbitrary arguments.
// Input layout (short inputs are zero-padded): op byte, 8-byte modulus, 8-byte quantization range,
// 8-byte clipping range (a double), length byte, peer-count byte, flag byte (which pointers are
// NULL, float or double input, word size, threads), 32-byte seeds; the rest feeds the update and the
// peer signs. Checks: a return code in [0, 9]; on success every output element is < modulus_range,
// and prg_expand_u32 gives the same stream with one thread.
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "secagg/secagg.h"

namespace {

template <class T>
T read(const std::vector<uint8_t>& buf, size_t& pos) {
  T v;
  std::memcpy(&v, buf.data() + pos, sizeof v);
  pos += sizeof v;
  return v;
}

template <class T>
bool below(const std::vector<T>& v, uint64_t modulus) {
  if (modulus == 0) return true;  // 2^64
  for (T x : v)
    if (uint64_t(x) >= modulus) return false;
  return true;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::vector<uint8_t> buf(data, data + size);
  buf.resize(size + 160, 0);
  size_t pos = 0;
  const uint8_t op = read<uint8_t>(buf, pos) % 3;
  const uint64_t modulus = read<uint64_t>(buf, pos);
  const uint64_t qrange = read<uint64_t>(buf, pos);
  const double clip = read<double>(buf, pos);
  const size_t length = read<uint8_t>(buf, pos) * 17u % 1024;
  const size_t peers = read<uint8_t>(buf, pos) % 5;
  const uint8_t flags = read<uint8_t>(buf, pos);
  uint8_t seed[32], rounding[32];
  std::memcpy(seed, buf.data() + pos, 32);
  std::memcpy(rounding, buf.data() + pos + 16, 32);
  pos += 48;
  const unsigned threads = (flags >> 5) & 3;
  const bool wide = flags & 2;
  std::vector<uint32_t> o32(length);
  std::vector<uint64_t> o64(length);
  int rc;
  if (op < 2) {
    rc = op == 0 ? secagg_prg_expand_u32(flags & 1 ? nullptr : seed, modulus, o32.data(), length, threads)
                 : secagg_prg_expand_u64(flags & 1 ? nullptr : seed, modulus, o64.data(), length, threads);
  } else {
    const uint8_t* rest = data + (pos < size ? pos : size);
    const size_t rest_len = pos < size ? size - pos : 0;
    std::vector<float> f32(length);
    std::vector<double> f64(length);
    for (size_t i = 0; i < length && rest_len; ++i) {
      uint8_t raw[8] = {};
      for (int k = 0; k < 8; ++k) raw[k] = rest[(8 * i + k) % rest_len];
      std::memcpy(&f64[i], raw, 8);
      std::memcpy(&f32[i], raw, 4);
    }
    std::vector<uint8_t> peer_seeds(32 * peers);
    std::vector<int8_t> signs(peers);
    for (size_t j = 0; j < peers; ++j) {
      for (int k = 0; k < 32; ++k) peer_seeds[32 * j + k] = uint8_t(seed[k] + j);
      signs[j] = int8_t(rest_len ? rest[j % rest_len] % 3 - 1 : 1);  // -1, 0 (invalid) or +1
    }
    rc = secagg_quantize_and_mask(flags & 8 ? f32.data() : nullptr, flags & 16 ? f64.data() : nullptr, length,
                                  clip, qrange, modulus, flags & 1 ? nullptr : seed,
                                  peers ? peer_seeds.data() : nullptr, peers ? signs.data() : nullptr, peers,
                                  flags & 4 ? nullptr : rounding, wide ? nullptr : o32.data(),
                                  wide ? o64.data() : nullptr, threads);
  }
  if (rc < SECAGG_OK || rc > SECAGG_ERR_INTERNAL || secagg_strerror(rc) == nullptr) std::abort();
  if (rc == SECAGG_OK) {
    const bool out64 = op == 1 || (op == 2 && wide);
    if (out64 ? !below(o64, modulus) : !below(o32, modulus)) std::abort();
    if (op == 0) {  // the stream does not depend on the thread count
      std::vector<uint32_t> again(length);
      if (secagg_prg_expand_u32(seed, modulus, again.data(), length, 1) != SECAGG_OK || again != o32) std::abort();
    }
  }
  return 0;
}
