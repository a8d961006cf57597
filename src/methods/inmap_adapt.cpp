// adapt_inmap and the InMaP state: its one writer and one reader (include/clipzs/methods/inmap.hpp).
#include <cmath>
#include <filesystem>

#include "clipzs/util/error.hpp"
#include "clipzs/util/files.hpp"
#include "clipzs/methods/inmap.hpp"
#include "clipzs/methods/labelled.hpp"
#include "clipzs/util/log.hpp"
#include "clipzs/methods/method.hpp"
#include "clipzs/store/npy.hpp"
#include "clipzs/store/store.hpp"
#include "methods/proxy_classifier.hpp"

namespace clipzs {
namespace fs = std::filesystem;
using nlohmann::json;

namespace {

constexpr int kInMaPStateVersion = 1;

Matrix read_matrix(const std::string& path, const char* what) {
  NpyArray a = read_npy(path);
  if (a.shape.size() != 2)
    throw Error(ErrorKind::kInput, path + ": " + what + " must be a 2-D array, found " + std::to_string(a.shape.size()) + "-D");
  Matrix m{a.shape[0], a.shape[1], a.to_float()};
  const std::vector<int64_t> bad = nonfinite_rows(m.data.data(), m.rows, m.cols);
  if (!bad.empty())
    throw Error(ErrorKind::kInput, path + ": " + what + " hold NaN or Inf values in " + describe_rows(bad),
                "re-create the file; embeddings from `" + call("embed") + "` are checked before they are written");
  return m;
}

void write_matrix(const std::string& path, const Matrix& m) { write_npy(path, m.data, {m.rows, m.cols}); }

std::unique_ptr<MethodState> load_inmap_state(const std::string& dir, const json& state) {
  const std::string file = (fs::path(dir) / "vision_proxies.npy").string();
  NpyArray proxies = read_npy(file);
  if (proxies.shape.size() != 2) throw Error(ErrorKind::kInput, file + " is not d x C");
  Matrix classes = transpose(Matrix{proxies.shape[0], proxies.shape[1], proxies.to_float()});
  std::vector<std::string> classnames = state.value("classnames", std::vector<std::string>{});
  if (static_cast<int64_t>(classnames.size()) != classes.rows)
    throw Error(ErrorKind::kInput, (fs::path(dir) / "state.json").string() + " lists " + std::to_string(classnames.size()) +
                                       " class names for " + std::to_string(classes.rows) + " proxies");
  // The proxies were trained under softmax(x.w / tau_i): that temperature gives their probabilities.
  const float scale = static_cast<float>(1.0 / state.value("parameters", json::object()).value("tau_i", 0.01));
  return std::make_unique<ProxyClassifierState>("inmap", state, std::move(classnames), std::move(classes), scale);
}

}  // namespace

MethodEntry inmap_method_entry() {
  MethodEntry e;
  e.name = "inmap";
  e.kind = MethodKind::kLabelFree;
  e.summary = "InMaP: vision proxies learned from the unlabeled test images (Qian et al., NeurIPS 2023)";
  e.state_version = kInMaPStateVersion;
  e.load = load_inmap_state;
  return e;
}

InMaPAdaptResult adapt_inmap(const InMaPAdaptParams& p) {
  if (p.images.empty() == p.features.empty()) throw Error(ErrorKind::kUsage, "give exactly one of an image store or a features file");
  if (p.text.empty() == p.text_proxies.empty()) throw Error(ErrorKind::kUsage, "give exactly one of a class store or a text-proxies file");
  check_replaceable_folder(p.out, "state.json");  // now, not after the run
  json state = p.provenance.is_object() ? p.provenance : json::object();

  // Text proxies (d x C) and class names.
  Matrix wt;
  std::vector<std::string> classnames;
  std::string bundle_sha;
  ClassEmbeddings classes;
  if (!p.text.empty()) {
    classes = load_class_embeddings(p.text);
    wt = transpose(classes.proxies);
    classnames = classes.classnames;
    bundle_sha = classes.bundle_sha256;
    state["text_store"] = p.text;
  } else {
    wt = read_matrix(p.text_proxies, "text proxies");
    for (int64_t c = 0; c < wt.cols; ++c) classnames.push_back(std::to_string(c));
    state["text_proxies"] = p.text_proxies;
  }

  // Features (n x d), keeping the store's row numbers.
  Matrix x;
  std::vector<int64_t> store_rows, labels;
  int64_t store_size = 0;
  if (!p.images.empty()) {
    ImageEmbeddingsOptions io;
    io.rule = p.label_rule;
    io.labels_npy = p.labels;
    io.resolve_labels = !p.text.empty();  // rows.jsonl labels name the classes of a class store only
    ImageEmbeddings images = p.text.empty() ? load_image_embeddings(p.images, "", classnames, "", io)
                                            : load_image_embeddings(p.images, classes, io);
    labels = std::move(images.labels);
    if (bundle_sha.empty()) bundle_sha = images.bundle_sha256;
    store_size = images.store_rows;
    store_rows = images.rows;
    x = std::move(images.features);
    state["image_store"] = p.images;
  } else {
    x = read_matrix(p.features, "features");
    state["features"] = p.features;
    if (!p.labels.empty()) {
      labels = read_npy(p.labels).to_int64();
      if (static_cast<int64_t>(labels.size()) != x.rows)
        throw Error(ErrorKind::kInput, p.labels + " has " + std::to_string(labels.size()) + " labels for " + std::to_string(x.rows) +
                                           " feature rows");
    }
  }
  if (x.cols != wt.rows)
    throw Error(ErrorKind::kInput, "features have d = " + std::to_string(x.cols) + ", text proxies d = " + std::to_string(wt.rows),
                "text proxies are d x C; both must come from the same model");
  if (p.images.empty()) {
    const int64_t normalised = check_and_normalize_features(x, p.features);
    if (normalised) log_warn(std::to_string(normalised) + " feature rows were not unit-norm and were normalised");
  }
  for (int64_t c = 0; c < wt.cols; ++c) {
    double norm = 0;
    for (int64_t j = 0; j < wt.rows; ++j) norm += double(wt.data[j * wt.cols + c]) * wt.data[j * wt.cols + c];
    if (!std::isfinite(norm) || norm == 0) throw Error(ErrorKind::kInput, "text proxy column " + std::to_string(c) + " is zero or not finite");
  }
  if (x.rows < wt.cols)
    log_warn(std::to_string(x.rows) + " images for " + std::to_string(wt.cols) + " classes: Sinkhorn assumes every class is present in balance");

  const InMaPOptions& o = p.options;
  log_info("InMaP on " + std::to_string(x.rows) + " images, d = " + std::to_string(x.cols) + ", " + std::to_string(wt.cols) + " classes, " +
           std::to_string(o.iters_proxy) + " steps" + (o.fast ? " (fast)" : ""));
  InMaPResult result = run_inmap(x, wt, o);
  json metrics = json::object();
  if (!labels.empty()) {
    metrics["acc_text_proxy"] = accuracy(result.text_predictions, labels);
    metrics[o.use_sinkhorn ? "acc_vision_proxy" : "acc_vision_proxy_no_sinkhorn"] = accuracy(result.predictions, labels);
  }
  InMaPResult ablation;
  const bool run_ablation = o.use_sinkhorn && p.ablation;
  if (run_ablation) {
    InMaPOptions a = o;
    a.use_sinkhorn = false;
    a.progress = in_stage(o.progress, "(no Sinkhorn)");
    log_info("ablation: the same without Sinkhorn");
    ablation = run_inmap(x, wt, a);
    if (!labels.empty()) metrics["acc_vision_proxy_no_sinkhorn"] = accuracy(ablation.predictions, labels);
  }

  // The state, written into a temporary folder and renamed into place.
  FolderWriter folder(p.out, "state.json");
  const std::string& temp = folder.temp();
  write_matrix(temp + "/vision_proxies.npy", result.vision_proxies);
  write_matrix(temp + "/text_proxies.npy", wt);
  if (run_ablation) write_matrix(temp + "/vision_proxies_no_sinkhorn.npy", ablation.vision_proxies);
  const std::vector<int64_t> predictions =
      store_rows.empty() ? result.predictions : spread_rows(result.predictions, store_rows, store_size);  // -1: unreadable image
  write_npy(temp + "/predictions.npy", "<i8", {static_cast<int64_t>(predictions.size())}, predictions.data(),
            predictions.size() * sizeof(int64_t));
  std::string log;
  for (const auto& s : result.log) {
    json line = {{"iteration", s.iteration}, {"grad_norm", s.grad_norm}, {"lr", s.lr}};
    if (s.loss >= 0) line["loss"] = s.loss;
    log += line.dump() + "\n";
  }
  write_file_atomic(temp + "/log.jsonl", log);
  stamp_state(state, "inmap");
  state["parameters"] = {{"tau_t", o.tau_t}, {"tau_i", o.tau_i}, {"alpha", o.alpha}, {"gamma", o.gamma}, {"lr", o.lr},
                         {"iters_proxy", o.iters_proxy}, {"iters_sinkhorn", o.iters_sinkhorn},
                         {"sinkhorn", o.use_sinkhorn}, {"fast", o.fast}};
  state["bundle_sha256"] = bundle_sha;
  state["classnames"] = classnames;
  state["n"] = x.rows;
  state["d"] = x.cols;
  state["classes"] = wt.cols;
  state["metrics"] = metrics;
  state["seconds"] = result.seconds + ablation.seconds;
  state["final_lr"] = result.log.empty() ? o.lr : result.log.back().lr;
  state["steps_taken"] = static_cast<int64_t>(result.log.size());
  state["files"] = {{"vision_proxies.npy", "d x C float32, unit columns: the classifier"},
                    {"predictions.npy", "int64 per input row (-1: unreadable image)"},
                    {"text_proxies.npy", "d x C float32, the initialisation"},
                    {"log.jsonl", "per step: grad_norm, lr (after halving), loss every loss_every steps"}};
  write_file_atomic(temp + "/state.json", state.dump(1) + "\n");
  folder.commit();
  InMaPAdaptResult r;
  r.state = state;
  r.metrics = metrics;
  r.n = x.rows;
  r.classes = wt.cols;
  r.seconds = state["seconds"].get<double>();
  return r;
}

}  // namespace clipzs
