// What the `clipzs embed <kind>` subcommands share: the store flags, loading the model, the summary line.
#pragma once

#include <string>

#include <nlohmann/json.hpp>

#include "clipzs/store/bundle.hpp"
#include "clipzs/pipeline/embed.hpp"
#include "clipzs/model/model.hpp"
#include "command.hpp"
#include "options.hpp"

namespace clipzs::cli {

// --model --out --device --dtype --threads --batch-size --resume --overwrite --no-progress
struct EmbedFlags {
  std::string model;
  std::string out;
  RuntimeFlags runtime;
  int batch_size = 0;  // 0: the subcommand's default
  bool resume = false;
  bool overwrite = false;
  bool no_progress = false;
  std::string store_dtype;  // --store-dtype; empty: the subcommand's default
};
void add_embed_flags(CLI::App* sub, EmbedFlags& flags);

// The subcommands, one file each (cmd_embed_<kind>.cpp), added under `embed` by register_embed.
void register_embed_images(CLI::App* embed, Action& action);
void register_embed_pairs(CLI::App* embed, Action& action);
void register_embed_texts(CLI::App* embed, Action& action);

// Loads the bundle at --model with the chosen towers.
ClipModel load_embed_model(const EmbedFlags& flags, bool image, bool text, BundleInfo& bundle);

// Test hook for the crash-resume CLI test: CLIPZS_TEST_KILL_AFTER_ROWS=N sends SIGKILL to this process
// once N rows of this run are stored, exactly like an external `kill -9` at that moment; with
// CLIPZS_TEST_KILL_IN_STAGE=S (embed pairs: images, captions) only rows of that stage count.
ProgressCallback with_kill_hook(ProgressCallback progress);

nlohmann::json embed_summary_json(const char* command, const EmbedSummary& s);

}  // namespace clipzs::cli
