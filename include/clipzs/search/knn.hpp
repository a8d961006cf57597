// Inner-product k-nearest-neighbour search of query embeddings against a bank of embeddings.
//
// exact_knn: every bank row is scored. Bank rows are read in chunks (fp16 rows are widened to fp32
// chunk by chunk, so the bank stays fp16 in memory), scored with one matrix product per (query block,
// chunk), and a per-query top-k is kept as the chunks stream by. Runs on LibTorch's CPU BLAS or on a
// CUDA device. Scores are fp32 dot products; ties are broken by the lower bank row id, so results do
// not depend on the chunk size or thread count except through fp32 rounding of the dot products.
//
// Approximate search through FAISS (when clipzs was built with it, see faiss_available()): an index is
// built once from the bank (IVF-Flat, IVF-PQ or HNSW over inner product) and written atomically; at
// query time it is memory-mapped where FAISS supports it, so banks larger than memory can be searched.
//
// Contract: queries nq x dim float32 row-major; bank rows x dim (float16 as IEEE binary16 bits, or
// float32), row-major. Results hold nq x k entries, best first; where fewer than k rows exist, the
// trailing entries have id -1 and score -infinity. Failure modes: dim mismatch, k < 1 -> Error(kUsage
// or kInput, naming both shapes); a CUDA device on a CPU-only build -> Error(kUnsupported); FAISS
// functions on a build without FAISS -> Error(kUnsupported); an unreadable or damaged index file ->
// Error(kInput) naming it; a set cancel flag -> Error(kInterrupted).
#pragma once

#include <atomic>
#include <cstdint>
#include <string>
#include <vector>

#include "clipzs/util/progress.hpp"
#include "clipzs/store/store.hpp"
#include "clipzs/util/types.hpp"

namespace clipzs {

struct KnnResult {
  int64_t queries = 0;
  int64_t k = 0;
  std::vector<int64_t> ids;   // queries x k, bank row ids, best first; -1 where there is none
  std::vector<float> scores;  // queries x k, inner products
};

struct KnnOptions {
  int k = 128;
  int64_t chunk_rows = 0;   // bank rows per chunk; 0 picks a size for the device
  int64_t query_block = 0;  // queries per block; 0 picks a size for the device
  std::string device = "cpu";
  const std::atomic<bool>* cancel = nullptr;
  // CPU: once a query holds k results, score its later chunks with a bf16 product and recompute in fp32
  // only the rows a rigorous error bound cannot rule out (same result, ~2x faster). Used only where the
  // CPU has native bf16 dot products (AVX512-BF16) and blocks are large enough; false: fp32 products.
  bool bf16_screen = true;
  // Units: (query block group x bank chunk) tiles; CUDA: (query block x bank chunk) tiles. CPU: called
  // from the worker threads, one at a time (under the work queue's lock: keep it short).
  ProgressCallback progress;
};

KnnResult exact_knn(const float* queries, int64_t num_queries, const BankView& bank, const KnnOptions& options);
// The same with the queries' dimension stated, so a mismatch with bank.dim is an Error(kInput).
KnnResult exact_knn(const float* queries, int64_t num_queries, int64_t query_dim, const BankView& bank,
                    const KnnOptions& options);

// FAISS ---------------------------------------------------------------------------------------------

bool faiss_available() noexcept;

struct IndexBuildOptions {
  std::string type = "ivf-flat";  // "flat", "ivf-flat", "ivf-pq", "hnsw"
  int64_t nlist = 0;              // IVF lists; 0 picks ~4*sqrt(rows), capped to rows/39
  int pq_m = 0;                   // IVF-PQ sub-quantizers; 0 picks dim/16
  int pq_bits = 8;
  int hnsw_m = 32;
  int64_t train_rows = 0;         // rows sampled to train IVF/PQ; 0 picks min(rows, 256 * nlist)
  uint64_t seed = 1234;
  // Sharded banks: train once (`train_only`: the file holds the trained, empty IVF index), then add
  // each shard to a copy of it (`trained_path`; the type and parameters come from that file) with its
  // rows' global ids (`id_offset` + row), then merge_faiss_indexes. IVF types only.
  bool train_only = false;
  std::string trained_path;
  int64_t id_offset = 0;
  const std::atomic<bool>* cancel = nullptr;
  ProgressCallback progress;  // after every chunk of rows added (units: rows)
};

// Builds an index over every bank row (ids = row numbers) and writes it to `path` (temp name, rename).
// Returns a description (type, parameters, rows, bytes, seconds) for the caller's manifest.
std::string build_faiss_index(const BankView& bank, const std::string& path, const IndexBuildOptions& options);

// Merges IVF indexes that were filled from one trained file (IndexBuildOptions::trained_path) into one
// index at `path` (temp name, rename); ids are kept as they are, so shards must carry global ids. The
// result's inverted lists are memory-mapped at search time like any IVF index. Error(kInput) names a
// file that is not an IVF index or was trained separately. Returns a description (rows, bytes, seconds).
std::string merge_faiss_indexes(const std::vector<std::string>& inputs, const std::string& path);

struct IndexSearchOptions {
  int k = 128;
  int nprobe = 32;     // IVF lists visited
  int ef_search = 256; // HNSW
  bool mmap = true;    // memory-map the index file where FAISS supports it
};

KnnResult search_faiss_index(const std::string& path, const float* queries, int64_t num_queries, int64_t dim,
                             const IndexSearchOptions& options);

}  // namespace clipzs
