#include "clipzs/embed.hpp"
#include "clipzs/error.hpp"
#include "clipzs/files.hpp"
#include "pipeline/embedding_run.hpp"

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
  const int64_t total = static_cast<int64_t>(captions.size());
  if (options.batch_size < 1) throw Error(ErrorKind::kUsage, param("batch_size") + " must be at least 1");
  if (options.caption_template.find("{}") == std::string::npos)
    throw Error(ErrorKind::kUsage, "the caption template '" + options.caption_template + "' has no {}",
                "write {} where the caption goes, e.g. \"a photo of {}\"");
  if (!extra.empty() && extra.size() != captions.size())
    throw Error(ErrorKind::kInternal, "embed_captions: extra records do not match the captions");

  pipeline_detail::StoreRunPlan plan;
  plan.dir = store_dir;
  plan.identity = pipeline_detail::run_identity("captions", model, captions_fingerprint(captions), total,
                                                options.store_dtype, options.batch_size);
  plan.identity["caption_template"] = options.caption_template;
  plan.total_rows = total;
  plan.dim = model.embed_dim();
  plan.batch_size = options.batch_size;
  plan.shard_unit = options.shard_unit;
  plan.shard_index = options.shard_index;
  plan.shard_count = options.shard_count;
  plan.store_dtype = options.store_dtype;
  plan.open_mode = options.open_mode;
  plan.cancel = options.cancel;
  plan.unit = "captions";
  pipeline_detail::StoreRun run(std::move(plan));

  const int64_t first_row = run.shard().first;
  const int context = model.bundle().context_length;
  pipeline_detail::TokenBatches producer(
      tokenizer, context,
      [&](int64_t row) { return fill_template(options.caption_template, captions[static_cast<size_t>(row)]); },
      [&](int64_t row, bool truncated) {
        json record = extra.empty() ? json::object() : extra[static_cast<size_t>(row)];
        record["index"] = row - first_row;
        record["caption"] = captions[static_cast<size_t>(row)];
        record["status"] = "ok";
        if (truncated) record["truncated"] = true;
        return record;
      });
  auto encoder = pipeline_detail::text_encoder(model);
  auto manifest = [&] {
    json m = pipeline_detail::run_manifest("captions", model);
    m["caption_template"] = options.caption_template;
    m["truncated_captions_this_run"] = producer.truncated();
    m["context_length"] = context;
    return m;
  };
  return run.run(producer, *encoder, manifest, progress);
}

}  // namespace clipzs
