// `clipzs adapt inmap`: learn InMaP vision proxies from unlabeled image embeddings.
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <thread>

#include "clipzs/dataset.hpp"
#include "clipzs/files.hpp"
#include "clipzs/inmap.hpp"
#include "clipzs/model.hpp"
#include "clipzs/npy.hpp"
#include "clipzs/store.hpp"
#include "command.hpp"

namespace clipzs::cli {
namespace fs = std::filesystem;
using nlohmann::json;

namespace {

Matrix read_matrix(const std::string& path, const char* what) {
  NpyArray a = read_npy(path);
  if (a.shape.size() != 2)
    throw Error(ErrorKind::kInput, path + ": " + what + " must be a 2-D array, found " + std::to_string(a.shape.size()) + "-D");
  Matrix m{a.shape[0], a.shape[1], a.to_float()};
  const std::vector<int64_t> bad = nonfinite_rows(m.data.data(), m.rows, m.cols);
  if (!bad.empty())
    throw Error(ErrorKind::kInput, path + ": " + what + " hold NaN or Inf values in " + describe_rows(bad),
                "re-create the file; embeddings from `clipzs embed` are checked before they are written");
  return m;
}

void write_matrix(const std::string& path, const Matrix& m) { write_npy(path, m.data, {m.rows, m.cols}); }

void write_ids(const std::string& path, const std::vector<int64_t>& ids) {
  write_npy(path, "<i8", {static_cast<int64_t>(ids.size())}, ids.data(), ids.size() * sizeof(int64_t));
}

}  // namespace

void register_adapt(CLI::App& app, Action& action) {
  CLI::App* adapt = app.add_subcommand("adapt", "Adapt a classifier to unlabeled target images");
  adapt->require_subcommand(1);
  register_adapt_xmore(adapt, action);
  register_adapt_fewshot(adapt, action);
  register_adapt_relation(adapt, action);
  static std::string images, text, features, text_proxies, labels_file, out, label_rule = "auto";
  static InMaPOptions o;
  static bool no_sinkhorn = false, no_ablation = false, overwrite = false;
  static int threads = 0;
  CLI::App* sub = adapt->add_subcommand("inmap", "InMaP: vision proxies from unlabeled images (Qian et al., NeurIPS 2023)");
  sub->add_option("--images", images, "Image embedding store (clipzs embed images)");
  sub->add_option("--text", text, "Class embedding store (clipzs embed texts): the text proxies");
  sub->add_option("--features", features, "Instead of --images: n x d float32 .npy of L2-normalised features");
  sub->add_option("--text-proxies", text_proxies, "Instead of --text: d x C float32 .npy of text proxies");
  sub->add_option("--labels", labels_file, "int64 .npy of n labels, to report accuracy (stores: labels from rows.jsonl)");
  sub->add_option("--label-rule", label_rule, "How store labels map to classes: auto, name, index, sorted")->capture_default_str();
  sub->add_option("--out", out, "State folder to write")->required();
  sub->add_flag("--overwrite", overwrite, "Replace an existing state folder (one holding state.json)");
  sub->add_option("--tau-t", o.tau_t, "Temperature of the text pseudo labels")->capture_default_str();
  sub->add_option("--tau-i", o.tau_i, "Temperature of the vision-proxy softmax")->capture_default_str();
  sub->add_option("--alpha", o.alpha, "Pseudo labels above this become one-hot")->capture_default_str();
  sub->add_option("--gamma", o.gamma, "Sinkhorn class prior exponent (0: uniform)")->capture_default_str();
  sub->add_option("--lr", o.lr, "Initial step size")->capture_default_str();
  sub->add_option("--iters", o.iters_proxy, "Gradient steps")->capture_default_str();
  sub->add_option("--sinkhorn-iters", o.iters_sinkhorn, "Sinkhorn iterations")->capture_default_str();
  sub->add_flag("--no-sinkhorn", no_sinkhorn, "Softmax pseudo labels without Sinkhorn refinement");
  sub->add_flag("--no-ablation", no_ablation, "Skip the second run without Sinkhorn that the official script reports");
  sub->add_flag("--fast", o.fast, "Stop once the proxies no longer move (docs/methods/inmap.md)");
  sub->add_option("--loss-every", o.loss_every, "Log the loss every k steps (0: never)")->capture_default_str();
  sub->add_option("--threads", threads, "LibTorch threads (0: all cores)");
  sub->callback([&action] {
    action = [] {
      if (images.empty() == features.empty()) throw Error(ErrorKind::kUsage, "give exactly one of --images or --features");
      if (text.empty() == text_proxies.empty()) throw Error(ErrorKind::kUsage, "give exactly one of --text or --text-proxies");
      if (output_taken(out) && !overwrite)
        throw Error(ErrorKind::kOutput, "'" + out + "' already exists", "pass --overwrite to replace it, or choose another --out");
      check_replaceable_folder(out, "state.json");  // now, not after the run
      set_torch_threads(threads > 0 ? threads : static_cast<int>(std::max(1u, std::thread::hardware_concurrency())));
      o.use_sinkhorn = !no_sinkhorn;
      o.cancel = &interrupt_flag();
      json state = {{"method", "inmap"}, {"clipzs_version", CLIPZS_VERSION}, {"created", utc_timestamp()}, {"cli", effective_options()}};

      // Text proxies (d x C) and class names.
      Matrix wt;
      std::vector<std::string> classnames;
      std::string bundle_sha;
      if (!text.empty()) {
        Store s = read_store(text);
        if (s.manifest.value("kind", "") != "texts")
          throw Error(ErrorKind::kInput, "'" + text + "' is not a class embedding store", "make it with `clipzs embed texts`");
        wt = transpose(Matrix{s.rows, s.dim, std::move(s.embeddings)});
        for (const auto& r : s.records) classnames.push_back(r.value("label", ""));
        bundle_sha = s.manifest["bundle"].value("sha256", "");
        state["text_store"] = text;
      } else {
        wt = read_matrix(text_proxies, "text proxies");
        for (int64_t c = 0; c < wt.cols; ++c) classnames.push_back(std::to_string(c));
        state["text_proxies"] = text_proxies;
      }

      // Features (n x d), keeping the store's row numbers.
      Matrix x;
      std::vector<int64_t> store_rows;
      std::vector<int64_t> labels;
      int64_t store_size = 0;
      if (!images.empty()) {
        Store s = read_store(images);
        if (s.manifest.value("kind", "") != "images")
          throw Error(ErrorKind::kInput, "'" + images + "' is not an image embedding store", "make it with `clipzs embed images`");
        const std::string image_bundle = s.manifest["bundle"].value("sha256", "");
        if (!bundle_sha.empty() && image_bundle != bundle_sha)
          throw Error(ErrorKind::kInput, "the image and class stores were made by different model bundles",
                      "embed both with the same --model");
        bundle_sha = image_bundle;
        store_size = s.rows;
        Matrix all{s.rows, s.dim, std::move(s.embeddings)};
        std::vector<std::string> row_labels, paths;
        for (int64_t i = 0; i < s.rows; ++i) {
          const auto& r = s.records[static_cast<size_t>(i)];
          if (r.value("status", "ok") != "ok") continue;
          store_rows.push_back(i);
          row_labels.push_back(r.value("label", ""));
          paths.push_back(r.value("path", ""));
        }
        if (static_cast<int64_t>(store_rows.size()) < s.rows)
          spdlog::warn("{} rows of {} could not be read and are left out", s.rows - static_cast<int64_t>(store_rows.size()), images);
        x = select_rows(all, store_rows);
        const bool all_labelled = std::none_of(row_labels.begin(), row_labels.end(), [](const std::string& l) { return l.empty(); });
        if (labels_file.empty() && all_labelled && !text.empty()) {
          ResolvedLabels r = resolve_labels(row_labels, paths, classnames, parse_label_rule(label_rule));
          for (const auto& w : r.warnings) spdlog::warn("{}", w);
          labels = r.ids;
        }
        state["image_store"] = images;
      } else {
        x = read_matrix(features, "features");
        state["features"] = features;
      }
      if (!labels_file.empty()) {
        labels = read_npy(labels_file).to_int64();
        if (static_cast<int64_t>(labels.size()) != x.rows)
          throw Error(ErrorKind::kInput, labels_file + " has " + std::to_string(labels.size()) + " labels for " +
                                             std::to_string(x.rows) + " feature rows");
      }
      if (x.cols != wt.rows)
        throw Error(ErrorKind::kInput, "features have d = " + std::to_string(x.cols) + ", text proxies d = " + std::to_string(wt.rows),
                    "text proxies are d x C; both must come from the same model");
      const int64_t normalised = check_and_normalize_features(x, images.empty() ? features : images);
      if (normalised) spdlog::warn("{} feature rows were not unit-norm and were normalised", normalised);
      for (int64_t c = 0; c < wt.cols; ++c) {
        double norm = 0;
        for (int64_t j = 0; j < wt.rows; ++j) norm += double(wt.data[j * wt.cols + c]) * wt.data[j * wt.cols + c];
        if (!std::isfinite(norm) || norm == 0)
          throw Error(ErrorKind::kInput, "text proxy column " + std::to_string(c) + " is zero or not finite");
      }
      if (x.rows < wt.cols)
        spdlog::warn("{} images for {} classes: Sinkhorn assumes every class is present in balance", x.rows, wt.cols);

      spdlog::info("InMaP on {} images, d = {}, {} classes, {} steps{}", x.rows, x.cols, wt.cols, o.iters_proxy, o.fast ? " (fast)" : "");
      o.progress = make_progress("inmap", "steps", false);
      InMaPResult result = run_inmap(x, wt, o);
      finish_progress();
      json metrics = json::object();
      if (!labels.empty()) {
        metrics["acc_text_proxy"] = accuracy(result.text_predictions, labels);
        metrics[o.use_sinkhorn ? "acc_vision_proxy" : "acc_vision_proxy_no_sinkhorn"] = accuracy(result.predictions, labels);
      }
      InMaPResult ablation;
      const bool run_ablation = o.use_sinkhorn && !no_ablation;
      if (run_ablation) {
        InMaPOptions a = o;
        a.use_sinkhorn = false;
        spdlog::info("ablation: the same without Sinkhorn (--no-ablation skips it)");
        a.progress = make_progress("inmap (no Sinkhorn)", "steps", false);
        ablation = run_inmap(x, wt, a);
        finish_progress();
        if (!labels.empty()) metrics["acc_vision_proxy_no_sinkhorn"] = accuracy(ablation.predictions, labels);
      }

      // Write the state into a temporary folder, then rename it into place.
      FolderWriter folder(out, "state.json");
      const std::string& temp = folder.temp();
      write_matrix(temp + "/vision_proxies.npy", result.vision_proxies);
      write_matrix(temp + "/text_proxies.npy", wt);
      if (run_ablation) write_matrix(temp + "/vision_proxies_no_sinkhorn.npy", ablation.vision_proxies);
      std::vector<int64_t> predictions = result.predictions;
      if (!store_rows.empty()) {  // predictions per store row; -1 for unreadable images
        predictions.assign(static_cast<size_t>(store_size), -1);
        for (size_t k = 0; k < store_rows.size(); ++k) predictions[static_cast<size_t>(store_rows[k])] = result.predictions[k];
      }
      write_ids(temp + "/predictions.npy", predictions);
      std::string log;
      for (const auto& s : result.log) {
        json line = {{"iteration", s.iteration}, {"grad_norm", s.grad_norm}, {"lr", s.lr}};
        if (s.loss >= 0) line["loss"] = s.loss;
        log += line.dump() + "\n";
      }
      write_file_atomic(temp + "/log.jsonl", log);
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
                        {"log.jsonl", "per step: grad_norm, lr (after halving), loss every --loss-every steps"}};
      write_file_atomic(temp + "/state.json", state.dump(1) + "\n");
      folder.commit();
      print_summary({{"command", "adapt inmap"}, {"out", out}, {"n", x.rows}, {"classes", wt.cols},
                     {"metrics", metrics}, {"seconds", state["seconds"]}});
    };
  });
}

}  // namespace clipzs::cli
