// Internal: the per-backend CTR kernels. Precondition for all: start.lo + nblocks does not wrap
// past 2^64 (ctr_process splits calls at the wrap), so only the low 64 bits are incremented.
#pragma once
#include "secagg/aes.hpp"

namespace secagg {
namespace detail {

void ctr_portable(const AesKey& key, Counter start, size_t nblocks, uint8_t* dst, CtrOp op);
void ctr_aesni(const AesKey& key, Counter start, size_t nblocks, uint8_t* dst, CtrOp op);
void ctr_vaes(const AesKey& key, Counter start, size_t nblocks, uint8_t* dst, CtrOp op);
void ctr_bitsliced_avx2(const AesKey& key, Counter start, size_t nblocks, uint8_t* dst, CtrOp op);
void ctr_armce(const AesKey& key, Counter start, size_t nblocks, uint8_t* dst, CtrOp op);

}  // namespace detail
}  // namespace secagg
