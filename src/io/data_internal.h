// The IDX parser's pieces, for the reader (src/io/data.cc) and the fuzz targets, which bound the
// size a header may claim so that a tiny input cannot ask for gigabytes.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "propel/data.h"

namespace propel::detail {

struct IdxArray {
  std::vector<uint32_t> dims;
  std::vector<uint8_t> data;
};

// One IDX array of unsigned bytes with `dims` dimensions (3: images, 1: labels), raw or gzip,
// holding at most max_bytes of data. Throws Error(kIo) naming `name` on anything malformed.
IdxArray ParseIdxArray(std::string_view file, int dims, const std::string& name,
                       uint64_t max_bytes);

// Images and labels into a data set (pixels / 255); the counts must agree.
Dataset ParseIdx(std::string_view images, std::string_view labels, const std::string& images_name,
                 const std::string& labels_name, uint64_t max_bytes);

}  // namespace propel::detail
