// `clipzs embed images`: a folder, list or CSV of images into an image store (embed_images).
#include <spdlog/spdlog.h>

#include <memory>

#include "clipzs/store/inputs.hpp"
#include "embed_common.hpp"

namespace clipzs::cli {
namespace {

struct EmbedImagesCli {
  EmbedFlags flags;
  EmbedImagesOptions options;
  std::string input;
  ShardFlag shard;
};

}  // namespace

void register_embed_images(CLI::App* embed, Action& action) {
  auto cli = std::make_shared<EmbedImagesCli>();
  EmbedImagesOptions& o = cli->options;
  CLI::App* sub = embed->add_subcommand("images", "Embed a folder, list or CSV of images");
  add_embed_flags(sub, cli->flags);
  sub->add_option("--input", cli->input, "Folder (recursive; class subfolders give labels), text list, or CSV with path[,label]")->required();
  sub->add_option("--workers", o.workers, "Decode/preprocess threads (0: cores left over by --threads, at least 1)");
  add_error_policy_flag(sub, o.on_error, "Bad image: 'record' keeps the row with status error; 'fail' stops (exit 3)");
  sub->add_option("--max-pixels", o.decode.max_pixels, "Refuse images of more pixels than this, from their header (row status error)")->capture_default_str();
  add_exif_flag(sub, o.decode.apply_exif_orientation, "EXIF orientation: ignore (as CLIP's reference) or apply");
  sub->add_option("--store-dtype", cli->flags.store_dtype, "float16 (default) or float32");
  sub->add_option("--augment", o.augment_views, "Random training views per image (few-shot: random resized crop + flip); 0: centre crop")->capture_default_str();
  sub->add_option("--augment-seed", o.augment_seed, "Seed of the --augment views")->capture_default_str();
  add_shard_flag(sub, cli->shard, "Embed shard i of N (i/N, 0-based; one store per shard, then `clipzs merge`)");
  sub->callback([&action, cli] {
    action = [cli] {
      const EmbedFlags& f = cli->flags;
      EmbedImagesOptions options = cli->options;
      options.batch_size = f.batch_size > 0 ? f.batch_size : 32;
      options.store_dtype = parse_store_dtype(f.store_dtype.empty() ? "float16" : f.store_dtype);
      options.open_mode = {f.resume, f.overwrite};
      options.shard_index = cli->shard.index;
      options.shard_count = cli->shard.count;
      options.cancel = &interrupt_flag();
      const std::vector<ImageInput> inputs = list_image_inputs(cli->input);
      spdlog::info("{} images listed from {}", inputs.size(), cli->input);
      BundleInfo bundle;
      const ClipModel model = load_embed_model(f, true, false, bundle);
      const EmbedSummary s =
          embed_images(model, inputs, f.out, options, with_kill_hook(make_progress("embed", "rows", f.no_progress)));
      finish_progress();
      if (s.errors) spdlog::warn("{} of {} images could not be read; see status \"error\" in {}/rows.jsonl", s.errors, s.rows, f.out);
      print_summary(embed_summary_json("embed images", s));
    };
  });
}

}  // namespace clipzs::cli
