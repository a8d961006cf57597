// The embedding store: a folder of cached embeddings that numpy reads directly.
//
//   embeddings.npy   N x D, float16 or float32, rows L2-normalised; rows whose input failed are zeros
//   rows.jsonl       one JSON object per row, in row order: {"index","path","label","status","error"?}
//                    (text stores: {"index","label","status","prompts"})
//   manifest.json    what made the store (bundle name and sha256, preprocessing, dtype, N, D, clipzs
//                    version, time) and the sha256 of embeddings.npy and rows.jsonl. Written LAST:
//                    a folder without manifest.json is not a complete store.
//
// While a run is going the folder holds run.json (the run's identity), embeddings.npy.partial (a .npy
// whose header already states N x D, rows appended as they finish) and rows.partial.jsonl. A run
// killed at any point (kill -9 included) leaves these behind; `--resume` checks run.json against the
// new run and continues from the last row present in both partial files. A lock file (.lock, flock)
// keeps two runs from writing one store.
//
// Failure modes: Error(kOutput) when the folder cannot be written, holds a complete store and
// overwrite is off, holds another run's partial files, or is locked by another process; Error(kInput)
// when a store being read is incomplete or damaged (names the file).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "clipzs/store/npy.hpp"
#include "clipzs/util/types.hpp"

namespace clipzs {

// StoreDType (float16 or float32 rows), parse_store_dtype and store_dtype_name are in types.hpp.

struct OpenMode {
  bool resume = false;     // continue a partial run with the same identity
  bool overwrite = false;  // replace a complete store or another run's partial files
  // A resumed run keeps a multiple of this many rows (the batch size: rows of a batch cut short by a
  // kill are embedded again, so every batch is the same as in an uninterrupted run).
  int64_t resume_granularity = 1;
};

// The manifest of a complete store in `dir` made by a run with exactly this identity, or null. A
// `--resume` of a run that was killed after its manifest was written (but before it exited) finds its
// work done here instead of refusing a complete store.
nlohmann::json complete_run_manifest(const std::string& dir, const nlohmann::json& identity);

class StoreWriter {
 public:
  // `identity` describes the run (bundle sha256, inputs fingerprint, options); a resumed run must have
  // an identical identity. `rows` (N) and `dim` (D) fix the shape of embeddings.npy.
  static StoreWriter open(const std::string& dir, const nlohmann::json& identity, int64_t rows, int64_t dim,
                          StoreDType dtype, const OpenMode& mode);
  StoreWriter(StoreWriter&&) noexcept;
  StoreWriter& operator=(StoreWriter&&) noexcept;
  ~StoreWriter();

  int64_t rows_done() const;  // rows already present (after a resume) plus rows appended
  int64_t error_rows() const; // rows with status "error", resumed ones included
  // Appends records.size() rows; `embeddings` holds records.size() x D float32 values.
  void append(const float* embeddings, const std::vector<nlohmann::json>& records);
  // Flushes the partial files to disk so a crash cannot lose the rows appended so far.
  void flush();
  // Completes the store: renames the data into place, writes rows.jsonl and then manifest.json
  // (`manifest` fields are merged into the standard ones). Requires rows_done() == N.
  nlohmann::json finish(const nlohmann::json& manifest);
  // Writes an extra .npy file next to the data (e.g. prompts.npy) before finish(); listed in the manifest.
  void add_file(const std::string& name, const std::vector<float>& values, const std::vector<int64_t>& shape);

 private:
  struct Impl;
  explicit StoreWriter(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

struct Store {
  std::string dir;
  nlohmann::json manifest;
  int64_t rows = 0;
  int64_t dim = 0;
  std::vector<float> embeddings;       // rows x dim, float32 (empty when read with as_float = false)
  NpyArray raw;                        // embeddings.npy as stored (float16 or float32), when as_float = false
  std::vector<nlohmann::json> records; // rows.jsonl
};

// Reads a complete store. With verify, checks the sha256 of embeddings.npy and rows.jsonl. Refuses
// (Error(kInput), naming rows and paths) a store whose embeddings hold NaN or Inf. With
// as_float = false the embeddings stay in their stored dtype (`raw`), e.g. to keep a large fp16
// retrieval bank at half the memory.
Store read_store(const std::string& dir, bool verify = true, bool as_float = true);

// The logit scale (exp of the model's learned logit_scale: 100 for OpenAI's CLIP) of the bundle that
// made a store: the manifest's bundle record, or, for stores written before clipzs recorded it, the
// bundle.json that record points to. 0 when neither says.
float store_logit_scale(const nlohmann::json& manifest);
// The softmax scale a method uses: `override_scale` when positive (a --logit-scale flag), else the
// store's bundle's (above). Error(kInput) naming the store when that is unknown.
float resolve_logit_scale(float override_scale, const nlohmann::json& manifest, const std::string& store);

// What `clipzs verify` found in a store (or a bank: its images/ and captions/ stores and bank.json).
struct StoreVerification {
  std::string dir;
  std::string kind;                   // manifest "kind" (images, texts, captions), or "bank"
  int64_t rows = 0;
  int64_t dim = 0;
  std::vector<std::string> checked;   // what was checked and held, one line each
  std::vector<std::string> problems;  // what is wrong, one line each, naming the file and row
  std::vector<std::string> notes;     // what could not be checked (e.g. the bundle folder is gone)
  // problems and notes may name parameters (error.hpp: show them with render_names()).
  bool ok() const { return problems.empty(); }
};

// Checks everything a complete store promises, and never stops at the first problem: manifest.json
// parses and has its fields; every file it lists exists with its sha256; embeddings.npy's header,
// dtype, shape and size agree with the manifest; rows.jsonl has one valid record per row, in order,
// and its error count matches; every value is finite, "ok" rows have unit norm and "error" rows are
// zeros; and the bundle that made it (`bundle_dir`, else the folder the manifest names) still hashes
// as it did. Throws nothing for a damaged store; Error(kInput) only when `dir` is not a folder.
StoreVerification verify_store(const std::string& dir, const std::string& bundle_dir = {});

// Merges the shard stores of one sharded run (`embed images --shard i/N`, given in any order) into
// `out_dir`: embeddings.npy and rows.jsonl byte-identical to the unsharded run's, and its manifest too
// apart from "created". Refuses (Error(kInput), naming the folder and field) shards of different runs,
// bundles or inputs, a missing or repeated shard, or an incomplete or damaged shard. Reads one shard
// at a time. Returns the merged manifest.
nlohmann::json merge_stores(const std::vector<std::string>& shard_dirs, const std::string& out_dir, const OpenMode& mode);

// Indices of the rows (of `cols` values each) holding a NaN or an infinity, in order.
std::vector<int64_t> nonfinite_rows(const float* values, int64_t rows, int64_t cols);
// The same for IEEE half-precision values (a .npy "<f2" payload).
std::vector<int64_t> nonfinite_rows_f16(const uint16_t* values, int64_t rows, int64_t cols);
// "rows 3 (cat/a.jpg), 17 (dog/b.jpg) and 5 more": at most `shown` rows; names[i] (when given, else
// empty) says what row i is.
std::string describe_rows(const std::vector<int64_t>& rows, const std::vector<std::string>& names = {},
                          size_t shown = 5);
// What a store record names: its "path", else "caption", else "label" (empty when none).
std::string record_name(const nlohmann::json& record);

}  // namespace clipzs
