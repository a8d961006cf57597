// `clipzs embed images|pairs|texts`: cache embeddings in a store (one file per kind: cmd_embed_<kind>.cpp).
#include <spdlog/spdlog.h>

#include <csignal>
#include <cstdlib>

#include "embed_common.hpp"

namespace clipzs::cli {

void add_embed_flags(CLI::App* sub, EmbedFlags& flags) {
  sub->add_option("--model", flags.model, "Model bundle folder (bundle.json, encoders, vocab)")->required()->check(CLI::ExistingDirectory);
  sub->add_option("--out", flags.out, "Output store folder")->required();
  add_runtime_flags(sub, flags.runtime);
  sub->add_option("--batch-size", flags.batch_size, "Rows per forward (0: the default, 32 images or 256 texts)")->check(CLI::NonNegativeNumber);
  sub->add_flag("--resume", flags.resume, "Continue an interrupted run into the same --out");
  sub->add_flag("--overwrite", flags.overwrite, "Replace an existing store in --out");
  add_progress_flag(sub, flags.no_progress);
}

ClipModel load_embed_model(const EmbedFlags& flags, bool image, bool text, BundleInfo& bundle) {
  bundle = load_bundle_info(flags.model);
  const RuntimeOptions runtime = runtime_options(flags.runtime, image, text);
  spdlog::info("loading {} ({}) on {} in {}", bundle.name, flags.model, runtime.device, dtype_name(runtime.dtype));
  return ClipModel::load(bundle, runtime);
}

ProgressCallback with_kill_hook(ProgressCallback progress) {
  const char* env = std::getenv("CLIPZS_TEST_KILL_AFTER_ROWS");
  if (!env) return progress;
  const long long limit = std::atoll(env);
  const char* stage_env = std::getenv("CLIPZS_TEST_KILL_IN_STAGE");
  const std::string stage = stage_env ? stage_env : "";
  return [progress, limit, stage](const Progress& p) {
    if (progress) progress(p);
    if (p.done_this_run >= limit && (stage.empty() || (p.stage && stage == p.stage))) std::raise(SIGKILL);
  };
}

nlohmann::json embed_summary_json(const char* command, const EmbedSummary& s) {
  return {{"command", command}, {"store", s.store}, {"rows", s.rows}, {"ok", s.ok}, {"errors", s.errors},
          {"resumed_rows", s.resumed_rows}, {"seconds", s.seconds}, {"rows_per_second", s.rows_per_second}};
}

void register_embed(CLI::App& app, Action& action) {
  CLI::App* embed = app.add_subcommand("embed", "Cache image or text embeddings in a store");
  embed->require_subcommand(1);
  register_embed_images(embed, action);
  register_embed_pairs(embed, action);
  register_embed_texts(embed, action);
}

}  // namespace clipzs::cli
