#include "classify_common.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <thread>

#include "clipzs/store/dataset.hpp"
#include "clipzs/util/files.hpp"
#include "clipzs/methods/inmap.hpp"
#include "clipzs/store/inputs.hpp"
#include "clipzs/store/npy.hpp"
#include "clipzs/model/model.hpp"
#include "clipzs/store/store.hpp"

namespace clipzs::cli {
namespace fs = std::filesystem;
using nlohmann::json;

void add_classify_options(CLI::App* sub, ClassifyOptions& o) {
  sub->add_option("--model", o.model, "Model bundle folder")->check(CLI::ExistingDirectory);
  sub->add_option("--classes", o.classes, "Class names: CLIP_benchmark JSON {dataset: [...]} or one per line")->check(CLI::ExistingFile);
  sub->add_option("--templates", o.templates, "Prompt templates with {c}: CLIP_benchmark JSON or one per line")->check(CLI::ExistingFile);
  sub->add_option("--dataset", o.dataset, "Key to read from JSON class/template files (e.g. imagenet1k)");
  sub->add_option("--cupl", o.cupl, "CuPL-style JSON {classname: [prompts]}")->check(CLI::ExistingFile);
  sub->add_option("--input", o.input, "Images: a folder (class subfolders give labels), a text list, or a CSV path[,label]");
  sub->add_option("--store", o.store, "An image embedding store made by `clipzs embed images` (instead of --input)");
  sub->add_option("--coop-split", o.coop_split, "A CoOp split_zhou_*.json file (with --image-root and --split)")->check(CLI::ExistingFile);
  sub->add_option("--split", o.split, "Split of --coop-split: train, val or test")->capture_default_str();
  sub->add_option("--image-root", o.image_root, "Folder the paths of --coop-split are relative to");
  sub->add_option("--image-store", o.image_store, "Where to keep the image embeddings of --input (default: the cache)");
  sub->add_option("--cache-dir", o.cache_dir, "Cache for class and image embeddings (default ~/.cache/clipzs)");
  add_runtime_flags(sub, o.runtime);
  sub->add_option("--batch-size", o.batch_size, "Images per forward")->capture_default_str();
  sub->add_option("--workers", o.workers, "Decode threads (0: automatic)");
  sub->add_option("--method", o.method, "One of: " + method_names_text() + " (all but zeroshot read --state)")
      ->capture_default_str();
  sub->add_option("--state", o.state, "State folder of an adapted method (clipzs adapt <method> --out)");
  add_progress_flag(sub, o.no_progress);
}

std::string cache_dir(const std::string& option) {
  if (!option.empty()) return option;
  if (const char* v = std::getenv("CLIPZS_CACHE_DIR"); v && *v) return v;
  if (const char* v = std::getenv("XDG_CACHE_HOME"); v && *v) return (fs::path(v) / "clipzs").string();
  if (const char* v = std::getenv("HOME"); v && *v) return (fs::path(v) / ".cache" / "clipzs").string();
  return ".clipzs-cache";
}

namespace {

bool reusable(const std::string& dir, const json& expect_run) {
  if (!fs::exists(fs::path(dir) / "manifest.json")) return false;
  try {
    json m = json::parse(read_file((fs::path(dir) / "manifest.json").string()));
    for (const char* key : {"bundle_sha256", "inputs_sha256", "model_dtype"})
      if (m["run"].value(key, "") != expect_run.value(key, "")) return false;
    return true;
  } catch (const std::exception&) {
    return false;
  }
}

}  // namespace

// The sources of ClassifyData, in the order load_classify_data() uses them.
void load_text_proxies(const ClassifyOptions& o, const std::string& cache, ClassifyData& d);
void load_images(const ClassifyOptions& o, const std::string& cache, ClassifyData& d);

ClassifyData load_classify_data(const ClassifyOptions& o) {
  const MethodEntry& entry = find_method(o.method);  // an unknown name lists the known ones
  if (entry.kind != MethodKind::kZeroShot && o.state.empty())
    throw Error(ErrorKind::kUsage, "--method " + o.method + " needs --state (the folder written by `clipzs adapt " + o.method + "`)");
  if (o.model.empty()) throw Error(ErrorKind::kUsage, "--model is required");
  if (entry.kind == MethodKind::kZeroShot && o.classes.empty() && o.coop_split.empty()) throw Error(ErrorKind::kUsage, "--classes is required");
  const int sources = !o.input.empty() + !o.store.empty() + !o.coop_split.empty();
  if (sources != 1) throw Error(ErrorKind::kUsage, "give exactly one of --input, --store or --coop-split");
  ClassifyData d;
  d.bundle = load_bundle_info(o.model);
  const std::string cache = cache_dir(o.cache_dir);

  if (entry.kind == MethodKind::kZeroShot) {
    load_text_proxies(o, cache, d);
  } else {
    d.method = load_method_state(o.state, o.method);
    const std::string sha = d.method->bundle_sha256();
    if (!sha.empty() && sha != d.bundle.bundle_sha256)
      throw Error(ErrorKind::kInput, "the state '" + o.state + "' was learned on embeddings of another model bundle",
                  "pass the --model the state was made with");
    d.classnames = d.method->classnames();
  }
  load_images(o, cache, d);
  return d;
}

Predictions classify(const ClassifyData& d, int top_k, const std::string& variant, const std::vector<int64_t>* classes) {
  Predictions p;
  if (classes) {
    const Matrix* proxies = d.method->class_proxies();
    if (!proxies) throw Error(ErrorKind::kUsage, "a class subset needs a classifier of class proxies alone (zeroshot, inmap)");
    p = predict_top_k(d.images.features, select_rows(*proxies, *classes), d.method->logit_scale(), top_k);
  } else {
    p = d.method->predict(d.images, top_k, variant);
  }
  return spread_rows(p, d.images.rows, d.images.store_rows);
}

void load_text_proxies(const ClassifyOptions& o, const std::string& cache, ClassifyData& d) {
  // Class proxies, cached by bundle + precision + class names + prompts.
  ClassPrompts prompts = o.classes.empty()  // a CoOp split alone: its own class names
                             ? build_class_prompts(coop_classnames(o.coop_split), o.templates, o.dataset, o.cupl)
                             : load_class_prompts(o.classes, o.templates, o.dataset, o.cupl);
  d.classnames = prompts.classnames;
  for (const auto& dup : duplicate_classnames(d.classnames))
    spdlog::warn("class name '{}' appears more than once in {}; both are kept", dup, o.classes);
  json key = {{"bundle", d.bundle.bundle_sha256}, {"dtype", o.runtime.dtype}, {"classes", prompts.classnames}, {"prompts", prompts.prompts}};
  const std::string key_text = key.dump();
  d.text_store = (fs::path(cache) / "text" / sha256_bytes(key_text.data(), key_text.size()).substr(0, 24)).string();
  if (!fs::exists(fs::path(d.text_store) / "manifest.json")) {
    spdlog::info("embedding {} classes into {}", prompts.classnames.size(), d.text_store);
    ClipModel model = ClipModel::load(d.bundle, runtime_options(o.runtime, false, true));
    ClipTokenizer tokenizer = load_bundle_tokenizer(d.bundle);
    EmbedTextsOptions options;
    options.open_mode.overwrite = true;
    options.cancel = &interrupt_flag();
    embed_texts(model, tokenizer, prompts, d.text_store, options, {});
  } else {
    spdlog::info("class embeddings from cache {}", d.text_store);
  }
  ClassEmbeddings classes = load_class_embeddings(d.text_store);
  d.method = make_zeroshot_method(std::move(classes.proxies), d.classnames, d.bundle.logit_scale);
}

void load_images(const ClassifyOptions& o, const std::string& cache, ClassifyData& d) {
  if (!o.store.empty()) {
    d.image_store = o.store;
  } else {
    std::vector<ImageInput> inputs = !o.input.empty() ? list_image_inputs(o.input)
                                                       : list_coop_split(o.coop_split, o.split, o.image_root);
    json run = {{"bundle_sha256", d.bundle.bundle_sha256}, {"inputs_sha256", listing_fingerprint(inputs)}, {"model_dtype", o.runtime.dtype}};
    const std::string run_text = run.dump();
    d.image_store = !o.image_store.empty()
                        ? o.image_store
                        : (fs::path(cache) / "images" / sha256_bytes(run_text.data(), run_text.size()).substr(0, 24)).string();
    if (reusable(d.image_store, run)) {
      spdlog::info("image embeddings from {}", d.image_store);
    } else {
      if (!o.image_store.empty() && fs::exists(fs::path(d.image_store) / "manifest.json"))
        throw Error(ErrorKind::kOutput, "--image-store '" + d.image_store + "' holds embeddings of other images or another model",
                    "choose another --image-store, or leave it out to use the cache");
      const bool partial = fs::exists(fs::path(d.image_store) / "run.json");
      spdlog::info("embedding {} images into {}{}", inputs.size(), d.image_store, partial ? " (resuming)" : "");
      ClipModel model = ClipModel::load(d.bundle, runtime_options(o.runtime, true, false));
      EmbedImagesOptions options;
      options.batch_size = o.batch_size;
      options.workers = o.workers;
      options.open_mode.resume = partial;
      options.open_mode.overwrite = !partial;
      options.cancel = &interrupt_flag();
      embed_images(model, inputs, d.image_store, options, make_progress("embed", "images", o.no_progress));
      finish_progress();
    }
  }
  ImageEmbeddingsOptions io;
  io.resolve_labels = false;  // eval resolves them with its --label-rule
  io.normalize = false;        // stores hold what they hold: classify them as they are
  d.images = load_image_embeddings(d.image_store, d.bundle.bundle_sha256, d.classnames, "--model '" + d.bundle.name + "'", io);
  d.method->check_images(d.images);
}

}  // namespace clipzs::cli
