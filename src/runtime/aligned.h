// Line-aligned float arrays: what the workspaces of the training step and of inference are made of.
#pragma once

#include <cstdint>
#include <utility>

namespace propel::detail {

// A zero-filled, 64-byte aligned array of floats that owns its memory.
class AlignedFloats {
 public:
  AlignedFloats() = default;
  explicit AlignedFloats(int64_t n) { Resize(n); }
  AlignedFloats(const AlignedFloats&) = delete;
  AlignedFloats& operator=(const AlignedFloats&) = delete;
  AlignedFloats(AlignedFloats&& o) noexcept
      : data_(std::exchange(o.data_, nullptr)), size_(std::exchange(o.size_, 0)) {}
  AlignedFloats& operator=(AlignedFloats&& o) noexcept {
    std::swap(data_, o.data_);
    std::swap(size_, o.size_);
    return *this;
  }
  ~AlignedFloats();

  // Reallocates to n floats (all zero); contents are not kept. Throws std::bad_alloc.
  void Resize(int64_t n);
  float* data() { return data_; }
  const float* data() const { return data_; }
  int64_t size() const { return size_; }

 private:
  float* data_ = nullptr;
  int64_t size_ = 0;
};

// Floats rounded up to a whole number of 64-byte lines.
constexpr int64_t PadToLine(int64_t floats) { return (floats + 15) / 16 * 16; }

}  // namespace propel::detail
