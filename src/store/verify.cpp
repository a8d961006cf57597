// `clipzs verify`: every promise of a complete store, checked independently of the code that wrote it,
// with every problem listed (a user repairing a store wants the whole picture, not the first error).
#include <cmath>
#include <filesystem>

#include "clipzs/store/bundle.hpp"
#include "clipzs/util/error.hpp"
#include "clipzs/util/files.hpp"
#include "clipzs/store/npy.hpp"
#include "clipzs/store/store.hpp"
#include "store/json_fields.hpp"

namespace clipzs {
namespace fs = std::filesystem;
using nlohmann::json;

namespace {

constexpr double kNormTolerance = 1e-2;  // float16 rounding moves a unit norm by < 1e-3

std::string join(const std::string& dir, const std::string& name) { return (fs::path(dir) / name).string(); }

void check_bundle(const json& manifest, const std::string& bundle_dir, StoreVerification& v) {
  const json bundle = manifest.value("bundle", json::object());
  const std::string expected = bundle.value("sha256", manifest.value("bundle_sha256", std::string()));
  std::string dir = bundle_dir;
  if (dir.empty()) dir = bundle.value("dir", std::string());
  if (dir.empty()) {
    v.notes.push_back("bundle not checked: the manifest names no bundle folder (pass " + param("model") + " DIR)");
    return;
  }
  if (!fs::exists(join(dir, "bundle.json"))) {
    if (bundle_dir.empty()) {
      v.notes.push_back("bundle not checked: '" + dir + "' (named in manifest.json) is gone (pass " + param("model") + " DIR)");
    } else {
      v.problems.push_back(param("model") + " '" + dir + "' is not a model bundle (no bundle.json)");
    }
    return;
  }
  try {
    const BundleInfo info = load_bundle_info(dir, true);
    if (info.bundle_sha256 != expected) {
      v.problems.push_back("bundle '" + dir + "': bundle.json has sha256 " + info.bundle_sha256.substr(0, 12) +
                           "..., the store was made by " + expected.substr(0, std::min<size_t>(12, expected.size())) +
                           "... (another bundle, or this one was changed since)");
    } else {
      v.checked.push_back("bundle '" + dir + "' is the one that made the store, and its files match their sha256");
    }
  } catch (const Error& e) {
    v.problems.push_back("bundle '" + dir + "' changed or is damaged since the store was made: " + e.marked_what());
  }
}

void check_values(const NpyArray& array, int64_t rows, int64_t dim, const std::vector<json>& records,
                  const std::string& data_path, StoreVerification& v) {
  // Row by row, so a large float16 store is not widened to float32 all at once.
  const bool half = array.dtype == "<f2";
  std::vector<float> widened(static_cast<size_t>(dim));
  std::vector<int64_t> nonfinite, bad_norm, nonzero_error;
  for (int64_t r = 0; r < rows; ++r) {
    const float* row = widened.data();
    if (half) {
      const auto* bits = reinterpret_cast<const uint16_t*>(array.data.data()) + r * dim;
      for (int64_t c = 0; c < dim; ++c) widened[static_cast<size_t>(c)] = half_to_float(bits[c]);
    } else {
      row = reinterpret_cast<const float*>(array.data.data()) + r * dim;
    }
    double sq = 0.0;
    bool finite = true;
    for (int64_t c = 0; c < dim; ++c) {
      finite &= std::isfinite(row[c]);
      sq += static_cast<double>(row[c]) * row[c];
    }
    if (!finite) {
      nonfinite.push_back(r);
      continue;
    }
    const bool error_row = r < static_cast<int64_t>(records.size()) && store_detail::is_error_record(records[static_cast<size_t>(r)]);
    if (error_row && sq != 0.0) nonzero_error.push_back(r);
    if (!error_row && std::fabs(std::sqrt(sq) - 1.0) > kNormTolerance) bad_norm.push_back(r);
  }
  auto names = [&](const std::vector<int64_t>& bad) {
    std::vector<std::string> out;
    for (size_t i = 0; i < bad.size() && i < 5; ++i)
      if (bad[i] < static_cast<int64_t>(records.size()) && records[static_cast<size_t>(bad[i])].is_object())
        out.push_back(record_name(records[static_cast<size_t>(bad[i])]));
    return out;
  };
  if (!nonfinite.empty()) v.problems.push_back(data_path + ": NaN or Inf in " + describe_rows(nonfinite, names(nonfinite)));
  if (!bad_norm.empty())
    v.problems.push_back(data_path + ": not unit length (L2 norm off by more than 0.01) in " + describe_rows(bad_norm, names(bad_norm)));
  if (!nonzero_error.empty())
    v.problems.push_back(data_path + ": rows with status \"error\" should be zeros, but " +
                         describe_rows(nonzero_error, names(nonzero_error)) + " are not");
  if (nonfinite.empty() && bad_norm.empty() && nonzero_error.empty())
    v.checked.push_back("every value is finite, ok rows have unit norm, error rows are zeros");
}

StoreVerification verify_one(const std::string& dir, const std::string& bundle_dir) {
  StoreVerification v;
  v.dir = dir;
  const std::string manifest_path = join(dir, "manifest.json");
  if (!fs::exists(manifest_path)) {
    v.problems.push_back(fs::exists(join(dir, "run.json"))
                             ? "'" + dir + "' is an unfinished run (run.json, no manifest.json): rerun it with " + param("resume")
                             : "'" + dir + "' has no manifest.json: not a complete embedding store");
    return v;
  }
  json manifest;
  try {
    manifest = json::parse(read_file(manifest_path));
    v.kind = manifest.value("kind", std::string());
    v.rows = store_detail::json_count(manifest, "rows", "manifest.json");
    v.dim = store_detail::json_count(manifest, "dim", "manifest.json");
    if (v.dim == 0) throw Error(ErrorKind::kInput, "manifest.json: 'dim' is 0");
  } catch (const std::exception& e) {
    v.problems.push_back(manifest_path + " is damaged: " + e.what());
    return v;
  }
  v.checked.push_back("manifest.json parses: " + std::to_string(v.rows) + " x " + std::to_string(v.dim) + " " +
                      manifest.value("dtype", std::string("?")));

  // Files and their hashes.
  const json files = manifest.value("files", json::object());
  if (!files.is_object() || !files.contains("embeddings.npy") || !files.contains("rows.jsonl"))
    v.problems.push_back(manifest_path + ": \"files\" does not list embeddings.npy and rows.jsonl with their sha256");
  size_t hashed = 0;
  for (const auto& [name, expected] : files.items()) {
    const std::string path = join(dir, name);
    if (!store_detail::is_plain_file_name(name)) {  // "/dev/zero" or "../x" would hash files elsewhere
      v.problems.push_back(manifest_path + ": \"files\" names '" + name + "', which is not a file of the store");
    } else if (!fs::exists(path)) {
      v.problems.push_back(path + " is missing (listed in manifest.json)");
    } else if (!expected.is_string() || sha256_file(path) != expected.get<std::string>()) {
      v.problems.push_back(path + " does not match its sha256 in manifest.json (modified or damaged after the store was made)");
    } else {
      ++hashed;
    }
  }
  if (hashed == files.size() && hashed > 0) v.checked.push_back(std::to_string(hashed) + " files match their sha256");

  // rows.jsonl: one record per row, in order.
  const std::string rows_path = join(dir, "rows.jsonl");
  std::vector<json> records;
  if (fs::exists(rows_path)) {
    const std::string text = read_file(rows_path);
    int64_t errors = 0;
    size_t start = 0, line_no = 0;
    std::vector<std::string> row_problems;
    while (start < text.size()) {
      size_t nl = text.find('\n', start);
      const bool terminated = nl != std::string::npos;
      if (!terminated) nl = text.size();
      ++line_no;
      const std::string where = rows_path + ":" + std::to_string(line_no);
      json record;
      try {
        record = json::parse(text.substr(start, nl - start));
      } catch (const json::exception&) {
        row_problems.push_back(where + ": not valid JSON");
      }
      if (record.is_object()) {
        const auto index = record.find("index");
        if (index == record.end() || !index->is_number_integer() || index->get<int64_t>() != static_cast<int64_t>(line_no - 1))
          row_problems.push_back(where + ": \"index\" is not " + std::to_string(line_no - 1));
        const auto status_field = record.find("status");
        const std::string status = status_field != record.end() && status_field->is_string() ? status_field->get<std::string>() : "";
        if (status == "error") ++errors;
        else if (status != "ok") row_problems.push_back(where + ": status is neither \"ok\" nor \"error\"");
      } else if (!record.is_null()) {
        row_problems.push_back(where + ": not a JSON object");
      }
      if (!terminated) row_problems.push_back(where + ": last line has no newline (cut short?)");
      records.push_back(std::move(record));
      start = nl + 1;
    }
    if (static_cast<int64_t>(records.size()) != v.rows)
      row_problems.push_back(rows_path + " has " + std::to_string(records.size()) + " rows, manifest.json says " +
                             std::to_string(v.rows));
    if (manifest.contains("error_rows") && manifest["error_rows"].is_number_integer() && manifest["error_rows"].get<int64_t>() != errors)
      row_problems.push_back(rows_path + " has " + std::to_string(errors) + " rows with status \"error\", manifest.json says " +
                             manifest["error_rows"].dump());
    const size_t before = row_problems.size();
    if (row_problems.size() > 10) {  // a wholly damaged file: the first few say enough
      row_problems.resize(10);
      row_problems.push_back(rows_path + ": " + std::to_string(before - 10) + " more problems");
    }
    if (row_problems.empty()) v.checked.push_back("rows.jsonl: " + std::to_string(records.size()) + " records in order, " +
                                                  std::to_string(errors) + " with status error");
    v.problems.insert(v.problems.end(), row_problems.begin(), row_problems.end());
  } else if (!files.contains("rows.jsonl")) {
    v.problems.push_back(rows_path + " is missing");
  }

  // embeddings.npy: header, shape, size, values.
  const std::string data_path = join(dir, "embeddings.npy");
  if (fs::exists(data_path)) {
    try {
      size_t offset = 0;
      const NpyArray header = read_npy_header(data_path, &offset);
      const std::string want_dtype = npy_descr(manifest.value("dtype", std::string()) == "float16" ? DType::kFloat16 : DType::kFloat32);
      const uint64_t want_size = offset + static_cast<uint64_t>(v.rows) * v.dim * header.item_size();
      const uint64_t size = fs::file_size(data_path);
      if (header.shape != std::vector<int64_t>{v.rows, v.dim}) {
        std::string shape;
        for (int64_t d : header.shape) shape += (shape.empty() ? "" : " x ") + std::to_string(d);
        v.problems.push_back(data_path + ": shape " + shape + ", manifest.json says " + std::to_string(v.rows) + " x " +
                             std::to_string(v.dim));
      } else if (header.dtype != want_dtype) {
        v.problems.push_back(data_path + ": dtype " + header.dtype + ", manifest.json says " + manifest.value("dtype", std::string("?")));
      } else if (size != want_size) {
        v.problems.push_back(data_path + ": " + std::to_string(size) + " bytes, a " + std::to_string(v.rows) + " x " +
                             std::to_string(v.dim) + " " + header.dtype + " array takes " + std::to_string(want_size) +
                             (size < want_size ? " (truncated)" : " (trailing bytes)"));
      } else {
        v.checked.push_back("embeddings.npy: header, dtype and size agree with the manifest");
        check_values(read_npy(data_path), v.rows, v.dim, records, data_path, v);
      }
    } catch (const Error& e) {
      v.problems.push_back(e.marked_what());
    }
  } else if (!files.contains("embeddings.npy")) {
    v.problems.push_back(data_path + " is missing");
  }

  check_bundle(manifest, bundle_dir, v);
  return v;
}

}  // namespace

StoreVerification verify_store(const std::string& dir, const std::string& bundle_dir) {
  if (!fs::is_directory(dir)) throw Error(ErrorKind::kInput, "'" + dir + "' is not a folder", "give a store made by `" + call("embed") + "`");
  const std::string bank_file = join(dir, "bank.json");
  if (!fs::exists(bank_file) && !(fs::is_directory(join(dir, "images")) && fs::is_directory(join(dir, "captions"))))
    return verify_one(dir, bundle_dir);

  // A bank: both stores, and bank.json's agreement with them.
  StoreVerification v;
  v.dir = dir;
  v.kind = "bank";
  json bank;
  if (!fs::exists(bank_file)) {
    v.problems.push_back("'" + dir + "' has no bank.json: an unfinished `" + call("embed_pairs") + "` run (rerun it with " + param("resume") + ")");
  } else {
    try {
      bank = json::parse(read_file(bank_file));
      v.rows = store_detail::json_count(bank, "rows", bank_file);
      v.dim = store_detail::json_count(bank, "dim", bank_file);
      v.checked.push_back("bank.json parses");
    } catch (const std::exception& e) {
      v.problems.push_back(bank_file + " is damaged: " + e.what());
    }
  }
  for (const char* part : {"images", "captions"}) {
    StoreVerification sub = verify_one(join(dir, part), bundle_dir);
    for (auto& line : sub.checked) v.checked.push_back(std::string(part) + ": " + line);
    for (auto& line : sub.notes) v.notes.push_back(std::string(part) + ": " + line);
    v.problems.insert(v.problems.end(), sub.problems.begin(), sub.problems.end());
    if (bank.is_object() && sub.problems.empty() && (sub.rows != v.rows || sub.dim != v.dim))
      v.problems.push_back(join(dir, part) + " is " + std::to_string(sub.rows) + " x " + std::to_string(sub.dim) +
                           ", bank.json says " + std::to_string(v.rows) + " x " + std::to_string(v.dim));
  }
  return v;
}

}  // namespace clipzs
