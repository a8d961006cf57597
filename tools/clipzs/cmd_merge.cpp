// `clipzs merge SHARD... --out STORE`: the shards of one `embed images --shard i/N` run, as one store.
#include <spdlog/spdlog.h>

#include "clipzs/store.hpp"
#include "command.hpp"

namespace clipzs::cli {

void register_merge(CLI::App& app, Action& action) {
  static std::vector<std::string> shards;
  static std::string out;
  static bool overwrite = false;
  CLI::App* merge = app.add_subcommand("merge", "Merge the shard stores of one `embed images --shard i/N` run");
  merge->add_option("shards", shards, "Shard store folders (any order; all N of them)")->required();
  merge->add_option("--out", out, "Merged store folder")->required();
  merge->add_flag("--overwrite", overwrite, "Replace an existing store in --out");
  merge->callback([&action] {
    action = [] {
      const nlohmann::json manifest = merge_stores(shards, out, OpenMode{false, overwrite});
      spdlog::info("merged {} shards into {} ({} rows)", shards.size(), out, manifest.value("rows", 0));
      print_summary({{"command", "merge"}, {"store", out}, {"shards", shards.size()}, {"rows", manifest["rows"]},
                     {"ok", manifest["ok_rows"]}, {"errors", manifest["error_rows"]}});
    };
  });
}

}  // namespace clipzs::cli
