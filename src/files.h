// Files: whole-file reads and atomic replacement, with errors as propel::Error (kIo) naming the
// path.
#pragma once

#include <string>

namespace propel::detail {

// The whole file. Throws when it cannot be opened or read.
std::string ReadWholeFile(const std::string& path);

// Writes the bytes to a temporary file next to `path`, flushes it to the disk, renames it over
// `path` and flushes the folder. On failure the temporary file is removed, `path` is untouched,
// and the error says so.
void WriteAtomically(const std::string& path, const std::string& bytes);

}  // namespace propel::detail
