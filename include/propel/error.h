// propel::Error: the one exception type of the C++ API (what went wrong, and where).
#pragma once

#include <stdexcept>
#include <string>

namespace propel {

// Broad class of a failure; the C API maps each to a PROPEL_ERROR_* status code.
enum class ErrorCode : int {
  kInvalidArgument = 1,  // a caller passed a value outside the documented contract
  kUnsupported = 2,      // valid request this build or CPU cannot serve (e.g. a SIMD target)
  kNumerical = 3,        // NaN/Inf where finite values are required
  kIo = 4,               // file missing, truncated or malformed
  kOutOfMemory = 5,
  kInternal = 6,  // a broken invariant inside propel: please report it
};

// Thrown by every public C++ entry point on invalid input or failure. what() names the function
// and the offending argument, e.g. "propel::sgemm: lda = 3 is smaller than op(A)'s row length 5".
class Error : public std::runtime_error {
 public:
  Error(ErrorCode code, const std::string& message) : std::runtime_error(message), code_(code) {}
  ErrorCode code() const noexcept { return code_; }

 private:
  ErrorCode code_;
};

}  // namespace propel
