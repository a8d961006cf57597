// Embeddings as methods consume them: a class store (text proxies and class names) and image stores
// checked against it, with the readable rows, their labels and the bundle that made them. Every adapt
// call and the classify path read their stores through these two functions.
//
// Contract:
//  - ClassEmbeddings::proxies: C x D float32, rows as the store holds them (unit norm); classnames from
//    rows.jsonl's "label"; Error(kInput) when the folder is not a class store (`clipzs embed texts`).
//  - ImageEmbeddings::features: n x D float32, only the rows whose status is "ok", in store order;
//    `rows` maps them back to store rows (predictions are written per store row, -1 for the others).
//  - Both stores must come from one bundle: Error(kInput) "... were made by different model bundles".
//  - Labels: from `labels_npy` (int64 in [0, C), one per store row or one per readable row) when given,
//    else from rows.jsonl's "label"
//    matched to the class names by `rule` (dataset.hpp) when every readable row has one; empty otherwise.
//  - Groups: rows sharing rows.jsonl's "source" are views of one image (their group is the first such
//    row); other rows are groups of their own.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "clipzs/methods/classify.hpp"
#include "clipzs/store/dataset.hpp"

namespace clipzs {

struct ClassEmbeddings {
  std::string dir;
  nlohmann::json manifest;
  std::vector<std::string> classnames;  // C
  Matrix proxies;                       // C x D
  std::string bundle_sha256;
  std::string embeddings_sha256;
};

ClassEmbeddings load_class_embeddings(const std::string& dir);

struct ImageEmbeddingsOptions {
  LabelRule rule = LabelRule::kAuto;
  std::string labels_npy;       // optional int64 labels: one per store row, or one per readable row
  bool normalize = true;        // check for NaN/Inf and renormalise rows off unit norm by > 1e-3
  bool resolve_labels = true;   // false: leave `labels` empty (the caller resolves them itself)
  bool require_labels = false;  // Error(kInput) when no labels can be had
};

struct ImageEmbeddings {
  std::string dir;
  nlohmann::json manifest;
  std::string bundle_sha256;
  std::string embeddings_sha256;
  int64_t store_rows = 0;             // rows in the store, readable or not
  Matrix features;                    // n x D, readable rows
  std::vector<int64_t> rows;          // n: store row of each feature row
  std::vector<std::string> paths;     // n: "path" of each row
  std::vector<std::string> files;     // n: the image file ("path" or "path:member")
  std::vector<int64_t> groups;        // n: the source image of each row
  std::vector<int64_t> labels;        // n class ids, or empty
  LabelRule label_rule = LabelRule::kAuto;  // the rule that matched, when labels came from rows.jsonl
  std::vector<nlohmann::json> records;      // every store row's rows.jsonl record
};

// Reads the image store `dir` and checks it against `classes` (same bundle, same width).
ImageEmbeddings load_image_embeddings(const std::string& dir, const ClassEmbeddings& classes,
                                      const ImageEmbeddingsOptions& options = {});
// The same against a bundle and class list known otherwise (a method state's); `owner` names their
// source in the bundle-mismatch message (e.g. "the state 'x'").
ImageEmbeddings load_image_embeddings(const std::string& dir, const std::string& bundle_sha256,
                                      const std::vector<std::string>& classnames, const std::string& owner,
                                      const ImageEmbeddingsOptions& options = {});

// Per store row from per feature row: `values` (n) spread to `store_rows` entries, `fill` elsewhere.
std::vector<int64_t> spread_rows(const std::vector<int64_t>& values, const std::vector<int64_t>& rows, int64_t store_rows,
                                 int64_t fill = -1);
Predictions spread_rows(const Predictions& p, const std::vector<int64_t>& rows, int64_t store_rows);

}  // namespace clipzs
