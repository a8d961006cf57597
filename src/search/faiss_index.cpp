// FAISS indexes over a bank (include/clipzs/search/knn.hpp). Built with CLIPZS_HAVE_FAISS when CMake found
// libfaiss-dev; otherwise every entry point throws Error(kUnsupported).
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <limits>
#include <memory>
#include <random>
#include <system_error>
#include <typeinfo>

#include <nlohmann/json.hpp>

#include "clipzs/util/error.hpp"
#include "clipzs/search/knn.hpp"
#include "clipzs/util/log.hpp"
#include "search/knn_kernels.hpp"

#ifdef CLIPZS_HAVE_FAISS
#include <faiss/IndexFlat.h>
#include <faiss/IndexHNSW.h>
#include <faiss/IndexIVFFlat.h>
#include <faiss/IndexIVFPQ.h>
#include <faiss/impl/FaissException.h>
#include <faiss/index_io.h>
#include <faiss/invlists/OnDiskInvertedLists.h>
#endif

namespace clipzs {

#ifndef CLIPZS_HAVE_FAISS

namespace {
[[noreturn]] void no_faiss() {
  throw Error(ErrorKind::kUnsupported, "this clipzs was built without FAISS, so approximate k-NN indexes are unavailable",
              "install libfaiss-dev (Debian bookworm) and rebuild clipzs (CMake option CLIPZS_WITH_FAISS=AUTO finds it); "
              "exact search needs no index");
}
}  // namespace

bool faiss_available() noexcept { return false; }
std::string build_faiss_index(const BankView&, const std::string&, const IndexBuildOptions&) { no_faiss(); }
std::string merge_faiss_indexes(const std::vector<std::string>&, const std::string&) { no_faiss(); }
KnnResult search_faiss_index(const std::string&, const float*, int64_t, int64_t, const IndexSearchOptions&) { no_faiss(); }

#else

namespace {
namespace fs = std::filesystem;
using nlohmann::json;

constexpr int64_t kAddChunkRows = 32768;  // rows widened to fp32 per add() call: 64 MB at d = 512

void check_cancel(const std::atomic<bool>* cancel) {
  if (cancel && cancel->load(std::memory_order_relaxed))
    throw Error(ErrorKind::kInterrupted, "index build interrupted", "run it again; nothing was written");
}

// Rows [begin, begin + n) of the bank as fp32.
void widen_rows(const BankView& bank, int64_t begin, int64_t n, float* out) {
  if (bank.dtype == StoreDType::kFloat16)
    knn_detail::half_to_float_n(static_cast<const uint16_t*>(bank.data) + begin * bank.dim, out, n * bank.dim);
  else
    std::copy_n(static_cast<const float*>(bank.data) + begin * bank.dim, n * bank.dim, out);
}

// `count` distinct rows out of `rows`, ascending (selection sampling: one pass, seeded).
std::vector<int64_t> sample_rows(int64_t rows, int64_t count, uint64_t seed) {
  std::vector<int64_t> out;
  out.reserve(static_cast<size_t>(count));
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<double> uniform(0.0, 1.0);
  for (int64_t r = 0; r < rows && static_cast<int64_t>(out.size()) < count; ++r) {
    const int64_t needed = count - static_cast<int64_t>(out.size());
    if (uniform(rng) * static_cast<double>(rows - r) < static_cast<double>(needed)) out.push_back(r);
  }
  return out;
}

// A truncated file still maps (FAISS 1.7.3 does not compare the list offsets with the file size), and
// reading past its end would be SIGBUS at search time: check every mapped list fits in the file.
void check_mapped_lists(const faiss::Index* index, const std::string& path) {
  const auto* ivf = dynamic_cast<const faiss::IndexIVF*>(index);
  if (!ivf) return;
  const auto* od = dynamic_cast<const faiss::OnDiskInvertedLists*>(ivf->invlists);
  if (!od) return;
  const size_t entry = sizeof(faiss::Index::idx_t) + od->code_size;
  for (const auto& l : od->lists) {
    if (l.offset > od->totsize || l.size > (od->totsize - l.offset) / entry)
      throw Error(ErrorKind::kInput, "'" + path + "' is truncated or damaged: its inverted lists run past the end of the file",
                  "rebuild it with `" + call("build_faiss_index") + "`");
  }
}

// Written under a temporary name and renamed, so a reader never sees a half-written index.
void write_index_atomic(const faiss::Index* index, const std::string& path) {
  const std::string temp = path + ".tmp-" + std::to_string(::getpid());
  try {
    faiss::write_index(index, temp.c_str());
  } catch (const faiss::FaissException& e) {
    std::error_code ignored;
    fs::remove(temp, ignored);
    throw Error(ErrorKind::kOutput, "cannot write the index to '" + path + "': " + e.what(),
                "check that the folder exists and is writable");
  }
  std::error_code ec;
  fs::rename(temp, path, ec);
  if (ec) {
    fs::remove(temp, ec);
    throw Error(ErrorKind::kOutput, "cannot move the index into place at '" + path + "': " + ec.message());
  }
}

// An IVF index read whole (not mapped), or Error(kInput) naming the file.
std::unique_ptr<faiss::IndexIVF> read_ivf(const std::string& path) {
  std::unique_ptr<faiss::Index> index;
  try {
    index.reset(faiss::read_index(path.c_str()));
  } catch (const std::exception& e) {
    throw Error(ErrorKind::kInput, "'" + path + "' is not a readable FAISS index: " + e.what());
  }
  auto* ivf = dynamic_cast<faiss::IndexIVF*>(index.get());
  if (ivf == nullptr || index->metric_type != faiss::METRIC_INNER_PRODUCT)
    throw Error(ErrorKind::kInput, "'" + path + "' is not an inner-product IVF index",
                "train one with `" + call("build_faiss_index") + " " + param("train_only") + " " + param("type") + " ivf-flat|ivf-pq`");
  index.release();
  return std::unique_ptr<faiss::IndexIVF>(ivf);
}

// FAISS 1.7.3 merges lists of any two IVF indexes of the same shape; results are only meaningful when
// both were filled from one trained index: same coarse centroids (and PQ codebooks).
bool same_training(const faiss::IndexIVF& a, const faiss::IndexIVF& b) {
  if (typeid(a) != typeid(b) || a.d != b.d || a.nlist != b.nlist || a.code_size != b.code_size) return false;
  std::vector<float> ca(a.nlist * a.d), cb(b.nlist * b.d);
  a.quantizer->reconstruct_n(0, static_cast<faiss::Index::idx_t>(a.nlist), ca.data());
  b.quantizer->reconstruct_n(0, static_cast<faiss::Index::idx_t>(b.nlist), cb.data());
  if (ca != cb) return false;
  const auto* pa = dynamic_cast<const faiss::IndexIVFPQ*>(&a);
  const auto* pb = dynamic_cast<const faiss::IndexIVFPQ*>(&b);
  return pa == nullptr || (pb != nullptr && pa->pq.centroids == pb->pq.centroids);
}

}  // namespace

bool faiss_available() noexcept { return true; }

std::string merge_faiss_indexes(const std::vector<std::string>& inputs, const std::string& path) {
  const auto t0 = std::chrono::steady_clock::now();
  if (inputs.empty()) throw Error(ErrorKind::kUsage, "index merge: no input indexes");
  std::unique_ptr<faiss::IndexIVF> merged = read_ivf(inputs.front());
  for (size_t i = 1; i < inputs.size(); ++i) {
    std::unique_ptr<faiss::IndexIVF> part = read_ivf(inputs[i]);
    if (!same_training(*merged, *part))
      throw Error(ErrorKind::kInput, "'" + inputs[i] + "' cannot be merged with '" + inputs.front() +
                                         "': they were not filled from one trained index (type, nlist, centroids or codebooks differ)",
                  "add every shard to copies of one trained index (`" + call("build_faiss_index") + " " + param("trained") + " FILE`)");
    try {
      merged->merge_from(*part, 0);
    } catch (const faiss::FaissException& e) {
      throw Error(ErrorKind::kInput, "'" + inputs[i] + "' cannot be merged with '" + inputs.front() + "': " + e.what());
    }
  }
  write_index_atomic(merged.get(), path);
  json desc = {{"type", dynamic_cast<faiss::IndexIVFPQ*>(merged.get()) ? "ivf-pq" : "ivf-flat"},
               {"inputs", inputs.size()},
               {"rows", static_cast<int64_t>(merged->ntotal)},
               {"nlist", static_cast<int64_t>(merged->nlist)},
               {"bytes", static_cast<int64_t>(fs::file_size(path))},
               {"seconds", std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count()}};
  return desc.dump();
}

std::string build_faiss_index(const BankView& bank, const std::string& path, const IndexBuildOptions& o) {
  const auto t0 = std::chrono::steady_clock::now();
  const int64_t rows = bank.rows, d = bank.dim;
  if (!npy_descr(bank.dtype)) throw Error(ErrorKind::kUsage, "index build: a bank holds float16 or float32 rows, not bfloat16");
  if (rows < 1 || d < 1 || bank.data == nullptr)
    throw Error(ErrorKind::kInput, "index build: the bank is empty or invalid (" + std::to_string(rows) + " x " +
                                       std::to_string(d) + ")");
  if (path.empty()) throw Error(ErrorKind::kUsage, "index build: no output path");
  const std::string& type = o.type;
  const bool ivf = type == "ivf-flat" || type == "ivf-pq";
  if (!ivf && type != "flat" && type != "hnsw")
    throw Error(ErrorKind::kUsage, "unknown index type '" + type + "'", "use flat, ivf-flat, ivf-pq or hnsw");

  json desc = {{"type", type}, {"metric", "inner_product"}, {"rows", rows}, {"dim", d},
               {"faiss_version", std::to_string(FAISS_VERSION_MAJOR) + "." + std::to_string(FAISS_VERSION_MINOR) + "." +
                                     std::to_string(FAISS_VERSION_PATCH)}};
  int64_t nlist = 0, train_rows = 0;
  int pq_m = 0;
  const bool training = o.trained_path.empty();  // parameters come from the trained file otherwise
  if (ivf && training) {
    nlist = o.nlist;
    if (nlist == 0) {  // ~4 sqrt(N) lists, at least 39 training rows per list (FAISS's own minimum)
      nlist = std::llround(4 * std::sqrt(static_cast<double>(rows)));
      nlist = std::max<int64_t>(1, std::min(nlist, rows / 39));
    }
    if (nlist < 1 || nlist > rows)
      throw Error(ErrorKind::kUsage, "index build: nlist " + std::to_string(nlist) + " must be between 1 and the bank's " +
                                         std::to_string(rows) + " rows");
    train_rows = o.train_rows > 0 ? std::min(o.train_rows, rows) : std::min(rows, 256 * nlist);
    if (train_rows < nlist)
      throw Error(ErrorKind::kUsage, "index build: " + std::to_string(train_rows) + " training rows for " +
                                         std::to_string(nlist) + " lists", "train on at least nlist rows (39 x nlist or more is better)");
    desc["nlist"] = nlist;
    desc["train_rows"] = train_rows;
    desc["seed"] = o.seed;
  }
  if (type == "ivf-pq" && training) {
    pq_m = o.pq_m > 0 ? o.pq_m : static_cast<int>(std::max<int64_t>(1, d / 16));
    if (d % pq_m != 0)
      throw Error(ErrorKind::kUsage, "index build: " + param("pq_m") + " " + std::to_string(pq_m) + " does not divide the dimension " +
                                         std::to_string(d));
    if (o.pq_bits < 1 || o.pq_bits > 16)
      throw Error(ErrorKind::kUsage, "index build: " + param("pq_bits") + " must be 1..16, got " + std::to_string(o.pq_bits));
    if (train_rows < (int64_t{1} << o.pq_bits))
      throw Error(ErrorKind::kUsage, "index build: " + std::to_string(train_rows) + " training rows for " +
                                         std::to_string(1 << o.pq_bits) + " PQ centroids per sub-quantizer",
                  "train on more rows (" + param("train_rows") + ") or use fewer PQ bits");
    desc["pq_m"] = pq_m;
    desc["pq_bits"] = o.pq_bits;
  }
  if (type == "hnsw") {
    if (o.hnsw_m < 2) throw Error(ErrorKind::kUsage, "index build: " + param("hnsw_m") + " must be at least 2, got " + std::to_string(o.hnsw_m));
    desc["hnsw_m"] = o.hnsw_m;
  }

  if ((o.train_only || !o.trained_path.empty() || o.id_offset != 0) && !ivf)
    throw Error(ErrorKind::kUsage, "index build: training once for several shards needs an IVF type (ivf-flat or ivf-pq)");
  if (o.id_offset < 0) throw Error(ErrorKind::kUsage, "index build: the id offset must not be negative");
  std::unique_ptr<faiss::Index> index;
  try {
    if (!o.trained_path.empty()) {
      std::unique_ptr<faiss::IndexIVF> trained = read_ivf(o.trained_path);
      if (!trained->is_trained || trained->ntotal != 0)
        throw Error(ErrorKind::kInput, "'" + o.trained_path + "' is not a trained, empty index",
                    "make it with `" + call("build_faiss_index") + " " + param("train_only") + "`");
      if (trained->d != d)
        throw Error(ErrorKind::kInput, "'" + o.trained_path + "' indexes " + std::to_string(trained->d) +
                                           "-dimensional vectors, the bank has " + std::to_string(d));
      desc["type"] = dynamic_cast<faiss::IndexIVFPQ*>(trained.get()) ? "ivf-pq" : "ivf-flat";
      desc["nlist"] = static_cast<int64_t>(trained->nlist);
      desc.erase("train_rows");
      desc["trained_from"] = o.trained_path;
      index = std::move(trained);
    } else if (type == "flat") {
      index = std::make_unique<faiss::IndexFlatIP>(d);
    } else if (type == "hnsw") {
      auto h = std::make_unique<faiss::IndexHNSWFlat>(static_cast<int>(d), o.hnsw_m, faiss::METRIC_INNER_PRODUCT);
      desc["ef_construction"] = h->hnsw.efConstruction;
      index = std::move(h);
    } else {
      auto* quantizer = new faiss::IndexFlatIP(d);
      std::unique_ptr<faiss::IndexIVF> iv;
      if (type == "ivf-flat") {
        iv = std::make_unique<faiss::IndexIVFFlat>(quantizer, d, nlist, faiss::METRIC_INNER_PRODUCT);
      } else {
        auto pq = std::make_unique<faiss::IndexIVFPQ>(quantizer, d, nlist, pq_m, o.pq_bits, faiss::METRIC_INNER_PRODUCT);
        pq->pq.cp.seed = static_cast<int>(o.seed);
        iv = std::move(pq);
      }
      iv->own_fields = true;
      iv->cp.seed = static_cast<int>(o.seed);
      index = std::move(iv);
    }

    if (!index->is_trained) {
      check_cancel(o.cancel);
      const std::vector<int64_t> pick = sample_rows(rows, train_rows, o.seed);
      std::vector<float> sample(static_cast<size_t>(train_rows * d));
      for (size_t i = 0; i < pick.size(); ++i) widen_rows(bank, pick[i], 1, sample.data() + i * d);
      log_info("training " + type + " on " + std::to_string(train_rows) + " sampled rows");
      index->train(train_rows, sample.data());
    }
    const auto add_start = std::chrono::steady_clock::now();
    std::vector<float> buffer(static_cast<size_t>(std::min(kAddChunkRows, rows) * d));
    std::vector<faiss::Index::idx_t> ids;
    for (int64_t r0 = 0; r0 < rows && !o.train_only; r0 += kAddChunkRows) {
      check_cancel(o.cancel);
      const int64_t n = std::min(kAddChunkRows, rows - r0);
      widen_rows(bank, r0, n, buffer.data());
      if (ivf) {  // explicit ids: global row numbers when the bank is a shard
        ids.resize(static_cast<size_t>(n));
        for (int64_t i = 0; i < n; ++i) ids[static_cast<size_t>(i)] = o.id_offset + r0 + i;
        index->add_with_ids(n, buffer.data(), ids.data());
      } else {
        index->add(n, buffer.data());
      }
      if (o.progress) {
        Progress p;
        p.done = p.done_this_run = r0 + n;
        p.total = rows;
        p.elapsed_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - add_start).count();
        o.progress(p);
      }
    }
    if (o.train_only) desc["rows"] = 0;
    if (o.id_offset != 0) desc["id_offset"] = o.id_offset;
  } catch (const faiss::FaissException& e) {
    throw Error(ErrorKind::kUsage, "FAISS could not build the " + type + " index: " + e.what(),
                "check the index parameters against the bank size");
  }

  write_index_atomic(index.get(), path);
  desc["bytes"] = static_cast<int64_t>(fs::file_size(path));
  desc["seconds"] = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return desc.dump();
}

KnnResult search_faiss_index(const std::string& path, const float* queries, int64_t num_queries, int64_t dim,
                             const IndexSearchOptions& o) {
  if (o.k < 1) throw Error(ErrorKind::kUsage, "index search: k must be at least 1, got " + std::to_string(o.k));
  if (num_queries < 0 || dim < 1 || (num_queries > 0 && queries == nullptr))
    throw Error(ErrorKind::kUsage, "index search: invalid queries (" + std::to_string(num_queries) + " x " + std::to_string(dim) + ")");
  if (o.nprobe < 1 || o.ef_search < 1) throw Error(ErrorKind::kUsage, "index search: nprobe and ef_search must be at least 1");
  std::error_code ec;
  if (!fs::is_regular_file(path, ec))
    throw Error(ErrorKind::kInput, "index file '" + path + "' does not exist", "build it with `" + call("build_faiss_index") + "`");

  // Memory mapping in FAISS 1.7.3: IO_FLAG_MMAP (= IO_FLAG_SKIP_IVF_DATA | "od" hook bits) only changes
  // how IVF inverted lists ("ilar") are read: they become a read-only OnDiskInvertedLists over an mmap
  // of the file, so IVF-Flat and IVF-PQ list data is paged in on demand. Every other part (the coarse
  // quantizer, PQ codebooks, a flat index's vectors, HNSW graph and vectors) is read into memory; for
  // flat and HNSW files the flag is accepted and simply has no effect. FAISS refuses the mapping only when
  // the reader is not a plain file or mmap() fails; then the file is read normally.
  std::unique_ptr<faiss::Index> index;
  bool mapped = false;
  try {
    if (o.mmap) {
      try {
        index.reset(faiss::read_index(path.c_str(), faiss::IO_FLAG_MMAP));
      } catch (const faiss::FaissException& e) {
        log_debug("FAISS could not memory-map '" + path + "' (" + e.what() + "); reading it into memory");
      }
    }
    if (!index) index.reset(faiss::read_index(path.c_str()));
  } catch (const std::exception& e) {  // FaissException, bad_alloc from a damaged size field
    throw Error(ErrorKind::kInput, "'" + path + "' is not a readable FAISS index: " + e.what(),
                "rebuild it with `" + call("build_faiss_index") + "`");
  }
  if (const auto* ivf = dynamic_cast<const faiss::IndexIVF*>(index.get()))
    mapped = dynamic_cast<const faiss::OnDiskInvertedLists*>(ivf->invlists) != nullptr;
  check_mapped_lists(index.get(), path);
  log_debug("index '" + path + "': " + std::to_string(index->ntotal) + " rows, d = " + std::to_string(index->d) + ", " +
            (mapped ? "inverted lists memory-mapped" : "in memory"));

  if (index->d != dim)
    throw Error(ErrorKind::kInput, "'" + path + "' indexes " + std::to_string(index->d) + "-dimensional vectors but the queries are " +
                                       std::to_string(num_queries) + " x " + std::to_string(dim),
                "search with queries from the model that embedded the bank");
  if (index->metric_type != faiss::METRIC_INNER_PRODUCT)
    throw Error(ErrorKind::kInput, "'" + path + "' is not an inner-product index", "rebuild it with `" + call("build_faiss_index") + "`");
  if (auto* ivf = dynamic_cast<faiss::IndexIVF*>(index.get()))
    ivf->nprobe = static_cast<size_t>(std::min<int64_t>(o.nprobe, static_cast<int64_t>(ivf->nlist)));
  if (auto* hnsw = dynamic_cast<faiss::IndexHNSW*>(index.get())) hnsw->hnsw.efSearch = std::max(o.ef_search, o.k);

  KnnResult r;
  r.queries = num_queries;
  r.k = o.k;
  r.ids.assign(static_cast<size_t>(num_queries * o.k), -1);
  r.scores.assign(static_cast<size_t>(num_queries * o.k), -std::numeric_limits<float>::infinity());
  if (num_queries == 0 || index->ntotal == 0) return r;
  try {
    index->search(num_queries, queries, o.k, r.scores.data(), r.ids.data());
  } catch (const faiss::FaissException& e) {
    throw Error(ErrorKind::kInput, "searching '" + path + "' failed: " + e.what(), "rebuild it with `" + call("build_faiss_index") + "`");
  }
  for (size_t i = 0; i < r.ids.size(); ++i)
    if (r.ids[i] < 0) r.scores[i] = -std::numeric_limits<float>::infinity();
  return r;
}

#endif  // CLIPZS_HAVE_FAISS

}  // namespace clipzs
