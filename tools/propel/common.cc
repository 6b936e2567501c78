// Helpers shared by the subcommands (tools/propel/common.h).
#include "tools/propel/common.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

namespace propel::cli {

bool Exists(const std::string& path) { return ::access(path.c_str(), R_OK) == 0; }

// Whether `program` is an executable in one of PATH's folders.
bool OnPath(const std::string& program) {
  const char* path = std::getenv("PATH");
  std::string dirs = path != nullptr ? path : "";
  size_t start = 0;
  while (start <= dirs.size()) {
    size_t end = dirs.find(':', start);
    if (end == std::string::npos) end = dirs.size();
    const std::string dir = dirs.substr(start, end - start);
    if (!dir.empty() && ::access((dir + "/" + program).c_str(), X_OK) == 0) return true;
    start = end + 1;
  }
  return false;
}

[[noreturn]] void Invalid(const std::string& message) {
  throw propel::Error(propel::ErrorCode::kInvalidArgument, message);
}

std::string Gigabytes(double bytes) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%.1f GB", bytes / 1e9);
  return buf;
}

// "%g" of a double, for messages.
std::string Num(double v) {
  std::ostringstream os;
  os << v;
  return os.str();
}

bool IsIdx(const std::string& spec) {
  return spec == "fashion-mnist" || spec == "mnist" || spec.find(',') != std::string::npos;
}

// --data: "fashion-mnist", "mnist", "IMAGES,LABELS" (IDX), or a CSV path (the last column the
// label: a class number, or with real_targets a real value); --test likewise for a separate test
// set. `name` receives what messages call the set (the CSV path, or the images file).
propel::Dataset LoadOne(const std::string& spec, bool test, const std::string& data_dir,
                        bool real_targets, std::string* name) {
  const std::string part = test ? "t10k" : "train";
  if (spec == "fashion-mnist" || spec == "mnist") {
    const std::string dir = !data_dir.empty()         ? data_dir
                            : spec == "fashion-mnist" ? kFashionDir
                                                      : "/usr/share/datasets/mnist";
    const std::string images = dir + "/" + part + "-images-idx3-ubyte.gz";
    const std::string labels = dir + "/" + part + "-labels-idx1-ubyte.gz";
    if (!Exists(images)) {
      const std::string how = !data_dir.empty() ? "--data-dir " + data_dir + " must hold"
                              : spec == "fashion-mnist"
                                  ? "apt-get install dataset-fashion-mnist, or pass --data-dir DIR"
                                    " with"
                                  : "MNIST is not packaged by Debian: pass --data-dir DIR with";
      throw propel::Error(propel::ErrorCode::kIo,
                          images + ": not found (" + how + " the four IDX files)");
    }
    *name = images;
    return propel::load_idx(images, labels);
  }
  const size_t comma = spec.find(',');
  if (comma != std::string::npos) {
    *name = spec.substr(0, comma);
    return propel::load_idx(spec.substr(0, comma), spec.substr(comma + 1));
  }
  *name = spec;
  propel::CsvOptions csv;
  csv.classes = !real_targets;
  try {
    return propel::load_csv(spec, csv);
  } catch (const propel::Error& e) {
    const std::string what = e.what();
    if (what.find("is not a class number") == std::string::npos) throw;
    throw propel::Error(e.code(), what + "; for real-valued targets pass --loss regression");
  }
}

// Labels 0 / 1 as the targets of a binary (sigmoid + BCE) head; any other label is an error.
void LabelsAsBinaryTargets(propel::Dataset& d, const std::string& name) {
  if (!d.targets.empty()) return;
  for (int64_t i = 0; i < d.rows; ++i) {
    const int32_t y = d.labels[static_cast<size_t>(i)];
    if (y != 0 && y != 1) {
      Invalid(name + ": row " + std::to_string(i + 1) + " has label " + std::to_string(y) +
              ": a binary model needs labels 0 and 1 (or --binary NEG,POS to pick two classes)");
    }
  }
  d.targets.assign(d.labels.begin(), d.labels.end());
  d.labels.clear();
  d.target_cols = 1;
}

// --binary NEG,POS against a data set: two distinct classes that it has.
void CheckBinaryPair(const std::vector<int>& pair, const propel::Dataset& d,
                     const std::string& name) {
  if (pair[0] < 0 || pair[1] < 0 || pair[0] == pair[1]) {
    Invalid("--binary " + std::to_string(pair[0]) + "," + std::to_string(pair[1]) +
            ": expected two different class numbers >= 0");
  }
  if (d.labels.empty()) {
    Invalid("--binary: " + name + " has real targets, not class labels");
  }
  for (int c : pair) {
    if (c >= d.classes) {
      Invalid("--binary " + std::to_string(pair[0]) + "," + std::to_string(pair[1]) + ": " + name +
              " has no class " + std::to_string(c) + " (its classes are 0 to " +
              std::to_string(d.classes - 1) + ")");
    }
  }
}

// A file the run will write must be writable before the run starts (not after an hour of
// training): not a directory, in a folder that exists and takes a new file.
void CheckWritable(const std::string& option, const std::string& path) {
  if (path.empty()) return;
  std::error_code ec;
  const std::filesystem::file_status st = std::filesystem::status(path, ec);
  if (!ec && std::filesystem::is_directory(st)) {
    Invalid(option + " " + path + ": is a directory, not a file");
  }
  if (!ec && std::filesystem::exists(st) && !std::filesystem::is_regular_file(st)) {
    Invalid(option + " " + path + ": exists and is not a regular file");
  }
  const std::filesystem::path parent = std::filesystem::path(path).parent_path();
  const std::string dir = parent.empty() ? "." : parent.string();
  const std::string probe =
      (std::filesystem::path(dir) / (".propel-write-probe-" + std::to_string(::getpid()))).string();
  const int fd = ::open(probe.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) {
    const int err = errno;
    throw propel::Error(propel::ErrorCode::kIo, option + " " + path + ": cannot create a file in " +
                                                    dir + ": " + std::strerror(err));
  }
  ::close(fd);
  ::unlink(probe.c_str());
}

// Writes `text` to `path` through a temporary file renamed over it; an error names the option.
void WriteTextFile(const std::string& option, const std::string& path, const std::string& text) {
  const std::string tmp = path + ".tmp-" + std::to_string(::getpid());
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    out << text;
    out.flush();
    if (!out) {
      std::remove(tmp.c_str());
      throw propel::Error(propel::ErrorCode::kIo, option + " " + path + ": writing " + tmp +
                                                      " failed; the previous file is unchanged");
    }
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    const int err = errno;
    std::remove(tmp.c_str());
    throw propel::Error(propel::ErrorCode::kIo, option + " " + path + ": " + std::strerror(err) +
                                                    "; the previous file is unchanged");
  }
}

std::string Bar(double fraction, int width) {
  const int full = static_cast<int>(fraction * width + 0.5);
  return std::string(static_cast<size_t>(full), '#') +
         std::string(static_cast<size_t>(width - full), '.');
}

std::string Json(const std::string& s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') out += '\\';
    out += c;
  }
  return out + "\"";
}

std::string CpuModel() {
  std::ifstream in("/proc/cpuinfo");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("model name", 0) == 0) return line.substr(line.find(':') + 2);
  }
  return "unknown";
}

}  // namespace propel::cli
