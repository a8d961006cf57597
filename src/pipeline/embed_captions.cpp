#include <chrono>

#include "clipzs/embed.hpp"
#include "clipzs/error.hpp"
#include "clipzs/files.hpp"
#include "pipeline/bundle_record.hpp"
#include "pipeline/completed_run.hpp"
#include "pipeline/finite_output.hpp"

namespace clipzs {
using nlohmann::json;

namespace {

std::string fill_template(const std::string& tmpl, const std::string& caption) {
  const size_t at = tmpl.find("{}");
  if (at == std::string::npos) return tmpl + caption;
  return tmpl.substr(0, at) + caption + tmpl.substr(at + 2);
}

}  // namespace

std::string captions_fingerprint(const std::vector<std::string>& captions) {
  std::string all;
  for (const auto& c : captions) {
    all += c;
    all += '\x1e';
  }
  return sha256_bytes(all.data(), all.size());
}

EmbedSummary embed_captions(const ClipModel& model, const ClipTokenizer& tokenizer, const std::vector<std::string>& captions,
                            const std::string& store_dir, const EmbedCaptionsOptions& options,
                            const ProgressCallback& progress, const std::vector<json>& extra) {
  const BundleInfo& bundle = model.bundle();
  const int64_t dim = model.embed_dim();
  const int64_t total = static_cast<int64_t>(captions.size());
  const int context = bundle.context_length;
  if (options.batch_size < 1) throw Error(ErrorKind::kUsage, "--batch-size must be at least 1");
  if (options.caption_template.find("{}") == std::string::npos)
    throw Error(ErrorKind::kUsage, "the caption template '" + options.caption_template + "' has no {}",
                "write {} where the caption goes, e.g. \"a photo of {}\"");
  if (!extra.empty() && extra.size() != captions.size())
    throw Error(ErrorKind::kInternal, "embed_captions: extra records do not match the captions");

  json identity = {{"kind", "captions"},
                   {"bundle_name", bundle.name},
                   {"bundle_sha256", bundle.bundle_sha256},
                   {"inputs_sha256", captions_fingerprint(captions)},
                   {"caption_template", options.caption_template},
                   {"rows", total},
                   {"dim", dim},
                   {"dtype", store_dtype_name(options.store_dtype)},
                   {"batch_size", options.batch_size},
                   {"model_dtype", dtype_name(model.options().dtype)}};
  // A shard keeps global row numbers for batching and stores rows [first_row, end_row) under local indices.
  const int64_t shard_unit = options.shard_unit > 0 ? options.shard_unit : options.batch_size;
  if (shard_unit % options.batch_size != 0)
    throw Error(ErrorKind::kInternal, "embed_captions: the shard unit is not a multiple of the batch size");
  const ShardRange shard = shard_range(total, shard_unit, options.shard_index, options.shard_count);
  const bool sharded = options.shard_count > 1;
  if (sharded)
    identity["shard"] = {{"index", options.shard_index}, {"count", options.shard_count}, {"first_row", shard.first},
                         {"rows", shard.count}, {"total_rows", total}};
  const int64_t first_row = shard.first;
  const int64_t end_row = shard.first + shard.count;
  if (auto done = pipeline_detail::completed_run(store_dir, identity, shard.count, options.open_mode)) return *done;
  OpenMode open_mode = options.open_mode;
  open_mode.resume_granularity = options.batch_size;
  StoreWriter writer = StoreWriter::open(store_dir, identity, shard.count, dim, options.store_dtype, open_mode);
  const int64_t resumed = writer.rows_done();
  if (resumed % options.batch_size != 0 && resumed != shard.count)
    throw Error(ErrorKind::kInternal, "resumed caption store is not on a batch boundary");

  const auto start = std::chrono::steady_clock::now();
  auto elapsed = [&] { return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count(); };
  int64_t truncated = 0;
  for (int64_t begin = first_row + resumed; begin < end_row; begin += options.batch_size) {
    if (options.cancel && options.cancel->load())
      throw Error(ErrorKind::kInterrupted,
                  "interrupted after " + std::to_string(writer.rows_done()) + " of " + std::to_string(shard.count) + " captions",
                  "rerun the same command with --resume to continue");
    const int64_t end = std::min<int64_t>(end_row, begin + options.batch_size);
    std::vector<int64_t> ids;
    ids.reserve(static_cast<size_t>((end - begin) * context));
    std::vector<json> records;
    records.reserve(static_cast<size_t>(end - begin));
    for (int64_t i = begin; i < end; ++i) {
      const std::string& caption = captions[static_cast<size_t>(i)];
      TokenizedText t = tokenizer.encode(fill_template(options.caption_template, caption), context);
      ids.insert(ids.end(), t.ids.begin(), t.ids.end());
      json record = extra.empty() ? json::object() : extra[static_cast<size_t>(i)];
      record["index"] = i - first_row;
      record["caption"] = caption;
      record["status"] = "ok";
      if (t.truncated) {
        record["truncated"] = true;
        ++truncated;
      }
      records.push_back(std::move(record));
    }
    const std::vector<float> out = model.encode_tokens(ids.data(), end - begin);
    pipeline_detail::require_finite_output(out, end - begin, dim, "text encoder", records);
    writer.append(out.data(), records);
    writer.flush();
    if (progress) {
      Progress p;
      p.done = writer.rows_done();
      p.total = shard.count;
      p.elapsed_s = elapsed();
      p.done_this_run = writer.rows_done() - resumed;
      progress(p);
    }
  }
  json manifest = {{"kind", "captions"},
                   {"bundle", pipeline_detail::bundle_record(bundle)},
                   {"caption_template", options.caption_template},
                   {"truncated_captions_this_run", truncated},
                   {"context_length", context},
                   {"model_dtype", dtype_name(model.options().dtype)},
                   {"device", model.options().device}};
  if (sharded) manifest["shard"] = identity["shard"];
  EmbedSummary summary;
  summary.store = store_dir;
  summary.rows = shard.count;
  summary.ok = shard.count;
  summary.resumed_rows = resumed;
  summary.seconds = elapsed();
  summary.rows_per_second = summary.seconds > 0 ? static_cast<double>(shard.count - resumed) / summary.seconds : 0.0;
  writer.finish(manifest);
  return summary;
}

}  // namespace clipzs
