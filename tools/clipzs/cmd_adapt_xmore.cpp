// `clipzs adapt xmore`: X-MoRe predictions for an image store, from the captions of its nearest
// images in a retrieval bank (docs/methods/xmore.md).
#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <thread>
#include <unordered_map>

#include "clipzs/bank.hpp"
#include "clipzs/dataset.hpp"
#include "clipzs/files.hpp"
#include "clipzs/knn.hpp"
#include "clipzs/metrics.hpp"
#include "clipzs/model.hpp"
#include "clipzs/npy.hpp"
#include "clipzs/store.hpp"
#include "clipzs/xmore.hpp"
#include "command.hpp"

namespace clipzs::cli {
namespace fs = std::filesystem;
using nlohmann::json;

namespace {

struct XMoReCli {
  std::string images, text, bank, out, labels_file, label_rule = "auto";
  std::string search = "exact", index, rerank_model, normalize = "running", device = "cpu";
  int k = 16, neighbours = 128, nprobe = 32, threads = 0;
  uint64_t seed = 1;
  float logit_scale = 0.0f;  // 0: the bundle's own (from the class store's manifest)
  bool overwrite = false;
};

void write_top(const std::string& dir, const std::string& name, const Predictions& p) {
  write_npy(dir + "/" + name + "_top_index.npy", "<i8", {p.rows, p.k}, p.top_index.data(), p.top_index.size() * sizeof(int64_t));
  write_npy(dir + "/" + name + "_top_prob.npy", p.top_prob, {p.rows, p.k});
}

// Per input row of the store (skipped rows keep -1 / NaN).
Predictions expand_rows(const Predictions& p, const std::vector<int64_t>& store_rows, int64_t store_size) {
  Predictions out;
  out.rows = store_size;
  out.k = p.k;
  out.top_index.assign(static_cast<size_t>(store_size * p.k), -1);
  out.top_prob.assign(static_cast<size_t>(store_size * p.k), 0.0f);
  for (size_t i = 0; i < store_rows.size(); ++i) {
    std::copy_n(p.top_index.begin() + static_cast<int64_t>(i) * p.k, p.k, out.top_index.begin() + store_rows[i] * p.k);
    std::copy_n(p.top_prob.begin() + static_cast<int64_t>(i) * p.k, p.k, out.top_prob.begin() + store_rows[i] * p.k);
  }
  return out;
}

// The distinct ids of `lists` in order of first appearance, and each list as positions in them.
struct DistinctIds {
  std::vector<int64_t> ids;
  std::vector<std::vector<int64_t>> positions;
};

DistinctIds distinct_ids(const std::vector<std::vector<int64_t>>& lists) {
  DistinctIds out;
  std::unordered_map<int64_t, int64_t> position_of;
  for (const auto& list : lists) {
    out.positions.emplace_back();
    for (int64_t id : list) {
      auto [it, added] = position_of.emplace(id, static_cast<int64_t>(out.ids.size()));
      if (added) out.ids.push_back(id);
      out.positions.back().push_back(it->second);
    }
  }
  return out;
}

// Re-ranking scores: cosine similarity of each test image and each candidate caption under a second
// (larger) bundle, both embedded into `work` (kept in the state as a record of what was scored).
std::vector<std::vector<float>> rerank_scores(const XMoReCli& o, const std::vector<json>& records,
                                              const std::vector<int64_t>& store_rows, const Bank& bank,
                                              const std::vector<std::vector<int64_t>>& candidates, const std::string& work) {
  BundleInfo info = load_bundle_info(o.rerank_model);
  spdlog::info("re-ranking candidates with {} ({})", info.name, o.rerank_model);
  ClipModel model = ClipModel::load(info, runtime_options(o.device, "fp32", o.threads, true, true));
  ClipTokenizer tokenizer = load_bundle_tokenizer(info);
  std::vector<ImageInput> inputs;
  for (int64_t row : store_rows) {
    const json& r = records[static_cast<size_t>(row)];
    if (r.contains("member"))
      throw Error(ErrorKind::kUnsupported, "--rerank-model needs the test images as files; row " + std::to_string(row) +
                                               " is a member of " + r.value("path", "?"));
    inputs.push_back({r.value("path", ""), r.value("label", "")});
  }
  EmbedImagesOptions image_options;
  image_options.cancel = &interrupt_flag();
  embed_images(model, inputs, work + "/images", image_options, make_progress("rerank images", "images", false));
  finish_progress();
  const DistinctIds distinct = distinct_ids(candidates);  // each caption embedded once
  std::vector<std::string> texts;
  for (int64_t id : distinct.ids) texts.push_back(bank.captions[static_cast<size_t>(id)]);
  EmbedCaptionsOptions caption_options;
  caption_options.cancel = &interrupt_flag();
  embed_captions(model, tokenizer, texts, work + "/captions", caption_options, make_progress("rerank captions", "captions", false));
  finish_progress();
  Store img = read_store(work + "/images");
  Store cap = read_store(work + "/captions");
  std::vector<std::vector<float>> scores(candidates.size());
  for (size_t q = 0; q < candidates.size(); ++q) {
    const float* x = img.embeddings.data() + q * static_cast<size_t>(img.dim);
    for (int64_t position : distinct.positions[q]) {
      const float* c = cap.embeddings.data() + static_cast<size_t>(position) * static_cast<size_t>(cap.dim);
      double dot = 0;
      for (int64_t j = 0; j < img.dim; ++j) dot += double(x[j]) * c[j];
      scores[q].push_back(static_cast<float>(dot));
    }
  }
  return scores;
}

void run(const XMoReCli& o) {
  if (output_taken(o.out) && !o.overwrite)
    throw Error(ErrorKind::kOutput, "'" + o.out + "' already exists", "pass --overwrite to replace it, or choose another --out");
  check_replaceable_folder(o.out, "state.json");  // now, not after the search
  if (o.k < 1 || o.neighbours < 1) throw Error(ErrorKind::kUsage, "--k and --neighbours must be at least 1");
  if (o.search != "exact" && o.search != "index") throw Error(ErrorKind::kUsage, "--search must be exact or index");
  set_torch_threads(o.threads > 0 ? o.threads : static_cast<int>(std::max(1u, std::thread::hardware_concurrency())));
  XMoReOptions options;
  options.normalize = parse_xmore_normalize(o.normalize);
  options.seed = o.seed;
  const auto start = std::chrono::steady_clock::now();

  Store text = read_store(o.text);
  if (text.manifest.value("kind", "") != "texts")
    throw Error(ErrorKind::kInput, "'" + o.text + "' is not a class embedding store", "make it with `clipzs embed texts`");
  const std::string bundle_sha = text.manifest["bundle"].value("sha256", "");
  options.logit_scale = resolve_logit_scale(o.logit_scale, text.manifest, o.text);
  std::vector<std::string> classnames;
  for (const auto& r : text.records) classnames.push_back(r.value("label", ""));
  Matrix classes{text.rows, text.dim, std::move(text.embeddings)};

  Store images = read_store(o.images);
  if (images.manifest.value("kind", "") != "images")
    throw Error(ErrorKind::kInput, "'" + o.images + "' is not an image embedding store", "make it with `clipzs embed images`");
  if (images.manifest["bundle"].value("sha256", "") != bundle_sha)
    throw Error(ErrorKind::kInput, "the image and class stores were made by different model bundles", "embed both with the same --model");
  std::vector<int64_t> store_rows;
  std::vector<std::string> row_labels, paths;
  for (int64_t i = 0; i < images.rows; ++i) {
    const json& r = images.records[static_cast<size_t>(i)];
    row_labels.push_back(r.value("label", ""));
    paths.push_back(r.value("path", ""));
    if (r.value("status", "ok") == "ok") store_rows.push_back(i);
  }
  if (static_cast<int64_t>(store_rows.size()) < images.rows)
    spdlog::warn("{} rows of {} could not be read and get no prediction", images.rows - static_cast<int64_t>(store_rows.size()), o.images);
  Matrix all{images.rows, images.dim, std::move(images.embeddings)};
  Matrix x = select_rows(all, store_rows);

  Bank bank = open_bank(o.bank);
  if (bank.bundle_sha256() != bundle_sha)
    throw Error(ErrorKind::kInput, "the bank '" + o.bank + "' was embedded by another model bundle than the stores",
                "make the bank with the same --model as the image and class stores");
  if (bank.dim != x.cols) throw Error(ErrorKind::kInput, "the bank has d = " + std::to_string(bank.dim) + ", the images d = " + std::to_string(x.cols));

  // 1. Image-to-image neighbours in the bank.
  KnnResult nn;
  const auto search_start = std::chrono::steady_clock::now();
  if (o.search == "exact") {
    KnnOptions knn;
    knn.k = o.neighbours;
    knn.device = o.device;
    knn.cancel = &interrupt_flag();
    knn.progress = make_progress("k-NN search", "tiles", false);
    nn = exact_knn(x.data.data(), x.rows, bank.image_view(), knn);
    finish_progress();
  } else {
    std::string index = o.index;
    if (index.empty()) {
      std::vector<std::string> found;
      for (const auto& e : fs::directory_iterator(o.bank))
        if (e.path().extension() == ".faiss") found.push_back(e.path().string());
      if (found.empty()) throw Error(ErrorKind::kInput, "--search index: the bank '" + o.bank + "' has no index", "build one with `clipzs index build --bank BANK`");
      if (found.size() > 1)
        throw Error(ErrorKind::kUsage, "--search index: the bank holds " + std::to_string(found.size()) + " indexes",
                    "name one with --index");
      index = found.front();
    }
    std::error_code ec_index, ec_bank;
    const auto index_time = fs::last_write_time(index, ec_index);
    const auto bank_time = fs::last_write_time(fs::path(o.bank) / "bank.json", ec_bank);
    if (!ec_index && !ec_bank && index_time < bank_time)
      throw Error(ErrorKind::kInput, "the index '" + index + "' is older than the bank '" + o.bank + "' (bank.json)",
                  "it was built for an earlier bank in this folder; build it again with `clipzs index build --overwrite`");
    IndexSearchOptions s;
    s.k = o.neighbours;
    s.nprobe = o.nprobe;
    nn = search_faiss_index(index, x.data.data(), x.rows, x.cols, s);
  }
  const double search_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - search_start).count();
  spdlog::info("{} neighbours for {} images among {} bank pairs in {:.2f} s", o.neighbours, x.rows, bank.rows, search_seconds);

  // 2. Captions: neighbours' captions in kNN order, duplicates out, optionally re-ranked, top K.
  FolderWriter folder(o.out, "state.json");
  const std::string& temp = folder.temp();
  std::vector<std::vector<int64_t>> chosen = caption_candidates(nn, bank.captions, bank.usable);
  if (!o.rerank_model.empty()) {
    std::vector<std::vector<float>> scores = rerank_scores(o, images.records, store_rows, bank, chosen, temp + "/rerank");
    keep_top_captions(chosen, o.k, &scores);
  } else {
    keep_top_captions(chosen, o.k);
  }

  // 3. The ensemble, over the captions actually used.
  const DistinctIds used_captions = distinct_ids(chosen);
  Matrix caption_embeddings = bank.caption_rows(used_captions.ids);
  XMoReResult r = run_xmore(x, classes, caption_embeddings, used_captions.positions, {}, options);

  // Labels (from the store's rows or --labels) for the side-by-side accuracies.
  std::vector<int64_t> labels;
  if (!o.labels_file.empty()) {
    std::vector<int64_t> all_labels = read_npy(o.labels_file).to_int64();
    if (static_cast<int64_t>(all_labels.size()) != images.rows)
      throw Error(ErrorKind::kInput, o.labels_file + " has " + std::to_string(all_labels.size()) + " labels for " +
                                         std::to_string(images.rows) + " store rows");
    for (int64_t row : store_rows) labels.push_back(all_labels[static_cast<size_t>(row)]);
  } else if (std::none_of(row_labels.begin(), row_labels.end(), [](const std::string& l) { return l.empty(); })) {
    ResolvedLabels resolved = resolve_labels(row_labels, paths, classnames, parse_label_rule(o.label_rule));
    for (const auto& w : resolved.warnings) spdlog::warn("{}", w);
    for (int64_t row : store_rows) labels.push_back(resolved.ids[static_cast<size_t>(row)]);
  }
  json metrics = json::object();
  if (!labels.empty()) {
    const int64_t c = classes.rows;
    metrics["acc1_xmore"] = compute_metrics(labels, r.ensemble, c).acc1;
    metrics["acc1_zeroshot"] = compute_metrics(labels, r.image_only, c).acc1;
    // Captions-only over the images that have captions (the rest have no such prediction).
    metrics["acc1_captions_only"] = compute_metrics(labels, r.captions_only, c).acc1;
  }

  // 4. State, written into a temporary folder and renamed into place.
  const int64_t n_store = images.rows;
  write_top(temp, "xmore", expand_rows(r.ensemble, store_rows, n_store));
  write_top(temp, "zeroshot", expand_rows(r.image_only, store_rows, n_store));
  write_top(temp, "captions_only", expand_rows(r.captions_only, store_rows, n_store));
  std::vector<int64_t> predictions(static_cast<size_t>(n_store), -1);
  std::vector<float> confidence(static_cast<size_t>(n_store * 4), std::nanf(""));
  std::vector<int64_t> used(static_cast<size_t>(n_store * o.k), -1);
  std::string rows_text;
  int64_t captions_total = 0;
  for (size_t i = 0; i < store_rows.size(); ++i) {
    const int64_t row = store_rows[i];
    predictions[static_cast<size_t>(row)] = r.ensemble.top_index[i * static_cast<size_t>(r.ensemble.k)];
    confidence[static_cast<size_t>(row * 4 + 0)] = r.image_confidence[i];
    confidence[static_cast<size_t>(row * 4 + 1)] = r.caption_confidence[i];
    confidence[static_cast<size_t>(row * 4 + 2)] = r.image_weight[i];
    confidence[static_cast<size_t>(row * 4 + 3)] = r.caption_weight[i];
    for (size_t j = 0; j < chosen[i].size(); ++j) used[static_cast<size_t>(row * o.k) + j] = chosen[i][j];
    captions_total += static_cast<int64_t>(chosen[i].size());
    json line = {{"index", row},
                 {"path", paths[static_cast<size_t>(row)]},
                 {"prediction", classnames[static_cast<size_t>(predictions[static_cast<size_t>(row)])]},
                 {"image_confidence", r.image_confidence[i]},
                 {"captions", chosen[i]}};
    if (!chosen[i].empty()) line["caption_confidence"] = r.caption_confidence[i];
    rows_text += line.dump(-1, ' ', false, json::error_handler_t::replace) + "\n";
  }
  write_npy(temp + "/predictions.npy", "<i8", {n_store}, predictions.data(), predictions.size() * sizeof(int64_t));
  write_npy(temp + "/confidences.npy", confidence, {n_store, 4});
  write_npy(temp + "/captions.npy", "<i8", {n_store, static_cast<int64_t>(o.k)}, used.data(), used.size() * sizeof(int64_t));
  write_file_atomic(temp + "/predictions.jsonl", rows_text);
  const int64_t evaluated = static_cast<int64_t>(store_rows.size());
  json state = {
      {"cli", effective_options()},
      {"method", "xmore"},
      {"clipzs_version", CLIPZS_VERSION},
      {"created", utc_timestamp()},
      {"bundle_sha256", bundle_sha},
      {"classnames", classnames},
      {"image_store", o.images},
      {"image_store_sha256", images.manifest.value("files", json::object()).value("embeddings.npy", "")},
      {"text_store", o.text},
      {"bank", {{"path", o.bank}, {"rows", bank.rows}, {"pairs_sha256", bank.info.value("pairs_sha256", "")}}},
      {"parameters",
       {{"k", o.k}, {"neighbours", o.neighbours}, {"search", o.search}, {"nprobe", o.nprobe},
        {"rerank_model", o.rerank_model}, {"normalize", xmore_normalize_name(options.normalize)}, {"seed", o.seed},
        {"logit_scale", options.logit_scale}, {"logit_scale_from", o.logit_scale > 0 ? "--logit-scale" : "bundle"}}},
      {"coverage",
       {{"rows", n_store}, {"evaluated", evaluated}, {"with_captions", r.with_captions},
        {"without_captions", evaluated - r.with_captions},
        {"mean_captions", evaluated ? double(captions_total) / double(evaluated) : 0.0}}},
      {"metrics", metrics},
      {"search_seconds", search_seconds},
      {"seconds", std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count()},
      {"files",
       {{"predictions.npy", "int64 per store row: X-MoRe's class (-1: unreadable image)"},
        {"{xmore,zeroshot,captions_only}_top_{index,prob}.npy", "rows x 5 top classes and scores of each variant"},
        {"confidences.npy", "rows x 4 float32: a (image), b (captions), the weights a/mean a and b/mean b"},
        {"captions.npy", "rows x k int64 bank rows of the captions used (-1: fewer)"},
        {"predictions.jsonl", "per row: prediction, confidences, caption ids"}}}};
  write_file_atomic(temp + "/state.json", state.dump(1) + "\n");
  folder.commit();
  if (r.with_captions < evaluated)
    spdlog::warn("{} of {} images found no caption and are predicted from the image alone", evaluated - r.with_captions, evaluated);
  print_summary({{"command", "adapt xmore"}, {"out", o.out}, {"n", evaluated}, {"coverage", state["coverage"]},
                 {"metrics", metrics}, {"seconds", state["seconds"]}});
}

}  // namespace

void register_adapt_xmore(CLI::App* adapt, Action& action) {
  static XMoReCli o;
  CLI::App* sub = adapt->add_subcommand("xmore", "X-MoRe: captions of similar bank images, ensembled by confidence (Eom et al. 2023)");
  sub->add_option("--images", o.images, "Image embedding store of the test images (clipzs embed images)")->required();
  sub->add_option("--text", o.text, "Class embedding store (clipzs embed texts)")->required();
  sub->add_option("--bank", o.bank, "Retrieval bank (clipzs embed pairs) made with the same model")->required();
  sub->add_option("--out", o.out, "State folder to write")->required();
  sub->add_flag("--overwrite", o.overwrite, "Replace an existing state folder (one holding state.json)");
  sub->add_option("--k", o.k, "Captions per image")->capture_default_str();
  sub->add_option("--neighbours", o.neighbours, "Bank images retrieved per test image")->capture_default_str();
  sub->add_option("--search", o.search, "exact (every bank row) or index (a FAISS index of the bank)")->capture_default_str();
  sub->add_option("--index", o.index, "FAISS index file for --search index (default: the bank's)");
  sub->add_option("--nprobe", o.nprobe, "IVF lists visited by --search index")->capture_default_str();
  sub->add_option("--rerank-model", o.rerank_model, "Second bundle whose image-caption similarity orders the candidates");
  sub->add_option("--normalize", o.normalize, "Confidence means: running (seeded order, the reference) or global")->capture_default_str();
  sub->add_option("--seed", o.seed, "Order of the running means")->capture_default_str();
  sub->add_option("--logit-scale", o.logit_scale,
                  "Softmax scale s (default: the bundle's own, exp(logit_scale): 100 for OpenAI's CLIP)")
      ->check(CLI::PositiveNumber);
  sub->add_option("--labels", o.labels_file, "int64 .npy, one label per store row, to report accuracy (default: the store's labels)");
  sub->add_option("--label-rule", o.label_rule, "How store labels map to classes: auto, name, index, sorted")->capture_default_str();
  sub->add_option("--device", o.device, "cpu, cuda or cuda:N (retrieval and re-ranking)")->capture_default_str();
  sub->add_option("--threads", o.threads, "LibTorch threads (0: all cores)");
  sub->callback([&action] { action = [] { run(o); }; });
}

}  // namespace clipzs::cli
