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

// No array propel accepts holds more than 2^60 elements: byte sizes, block extents and the GEMM
// driver's index arithmetic are then computed without overflow.
constexpr int64_t kMaxElements = int64_t{1} << 60;

// A block of `rows` stored rows of `row_len` elements with row stride `ld` (ld >= row_len >= 0,
// checked by the caller) must fit in kMaxElements: (rows - 1) * ld + row_len <= 2^60.
inline void CheckExtent(const char* where, const char* name, int64_t rows, int64_t row_len,
                        int64_t ld) {
  if (rows <= 0 || row_len <= 0) return;
  Check(row_len <= kMaxElements && ld <= kMaxElements && rows - 1 <= (kMaxElements - row_len) / ld,
        where, name, ": ", rows, " stored rows of stride ", ld,
        " exceed the largest array size (2^60 elements)");
}

}  // namespace propel::detail
