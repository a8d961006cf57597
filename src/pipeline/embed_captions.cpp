#include "clipzs/pipeline/embed.hpp"
#include "clipzs/util/error.hpp"
#include "clipzs/util/files.hpp"
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

  json identity = pipeline_detail::run_identity("captions", model, captions_fingerprint(captions), total,
                                                options.store_dtype, options.batch_size);
  identity["caption_template"] = options.caption_template;
  pipeline_detail::StoreRunPlan plan =
      pipeline_detail::store_run_plan(store_dir, std::move(identity), total, model.embed_dim(), options);
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
