// The one reader of class and image stores for the methods (include/clipzs/methods/labelled.hpp).
#include "clipzs/methods/labelled.hpp"

#include <algorithm>
#include <unordered_map>

#include "clipzs/util/error.hpp"
#include "clipzs/methods/inmap.hpp"  // check_and_normalize_features
#include "clipzs/util/log.hpp"
#include "clipzs/store/npy.hpp"
#include "clipzs/store/store.hpp"

namespace clipzs {
using nlohmann::json;

namespace {

std::string bundle_of(const json& manifest) { return manifest.value("bundle", json::object()).value("sha256", ""); }
std::string embeddings_of(const json& manifest) { return manifest.value("files", json::object()).value("embeddings.npy", ""); }

ImageEmbeddings read_images(const std::string& dir, const std::string& bundle_sha256, const std::string& owner, int64_t width,
                            const std::vector<std::string>& classnames, const ImageEmbeddingsOptions& options) {
  Store s = read_store(dir);
  if (s.manifest.value("kind", "") != "images")
    throw Error(ErrorKind::kInput, "'" + dir + "' is not an image embedding store", "make it with `" + call("embed_images") + "`");
  ImageEmbeddings out;
  out.dir = dir;
  out.manifest = s.manifest;
  out.bundle_sha256 = bundle_of(s.manifest);
  out.embeddings_sha256 = embeddings_of(s.manifest);
  if (!bundle_sha256.empty() && out.bundle_sha256 != bundle_sha256)
    throw Error(ErrorKind::kInput,
                "the image store '" + dir + "' (bundle '" + s.manifest.value("bundle", json::object()).value("name", "?") + "') and " +
                    owner + " were made by different model bundles",
                "embed both with the same model bundle");
  if (width > 0 && s.dim != width)
    throw Error(ErrorKind::kInput, "the image store '" + dir + "' has d = " + std::to_string(s.dim) + ", " + owner + " d = " +
                                       std::to_string(width));
  out.store_rows = s.rows;
  std::vector<std::string> row_labels;
  std::unordered_map<std::string, int64_t> group_of_source;  // a source's group: its first row
  for (int64_t i = 0; i < s.rows; ++i) {
    const json& r = s.records[static_cast<size_t>(i)];
    if (r.value("status", "ok") != "ok") continue;
    out.rows.push_back(i);
    row_labels.push_back(r.value("label", ""));
    out.paths.push_back(r.value("path", ""));
    out.files.push_back(r.contains("member") ? out.paths.back() + ":" + r.value("member", "") : out.paths.back());
    if (r.contains("source") && !r["source"].is_null()) {
      const std::string key = r["source"].is_string() ? r["source"].get<std::string>() : r["source"].dump();
      out.groups.push_back(group_of_source.emplace(key, i).first->second);
    } else {
      out.groups.push_back(i);
    }
  }
  const int64_t n = static_cast<int64_t>(out.rows.size());
  if (n < s.rows) log_warn(std::to_string(s.rows - n) + " rows of " + dir + " could not be read and are left out");
  out.features = select_rows(Matrix{s.rows, s.dim, std::move(s.embeddings)}, out.rows);
  if (options.normalize) {
    const int64_t normalised = check_and_normalize_features(out.features, dir);
    if (normalised) log_warn(std::to_string(normalised) + " rows of " + dir + " were not unit-norm and were normalised");
  }
  out.records = std::move(s.records);

  if (!options.labels_npy.empty()) {
    const std::vector<int64_t> all = read_npy(options.labels_npy).to_int64();
    const bool per_store_row = static_cast<int64_t>(all.size()) == s.rows;
    if (!per_store_row && static_cast<int64_t>(all.size()) != n)
      throw Error(ErrorKind::kInput, options.labels_npy + " has " + std::to_string(all.size()) + " labels; " + dir + " has " +
                                         std::to_string(s.rows) + " rows, " + std::to_string(n) + " of them readable",
                  "give one label per store row (or one per readable row)");
    for (int64_t i = 0; i < n; ++i) {
      const int64_t entry = per_store_row ? out.rows[static_cast<size_t>(i)] : i;
      const int64_t label = all[static_cast<size_t>(entry)];
      if (label < 0 || label >= static_cast<int64_t>(classnames.size()))
        throw Error(ErrorKind::kInput, options.labels_npy + ": entry " + std::to_string(entry) + " is " + std::to_string(label) +
                                           ", outside [0, " + std::to_string(classnames.size()) + ")");
      out.labels.push_back(label);
    }
  } else if (options.resolve_labels && !classnames.empty() &&
             (options.require_labels ||
              std::none_of(row_labels.begin(), row_labels.end(), [](const std::string& l) { return l.empty(); }))) {
    ResolvedLabels resolved = resolve_labels(row_labels, out.paths, classnames, options.rule);
    for (const auto& w : resolved.warnings) log_warn(w);
    out.labels = std::move(resolved.ids);
    out.label_rule = resolved.rule;
  }
  if (options.require_labels && out.labels.empty())
    throw Error(ErrorKind::kInput, "the image store '" + dir + "' has no labels", "embed a labelled folder or list");
  return out;
}

}  // namespace

ClassEmbeddings load_class_embeddings(const std::string& dir) {
  Store s = read_store(dir);
  if (s.manifest.value("kind", "") != "texts")
    throw Error(ErrorKind::kInput, "'" + dir + "' is not a class embedding store", "make it with `" + call("embed_texts") + "`");
  ClassEmbeddings out;
  out.dir = dir;
  out.bundle_sha256 = bundle_of(s.manifest);
  out.embeddings_sha256 = embeddings_of(s.manifest);
  for (const auto& r : s.records) out.classnames.push_back(r.value("label", ""));
  out.proxies = Matrix{s.rows, s.dim, std::move(s.embeddings)};
  out.manifest = std::move(s.manifest);
  return out;
}

ImageEmbeddings load_image_embeddings(const std::string& dir, const ClassEmbeddings& classes, const ImageEmbeddingsOptions& options) {
  return read_images(dir, classes.bundle_sha256, "the class store '" + classes.dir + "'", classes.proxies.cols, classes.classnames,
                     options);
}

ImageEmbeddings load_image_embeddings(const std::string& dir, const std::string& bundle_sha256,
                                      const std::vector<std::string>& classnames, const std::string& owner,
                                      const ImageEmbeddingsOptions& options) {
  return read_images(dir, bundle_sha256, owner, 0, classnames, options);
}

std::vector<int64_t> spread_rows(const std::vector<int64_t>& values, const std::vector<int64_t>& rows, int64_t store_rows,
                                 int64_t fill) {
  std::vector<int64_t> out(static_cast<size_t>(store_rows), fill);
  for (size_t i = 0; i < rows.size(); ++i) out[static_cast<size_t>(rows[i])] = values[i];
  return out;
}

Predictions spread_rows(const Predictions& p, const std::vector<int64_t>& rows, int64_t store_rows) {
  Predictions out;
  out.rows = store_rows;
  out.k = p.k;
  out.top_index.assign(static_cast<size_t>(store_rows * p.k), -1);
  out.top_prob.assign(static_cast<size_t>(store_rows * p.k), 0.0f);
  for (size_t i = 0; i < rows.size(); ++i) {
    std::copy_n(p.top_index.begin() + static_cast<int64_t>(i) * p.k, p.k, out.top_index.begin() + rows[i] * p.k);
    std::copy_n(p.top_prob.begin() + static_cast<int64_t>(i) * p.k, p.k, out.top_prob.begin() + rows[i] * p.k);
  }
  return out;
}

}  // namespace clipzs
