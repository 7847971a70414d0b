// The "bitsliced-avx2" AES-256-CTR backend: the constant-time bitsliced kernel of the portable
// backend on 256-bit AVX2 vectors (16 blocks per batch). Compiled with -mavx2 (see isa.cmake);
// only called when the CPU has AVX2. For x86-64 CPUs with AVX2 but without AES instructions.
#if defined(__x86_64__) || defined(__i386__)
#define SECAGG_BS_BYTES 32
#define SECAGG_BS_NAME ctr_bitsliced_avx2
#include "aes_bitsliced.hpp"
#else  // not x86: never selected (backend_available() is false); keeps the build portable.
#include "aes_impl.hpp"
namespace secagg {
namespace detail {
void ctr_bitsliced_avx2(const AesKey& key, Counter start, size_t nblocks, uint8_t* dst, CtrOp op) {
  ctr_portable(key, start, nblocks, dst, op);
}
}  // namespace detail
}  // namespace secagg
#endif
