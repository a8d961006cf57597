// `clipzs merge`: shards of one `embed images|pairs --shard i/N` run back into the store (or bank) the
// unsharded run would have written.
#include <algorithm>
#include <filesystem>

#include "clipzs/store/bank.hpp"
#include "clipzs/util/error.hpp"
#include "clipzs/util/files.hpp"
#include "clipzs/store/store.hpp"
#include "store/json_fields.hpp"

namespace clipzs {
namespace fs = std::filesystem;
using nlohmann::json;

namespace {

struct ShardInfo {
  std::string dir;
  json manifest;
  json run;  // the run identity without "shard": equal for every shard of one run
  int64_t index = 0, count = 0, first_row = 0, rows = 0, total_rows = 0;
};

ShardInfo read_shard_manifest(const std::string& dir) {
  const std::string path = (fs::path(dir) / "manifest.json").string();
  if (!fs::exists(path))
    throw Error(ErrorKind::kInput, "'" + dir + "' is not a complete store (no manifest.json)",
                fs::exists((fs::path(dir) / "run.json").string()) ? "finish that shard with " + param("resume") + " first" : "");
  ShardInfo s;
  s.dir = dir;
  try {
    s.manifest = json::parse(read_file(path));
    const json& shard = s.manifest.at("shard");
    s.index = store_detail::json_count(shard, "index", path + " shard");
    s.count = store_detail::json_count(shard, "count", path + " shard");
    s.first_row = store_detail::json_count(shard, "first_row", path + " shard");
    s.rows = store_detail::json_count(shard, "rows", path + " shard");
    s.total_rows = store_detail::json_count(shard, "total_rows", path + " shard");
    s.run = s.manifest.at("run");
    s.run.erase("shard");
  } catch (const json::out_of_range&) {
    throw Error(ErrorKind::kInput, path + " has no \"shard\" section: '" + dir + "' is not a shard",
                "merge the stores written by `" + call("embed_images") + " " + param("shard") + " i/N`");
  } catch (const json::exception& e) {
    throw Error(ErrorKind::kInput, path + " is damaged: " + e.what());
  }
  return s;
}

// The shards' manifests, sorted by index, after every check that needs no embeddings read: one run, one
// shard count, each shard once, none missing, rows adding up.
std::vector<ShardInfo> checked_shards(const std::vector<std::string>& shard_dirs) {
  if (shard_dirs.empty()) throw Error(ErrorKind::kUsage, "no shards to merge");
  std::vector<ShardInfo> shards;
  for (const auto& dir : shard_dirs) shards.push_back(read_shard_manifest(dir));
  std::sort(shards.begin(), shards.end(), [](const ShardInfo& a, const ShardInfo& b) { return a.index < b.index; });

  const ShardInfo& first = shards.front();
  for (const auto& s : shards) {
    if (s.run != first.run) {
      std::string field = "run";
      for (auto it = first.run.begin(); it != first.run.end(); ++it)
        if (!s.run.contains(it.key()) || s.run[it.key()] != it.value()) { field = it.key(); break; }
      throw Error(ErrorKind::kInput, "'" + s.dir + "' and '" + first.dir + "' come from different runs (" + field + ": " +
                                         (s.run.contains(field) ? s.run[field].dump() : "absent") + " vs " +
                                         (first.run.contains(field) ? first.run[field].dump() : "absent") + ")",
                  "merge shards made by one bundle, one input list and the same options");
    }
    if (s.count != first.count)
      throw Error(ErrorKind::kInput, "'" + s.dir + "' is shard " + std::to_string(s.index) + "/" + std::to_string(s.count) +
                                         ", '" + first.dir + "' one of " + std::to_string(first.count));
  }
  for (size_t i = 0; i < shards.size(); ++i) {
    if (i > 0 && shards[i].index == shards[i - 1].index)
      throw Error(ErrorKind::kInput, "shard " + std::to_string(shards[i].index) + " is given twice ('" + shards[i - 1].dir +
                                         "' and '" + shards[i].dir + "')");
  }
  if (static_cast<int64_t>(shards.size()) != first.count) {
    std::string missing;
    size_t k = 0;
    for (int64_t i = 0; i < first.count; ++i) {
      if (k < shards.size() && shards[k].index == i) { ++k; continue; }
      missing += (missing.empty() ? "" : ", ") + std::to_string(i);
    }
    throw Error(ErrorKind::kInput, "shards missing: " + missing + " of " + std::to_string(first.count),
                "run the missing shards (" + param("shard") + " i/" + std::to_string(first.count) + ") and merge all of them");
  }
  int64_t expected_first = 0;
  for (const auto& s : shards) {
    if (s.first_row != expected_first)
      throw Error(ErrorKind::kInternal, "'" + s.dir + "' starts at row " + std::to_string(s.first_row) + ", expected " +
                                            std::to_string(expected_first));
    expected_first += s.rows;
  }
  if (expected_first != first.total_rows)
    throw Error(ErrorKind::kInput, "the shards hold " + std::to_string(expected_first) + " rows, the run has " +
                                       std::to_string(first.total_rows));
  return shards;
}

json merge_checked(const std::vector<ShardInfo>& shards, const std::string& out_dir, const OpenMode& mode) {
  const ShardInfo& first = shards.front();

  const int64_t dim = store_detail::json_count(first.manifest, "dim", first.dir + "/manifest.json");
  const StoreDType dtype = parse_store_dtype(first.manifest.at("dtype").get<std::string>());
  StoreWriter writer = StoreWriter::open(out_dir, first.run, first.total_rows, dim, dtype, mode);
  if (writer.rows_done() != 0) throw Error(ErrorKind::kUsage, "merge does not resume", "pass " + param("overwrite"));
  int64_t truncated = 0;
  for (const auto& s : shards) {
    Store store = read_store(s.dir, true, true);  // hashes checked: a damaged shard is refused here
    std::vector<json> records = std::move(store.records);
    for (size_t i = 0; i < records.size(); ++i) {
      records[i]["index"] = s.first_row + static_cast<int64_t>(i);
      if (records[i].value("truncated", false)) ++truncated;
    }
    writer.append(store.embeddings.data(), records);
  }
  // The unsharded run's manifest: the shard's, less what finish() writes and the shard section, with the
  // per-run counts ("..._this_run") summed as one uninterrupted run would have counted them.
  json manifest = first.manifest;
  for (const char* key : {"shard", "format", "format_version", "dtype", "rows", "dim", "ok_rows", "error_rows",
                          "clipzs_version", "created", "run", "files"})
    manifest.erase(key);
  for (auto& [key, value] : manifest.items()) {
    const std::string suffix = "_this_run";
    if (!value.is_number_integer() || key.size() < suffix.size() || key.compare(key.size() - suffix.size(), suffix.size(), suffix) != 0)
      continue;
    int64_t sum = 0;
    for (const auto& s : shards) sum += s.manifest.value(key, int64_t{0});
    value = sum;
  }
  // A resumed shard counted only its own run's truncations; the records say it of every row.
  if (manifest.contains("truncated_captions_this_run")) manifest["truncated_captions_this_run"] = truncated;
  return writer.finish(manifest);
}

}  // namespace

json merge_stores(const std::vector<std::string>& shard_dirs, const std::string& out_dir, const OpenMode& mode) {
  return merge_checked(checked_shards(shard_dirs), out_dir, mode);
}

json merge_banks(const std::vector<std::string>& shard_dirs, const std::string& out_dir, const OpenMode& mode) {
  if (shard_dirs.empty()) throw Error(ErrorKind::kUsage, "no shards to merge");
  // bank.json of each shard: the same run apart from the shard section (stores are checked by merge_stores).
  std::vector<json> infos;
  for (const auto& dir : shard_dirs) {
    const std::string path = (fs::path(dir) / "bank.json").string();
    if (!fs::exists(path))
      throw Error(ErrorKind::kInput, "'" + dir + "' is not a complete bank (no bank.json)",
                  "finish that shard with `" + call("embed_pairs") + " ... " + param("resume") + "` first");
    json info = json::parse(read_file(path), nullptr, false);
    if (!info.is_object() || !info.contains("shard"))
      throw Error(ErrorKind::kInput, path + (info.is_object() ? " has no \"shard\" section: '" + dir + "' is not a shard"
                                                              : " is damaged (not a JSON object)"),
                  "merge the banks written by `" + call("embed_pairs") + " " + param("shard") + " i/N`");
    infos.push_back(std::move(info));
  }
  // What makes two shards one run. Paths (the bundle's folder, the input as typed) are left out: shards
  // of one run may be made on nodes that mount things elsewhere; the hashes say what matters.
  auto field = [](const json& info, const std::string& key) {
    const json::json_pointer at("/" + key);
    return info.contains(at) ? info[at] : json();
  };
  for (size_t i = 1; i < infos.size(); ++i)
    for (const std::string key : {"kind", "format_version", "dim", "bundle/name", "bundle/sha256", "pairs_sha256", "caption_template",
                                  "skipped_pairs"})
      if (field(infos[i], key) != field(infos[0], key))
        throw Error(ErrorKind::kInput, "'" + shard_dirs[i] + "' and '" + shard_dirs[0] + "' are shards of different bank runs (" + key +
                                           ": " + field(infos[i], key).dump() + " vs " + field(infos[0], key).dump() + ")",
                    "merge shards made from one pair list, one bundle and one caption template");

  const fs::path out(out_dir);
  const fs::path info_path = out / "bank.json";
  if (fs::exists(info_path) && !mode.overwrite)
    throw Error(ErrorKind::kOutput, "'" + out_dir + "' already holds a complete bank", "pass " + param("overwrite") + ", or choose another " + param("out"));
  std::vector<std::string> image_shards, caption_shards;
  for (const auto& dir : shard_dirs) {
    image_shards.push_back((fs::path(dir) / "images").string());
    caption_shards.push_back((fs::path(dir) / "captions").string());
  }
  // Both halves' manifests checked before either is written (a shard's data is re-hashed as it is read).
  const std::vector<ShardInfo> image_info = checked_shards(image_shards), caption_info = checked_shards(caption_shards);
  if (fs::exists(info_path)) fs::remove(info_path);  // before writing: a half-replaced bank never looks complete
  const json images = merge_checked(image_info, (out / "images").string(), mode);
  const json captions = merge_checked(caption_info, (out / "captions").string(), mode);
  json info = infos[0];
  info.erase("shard");
  info["rows"] = images.at("rows");
  info["unreadable_images"] = images.at("error_rows");
  info["clipzs_version"] = CLIPZS_VERSION;
  info["created"] = utc_timestamp();
  if (captions.at("rows") != info["rows"]) throw Error(ErrorKind::kInternal, "merged bank stores differ in rows");
  write_file_atomic(info_path.string(), info.dump(2) + "\n");
  return info;
}

}  // namespace clipzs
