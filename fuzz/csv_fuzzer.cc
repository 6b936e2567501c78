// libFuzzer target for the CSV reader. The first byte picks the options (header mode, label
// column, class labels or real targets); the rest is the file. Any input must either parse into
// a consistent data set or throw propel::Error.
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "propel/data.h"
#include "propel/error.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  propel::CsvOptions o;
  o.header = static_cast<propel::CsvOptions::Header>(data[0] % 3);
  o.label_index = static_cast<int>((data[0] >> 2) % 4) - 2;
  o.classes = (data[0] & 0x40) == 0;
  if (data[0] & 0x80) o.label_column = "label";
  const std::string_view text(reinterpret_cast<const char*>(data + 1), size - 1);
  try {
    const propel::Dataset d = propel::parse_csv(text, o, "fuzz.csv");
    if (d.rows < 1 || d.features < 1) __builtin_trap();
    if (d.x.size() != static_cast<size_t>(d.rows * d.features)) __builtin_trap();
    for (float v : d.x) {
      if (!std::isfinite(v)) __builtin_trap();
    }
    if (o.classes && d.labels.size() != static_cast<size_t>(d.rows)) __builtin_trap();
    if (!o.classes && d.targets.size() != static_cast<size_t>(d.rows)) __builtin_trap();
  } catch (const propel::Error&) {
  }
  return 0;
}
