// adapt_fewshot: the few-shot protocol around a method's trainer (include/clipzs/methods/fewshot.hpp): read and
// check the stores, draw the shots and the validation set, train, measure, write the state.
#include <algorithm>
#include <chrono>
#include <unordered_map>
#include <unordered_set>

#include "clipzs/methods/baselines.hpp"
#include "clipzs/util/error.hpp"
#include "clipzs/methods/fewshot.hpp"
#include "clipzs/util/files.hpp"
#include "clipzs/methods/labelled.hpp"
#include "clipzs/util/log.hpp"
#include "clipzs/store/store.hpp"

namespace clipzs {
using nlohmann::json;

namespace {

struct LabelledStore {
  std::string dir;
  std::string embeddings_sha256;
  FewShotSet set;                   // readable rows; groups are store row numbers
  std::vector<int64_t> store_rows;  // store row of each set row
  std::vector<std::string> files;   // image file of each set row ("path" or "path:member")
};

LabelledStore read_labelled(const std::string& dir, const ClassEmbeddings& classes, LabelRule rule) {
  ImageEmbeddingsOptions io;
  io.rule = rule;
  io.require_labels = true;
  ImageEmbeddings images = load_image_embeddings(dir, classes, io);
  LabelledStore out;
  out.dir = dir;
  out.embeddings_sha256 = images.embeddings_sha256;
  out.set.features = std::move(images.features);
  out.set.labels = std::move(images.labels);
  out.set.groups = std::move(images.groups);
  out.store_rows = std::move(images.rows);
  out.files = std::move(images.files);
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
  return {{"path", s.dir}, {"embeddings_sha256", s.embeddings_sha256}, {"readable_rows", s.set.features.rows},
          {"images", count_groups(s.set)}, {"drawn_rows", drawn.features.rows}, {"drawn_images", count_groups(drawn)}};
}

}  // namespace

FewShotInputs load_fewshot_inputs(const FewShotAdaptParams& o) {
  if (o.shots < 1) throw Error(ErrorKind::kUsage, "shots must be at least 1");
  if (o.val_shots < -1) throw Error(ErrorKind::kUsage, "validation shots must be 0 (all) or positive");
  const LabelRule rule = o.label_rule;
  FewShotInputs in;

  ClassEmbeddings text = load_class_embeddings(o.text);
  in.bundle_sha256 = text.bundle_sha256;
  in.text_manifest = text.manifest;
  in.classnames = text.classnames;
  in.classes = text.proxies;
  const int64_t c = in.classes.rows;

  LabelledStore train = read_labelled(o.train, text, rule);
  LabelledStore val = read_labelled(o.val, text, rule);

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
  if (left_out) log_info(std::to_string(left_out) + " validation rows are images drawn as shots and are left out of validation");
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
    throw Error(ErrorKind::kInput, "no validation images are left in '" + o.val + "'", "give a validation store with labelled images");

  // Classes the draw could not fill.
  std::vector<std::unordered_set<int64_t>> per_class(static_cast<size_t>(c));
  for (size_t i = 0; i < in.train.labels.size(); ++i) per_class[static_cast<size_t>(in.train.labels[i])].insert(in.train.groups[i]);
  int64_t short_classes = 0, empty_classes = 0;
  for (const auto& g : per_class) {
    short_classes += static_cast<int64_t>(g.size()) < o.shots;
    empty_classes += g.empty();
  }
  if (short_classes)
    log_warn(std::to_string(short_classes) + " of " + std::to_string(c) + " classes have fewer than " + std::to_string(o.shots) +
             " training images (" + std::to_string(empty_classes) + " have none)");

  in.provenance = o.provenance.is_object() ? o.provenance : json::object();
  in.provenance.update({{"clipzs_version", CLIPZS_VERSION},
                   {"created", utc_timestamp()},
                   {"shots", o.shots},
                   {"seed", o.seed},
                   {"val_shots", val_shots},
                   {"val_seed", val_seed},
                   {"label_rule", o.label_rule_text.empty() ? std::string(label_rule_name(o.label_rule)) : o.label_rule_text},
                   {"bundle_sha256", in.bundle_sha256},
                   {"bundle_name", text.manifest.value("bundle", json::object()).value("name", "")},
                   {"classnames", in.classnames},
                   {"classes", c},
                   {"d", in.classes.cols},
                   {"train_store", store_info(train, in.train)},
                   {"val_store", store_info(val, in.val)},
                   {"text_store", {{"path", o.text}, {"embeddings_sha256", text.embeddings_sha256}}},
                   {"train_rows", in.train_rows},
                   {"val_rows", in.val_rows}});
  return in;
}

FewShotAdaptResult adapt_fewshot(const FewShotAdaptParams& o, const FewShotTrainer& trainer) {
  check_replaceable_folder(o.out, "state.json");  // now, not after training
  FewShotInputs in = load_fewshot_inputs(o);
  log_info(std::to_string(in.classes.rows) + " classes, K = " + std::to_string(o.shots) + " (seed " + std::to_string(o.seed) + "): " +
           std::to_string(in.train.features.rows) + " train rows (" +
           std::to_string(in.provenance["train_store"]["drawn_images"].get<int64_t>()) + " images), " +
           std::to_string(in.val.features.rows) + " validation rows");
  const auto start = std::chrono::steady_clock::now();
  FewShotAdaptResult r;
  r.state = trainer(in);
  if (o.after_training) o.after_training();
  r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();

  const float bundle_scale = store_logit_scale(in.text_manifest);
  const FewShotState zeroshot = make_zeroshot_state(in.classes, bundle_scale > 0 ? bundle_scale : 100.0f);
  r.metrics = {{"train_accuracy", top1_accuracy(fewshot_logits(r.state, in.train.features), in.train.labels)},
               {"val_accuracy", top1_accuracy(fewshot_logits(r.state, in.val.features), in.val.labels)},
               {"val_accuracy_zeroshot", top1_accuracy(fewshot_logits(zeroshot, in.val.features), in.val.labels)}};
  r.state.info.update(in.provenance);
  r.state.info["metrics"] = r.metrics;
  r.state.info["train_seconds"] = r.seconds;
  save_fewshot_state(r.state, o.out, true);  // `out` was checked above: empty, absent or a state folder
  r.classes = in.classes.rows;
  r.train_rows = in.train.features.rows;
  r.val_rows = in.val.features.rows;
  return r;
}

}  // namespace clipzs
