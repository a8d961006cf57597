#include "pipeline/embedding_run.hpp"

#include "pipeline/bundle_record.hpp"
#include "pipeline/completed_run.hpp"
#include "pipeline/finite_output.hpp"

namespace clipzs::pipeline_detail {
using nlohmann::json;

namespace {

class ImageEncoder final : public BatchEncoder {
 public:
  explicit ImageEncoder(const ClipModel& model) : model_(model) {}
  const char* name() const override { return "image encoder"; }
  int64_t dim() const override { return model_.embed_dim(); }
  std::vector<float> encode(const Batch& batch) override {
    return model_.encode_images(batch.pixels.data(), static_cast<int64_t>(batch.ok.size()));
  }

 private:
  const ClipModel& model_;
};

class TextEncoder final : public BatchEncoder {
 public:
  explicit TextEncoder(const ClipModel& model) : model_(model) {}
  const char* name() const override { return "text encoder"; }
  int64_t dim() const override { return model_.embed_dim(); }
  std::vector<float> encode(const Batch& batch) override {
    return model_.encode_tokens(batch.tokens.data(), static_cast<int64_t>(batch.ok.size()));
  }

 private:
  const ClipModel& model_;
};

// Appends every batch to the store and flushes it, so that a crash loses no stored batch.
class StoreSink final : public BatchSink {
 public:
  explicit StoreSink(StoreWriter& writer) : writer_(writer) {}
  void write(const Batch& batch, const std::vector<float>& embeddings) override {
    writer_.append(embeddings.data(), batch.records);
    writer_.flush();
  }
  int64_t done() const override { return writer_.rows_done(); }

 private:
  StoreWriter& writer_;
};

}  // namespace

std::unique_ptr<BatchEncoder> image_encoder(const ClipModel& model) { return std::make_unique<ImageEncoder>(model); }
std::unique_ptr<BatchEncoder> text_encoder(const ClipModel& model) { return std::make_unique<TextEncoder>(model); }

void TokenBatches::start(int64_t first, int64_t end, int64_t batch_size) {
  next_ = first;
  end_ = end;
  batch_size_ = batch_size;
}

bool TokenBatches::next(Batch& batch) {
  if (next_ >= end_) return false;
  batch.begin = next_;
  batch.end = std::min<int64_t>(end_, next_ + batch_size_);
  next_ = batch.end;
  const int64_t n = batch.rows();
  batch.tokens.reserve(static_cast<size_t>(n * context_));
  batch.records.reserve(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) {
    const TokenizedText t = tokenizer_.encode(text_(batch.begin + i), context_);
    truncated_ += t.truncated ? 1 : 0;
    batch.tokens.insert(batch.tokens.end(), t.ids.begin(), t.ids.end());
    batch.records.push_back(record_(batch.begin + i, t.truncated));
    batch.ok.push_back(i);
  }
  batch.errors.assign(static_cast<size_t>(n), std::string());
  return true;
}

double seconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

int64_t run_batches(BatchProducer& producer, BatchEncoder& encoder, BatchSink& sink, const LoopSettings& settings) {
  const int64_t dim = encoder.dim();
  int64_t errors = 0;
  try {
    while (producer.has_next()) {
      // Checked before waiting for the batch, and only while one is left: a run whose last batch is
      // stored finishes even when the flag comes now.
      if (settings.cancel && settings.cancel->load()) throw settings.interrupted();
      Batch batch;
      if (!producer.next(batch)) break;
      const int64_t n = batch.rows();
      if (static_cast<int64_t>(batch.records.size()) != n || static_cast<int64_t>(batch.errors.size()) != n)
        throw Error(ErrorKind::kInternal, "embedding run: a batch's records or errors do not match its rows");
      for (int64_t i = 0; i < n; ++i) {
        const std::string& error = batch.errors[static_cast<size_t>(i)];
        if (error.empty()) continue;
        if (settings.on_error == ErrorPolicy::kFail)
          throw Error(ErrorKind::kInput, "row " + std::to_string(batch.begin + i) + ": " + error,
                      "fix or remove the file, or use " + param("on_error") + " record to keep going");
        ++errors;
      }
      std::vector<float> embeddings(static_cast<size_t>(n * dim), 0.0f);
      if (!batch.ok.empty()) {
        const int64_t good = static_cast<int64_t>(batch.ok.size());
        std::vector<float> out = encoder.encode(batch);
        require_finite_output(out, good, dim, encoder.name(), batch.records, &batch.ok);
        if (good == n) {
          embeddings = std::move(out);  // every row fine: the encoder's output is the batch
        } else {
          for (int64_t k = 0; k < good; ++k)
            std::copy_n(out.data() + k * dim, dim, embeddings.data() + batch.ok[static_cast<size_t>(k)] * dim);
        }
      }
      sink.write(batch, embeddings);
      if (settings.progress) {
        Progress p;
        p.done = sink.done();
        p.total = settings.total;
        p.errors = errors;
        p.elapsed_s = seconds_since(settings.start);
        p.done_this_run = p.done - settings.resumed;
        settings.progress(p);
      }
    }
  } catch (...) {
    producer.stop();
    throw;
  }
  return errors;
}

json run_identity(const char* kind, const ClipModel& model, const std::string& inputs_sha256, int64_t rows,
                  StoreDType store_dtype, int64_t batch_size) {
  json identity = {{"kind", kind},
                   {"bundle_name", model.bundle().name},
                   {"bundle_sha256", model.bundle().bundle_sha256},
                   {"inputs_sha256", inputs_sha256},
                   {"rows", rows},
                   {"dim", model.embed_dim()},
                   {"dtype", store_dtype_name(store_dtype)},
                   {"model_dtype", dtype_name(model.options().dtype)}};
  if (batch_size > 0) identity["batch_size"] = batch_size;
  return identity;
}

json run_manifest(const char* kind, const ClipModel& model) {
  return {{"kind", kind},
          {"bundle", bundle_record(model.bundle())},
          {"model_dtype", dtype_name(model.options().dtype)},
          {"device", model.options().device}};
}

StoreRun::StoreRun(StoreRunPlan plan) : plan_(std::move(plan)) {
  if (plan_.batch_size < 1) throw Error(ErrorKind::kUsage, param("batch_size") + " must be at least 1");
  const int64_t unit = plan_.shard_unit > 0 ? plan_.shard_unit : plan_.batch_size;
  if (unit % plan_.batch_size != 0)
    throw Error(ErrorKind::kInternal, "embedding run: the shard unit is not a multiple of the batch size");
  shard_ = shard_range(plan_.total_rows, unit, plan_.shard_index, plan_.shard_count);
  if (sharded()) {
    shard_record_ = {{"index", plan_.shard_index}, {"count", plan_.shard_count}, {"first_row", shard_.first},
                     {"rows", shard_.count}, {"total_rows", plan_.total_rows}};
    plan_.identity["shard"] = shard_record_;
  }
}

EmbedSummary StoreRun::run(BatchProducer& producer, BatchEncoder& encoder, const std::function<json()>& manifest,
                           const ProgressCallback& progress) {
  if (auto done = completed_run(plan_.dir, plan_.identity, shard_.count, plan_.open_mode)) return *done;
  OpenMode open_mode = plan_.open_mode;
  open_mode.resume_granularity = plan_.batch_size;
  StoreWriter writer =
      StoreWriter::open(plan_.dir, plan_.identity, shard_.count, plan_.dim, plan_.store_dtype, open_mode);
  const int64_t resumed = writer.rows_done();
  // Resume on a batch boundary so that batches are those of an uninterrupted run.
  if (resumed % plan_.batch_size != 0 && resumed != shard_.count)
    throw Error(ErrorKind::kInternal, "resumed store is not on a batch boundary");

  LoopSettings settings;
  settings.on_error = plan_.on_error;
  settings.cancel = plan_.cancel;
  settings.progress = progress;
  settings.total = shard_.count;
  settings.resumed = resumed;
  const char* unit = plan_.unit;
  const int64_t rows = shard_.count;
  settings.interrupted = [&writer, unit, rows] {
    return Error(ErrorKind::kInterrupted,
                 "interrupted after " + std::to_string(writer.rows_done()) + " of " + std::to_string(rows) + " " + unit,
                 "rerun the same command with " + param("resume") + " to continue");
  };
  producer.start(shard_.first + resumed, shard_.first + shard_.count, plan_.batch_size);
  StoreSink sink(writer);
  run_batches(producer, encoder, sink, settings);

  json m = manifest ? manifest() : json::object();
  if (sharded()) m["shard"] = shard_record_;
  EmbedSummary summary;
  summary.store = plan_.dir;
  summary.rows = shard_.count;
  summary.resumed_rows = resumed;
  summary.seconds = seconds_since(settings.start);
  summary.rows_per_second =
      summary.seconds > 0 ? static_cast<double>(shard_.count - resumed) / summary.seconds : 0.0;
  summary.errors = writer.error_rows();
  summary.ok = shard_.count - summary.errors;
  writer.finish(m);
  return summary;
}

}  // namespace clipzs::pipeline_detail
