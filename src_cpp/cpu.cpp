// CPU feature detection and backend selection (contract in include/secagg/cpu.hpp).
#include "secagg/cpu.hpp"

#include <atomic>
#include <cstdlib>
#include <cstring>
#include <string>

#include "secagg/errors.hpp"

#if defined(__aarch64__) && defined(__linux__)
#include <sys/auxv.h>
#ifndef HWCAP_AES
#define HWCAP_AES (1 << 3)
#endif
#elif defined(__aarch64__) && defined(__APPLE__)
#include <sys/sysctl.h>
#endif

namespace secagg {
namespace {

CpuFeatures detect() {
  CpuFeatures f;
#if defined(__x86_64__) || defined(__i386__)
  // libgcc/compiler-rt report avx2/vaes only when the OS saves ymm state (XGETBV).
  f.aesni = __builtin_cpu_supports("aes") && __builtin_cpu_supports("sse4.1");
  f.avx2 = __builtin_cpu_supports("avx2");
  f.vaes = f.aesni && f.avx2 && __builtin_cpu_supports("vaes");
#elif defined(__aarch64__) && defined(__linux__)
  f.arm_aes = (getauxval(AT_HWCAP) & HWCAP_AES) != 0;  // Linux and Android
#elif defined(__aarch64__) && defined(__APPLE__)
  int has = 0;
  size_t len = sizeof has;
  if (sysctlbyname("hw.optional.arm.FEAT_AES", &has, &len, nullptr, 0) == 0) f.arm_aes = has != 0;
#endif
  return f;
}

std::atomic<int> g_override{-1};

bool force_portable_env() {
  const char* v = std::getenv("SECAGG_FORCE_PORTABLE");
  return v != nullptr && v[0] != '\0' && std::strcmp(v, "0") != 0;
}

}  // namespace

const CpuFeatures& cpu_features() {
  static const CpuFeatures features = detect();
  return features;
}

bool backend_available(Backend backend) {
  const CpuFeatures& f = cpu_features();
  switch (backend) {
    case Backend::kPortable: return true;
    case Backend::kAesni: return f.aesni;
    case Backend::kVaes: return f.vaes;
    case Backend::kBitslicedAvx2: return f.avx2;
    case Backend::kArmCe: return f.arm_aes;
  }
  return false;
}

Backend best_backend() {
  static const Backend best = [] {
    for (Backend b : {Backend::kVaes, Backend::kAesni, Backend::kArmCe, Backend::kBitslicedAvx2})
      if (backend_available(b)) return b;
    return Backend::kPortable;
  }();
  return best;
}

Backend active_backend() {
  const int o = g_override.load(std::memory_order_relaxed);
  if (o >= 0) return static_cast<Backend>(o);
  if (force_portable_env()) return Backend::kPortable;
  return best_backend();
}

const char* backend_name(Backend backend) {
  switch (backend) {
    case Backend::kPortable: return "portable";
    case Backend::kAesni: return "aesni";
    case Backend::kVaes: return "vaes";
    case Backend::kBitslicedAvx2: return "bitsliced-avx2";
    case Backend::kArmCe: return "armce";
  }
  return "unknown";
}

bool parse_backend(const char* name, Backend& out) {
  for (int b = 0; b < kNumBackends; ++b)
    if (std::strcmp(name, backend_name(static_cast<Backend>(b))) == 0) {
      out = static_cast<Backend>(b);
      return true;
    }
  return false;
}

void set_backend_override(int backend) {
  if (backend < -1 || backend >= kNumBackends) throw Error(ErrorCode::kConfig, "unknown backend");
  if (backend >= 0 && !backend_available(static_cast<Backend>(backend)))
    throw Error(ErrorCode::kConfig, std::string("this CPU does not support the '") +
                                        backend_name(static_cast<Backend>(backend)) + "' backend");
  g_override.store(backend, std::memory_order_relaxed);
}

bool use_avx2(Backend backend) { return backend != Backend::kPortable && cpu_features().avx2; }

KernelBackends kernel_backends(Backend backend) {
  const char* simd = use_avx2(backend) ? "avx2" : "portable";
  return KernelBackends{backend_name(backend), simd, simd, simd, simd};
}

}  // namespace secagg
