// Data set readers: IDX (raw and gzip) and CSV round trips, every malformed-input case with the
// position and expectation in its message, and normalization.
#include "propel/data.h"

#include <gtest/gtest.h>
#include <unistd.h>
#include <zlib.h>

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "propel/error.h"
#include "src/io/data_internal.h"

namespace propel {
namespace {

std::string Be32(uint32_t v) {
  return {static_cast<char>(v >> 24), static_cast<char>(v >> 16), static_cast<char>(v >> 8),
          static_cast<char>(v)};
}

std::string IdxImages(uint32_t n, uint32_t rows, uint32_t cols, int first_pixel = 0) {
  std::string s = Be32(0x00000803) + Be32(n) + Be32(rows) + Be32(cols);
  for (uint32_t i = 0; i < n * rows * cols; ++i) s += static_cast<char>((first_pixel + i) % 256);
  return s;
}

std::string IdxLabels(const std::vector<uint8_t>& labels) {
  std::string s = Be32(0x00000801) + Be32(static_cast<uint32_t>(labels.size()));
  for (uint8_t l : labels) s += static_cast<char>(l);
  return s;
}

std::string Gzip(const std::string& raw) {
  z_stream z{};
  EXPECT_EQ(deflateInit2(&z, 6, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY), Z_OK);
  std::string out(deflateBound(&z, raw.size()) + 64, '\0');
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(raw.data()));
  z.avail_in = static_cast<uInt>(raw.size());
  z.next_out = reinterpret_cast<Bytef*>(out.data());
  z.avail_out = static_cast<uInt>(out.size());
  EXPECT_EQ(deflate(&z, Z_FINISH), Z_STREAM_END);
  out.resize(z.total_out);
  deflateEnd(&z);
  return out;
}

// Expects an Error of code kIo whose message contains every part.
template <class F>
void ExpectIoError(const F& fn, const std::vector<std::string>& parts) {
  try {
    fn();
    ADD_FAILURE() << "no error; expected: " << parts[0];
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kIo) << e.what();
    for (const std::string& p : parts) {
      EXPECT_NE(std::string(e.what()).find(p), std::string::npos)
          << e.what() << "\n  missing: " << p;
    }
  }
}

class TempDir {
 public:
  TempDir()
      : path_(std::filesystem::temp_directory_path() /
              ("propel_data_test_" + std::to_string(::getpid()))) {
    std::filesystem::create_directories(path_);
  }
  ~TempDir() { std::filesystem::remove_all(path_); }
  std::string Write(const std::string& name, const std::string& bytes) const {
    const std::string p = (path_ / name).string();
    std::ofstream(p, std::ios::binary) << bytes;
    return p;
  }

 private:
  std::filesystem::path path_;
};

// ------------------------------------------------------------------------------------- IDX

TEST(Idx, RawAndGzipRoundTrip) {
  const std::string images = IdxImages(3, 2, 2, 250), labels = IdxLabels({7, 0, 3});
  for (bool gz : {false, true}) {
    SCOPED_TRACE(gz ? "gzip" : "raw");
    const Dataset d = parse_idx(gz ? Gzip(images) : images, gz ? Gzip(labels) : labels, "mem");
    EXPECT_EQ(d.rows, 3);
    EXPECT_EQ(d.features, 4);
    EXPECT_EQ(d.classes, 8);
    EXPECT_EQ(d.labels, (std::vector<int32_t>{7, 0, 3}));
    ASSERT_EQ(d.x.size(), 12u);
    for (size_t i = 0; i < 12; ++i) EXPECT_FLOAT_EQ(d.x[i], ((250 + i) % 256) / 255.0f) << i;
  }
}

TEST(Idx, LoadsFiles) {
  TempDir dir;
  const std::string img = dir.Write("img.gz", Gzip(IdxImages(5, 3, 4)));
  const std::string lab = dir.Write("lab", IdxLabels({1, 2, 3, 4, 5}));
  const Dataset d = load_idx(img, lab);
  EXPECT_EQ(d.rows, 5);
  EXPECT_EQ(d.features, 12);
  EXPECT_EQ(d.classes, 6);
  ExpectIoError([&] { load_idx(img, dir.Write("missing_dir_marker", "") + ".nope"); },
                {".nope: no such file"});
}

TEST(Idx, MalformedFilesNameTheProblem) {
  const std::string labels = IdxLabels({1, 2});
  auto images = [&](const std::string& bytes) { parse_idx(bytes, labels, "f"); };
  ExpectIoError([&] { images(""); }, {"f (images): is 0 bytes long", "0x00000803"});
  ExpectIoError([&] { images(std::string("\0\0", 2)); }, {"shorter than the 4-byte IDX magic"});
  ExpectIoError([&] { images("GIF89a...."); },
                {"magic number 0x47494638 is not an IDX file's (expected 0x00000803 for images)"});
  ExpectIoError(
      [&] {
        images(IdxLabels({1, 2}));
      },
      {"has 1 dimensions (magic 0x00000801), expected 3 for images"});
  ExpectIoError([&] { images(Be32(0x00000D03) + Be32(2) + Be32(1) + Be32(1)); },
                {"data type 0xd (float32) is not supported: expected 0x08"});
  ExpectIoError([&] { images(Be32(0x00000803) + Be32(2) + Be32(1)); },
                {"truncated in its header: 12 bytes", "takes 16"});
  ExpectIoError([&] { images(Be32(0x00000803) + Be32(2) + Be32(0) + Be32(3)); },
                {"dimension 1 (byte 8) is 0"});
  std::string shorter = IdxImages(2, 2, 2);
  shorter.pop_back();
  ExpectIoError(
      [&] { images(shorter); },
      {"is truncated: the header promises 8 bytes of images after byte 16", "ends after 7"});
  ExpectIoError([&] { images(IdxImages(2, 2, 2) + "x"); },
                {"has data past the end of its images at byte 24"});
  ExpectIoError([&] { parse_idx(IdxImages(3, 2, 2), labels, "f"); },
                {"f (labels): holds 2 labels, but f (images) holds 3 images"});
  ExpectIoError([&] { parse_idx(IdxImages(2, 2, 2), IdxImages(2, 2, 2), "f"); },
                {"f (labels): has 3 dimensions", "expected 1 for labels"});
}

TEST(Idx, MalformedGzip) {
  const std::string labels = IdxLabels({1, 2});
  const std::string gz = Gzip(IdxImages(2, 16, 16));
  ExpectIoError([&] { parse_idx(gz.substr(0, gz.size() / 2), labels, "f"); },
                {"f (images): the gzip stream is truncated"});
  std::string corrupt = gz;
  corrupt[2] = 7;  // compression method: not deflate
  ExpectIoError([&] { parse_idx(corrupt, labels, "f"); },
                {"f (images): corrupt gzip data (unknown compression method)"});
  std::string flipped = gz;  // the CRC at the end no longer matches
  flipped[flipped.size() - 6] = static_cast<char>(flipped[flipped.size() - 6] ^ 0x55);
  ExpectIoError([&] { parse_idx(flipped, labels, "f"); }, {"f (images): corrupt gzip data"});
  // Decompressed too short / too long.
  std::string shorter = IdxImages(2, 16, 16);
  shorter.pop_back();
  ExpectIoError([&] { parse_idx(Gzip(shorter), labels, "f"); },
                {"is truncated", "of the decompressed data"});
  ExpectIoError([&] { parse_idx(Gzip(IdxImages(2, 16, 16) + "zz"), labels, "f"); },
                {"has data past the end of its images at byte 528 of the decompressed data"});
}

TEST(Idx, HeaderCannotClaimMoreThanTheLimit) {
  const std::string lying = Be32(0x00000803) + Be32(60000) + Be32(60000) + Be32(60000);
  ExpectIoError([&] { detail::ParseIdx(lying, IdxLabels({1}), "i", "l", 1 << 20); },
                {"i: dimensions claim more than 1048576 bytes"});
  ExpectIoError([&] { detail::ParseIdx(Gzip(lying), IdxLabels({1}), "i", "l", 1 << 20); },
                {"i: dimensions claim more than 1048576 bytes"});
}

// ------------------------------------------------------------------------------------- CSV

TEST(Csv, NumbersWithAndWithoutHeader) {
  const Dataset a = parse_csv("1,2,0\n3.5,-4e1,2\n", {}, "a.csv");
  EXPECT_EQ(a.rows, 2);
  EXPECT_EQ(a.features, 2);
  EXPECT_EQ(a.x, (std::vector<float>{1, 2, 3.5f, -40}));
  EXPECT_EQ(a.labels, (std::vector<int32_t>{0, 2}));
  EXPECT_EQ(a.classes, 3);

  CsvOptions by_name;
  by_name.label_column = "kind";
  const Dataset b =
      parse_csv("\"kind\", width , height\r\n1, 0.5, 2\r\n\r\n0, +1.5, 3\r\n", by_name, "b.csv");
  EXPECT_EQ(b.rows, 2);
  EXPECT_EQ(b.x, (std::vector<float>{0.5f, 2, 1.5f, 3}));
  EXPECT_EQ(b.labels, (std::vector<int32_t>{1, 0}));

  CsvOptions targets;
  targets.classes = false;
  targets.label_index = 0;
  targets.delimiter = ';';
  const Dataset c = parse_csv("0.25;1;2\n-3;4;5\n", targets, "c.csv");
  EXPECT_TRUE(c.labels.empty());
  EXPECT_EQ(c.targets, (std::vector<float>{0.25f, -3}));
  EXPECT_EQ(c.target_cols, 1);
  EXPECT_EQ(c.x, (std::vector<float>{1, 2, 4, 5}));
  const DataView v = c.view(1, 1);
  EXPECT_EQ(v.rows, 1);
  EXPECT_EQ(v.x[0], 4.0f);
  EXPECT_EQ(v.targets[0], -3.0f);
  EXPECT_THROW(c.view(1, 2), Error);
}

TEST(Csv, LoadsTheDigitsFile) {
  const Dataset d = load_csv(std::string(PROPEL_TEST_DATA_DIR) + "/digits.csv");
  EXPECT_EQ(d.rows, 1797);
  EXPECT_EQ(d.features, 64);
  EXPECT_EQ(d.classes, 10);
}

TEST(Csv, MalformedFilesNameTheProblem) {
  auto parse = [](const std::string& text, CsvOptions o = {}) { parse_csv(text, o, "d.csv"); };
  ExpectIoError([&] { parse(""); }, {"d.csv: is empty"});
  ExpectIoError([&] { parse("\n \n"); }, {"d.csv: is empty"});
  ExpectIoError([&] { parse("a,b,label\n"); }, {"has a header but no data rows"});
  ExpectIoError([&] { parse("1,2,3\n4,5\n"); }, {"line 2 has 2 cells, expected 3 (as line 1)"});
  ExpectIoError([&] { parse("1,2,3\n4,,6\n"); }, {"line 2, column 2: empty cell"});
  ExpectIoError([&] { parse("1,2,3\n4,abc,6\n"); }, {"line 2, column 2: 'abc' is not a number"});
  ExpectIoError([&] { parse("1,2,3\n\n4,5x,6\n"); }, {"line 3, column 2: '5x' is not a number"});
  ExpectIoError([&] { parse("1,2,3\n4,nan,6\n"); }, {"line 2, column 2: nan is not a finite"});
  ExpectIoError([&] { parse("1,2,3\n4,inf,6\n"); }, {"line 2, column 2: inf is not a finite"});
  ExpectIoError([&] { parse("1,2,3\n4,1e39,6\n"); }, {"1e39 is not a finite float"});
  ExpectIoError([&] { parse("1,2,3\n4,5,2.5\n"); },
                {"line 2, column 3: label 2.5 is not a class number"});
  ExpectIoError([&] { parse("1,2,-1\n"); }, {"line 1, column 3: label -1 is not a class"});
  ExpectIoError([&] { parse("7\n8\n"); }, {"has 1 column"});
  CsvOptions name;
  name.label_column = "y";
  ExpectIoError([&] { parse("1,2\n", name); }, {"has no header line, so no column is named 'y'"});
  ExpectIoError([&] { parse("a,b\n1,2\n", name); }, {"no column named 'y' (columns: a, b)"});
  CsvOptions index;
  index.label_index = 5;
  ExpectIoError([&] { parse("1,2\n", index); },
                {"label column 5 does not exist: the rows have 2 columns"});
  CsvOptions no_header;
  no_header.header = CsvOptions::Header::kNo;
  ExpectIoError([&] { parse("a,b\n1,2\n", no_header); }, {"line 1, column 1: 'a' is not a number"});
  ExpectIoError([&] { load_csv("/nonexistent/propel.csv"); },
                {"/nonexistent/propel.csv: no such file"});
}

// --------------------------------------------------------------------------- normalization

TEST(Normalization, StandardizeWithTrainingStatistics) {
  Dataset train = parse_csv("1,10,5,0\n3,10,7,1\n5,10,9,0\n", {}, "t");
  Dataset test = parse_csv("7,10,5,1\n", {}, "v");
  const Standardizer s = Standardizer::fit(train);
  EXPECT_FLOAT_EQ(s.mean[0], 3.0f);
  EXPECT_FLOAT_EQ(s.inv_std[1], 1.0f);  // constant feature
  s.apply(train);
  s.apply(test);
  const float sd0 = std::sqrt(8.0f / 3.0f);
  EXPECT_FLOAT_EQ(train.x[0], -2.0f / sd0);
  EXPECT_FLOAT_EQ(train.x[1], 0.0f);
  EXPECT_FLOAT_EQ(test.x[0], 4.0f / sd0);  // the training mean and spread, not the test's
  double mean = 0;
  for (int i = 0; i < 3; ++i) mean += train.x[static_cast<size_t>(i) * 3 + 2];
  EXPECT_NEAR(mean, 0.0, 1e-6);
  Dataset other = parse_csv("1,2\n", {}, "o");
  EXPECT_THROW(s.apply(other), Error);
  scale_features(other, 0.5f);
  EXPECT_EQ(other.x[0], 0.5f);
  EXPECT_THROW(scale_features(other, NAN), Error);
}

// ----------------------------------------------------------------- CSV encodings, odd bytes

TEST(Csv, ByteOrderMarkAndLoneCarriageReturns) {
  // A BOM does not make the first (numeric) line a header; CR-only, CR LF and LF all end lines.
  const Dataset bom = parse_csv(
      "\xEF\xBB\xBF"
      "1,2,0\n3,4,1\n",
      {}, "bom.csv");
  EXPECT_EQ(bom.rows, 2);
  EXPECT_EQ(bom.x[0], 1.0f);
  const Dataset cr = parse_csv("1,2,0\r3,4,1\r5,6,1\r", {}, "cr.csv");
  EXPECT_EQ(cr.rows, 3);
  const Dataset mixed = parse_csv("a,b,y\r\n1,2,0\n3,4,1\r5,6,1", {}, "mixed.csv");
  EXPECT_EQ(mixed.rows, 3);
  EXPECT_EQ(mixed.labels, (std::vector<int32_t>{0, 1, 1}));
  try {
    (void)parse_csv(std::string("1,2,0\n3,\x01\0x,1\n", 14), {}, "bin.csv");
    ADD_FAILURE() << "parsed";
  } catch (const Error& e) {
    EXPECT_EQ(std::string(e.what()), "bin.csv: line 2, column 2: '\\x01\\x00x' is not a number");
  }
}

// ------------------------------------------------------------------ splits and binary tasks

Dataset Numbered(int64_t rows, int classes) {
  Dataset d;
  d.features = 2;
  d.classes = classes;
  for (int64_t i = 0; i < rows; ++i) {
    d.x.push_back(static_cast<float>(i));
    d.x.push_back(static_cast<float>(-i));
    d.labels.push_back(static_cast<int32_t>(i % classes));
    ++d.rows;
  }
  return d;
}

std::vector<float> FirstFeature(const Dataset& d) {
  std::vector<float> v;
  for (int64_t i = 0; i < d.rows; ++i) v.push_back(d.x[static_cast<size_t>(i * d.features)]);
  return v;
}

TEST(Split, EveryAndCountKeepOrderAndAgreeOnMultiples) {
  Dataset a = Numbered(20, 3), b = Numbered(20, 3);
  const Dataset every = split_every(a, 5);
  const Dataset count = split_count(b, 4);
  EXPECT_EQ(FirstFeature(every), (std::vector<float>{4, 9, 14, 19}));
  EXPECT_EQ(FirstFeature(count), FirstFeature(every));
  EXPECT_EQ(FirstFeature(a), FirstFeature(b));
  EXPECT_EQ(a.rows, 16);
  EXPECT_EQ(every.labels, (std::vector<int32_t>{1, 0, 2, 1}));
  EXPECT_EQ(every.classes, 3);
  // An exact count, spread evenly: 7 of 23 rows, at least floor(23 / 7) = 3 rows apart.
  Dataset c = Numbered(23, 2);
  const Dataset seven = split_count(c, 7);
  EXPECT_EQ(seven.rows, 7);
  EXPECT_EQ(c.rows, 16);
  const std::vector<float> taken = FirstFeature(seven);
  for (size_t i = 1; i < taken.size(); ++i) EXPECT_GE(taken[i] - taken[i - 1], 3.0f);
  Dataset d = Numbered(5, 2);
  EXPECT_EQ(split_count(d, 0).rows, 0);
  EXPECT_EQ(split_count(d, 5).rows, 5);
  EXPECT_EQ(d.rows, 0);
  Dataset e = Numbered(5, 2);
  EXPECT_THROW(split_count(e, 6), Error);
  EXPECT_THROW(split_count(e, -1), Error);
  EXPECT_THROW(split_every(e, 0), Error);
}

TEST(BinaryTask, SelectsTwoClassesAsTargets) {
  const Dataset d = Numbered(12, 4);
  const Dataset b = binary_task(d, 1, 3);
  EXPECT_EQ(FirstFeature(b), (std::vector<float>{1, 3, 5, 7, 9, 11}));
  EXPECT_EQ(b.targets, (std::vector<float>{0, 1, 0, 1, 0, 1}));
  EXPECT_EQ(b.target_cols, 1);
  EXPECT_TRUE(b.labels.empty());
  EXPECT_THROW(binary_task(d, 2, 2), Error);
  EXPECT_THROW(binary_task(d, -1, 2), Error);
  try {
    (void)binary_task(d, 0, 9);
    ADD_FAILURE() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("the set's classes are 0 to 3"), std::string::npos)
        << e.what();
  }
  const Dataset real = parse_csv("1,2,0.5\n", {.classes = false}, "r");
  EXPECT_THROW(binary_task(real, 0, 1), Error);
}

TEST(Normalization, FoldingIntoTheFirstLayerGivesTheSameOutputs) {
  Dataset raw = parse_csv("1,100,5,0\n3,140,7,1\n5,90,9,0\n2,120,4,1\n", {}, "t");
  const Standardizer s = Standardizer::fit(raw);
  Dataset standardized = raw;
  s.apply(standardized);
  ModelSpec spec;
  spec.inputs = 3;
  spec.hidden = {{5, Activation::kTanh}};
  spec.outputs = 2;
  spec.head = Head::kMulticlass;
  Model model(spec, 11);
  const std::vector<float> trained(model.parameters(),
                                   model.parameters() + model.parameter_count());
  std::vector<float> want(8), got(8);
  model.predict(4, standardized.x.data(), 3, want.data(), 2);
  s.fold(model);
  model.predict(4, raw.x.data(), 3, got.data(), 2);
  for (size_t i = 0; i < want.size(); ++i) EXPECT_NEAR(got[i], want[i], 1e-5f) << i;
  s.unfold(model);
  for (int64_t i = 0; i < model.parameter_count(); ++i) {
    const float w = trained[static_cast<size_t>(i)];
    EXPECT_NEAR(model.parameters()[i], w, 1e-5f * (1.0f + std::fabs(w))) << i;
  }
  const Standardizer wrong = Standardizer::fit(parse_csv("1,2\n", {}, "o"));
  EXPECT_THROW(wrong.fold(model), Error);
}

}  // namespace
}  // namespace propel
