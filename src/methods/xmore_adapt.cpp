// adapt_xmore: retrieval, caption choice, the ensemble and the X-MoRe state (include/clipzs/methods/xmore.hpp).
#include <algorithm>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <unordered_map>

#include "clipzs/store/bank.hpp"
#include "clipzs/pipeline/embed.hpp"
#include "clipzs/util/error.hpp"
#include "clipzs/util/files.hpp"
#include "clipzs/search/knn.hpp"
#include "clipzs/methods/labelled.hpp"
#include "clipzs/util/log.hpp"
#include "clipzs/methods/method.hpp"
#include "clipzs/util/metrics.hpp"
#include "clipzs/model/model.hpp"
#include "clipzs/store/npy.hpp"
#include "clipzs/store/store.hpp"
#include "clipzs/methods/xmore.hpp"
#include "methods/stored_predictions.hpp"

namespace clipzs {
namespace fs = std::filesystem;
using nlohmann::json;

namespace {

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
std::vector<std::vector<float>> rerank_scores(const XMoReAdaptParams& p, const ImageEmbeddings& images, const Bank& bank,
                                              const std::vector<std::vector<int64_t>>& candidates, const std::string& work) {
  BundleInfo info = load_bundle_info(p.rerank_model);
  log_info("re-ranking candidates with " + info.name + " (" + p.rerank_model + ")");
  RuntimeOptions runtime;
  runtime.device = p.device;
  runtime.load_image = runtime.load_text = true;
  runtime.warmup = true;
  ClipModel model = ClipModel::load(info, runtime);
  ClipTokenizer tokenizer = load_bundle_tokenizer(info);
  std::vector<ImageInput> inputs;
  for (int64_t row : images.rows) {
    const json& r = images.records[static_cast<size_t>(row)];
    if (r.contains("member"))
      throw Error(ErrorKind::kUnsupported, "re-ranking needs the test images as files; row " + std::to_string(row) + " is a member of " +
                                               r.value("path", "?"));
    inputs.push_back({r.value("path", ""), r.value("label", "")});
  }
  EmbedImagesOptions image_options;
  image_options.cancel = p.cancel;
  embed_images(model, inputs, work + "/images", image_options, in_stage(p.progress, "rerank images"));
  const DistinctIds distinct = distinct_ids(candidates);  // each caption embedded once
  std::vector<std::string> texts;
  for (int64_t id : distinct.ids) texts.push_back(bank.captions[static_cast<size_t>(id)]);
  EmbedCaptionsOptions caption_options;
  caption_options.cancel = p.cancel;
  embed_captions(model, tokenizer, texts, work + "/captions", caption_options, in_stage(p.progress, "rerank captions"));
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

std::string find_index(const XMoReAdaptParams& p) {
  std::string index = p.index;
  if (index.empty()) {
    std::vector<std::string> found;
    for (const auto& e : fs::directory_iterator(p.bank))
      if (e.path().extension() == ".faiss") found.push_back(e.path().string());
    if (found.empty())
      throw Error(ErrorKind::kInput, "index search: the bank '" + p.bank + "' has no index", "build one with `" + call("build_faiss_index") + " " + param("bank") + " BANK`");
    if (found.size() > 1)
      throw Error(ErrorKind::kUsage, "index search: the bank holds " + std::to_string(found.size()) + " indexes", "name the one to use");
    index = found.front();
  }
  std::error_code ec_index, ec_bank;
  const auto index_time = fs::last_write_time(index, ec_index);
  const auto bank_time = fs::last_write_time(fs::path(p.bank) / "bank.json", ec_bank);
  if (!ec_index && !ec_bank && index_time < bank_time)
    throw Error(ErrorKind::kInput, "the index '" + index + "' is older than the bank '" + p.bank + "' (bank.json)",
                "it was built for an earlier bank in this folder; build it again with `" + call("build_faiss_index") + " " + param("overwrite") + "`");
  return index;
}

}  // namespace

XMoReAdaptResult adapt_xmore(const XMoReAdaptParams& p) {
  check_replaceable_folder(p.out, "state.json");  // now, not after the search
  if (p.k < 1 || p.neighbours < 1) throw Error(ErrorKind::kUsage, "k and neighbours must be at least 1");
  if (p.search != "exact" && p.search != "index") throw Error(ErrorKind::kUsage, "search must be exact or index, not '" + p.search + "'");
  const auto start = std::chrono::steady_clock::now();
  XMoReOptions options;
  options.normalize = p.normalize;
  options.seed = p.seed;

  const ClassEmbeddings text = load_class_embeddings(p.text);
  options.logit_scale = resolve_logit_scale(p.logit_scale, text.manifest, p.text);
  ImageEmbeddingsOptions io;
  io.rule = p.label_rule;
  io.labels_npy = p.labels;
  const ImageEmbeddings images = load_image_embeddings(p.images, text, io);
  const Matrix& x = images.features;

  Bank bank = open_bank(p.bank);
  if (bank.bundle_sha256() != text.bundle_sha256)
    throw Error(ErrorKind::kInput, "the bank '" + p.bank + "' was embedded by another model bundle than the stores",
                "make the bank with the same model as the image and class stores");
  if (bank.dim != x.cols) throw Error(ErrorKind::kInput, "the bank has d = " + std::to_string(bank.dim) + ", the images d = " + std::to_string(x.cols));

  // 1. Image-to-image neighbours in the bank.
  KnnResult nn;
  const auto search_start = std::chrono::steady_clock::now();
  if (p.search == "exact") {
    KnnOptions knn;
    knn.k = p.neighbours;
    knn.device = p.device;
    knn.cancel = p.cancel;
    knn.progress = in_stage(p.progress, "k-NN search");
    nn = exact_knn(x.data.data(), x.rows, bank.image_view(), knn);
  } else {
    IndexSearchOptions s;
    s.k = p.neighbours;
    s.nprobe = p.nprobe;
    nn = search_faiss_index(find_index(p), x.data.data(), x.rows, x.cols, s);
  }
  const double search_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - search_start).count();
  log_info(std::to_string(p.neighbours) + " neighbours for " + std::to_string(x.rows) + " images among " + std::to_string(bank.rows) +
           " bank pairs in " + std::to_string(search_seconds) + " s");

  // 2. Captions: neighbours' captions in kNN order, duplicates out, optionally re-ranked, top K.
  FolderWriter folder(p.out, "state.json");
  const std::string& temp = folder.temp();
  std::vector<std::vector<int64_t>> chosen = caption_candidates(nn, bank.captions, bank.usable);
  if (!p.rerank_model.empty()) {
    std::vector<std::vector<float>> scores = rerank_scores(p, images, bank, chosen, temp + "/rerank");
    keep_top_captions(chosen, p.k, &scores);
  } else {
    keep_top_captions(chosen, p.k);
  }

  // 3. The ensemble, over the captions actually used.
  const DistinctIds used_captions = distinct_ids(chosen);
  Matrix caption_embeddings = bank.caption_rows(used_captions.ids);
  XMoReResult r = run_xmore(x, text.proxies, caption_embeddings, used_captions.positions, {}, options);

  json metrics = json::object();
  if (!images.labels.empty()) {
    const int64_t c = text.proxies.rows;
    metrics["acc1_xmore"] = compute_metrics(images.labels, r.ensemble, c).acc1;
    metrics["acc1_zeroshot"] = compute_metrics(images.labels, r.image_only, c).acc1;
    // Captions-only over the images that have captions (the rest have no such prediction).
    metrics["acc1_captions_only"] = compute_metrics(images.labels, r.captions_only, c).acc1;
  }

  // 4. State, written into a temporary folder and renamed into place.
  const int64_t n_store = images.store_rows;
  const std::vector<int64_t>& store_rows = images.rows;
  write_stored_predictions(temp, "xmore", spread_rows(r.ensemble, store_rows, n_store));
  write_stored_predictions(temp, "zeroshot", spread_rows(r.image_only, store_rows, n_store));
  write_stored_predictions(temp, "captions_only", spread_rows(r.captions_only, store_rows, n_store));
  std::vector<int64_t> predictions(static_cast<size_t>(n_store), -1);
  std::vector<float> confidence(static_cast<size_t>(n_store * 4), std::nanf(""));
  std::vector<int64_t> used(static_cast<size_t>(n_store * p.k), -1);
  std::string rows_text;
  int64_t captions_total = 0;
  for (size_t i = 0; i < store_rows.size(); ++i) {
    const int64_t row = store_rows[i];
    predictions[static_cast<size_t>(row)] = r.ensemble.top_index[i * static_cast<size_t>(r.ensemble.k)];
    confidence[static_cast<size_t>(row * 4 + 0)] = r.image_confidence[i];
    confidence[static_cast<size_t>(row * 4 + 1)] = r.caption_confidence[i];
    confidence[static_cast<size_t>(row * 4 + 2)] = r.image_weight[i];
    confidence[static_cast<size_t>(row * 4 + 3)] = r.caption_weight[i];
    for (size_t j = 0; j < chosen[i].size(); ++j) used[static_cast<size_t>(row * p.k) + j] = chosen[i][j];
    captions_total += static_cast<int64_t>(chosen[i].size());
    json line = {{"index", row},
                 {"path", images.paths[i]},
                 {"prediction", text.classnames[static_cast<size_t>(predictions[static_cast<size_t>(row)])]},
                 {"image_confidence", r.image_confidence[i]},
                 {"captions", chosen[i]}};
    if (!chosen[i].empty()) line["caption_confidence"] = r.caption_confidence[i];
    rows_text += line.dump(-1, ' ', false, json::error_handler_t::replace) + "\n";
  }
  write_npy(temp + "/predictions.npy", "<i8", {n_store}, predictions.data(), predictions.size() * sizeof(int64_t));
  write_npy(temp + "/confidences.npy", confidence, {n_store, 4});
  write_npy(temp + "/captions.npy", "<i8", {n_store, static_cast<int64_t>(p.k)}, used.data(), used.size() * sizeof(int64_t));
  write_file_atomic(temp + "/predictions.jsonl", rows_text);
  const int64_t evaluated = static_cast<int64_t>(store_rows.size());
  json state = p.provenance.is_object() ? p.provenance : json::object();
  state.update({
      {"bundle_sha256", text.bundle_sha256},
      {"classnames", text.classnames},
      {"image_store", p.images},
      {"image_store_sha256", images.embeddings_sha256},
      {"text_store", p.text},
      {"bank", {{"path", p.bank}, {"rows", bank.rows}, {"pairs_sha256", bank.info.value("pairs_sha256", "")}}},
      {"parameters",
       {{"k", p.k}, {"neighbours", p.neighbours}, {"search", p.search}, {"nprobe", p.nprobe},
        {"rerank_model", p.rerank_model}, {"normalize", xmore_normalize_name(options.normalize)}, {"seed", p.seed},
        {"logit_scale", options.logit_scale}, {"logit_scale_from", p.logit_scale > 0 ? p.logit_scale_from : "bundle"}}},
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
        {"predictions.jsonl", "per row: prediction, confidences, caption ids"}}}});
  stamp_state(state, "xmore");
  write_file_atomic(temp + "/state.json", state.dump(1) + "\n");
  folder.commit();
  if (r.with_captions < evaluated)
    log_warn(std::to_string(evaluated - r.with_captions) + " of " + std::to_string(evaluated) +
             " images found no caption and are predicted from the image alone");
  XMoReAdaptResult out;
  out.state = state;
  out.evaluated = evaluated;
  out.with_captions = r.with_captions;
  return out;
}

}  // namespace clipzs
