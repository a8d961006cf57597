#include "classify_common.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <thread>

#include "clipzs/dataset.hpp"
#include "clipzs/files.hpp"
#include "clipzs/inmap.hpp"
#include "clipzs/inputs.hpp"
#include "clipzs/npy.hpp"
#include "clipzs/model.hpp"
#include "clipzs/store.hpp"

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
  sub->add_option("--device", o.device, "cpu, cuda or cuda:N")->capture_default_str();
  sub->add_option("--dtype", o.dtype, "Model precision: fp32, bf16, fp16 (GPU); aliases float32, bfloat16, float16")
      ->capture_default_str()->transform(canonical_dtype());
  sub->add_option("--threads", o.threads, "LibTorch threads (0: all cores)");
  sub->add_option("--batch-size", o.batch_size, "Images per forward")->capture_default_str();
  sub->add_option("--workers", o.workers, "Decode threads (0: automatic)");
  sub->add_option("--method", o.method, "zeroshot; with --state: inmap, xmore, linear-probe, tip-adapter, tip-adapter-f, relation")
      ->capture_default_str();
  sub->add_option("--state", o.state, "State folder of an adapted method (clipzs adapt <method> --out)");
  sub->add_flag("--no-progress", o.no_progress, "No progress line on stderr");
}

std::string cache_dir(const std::string& option) {
  if (!option.empty()) return option;
  if (const char* v = std::getenv("CLIPZS_CACHE_DIR"); v && *v) return v;
  if (const char* v = std::getenv("XDG_CACHE_HOME"); v && *v) return (fs::path(v) / "clipzs").string();
  if (const char* v = std::getenv("HOME"); v && *v) return (fs::path(v) / ".cache" / "clipzs").string();
  return ".clipzs-cache";
}

namespace {

Matrix matrix_of(Store& store) {
  Matrix m;
  m.rows = store.rows;
  m.cols = store.dim;
  m.data = std::move(store.embeddings);
  return m;
}

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

// The three sources of ClassifyData, in the order load_classify_data() uses them.
void load_method_state(const ClassifyOptions& o, ClassifyData& d);
void load_xmore_predictions(const ClassifyOptions& o, ClassifyData& d);
void load_text_proxies(const ClassifyOptions& o, const std::string& cache, ClassifyData& d);
void load_images(const ClassifyOptions& o, const std::string& cache, ClassifyData& d);

bool is_fewshot_method(const std::string& method) {
  return method == "linear-probe" || method == "tip-adapter" || method == "tip-adapter-f" || method == "relation";
}

ClassifyData load_classify_data(const ClassifyOptions& o) {
  if (o.method != "zeroshot" && o.method != "inmap" && o.method != "xmore" && !is_fewshot_method(o.method))
    throw Error(ErrorKind::kUsage, "--method " + o.method + " is not available in this version",
                "use zeroshot, inmap, xmore, linear-probe, tip-adapter, tip-adapter-f or relation");
  if (o.method != "zeroshot" && o.state.empty())
    throw Error(ErrorKind::kUsage, "--method " + o.method + " needs --state (the folder written by `clipzs adapt " + o.method + "`)");
  if (o.model.empty()) throw Error(ErrorKind::kUsage, "--model is required");
  if (o.method == "zeroshot" && o.classes.empty() && o.coop_split.empty()) throw Error(ErrorKind::kUsage, "--classes is required");
  const int sources = !o.input.empty() + !o.store.empty() + !o.coop_split.empty();
  if (sources != 1) throw Error(ErrorKind::kUsage, "give exactly one of --input, --store or --coop-split");
  ClassifyData d;
  d.bundle = load_bundle_info(o.model);
  const std::string cache = cache_dir(o.cache_dir);

  if (o.method == "zeroshot") {
    load_text_proxies(o, cache, d);
  } else {
    load_method_state(o, d);
  }
  load_images(o, cache, d);
  if (o.method == "xmore") load_xmore_predictions(o, d);
  return d;
}

Predictions classify(const ClassifyData& d, const Matrix& classes, int top_k, const std::string& variant) {
  if (d.fewshot) {
    Predictions p = fewshot_predict(*d.fewshot, d.images, top_k, d.failed);
    if (p.rows > 0 && p.k > 0 && *std::max_element(p.top_index.begin(), p.top_index.end()) >= static_cast<int64_t>(d.classnames.size()))
      throw Error(ErrorKind::kInput, "the state '" + d.method_state.value("method", "") + "' predicts more classes than its " +
                                         std::to_string(d.classnames.size()) + " class names", "make the state again");
    return p;
  }
  if (d.precomputed.empty()) return predict_top_k(d.images, classes, d.logit_scale, top_k, d.failed);
  const std::string name = variant.empty() ? d.method_state.value("method", "") : variant;
  auto it = d.precomputed.find(name);
  if (it == d.precomputed.end()) throw Error(ErrorKind::kInternal, "no stored predictions for '" + name + "'");
  const Predictions& all = it->second;
  if (top_k > all.k) spdlog::warn("the state keeps the top {} classes per image; --top-k {} shows {}", all.k, top_k, all.k);
  Predictions p;
  p.rows = all.rows;
  p.k = std::min<int64_t>(top_k, all.k);
  for (int64_t i = 0; i < all.rows; ++i) {
    p.top_index.insert(p.top_index.end(), all.top_index.begin() + i * all.k, all.top_index.begin() + i * all.k + p.k);
    p.top_prob.insert(p.top_prob.end(), all.top_prob.begin() + i * all.k, all.top_prob.begin() + i * all.k + p.k);
  }
  return p;
}

// X-MoRe's predictions belong to one image store: the state records its embeddings' sha256.
void load_xmore_predictions(const ClassifyOptions& o, ClassifyData& d) {
  const std::string expected = d.method_state.value("image_store_sha256", "");
  const std::string actual = d.image_manifest.value("files", json::object()).value("embeddings.npy", "");
  if (expected.empty() || expected != actual)
    throw Error(ErrorKind::kInput, "the X-MoRe state '" + o.state + "' was made for other images than '" + d.image_store + "'",
                "run `clipzs adapt xmore --images " + d.image_store + "` first, or pass the store the state was made for");
  for (const char* variant : {"xmore", "zeroshot", "captions_only"}) {
    const fs::path base = fs::path(o.state) / variant;
    NpyArray index = read_npy(base.string() + "_top_index.npy");
    NpyArray prob = read_npy(base.string() + "_top_prob.npy");
    if (index.shape.size() != 2 || index.shape != prob.shape || index.shape[0] != d.images.rows)
      throw Error(ErrorKind::kInput, base.string() + "_top_*.npy do not hold one row per image of " + d.image_store);
    Predictions p;
    p.rows = index.shape[0];
    p.k = index.shape[1];
    p.top_index = index.to_int64();
    p.top_prob = prob.to_float();
    for (int64_t c : p.top_index)
      if (c >= static_cast<int64_t>(d.classnames.size()))
        throw Error(ErrorKind::kInput, base.string() + "_top_index.npy names class " + std::to_string(c) + " of " +
                                           std::to_string(d.classnames.size()),
                    "the state is damaged; run `clipzs adapt xmore` again");
    d.precomputed[variant] = std::move(p);
  }
}

void load_method_state(const ClassifyOptions& o, ClassifyData& d) {
  const fs::path dir(o.state);
  if (!fs::exists(dir / "state.json"))
    throw Error(ErrorKind::kInput, "'" + o.state + "' is not a method state folder (no state.json)", "make it with `clipzs adapt " + o.method + " --out`");
  try {
    d.method_state = json::parse(read_file((dir / "state.json").string()));
  } catch (const json::parse_error& e) {
    throw Error(ErrorKind::kInput, (dir / "state.json").string() + " is damaged: " + e.what());
  }
  if (d.method_state.value("method", "") != o.method)
    throw Error(ErrorKind::kInput, "'" + o.state + "' holds a " + d.method_state.value("method", "?") + " state, not " + o.method);
  const std::string sha = d.method_state.value("bundle_sha256", "");
  if (!sha.empty() && sha != d.bundle.bundle_sha256)
    throw Error(ErrorKind::kInput, "the state '" + o.state + "' was learned on embeddings of another model bundle",
                "pass the --model the state was made with");
  if (is_fewshot_method(o.method)) {
    d.fewshot = std::make_shared<const FewShotState>(load_fewshot_state(o.state));
    d.classnames = d.method_state.value("classnames", std::vector<std::string>{});
    if (auto it = d.fewshot->arrays.find("text_proxies"); it != d.fewshot->arrays.end()) d.classes = it->second;
    d.logit_scale = d.method_state.value("parameters", json::object()).value("logit_scale", 1.0f);  // linear probe: its own logits
    return;
  }
  if (o.method == "xmore") {  // per-image predictions, loaded once the images are known
    d.classnames = d.method_state.value("classnames", std::vector<std::string>{});
    d.logit_scale = d.method_state["parameters"].value("logit_scale", 100.0f);
    return;
  }
  NpyArray proxies = read_npy((dir / "vision_proxies.npy").string());
  if (proxies.shape.size() != 2) throw Error(ErrorKind::kInput, (dir / "vision_proxies.npy").string() + " is not d x C");
  d.classes = transpose(Matrix{proxies.shape[0], proxies.shape[1], proxies.to_float()});
  d.classnames = d.method_state.value("classnames", std::vector<std::string>{});
  if (static_cast<int64_t>(d.classnames.size()) != d.classes.rows)
    throw Error(ErrorKind::kInput, (dir / "state.json").string() + " lists " + std::to_string(d.classnames.size()) +
                                       " class names for " + std::to_string(d.classes.rows) + " proxies");
  // InMaP's proxies were trained under softmax(x.w / tau_i): that temperature gives their probabilities.
  d.logit_scale = static_cast<float>(1.0 / d.method_state["parameters"].value("tau_i", 0.01));
}

void load_text_proxies(const ClassifyOptions& o, const std::string& cache, ClassifyData& d) {
  // Class proxies, cached by bundle + precision + class names + prompts.
  ClassPrompts prompts = o.classes.empty()  // a CoOp split alone: its own class names
                             ? build_class_prompts(coop_classnames(o.coop_split), o.templates, o.dataset, o.cupl)
                             : load_class_prompts(o.classes, o.templates, o.dataset, o.cupl);
  d.classnames = prompts.classnames;
  for (const auto& dup : duplicate_classnames(d.classnames))
    spdlog::warn("class name '{}' appears more than once in {}; both are kept", dup, o.classes);
  json key = {{"bundle", d.bundle.bundle_sha256}, {"dtype", o.dtype}, {"classes", prompts.classnames}, {"prompts", prompts.prompts}};
  const std::string key_text = key.dump();
  d.text_store = (fs::path(cache) / "text" / sha256_bytes(key_text.data(), key_text.size()).substr(0, 24)).string();
  if (!fs::exists(fs::path(d.text_store) / "manifest.json")) {
    spdlog::info("embedding {} classes into {}", prompts.classnames.size(), d.text_store);
    ClipModel model = ClipModel::load(d.bundle, runtime_options(o.device, o.dtype, o.threads, false, true));
    ClipTokenizer tokenizer = load_bundle_tokenizer(d.bundle);
    EmbedTextsOptions options;
    options.open_mode.overwrite = true;
    options.cancel = &interrupt_flag();
    embed_texts(model, tokenizer, prompts, d.text_store, options, {});
  } else {
    spdlog::info("class embeddings from cache {}", d.text_store);
  }
  Store text_store = read_store(d.text_store);
  d.classes = matrix_of(text_store);
  d.logit_scale = d.bundle.logit_scale;
}

void load_images(const ClassifyOptions& o, const std::string& cache, ClassifyData& d) {
  if (!o.store.empty()) {
    d.image_store = o.store;
  } else {
    std::vector<ImageInput> inputs = !o.input.empty() ? list_image_inputs(o.input)
                                                       : list_coop_split(o.coop_split, o.split, o.image_root);
    json run = {{"bundle_sha256", d.bundle.bundle_sha256}, {"inputs_sha256", listing_fingerprint(inputs)}, {"model_dtype", o.dtype}};
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
      ClipModel model = ClipModel::load(d.bundle, runtime_options(o.device, o.dtype, o.threads, true, false));
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
  Store image_store = read_store(d.image_store);
  d.image_manifest = image_store.manifest;
  const std::string store_bundle = image_store.manifest.value("bundle", json::object()).value("sha256", "");
  if (store_bundle != d.bundle.bundle_sha256)
    throw Error(ErrorKind::kInput,
                "the image store '" + d.image_store + "' was made by bundle '" +
                    image_store.manifest.value("bundle", json::object()).value("name", "?") + "', not by '" + d.bundle.name + "'",
                "embed the images with the same --model, or pass that model");
  d.records = std::move(image_store.records);
  d.images = matrix_of(image_store);
  d.failed.resize(d.records.size());
  for (size_t i = 0; i < d.records.size(); ++i) d.failed[i] = d.records[i].value("status", "ok") != "ok";
}

}  // namespace clipzs::cli
