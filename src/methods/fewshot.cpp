#include "clipzs/methods/fewshot.hpp"

#include <torch/torch.h>

#include <algorithm>
#include <filesystem>
#include <random>
#include <unordered_map>

#include "clipzs/util/error.hpp"
#include "clipzs/util/files.hpp"
#include "clipzs/methods/method.hpp"
#include "clipzs/model/model.hpp"  // l2_normalize_rows
#include "clipzs/store/npy.hpp"
#include "clipzs/methods/xmore.hpp"  // seeded_order
#include "methods/fewshot_methods.hpp"
#include "methods/top_k.hpp"

namespace clipzs {
namespace fs = std::filesystem;
using nlohmann::json;

std::vector<int64_t> sample_few_shot(const FewShotSet& set, int64_t num_classes, int shots, uint64_t seed) {
  if (shots < 1) throw Error(ErrorKind::kUsage, param("shots") + " must be at least 1");
  const int64_t n = set.features.rows;
  if (static_cast<int64_t>(set.labels.size()) != n || static_cast<int64_t>(set.groups.size()) != n)
    throw Error(ErrorKind::kInternal, "few-shot set: labels or groups do not match the features");
  // Groups per class, in order of first appearance (the store's order), then a seeded shuffle per class.
  std::vector<std::vector<int64_t>> groups_of_class(static_cast<size_t>(num_classes));
  std::unordered_map<int64_t, int64_t> label_of_group;
  for (int64_t i = 0; i < n; ++i) {
    const int64_t label = set.labels[static_cast<size_t>(i)];
    if (label < 0 || label >= num_classes)
      throw Error(ErrorKind::kInput, "row " + std::to_string(i) + " has label " + std::to_string(label) + ", outside [0, " +
                                         std::to_string(num_classes) + ")");
    auto [it, added] = label_of_group.emplace(set.groups[static_cast<size_t>(i)], label);
    if (added) groups_of_class[static_cast<size_t>(label)].push_back(set.groups[static_cast<size_t>(i)]);
    else if (it->second != label)
      throw Error(ErrorKind::kInput, "row " + std::to_string(i) + ": the views of one image carry different labels");
  }
  std::unordered_map<int64_t, bool> chosen;
  for (int64_t c = 0; c < num_classes; ++c) {
    const auto& groups = groups_of_class[static_cast<size_t>(c)];
    // One stream per (seed, class), so adding classes does not change the draw of the others.
    const std::vector<int64_t> order = seeded_order(static_cast<int64_t>(groups.size()), seed * 1000003ULL + static_cast<uint64_t>(c));
    const int64_t take = std::min<int64_t>(shots, static_cast<int64_t>(groups.size()));
    for (int64_t j = 0; j < take; ++j) chosen[groups[static_cast<size_t>(order[static_cast<size_t>(j)])]] = true;
  }
  std::vector<int64_t> rows;
  for (int64_t i = 0; i < n; ++i)
    if (chosen.count(set.groups[static_cast<size_t>(i)])) rows.push_back(i);
  return rows;
}

FewShotSet subset(const FewShotSet& set, const std::vector<int64_t>& rows) {
  FewShotSet out;
  out.features = select_rows(set.features, rows);
  for (int64_t r : rows) {
    out.labels.push_back(set.labels[static_cast<size_t>(r)]);
    out.groups.push_back(set.groups[static_cast<size_t>(r)]);
  }
  return out;
}

FewShotSet mean_per_group(const FewShotSet& set) {
  std::unordered_map<int64_t, int64_t> slot;
  FewShotSet out;
  const int64_t d = set.features.cols;
  std::vector<float> sums;
  for (int64_t i = 0; i < set.features.rows; ++i) {
    const int64_t g = set.groups[static_cast<size_t>(i)];
    auto [it, added] = slot.emplace(g, static_cast<int64_t>(out.groups.size()));
    if (added) {
      out.groups.push_back(g);
      out.labels.push_back(set.labels[static_cast<size_t>(i)]);
      sums.resize(sums.size() + static_cast<size_t>(d), 0.0f);
    }
    float* dst = sums.data() + it->second * d;
    const float* src = set.features.row(i);
    for (int64_t j = 0; j < d; ++j) dst[j] += src[j];
  }
  out.features = Matrix{static_cast<int64_t>(out.groups.size()), d, std::move(sums)};
  l2_normalize_rows(out.features.data.data(), out.features.rows, d);
  return out;
}

void save_fewshot_state(const FewShotState& state, const std::string& dir, bool overwrite) {
  if (output_taken(dir) && !overwrite)
    throw Error(ErrorKind::kOutput, "'" + dir + "' already exists", "pass " + param("overwrite") + " to replace it, or choose another " + param("out"));
  FolderWriter folder(dir, "state.json");
  const std::string& temp = folder.temp();
  json doc = state.info;
  stamp_state(doc, state.method);
  doc["parameters"] = state.parameters;
  json arrays = json::object();
  for (const auto& [name, m] : state.arrays) {
    write_npy(temp + "/" + name + ".npy", m.data, {m.rows, m.cols});
    arrays[name] = {m.rows, m.cols};
  }
  doc["arrays"] = arrays;
  write_file_atomic(temp + "/state.json", doc.dump(1) + "\n");
  folder.commit();
}

FewShotState load_fewshot_state(const std::string& dir) {
  const std::string path = dir + "/state.json";
  if (!fs::exists(path)) throw Error(ErrorKind::kInput, "'" + dir + "' is not a method state folder (no state.json)");
  FewShotState state;
  try {
    state.info = json::parse(read_file(path));
    state.method = state.info.at("method").get<std::string>();
    check_state_version(dir, state.info);
    state.parameters = state.info.value("parameters", json::object());
    for (const auto& [name, shape] : state.info.at("arrays").items()) {
      NpyArray a = read_npy(dir + "/" + name + ".npy");
      if (a.shape.size() != 2 || a.shape[0] != shape[0].get<int64_t>() || a.shape[1] != shape[1].get<int64_t>())
        throw Error(ErrorKind::kInput, dir + "/" + name + ".npy does not have the shape state.json gives");
      state.arrays[name] = Matrix{a.shape[0], a.shape[1], a.to_float()};
    }
  } catch (const json::exception& e) {
    throw Error(ErrorKind::kInput, path + " is damaged: " + e.what());
  }
  return state;
}

const Matrix& state_array(const FewShotState& state, const std::string& name) {
  auto it = state.arrays.find(name);
  if (it == state.arrays.end())
    throw Error(ErrorKind::kInput, "the " + state.method + " state has no array '" + name + "'", "make the state again");
  return it->second;
}

Matrix fewshot_logits(const FewShotState& state, const Matrix& images) {
  const MethodEntry& entry = find_method(state.method);
  if (!entry.fewshot_logits) throw Error(ErrorKind::kUsage, "'" + state.method + "' is not a few-shot method");
  return entry.fewshot_logits(state, images);
}

namespace {

// A few-shot state read from its folder: predictions from the method's logits.
class FewShotMethodState : public MethodState {
 public:
  explicit FewShotMethodState(FewShotState state)
      : MethodState(state.method, state.info, state.info.value("classnames", std::vector<std::string>{})), state_(std::move(state)) {}
  float logit_scale() const override { return state_.parameters.value("logit_scale", 1.0f); }
  Predictions predict(const ImageEmbeddings& images, int top_k, const std::string& variant) const override {
    if (!variant.empty() && variant != method()) throw Error(ErrorKind::kInternal, "the " + method() + " state has no variant '" + variant + "'");
    Predictions p = fewshot_predict(state_, images.features, top_k);
    if (p.rows > 0 && p.k > 0 && *std::max_element(p.top_index.begin(), p.top_index.end()) >= static_cast<int64_t>(classnames().size()))
      throw Error(ErrorKind::kInput, "the state '" + method() + "' predicts more classes than its " + std::to_string(classnames().size()) +
                                         " class names", "make the state again");
    return p;
  }

 private:
  FewShotState state_;
};

}  // namespace

MethodEntry make_fewshot_entry(const std::string& name, const std::string& summary,
                               Matrix (*logits)(const FewShotState& state, const Matrix& images)) {
  MethodEntry e;
  e.name = name;
  e.kind = MethodKind::kFewShot;
  e.summary = summary;
  e.state_version = 1;
  e.load = [](const std::string& dir, const nlohmann::json&) -> std::unique_ptr<MethodState> {
    return std::make_unique<FewShotMethodState>(load_fewshot_state(dir));
  };
  e.fewshot_logits = logits;
  return e;
}

Matrix zeroshot_logits(const FewShotState& state, const Matrix& images) {
  const Matrix& classes = state_array(state, "text_proxies");
  return scaled_products(images, classes, state.parameters.value("logit_scale", 100.0f));
}

Matrix scaled_products(const Matrix& a, const Matrix& b, float scale) {
  if (a.cols != b.cols)
    throw Error(ErrorKind::kInput, "embedding widths differ: " + std::to_string(a.cols) + " and " + std::to_string(b.cols),
                "use embeddings of the same model bundle");
  torch::InferenceMode guard;
  torch::Tensor x = torch::from_blob(const_cast<float*>(a.data.data()), {a.rows, a.cols}, torch::kFloat);
  torch::Tensor y = torch::from_blob(const_cast<float*>(b.data.data()), {b.rows, b.cols}, torch::kFloat);
  torch::Tensor out = torch::mm(x, y.t()).mul_(scale).contiguous();
  return Matrix{a.rows, b.rows, std::vector<float>(out.data_ptr<float>(), out.data_ptr<float>() + out.numel())};
}

Predictions fewshot_predict(const FewShotState& state, const Matrix& images, int top_k, const std::vector<bool>& skip) {
  Matrix logits = fewshot_logits(state, images);
  torch::InferenceMode guard;
  Predictions p = empty_predictions(logits.rows, std::min<int64_t>(std::max(1, top_k), logits.cols));
  if (p.rows == 0) return p;
  torch::Tensor l = torch::from_blob(logits.data.data(), {logits.rows, logits.cols}, torch::kFloat);
  copy_top_k(torch::softmax(l, 1).topk(p.k, 1), 0, p, rows_not_in(skip));
  return p;
}

double top1_accuracy(const Matrix& logits, const std::vector<int64_t>& labels) {
  if (logits.rows == 0) return 0.0;
  int64_t correct = 0;
  for (int64_t i = 0; i < logits.rows; ++i) {
    const float* row = logits.row(i);
    correct += (std::max_element(row, row + logits.cols) - row) == labels[static_cast<size_t>(i)];
  }
  return static_cast<double>(correct) / static_cast<double>(logits.rows);
}

}  // namespace clipzs
