// AES-256 in counter mode (FIPS-197, NIST SP 800-38A), with run-time backend selection.
//
// Backends (secagg/cpu.hpp chooses or forces one): "vaes" (VAES on 256-bit ymm registers, 16
// blocks in flight), "aesni" (AES-NI on xmm, 8 blocks), "armce" (ARMv8 Crypto Extensions, 8
// blocks), "bitsliced-avx2" and "portable" (bitsliced software AES on 256-bit AVX2 / 128-bit
// baseline vectors, 16 / 8 blocks per batch). All produce identical keystreams.
//
// Constant time: every backend. The hardware ones use the AES instructions; the two software ones
// are bitsliced (no table lookups, no secret-dependent branch or address); the key expansion,
// shared by all, computes the S-box arithmetically (x^254 in GF(2^8), branch-free).
#pragma once
#include <cstddef>
#include <cstdint>

#include "secagg/cpu.hpp"
#include "secagg/wipe.hpp"

namespace secagg {

// Expanded AES-256 key: 15 round keys of 16 bytes in FIPS-197 byte order (usable by AES-NI as is).
// An expanded AES-256 key schedule (secret: wiped when destroyed).
struct AesKey {
  alignas(32) uint8_t rk[15 * 16];
  ~AesKey() { secure_wipe(rk, sizeof rk); }
};

// FIPS-197 key expansion, in constant time (see above).
void aes256_expand_key(const uint8_t key[32], AesKey& out);

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

}  // namespace secagg
