// `clipzs merge SHARD... --out DIR`: the shards of one `embed images|pairs --shard i/N` run, as one store
// or bank.
#include <spdlog/spdlog.h>

#include <algorithm>
#include <filesystem>

#include "clipzs/store/bank.hpp"
#include "clipzs/store/store.hpp"
#include "command.hpp"

namespace clipzs::cli {

namespace {

struct MergeCli {
  std::vector<std::string> shards;
  std::string out;
  bool overwrite = false;
  void run() const;
};

void MergeCli::run() const {
  // Banks if any shard is one, complete (bank.json) or not (images/ and captions/): an unfinished bank
  // shard is then refused as such, with the resume hint, rather than as a store without a manifest.
  namespace fs = std::filesystem;
  const bool banks = std::any_of(shards.begin(), shards.end(), [](const std::string& dir) {
    return fs::exists(fs::path(dir) / "bank.json") ||
           (fs::is_directory(fs::path(dir) / "images") && fs::is_directory(fs::path(dir) / "captions"));
  });
  if (banks) {
    const nlohmann::json info = merge_banks(shards, out, OpenMode{false, overwrite});
    spdlog::info("merged {} bank shards into {} ({} pairs)", shards.size(), out, info.value("rows", 0));
    print_summary({{"command", "merge"}, {"bank", out}, {"shards", shards.size()}, {"rows", info["rows"]},
                   {"unreadable_images", info["unreadable_images"]}});
    return;
  }
  const nlohmann::json manifest = merge_stores(shards, out, OpenMode{false, overwrite});
  spdlog::info("merged {} shards into {} ({} rows)", shards.size(), out, manifest.value("rows", 0));
  print_summary({{"command", "merge"}, {"store", out}, {"shards", shards.size()}, {"rows", manifest["rows"]},
                 {"ok", manifest["ok_rows"]}, {"errors", manifest["error_rows"]}});
}

}  // namespace

void register_merge(CLI::App& app, Action& action) {
  auto cli = std::make_shared<MergeCli>();
  CLI::App* merge = app.add_subcommand("merge", "Merge the shard stores (or banks) of one `embed images|pairs --shard i/N` run");
  merge->add_option("shards", cli->shards, "Shard store or bank folders (any order; all N of them)")->required();
  merge->add_option("--out", cli->out, "Merged store or bank folder")->required();
  merge->add_flag("--overwrite", cli->overwrite, "Replace an existing store or bank in --out");
  merge->callback([&action, cli] {
    action = [cli] { cli->run(); };
  });
}

}  // namespace clipzs::cli
