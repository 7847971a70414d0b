/* secagg C ABI: the client-side kernels for non-Python clients (e.g. a phone app).
 *
 * Plain C, no exceptions cross it: every function returns 0 (SECAGG_OK) or a SECAGG_ERR_* code;
 * secagg_strerror() names a code. Results are bit-identical to the Python package (secagg.prg_expand,
 * secagg.quantize_and_mask) for the same inputs; see secagg/prg.hpp and secagg/quantize_mask.hpp
 * for the exact PRG and quantization specification.
 *
 * Conventions:
 *  - seeds are 32 bytes; several seeds are passed as one array of 32 * count bytes;
 *  - modulus_range R: a power of two in [2, 2^64] or another integer in [3, 2^62]; the value 0
 *    stands for 2^64. Vectors hold uint32_t when R <= 2^32, else uint64_t;
 *  - threads: 0 = automatic (all cores for large inputs), otherwise the number of threads.
 *  - output buffers are written only on success (on error their content is unspecified).
 *
 * Constant time: every AES backend is constant-time with respect to seeds and keys -- the hardware
 * ones ("vaes", "aesni", "armce") use the AES instructions, the software ones ("bitsliced-avx2",
 * "portable") are bitsliced (no table lookups, no secret-dependent branches or addresses), and the
 * key expansion computes the S-box arithmetically; SHA-256/HMAC/HKDF use no secret-indexed
 * memory or secret-dependent branches. Not claimed constant-time: quantization (it rejects NaN or
 * infinity in the update, and its large-range path is not audited), and the rejection sampling of a
 * non-power-of-two modulus_range (it consumes a data-dependent number of PRG words; that number is
 * independent of the accepted values).
 */
#ifndef SECAGG_SECAGG_H
#define SECAGG_SECAGG_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define SECAGG_OK 0
#define SECAGG_ERR_NULL_POINTER 1 /* a required pointer is NULL */
#define SECAGG_ERR_SEED 2         /* a sign is not +1 or -1 */
#define SECAGG_ERR_MODULUS 3      /* modulus_range out of range or < quantization_range */
#define SECAGG_ERR_CONFIG 4       /* clipping_range / quantization_range out of range */
#define SECAGG_ERR_NON_FINITE 5   /* NaN or infinity in the update */
#define SECAGG_ERR_DTYPE 6        /* output word size does not match modulus_range */
#define SECAGG_ERR_SHAPE 7        /* inconsistent lengths */
#define SECAGG_ERR_RANGE 8        /* an input element is >= modulus_range */
#define SECAGG_ERR_INTERNAL 9     /* unexpected failure (allocation, threads) */

/* Library version, e.g. "0.1.0". */
const char* secagg_version(void);

/* A static, human-readable description of an error code. */
const char* secagg_strerror(int code);

/* Name of the AES backend in use: "vaes", "aesni", "armce", "bitsliced-avx2" or "portable"
 * (SECAGG_FORCE_PORTABLE=1 in the environment, read at every call, forces "portable" for every
 * kernel; this library keeps its own backend state, so the Python module's set_backend() does not
 * affect it). */
const char* secagg_prg_backend(void);

/* out[0..length) = PRG(seed) mod modulus_range. The _u32 variant needs modulus_range <= 2^32
 * (and != 0), the _u64 variant modulus_range > 2^32 (or 0 for 2^64). */
int secagg_prg_expand_u32(const uint8_t seed[32], uint64_t modulus_range, uint32_t* out,
                          size_t length, unsigned threads);
int secagg_prg_expand_u64(const uint8_t seed[32], uint64_t modulus_range, uint64_t* out,
                          size_t length, unsigned threads);

/* The fused client kernel:
 *   out[i] = (quantize(update[i]) + PRG(self_seed)[i] + sum_j peer_signs[j] * PRG(peer_seeds_j)[i])
 *            mod modulus_range
 * quantize(): clip to +-clipping_range, scale to [0, quantization_range - 1], round stochastically
 * with PRG(rounding_seed) (draw rounding_seed from the OS CSPRNG, a fresh one per call).
 * update_f32 / update_f64: exactly one of them is non-NULL (float or double input).
 * self_seed may be NULL (no self mask). peer_seeds: 32 * num_peers bytes; peer_signs: +1 or -1.
 * Exactly one of out_u32 / out_u64 is non-NULL: out_u32 when modulus_range <= 2^32.
 */
int secagg_quantize_and_mask(const float* update_f32, const double* update_f64, size_t length,
                             double clipping_range, uint64_t quantization_range,
                             uint64_t modulus_range, const uint8_t* self_seed,
                             const uint8_t* peer_seeds, const int8_t* peer_signs, size_t num_peers,
                             const uint8_t rounding_seed[32], uint32_t* out_u32, uint64_t* out_u64,
                             unsigned threads);

#ifdef __cplusplus
}
#endif
#endif /* SECAGG_SECAGG_H */
