// libFuzzer target for the IDX reader (raw and gzip). The input is split in two: the first byte
// says where the images file ends and the labels file begins. Any input must either parse or
// throw propel::Error; a header may not claim more than 16 MiB of data.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "propel/error.h"
#include "src/io/data_internal.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  const size_t split = 1 + (size - 1) * data[0] / 255;
  const std::string_view all(reinterpret_cast<const char*>(data), size);
  try {
    const propel::Dataset d = propel::detail::ParseIdx(all.substr(1, split - 1), all.substr(split),
                                                       "images", "labels", size_t{1} << 24);
    if (d.x.size() != static_cast<size_t>(d.rows * d.features)) __builtin_trap();
    if (d.labels.size() != static_cast<size_t>(d.rows)) __builtin_trap();
  } catch (const propel::Error&) {
  }
  return 0;
}
