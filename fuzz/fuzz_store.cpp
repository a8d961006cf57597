// Embedding store reader (read_store): manifest.json (rows, dim, files + sha256 with verify on),
// embeddings.npy against the manifest's shape, rows.jsonl line by line. One input carries the three
// files, split at "\n=====\n": manifest.json, rows.jsonl, embeddings.npy; a missing part means a
// missing file.
#include <filesystem>

#include "clipzs/store/store.hpp"
#include "fuzz_common.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace clipzs_fuzz;
  const auto parts = split_parts(as_view(data, size), 3);
  const char* names[] = {"manifest.json", "rows.jsonl", "embeddings.npy"};
  for (size_t i = 0; i < 3; ++i) {
    if (i < parts.size()) put_file(names[i], parts[i]);
    else std::filesystem::remove(scratch_dir() + "/" + names[i]);  // no state from the previous input
  }
  expect_clipzs_errors_only([&] {
    const clipzs::Store s = clipzs::read_store(scratch_dir(), /*verify=*/true, /*as_float=*/true);
    if (static_cast<int64_t>(s.embeddings.size()) != s.rows * s.dim ||
        static_cast<int64_t>(s.records.size()) != s.rows)
      __builtin_trap();
  });
  return 0;
}
