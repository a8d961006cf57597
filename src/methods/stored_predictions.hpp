// Private to src/methods: states that hold their predictions per row of one image store, because the
// method adapts to exactly those images (X-MoRe, TransCLIP). Files: <variant>_top_index.npy (int64) and
// <variant>_top_prob.npy (float32), store rows x k, -1 / 0 for rows without a prediction; state.json
// records the store's embeddings sha256 ("image_store_sha256") and "classnames".
#pragma once

#include <atomic>
#include <map>
#include <string>
#include <vector>

#include "clipzs/methods/method.hpp"

namespace clipzs {

class StoredPredictionsState : public MethodState {
 public:
  // `variants`: the method's own predictions first (named after the method), then its ablations.
  StoredPredictionsState(const std::string& dir, const nlohmann::json& state, const std::vector<std::string>& variants);
  std::vector<std::string> variants() const override;
  float logit_scale() const override;
  void check_images(const ImageEmbeddings& images) const override;
  Predictions predict(const ImageEmbeddings& images, int top_k, const std::string& variant = "") const override;

 private:
  std::string dir_;
  std::vector<std::string> variants_;
  std::map<std::string, Predictions> stored_;  // per store row
  mutable std::atomic<bool> warned_{false};    // the "keeps only the top k" warning, once per state
};

// Writes <dir>/<variant>_top_{index,prob}.npy from predictions per store row.
void write_stored_predictions(const std::string& dir, const std::string& variant, const Predictions& per_store_row);

}  // namespace clipzs
