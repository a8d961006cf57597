// Classification methods as one library concept: a method turns embeddings into a state (a folder
// written by its `adapt_*` / `fit_*` call), and a state predicts classes for the rows of an image store.
// One registry (name -> entry) serves `adapt`, `eval`, `infer` and the report; adding a method means its
// own source and header plus one line in src/methods/registry.cpp (docs/architecture.md).
//
// State folders: state.json holds at least {"method": name, "state_version": N, "classnames": [...],
// "bundle_sha256": ...}; the arrays sit beside it as .npy files. Each method has one writer (its adapt
// call, through FolderWriter: a temporary folder renamed into place) and one reader (its entry's
// `load`). A state without "state_version" was written before versioning and reads as version 1.
//
// Failure modes: an unknown method name -> Error(kUsage) listing the known ones; a folder without
// state.json, a damaged state.json, a state of another method than asked for, or one written by a newer
// clipzs (state_version above the entry's) -> Error(kInput) naming the folder.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "clipzs/methods/classify.hpp"
#include "clipzs/methods/labelled.hpp"

namespace clipzs {

struct FewShotState;

enum class MethodKind {
  kZeroShot,   // text proxies only; no state folder
  kLabelFree,  // adapted to unlabeled test images (InMaP, X-MoRe, TransCLIP)
  kFewShot,    // trained on K labelled shots per class
};
const char* method_kind_name(MethodKind kind) noexcept;  // "zero-shot", "label-free", "few-shot"

class MethodState {
 public:
  virtual ~MethodState() = default;
  const std::string& method() const { return method_; }
  const nlohmann::json& record() const { return record_; }  // state.json as read (empty for zeroshot)
  const std::vector<std::string>& classnames() const { return classnames_; }
  std::string bundle_sha256() const;  // "" when the state does not record one
  // Temperature of the probabilities predict() reports (1 when the method's logits carry their own).
  virtual float logit_scale() const { return 1.0f; }
  // C x D class proxies when the state is a linear classifier over embeddings (zeroshot, InMaP): a caller
  // may then restrict it to a subset of the classes. nullptr otherwise.
  virtual const Matrix* class_proxies() const { return nullptr; }
  // Ablations the state predicts besides the method itself (X-MoRe: "zeroshot", "captions_only").
  virtual std::vector<std::string> variants() const { return {}; }
  // Error(kInput) when the state cannot predict for these images at all (a per-image state made for
  // another store); callers check before other work. predict() checks too.
  virtual void check_images(const ImageEmbeddings& images) const { (void)images; }
  // Top-k classes of every readable row of `images` (images.features.rows rows, best first). `variant`
  // "" is the method itself. Error(kInput) when the state cannot predict these rows (a per-image state
  // of another store, another embedding width).
  virtual Predictions predict(const ImageEmbeddings& images, int top_k, const std::string& variant = "") const = 0;

 protected:
  MethodState(std::string method, nlohmann::json record, std::vector<std::string> classnames)
      : method_(std::move(method)), record_(std::move(record)), classnames_(std::move(classnames)) {}

 private:
  std::string method_;
  nlohmann::json record_;
  std::vector<std::string> classnames_;
};

struct MethodEntry {
  std::string name;     // as on the command line and in state.json ("tip-adapter-f")
  MethodKind kind = MethodKind::kZeroShot;
  std::string summary;  // one line: what it is and where it comes from
  int state_version = 1;  // the newest state format this build writes and reads
  // Reads a state folder whose state.json (`state`) names this method; null for zeroshot.
  std::function<std::unique_ptr<MethodState>(const std::string& dir, const nlohmann::json& state)> load;
  // Few-shot methods: n x C logits of `images` under an in-memory state (training uses it for
  // validation accuracy). Null for the others.
  std::function<Matrix(const FewShotState& state, const Matrix& images)> fewshot_logits;
};

// Every method, in the order reports list them (zero-shot, label-free, few-shot).
const std::vector<MethodEntry>& method_registry();
// The entry called `name`; Error(kUsage) listing the known names otherwise.
const MethodEntry& find_method(const std::string& name);
// "zeroshot, inmap, ..." for help texts and messages.
std::string method_names_text();
// A method's position in method_registry(), or -1.
int method_rank(const std::string& name) noexcept;

// Reads the state folder `dir` through its method's entry. With `expected` set, a state of another
// method is an Error(kInput) naming both.
std::unique_ptr<MethodState> load_method_state(const std::string& dir, const std::string& expected = "");

// Error(kInput) naming `dir` unless the state.json document `state` has a state_version (absent: 1)
// that its method's entry reads. load_method_state and every state reader call it.
void check_state_version(const std::string& dir, const nlohmann::json& state);

// Zero-shot classification as a state: softmax(logit_scale x . classes) over C x D text proxies.
std::unique_ptr<MethodState> make_zeroshot_method(Matrix classes, std::vector<std::string> classnames, float logit_scale);

// Adds "method", "state_version" (the entry's), "clipzs_version" and "created" to a state.json
// document a writer is about to save.
void stamp_state(nlohmann::json& state, const std::string& method);

}  // namespace clipzs
