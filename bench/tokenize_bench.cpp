// Tokenizer throughput on one thread: the 1000 ImageNet class names x 80 CLIP templates (80,000 prompts)
// through ClipTokenizer::encode(), with a freshly loaded tokenizer (cold piece cache) and once more warm.
//
//   tokenize_bench MERGES_FILE [DATASETS_DIR]
//
// DATASETS_DIR holds CLIP_benchmark's en_classnames.json and en_zeroshot_classification_templates.json
// ("imagenet1k" keys, "{c}" placeholder); default: MERGES_FILE's folder/../datasets (the shared reference
// layout). Prints one JSON line to stdout.
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "clipzs/util/error.hpp"
#include "clipzs/text/tokenizer.hpp"

namespace fs = std::filesystem;

static nlohmann::json load_json(const fs::path& path) {
  std::ifstream in(path);
  if (!in) throw std::runtime_error("cannot open " + path.string());
  return nlohmann::json::parse(in);
}

int main(int argc, char** argv) {
  if (argc < 2) {
    std::cerr << "usage: tokenize_bench MERGES_FILE [DATASETS_DIR]\n";
    return 2;
  }
  try {
    const fs::path merges = argv[1];
    const fs::path datasets = argc > 2 ? fs::path(argv[2]) : merges.parent_path().parent_path() / "datasets";
    const auto classes = load_json(datasets / "en_classnames.json").at("imagenet1k").get<std::vector<std::string>>();
    const auto templates =
        load_json(datasets / "en_zeroshot_classification_templates.json").at("imagenet1k").get<std::vector<std::string>>();

    // Prompts are built before timing: only tokenization is measured.
    std::vector<std::string> prompts;
    prompts.reserve(classes.size() * templates.size());
    for (const auto& c : classes) {
      for (const auto& t : templates) {
        std::string p = t;
        for (std::size_t pos = p.find("{c}"); pos != std::string::npos; pos = p.find("{c}", pos + c.size())) {
          p.replace(pos, 3, c);
        }
        prompts.push_back(std::move(p));
      }
    }

    using clock = std::chrono::steady_clock;
    const auto t_load = clock::now();
    const clipzs::ClipTokenizer tok = clipzs::ClipTokenizer::from_merges_file(merges.string());
    const double load_s = std::chrono::duration<double>(clock::now() - t_load).count();

    auto run = [&] {
      std::int64_t checksum = 0;
      const auto t0 = clock::now();
      for (const auto& p : prompts) {
        const clipzs::TokenizedText row = tok.encode(p, 77);
        checksum += row.ids[1] + row.eot_position;
      }
      const double s = std::chrono::duration<double>(clock::now() - t0).count();
      return std::make_pair(s, checksum);
    };
    const auto [cold_s, checksum] = run();
    const auto [warm_s, checksum2] = run();
    (void)checksum2;

    nlohmann::json out;
    out["bench"] = "tokenize";
    out["prompts"] = prompts.size();
    out["threads"] = 1;
    out["load_s"] = load_s;
    out["cold_s"] = cold_s;
    out["prompts_per_s"] = static_cast<double>(prompts.size()) / cold_s;
    out["warm_s"] = warm_s;
    out["warm_prompts_per_s"] = static_cast<double>(prompts.size()) / warm_s;
    out["checksum"] = checksum;
    std::cout << out.dump() << std::endl;
    return 0;
  } catch (const std::exception& e) {
    std::cerr << "tokenize_bench: " << e.what() << "\n";
    return 1;
  }
}
