// AES-256 in counter mode (FIPS-197, NIST SP 800-38A), with run-time backend selection.
//
// Backends: "vaes" (VAES on 256-bit ymm registers, 16 blocks in flight), "aesni" (AES-NI on xmm,
// 8 blocks in flight) and "portable" (table-based C++; NOT constant-time, only a fallback for CPUs
// without AES instructions). All produce identical keystreams. Selection, in priority order:
//   1. set_backend_override(...) (Python: secagg._core.set_backend("portable"|"aesni"|"vaes"|"auto")),
//   2. the environment variable SECAGG_FORCE_PORTABLE=1, read at every call,
//   3. the fastest backend the CPU supports.
#pragma once
#include <cstddef>
#include <cstdint>

#include "secagg/wipe.hpp"

namespace secagg {

// Expanded AES-256 key: 15 round keys of 16 bytes in FIPS-197 byte order (usable by AES-NI as is).
// An expanded AES-256 key schedule (secret: wiped when destroyed).
struct AesKey {
  alignas(32) uint8_t rk[15 * 16];
  ~AesKey() { secure_wipe(rk, sizeof rk); }
};

void aes256_expand_key(const uint8_t key[32], AesKey& out);
void aes256_encrypt_block_portable(const AesKey& key, const uint8_t in[16], uint8_t out[16]);

enum class Backend : int { kPortable = 0, kAesni = 1, kVaes = 2 };

// What to do with each keystream block: store it, or add/subtract it (as little-endian 32- or
// 64-bit lanes, wrapping) into the destination.
enum class CtrOp : int { kStore, kAdd32, kSub32, kAdd64, kSub64 };

// A counter block read as a 128-bit big-endian integer hi * 2^64 + lo.
struct Counter {
  uint64_t hi;
  uint64_t lo;
};

// Encrypts the counter blocks start, start+1, ..., start+nblocks-1 (mod 2^128) and combines the
// keystream into dst (nblocks * 16 bytes, any alignment) according to op.
void ctr_process(Backend backend, const AesKey& key, Counter start, size_t nblocks, uint8_t* dst,
                 CtrOp op);

bool backend_available(Backend backend);
Backend best_backend();
// The backend calls use now (see the selection order above).
Backend active_backend();
const char* backend_name(Backend backend);
// -1: automatic; otherwise a Backend value (must be available).
void set_backend_override(int backend);

}  // namespace secagg
