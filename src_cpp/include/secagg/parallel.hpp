// Splitting element ranges over threads. Results never depend on the thread count: callers only
// split work whose parts are independent (element ranges of a seekable PRG, or sums mod R).
#pragma once
#include <cstddef>
#include <exception>
#include <functional>

namespace secagg {

// Number of threads to use: `requested` if > 0, else all cores when `work` (element-operations)
// is large enough to pay for starting threads, else 1.
unsigned resolve_threads(unsigned requested, size_t work);

// Calls fn(lo, hi) on up to `threads` contiguous chunks of [0, n) whose inner boundaries are
// multiples of `align`; chunk 0 runs on the calling thread. The first exception is rethrown.
void parallel_for(size_t n, unsigned threads, size_t align,
                  const std::function<void(size_t, size_t)>& fn);

}  // namespace secagg
