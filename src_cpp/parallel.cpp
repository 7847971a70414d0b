#include "secagg/parallel.hpp"

#include <algorithm>
#include <system_error>
#include <thread>
#include <vector>

namespace secagg {

unsigned resolve_threads(unsigned requested, size_t work) {
  if (requested > 0) return std::min(requested, 256u);
  constexpr size_t kMinWorkForThreads = size_t(1) << 18;
  if (work < kMinWorkForThreads) return 1;
  unsigned hw = std::thread::hardware_concurrency();
  return hw == 0 ? 1 : std::min(hw, 256u);
}

void parallel_for(size_t n, unsigned threads, size_t align,
                  const std::function<void(size_t, size_t)>& fn) {
  if (align == 0) align = 1;
  size_t units = (n + align - 1) / align;
  size_t t = std::max<size_t>(1, std::min<size_t>(threads, units));
  if (t <= 1) {
    fn(0, n);
    return;
  }
  size_t per = (units + t - 1) / t * align;
  std::vector<std::exception_ptr> errors(t);
  std::vector<std::thread> workers;
  auto run = [&](size_t i) {
    size_t lo = std::min(n, i * per), hi = std::min(n, lo + per);
    try {
      if (lo < hi) fn(lo, hi);
    } catch (...) {
      errors[i] = std::current_exception();
    }
  };
  for (size_t i = 1; i < t; ++i) {
    try {
      workers.emplace_back(run, i);
    } catch (const std::system_error&) {
      run(i);  // could not start a thread: do that chunk here
    }
  }
  run(0);
  for (auto& w : workers) w.join();
  for (auto& e : errors)
    if (e) std::rethrow_exception(e);
}

}  // namespace secagg
