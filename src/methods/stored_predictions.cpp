#include "methods/stored_predictions.hpp"

#include <algorithm>

#include "clipzs/util/error.hpp"
#include "clipzs/util/log.hpp"
#include "clipzs/store/npy.hpp"

namespace clipzs {
using nlohmann::json;

StoredPredictionsState::StoredPredictionsState(const std::string& dir, const json& state, const std::vector<std::string>& variants)
    : MethodState(state.value("method", ""), state, state.value("classnames", std::vector<std::string>{})),
      dir_(dir),
      variants_(variants) {
  const int64_t classes = static_cast<int64_t>(classnames().size());
  for (const auto& variant : variants_) {
    const std::string base = dir + "/" + variant;
    NpyArray index = read_npy(base + "_top_index.npy");
    NpyArray prob = read_npy(base + "_top_prob.npy");
    if (index.shape.size() != 2 || index.shape != prob.shape)
      throw Error(ErrorKind::kInput, base + "_top_{index,prob}.npy are not two arrays of one rows x k shape",
                  "the state is damaged; run `" + call("adapt") + " " + method() + "` again");
    Predictions p;
    p.rows = index.shape[0];
    p.k = index.shape[1];
    p.top_index = index.to_int64();
    p.top_prob = prob.to_float();
    for (int64_t c : p.top_index)
      if (c >= classes)
        throw Error(ErrorKind::kInput, base + "_top_index.npy names class " + std::to_string(c) + " of " + std::to_string(classes),
                    "the state is damaged; run `" + call("adapt") + " " + method() + "` again");
    stored_[variant] = std::move(p);
  }
}

std::vector<std::string> StoredPredictionsState::variants() const { return {variants_.begin() + 1, variants_.end()}; }

float StoredPredictionsState::logit_scale() const {
  return record().value("parameters", json::object()).value("logit_scale", 100.0f);
}

void StoredPredictionsState::check_images(const ImageEmbeddings& images) const {
  const std::string expected = record().value("image_store_sha256", "");
  if (expected.empty() || expected != images.embeddings_sha256)
    throw Error(ErrorKind::kInput, "the " + method() + " state '" + dir_ + "' was made for other images than '" + images.dir + "'",
                "run `" + call("adapt") + " " + method() + " " + param("images") + " " + images.dir + "` first, or pass the store the state was made for");
}

Predictions StoredPredictionsState::predict(const ImageEmbeddings& images, int top_k, const std::string& variant) const {
  check_images(images);
  const std::string name = variant.empty() ? variants_.front() : variant;
  auto it = stored_.find(name);
  if (it == stored_.end()) throw Error(ErrorKind::kInternal, "the " + method() + " state has no predictions '" + name + "'");
  const Predictions& all = it->second;
  if (all.rows != images.store_rows)
    throw Error(ErrorKind::kInput, dir_ + "/" + name + "_top_*.npy do not hold one row per image of " + images.dir);
  if (top_k > all.k && !warned_.exchange(true)) log_warn("the state keeps the top " + std::to_string(all.k) + " classes per image; top-k " + std::to_string(top_k) +
                              " shows " + std::to_string(all.k));
  Predictions p;
  p.rows = static_cast<int64_t>(images.rows.size());
  p.k = std::min<int64_t>(std::max(1, top_k), all.k);
  for (int64_t row : images.rows) {
    p.top_index.insert(p.top_index.end(), all.top_index.begin() + row * all.k, all.top_index.begin() + row * all.k + p.k);
    p.top_prob.insert(p.top_prob.end(), all.top_prob.begin() + row * all.k, all.top_prob.begin() + row * all.k + p.k);
  }
  return p;
}

void write_stored_predictions(const std::string& dir, const std::string& variant, const Predictions& p) {
  write_npy(dir + "/" + variant + "_top_index.npy", "<i8", {p.rows, p.k}, p.top_index.data(), p.top_index.size() * sizeof(int64_t));
  write_npy(dir + "/" + variant + "_top_prob.npy", p.top_prob, {p.rows, p.k});
}

}  // namespace clipzs
