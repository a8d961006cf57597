#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "clipzs/util/error.hpp"
#include "clipzs/util/files.hpp"
#include "clipzs/store/inputs.hpp"
#include "clipzs/store/npy.hpp"
#include "clipzs/store/store.hpp"
#include "../test_support.hpp"

namespace fs = std::filesystem;
using namespace clipzs;
using nlohmann::json;

namespace {

std::vector<json> records(int64_t begin, int64_t n) {
  std::vector<json> out;
  for (int64_t i = begin; i < begin + n; ++i) out.push_back({{"index", i}, {"path", "p" + std::to_string(i)}, {"status", "ok"}});
  return out;
}

std::vector<float> rows(int64_t begin, int64_t n, int64_t dim) {
  std::vector<float> out;
  for (int64_t i = begin; i < begin + n; ++i)
    for (int64_t j = 0; j < dim; ++j) out.push_back(static_cast<float>(i) + 0.25f * static_cast<float>(j));
  return out;
}

const json kIdentity = {{"kind", "test"}, {"bundle_sha256", "abc"}};
}  // namespace

TEST(Store, CompleteStoreReadsBackWithManifestLast) {
  fs::path dir = clipzs::test_support::fresh_temp_dir("store") / "s";
  {
    StoreWriter w = StoreWriter::open(dir.string(), kIdentity, 5, 3, StoreDType::kFloat32, {});
    EXPECT_FALSE(fs::exists(dir / "manifest.json"));
    w.append(rows(0, 2, 3).data(), records(0, 2));
    w.append(rows(2, 3, 3).data(), records(2, 3));
    EXPECT_FALSE(fs::exists(dir / "manifest.json"));
    w.finish({{"kind", "test"}});
  }
  Store s = read_store(dir.string());
  EXPECT_EQ(s.rows, 5);
  EXPECT_EQ(s.dim, 3);
  EXPECT_EQ(s.embeddings, rows(0, 5, 3));
  EXPECT_EQ(s.records[4]["path"], "p4");
  EXPECT_FALSE(fs::exists(dir / "run.json"));
  EXPECT_FALSE(fs::exists(dir / "embeddings.npy.partial"));
  // numpy-compatible header
  NpyArray a = read_npy((dir / "embeddings.npy").string());
  EXPECT_EQ(a.shape, (std::vector<int64_t>{5, 3}));
}

TEST(Store, ResumeAfterTornWriteKeepsOnlyRowsPresentInBothFiles) {
  fs::path dir = clipzs::test_support::fresh_temp_dir("resume") / "s";
  {
    StoreWriter w = StoreWriter::open(dir.string(), kIdentity, 6, 2, StoreDType::kFloat16, {});
    w.append(rows(0, 2, 2).data(), records(0, 2));
    w.flush();
  }
  // Simulate kill -9 between the data and the row write of the next batch, with a torn line.
  {
    std::ofstream data(dir / "embeddings.npy.partial", std::ios::app | std::ios::binary);
    std::vector<uint16_t> extra(4, 0x3c00);
    data.write(reinterpret_cast<const char*>(extra.data()), 8);
    std::ofstream lines(dir / "rows.partial.jsonl", std::ios::app);
    lines << "{\"index\": 2, \"pa";
  }
  EXPECT_THROW(read_store(dir.string()), Error);  // not complete
  try {
    StoreWriter::open(dir.string(), kIdentity, 6, 2, StoreDType::kFloat16, {});
    FAIL() << "an unfinished run must not be overwritten silently";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kOutput);
    EXPECT_NE(e.marked_hint().find(param("resume")), std::string::npos);  // the CLI shows it as --resume
  }
  StoreWriter w = StoreWriter::open(dir.string(), kIdentity, 6, 2, StoreDType::kFloat16, {true, false});
  EXPECT_EQ(w.rows_done(), 2);
  w.append(rows(2, 4, 2).data(), records(2, 4));
  w.finish({});
  Store s = read_store(dir.string());
  ASSERT_EQ(s.rows, 6);
  for (int64_t i = 0; i < 6; ++i) EXPECT_EQ(s.records[i]["index"], i);
  EXPECT_FLOAT_EQ(s.embeddings[2 * 3 + 1], 3.25f);
}

TEST(Store, Bfloat16RowsAreRefusedBeforeAnythingIsWritten) {
  const fs::path dir = clipzs::test_support::fresh_temp_dir("bf16");
  try {
    StoreWriter::open((dir / "s").string(), kIdentity, 2, 3, StoreDType::kBFloat16, {});
    FAIL() << "a bf16 store was opened";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kUsage);
  }
  EXPECT_FALSE(fs::exists(dir / "s"));
  EXPECT_STREQ(npy_descr(DType::kBFloat16), nullptr);
  EXPECT_EQ(dtype_of_npy("<f2"), DType::kFloat16);
  EXPECT_EQ(dtype_of_npy("<f4"), DType::kFloat32);
  EXPECT_FALSE(dtype_of_npy("<f8").has_value());
  EXPECT_STREQ(store_dtype_name(parse_store_dtype("fp16")), "float16");
}

TEST(Store, ResumeWithAnotherIdentityIsRefused) {
  fs::path dir = clipzs::test_support::fresh_temp_dir("identity") / "s";
  { StoreWriter::open(dir.string(), kIdentity, 4, 2, StoreDType::kFloat32, {}); }
  json other = kIdentity;
  other["bundle_sha256"] = "def";
  try {
    StoreWriter::open(dir.string(), other, 4, 2, StoreDType::kFloat32, {true, false});
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kOutput);
    EXPECT_NE(std::string(e.what()).find("bundle_sha256"), std::string::npos) << e.what();
  }
}

TEST(Store, CompleteStoreIsNotOverwrittenWithoutFlag) {
  fs::path dir = clipzs::test_support::fresh_temp_dir("complete") / "s";
  {
    StoreWriter w = StoreWriter::open(dir.string(), kIdentity, 1, 2, StoreDType::kFloat32, {});
    w.append(rows(0, 1, 2).data(), records(0, 1));
    w.finish({});
  }
  EXPECT_THROW(StoreWriter::open(dir.string(), kIdentity, 1, 2, StoreDType::kFloat32, {}), Error);
  EXPECT_NO_THROW(StoreWriter::open(dir.string(), kIdentity, 1, 2, StoreDType::kFloat32, {false, true}));
}

TEST(Store, DamagedDataFailsVerification) {
  fs::path dir = clipzs::test_support::fresh_temp_dir("damaged") / "s";
  {
    StoreWriter w = StoreWriter::open(dir.string(), kIdentity, 2, 2, StoreDType::kFloat32, {});
    w.append(rows(0, 2, 2).data(), records(0, 2));
    w.finish({});
  }
  {
    std::fstream f(dir / "embeddings.npy", std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(-1, std::ios::end);
    f.put('\x7f');
  }
  try {
    read_store(dir.string());
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("embeddings.npy"), std::string::npos);
  }
}

TEST(Inputs, FolderWithClassSubfoldersGivesLabelsInSortedOrder) {
  fs::path dir = clipzs::test_support::fresh_temp_dir("inputs");
  for (const char* f : {"cat/b.jpg", "cat/a.PNG", "dog/c.jpeg", "dog/notes.txt"}) {
    fs::create_directories((dir / f).parent_path());
    std::ofstream(dir / f) << "x";
  }
  auto items = list_image_inputs(dir.string());
  ASSERT_EQ(items.size(), 3u);
  EXPECT_EQ(fs::path(items[0].path).filename(), "a.PNG");
  EXPECT_EQ(items[0].label, "cat");
  EXPECT_EQ(items[2].label, "dog");
}

TEST(Inputs, CsvWithQuotesAndRelativePaths) {
  fs::path dir = clipzs::test_support::fresh_temp_dir("csv");
  std::ofstream(dir / "list.csv") << "label,path\n\"tabby, cat\",img/a.jpg\ndog,/abs/b.jpg\n";
  auto items = list_image_inputs((dir / "list.csv").string());
  ASSERT_EQ(items.size(), 2u);
  EXPECT_EQ(items[0].label, "tabby, cat");
  EXPECT_EQ(items[0].path, (dir / "img/a.jpg").string());
  EXPECT_EQ(items[1].path, "/abs/b.jpg");
}

TEST(Inputs, CsvWithoutPathColumnNamesFileAndRow) {
  fs::path dir = clipzs::test_support::fresh_temp_dir("csvbad");
  std::ofstream(dir / "bad.csv") << "file_name,label\na.jpg,x\n";
  std::ofstream(dir / "bad2.csv") << "path,label\na.jpg,x\n,y\n";
  EXPECT_THROW(list_image_inputs((dir / "bad.csv").string()), Error);  // no path-like column
  try {
    list_image_inputs((dir / "bad2.csv").string());
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("bad2.csv:3"), std::string::npos) << e.what();
  }
}

TEST(Inputs, MissingInputIsAnInputError) {
  try {
    list_image_inputs("/nonexistent/clipzs/folder");
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kInput);
  }
}
