// Error type of the C++ core. Every failure the core detects on purpose is a secagg::Error with a
// code; the pybind11 layer maps codes to secagg.errors classes, the C ABI returns them as ints.
#pragma once
#include <stdexcept>
#include <string>

namespace secagg {

// Values match the SECAGG_ERR_* constants of the C ABI (secagg.h).
enum class ErrorCode : int {
  kOk = 0,
  kNullPointer = 1,   // a required pointer argument is NULL
  kSeed = 2,          // a seed is not 32 bytes / a sign is not +1 or -1
  kModulus = 3,       // modulus_range invalid or too small for quantization_range
  kConfig = 4,        // another parameter is out of range (clipping, quantization, threads)
  kNonFinite = 5,     // NaN or infinity in an update
  kDType = 6,         // an array has the wrong element type
  kShape = 7,         // lengths do not match
  kRange = 8,         // an input element is >= modulus_range
  kInternal = 9,      // unexpected failure (allocation, thread creation)
};

class Error : public std::runtime_error {
 public:
  Error(ErrorCode code, const std::string& message) : std::runtime_error(message), code_(code) {}
  ErrorCode code() const noexcept { return code_; }

 private:
  ErrorCode code_;
};

}  // namespace secagg
