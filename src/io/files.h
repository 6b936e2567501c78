// Files: whole-file reads and atomic replacement, with errors as propel::Error (kIo) naming the
// path; and the escaping that keeps bytes read from a file printable in a message.
#pragma once

#include <string>
#include <string_view>

namespace propel::detail {

// The whole file. Only a regular file is read: a directory, FIFO, device or socket is refused
// ("PATH: is a directory, not a file") without blocking, as is anything that cannot be opened or
// read, or held in memory. Every error is ErrorCode::kIo and names the path.
std::string ReadWholeFile(const std::string& path);

// Throws Error(kIo, "NAME: WHAT"): the one form of every file error (readers, checkpoints).
[[noreturn]] void FailIo(const std::string& name, const std::string& what);

// Writes the bytes to a temporary file next to `path` (`<path>.tmp-<pid>-<n>`), flushes it to
// the disk, renames it over `path` and flushes the folder. On failure the temporary file is
// removed, `path` is untouched, and the error says so. First removes the temporaries of `path`
// left by writers that no longer run (a process killed while saving).
void WriteAtomically(const std::string& path, const std::string& bytes);

// The temporaries of `path` whose writer process is gone, removed; returns how many.
int RemoveStaleTemporaries(const std::string& path);

// `bytes` with every byte that is not printable ASCII written as \xNN (and \ as \\), at most
// `limit` input bytes followed by "..." when longer: for echoing file content in a message.
std::string Printable(std::string_view bytes, size_t limit = 40);

}  // namespace propel::detail
