// Inputs the fuzzers (fuzz/, docs/fuzzing-results.md) found crashing, replayed through the same parser
// calls as the harness that found them: every file in fuzz/regressions/<target>/ must either parse or
// throw clipzs::Error. Files named pending-* document bugs whose fix is not in yet; they are skipped.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <functional>
#include <sstream>
#include <string>
#include <vector>

#include "clipzs/store/bundle.hpp"
#include "clipzs/store/dataset.hpp"
#include "clipzs/util/error.hpp"
#include "clipzs/store/inputs.hpp"
#include "clipzs/store/npy.hpp"
#include "clipzs/store/pairs.hpp"
#include "clipzs/store/store.hpp"
#include "clipzs/text/tokenizer.hpp"
#include "../test_support.hpp"

namespace fs = std::filesystem;
using namespace clipzs;

namespace {

const fs::path kRegressions = fs::path(CLIPZS_SOURCE_DIR) / "fuzz" / "regressions";
const std::string kSeparator = "\n=====\n";  // fuzz/fuzz_common.hpp

std::string slurp(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

void put(const fs::path& path, const std::string& bytes) { std::ofstream(path, std::ios::binary) << bytes; }

std::vector<std::string> split_parts(std::string input, size_t max_parts) {
  std::vector<std::string> parts;
  for (size_t at; parts.size() + 1 < max_parts && (at = input.find(kSeparator)) != std::string::npos;) {
    parts.push_back(input.substr(0, at));
    input.erase(0, at + kSeparator.size());
  }
  parts.push_back(input);
  return parts;
}

// Runs `parse` on every regression input of `target` (in a fresh folder `dir`); anything but success or
// clipzs::Error fails the test, naming the file. A target without a regressions folder has none.
void replay(const std::string& target, const std::function<void(const std::string&, const fs::path&)>& parse) {
  const fs::path folder = kRegressions / target;
  if (!fs::is_directory(folder)) return;
  std::vector<fs::path> files;
  for (const auto& e : fs::directory_iterator(folder))
    if (e.is_regular_file() && e.path().extension() != ".patch" && e.path().extension() != ".md") files.push_back(e.path());
  std::sort(files.begin(), files.end());
  for (const auto& file : files) {
    if (file.filename().string().rfind("pending-", 0) == 0) {
      std::cout << "[ SKIPPED  ] " << file.filename() << " (pending fix)\n";
      continue;
    }
    const fs::path dir = test_support::fresh_temp_dir("fuzzreg_" + target);
    try {
      parse(slurp(file), dir);
    } catch (const Error&) {
    } catch (const std::exception& e) {
      ADD_FAILURE() << file << ": " << e.what();
    }
    fs::remove_all(dir);
  }
}

}  // namespace

TEST(FuzzRegressions, Npy) {
  replay("fuzz_npy", [](const std::string& bytes, const fs::path& dir) {
    put(dir / "a.npy", bytes);
    read_npy((dir / "a.npy").string()).to_float();
  });
}

// Found by review next to the fuzzing (the fuzzer's inputs are at most a few KiB): std::regex recursed
// once per header character, and a valid version-1 header of 60,000 bytes overflowed the stack.
TEST(FuzzRegressions, NpyLongHeaderDoesNotOverflowTheStack) {
  const fs::path dir = test_support::fresh_temp_dir("fuzzreg_npy_long");
  std::string dict = "{'descr': '<f4', 'fortran_order': False, 'shape': (" + std::string(60000, ' ') + "2,), }\n";
  std::string file("\x93NUMPY\x01\x00", 8);
  file += static_cast<char>(dict.size() & 0xff);
  file += static_cast<char>(dict.size() >> 8);
  file += dict + std::string(8, '\0');
  put(dir / "long.npy", file);
  const NpyArray a = read_npy((dir / "long.npy").string());
  EXPECT_EQ(a.shape, (std::vector<int64_t>{2}));
  fs::remove_all(dir);
}

TEST(FuzzRegressions, BundleJson) {
  replay("fuzz_bundle_json", [](const std::string& bytes, const fs::path& dir) {
    put(dir / "bundle.json", bytes);
    for (const char* name : {"image_encoder.pt", "text_encoder.pt"}) put(dir / name, "stand-in\n");
    fs::copy_file(fs::path(CLIPZS_SOURCE_DIR) / "tests/fixtures/bundles/tiny-vit/tiny_merges.txt", dir / "tiny_merges.txt");
    load_bundle_tokenizer(load_bundle_info(dir.string(), /*verify_hashes=*/false));
  });
}

TEST(FuzzRegressions, CoopSplit) {
  replay("fuzz_coop_split", [](const std::string& bytes, const fs::path& dir) {
    put(dir / "split.json", bytes);
    const std::string path = (dir / "split.json").string();
    for (const char* split : {"train", "val", "test"}) {
      try {
        list_coop_split(path, split, "/data/images");
      } catch (const Error&) {
      }
    }
    coop_classnames(path);
  });
}

TEST(FuzzRegressions, TokenizerVocab) {
  replay("fuzz_tokenizer_vocab", [](const std::string& bytes, const fs::path& dir) {
    const auto parts = split_parts(bytes, 2);
    put(dir / "merges.txt", parts.back());
    if (parts.size() == 1) {
      ClipTokenizer::from_merges_file((dir / "merges.txt").string()).encode("a photo");
    } else {
      put(dir / "vocab.json", parts[0]);
      ClipTokenizer::from_hf_files((dir / "vocab.json").string(), (dir / "merges.txt").string()).encode("a photo");
    }
  });
}

TEST(FuzzRegressions, Store) {
  replay("fuzz_store", [](const std::string& bytes, const fs::path& dir) {
    const auto parts = split_parts(bytes, 3);
    const char* names[] = {"manifest.json", "rows.jsonl", "embeddings.npy"};
    for (size_t i = 0; i < parts.size(); ++i) put(dir / names[i], parts[i]);
    read_store(dir.string(), /*verify=*/true, /*as_float=*/true);
  });
}

TEST(FuzzRegressions, PairsAndCsv) {
  replay("fuzz_jsonl_pairs", [](const std::string& bytes, const fs::path& dir) {
    put(dir / "pairs.jsonl", bytes);
    list_pair_inputs((dir / "pairs.jsonl").string());
  });
  replay("fuzz_tar_shard", [](const std::string& bytes, const fs::path& dir) {
    put(dir / "shard.tar", bytes);
    for (const auto& p : list_pair_inputs((dir / "shard.tar").string()).pairs) read_archive_member(p.image);
  });
  replay("fuzz_csv_inputs", [](const std::string& bytes, const fs::path& dir) {
    if (bytes.empty()) return;
    const int mode = static_cast<unsigned char>(bytes[0]) % 4;
    const fs::path file = dir / (mode == 0 ? "list.csv" : mode == 1 ? "list.txt" : mode == 2 ? "pairs.csv" : "pairs.tsv");
    put(file, bytes.substr(1));
    if (mode < 2) list_image_inputs(file.string());
    else list_pair_inputs(file.string());
  });
}
