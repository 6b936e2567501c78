// Argument validation at the API boundary: each failed check throws propel::Error naming the
// function and the argument. Kernels below this layer assume validated input.
#pragma once

#include <cstdint>
#include <sstream>
#include <string>

#include "propel/error.h"

namespace propel::detail {

template <class... Args>
[[noreturn]] void Fail(ErrorCode code, const char* where, const Args&... parts) {
  std::ostringstream os;
  os << where << ": ";
  (os << ... << parts);
  throw Error(code, os.str());
}

template <class... Args>
void Check(bool ok, const char* where, const Args&... parts) {
  if (!ok) Fail(ErrorCode::kInvalidArgument, where, parts...);
}

}  // namespace propel::detail
