// `clipzs embed images|texts`: cache image or class-prompt embeddings in a store.
#include <spdlog/spdlog.h>

#include <csignal>
#include <cstdlib>
#include <thread>

#include "clipzs/bundle.hpp"
#include "clipzs/dataset.hpp"
#include "clipzs/embed.hpp"
#include "clipzs/inputs.hpp"
#include "clipzs/pairs.hpp"
#include "clipzs/model.hpp"
#include "command.hpp"

namespace clipzs::cli {
namespace {

struct CommonOptions {
  std::string model;
  std::string out;
  std::string device = "cpu";
  std::string dtype = "fp32";
  std::string store_dtype;
  int threads = 0;
  int batch_size = 0;
  bool resume = false;
  bool overwrite = false;
  bool no_progress = false;
};

void add_common(CLI::App* sub, CommonOptions& o) {
  sub->add_option("--model", o.model, "Model bundle folder (bundle.json, encoders, vocab)")->required()->check(CLI::ExistingDirectory);
  sub->add_option("--out", o.out, "Output store folder")->required();
  sub->add_option("--device", o.device, "cpu, cuda or cuda:N")->capture_default_str();
  sub->add_option("--dtype", o.dtype, "Model precision: fp32, bf16 (CPU/GPU) or fp16 (GPU); aliases float32, bfloat16, float16")
      ->capture_default_str()->transform(canonical_dtype());
  sub->add_option("--threads", o.threads, "LibTorch threads (0: all cores)")->capture_default_str();
  sub->add_option("--batch-size", o.batch_size, "Rows per forward (0: the default, 32 images or 256 texts)")->check(CLI::NonNegativeNumber);
  sub->add_flag("--resume", o.resume, "Continue an interrupted run into the same --out");
  sub->add_flag("--overwrite", o.overwrite, "Replace an existing store in --out");
  sub->add_flag("--no-progress", o.no_progress, "No progress line on stderr");
}

ClipModel load_model(const CommonOptions& o, bool image, bool text, BundleInfo& bundle) {
  bundle = load_bundle_info(o.model);
  RuntimeOptions runtime = runtime_options(o.device, o.dtype, o.threads, image, text);
  spdlog::info("loading {} ({}) on {} in {}", bundle.name, o.model, runtime.device, dtype_name(runtime.dtype));
  return ClipModel::load(bundle, runtime);
}

// Test hook for the crash-resume CLI test: CLIPZS_TEST_KILL_AFTER_ROWS=N sends SIGKILL to this process
// once N rows of this run are stored, exactly like an external `kill -9` at that moment; with
// CLIPZS_TEST_KILL_IN_STAGE=S (embed pairs: images, captions) only rows of that stage count.
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

nlohmann::json summary_json(const char* command, const EmbedSummary& s) {
  return {{"command", command}, {"store", s.store}, {"rows", s.rows}, {"ok", s.ok}, {"errors", s.errors},
          {"resumed_rows", s.resumed_rows}, {"seconds", s.seconds}, {"rows_per_second", s.rows_per_second}};
}

}  // namespace

void register_embed(CLI::App& app, Action& action) {
  CLI::App* embed = app.add_subcommand("embed", "Cache image or text embeddings in a store");
  embed->require_subcommand(1);

  // embed images
  static CommonOptions io;
  static std::string input, on_error = "record", exif = "ignore";
  static int workers = 0, augment = 0;
  static uint64_t augment_seed = 1, max_pixels = kDefaultMaxPixels;
  static std::string shard;
  CLI::App* images = embed->add_subcommand("images", "Embed a folder, list or CSV of images");
  add_common(images, io);
  images->add_option("--input", input, "Folder (recursive; class subfolders give labels), text list, or CSV with path[,label]")->required();
  images->add_option("--workers", workers, "Decode/preprocess threads (0: cores left over by --threads, at least 1)");
  images->add_option("--on-error", on_error, "Bad image: 'record' keeps the row with status error; 'fail' stops (exit 3)")->capture_default_str();
  images->add_option("--max-pixels", max_pixels, "Refuse images of more pixels than this, from their header (row status error)")->capture_default_str();
  images->add_option("--exif", exif, "EXIF orientation: ignore (as CLIP's reference) or apply")->capture_default_str();
  images->add_option("--store-dtype", io.store_dtype, "float16 (default) or float32");
  images->add_option("--augment", augment, "Random training views per image (few-shot: random resized crop + flip); 0: centre crop")->capture_default_str();
  images->add_option("--augment-seed", augment_seed, "Seed of the --augment views")->capture_default_str();
  images->add_option("--shard", shard, "Embed shard i of N (i/N, 0-based; one store per shard, then `clipzs merge`)");
  images->callback([&action] {
    action = [] {
      EmbedImagesOptions options;
      options.batch_size = io.batch_size > 0 ? io.batch_size : 32;
      options.workers = workers;
      options.on_error = parse_error_policy(on_error);
      options.store_dtype = parse_store_dtype(io.store_dtype.empty() ? "float16" : io.store_dtype);
      options.open_mode = {io.resume, io.overwrite};
      if (exif != "ignore" && exif != "apply") throw Error(ErrorKind::kUsage, "--exif must be ignore or apply");
      options.decode.apply_exif_orientation = exif == "apply";
      options.decode.max_pixels = max_pixels;
      options.augment_views = augment;
      options.augment_seed = augment_seed;
      if (!shard.empty()) parse_shard(shard, options.shard_index, options.shard_count);
      options.cancel = &interrupt_flag();
      std::vector<ImageInput> inputs = list_image_inputs(input);
      spdlog::info("{} images listed from {}", inputs.size(), input);
      BundleInfo bundle;
      ClipModel model = load_model(io, true, false, bundle);
      EmbedSummary s = embed_images(model, inputs, io.out, options, with_kill_hook(make_progress("embed", "rows", io.no_progress)));
      finish_progress();
      if (s.errors) spdlog::warn("{} of {} images could not be read; see status \"error\" in {}/rows.jsonl", s.errors, s.rows, io.out);
      print_summary(summary_json("embed images", s));
    };
  });

  // embed pairs
  static CommonOptions po;
  static std::string pairs_input, pairs_on_error = "record", caption_template = "{}";
  static int pairs_workers = 0;
  static uint64_t pairs_max_pixels = kDefaultMaxPixels;
  static std::string pairs_shard;
  static int caption_batch_size = 0;
  CLI::App* pairs = embed->add_subcommand("pairs", "Embed image-caption pairs into a retrieval bank (X-MoRe)");
  add_common(pairs, po);
  pairs->add_option("--input", pairs_input, "CSV/TSV/JSONL with image and caption columns, a WebDataset .tar shard, or a folder of shards")->required();
  pairs->add_option("--caption-template", caption_template, "Text embedded for each caption; {} is the caption")->capture_default_str();
  pairs->add_option("--workers", pairs_workers, "Decode/preprocess threads (0: cores left over by --threads, at least 1)");
  pairs->add_option("--on-error", pairs_on_error, "Bad image: 'record' keeps the pair out of retrieval; 'fail' stops (exit 3)")->capture_default_str();
  pairs->add_option("--store-dtype", po.store_dtype, "float16 (default) or float32");
  pairs->add_option("--max-pixels", pairs_max_pixels, "Refuse images of more pixels than this, from their header")->capture_default_str();
  pairs->add_option("--caption-batch-size", caption_batch_size, "Captions per text forward (0: --batch-size when given, else 256)")
      ->check(CLI::NonNegativeNumber);
  pairs->add_option("--shard", pairs_shard, "Embed shard i of N of the pairs (i/N, 0-based; one bank per shard, then `clipzs merge`)");
  pairs->callback([&action] {
    action = [] {
      PairListing listing = list_pair_inputs(pairs_input);
      for (const auto& w : listing.warnings) spdlog::warn("{}", w);
      if (listing.skipped) spdlog::warn("{} samples without an image or a caption were left out", listing.skipped);
      spdlog::info("{} image-caption pairs listed from {}", listing.pairs.size(), pairs_input);
      EmbedPairsOptions options;
      options.input = pairs_input;
      options.images.batch_size = po.batch_size > 0 ? po.batch_size : 32;
      options.images.workers = pairs_workers;
      options.images.on_error = parse_error_policy(pairs_on_error);
      options.images.decode.max_pixels = pairs_max_pixels;
      options.images.store_dtype = parse_store_dtype(po.store_dtype.empty() ? "float16" : po.store_dtype);
      options.images.open_mode = {po.resume, po.overwrite};
      options.images.cancel = &interrupt_flag();
      if (!pairs_shard.empty()) parse_shard(pairs_shard, options.images.shard_index, options.images.shard_count);
      options.captions.batch_size = caption_batch_size > 0 ? caption_batch_size : po.batch_size > 0 ? po.batch_size : 256;
      options.captions.store_dtype = options.images.store_dtype;
      options.captions.caption_template = caption_template;
      BundleInfo bundle;
      ClipModel model = load_model(po, true, true, bundle);
      ClipTokenizer tokenizer = load_bundle_tokenizer(bundle);
      EmbedPairsSummary s = embed_pairs(model, tokenizer, listing, po.out, options,
                                        with_kill_hook(make_progress("pairs", "rows", po.no_progress)));
      finish_progress();
      if (s.images.errors)
        spdlog::warn("{} of {} images could not be read; those pairs are never retrieved (see {}/images/rows.jsonl)",
                     s.images.errors, s.rows, po.out);
      print_summary({{"command", "embed pairs"}, {"bank", s.bank}, {"rows", s.rows}, {"skipped_pairs", listing.skipped},
                     {"images", summary_json("images", s.images)}, {"captions", summary_json("captions", s.captions)}});
    };
  });

  // embed texts
  static CommonOptions to;
  static std::string classes, templates, dataset, cupl;
  CLI::App* texts = embed->add_subcommand("texts", "Embed class names x prompt templates into class proxies");
  add_common(texts, to);
  texts->add_option("--classes", classes, "Class names: CLIP_benchmark JSON {dataset: [...]} or one per line")->required()->check(CLI::ExistingFile);
  texts->add_option("--templates", templates, "Templates with {c}: CLIP_benchmark JSON or one per line")->check(CLI::ExistingFile);
  texts->add_option("--dataset", dataset, "Key to read from JSON class/template files (e.g. imagenet1k)");
  texts->add_option("--cupl", cupl, "CuPL-style JSON {classname: [prompts]} (overrides templates for those classes)")->check(CLI::ExistingFile);
  texts->add_option("--store-dtype", to.store_dtype, "float32 (default) or float16");
  texts->callback([&action] {
    action = [] {
      ClassPrompts prompts = load_class_prompts(classes, templates, dataset, cupl);
      for (const auto& dup : duplicate_classnames(prompts.classnames))
        spdlog::warn("class name '{}' appears more than once in {}; each is kept as its own row", dup, classes);
      BundleInfo bundle;
      ClipModel model = load_model(to, false, true, bundle);
      ClipTokenizer tokenizer = load_bundle_tokenizer(bundle);
      EmbedTextsOptions options;
      options.batch_size = to.batch_size > 0 ? to.batch_size : 256;
      options.store_dtype = parse_store_dtype(to.store_dtype.empty() ? "float32" : to.store_dtype);
      options.open_mode = {to.resume, to.overwrite};
      options.cancel = &interrupt_flag();
      spdlog::info("{} classes", prompts.classnames.size());
      EmbedSummary s = embed_texts(model, tokenizer, prompts, to.out, options, make_progress("prompts", "prompts", to.no_progress));
      finish_progress();
      print_summary(summary_json("embed texts", s));
    };
  });
}

}  // namespace clipzs::cli
