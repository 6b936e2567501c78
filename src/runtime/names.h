// Names of the API's enum values: the *_name and parse_* functions share these helpers.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include "src/runtime/check.h"

namespace propel::detail {

// names[value], or "unknown" for a value outside the table.
template <size_t N>
const char* NameOf(const char* const (&names)[N], int value) {
  return value >= 0 && static_cast<size_t>(value) < N ? names[value] : "unknown";
}

// The index of `name` in the table, or -1.
template <size_t N>
int IndexOf(const char* const (&names)[N], std::string_view name) {
  for (size_t i = 0; i < N; ++i) {
    if (name == names[i]) return static_cast<int>(i);
  }
  return -1;
}

// "a, b or c": the table as a list for error messages.
template <size_t N>
std::string Alternatives(const char* const (&names)[N]) {
  std::string list;
  for (size_t i = 0; i < N; ++i) {
    list += i == 0 ? "" : i + 1 == N ? " or " : ", ";
    list += names[i];
  }
  return list;
}

// The enum value whose name is `name`; else Error(kInvalidArgument) from `where`: "unknown <kind>
// '<name>' (expected a, b or c)".
template <class Enum, size_t N>
Enum ParseName(const char* where, const char* kind, const char* const (&names)[N],
               const std::string& name) {
  const int i = IndexOf(names, name);
  if (i < 0) {
    Fail(ErrorCode::kInvalidArgument, where, "unknown ", kind, " '", name, "' (expected ",
         Alternatives(names), ")");
  }
  return static_cast<Enum>(i);
}

}  // namespace propel::detail
