// Shared pieces of the clipzs libFuzzer harnesses.
//
// The parsers take paths, so each harness writes the input bytes to files in a scratch folder and
// calls the real API. clipzs::Error is the documented failure mode and is swallowed; any other
// exception escapes LLVMFuzzerTestOneInput and aborts (std::terminate), which libFuzzer reports as a
// crash, as are ASan/UBSan findings.
#pragma once

#include <stdlib.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include "clipzs/util/error.hpp"

namespace clipzs_fuzz {

// A per-process folder under $CLIPZS_FUZZ_TMPDIR (default /dev/shm: no disk I/O per execution),
// removed at normal exit. scripts/fuzz.sh points the variable at a folder it deletes afterwards, so
// folders left by a crashing process go too.
inline const std::string& scratch_dir() {
  static const std::string dir = [] {
    const char* base = std::getenv("CLIPZS_FUZZ_TMPDIR");
    std::string pattern = std::string(base && *base ? base : "/dev/shm") + "/clipzs-fuzz-XXXXXX";
    if (::mkdtemp(pattern.data()) == nullptr) {
      std::perror("clipzs fuzz: mkdtemp");
      std::abort();
    }
    static std::string remove_me = pattern;
    std::atexit([] {
      std::error_code ec;
      std::filesystem::remove_all(remove_me, ec);
    });
    return pattern;
  }();
  return dir;
}

// Writes `bytes` to scratch_dir()/name and returns the path. A harness bug (not an input problem)
// if it fails, hence abort.
inline std::string put_file(const std::string& name, std::string_view bytes) {
  const std::string path = scratch_dir() + "/" + name;
  FILE* f = std::fopen(path.c_str(), "wb");
  if (f == nullptr || std::fwrite(bytes.data(), 1, bytes.size(), f) != bytes.size() || std::fclose(f) != 0) {
    std::perror(("clipzs fuzz: write " + path).c_str());
    std::abort();
  }
  return path;
}

// Splits an input into up to `max_parts` parts at kSeparator (a line of its own), so that one fuzz
// input can carry several files (e.g. manifest.json + rows.jsonl + embeddings.npy). The last part
// takes the rest. The separator is in the targets' dictionaries.
constexpr std::string_view kSeparator = "\n=====\n";
inline std::vector<std::string_view> split_parts(std::string_view input, size_t max_parts) {
  std::vector<std::string_view> parts;
  while (parts.size() + 1 < max_parts) {
    const size_t at = input.find(kSeparator);
    if (at == std::string_view::npos) break;
    parts.push_back(input.substr(0, at));
    input.remove_prefix(at + kSeparator.size());
  }
  parts.push_back(input);
  return parts;
}

// Runs `body`, swallowing clipzs::Error only. With CLIPZS_FUZZ_VERBOSE set, says what each input
// gave (to check that the valid seeds are accepted: `CLIPZS_FUZZ_VERBOSE=1 fuzz_x fuzz/corpus/fuzz_x/*`).
template <typename F>
void expect_clipzs_errors_only(F&& body) {
  static const bool verbose = std::getenv("CLIPZS_FUZZ_VERBOSE") != nullptr;
  try {
    body();
    if (verbose) std::fprintf(stderr, "accepted\n");
  } catch (const clipzs::Error& e) {
    if (verbose) std::fprintf(stderr, "clipzs::Error: %s\n", e.what());
  }
}

inline std::string_view as_view(const uint8_t* data, size_t size) {
  return {reinterpret_cast<const char*>(data), size};
}

}  // namespace clipzs_fuzz
