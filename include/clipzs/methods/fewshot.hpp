// Few-shot classification over cached embeddings: the shared protocol (sampling K shots per class),
// the state every few-shot method writes, and prediction from a state.
//
// Protocol (CoOp / Tip-Adapter): K images per class drawn without replacement from the train split
// with a seeded generator; every augmented view of a drawn image comes along (views share a `group`);
// the validation set is sub-sampled the same way to min(K, 4) images per class; the test split is
// only ever used for the reported number (no model selection on it).
//
// Shapes (float32 Matrix, rows L2-normalised): features n x d; class text proxies C x d.
// A state is a folder: state.json ({"method", "parameters", "classnames", "bundle_sha256", ...,
// "arrays": {name: [rows, cols]}}) and one float32 .npy per array, written to a temporary folder and
// renamed into place. Failure modes: Error(kInput) for shape mismatches or a damaged state (naming the
// file), Error(kUsage) for K < 1 or an unknown method.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "clipzs/methods/classify.hpp"
#include "clipzs/store/dataset.hpp"

namespace clipzs {

struct FewShotSet {
  Matrix features;              // n x d
  std::vector<int64_t> labels;  // n, in [0, C)
  std::vector<int64_t> groups;  // n, the source image of each row (augmented views share one)
};

// Rows of `set` for `shots` images per class (all rows of each chosen group), ascending. Classes with
// fewer images than `shots` keep all of theirs. The draw depends only on (labels, groups, shots, seed).
std::vector<int64_t> sample_few_shot(const FewShotSet& set, int64_t num_classes, int shots, uint64_t seed);
FewShotSet subset(const FewShotSet& set, const std::vector<int64_t>& rows);
// Averages the rows of each group (e.g. the augmented views of one image) and renormalises: one row
// per group, in order of first appearance.
FewShotSet mean_per_group(const FewShotSet& set);

struct FewShotState {
  std::string method;                    // "linear-probe", "tip-adapter", "tip-adapter-f", "relation"
  nlohmann::json parameters = nlohmann::json::object();  // everything prediction needs besides arrays
  std::map<std::string, Matrix> arrays;  // learned or cached tensors
  nlohmann::json info = nlohmann::json::object();        // provenance and metrics, for state.json
};

void save_fewshot_state(const FewShotState& state, const std::string& dir, bool overwrite);
FewShotState load_fewshot_state(const std::string& dir);

// n x C class logits of `images` under a state (dispatches on state.method).
Matrix fewshot_logits(const FewShotState& state, const Matrix& images);

// Top-k predictions (softmax over the logits) for a state; rows in `skip` get -1.
Predictions fewshot_predict(const FewShotState& state, const Matrix& images, int top_k, const std::vector<bool>& skip = {});

// Fraction of rows whose argmax logit equals the label.
double top1_accuracy(const Matrix& logits, const std::vector<int64_t>& labels);

// ---- adapt_fewshot: the protocol around a method's trainer ------------------------------------------
// Stores: `train` and `val` image stores, `text` a class store, one bundle (else Error(kInput)). Labels
// from rows.jsonl by `label_rule`; rows sharing rows.jsonl's "source" are views of one image. The K shots
// per class come from `train`; validation draws min(K, 4) (val_shots -1), val_shots (> 0) or all (0)
// images per class from `val`, never an image file drawn as a shot. The state (FewShotState, saved with
// state.info = provenance + metrics) goes to `out`, which must be absent, empty or a state folder.
struct FewShotAdaptParams {
  std::string train, val, text, out;
  LabelRule label_rule = LabelRule::kAuto;
  std::string label_rule_text;  // as the caller spelled it, for the record ("" : label_rule's name)
  int shots = 0;
  int val_shots = -1;
  uint64_t seed = 1;
  nlohmann::json provenance = nlohmann::json::object();  // merged into state.json
  std::function<void()> after_training;  // e.g. to close a progress line before the summary
};

struct FewShotInputs {
  Matrix classes;  // C x d, the class store's embeddings (text proxies)
  std::vector<std::string> classnames;
  std::string bundle_sha256;
  nlohmann::json text_manifest;  // the class store's manifest (its bundle record holds the logit scale)
  FewShotSet train, val;                      // the drawn shots (groups are store row numbers)
  std::vector<int64_t> train_rows, val_rows;  // their rows in the stores
  nlohmann::json provenance = nlohmann::json::object();  // for state.json
};

// Reads and checks the stores and draws the shots. Error(kUsage) for shots < 1.
FewShotInputs load_fewshot_inputs(const FewShotAdaptParams& params);

// A method's trainer: the drawn shots, validation set and class proxies, plus the class names and bundle.
using FewShotTrainer = std::function<FewShotState(const FewShotInputs& inputs)>;

struct FewShotAdaptResult {
  FewShotState state;  // as saved
  nlohmann::json metrics;  // train_accuracy, val_accuracy, val_accuracy_zeroshot
  double seconds = 0;      // training
  int64_t classes = 0, train_rows = 0, val_rows = 0;
};

FewShotAdaptResult adapt_fewshot(const FewShotAdaptParams& params, const FewShotTrainer& trainer);

}  // namespace clipzs
