// The portable AES-256-CTR backend: constant-time bitsliced AES on 128-bit compiler vectors
// (8 blocks per batch). Built with the baseline instruction set only (SSE2 on x86-64, NEON on
// arm64; plain scalar code elsewhere), so it runs on every CPU the library builds for.
#define SECAGG_BS_BYTES 16
#define SECAGG_BS_NAME ctr_portable
#include "aes_bitsliced.hpp"
