// libFuzzer target for the checkpoint reader: any input must either load into a model whose
// description and parameters are consistent, or throw propel::Error. For inputs of even length
// the trailing CRC-32 is recomputed before parsing, so that mutations reach the header, the model
// description, the optimizer configuration and its state instead of stopping at the checksum;
// inputs of odd length keep theirs, so the checksum test is fuzzed too. The seed corpus
// (fuzz/corpus/checkpoint) holds valid checkpoints of every head, with and without optimizer
// state.
#include <zlib.h>

#include <cstddef>
#include <cstdint>
#include <string>

#include "propel/checkpoint.h"
#include "propel/error.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  // A valid file holds 4 bytes per parameter: its size bounds the model the reader builds.
  if (size > (size_t{1} << 20)) return 0;
  std::string bytes(reinterpret_cast<const char*>(data), size);
  if (size >= 4 && size % 2 == 0) {
    const uLong crc = crc32(crc32(0L, Z_NULL, 0), data, static_cast<uInt>(size - 4));
    for (int i = 0; i < 4; ++i) bytes[size - 4 + i] = static_cast<char>(crc >> (8 * i));
  }
  try {
    const propel::Model m = propel::parse_checkpoint_model(bytes, "fuzz.ckpt");
    if (m.parameter_count() * 4 > static_cast<int64_t>(size)) __builtin_trap();
  } catch (const propel::Error&) {
  }
  return 0;
}
