// Whole-file reads and atomic writes (src/io/files.h).
#include "src/io/files.h"

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <charconv>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <new>

#include "propel/error.h"

namespace propel::detail {

namespace {

std::string Errno(const std::string& what, int err) { return what + ": " + std::strerror(err); }

// What a non-regular file is, for "PATH: is a directory, not a file".
const char* KindOf(mode_t mode) {
  if (S_ISDIR(mode)) return "a directory";
  if (S_ISFIFO(mode)) return "a FIFO (named pipe)";
  if (S_ISCHR(mode)) return "a character device";
  if (S_ISBLK(mode)) return "a block device";
  if (S_ISSOCK(mode)) return "a socket";
  return "not a regular file";
}

// "is a directory, not a file", "is a FIFO (named pipe), not a regular file".
std::string NotAFile(mode_t mode) {
  return std::string("is ") + KindOf(mode) +
         (S_ISDIR(mode) ? ", not a file" : ", not a regular file");
}

std::string FormatBytes(double bytes) {
  char buf[32];
  if (bytes >= 1e9) {
    std::snprintf(buf, sizeof(buf), "%.1f GB", bytes / 1e9);
  } else {
    std::snprintf(buf, sizeof(buf), "%.1f MB", bytes / 1e6);
  }
  return buf;
}

// Temporaries are `<name>.tmp-<pid>-<n>`; the pid, or 0 when `entry` is not one of `name`'s.
pid_t TemporaryOwner(std::string_view entry, std::string_view name) {
  const std::string prefix = std::string(name) + ".tmp-";
  if (entry.size() <= prefix.size() || entry.substr(0, prefix.size()) != prefix) return 0;
  std::string_view rest = entry.substr(prefix.size());
  long long pid = 0;
  const auto [ptr, ec] = std::from_chars(rest.data(), rest.data() + rest.size(), pid);
  if (ec != std::errc() || pid <= 0 || pid > INT32_MAX) return 0;
  rest.remove_prefix(static_cast<size_t>(ptr - rest.data()));
  // Either the pid alone (older builds) or "-<n>".
  if (!rest.empty()) {
    if (rest.front() != '-' || rest.size() < 2) return 0;
    for (char c : rest.substr(1)) {
      if (c < '0' || c > '9') return 0;
    }
  }
  return static_cast<pid_t>(pid);
}

}  // namespace

int RemoveStaleTemporaries(const std::string& path) {
  const std::filesystem::path p(path);
  const std::string name = p.filename().string();
  const std::filesystem::path parent = p.parent_path();
  const std::string dir = parent.empty() ? std::string(".") : parent.string();
  DIR* d = ::opendir(dir.c_str());
  if (d == nullptr) return 0;
  int removed = 0;
  while (const dirent* e = ::readdir(d)) {
    const pid_t owner = TemporaryOwner(e->d_name, name);
    if (owner == 0 || owner == ::getpid()) continue;
    // The writer is gone when signalling it says "no such process"; a live process (or one we
    // may not signal) keeps its file.
    if (::kill(owner, 0) == 0 || errno != ESRCH) continue;
    const std::string stale =
        (parent.empty() ? std::filesystem::path(e->d_name) : parent / e->d_name).string();
    if (::unlink(stale.c_str()) == 0) ++removed;
  }
  ::closedir(d);
  return removed;
}

void WriteAtomically(const std::string& path, const std::string& bytes) {
  struct stat st;
  if (::stat(path.c_str(), &st) == 0 && !S_ISREG(st.st_mode)) {
    FailIo(path, NotAFile(st.st_mode) + ": nothing was written");
  }
  RemoveStaleTemporaries(path);
  static std::atomic<unsigned> serial{0};
  const std::string tmp = path + ".tmp-" + std::to_string(::getpid()) + "-" +
                          std::to_string(serial.fetch_add(1, std::memory_order_relaxed));
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  if (fd < 0) {
    FailIo(path,
           Errno("cannot create " + tmp, errno) + "; the previous file, if any, is unchanged");
  }
  auto abandon = [&](const std::string& what) {
    ::close(fd);
    ::unlink(tmp.c_str());
    FailIo(path, what + "; the previous file, if any, is unchanged");
  };
  for (size_t done = 0; done < bytes.size();) {
    const ssize_t n = ::write(fd, bytes.data() + done, bytes.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      const int err = n < 0 ? errno : ENOSPC;
      abandon(Errno("writing " + tmp + " failed after " + std::to_string(done) + " of " +
                        std::to_string(bytes.size()) + " bytes",
                    err));
    }
    done += static_cast<size_t>(n);
  }
  if (::fsync(fd) != 0) abandon(Errno("flushing " + tmp + " failed", errno));
  if (::close(fd) != 0) {
    const int err = errno;
    ::unlink(tmp.c_str());
    FailIo(path,
           Errno("closing " + tmp + " failed", err) + "; the previous file, if any, is unchanged");
  }
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    const std::string what = Errno("renaming " + tmp + " failed", errno);
    ::unlink(tmp.c_str());
    FailIo(path, what + "; the previous file, if any, is unchanged");
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

void FailIo(const std::string& name, const std::string& what) {
  throw Error(ErrorCode::kIo, name + ": " + what);
}

std::string ReadWholeFile(const std::string& path) {
  // O_NONBLOCK: opening a FIFO must not wait for a writer; the type is checked before any read.
  const int fd = ::open(path.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) {
    const int err = errno;
    if (err == ENOENT) FailIo(path, "no such file");
    FailIo(path, Errno("cannot be opened for reading", err));
  }
  struct Closer {
    int fd;
    ~Closer() { ::close(fd); }
  } closer{fd};
  struct stat st;
  if (::fstat(fd, &st) != 0) FailIo(path, Errno("cannot be examined", errno));
  if (!S_ISREG(st.st_mode)) FailIo(path, NotAFile(st.st_mode));
  const int flags = ::fcntl(fd, F_GETFL);
  if (flags >= 0) ::fcntl(fd, F_SETFL, flags & ~O_NONBLOCK);
  std::string bytes;
  try {
    bytes.resize(static_cast<size_t>(st.st_size));
  } catch (const std::bad_alloc&) {
    FailIo(path, "the file is " + FormatBytes(static_cast<double>(st.st_size)) +
                     ", more than this process can hold in memory");
  } catch (const std::length_error&) {
    FailIo(path, "the file is " + FormatBytes(static_cast<double>(st.st_size)) +
                     ", more than this process can hold in memory");
  }
  size_t done = 0;
  while (true) {
    if (done == bytes.size()) {
      // The file may have grown since fstat: read on until the end.
      char probe[4096];
      const ssize_t n = ::read(fd, probe, sizeof(probe));
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) FailIo(path, Errno("read error after " + std::to_string(done) + " bytes", errno));
      if (n == 0) break;
      bytes.append(probe, static_cast<size_t>(n));
      done = bytes.size();
      continue;
    }
    const ssize_t n = ::read(fd, bytes.data() + done, bytes.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) FailIo(path, Errno("read error after " + std::to_string(done) + " bytes", errno));
    if (n == 0) {  // shrank since fstat
      bytes.resize(done);
      break;
    }
    done += static_cast<size_t>(n);
  }
  return bytes;
}

std::string Printable(std::string_view bytes, size_t limit) {
  std::string out;
  const size_t n = std::min(bytes.size(), limit);
  for (size_t i = 0; i < n; ++i) {
    const unsigned char c = static_cast<unsigned char>(bytes[i]);
    if (c == '\\') {
      out += "\\\\";
    } else if (c >= 0x20 && c < 0x7f) {
      out += static_cast<char>(c);
    } else {
      char hex[8];
      std::snprintf(hex, sizeof(hex), "\\x%02x", c);
      out += hex;
    }
  }
  if (bytes.size() > limit) out += "...";
  return out;
}

}  // namespace propel::detail
