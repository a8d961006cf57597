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

#include "clipzs/image.hpp"
#include "clipzs/inputs.hpp"
#include "clipzs/model.hpp"
#include "clipzs/store.hpp"

namespace clipzs {

enum class ErrorPolicy { kRecord, kFail };
ErrorPolicy parse_error_policy(const std::string& name);  // "record"|"skip" or "fail"

struct Progress {
  int64_t done = 0;     // rows finished, including rows found done by --resume
  int64_t total = 0;
  int64_t errors = 0;   // rows with status "error" in this run
  double elapsed_s = 0; // since this run started
  int64_t done_this_run = 0;
};
using ProgressCallback = std::function<void(const Progress&)>;

struct EmbedImagesOptions {
  int batch_size = 32;
  int workers = 0;  // decode/preprocess threads; 0 picks max(1, cores - torch threads)
  ErrorPolicy on_error = ErrorPolicy::kRecord;
  StoreDType store_dtype = StoreDType::kFloat16;
  OpenMode open_mode;
  DecodeOptions decode;
  const std::atomic<bool>* cancel = nullptr;
};

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

// Class names with their prompts. Templates use "{c}" (CLIP_benchmark) or "{}" (openai/CLIP) for the name.
struct ClassPrompts {
  std::vector<std::string> classnames;
  std::vector<std::vector<std::string>> prompts;  // per class
};

// classes: CLIP_benchmark JSON ({dataset: [names]}, `dataset` picks the key; a single key needs none)
//          or a text file with one class name per line.
// templates: CLIP_benchmark JSON ({dataset: [templates]}) or a text file with one template per line;
//          empty means the single template "{c}"... unless `cupl_prompts` is given instead.
// cupl_prompts: CuPL-style JSON {classname: [prompts]}, used for the classes it names.
// Throws Error(kInput) naming the file and key/line on malformed input.
ClassPrompts load_class_prompts(const std::string& classes_file, const std::string& templates_file,
                                const std::string& dataset, const std::string& cupl_prompts = {});
// The same from class names already in hand (e.g. a CoOp split's).
ClassPrompts build_class_prompts(std::vector<std::string> classnames, const std::string& templates_file,
                                 const std::string& dataset, const std::string& cupl_prompts = {});

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

}  // namespace clipzs
