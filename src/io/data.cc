// Data set readers (IDX raw or gzip, CSV) and normalization: every malformed input is an Error
// naming the file, the position and what was expected.
#include "propel/data.h"

#include <zlib.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <sstream>

#include "src/io/data_internal.h"
#include "src/io/files.h"
#include "src/runtime/check.h"

namespace propel {

namespace {

std::string Hex32(uint32_t v) {
  std::ostringstream os;
  os << "0x" << std::hex;
  os.width(8);
  os.fill('0');
  os << v;
  return os.str();
}

bool IsGzip(std::string_view bytes) {
  return bytes.size() >= 2 && static_cast<uint8_t>(bytes[0]) == 0x1f &&
         static_cast<uint8_t>(bytes[1]) == 0x8b;
}

// Inflates a gzip stream incrementally, never holding more than asked for.
class Inflater {
 public:
  Inflater(std::string_view gz, const std::string& name) : name_(name) {
    stream_.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(gz.data()));
    stream_.avail_in = static_cast<uInt>(std::min<size_t>(gz.size(), UINT32_MAX));
    if (inflateInit2(&stream_, 15 + 16) != Z_OK)
      detail::FailIo(name_, "zlib cannot start inflating");
  }
  ~Inflater() { inflateEnd(&stream_); }
  Inflater(const Inflater&) = delete;
  Inflater& operator=(const Inflater&) = delete;

  // Appends decompressed bytes to out until it holds `size` bytes or the stream ends.
  void ReadUpTo(std::string& out, size_t size) {
    while (out.size() < size && !ended_) {
      const size_t chunk = std::min<size_t>(size - out.size(), size_t{1} << 20);
      const size_t before = out.size();
      out.resize(before + chunk);
      stream_.next_out = reinterpret_cast<Bytef*>(out.data() + before);
      stream_.avail_out = static_cast<uInt>(chunk);
      const int rc = inflate(&stream_, Z_NO_FLUSH);
      out.resize(before + (chunk - stream_.avail_out));
      if (rc == Z_STREAM_END) {
        ended_ = true;
      } else if (rc == Z_BUF_ERROR ||
                 (rc == Z_OK && stream_.avail_in == 0 && stream_.avail_out != 0)) {
        detail::FailIo(name_, "the gzip stream is truncated after " + std::to_string(out.size()) +
                                  " decompressed bytes");
      } else if (rc != Z_OK) {
        detail::FailIo(name_, std::string("corrupt gzip data (") +
                                  (stream_.msg ? stream_.msg : "zlib error " + std::to_string(rc)) +
                                  ") after " + std::to_string(out.size()) + " decompressed bytes");
      }
    }
  }
  bool ended() const { return ended_; }

 private:
  const std::string& name_;
  z_stream stream_{};
  bool ended_ = false;
};

uint32_t BigEndian32(const char* p) {
  const auto* b = reinterpret_cast<const uint8_t*>(p);
  return uint32_t{b[0]} << 24 | uint32_t{b[1]} << 16 | uint32_t{b[2]} << 8 | uint32_t{b[3]};
}

const char* IdxTypeName(uint8_t type) {
  switch (type) {
    case 0x08:
      return "unsigned byte";
    case 0x09:
      return "signed byte";
    case 0x0B:
      return "int16";
    case 0x0C:
      return "int32";
    case 0x0D:
      return "float32";
    case 0x0E:
      return "float64";
    default:
      return "unknown";
  }
}

}  // namespace

namespace detail {

IdxArray ParseIdxArray(std::string_view file, int dims_expected, const std::string& name,
                       uint64_t max_bytes) {
  const std::string what = dims_expected == 3 ? "images" : "labels";
  const uint32_t magic_expected = 0x0800u | static_cast<uint32_t>(dims_expected);
  std::string inflated;
  std::string_view bytes = file;
  std::unique_ptr<Inflater> gz;
  if (IsGzip(file)) {
    gz = std::make_unique<Inflater>(file, name);
    gz->ReadUpTo(inflated, 4);
    bytes = inflated;
  }
  const std::string where = gz ? " of the decompressed data" : "";
  if (bytes.size() < 4) {
    detail::FailIo(name, "is " + std::to_string(bytes.size()) + " bytes long" + where +
                             ", shorter than the 4-byte IDX magic number (expected " +
                             Hex32(magic_expected) + " for " + what + ")");
  }
  const uint32_t magic = BigEndian32(bytes.data());
  const uint8_t type = static_cast<uint8_t>(bytes[2]);
  const int dims = static_cast<uint8_t>(bytes[3]);
  if (bytes[0] != 0 || bytes[1] != 0) {
    detail::FailIo(name, "magic number " + Hex32(magic) + " is not an IDX file's (expected " +
                             Hex32(magic_expected) + " for " + what + ")");
  }
  if (type != 0x08) {
    std::ostringstream os;
    os << "IDX data type 0x" << std::hex << int{type} << " (" << IdxTypeName(type)
       << ") is not supported: expected 0x08 (unsigned byte), magic " << Hex32(magic_expected);
    detail::FailIo(name, os.str());
  }
  if (dims != dims_expected) {
    detail::FailIo(name, "has " + std::to_string(dims) + " dimensions (magic " + Hex32(magic) +
                             "), expected " + std::to_string(dims_expected) + " for " + what +
                             " (magic " + Hex32(magic_expected) + ")");
  }
  const size_t header = 4 + 4 * static_cast<size_t>(dims);
  if (gz) {
    gz->ReadUpTo(inflated, header);
    bytes = inflated;
  }
  if (bytes.size() < header) {
    detail::FailIo(name, "is truncated in its header: " + std::to_string(bytes.size()) + " bytes" +
                             where + ", the header of " + std::to_string(dims) +
                             " dimensions takes " + std::to_string(header));
  }
  IdxArray a;
  uint64_t total = 1;
  for (int d = 0; d < dims; ++d) {
    const uint32_t n = BigEndian32(bytes.data() + 4 + 4 * d);
    if (n == 0) {
      detail::FailIo(name, "dimension " + std::to_string(d) + " (byte " +
                               std::to_string(4 + 4 * d) + ") is 0: the file holds no " + what);
    }
    a.dims.push_back(n);
    total *= n;
    if (total > max_bytes) {
      detail::FailIo(name, "dimensions claim more than " + std::to_string(max_bytes) +
                               " bytes of data, past what this reader accepts");
    }
  }
  if (gz) {
    gz->ReadUpTo(inflated, header + total + 1);  // one byte more: trailing data
    bytes = inflated;
  }
  const uint64_t have = bytes.size() - header;
  if (have < total) {
    detail::FailIo(name, "is truncated: the header promises " + std::to_string(total) +
                             " bytes of " + what + " after byte " + std::to_string(header) +
                             ", the file" + where + " ends after " + std::to_string(have));
  }
  if (have > total || (gz && !gz->ended())) {
    detail::FailIo(name, "has data past the end of its " + what + " at byte " +
                             std::to_string(header + total) + where + " (the header promises " +
                             std::to_string(total) + " bytes)");
  }
  a.data.assign(bytes.data() + header, bytes.data() + header + total);
  return a;
}

}  // namespace detail

DataView Dataset::view(int64_t first, int64_t count) const {
  detail::Check(first >= 0 && count >= 0 && first + count <= rows, "propel::Dataset::view",
                "rows [", first, ", ", first + count, ") are outside [0, ", rows, ")");
  DataView v;
  v.rows = count;
  v.x = x.data() + first * features;
  v.ldx = features;
  if (!labels.empty()) v.labels = labels.data() + first;
  if (!targets.empty()) {
    v.targets = targets.data() + first * target_cols;
    v.ldt = target_cols;
  }
  return v;
}

Dataset parse_idx(std::string_view images, std::string_view labels, const std::string& name) {
  return detail::ParseIdx(images, labels, name + " (images)", name + " (labels)",
                          uint64_t{1} << 34);
}

namespace detail {

Dataset ParseIdx(std::string_view images, std::string_view labels, const std::string& images_name,
                 const std::string& labels_name, uint64_t max_bytes) {
  const IdxArray img = ParseIdxArray(images, 3, images_name, max_bytes);
  const IdxArray lab = ParseIdxArray(labels, 1, labels_name, max_bytes);
  if (img.dims[0] != lab.dims[0]) {
    detail::FailIo(labels_name, "holds " + std::to_string(lab.dims[0]) + " labels, but " +
                                    images_name + " holds " + std::to_string(img.dims[0]) +
                                    " images");
  }
  Dataset d;
  d.rows = img.dims[0];
  d.features = static_cast<int64_t>(img.dims[1]) * img.dims[2];
  d.x.resize(img.data.size());
  for (size_t i = 0; i < img.data.size(); ++i) d.x[i] = static_cast<float>(img.data[i]) / 255.0f;
  d.labels.resize(lab.data.size());
  int32_t top = 0;
  for (size_t i = 0; i < lab.data.size(); ++i) {
    d.labels[i] = lab.data[i];
    top = std::max(top, d.labels[i]);
  }
  d.classes = top + 1;
  return d;
}

}  // namespace detail

Dataset load_idx(const std::string& images_path, const std::string& labels_path) {
  return detail::ParseIdx(detail::ReadWholeFile(images_path), detail::ReadWholeFile(labels_path),
                          images_path, labels_path, uint64_t{1} << 34);
}

// ---------------------------------------------------------------------------------------- CSV

namespace {

std::string_view Trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r'))
    s.remove_suffix(1);
  return s;
}

std::vector<std::string_view> Cells(std::string_view line, char delimiter) {
  std::vector<std::string_view> cells;
  size_t start = 0;
  while (true) {
    const size_t end = line.find(delimiter, start);
    cells.push_back(Trim(line.substr(start, end == std::string_view::npos ? end : end - start)));
    if (end == std::string_view::npos) break;
    start = end + 1;
  }
  return cells;
}

// A whole cell as a number; false when it is not one.
bool Number(std::string_view cell, double* value) {
  if (!cell.empty() && cell.front() == '+') cell.remove_prefix(1);
  if (cell.empty()) return false;
  const auto [ptr, ec] = std::from_chars(cell.data(), cell.data() + cell.size(), *value);
  return ec == std::errc() && ptr == cell.data() + cell.size();
}

std::string Unquote(std::string_view s) {
  if (s.size() >= 2 && s.front() == '"' && s.back() == '"') s = s.substr(1, s.size() - 2);
  return std::string(s);
}

}  // namespace

Dataset parse_csv(std::string_view text, const CsvOptions& options, const std::string& name) {
  detail::Check(options.delimiter != '\n' && options.delimiter != '\r' && options.delimiter != '"',
                "propel::parse_csv", "the delimiter cannot be a line break or a quote");
  // A UTF-8 byte-order mark (spreadsheets write one) is not part of the first cell.
  if (text.size() >= 3 && text.substr(0, 3) == "\xEF\xBB\xBF") text.remove_prefix(3);
  // Lines, 1-based, blank ones skipped; a line ends at LF, CR LF or a lone CR (old Mac files).
  std::vector<std::pair<int64_t, std::string_view>> lines;
  int64_t number = 0;
  for (size_t start = 0; start <= text.size();) {
    size_t end = text.find_first_of("\r\n", start);
    if (end == std::string_view::npos) end = text.size();
    ++number;
    const std::string_view line = Trim(text.substr(start, end - start));
    if (!line.empty()) lines.emplace_back(number, line);
    start = end + 1;
    if (end < text.size() && text[end] == '\r' && start < text.size() && text[start] == '\n') {
      ++start;
    }
  }
  if (lines.empty()) detail::FailIo(name, "is empty: no header and no data rows");

  const std::vector<std::string_view> first = Cells(lines[0].second, options.delimiter);
  const int64_t columns = static_cast<int64_t>(first.size());
  bool header = options.header == CsvOptions::Header::kYes;
  if (options.header == CsvOptions::Header::kAuto) {
    double v;
    for (std::string_view c : first) header = header || (!c.empty() && !Number(c, &v));
  }
  std::vector<std::string> names;
  if (header) {
    for (std::string_view c : first) names.push_back(Unquote(c));
  }
  // The label column.
  int64_t label = -1;
  if (!options.label_column.empty()) {
    if (!header) {
      detail::FailIo(name, "has no header line, so no column is named '" +
                               detail::Printable(options.label_column) + "'");
    }
    const auto it = std::find(names.begin(), names.end(), options.label_column);
    if (it == names.end()) {
      std::string list;
      for (const std::string& n : names) list += (list.empty() ? "" : ", ") + detail::Printable(n);
      detail::FailIo(name, "line " + std::to_string(lines[0].first) + ": no column named '" +
                               detail::Printable(options.label_column) + "' (columns: " + list +
                               ")");
    }
    label = it - names.begin();
  } else {
    label = options.label_index < 0 ? columns + options.label_index : options.label_index;
    if (label < 0 || label >= columns) {
      detail::FailIo(name, "label column " + std::to_string(options.label_index) +
                               " does not exist: " + "the rows have " + std::to_string(columns) +
                               " columns");
    }
  }
  if (columns < 2) {
    detail::FailIo(name, "has " + std::to_string(columns) +
                             " column: a label and at least one feature are needed");
  }
  const size_t first_row = header ? 1 : 0;
  if (lines.size() <= first_row) detail::FailIo(name, "has a header but no data rows");

  Dataset d;
  d.features = columns - 1;
  d.rows = static_cast<int64_t>(lines.size() - first_row);
  d.x.reserve(static_cast<size_t>(d.rows * d.features));
  double top = -1.0;
  for (size_t r = first_row; r < lines.size(); ++r) {
    const auto& [line_no, line] = lines[r];
    const std::vector<std::string_view> cells = Cells(line, options.delimiter);
    const std::string at = "line " + std::to_string(line_no);
    if (static_cast<int64_t>(cells.size()) != columns) {
      detail::FailIo(name, at + " has " + std::to_string(cells.size()) + " cells, expected " +
                               std::to_string(columns) + " (as line " +
                               std::to_string(lines[0].first) + ")");
    }
    for (int64_t c = 0; c < columns; ++c) {
      const std::string_view cell = cells[static_cast<size_t>(c)];
      const std::string pos = at + ", column " + std::to_string(c + 1);
      double v = 0.0;
      if (cell.empty()) detail::FailIo(name, pos + ": empty cell, expected a number");
      if (!Number(cell, &v)) {
        detail::FailIo(name, pos + ": '" + detail::Printable(cell) + "' is not a number");
      }
      if (!std::isfinite(v) || std::fabs(v) > 3.4e38) {
        detail::FailIo(name, pos + ": " + detail::Printable(cell) + " is not a finite float");
      }
      if (c != label) {
        d.x.push_back(static_cast<float>(v));
      } else if (options.classes) {
        if (v < 0.0 || v != std::floor(v) || v >= 65536.0) {
          detail::FailIo(name, pos + ": label " + detail::Printable(cell) +
                                   " is not a class number (a whole number in [0, 65536))");
        }
        d.labels.push_back(static_cast<int32_t>(v));
        top = std::max(top, v);
      } else {
        d.targets.push_back(static_cast<float>(v));
      }
    }
  }
  if (options.classes) {
    d.classes = static_cast<int64_t>(top) + 1;
  } else {
    d.target_cols = 1;
  }
  return d;
}

Dataset load_csv(const std::string& path, const CsvOptions& options) {
  return parse_csv(detail::ReadWholeFile(path), options, path);
}

// ------------------------------------------------------------------------------ normalization

void scale_features(Dataset& data, float factor) {
  detail::Check(std::isfinite(factor), "propel::scale_features", "factor = ", factor,
                " is not finite");
  for (float& v : data.x) v *= factor;
}

Standardizer Standardizer::fit(const Dataset& train) {
  detail::Check(train.rows >= 1 && train.features >= 1, "propel::Standardizer::fit",
                "the data set is empty (", train.rows, " rows, ", train.features, " features)");
  Standardizer s;
  const auto f = static_cast<size_t>(train.features);
  std::vector<double> sum(f, 0.0), sum2(f, 0.0);
  for (int64_t i = 0; i < train.rows; ++i) {
    for (size_t j = 0; j < f; ++j) sum[j] += train.x[static_cast<size_t>(i) * f + j];
  }
  const double n = static_cast<double>(train.rows);
  for (size_t j = 0; j < f; ++j) sum[j] /= n;
  for (int64_t i = 0; i < train.rows; ++i) {
    for (size_t j = 0; j < f; ++j) {
      const double e = train.x[static_cast<size_t>(i) * f + j] - sum[j];
      sum2[j] += e * e;
    }
  }
  s.mean.resize(f);
  s.inv_std.resize(f);
  for (size_t j = 0; j < f; ++j) {
    const double sd = std::sqrt(sum2[j] / n);
    s.mean[j] = static_cast<float>(sum[j]);
    s.inv_std[j] = sd > 0.0 ? static_cast<float>(1.0 / sd) : 1.0f;
  }
  return s;
}

void Standardizer::apply(Dataset& data) const {
  detail::Check(data.features == static_cast<int64_t>(mean.size()), "propel::Standardizer::apply",
                "the data set has ", data.features, " features, the statistics ", mean.size());
  const auto f = static_cast<size_t>(data.features);
  for (int64_t i = 0; i < data.rows; ++i) {
    float* row = data.x.data() + static_cast<size_t>(i) * f;
    for (size_t j = 0; j < f; ++j) row[j] = (row[j] - mean[j]) * inv_std[j];
  }
}

}  // namespace propel
