// CPU features, detected once, and the one place a backend is chosen or forced.
//
// Every kernel of the core asks here which code path to run: the AES-CTR keystream (ctr_process)
// runs the active Backend; the SIMD kernels (quantization, general-modulus field arithmetic,
// Skellam noise, Shamir splitting) use AVX2 only when use_avx2(backend) says so. Forcing the
// portable backend -- SECAGG_FORCE_PORTABLE=1 in the environment or
// set_backend_override(Backend::kPortable) (Python: secagg._core.set_backend("portable")) --
// therefore switches EVERY kernel to its baseline-ISA code; outputs are bit-identical either way.
//
// Backend selection, in priority order: the override (if set), then SECAGG_FORCE_PORTABLE (read
// at every call), then the fastest backend the CPU supports.
#pragma once

namespace secagg {

struct CpuFeatures {
  bool aesni = false;  // x86: AES-NI + SSE4.1
  bool vaes = false;   // x86: VAES on ymm + AVX2 (OS saves ymm state)
  bool avx2 = false;   // x86: AVX2 (OS saves ymm state)
  bool arm_aes = false;  // arm64: ARMv8 Crypto Extensions (AESE/AESMC)
};

// Detected on first use (thread-safe), then constant.
const CpuFeatures& cpu_features();

// AES backends. Constant-time: all of them (hardware instructions, or bitsliced software).
enum class Backend : int {
  kPortable = 0,       // bitsliced AES on 128-bit compiler vectors, baseline ISA only
  kAesni = 1,          // x86 AES-NI, 8 blocks in flight
  kVaes = 2,           // x86 VAES on ymm, 16 blocks in flight
  kBitslicedAvx2 = 3,  // the portable bitsliced kernel on 256-bit AVX2 vectors
  kArmCe = 4,          // ARMv8 Crypto Extensions, 8 blocks in flight
};
inline constexpr int kNumBackends = 5;

bool backend_available(Backend backend);
Backend best_backend();
// The backend calls use now (see the selection order above).
Backend active_backend();
const char* backend_name(Backend backend);
// Parses a backend_name(); returns false for an unknown name.
bool parse_backend(const char* name, Backend& out);
// -1: automatic; otherwise a Backend value. Throws Error(kConfig) for an unknown or unavailable one.
void set_backend_override(int backend);

// Whether the SIMD (non-AES) kernels may use AVX2 under `backend`: the CPU has it and the backend
// is not the forced portable one.
bool use_avx2(Backend backend);

// What each kernel family runs under `backend` (names for tests and diagnostics).
struct KernelBackends {
  const char* aes;       // backend_name(backend)
  const char* quantize;  // "avx2" or "portable"
  const char* field;     // general-modulus rejection sampling and modular add/sub
  const char* noise;     // Skellam table inversion
  const char* shamir;    // Shamir share evaluation
};
KernelBackends kernel_backends(Backend backend);

}  // namespace secagg
