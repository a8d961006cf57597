// The skeleton every embedding run shares. Private to the library.
//
//     BatchProducer            BatchEncoder          BatchSink
//     decode + preprocess  ->  the model's image  ->  store writer (images, captions)
//     or tokenize              or text encoder        or prompt ensemble (texts)
//
// run_batches() is the loop: batches in row order from the producer, through the encoder, into the
// sink, with the cancel check, the bad-row policy, the NaN/Inf refusal and progress after every
// batch. StoreRun wraps it for a resumable store: the run identity, the shard, the completed-run check
// of a requeued job, opening or resuming the store on a batch boundary, and the manifest.
//
// embed_images / embed_captions / embed_texts differ only in their producer, their identity and their
// manifest; embed_pairs runs two StoreRuns. A GPU pipeline plugs in here: a producer that preprocesses
// on the device and an encoder that overlaps transfers, with the rest unchanged.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "clipzs/pipeline/embed.hpp"
#include "clipzs/util/error.hpp"
#include "clipzs/model/model.hpp"
#include "clipzs/util/progress.hpp"
#include "clipzs/store/store.hpp"
#include "clipzs/text/tokenizer.hpp"

namespace clipzs::pipeline_detail {

// Rows [begin, end) of a run (global row numbers, the same whether or not the run is sharded).
struct Batch {
  int64_t begin = 0;
  int64_t end = 0;
  std::vector<nlohmann::json> records;  // one per row, rows.jsonl entries ("index" = the store row)
  std::vector<std::string> errors;      // one per row; empty: the row is fine (names marked, error.hpp)
  std::vector<int64_t> ok;              // offsets in the batch of the fine rows, ascending
  // Encoder input of the fine rows only, in `ok` order: ok.size() x 3 x S x S pixels (image runs)
  // or ok.size() x context token ids (text runs).
  std::vector<float> pixels;
  std::vector<int64_t> tokens;

  int64_t rows() const { return end - begin; }
};

// First stage: turns rows into encoder input. Batches come out in row order.
class BatchProducer {
 public:
  virtual ~BatchProducer() = default;
  // Called once before next(): batches cover rows [first, end) in steps of `batch_size` rows.
  virtual void start(int64_t first, int64_t end, int64_t batch_size) = 0;
  // Whether next() has a batch left to give.
  virtual bool has_next() const = 0;
  // The next batch (waiting for it when it is being prepared); false when none is left.
  virtual bool next(Batch& batch) = 0;
  // Returns once no work of this producer is in flight; called when the run stops early.
  virtual void stop() noexcept {}
};

// Second stage: the encoder.
class BatchEncoder {
 public:
  virtual ~BatchEncoder() = default;
  virtual const char* name() const = 0;  // "image encoder": for messages
  virtual int64_t dim() const = 0;
  // batch.ok.size() x dim() embeddings of the batch's fine rows.
  virtual std::vector<float> encode(const Batch& batch) = 0;
};

// The model's two encoders as stages (pixels resp. tokens of a batch).
std::unique_ptr<BatchEncoder> image_encoder(const ClipModel& model);
std::unique_ptr<BatchEncoder> text_encoder(const ClipModel& model);

// The producer of text runs: row r is text(r) tokenized to `context` tokens (truncated as CLIP's
// truncate=True does) with rows.jsonl entry record(r, truncated).
class TokenBatches final : public BatchProducer {
 public:
  TokenBatches(const ClipTokenizer& tokenizer, int context, std::function<std::string(int64_t)> text,
               std::function<nlohmann::json(int64_t, bool)> record)
      : tokenizer_(tokenizer), context_(context), text_(std::move(text)), record_(std::move(record)) {}
  void start(int64_t first, int64_t end, int64_t batch_size) override;
  bool has_next() const override { return next_ < end_; }
  bool next(Batch& batch) override;
  int64_t truncated() const { return truncated_; }  // texts cut to the context length so far

 private:
  const ClipTokenizer& tokenizer_;
  const int context_;
  std::function<std::string(int64_t)> text_;
  std::function<nlohmann::json(int64_t, bool)> record_;
  int64_t next_ = 0;
  int64_t end_ = 0;
  int64_t batch_size_ = 1;
  int64_t truncated_ = 0;
};

// Last stage: keeps what the encoder made.
class BatchSink {
 public:
  virtual ~BatchSink() = default;
  // `embeddings`: batch.rows() x dim, zero rows where the batch has errors.
  virtual void write(const Batch& batch, const std::vector<float>& embeddings) = 0;
  virtual int64_t done() const = 0;  // rows kept so far, a resumed store's included (for progress)
};

struct LoopSettings {
  ErrorPolicy on_error = ErrorPolicy::kRecord;
  const std::atomic<bool>* cancel = nullptr;
  std::function<Error()> interrupted;  // what a set cancel flag stops the run with
  ProgressCallback progress;
  int64_t total = 0;    // progress: rows in all
  int64_t resumed = 0;  // progress: rows done before this run
  std::chrono::steady_clock::time_point start = std::chrono::steady_clock::now();
};

// The loop. Returns the rows with errors this run. The producer is stopped before an exception leaves.
int64_t run_batches(BatchProducer& producer, BatchEncoder& encoder, BatchSink& sink, const LoopSettings& settings);

// Seconds since `start`.
double seconds_since(std::chrono::steady_clock::time_point start);

// The identity fields every store run has; `batch_size` 0 leaves it out (a text run is not batched
// into its store).
nlohmann::json run_identity(const char* kind, const ClipModel& model, const std::string& inputs_sha256, int64_t rows,
                            StoreDType store_dtype, int64_t batch_size);
// The manifest fields every store run has: kind, bundle, model dtype, device.
nlohmann::json run_manifest(const char* kind, const ClipModel& model);

struct StoreRunPlan {
  std::string dir;
  nlohmann::json identity;  // run_identity() plus the run's own fields; "shard" is added when sharded
  int64_t total_rows = 0;   // of the whole run, all shards
  int64_t dim = 0;
  int batch_size = 1;
  int64_t shard_unit = 0;  // rows per shard step; 0: batch_size; else a multiple of it
  int shard_index = 0;
  int shard_count = 1;
  StoreDType store_dtype = StoreDType::kFloat16;
  OpenMode open_mode;
  ErrorPolicy on_error = ErrorPolicy::kRecord;
  const std::atomic<bool>* cancel = nullptr;
  const char* unit = "rows";  // what the rows are, in the interruption message
};

// The plan of a run with the fields every store run's options have (batch size, shard, store dtype,
// open mode, cancel flag): EmbedImagesOptions, EmbedCaptionsOptions.
template <class Options>
StoreRunPlan store_run_plan(const std::string& dir, nlohmann::json identity, int64_t total_rows, int64_t dim,
                            const Options& options) {
  StoreRunPlan plan;
  plan.dir = dir;
  plan.identity = std::move(identity);
  plan.total_rows = total_rows;
  plan.dim = dim;
  plan.batch_size = options.batch_size;
  plan.shard_unit = options.shard_unit;
  plan.shard_index = options.shard_index;
  plan.shard_count = options.shard_count;
  plan.store_dtype = options.store_dtype;
  plan.open_mode = options.open_mode;
  plan.cancel = options.cancel;
  return plan;
}

// A resumable, shardable store run.
class StoreRun {
 public:
  explicit StoreRun(StoreRunPlan plan);  // checks the batch size and the shard (Error(kUsage))

  const ShardRange& shard() const { return shard_; }
  bool sharded() const { return plan_.shard_count > 1; }
  // {"index", "count", "first_row", "rows", "total_rows"}, null when unsharded.
  const nlohmann::json& shard_record() const { return shard_record_; }

  // A store this very run completed before (a requeued job) is returned as it is; otherwise the rows
  // of the shard not yet stored are embedded and the store is finished with manifest() (plus
  // "shard" when sharded), called after the last batch.
  EmbedSummary run(BatchProducer& producer, BatchEncoder& encoder, const std::function<nlohmann::json()>& manifest,
                   const ProgressCallback& progress);

 private:
  StoreRunPlan plan_;
  ShardRange shard_;
  nlohmann::json shard_record_;
};

}  // namespace clipzs::pipeline_detail
