// What `infer` and `eval` share: options for the class list and the images, and getting both as
// embeddings (from stores, or embedding them into cached stores first).
#pragma once

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "clipzs/store/bundle.hpp"
#include "clipzs/methods/classify.hpp"
#include "clipzs/pipeline/embed.hpp"
#include "clipzs/methods/labelled.hpp"
#include "clipzs/methods/method.hpp"
#include "command.hpp"
#include "options.hpp"

namespace clipzs::cli {

struct ClassifyOptions {
  std::string model, classes, templates, dataset, cupl;
  std::string input, store, coop_split, split = "test", image_root, image_store;
  std::string cache_dir;
  RuntimeFlags runtime;
  int batch_size = 32, workers = 0;
  std::string method = "zeroshot";
  std::string state;  // --method inmap|xmore|<few-shot>: the folder written by `clipzs adapt <method>`
  bool no_progress = false;
};

void add_classify_options(CLI::App* sub, ClassifyOptions& o);

struct ClassifyData {
  BundleInfo bundle;
  std::vector<std::string> classnames;
  std::shared_ptr<const MethodState> method;  // zeroshot (built from the text proxies) or a state read through the registry
  std::string text_store;
  std::string image_store;
  ImageEmbeddings images;  // the image store: readable rows as features, every row's record
  int64_t unreadable() const { return images.store_rows - static_cast<int64_t>(images.rows.size()); }
};

// Loads or computes the class proxies (or the method state) and the image embeddings described by `o`.
ClassifyData load_classify_data(const ClassifyOptions& o);

// The top-k classes of every store row under the chosen method (-1 for unreadable rows); `variant`
// picks an ablation a state keeps (MethodState::variants()); `classes`, for classifiers of class
// proxies only, restricts them to a subset (their indices).
Predictions classify(const ClassifyData& d, int top_k, const std::string& variant = "", const std::vector<int64_t>* classes = nullptr);

// The cache folder: --cache-dir, else $CLIPZS_CACHE_DIR, $XDG_CACHE_HOME/clipzs, or ~/.cache/clipzs.
std::string cache_dir(const std::string& option);

}  // namespace clipzs::cli
