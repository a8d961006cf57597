#include "fewshot_common.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <thread>
#include <unordered_map>
#include <unordered_set>

#include "clipzs/baselines.hpp"
#include "clipzs/dataset.hpp"
#include "clipzs/files.hpp"
#include "clipzs/inmap.hpp"  // check_and_normalize_features
#include "clipzs/model.hpp"
#include "clipzs/store.hpp"

namespace clipzs::cli {
namespace fs = std::filesystem;
using nlohmann::json;

void add_fewshot_options(CLI::App* sub, FewShotCliOptions& o) {
  sub->add_option("--train", o.train, "Image embedding store to draw the K shots from (clipzs embed images)")->required();
  sub->add_option("--val", o.val, "Image embedding store for model selection (may hold the --train images: drawn shots are left out)")->required();
  sub->add_option("--text", o.text, "Class embedding store (clipzs embed texts): class names and text proxies")->required();
  sub->add_option("--shots", o.shots, "Images per class (K)")->required();
  sub->add_option("--seed", o.seed, "Seed of the draw (and of the batch order where a method has one)")->capture_default_str();
  sub->add_option("--val-shots", o.val_shots, "Validation images per class (default min(K, 4); 0: all)");
  sub->add_option("--label-rule", o.label_rule, "How store labels map to classes: auto, name, index, sorted")->capture_default_str();
  sub->add_option("--out", o.out, "State folder to write")->required();
  sub->add_flag("--overwrite", o.overwrite, "Replace an existing state folder (one holding state.json)");
  sub->add_option("--threads", o.threads, "LibTorch threads (0: all cores)");
}

namespace {

struct LabelledStore {
  std::string dir;
  json manifest;
  FewShotSet set;                   // readable rows; groups are store row numbers
  std::vector<int64_t> store_rows;  // store row of each set row
  std::vector<std::string> files;   // image file of each set row ("path" or "path:member")
};

std::string bundle_of(const json& manifest) { return manifest.value("bundle", json::object()).value("sha256", ""); }
std::string data_sha(const json& manifest) { return manifest.value("files", json::object()).value("embeddings.npy", ""); }

LabelledStore read_labelled(const std::string& dir, const char* option, const std::string& bundle_sha, const std::string& text_dir,
                            const std::vector<std::string>& classnames, LabelRule rule) {
  Store s = read_store(dir);
  if (s.manifest.value("kind", "") != "images")
    throw Error(ErrorKind::kInput, std::string(option) + " '" + dir + "' is not an image embedding store", "make it with `clipzs embed images`");
  if (bundle_of(s.manifest) != bundle_sha)
    throw Error(ErrorKind::kInput, "the image store '" + dir + "' and the class store '" + text_dir + "' were made by different model bundles",
                "embed both with the same --model");
  LabelledStore out;
  out.dir = dir;
  out.manifest = s.manifest;
  std::vector<std::string> labels, paths;
  std::vector<int64_t> groups;
  std::unordered_map<std::string, int64_t> group_of_source;  // a source's group: its first row
  for (int64_t i = 0; i < s.rows; ++i) {
    const json& r = s.records[static_cast<size_t>(i)];
    if (r.value("status", "ok") != "ok") continue;
    out.store_rows.push_back(i);
    labels.push_back(r.value("label", ""));
    paths.push_back(r.value("path", ""));
    out.files.push_back(r.contains("member") ? paths.back() + ":" + r.value("member", "") : paths.back());
    if (r.contains("source") && !r["source"].is_null()) {
      const std::string key = r["source"].is_string() ? r["source"].get<std::string>() : r["source"].dump();
      groups.push_back(group_of_source.emplace(key, i).first->second);
    } else {
      groups.push_back(i);
    }
  }
  if (static_cast<int64_t>(out.store_rows.size()) < s.rows)
    spdlog::warn("{} rows of {} could not be read and are left out", s.rows - static_cast<int64_t>(out.store_rows.size()), dir);
  Matrix all{s.rows, s.dim, std::move(s.embeddings)};
  out.set.features = select_rows(all, out.store_rows);
  const int64_t normalised = check_and_normalize_features(out.set.features, dir);
  if (normalised) spdlog::warn("{} rows of {} were not unit-norm and were normalised", normalised, dir);
  ResolvedLabels resolved = resolve_labels(labels, paths, classnames, rule);
  for (const auto& w : resolved.warnings) spdlog::warn("{}", w);
  out.set.labels = std::move(resolved.ids);
  out.set.groups = std::move(groups);
  return out;
}

std::vector<int64_t> store_rows_of(const LabelledStore& s, const std::vector<int64_t>& rows) {
  std::vector<int64_t> out;
  for (int64_t r : rows) out.push_back(s.store_rows[static_cast<size_t>(r)]);
  return out;
}

int64_t count_groups(const FewShotSet& set) {
  return static_cast<int64_t>(std::unordered_set<int64_t>(set.groups.begin(), set.groups.end()).size());
}

json store_info(const LabelledStore& s, const FewShotSet& drawn) {
  return {{"path", s.dir}, {"embeddings_sha256", data_sha(s.manifest)}, {"readable_rows", s.set.features.rows},
          {"images", count_groups(s.set)}, {"drawn_rows", drawn.features.rows}, {"drawn_images", count_groups(drawn)}};
}

}  // namespace

FewShotInputs load_fewshot_inputs(const FewShotCliOptions& o) {
  if (o.shots < 1) throw Error(ErrorKind::kUsage, "--shots must be at least 1");
  if (o.val_shots < -1) throw Error(ErrorKind::kUsage, "--val-shots must be 0 (all) or positive");
  const LabelRule rule = parse_label_rule(o.label_rule);
  FewShotInputs in;

  Store text = read_store(o.text);
  if (text.manifest.value("kind", "") != "texts")
    throw Error(ErrorKind::kInput, "--text '" + o.text + "' is not a class embedding store", "make it with `clipzs embed texts`");
  in.bundle_sha256 = bundle_of(text.manifest);
  in.text_manifest = text.manifest;
  for (const auto& r : text.records) in.classnames.push_back(r.value("label", ""));
  in.classes = Matrix{text.rows, text.dim, std::move(text.embeddings)};
  const int64_t c = in.classes.rows;

  LabelledStore train = read_labelled(o.train, "--train", in.bundle_sha256, o.text, in.classnames, rule);
  LabelledStore val = read_labelled(o.val, "--val", in.bundle_sha256, o.text, in.classnames, rule);

  const std::vector<int64_t> train_rows = sample_few_shot(train.set, c, o.shots, o.seed);
  in.train = subset(train.set, train_rows);
  in.train_rows = store_rows_of(train, train_rows);

  // Validation candidates: never an image file drawn as a shot, whichever store it comes from (--val
  // may be --train itself, or the plain store of an augmented --train's images).
  std::vector<int64_t> candidates;
  std::unordered_set<std::string> drawn_files;
  for (int64_t r : train_rows) drawn_files.insert(train.files[static_cast<size_t>(r)]);
  int64_t left_out = 0;
  for (int64_t i = 0; i < val.set.features.rows; ++i) {
    if (drawn_files.count(val.files[static_cast<size_t>(i)])) ++left_out;
    else candidates.push_back(i);
  }
  if (left_out) spdlog::info("{} --val rows are images drawn as shots and are left out of validation", left_out);
  const FewShotSet pool = subset(val.set, candidates);
  const int val_shots = o.val_shots < 0 ? std::min(o.shots, 4) : o.val_shots;
  const uint64_t val_seed = o.seed ^ 0x9E3779B97F4A7C15ULL;  // a stream of its own, so val does not mirror the train draw
  std::vector<int64_t> val_rows;
  if (val_shots == 0) {
    for (int64_t i = 0; i < pool.features.rows; ++i) val_rows.push_back(i);
  } else {
    val_rows = sample_few_shot(pool, c, val_shots, val_seed);
  }
  in.val = subset(pool, val_rows);
  for (int64_t r : val_rows) in.val_rows.push_back(val.store_rows[static_cast<size_t>(candidates[static_cast<size_t>(r)])]);
  if (in.val.features.rows == 0)
    throw Error(ErrorKind::kInput, "no validation images are left in '" + o.val + "'", "give a --val store with labelled images");

  // Classes the draw could not fill.
  std::vector<std::unordered_set<int64_t>> per_class(static_cast<size_t>(c));
  for (size_t i = 0; i < in.train.labels.size(); ++i) per_class[static_cast<size_t>(in.train.labels[i])].insert(in.train.groups[i]);
  int64_t short_classes = 0, empty_classes = 0;
  for (const auto& g : per_class) {
    short_classes += static_cast<int64_t>(g.size()) < o.shots;
    empty_classes += g.empty();
  }
  if (short_classes)
    spdlog::warn("{} of {} classes have fewer than {} training images ({} have none)", short_classes, c, o.shots, empty_classes);

  in.provenance = {{"clipzs_version", CLIPZS_VERSION},
                   {"cli", effective_options()},
                   {"created", utc_timestamp()},
                   {"shots", o.shots},
                   {"seed", o.seed},
                   {"val_shots", val_shots},
                   {"val_seed", val_seed},
                   {"label_rule", o.label_rule},
                   {"bundle_sha256", in.bundle_sha256},
                   {"bundle_name", text.manifest.value("bundle", json::object()).value("name", "")},
                   {"classnames", in.classnames},
                   {"classes", c},
                   {"d", in.classes.cols},
                   {"train_store", store_info(train, in.train)},
                   {"val_store", store_info(val, in.val)},
                   {"text_store", {{"path", o.text}, {"embeddings_sha256", data_sha(text.manifest)}}},
                   {"train_rows", in.train_rows},
                   {"val_rows", in.val_rows}};
  return in;
}

void run_fewshot_adapt(const std::string& command, const FewShotCliOptions& o, const FewShotTrainer& trainer) {
  if (output_taken(o.out) && !o.overwrite)
    throw Error(ErrorKind::kOutput, "'" + o.out + "' already exists", "pass --overwrite to replace it, or choose another --out");
  check_replaceable_folder(o.out, "state.json");  // now, not after training
  set_torch_threads(o.threads > 0 ? o.threads : static_cast<int>(std::max(1u, std::thread::hardware_concurrency())));
  FewShotInputs in = load_fewshot_inputs(o);
  spdlog::info("{}: {} classes, K = {} (seed {}): {} train rows ({} images), {} validation rows", command, in.classes.rows, o.shots,
               o.seed, in.train.features.rows, in.provenance["train_store"]["drawn_images"].get<int64_t>(), in.val.features.rows);
  const auto start = std::chrono::steady_clock::now();
  FewShotState state = trainer(in);
  finish_progress();
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();

  const float bundle_scale = store_logit_scale(in.text_manifest);
  const FewShotState zeroshot = make_zeroshot_state(in.classes, bundle_scale > 0 ? bundle_scale : 100.0f);
  json metrics = {{"train_accuracy", top1_accuracy(fewshot_logits(state, in.train.features), in.train.labels)},
                  {"val_accuracy", top1_accuracy(fewshot_logits(state, in.val.features), in.val.labels)},
                  {"val_accuracy_zeroshot", top1_accuracy(fewshot_logits(zeroshot, in.val.features), in.val.labels)}};
  state.info.update(in.provenance);
  state.info["metrics"] = metrics;
  state.info["train_seconds"] = seconds;
  save_fewshot_state(state, o.out, o.overwrite);
  print_summary({{"command", command}, {"out", o.out}, {"shots", o.shots}, {"seed", o.seed}, {"classes", in.classes.rows},
                 {"train_rows", in.train.features.rows}, {"val_rows", in.val.features.rows}, {"parameters", state.parameters},
                 {"metrics", metrics}, {"seconds", seconds}});
}

}  // namespace clipzs::cli
