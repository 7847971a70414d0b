// Backend selection and the counter-wrap split shared by all AES-CTR backends.
#include <atomic>
#include <cstdlib>
#include <cstring>

#include "aes_impl.hpp"
#include "secagg/errors.hpp"

namespace secagg {
namespace {

std::atomic<int> g_override{-1};

bool cpu_has_aesni() {
#if defined(__x86_64__) || defined(__i386__)
  return __builtin_cpu_supports("aes") && __builtin_cpu_supports("sse4.1");
#else
  return false;
#endif
}

bool cpu_has_vaes() {
#if defined(__x86_64__) || defined(__i386__)
  // libgcc only reports avx2/vaes when the OS saves ymm state (XGETBV), so this is safe.
  return cpu_has_aesni() && __builtin_cpu_supports("avx2") && __builtin_cpu_supports("vaes");
#else
  return false;
#endif
}

bool force_portable_env() {
  const char* v = std::getenv("SECAGG_FORCE_PORTABLE");
  return v != nullptr && v[0] != '\0' && std::strcmp(v, "0") != 0;
}

}  // namespace

bool backend_available(Backend backend) {
  switch (backend) {
    case Backend::kPortable: return true;
    case Backend::kAesni: return cpu_has_aesni();
    case Backend::kVaes: return cpu_has_vaes();
  }
  return false;
}

Backend best_backend() {
  static const Backend best = cpu_has_vaes()     ? Backend::kVaes
                              : cpu_has_aesni() ? Backend::kAesni
                                                : Backend::kPortable;
  return best;
}

Backend active_backend() {
  int o = g_override.load(std::memory_order_relaxed);
  if (o >= 0) return static_cast<Backend>(o);
  if (force_portable_env()) return Backend::kPortable;
  return best_backend();
}

const char* backend_name(Backend backend) {
  switch (backend) {
    case Backend::kPortable: return "portable";
    case Backend::kAesni: return "aesni";
    case Backend::kVaes: return "vaes";
  }
  return "unknown";
}

void set_backend_override(int backend) {
  if (backend < -1 || backend > 2)
    throw Error(ErrorCode::kConfig, "unknown PRG backend");
  if (backend >= 0 && !backend_available(static_cast<Backend>(backend)))
    throw Error(ErrorCode::kConfig, std::string("this CPU does not support the '") +
                                        backend_name(static_cast<Backend>(backend)) + "' backend");
  g_override.store(backend, std::memory_order_relaxed);
}

void ctr_process(Backend backend, const AesKey& key, Counter start, size_t nblocks, uint8_t* dst,
                 CtrOp op) {
  while (nblocks > 0) {
    // Blocks left before the low 64 bits wrap (0 means 2^64, i.e. no wrap for any size_t count).
    uint64_t room = 0 - start.lo;
    size_t n = (room == 0 || room >= nblocks) ? nblocks : static_cast<size_t>(room);
    switch (backend) {
      case Backend::kVaes: detail::ctr_vaes(key, start, n, dst, op); break;
      case Backend::kAesni: detail::ctr_aesni(key, start, n, dst, op); break;
      default: detail::ctr_portable(key, start, n, dst, op); break;
    }
    dst += 16 * n;
    nblocks -= n;
    start.lo += n;
    if (start.lo == 0) ++start.hi;
  }
}

}  // namespace secagg
