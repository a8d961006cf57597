// Embedding runs: images or class prompts through a ClipModel into an embedding store (store.hpp).
//
// Images: rows are the inputs in listing order, whatever the number of worker threads. Decoding and
// preprocessing run on `workers` threads, overlapping the forward of the previous batch. Batches are
// fixed ranges of the listing ([k*B, (k+1)*B)), so a resumed run feeds the model exactly the batches an
// uninterrupted one would, and yields the same store.
//
// Failure modes: see store.hpp for output errors. A bad image either becomes a row with status "error"
// (ErrorPolicy::kRecord, the default; its embedding row is zeros) or stops the run with Error(kInput)
// naming the file (kFail); the rows before it stay resumable. A set cancel flag stops the run after
// the current batch with Error(kInterrupted), also resumable.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "clipzs/image/image.hpp"
#include "clipzs/store/inputs.hpp"
#include "clipzs/model/model.hpp"
#include "clipzs/store/pairs.hpp"
#include "clipzs/util/progress.hpp"
#include "clipzs/text/prompts.hpp"
#include "clipzs/store/store.hpp"

namespace clipzs {

enum class ErrorPolicy { kRecord, kFail };
ErrorPolicy parse_error_policy(const std::string& name);  // "record"|"skip" or "fail"

struct EmbedImagesOptions {
  int batch_size = 32;
  int workers = 0;  // decode/preprocess threads; 0 picks max(1, cores - torch threads)
  ErrorPolicy on_error = ErrorPolicy::kRecord;
  StoreDType store_dtype = StoreDType::kFloat16;
  OpenMode open_mode;
  DecodeOptions decode;
  // Augmented training views (few-shot methods): when > 0, every input gives this many rows, row
  // i * augment_views + v being view v of input i (augmented_view in image.hpp); rows.jsonl records
  // "source" (the input's index) and "view". 0: the plain centre crop, one row per input.
  int augment_views = 0;
  uint64_t augment_seed = 1;
  AugmentSpec augment;
  // Shard `shard_index` of `shard_count` (a cluster job array): the run's batches are split into
  // shard_count contiguous runs of batches, so a shard embeds exactly the batches the unsharded run
  // would, whatever the thread count, and `merge_stores` rebuilds the unsharded store byte for byte.
  // The shard's store holds its rows only (rows.jsonl "index" counts from 0) and its manifest says
  // "shard": {"index", "count", "first_row", "rows", "total_rows"}.
  int shard_index = 0;
  int shard_count = 1;
  // Rows per step of the partition; 0: batch_size. A multiple of batch_size (embed_pairs passes the
  // least common multiple of its image and caption batch sizes so that both stores split alike).
  int64_t shard_unit = 0;
  const std::atomic<bool>* cancel = nullptr;
};

// The rows [first, first + count) of shard `index` of `shard_count` over `total` rows split in steps
// of `unit` rows (a batch, see EmbedImagesOptions): the steps are dealt out in contiguous runs, so the
// partition depends on nothing but these four numbers. Throws Error(kUsage) for an index outside
// 0..count-1.
struct ShardRange {
  int64_t first = 0;
  int64_t count = 0;
};
ShardRange shard_range(int64_t total, int64_t unit, int shard_index, int shard_count);
// Parses "i/N" (0 <= i < N).
void parse_shard(const std::string& text, int& index, int& count);

struct EmbedSummary {
  std::string store;
  int64_t rows = 0;
  int64_t ok = 0;
  int64_t errors = 0;
  int64_t resumed_rows = 0;  // rows that were already done when the run started
  double seconds = 0;
  double rows_per_second = 0;  // rows embedded by this run / seconds
};

EmbedSummary embed_images(const ClipModel& model, const std::vector<ImageInput>& inputs, const std::string& store_dir,
                          const EmbedImagesOptions& options, const ProgressCallback& progress = {});

struct EmbedTextsOptions {
  int batch_size = 256;
  StoreDType store_dtype = StoreDType::kFloat32;
  OpenMode open_mode;
  const std::atomic<bool>* cancel = nullptr;
};

// Writes embeddings.npy (C x D class proxies: each prompt embedding normalised, averaged over the class,
// normalised again) and prompts.npy (P x D, every prompt's normalised embedding, class by class).
EmbedSummary embed_texts(const ClipModel& model, const ClipTokenizer& tokenizer, const ClassPrompts& classes,
                         const std::string& store_dir, const EmbedTextsOptions& options,
                         const ProgressCallback& progress = {});

struct EmbedCaptionsOptions {
  int batch_size = 256;
  StoreDType store_dtype = StoreDType::kFloat16;
  std::string caption_template = "{}";  // "{}" is replaced by the caption (e.g. "a photo of {}")
  OpenMode open_mode;
  // As EmbedImagesOptions: the store holds shard_index's rows of the partition in steps of shard_unit
  // rows (0: batch_size; a multiple of batch_size), under local indices, and its manifest says "shard".
  int shard_index = 0;
  int shard_count = 1;
  int64_t shard_unit = 0;
  const std::atomic<bool>* cancel = nullptr;
};

// One row per caption (store kind "captions"): the normalised text embedding of
// caption_template with the caption filled in, truncated to the bundle's context length as CLIP's
// `truncate=True` does (counted in the manifest). Resumable like image stores: batches are fixed
// ranges, a resumed run continues after the last stored batch. rows.jsonl: {"index","caption","status",
// "truncated"?} plus the matching entry of `extra` when given (same length as captions).
EmbedSummary embed_captions(const ClipModel& model, const ClipTokenizer& tokenizer, const std::vector<std::string>& captions,
                            const std::string& store_dir, const EmbedCaptionsOptions& options,
                            const ProgressCallback& progress = {}, const std::vector<nlohmann::json>& extra = {});

// sha256 over the captions as embed_captions identifies its input.
std::string captions_fingerprint(const std::vector<std::string>& captions);

// A retrieval bank (bank.hpp) from image-caption pairs: the images into BANK/images (embed_images),
// the captions into BANK/captions (embed_captions), then BANK/bank.json, last. With open_mode.resume a
// stage whose store is already complete for the same inputs and bundle is kept, so an interrupted run
// continues where it stopped; with open_mode.overwrite an existing bank is replaced (bank.json is
// removed first, so a half-replaced bank never looks complete).
// Sharded (images.shard_count > 1): the pairs are partitioned in steps of lcm(image batch, caption
// batch) rows, both stores hold the shard's rows, and bank.json says "shard" {index, count, first_row,
// rows, total_rows}; `merge_banks` (bank.hpp) puts the shards back together.
struct EmbedPairsOptions {
  EmbedImagesOptions images;          // open_mode, cancel and the shard are taken from here for both stages
  EmbedCaptionsOptions captions;
  std::string input;                  // recorded in bank.json
};

struct EmbedPairsSummary {
  std::string bank;
  int64_t rows = 0;
  EmbedSummary images;
  EmbedSummary captions;
};

EmbedPairsSummary embed_pairs(const ClipModel& model, const ClipTokenizer& tokenizer, const PairListing& listing,
                              const std::string& bank_dir, const EmbedPairsOptions& options,
                              const ProgressCallback& progress = {});

}  // namespace clipzs
