// What the subcommands of the propel command line share: loading the data sets the options name,
// files the run writes, messages and small formatting helpers. Public API only.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "propel/propel.hpp"

namespace propel::cli {

inline constexpr const char* kFashionDir = "/usr/share/datasets/fashion-mnist";

// A training set, its test set and what messages call them.
struct Split {
  propel::Dataset train;
  propel::Dataset test;
  std::string name;
};

bool Exists(const std::string& path);

// Whether `program` is an executable in one of PATH's folders.
bool OnPath(const std::string& program);

[[noreturn]] void Invalid(const std::string& message);

std::string Gigabytes(double bytes);

// "%g" of a double, for messages.
std::string Num(double v);

bool IsIdx(const std::string& spec);

// --data: "fashion-mnist", "mnist", "IMAGES,LABELS" (IDX), or a CSV path (the last column the
// label: a class number, or with real_targets a real value); --test likewise for a separate test
// set. `name` receives what messages call the set (the CSV path, or the images file).
propel::Dataset LoadOne(const std::string& spec, bool test, const std::string& data_dir,
                        bool real_targets, std::string* name);

// Labels 0 / 1 as the targets of a binary (sigmoid + BCE) head; any other label is an error.
void LabelsAsBinaryTargets(propel::Dataset& d, const std::string& name);

// --binary NEG,POS against a data set: two distinct classes that it has.
void CheckBinaryPair(const std::vector<int>& pair, const propel::Dataset& d,
                     const std::string& name);

// A file the run will write must be writable before the run starts (not after an hour of
// training): not a directory, in a folder that exists and takes a new file.
void CheckWritable(const std::string& option, const std::string& path);

// Writes `text` to `path` through a temporary file renamed over it; an error names the option.
void WriteTextFile(const std::string& option, const std::string& path, const std::string& text);

// A name option parsed by the library's parser (propel::parse_*), its error naming the option.
template <class Parse>
auto ParseNamed(const std::string& option, const std::string& value, Parse parse) {
  try {
    return parse(value);
  } catch (const propel::Error& e) {
    const std::string what = e.what();
    const size_t colon = what.find(": ");
    Invalid(option + " " + value + ": " +
            (colon == std::string::npos ? what : what.substr(colon + 2)));
  }
}

std::string Bar(double fraction, int width);

std::string Json(const std::string& s);

std::string CpuModel();
}  // namespace propel::cli
