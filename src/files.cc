// Whole-file reads and atomic writes (src/files.h).
#include "src/files.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>

#include "propel/error.h"

namespace propel::detail {

namespace {

[[noreturn]] void Fail(const std::string& name, const std::string& what) {
  throw Error(ErrorCode::kIo, name + ": " + what);
}

std::string Errno(const char* what) { return std::string(what) + ": " + std::strerror(errno); }

}  // namespace

void WriteAtomically(const std::string& path, const std::string& bytes) {
  const std::string tmp = path + ".tmp-" + std::to_string(::getpid());
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) {
    Fail(path,
         Errno(("cannot create " + tmp).c_str()) + "; the previous file, if any, is unchanged");
  }
  auto abandon = [&](const std::string& what) {
    ::close(fd);
    ::unlink(tmp.c_str());
    Fail(path, what + "; the previous file, if any, is unchanged");
  };
  for (size_t done = 0; done < bytes.size();) {
    const ssize_t n = ::write(fd, bytes.data() + done, bytes.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      abandon(Errno(("writing " + tmp + " failed after " + std::to_string(done) + " of " +
                     std::to_string(bytes.size()) + " bytes")
                        .c_str()));
    }
    done += static_cast<size_t>(n);
  }
  if (::fsync(fd) != 0) abandon(Errno(("flushing " + tmp + " failed").c_str()));
  if (::close(fd) != 0) {
    ::unlink(tmp.c_str());
    Fail(path, Errno(("closing " + tmp + " failed").c_str()));
  }
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    const std::string what = Errno(("renaming " + tmp + " failed").c_str());
    ::unlink(tmp.c_str());
    Fail(path, what + "; the previous file, if any, is unchanged");
  }
  // Make the rename itself durable.
  const std::filesystem::path parent = std::filesystem::path(path).parent_path();
  const std::filesystem::path dir = parent.empty() ? std::filesystem::path(".") : parent;
  const int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd >= 0) {
    ::fsync(dfd);
    ::close(dfd);
  }
}

std::string ReadWholeFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) Fail(path, "cannot be opened for reading");
  std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (in.bad()) Fail(path, "read error");
  return bytes;
}

}  // namespace propel::detail
