#include <filesystem>
#include <numeric>

#include "clipzs/pipeline/embed.hpp"
#include "clipzs/util/error.hpp"
#include "clipzs/util/files.hpp"
#include "pipeline/bundle_record.hpp"

namespace clipzs {
namespace fs = std::filesystem;
using nlohmann::json;

namespace {

// The manifest when `dir` holds a complete store whose run identity has every field of `expected` (a
// stage a resumed bank run can keep), null when it holds none; throws when it holds one of something else.
json complete_store_matching(const std::string& dir, const json& expected) {
  const fs::path manifest = fs::path(dir) / "manifest.json";
  if (!fs::exists(manifest)) return nullptr;
  json m = json::parse(read_file(manifest.string()), nullptr, false);
  const json run = m.is_object() ? m.value("run", json::object()) : json::object();
  // A null expected value means "absent" (an unsharded run must not keep a shard's store).
  for (const auto& [key, value] : expected.items())
    if (run.value(key, json()) != value)
      throw Error(ErrorKind::kOutput, "'" + dir + "' holds a complete store of another run (" + key + ": " +
                                          run.value(key, json()).dump() + " there, " + value.dump() + " here)",
                  "pass " + param("overwrite") + " to make the bank again, or choose another " + param("out"));
  return m;
}


}  // namespace

EmbedPairsSummary embed_pairs(const ClipModel& model, const ClipTokenizer& tokenizer, const PairListing& listing,
                              const std::string& bank_dir, const EmbedPairsOptions& options, const ProgressCallback& progress) {
  const BundleInfo& bundle = model.bundle();
  const OpenMode mode = options.images.open_mode;
  const fs::path bank(bank_dir);
  const fs::path info_path = bank / "bank.json";
  const int64_t total = static_cast<int64_t>(listing.pairs.size());
  const bool sharded = options.images.shard_count > 1;
  if (options.images.batch_size < 1 || options.captions.batch_size < 1)
    throw Error(ErrorKind::kUsage, "embed pairs: batch sizes must be at least 1 (images " + std::to_string(options.images.batch_size) +
                                       ", captions " + std::to_string(options.captions.batch_size) + ")");
  // Both stores split in the same steps, each a whole number of image batches and of caption batches,
  // so that every shard runs the batches the unsharded run would and merges back byte for byte.
  const int64_t shard_unit = std::lcm<int64_t>(options.images.batch_size, options.captions.batch_size);
  const ShardRange shard = shard_range(total, shard_unit, options.images.shard_index, options.images.shard_count);
  json shard_record;
  if (sharded)
    shard_record = {{"index", options.images.shard_index}, {"count", options.images.shard_count},
                    {"first_row", shard.first}, {"rows", shard.count}, {"total_rows", total}};
  bool finished_before = false;  // a --resume of a run killed after bank.json was written
  std::string differs;            // what sets the bank there apart from this run, for the message
  if (fs::exists(info_path) && mode.resume && !mode.overwrite) {
    json info = json::parse(read_file(info_path.string()), nullptr, false);
    if (!info.is_object()) info = json::object();
    if (info.value("pairs_sha256", std::string()) != pairs_fingerprint(listing.pairs)) differs = "other pairs";
    else if (info.value("bundle", json::object()).value("sha256", std::string()) != bundle.bundle_sha256) differs = "another model bundle";
    else if (info.value("caption_template", std::string()) != options.captions.caption_template) differs = "another caption template";
    else if (info.value("shard", json()) != shard_record)
      differs = info.contains("shard") ? "shard " + std::to_string(info["shard"].value("index", 0)) + "/" +
                                             std::to_string(info["shard"].value("count", 0)) + " (rows " +
                                             std::to_string(info["shard"].value("first_row", int64_t{0})) + "+" +
                                             std::to_string(info["shard"].value("rows", int64_t{0})) + ")"
                                       : "the whole pair list, not a shard";
    finished_before = differs.empty();
  }
  if (fs::exists(info_path) && !finished_before) {
    if (!mode.overwrite)
      throw Error(ErrorKind::kOutput, "'" + bank_dir + "' already holds a complete bank" + (differs.empty() ? "" : " of " + differs),
                  "pass " + param("overwrite") + " to replace it, or choose another " + param("out"));
    fs::remove(info_path);  // first, so that a half-replaced bank is never taken for a complete one
  }
  if (mode.overwrite && fs::is_directory(bank)) {
    // Indexes of an earlier bank here would return its row numbers for the new one.
    for (const auto& entry : fs::directory_iterator(bank))
      if (entry.path().extension() == ".faiss") fs::remove(entry.path());
  }
  fs::create_directories(bank);
  const std::string images_dir = (bank / "images").string();
  const std::string captions_dir = (bank / "captions").string();

  std::vector<ImageInput> images;
  std::vector<std::string> captions;
  std::vector<json> caption_records;
  images.reserve(listing.pairs.size());
  captions.reserve(listing.pairs.size());
  for (const auto& p : listing.pairs) {
    images.push_back(p.image);
    captions.push_back(p.caption);
    json extra = {{"key", p.key}};
    caption_records.push_back(std::move(extra));
  }

  EmbedPairsSummary summary;
  summary.bank = bank_dir;
  summary.rows = shard.count;
  json images_identity = {{"bundle_sha256", bundle.bundle_sha256},
                          {"inputs_sha256", listing_fingerprint(images)},
                          {"dtype", store_dtype_name(options.images.store_dtype)},
                          {"model_dtype", dtype_name(model.options().dtype)},
                          {"exif", options.images.decode.apply_exif_orientation ? "apply" : "ignore"},
                          {"max_pixels", options.images.decode.max_pixels}};
  json captions_identity = {{"bundle_sha256", bundle.bundle_sha256},
                            {"inputs_sha256", captions_fingerprint(captions)},
                            {"caption_template", options.captions.caption_template},
                            {"dtype", store_dtype_name(options.captions.store_dtype)},
                            {"model_dtype", dtype_name(model.options().dtype)}};
  images_identity["shard"] = captions_identity["shard"] = shard_record;  // null when unsharded
  const json kept_images = mode.resume && !mode.overwrite ? complete_store_matching(images_dir, images_identity) : json();
  if (!kept_images.is_null()) {
    summary.images.store = images_dir;
    summary.images.rows = summary.images.resumed_rows = summary.rows;
    summary.images.errors = kept_images.value("error_rows", int64_t{0});
    summary.images.ok = summary.rows - summary.images.errors;
  } else {
    EmbedImagesOptions image_options = options.images;
    image_options.shard_unit = shard_unit;
    summary.images = embed_images(model, images, images_dir, image_options, in_stage(progress, "images"));
  }
  const bool keep_captions =
      mode.resume && !mode.overwrite && !complete_store_matching(captions_dir, captions_identity).is_null();
  if (keep_captions) {
    summary.captions.store = captions_dir;
    summary.captions.rows = summary.captions.resumed_rows = summary.captions.ok = summary.rows;
  } else {
    EmbedCaptionsOptions caption_options = options.captions;
    caption_options.open_mode = mode;
    caption_options.cancel = options.images.cancel;
    caption_options.shard_index = options.images.shard_index;
    caption_options.shard_count = options.images.shard_count;
    caption_options.shard_unit = shard_unit;
    summary.captions =
        embed_captions(model, tokenizer, captions, captions_dir, caption_options, in_stage(progress, "captions"), caption_records);
  }

  // A --resume of a bank finished before keeps it as it is, bank.json (and its time) included.
  if (finished_before && !kept_images.is_null() && keep_captions) return summary;
  json info = {{"kind", "bank"},
               {"format_version", 1},
               {"rows", summary.rows},
               {"dim", model.embed_dim()},
               {"bundle", pipeline_detail::bundle_record(bundle)},
               {"input", options.input},
               {"pairs_sha256", pairs_fingerprint(listing.pairs)},
               {"caption_template", options.captions.caption_template},
               {"skipped_pairs", listing.skipped},
               {"unreadable_images", summary.images.errors},
               {"clipzs_version", CLIPZS_VERSION},
               {"created", utc_timestamp()}};
  if (sharded) info["shard"] = shard_record;
  write_file_atomic(info_path.string(), info.dump(2) + "\n");
  return summary;
}

}  // namespace clipzs
