// Line-aligned float arrays (src/runtime/aligned.h).
#include "src/runtime/aligned.h"

#include <cstdlib>
#include <cstring>
#include <new>

namespace propel::detail {

AlignedFloats::~AlignedFloats() { std::free(data_); }

void AlignedFloats::Resize(int64_t n) {
  std::free(data_);
  data_ = nullptr;
  size_ = 0;
  if (n <= 0) return;
  const size_t bytes = static_cast<size_t>(PadToLine(n)) * sizeof(float);
  data_ = static_cast<float*>(std::aligned_alloc(64, bytes));
  if (data_ == nullptr) throw std::bad_alloc();
  std::memset(data_, 0, bytes);
  size_ = n;
}

}  // namespace propel::detail
