#include "clipzs/pipeline/embed.hpp"
#include "clipzs/util/error.hpp"
#include "clipzs/util/files.hpp"
#include "pipeline/embedding_run.hpp"

namespace clipzs {
using nlohmann::json;

namespace {

// Keeps every prompt's embedding (rows are prompts here; the store's rows, the classes, come after).
class PromptSink final : public pipeline_detail::BatchSink {
 public:
  PromptSink(int64_t prompts, int64_t dim) : embeddings(static_cast<size_t>(prompts * dim)), dim_(dim) {}
  void write(const pipeline_detail::Batch& batch, const std::vector<float>& out) override {
    std::copy(out.begin(), out.end(), embeddings.begin() + batch.begin * dim_);
    done_ = batch.end;
  }
  int64_t done() const override { return done_; }

  std::vector<float> embeddings;  // prompts x dim

 private:
  const int64_t dim_;
  int64_t done_ = 0;
};

}  // namespace

EmbedSummary embed_texts(const ClipModel& model, const ClipTokenizer& tokenizer, const ClassPrompts& classes,
                         const std::string& store_dir, const EmbedTextsOptions& options,
                         const ProgressCallback& progress) {
  const int64_t dim = model.embed_dim();
  const int64_t num_classes = static_cast<int64_t>(classes.classnames.size());
  const int context = model.bundle().context_length;
  if (options.batch_size < 1) throw Error(ErrorKind::kUsage, param("batch_size") + " must be at least 1");

  std::vector<std::string> all_prompts;
  std::string fingerprint_text;
  for (int64_t c = 0; c < num_classes; ++c) {
    fingerprint_text += classes.classnames[c] + '\x1f';
    for (const auto& p : classes.prompts[c]) {
      all_prompts.push_back(p);
      fingerprint_text += p + '\x1e';
    }
  }
  const json identity =
      pipeline_detail::run_identity("texts", model, sha256_bytes(fingerprint_text.data(), fingerprint_text.size()),
                                    num_classes, options.store_dtype, 0);
  // Class proxies need every prompt of a class, so text stores are written in one go; a text run is
  // short (80,000 prompts: minutes on a CPU), and --resume simply starts it again.
  OpenMode mode = options.open_mode;
  if (mode.resume) mode.overwrite = true;
  StoreWriter writer = StoreWriter::open(store_dir, identity, num_classes, dim, options.store_dtype, mode);

  const int64_t total_prompts = static_cast<int64_t>(all_prompts.size());
  pipeline_detail::TokenBatches producer(
      tokenizer, context, [&](int64_t i) { return all_prompts[static_cast<size_t>(i)]; },
      // prompts by their index in the class x template list (named by the NaN/Inf refusal)
      [&](int64_t i, bool) { return json{{"index", i}, {"caption", all_prompts[static_cast<size_t>(i)]}}; });
  producer.start(0, total_prompts, options.batch_size);
  auto encoder = pipeline_detail::text_encoder(model);
  PromptSink prompts(total_prompts, dim);
  pipeline_detail::LoopSettings settings;
  settings.cancel = options.cancel;
  settings.interrupted = [] {
    return Error(ErrorKind::kInterrupted, "interrupted while embedding prompts", "rerun the same command");
  };
  settings.progress = progress;
  settings.total = total_prompts;
  pipeline_detail::run_batches(producer, *encoder, prompts, settings);
  const std::vector<float>& prompt_embeddings = prompts.embeddings;

  // The standard CLIP ensemble: mean of normalised prompt embeddings, normalised again.
  std::vector<float> proxies(static_cast<size_t>(num_classes * dim), 0.0f);
  std::vector<json> records;
  int64_t offset = 0;
  for (int64_t c = 0; c < num_classes; ++c) {
    const int64_t count = static_cast<int64_t>(classes.prompts[c].size());
    float* proxy = proxies.data() + c * dim;
    for (int64_t k = 0; k < count; ++k)
      for (int64_t j = 0; j < dim; ++j) proxy[j] += prompt_embeddings[static_cast<size_t>((offset + k) * dim + j)];
    l2_normalize_rows(proxy, 1, dim);
    records.push_back({{"index", c},
                       {"label", classes.classnames[c]},
                       {"status", "ok"},
                       {"prompt_offset", offset},
                       {"prompts", classes.prompts[c]}});
    offset += count;
  }
  writer.add_file("prompts.npy", prompt_embeddings, {total_prompts, dim});
  writer.append(proxies.data(), records);
  json manifest = pipeline_detail::run_manifest("texts", model);
  manifest["prompts"] = total_prompts;
  manifest["truncated_prompts"] = producer.truncated();
  manifest["context_length"] = context;
  manifest["ensemble"] = "mean of L2-normalised prompt embeddings, L2-normalised";
  writer.finish(manifest);

  EmbedSummary summary;
  summary.store = store_dir;
  summary.rows = num_classes;
  summary.ok = num_classes;
  summary.seconds = pipeline_detail::seconds_since(settings.start);
  summary.rows_per_second = summary.seconds > 0 ? static_cast<double>(total_prompts) / summary.seconds : 0.0;
  return summary;
}

}  // namespace clipzs
