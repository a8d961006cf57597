// Decode + CLIP-preprocess a list of images N times on one thread and print images/s as one JSON line.
// Counterpart of scripts/bench/preprocess_pil.py (PIL open + Resize + CenterCrop + convert("RGB"));
// scripts/bench/preprocess_cpu.sh runs both on the same files.
//
//   preprocess_bench [--size N] [--repeat N] [--interpolation NAME] [--normalize] IMAGE...
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "clipzs/util/error.hpp"
#include "clipzs/image/image.hpp"

namespace {

int usage(const char* argv0) {
  std::fprintf(stderr, "usage: %s [--size N] [--repeat N] [--interpolation NAME] [--normalize] IMAGE...\n", argv0);
  return 2;
}

std::string json_escape(const std::string& s) {
  std::string out;
  for (char c : s) {
    if (c == '"' || c == '\\') out += '\\';
    out += c;
  }
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  clipzs::PreprocessSpec spec;
  int repeat = 5;
  bool normalize = false;
  std::vector<std::string> paths;
  try {
    for (int i = 1; i < argc; ++i) {
      const std::string a = argv[i];
      if ((a == "--size" || a == "--repeat" || a == "--interpolation") && i + 1 < argc) {
        const std::string v = argv[++i];
        if (a == "--size") spec.size = std::atoi(v.c_str());
        if (a == "--repeat") repeat = std::atoi(v.c_str());
        if (a == "--interpolation") spec.interpolation = clipzs::parse_interpolation(v);
      } else if (a == "--normalize") {
        normalize = true;
      } else if (a == "-h" || a == "--help" || (!a.empty() && a[0] == '-')) {
        return usage(argv[0]);
      } else {
        paths.push_back(a);
      }
    }
  } catch (const clipzs::Error& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 2;
  }
  if (paths.empty() || repeat < 1 || spec.size < 1) return usage(argv[0]);

  using clock = std::chrono::steady_clock;
  std::vector<float> chw(3 * static_cast<size_t>(spec.size) * spec.size);
  uint64_t checksum = 0;  // keeps the work observable
  double decode_s = 0, preprocess_s = 0;
  try {
    // Warm-up pass: page cache, allocator, and a check that every file decodes.
    for (const auto& p : paths) checksum += clipzs::preprocess(clipzs::decode_image(p), spec).pixels[0];
    const auto start = clock::now();
    for (int r = 0; r < repeat; ++r) {
      for (const auto& p : paths) {
        const auto t0 = clock::now();
        const clipzs::DecodedImage img = clipzs::decode_image(p);
        const auto t1 = clock::now();
        const clipzs::Image8 rgb = clipzs::preprocess(img, spec);
        if (normalize) clipzs::normalize_chw(rgb, spec, chw.data());
        const auto t2 = clock::now();
        decode_s += std::chrono::duration<double>(t1 - t0).count();
        preprocess_s += std::chrono::duration<double>(t2 - t1).count();
        checksum += rgb.pixels[rgb.pixels.size() / 2];
      }
    }
    const double seconds = std::chrono::duration<double>(clock::now() - start).count();
    const size_t n = paths.size() * static_cast<size_t>(repeat);
    std::printf(
        "{\"impl\": \"clipzs\", \"size\": %d, \"interpolation\": \"%s\", \"normalize\": %s, \"images\": %zu, "
        "\"repeat\": %d, \"processed\": %zu, \"seconds\": %.4f, \"images_per_s\": %.2f, \"decode_s\": %.4f, "
        "\"preprocess_s\": %.4f, \"checksum\": %llu, \"first\": \"%s\"}\n",
        spec.size, clipzs::interpolation_name(spec.interpolation), normalize ? "true" : "false", paths.size(), repeat,
        n, seconds, n / seconds, decode_s, preprocess_s, static_cast<unsigned long long>(checksum),
        json_escape(paths.front()).c_str());
  } catch (const clipzs::Error& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
  }
  return 0;
}
