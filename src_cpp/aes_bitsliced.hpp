// Internal: constant-time bitsliced AES-256-CTR on generic compiler vectors (GCC/Clang vector
// extensions), included by exactly one translation unit per vector width: define
// SECAGG_BS_BYTES (16 or 32) and SECAGG_BS_NAME (the kernel's function name) before including.
//
// Layout (Kaesper-Schwabe style): each 128-bit lane holds 8 blocks as 8 bit-planes; plane j, byte
// k (the AES state byte k = 4 * column + row) has in bit i the bit j of state byte k of block i.
// SubBytes is the Boyar-Peralta circuit on the planes (AND/XOR/NOT only), ShiftRows is folded into
// the round keys and MixColumns (fixslicing, see mix_columns_add_key), whose rotations are
// constant byte shuffles (pshufb/vpshufb on x86, tbl on arm64); the round keys are planes of
// 0x00/0xff bytes. No branch and no memory address depends on the key or the data, so the kernel
// is constant-time, whether the compiler emits vector code or (on targets without SIMD) scalar
// code for the vector operations.
#pragma once
#include <cstring>

#include "aes_impl.hpp"

#if !defined(SECAGG_BS_BYTES) || !defined(SECAGG_BS_NAME)
#error "define SECAGG_BS_BYTES and SECAGG_BS_NAME before including aes_bitsliced.hpp"
#endif

namespace secagg {
namespace detail {
namespace {

constexpr int kW = SECAGG_BS_BYTES;    // vector bytes
constexpr int kBatch = 8 * (kW / 16);  // blocks per batch: 8 per 128-bit lane
typedef uint8_t V __attribute__((vector_size(kW), aligned(kW)));
typedef uint64_t V64 __attribute__((vector_size(kW), aligned(kW)));
typedef uint32_t U4 __attribute__((vector_size(16), aligned(4)));
typedef uint64_t U2 __attribute__((vector_size(16), aligned(8)));

// A constant byte shuffle within every 128-bit lane.
#if SECAGG_BS_BYTES == 16
#define SECAGG_SHUF(v, a0, a1, a2, a3, a4, a5, a6, a7, a8, a9, a10, a11, a12, a13, a14, a15) \
  __builtin_shufflevector(v, v, a0, a1, a2, a3, a4, a5, a6, a7, a8, a9, a10, a11, a12, a13, a14, a15)
#else
#define SECAGG_SHUF(v, a0, a1, a2, a3, a4, a5, a6, a7, a8, a9, a10, a11, a12, a13, a14, a15) \
  __builtin_shufflevector(v, v, a0, a1, a2, a3, a4, a5, a6, a7, a8, a9, a10, a11, a12, a13,  \
                          a14, a15, a0 + 16, a1 + 16, a2 + 16, a3 + 16, a4 + 16, a5 + 16,     \
                          a6 + 16, a7 + 16, a8 + 16, a9 + 16, a10 + 16, a11 + 16, a12 + 16,   \
                          a13 + 16, a14 + 16, a15 + 16)
#endif

// State permutations. Byte k = 4c + r of a plane is row r of column c.
#if (defined(__x86_64__) || defined(__i386__)) && !defined(__SSSE3__)
// x86 baseline (SSE2) has no byte shuffle: a column is one little-endian 32-bit lane (row r in bits
// 8r..8r+7), so a row rotation is a lane rotation and a column rotation is pshufd.
typedef uint32_t L __attribute__((vector_size(kW), aligned(kW)));
// new(r, c) = old(r + S, c + T), rows and columns mod 4.
template <int T, int S>
inline V rotate_state(V v) {
  L x = L(v);
  x = (x >> (8 * S)) | (x << (32 - 8 * S));
  if constexpr (T != 0) x = __builtin_shufflevector(x, x, T, (T + 1) & 3, (T + 2) & 3, (T + 3) & 3);
  return V(x);
}
// ShiftRows twice: new(r, c) = old(r, c + 2r).
inline V shift_rows2(V v) {
  const L x = L(v), even = {0x00ff00ffu, 0x00ff00ffu, 0x00ff00ffu, 0x00ff00ffu};
  return V((x & even) | (__builtin_shufflevector(x, x, 2, 3, 0, 1) & ~even));
}
#else
#define SECAGG_RS(k) (4 * ((((k) >> 2) + T) & 3) + ((((k) & 3) + S) & 3))
template <int T, int S>
inline V rotate_state(V v) {
  return SECAGG_SHUF(v, SECAGG_RS(0), SECAGG_RS(1), SECAGG_RS(2), SECAGG_RS(3), SECAGG_RS(4),
                     SECAGG_RS(5), SECAGG_RS(6), SECAGG_RS(7), SECAGG_RS(8), SECAGG_RS(9),
                     SECAGG_RS(10), SECAGG_RS(11), SECAGG_RS(12), SECAGG_RS(13), SECAGG_RS(14),
                     SECAGG_RS(15));
}
#undef SECAGG_RS
inline V shift_rows2(V v) { return SECAGG_SHUF(v, 0, 9, 2, 11, 4, 13, 6, 15, 8, 1, 10, 3, 12, 5, 14, 7); }
#endif

inline V splat(uint8_t b) {
  V v;
  for (int i = 0; i < kW; ++i) v[i] = b;
  return v;
}

// x' = low bits of x | low bits of y moved up; y' = high bits of x moved down | high bits of y.
template <int S>
inline void swapn(V& x, V& y, uint8_t lo_mask) {
  const V64 cl = V64(splat(lo_mask)), ch = ~cl;
  const V64 a = V64(x), b = V64(y);
  x = V((a & cl) | ((b & cl) << S));
  y = V(((a & ch) >> S) | (b & ch));
}

// 8x8 bit transpose in every byte position: q[i] = block i  <->  q[j] = bit-plane j. An involution.
inline void ortho(V* q) {
  swapn<1>(q[0], q[1], 0x55); swapn<1>(q[2], q[3], 0x55);
  swapn<1>(q[4], q[5], 0x55); swapn<1>(q[6], q[7], 0x55);
  swapn<2>(q[0], q[2], 0x33); swapn<2>(q[1], q[3], 0x33);
  swapn<2>(q[4], q[6], 0x33); swapn<2>(q[5], q[7], 0x33);
  swapn<4>(q[0], q[4], 0x0f); swapn<4>(q[1], q[5], 0x0f);
  swapn<4>(q[2], q[6], 0x0f); swapn<4>(q[3], q[7], 0x0f);
}

// The AES S-box on bit-planes q[0] (least significant) .. q[7]: the Boyar-Peralta circuit
// (J. Boyar, R. Peralta, "A depth-16 circuit for the AES S-box", 2011; 113 gates).
inline void sub_bytes(V* q) {
  const V x0 = q[7], x1 = q[6], x2 = q[5], x3 = q[4], x4 = q[3], x5 = q[2], x6 = q[1], x7 = q[0];
  // Top linear transformation.
  const V y14 = x3 ^ x5, y13 = x0 ^ x6, y9 = x0 ^ x3, y8 = x0 ^ x5, t0 = x1 ^ x2;
  const V y1 = t0 ^ x7, y4 = y1 ^ x3, y12 = y13 ^ y14, y2 = y1 ^ x0, y5 = y1 ^ x6;
  const V y3 = y5 ^ y8, t1 = x4 ^ y12, y15 = t1 ^ x5, y20 = t1 ^ x1, y6 = y15 ^ x7;
  const V y10 = y15 ^ t0, y11 = y20 ^ y9, y7 = x7 ^ y11, y17 = y10 ^ y11, y19 = y10 ^ y8;
  const V y16 = t0 ^ y11, y21 = y13 ^ y16, y18 = x0 ^ y16;
  // Non-linear section.
  const V t2 = y12 & y15, t3 = y3 & y6, t4 = t3 ^ t2, t5 = y4 & x7, t6 = t5 ^ t2;
  const V t7 = y13 & y16, t8 = y5 & y1, t9 = t8 ^ t7, t10 = y2 & y7, t11 = t10 ^ t7;
  const V t12 = y9 & y11, t13 = y14 & y17, t14 = t13 ^ t12, t15 = y8 & y10, t16 = t15 ^ t12;
  const V t17 = t4 ^ t14, t18 = t6 ^ t16, t19 = t9 ^ t14, t20 = t11 ^ t16;
  const V t21 = t17 ^ y20, t22 = t18 ^ y19, t23 = t19 ^ y21, t24 = t20 ^ y18;
  const V t25 = t21 ^ t22, t26 = t21 & t23, t27 = t24 ^ t26, t28 = t25 & t27, t29 = t28 ^ t22;
  const V t30 = t23 ^ t24, t31 = t22 ^ t26, t32 = t31 & t30, t33 = t32 ^ t24, t34 = t23 ^ t33;
  const V t35 = t27 ^ t33, t36 = t24 & t35, t37 = t36 ^ t34, t38 = t27 ^ t36, t39 = t29 & t38;
  const V t40 = t25 ^ t39, t41 = t40 ^ t37, t42 = t29 ^ t33, t43 = t29 ^ t40, t44 = t33 ^ t37;
  const V t45 = t42 ^ t41;
  const V z0 = t44 & y15, z1 = t37 & y6, z2 = t33 & x7, z3 = t43 & y16, z4 = t40 & y1;
  const V z5 = t29 & y7, z6 = t42 & y11, z7 = t45 & y17, z8 = t41 & y10, z9 = t44 & y12;
  const V z10 = t37 & y3, z11 = t33 & y4, z12 = t43 & y13, z13 = t40 & y5, z14 = t29 & y2;
  const V z15 = t42 & y9, z16 = t45 & y14, z17 = t41 & y8;
  // Bottom linear transformation.
  const V t46 = z15 ^ z16, t47 = z10 ^ z11, t48 = z5 ^ z13, t49 = z9 ^ z10, t50 = z2 ^ z12;
  const V t51 = z2 ^ z5, t52 = z7 ^ z8, t53 = z0 ^ z3, t54 = z6 ^ z7, t55 = z16 ^ z17;
  const V t56 = z12 ^ t48, t57 = t50 ^ t53, t58 = z4 ^ t46, t59 = z3 ^ t54, t60 = t46 ^ t57;
  const V t61 = z14 ^ t57, t62 = t52 ^ t58, t63 = t49 ^ t58, t64 = z4 ^ t59, t65 = t61 ^ t62;
  const V t66 = z1 ^ t63, t67 = t64 ^ t65;
  const V s3 = t53 ^ t66;
  q[7] = t59 ^ t63;
  q[6] = t64 ^ ~s3;
  q[5] = t55 ^ ~t67;
  q[4] = s3;
  q[3] = t51 ^ t66;
  q[2] = t47 ^ t65;
  q[1] = t56 ^ ~t62;
  q[0] = t48 ^ ~t60;
}

// ShiftRows is never applied ("fixslicing", Adomnicai and Peyrin 2020): after round i the planes
// hold X_i = SR^-i(S_i), S_i the true state, so round i+1 is S_{i+1} = MC(SR(SB(S_i))) ^ K becomes
// X_{i+1} = MC_t(SB(X_i)) ^ SR^-t(K), t = (i + 1) mod 4, where MC_t = SR^-t MC SR^t is MixColumns
// with its row rotation R (new(r, c) = old(r + 1, c)) replaced by R_t (new(r, c) = old(r + 1,
// c + t)): one shuffle instead of two. The round keys are stored permuted by SR^-t, and the output
// gets SR^14 = SR^2 once.
//
// MixColumns and AddRoundKey: out = 2b ^ R_t(a) ^ R_t^2(b) ^ rk with b = a ^ R_t(a); doubling in
// GF(2^8) is a renaming of planes plus XORs (0x1b = bits 0, 1, 3, 4).
template <int T>
inline void mix_columns_add_key(V* a, const V* rk) {
  V ra[8], b[8];
  for (int j = 0; j < 8; ++j) {
    ra[j] = rotate_state<T, 1>(a[j]);
    b[j] = a[j] ^ ra[j];
  }
  const V b7 = b[7];
  const V xb[8] = {b7, b[0] ^ b7, b[1], b[2] ^ b7, b[3] ^ b7, b[4], b[5], b[6]};
  for (int j = 0; j < 8; ++j) a[j] = xb[j] ^ ra[j] ^ rotate_state<(2 * T) & 3, 2>(b[j]) ^ rk[j];
}

template <int T>
inline void aes_round(V* q, const V* rk) {
  sub_bytes(q);
  mix_columns_add_key<T>(q, rk);
}

// Round keys as planes, round key i permuted by SR^-(i mod 4): byte k = 4c + row of plane j is 0xff
// iff bit j of byte (row, c - (i mod 4) * row) of round key i is set.
struct PlaneKey {
  V rk[15][8];
  explicit PlaneKey(const AesKey& key) {
    for (int i = 0; i < 15; ++i)
      for (int j = 0; j < 8; ++j)
        for (int k = 0; k < kW; ++k) {
          const int c = (k & 15) >> 2, row = k & 3;
          const int src = 4 * ((c - (i & 3) * row) & 3) + row;
          rk[i][j][k] = uint8_t(0 - ((key.rk[16 * i + src] >> j) & 1));
        }
  }
  ~PlaneKey() { secure_wipe(rk, sizeof rk); }
};

// Encrypts the kBatch counter blocks start.lo + 0 .. kBatch-1 into ks (16 * kBatch bytes).
inline void encrypt_batch(const PlaneKey& pk, uint64_t hi, uint64_t lo, uint8_t* ks) {
  alignas(kW) uint8_t in[8 * kW];
  for (int b = 0; b < kBatch; ++b) {
    uint8_t* blk = in + (b % 8) * kW + 16 * (b / 8);  // block 8h+i: register i, lane h
    const uint64_t c = lo + uint64_t(b);
    for (int i = 0; i < 8; ++i) {
      blk[i] = uint8_t(hi >> (56 - 8 * i));
      blk[8 + i] = uint8_t(c >> (56 - 8 * i));
    }
  }
  V q[8];
  std::memcpy(q, in, sizeof q);
  ortho(q);
  for (int j = 0; j < 8; ++j) q[j] ^= pk.rk[0][j];
  for (int r = 1; r < 13; r += 4) {
    aes_round<1>(q, pk.rk[r]);
    aes_round<2>(q, pk.rk[r + 1]);
    aes_round<3>(q, pk.rk[r + 2]);
    aes_round<0>(q, pk.rk[r + 3]);
  }
  aes_round<1>(q, pk.rk[13]);
  sub_bytes(q);
  for (int j = 0; j < 8; ++j) q[j] = shift_rows2(q[j] ^ pk.rk[14][j]);
  ortho(q);
  std::memcpy(in, q, sizeof q);
  for (int b = 0; b < kBatch; ++b) std::memcpy(ks + 16 * b, in + (b % 8) * kW + 16 * (b / 8), 16);
  secure_wipe(in, sizeof in);  // keystream and the planes' last state
}

inline void combine(uint8_t* d, const uint8_t* ks, CtrOp op) {
  if (op == CtrOp::kStore) {
    std::memcpy(d, ks, 16);
  } else if (op == CtrOp::kAdd32 || op == CtrOp::kSub32) {
    U4 a, k;
    std::memcpy(&a, d, 16);
    std::memcpy(&k, ks, 16);
    a = op == CtrOp::kAdd32 ? a + k : a - k;
    std::memcpy(d, &a, 16);
  } else {
    U2 a, k;
    std::memcpy(&a, d, 16);
    std::memcpy(&k, ks, 16);
    a = op == CtrOp::kAdd64 ? a + k : a - k;
    std::memcpy(d, &a, 16);
  }
}

}  // namespace

void SECAGG_BS_NAME(const AesKey& key, Counter start, size_t nblocks, uint8_t* dst, CtrOp op) {
  const PlaneKey pk(key);
  alignas(16) uint8_t ks[16 * kBatch];
  size_t done = 0;
  while (done < nblocks) {
    encrypt_batch(pk, start.hi, start.lo + done, ks);
    const size_t n = nblocks - done < size_t(kBatch) ? nblocks - done : size_t(kBatch);
    for (size_t b = 0; b < n; ++b) combine(dst + 16 * (done + b), ks + 16 * b, op);
    done += n;
  }
  secure_wipe(ks, sizeof ks);
}

#undef SECAGG_SHUF

}  // namespace detail
}  // namespace secagg
