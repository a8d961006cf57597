// Exact inner-product k-NN (include/clipzs/search/knn.hpp): chunked matrix products and a streaming top-k.
//
// CPU plan. The bank is read chunk by chunk; each chunk is widened once and scored against every query
// block, so the bank is converted once per search however many queries there are. With enough queries
// the blocks run in parallel, one single-threaded product each (its score tile is scanned while still
// in that core's cache); with few queries one product at a time uses every thread. A query's scan only
// looks at scores above its current k-th best (a vector compare), so the per-element cost is tiny.
//
// bf16 screening (KnnOptions::bf16_screen, CPUs with AVX512-BF16 only): once a query holds k results,
// its block is scored with a bf16 product (oneDNN, about twice the fp32 rate) and only rows whose bf16
// score is within a rigorous error bound of the current k-th best are recomputed in fp32 and merged.
// A row that belongs in the fp32 top-k always passes the screen, so the result is the fp32 result.
#include <ATen/Parallel.h>
#include <torch/torch.h>

#include <algorithm>
#include <chrono>
#include <atomic>
#include <cmath>
#include <cstdio>
#include <iomanip>
#include <limits>
#include <mutex>
#include <numeric>
#include <sstream>


#include "clipzs/util/error.hpp"
#include "clipzs/search/knn.hpp"
#include "clipzs/util/log.hpp"
#include "search/knn_kernels.hpp"

namespace clipzs {
namespace {

namespace kd = knn_detail;
constexpr float kInf = std::numeric_limits<float>::infinity();

// Defaults, tuned on a 2-core AVX-512 EPYC with d = 512 (bench/knn_bench.cpp, docs/benchmarks.md).
constexpr int64_t kCpuChunkBytes = 4 << 20;    // fp32 bytes of one bank chunk (2,048 rows at d = 512)
constexpr int64_t kCpuQueryBlock = 256;        // queries per parallel block
constexpr int64_t kMinScreenQueries = 32;      // below this a block's product is too small for bf16 to pay
constexpr int64_t kMinScreenRows = 64;
constexpr int64_t kCudaChunkRows = 65536;
constexpr int64_t kCudaQueryBlock = 4096;

// On equal scores the higher row id is the worse one: the lower id wins ties.
inline bool worse(float s1, int64_t i1, float s2, int64_t i2) { return s1 < s2 || (s1 == s2 && i1 > i2); }

// A query's running top-k: a binary heap over (score, id) whose root is the worst entry kept.
struct TopK {
  float* score;
  int64_t* id;
  int64_t* size;
  int64_t cap;

  float threshold() const { return *size == cap ? score[0] : -kInf; }

  void push(float s, int64_t row) {
    if (std::isnan(s)) return;
    if (*size < cap) {
      int64_t i = (*size)++;
      while (i > 0) {
        const int64_t p = (i - 1) / 2;
        if (!worse(s, row, score[p], id[p])) break;
        score[i] = score[p];
        id[i] = id[p];
        i = p;
      }
      score[i] = s;
      id[i] = row;
      return;
    }
    if (!worse(score[0], id[0], s, row)) return;
    int64_t i = 0;
    for (;;) {
      int64_t c = 2 * i + 1;
      if (c >= cap) break;
      if (c + 1 < cap && worse(score[c + 1], id[c + 1], score[c], id[c])) ++c;
      if (!worse(score[c], id[c], s, row)) break;
      score[i] = score[c];
      id[i] = id[c];
      i = c;
    }
    score[i] = s;
    id[i] = row;
  }
};

struct Heaps {
  int64_t cap = 0;
  std::vector<float> score;
  std::vector<int64_t> id;
  std::vector<int64_t> size;

  Heaps(int64_t queries, int64_t capacity)
      : cap(capacity), score(static_cast<size_t>(queries * capacity), -kInf),
        id(static_cast<size_t>(queries * capacity), -1), size(static_cast<size_t>(queries), 0) {}
  TopK at(int64_t q) { return TopK{score.data() + q * cap, id.data() + q * cap, size.data() + q, cap}; }

  // Sorted best first into `out` (k entries per query, -1 / -inf padding).
  void finish(KnnResult& out) {
    const int64_t k = out.k;
    at::parallel_for(0, out.queries, 64, [&](int64_t q0, int64_t q1) {
      std::vector<int64_t> order;
      for (int64_t q = q0; q < q1; ++q) {
        const float* s = score.data() + q * cap;
        const int64_t* ids = id.data() + q * cap;
        order.resize(static_cast<size_t>(size[q]));
        std::iota(order.begin(), order.end(), int64_t{0});
        std::sort(order.begin(), order.end(), [&](int64_t a, int64_t b) { return worse(s[b], ids[b], s[a], ids[a]); });
        for (size_t r = 0; r < order.size(); ++r) {
          out.scores[q * k + r] = s[order[r]];
          out.ids[q * k + r] = ids[order[r]];
        }
      }
    });
  }
};

struct DeviceSpec {
  bool cuda = false;
  int index = -1;
};

DeviceSpec parse_device(const std::string& device) {
  if (device.empty() || device == "cpu") return {};
  if (device.rfind("cuda", 0) == 0) {
    DeviceSpec d{true, -1};
    if (device.size() > 4) {
      if (device[4] != ':' || device.size() == 5 ||
          device.find_first_not_of("0123456789", 5) != std::string::npos)
        throw Error(ErrorKind::kUsage, "k-NN: unknown device '" + device + "'", "use cpu, cuda or cuda:N");
      d.index = std::stoi(device.substr(5));
    }
    if (!torch::cuda::is_available())
      throw Error(ErrorKind::kUnsupported, "k-NN: device '" + device + "' requested, but this LibTorch build has no CUDA "
                                           "support or sees no CUDA device", "use " + param("device") + " cpu");
    if (d.index >= static_cast<int>(torch::cuda::device_count()))
      throw Error(ErrorKind::kUsage, "k-NN: device '" + device + "' does not exist (" +
                                         std::to_string(torch::cuda::device_count()) + " CUDA devices)");
    return d;
  }
  throw Error(ErrorKind::kUsage, "k-NN: unknown device '" + device + "'", "use cpu, cuda or cuda:N");
}

// The largest float not above v: screening thresholds must never round up.
float round_down(double v) {
  float f = static_cast<float>(v);
  if (double(f) > v) f = std::nextafter(f, -kInf);
  return f;
}

std::string shape(int64_t r, int64_t c) { return std::to_string(r) + " x " + std::to_string(c); }

void check_cancel(const KnnOptions& o) {
  if (o.cancel && o.cancel->load(std::memory_order_relaxed))
    throw Error(ErrorKind::kInterrupted, "k-NN search interrupted", "run it again; a search keeps no partial state");
}

// gamma_d: relative error bound of a sum of d products in fp32, any order, with or without FMA, per
// unit of sum |q_i x_i| <= |q| |x|.
double sum_error_factor(int64_t d) {
  const double e = (d + 2) * std::ldexp(1.0, -24);
  return e / (1 - e);
}

// Bound on |bf16 product - fp32 kernel score|, per unit of |q| * max|x|. bf16 has a unit roundoff
// u = 2^-8: rounding q and x costs (2u + u^2), the fp32 sum of the (exact) bf16 products gamma_d, the
// bf16 output one more u, and the kernel score that decides entry is itself within gamma_d of the
// exact value. A worst case, not an estimate.
double screen_bound_factor(int64_t d) {
  const double u = std::ldexp(1.0, -8);
  const double g = sum_error_factor(d);
  const double f = (2 * u + u * u) + g * (1 + u) * (1 + u) + u * (1 + u) * (1 + u) * (1 + g) + g;
  return f * 1.001;  // headroom for the float subtraction thr - eps
}

// The bound above assumes oneDNN's bf16 GEMM (fp32 accumulation, round-to-nearest output), which
// LibTorch uses for bf16 products on AVX-512 CPUs. Checked once per process on a random product of the
// smallest screened shape (smaller products are the likeliest to take another path); if the error
// exceeds the bound, screening stays off.
bool screen_self_check() {
  static std::once_flag once;
  static bool ok = false;
  std::call_once(once, [] {
    torch::NoGradGuard no_grad;
    const int64_t m = kMinScreenQueries, n = kMinScreenRows, d = 512;
    auto gen = at::make_generator<at::CPUGeneratorImpl>(7);
    torch::Tensor a = torch::randn({m, d}, gen, torch::TensorOptions().dtype(torch::kFloat));
    torch::Tensor b = torch::randn({n, d}, gen, torch::TensorOptions().dtype(torch::kFloat));
    torch::Tensor exact = torch::mm(a.to(torch::kDouble), b.to(torch::kDouble).t());
    torch::Tensor approx = torch::mm(a.to(torch::kBFloat16), b.to(torch::kBFloat16).t()).to(torch::kDouble);
    torch::Tensor bound = a.to(torch::kDouble).norm(2, 1, true) * b.to(torch::kDouble).norm(2, 1, true).t();
    const double worst = ((approx - exact).abs() / bound).max().item<double>();
    ok = worst <= screen_bound_factor(d);
    if (!ok && log_enabled(LogLevel::kDebug)) {
      char line[128];
      std::snprintf(line, sizeof line, "k-NN: bf16 product error %.3g exceeds the bound, bf16 screening off", worst);
      log_debug(line);
    }
  });
  return ok;
}

KnnResult empty_result(int64_t nq, int k) {
  KnnResult r;
  r.queries = nq;
  r.k = k;
  r.ids.assign(static_cast<size_t>(nq * k), -1);
  r.scores.assign(static_cast<size_t>(nq * k), -kInf);
  return r;
}

// ---- CPU ------------------------------------------------------------------------------------------

KnnResult exact_knn_cpu(const float* queries, int64_t nq, const BankView& bank, const KnnOptions& o) {
  torch::NoGradGuard no_grad;
  const int64_t d = bank.dim, rows = bank.rows, cap = std::min<int64_t>(o.k, rows);
  const bool half = bank.dtype == StoreDType::kFloat16;
  const auto* bank16 = static_cast<const uint16_t*>(bank.data);
  const auto* bank32 = static_cast<const float*>(bank.data);
  const int threads = std::max(1, at::get_num_threads());

  int64_t qb = o.query_block > 0 ? o.query_block : std::min<int64_t>(kCpuQueryBlock, (nq + threads - 1) / threads);
  qb = std::clamp<int64_t>(qb, 1, nq);
  const int64_t nblocks = (nq + qb - 1) / qb;
  int64_t chunk = o.chunk_rows > 0 ? o.chunk_rows : std::max<int64_t>(256, kCpuChunkBytes / (d * 4));
  chunk = std::min(chunk, rows);
  const int64_t nchunks = (rows + chunk - 1) / chunk;

  // Work units: query groups (runs of whole blocks) x bank parts (runs of whole chunks). Many queries:
  // 2 groups per thread and one part, so each thread widens the chunks it reads itself and no thread
  // ever waits for another (a shared machine deschedules threads; per-chunk barriers would stall the
  // rest). Few queries: the bank is split into parts with their own heaps, merged at the end. A unit
  // is handed out a few chunks at a time to whichever thread is free, least advanced unit first; only
  // one thread works on a unit at a time, so its heaps need no locks.
  const int64_t groups = std::min<int64_t>(nblocks, 2 * threads);
  const int64_t parts = groups >= threads ? 1 : std::min<int64_t>(nchunks, (2 * threads + groups - 1) / groups);
  const int64_t step = std::max<int64_t>(1, 16384 / chunk);  // chunks per hand-out

  const bool screen = o.bf16_screen && kd::cpu_features().avx512_bf16 && at::globalContext().userEnabledMkldnn() &&
                      qb >= kMinScreenQueries && screen_self_check();
  std::vector<uint16_t> q16(screen ? static_cast<size_t>(nq * d) : 0);
  std::vector<double> qnorm(static_cast<size_t>(nq));
  at::parallel_for(0, nq, 256, [&](int64_t a, int64_t b) {
    for (int64_t q = a; q < b; ++q) {
      double s = 0;
      for (int64_t j = 0; j < d; ++j) s += double(queries[q * d + j]) * queries[q * d + j];
      qnorm[q] = std::sqrt(s) * (1 + 1e-6);
      if (screen) kd::float_to_bf16_n(queries + q * d, q16.data() + q * d, d);
    }
  });
  const double bf16_factor = screen_bound_factor(d);
  const double fp32_factor = 2 * sum_error_factor(d) * 1.001;  // |GEMM score - kernel score|, per |q| |x|
  const double g = sum_error_factor(d);
  const double tiny = (d + 2) * std::ldexp(1.0, -126);  // flushed subnormal products and inputs

  std::vector<Heaps> heaps;
  for (int64_t p = 0; p < parts; ++p) heaps.emplace_back(nq, cap);
  std::vector<char> block_full(static_cast<size_t>(nblocks * parts), 0);
  struct Unit {
    int64_t block_begin, block_end, next_chunk, end_chunk, part, done = 0;
    bool busy = false;
  };
  std::vector<Unit> units;
  for (int64_t gi = 0; gi < groups; ++gi)
    for (int64_t p = 0; p < parts; ++p)
      units.push_back(Unit{gi * nblocks / groups, (gi + 1) * nblocks / groups, p * nchunks / parts,
                           (p + 1) * nchunks / parts, p});
  std::mutex mu;
  bool cancelled = false;
  int64_t tiles_done = 0, tiles_total = 0;  // progress: bank chunks x query groups
  for (const Unit& u : units) tiles_total += u.end_chunk - u.next_chunk;
  const auto knn_start = std::chrono::steady_clock::now();
  std::atomic<int64_t> tiles_bf16{0}, tiles_fp32{0}, rescored{0};

  // Every score that enters a heap comes from the same fp32 kernel (kd::dot_*), whichever product
  // screened the row: results are then bitwise independent of chunking, blocking, threads and screening,
  // and equal rows tie exactly (so the lower id wins).
  const int64_t row_bytes = d * (half ? 2 : 4);
  auto row_ptr = [&](int64_t row) { return static_cast<const char*>(bank.data) + row * row_bytes; };
  // Candidates are scattered rows of the chunk (in L3 at best): fetching the next ones while scoring
  // the current one roughly halves the cost per candidate.
  auto rescore_and_push = [&](const float* qv, const std::vector<int64_t>& cand, TopK& top) {
    constexpr size_t kAhead = 2;
    for (size_t e = 0; e < std::min(kAhead, cand.size()); ++e) kd::prefetch(row_ptr(cand[e]), row_bytes);
    for (size_t e = 0; e < cand.size(); ++e) {
      if (e + kAhead < cand.size()) kd::prefetch(row_ptr(cand[e + kAhead]), row_bytes);
      const int64_t row = cand[e];
      const float exact = half ? kd::dot_f16(qv, bank16 + row * d, d) : kd::dot_f32(qv, bank32 + row * d, d);
      if (*top.size < cap || exact > top.score[0]) top.push(exact, row);
    }
  };

  struct Buffers {
    std::vector<int64_t> cand;
    std::vector<float> chunk32, tile32, sorted;
    std::vector<uint16_t> chunk16, tile16;
  };

  auto process_chunk = [&](const Unit& u, int64_t c, Buffers& buf) {
    const int64_t c0 = c * chunk, n = std::min(chunk, rows - c0);
    Heaps& hp = heaps[static_cast<size_t>(u.part)];
    char* full = block_full.data() + u.part * nblocks;
    bool any32 = false, any16 = false;
    for (int64_t b = u.block_begin; b < u.block_end; ++b) {
      const bool s = screen && full[b] && std::min(qb, nq - b * qb) >= kMinScreenQueries && n >= kMinScreenRows;
      (s ? any16 : any32) = true;
    }
    // Widen the chunk once for this unit's blocks, noting the largest squared row norm for the error
    // bounds (a NaN row stays out of the max; its scores are NaN and never enter a heap).
    if (any16) buf.chunk16.resize(static_cast<size_t>(chunk * d));
    if (any32 && half) buf.chunk32.resize(static_cast<size_t>(chunk * d));
    float max_sq = 0;
    for (int64_t r = 0; r < n; ++r) {
      const int64_t row = c0 + r;
      float s = 0;
      if (any16)
        s = half ? kd::half_to_bf16_n(bank16 + row * d, buf.chunk16.data() + r * d, d)
                 : kd::float_to_bf16_n(bank32 + row * d, buf.chunk16.data() + r * d, d);
      if (any32 && half) s = kd::half_to_float_sumsq(bank16 + row * d, buf.chunk32.data() + r * d, d);
      if (!any16 && !half) s = kd::dot_f32(bank32 + row * d, bank32 + row * d, d);
      max_sq = std::max(max_sq, s);
    }
    const double max_norm = std::sqrt(double(max_sq) * (1 + 2 * g)) * (1 + 1e-6);
    const float* c32 = half ? buf.chunk32.data() : bank32 + c0 * d;

    for (int64_t b = u.block_begin; b < u.block_end; ++b) {
      const int64_t q0 = b * qb, m = std::min(qb, nq - q0);
      int64_t count = 0;
      if (screen && full[b] && m >= kMinScreenQueries && n >= kMinScreenRows) {
        buf.tile16.resize(static_cast<size_t>(qb * chunk));
        torch::Tensor out = torch::from_blob(buf.tile16.data(), {m, n}, torch::kBFloat16);
        at::mm_out(out, torch::from_blob(q16.data() + q0 * d, {m, d}, torch::kBFloat16),
                   torch::from_blob(buf.chunk16.data(), {n, d}, torch::kBFloat16).t());
        ++tiles_bf16;
        for (int64_t i = 0; i < m; ++i) {
          const int64_t q = q0 + i;
          if (qnorm[q] == 0) continue;  // every score is 0: the lowest ids, already held, keep winning
          TopK top = hp.at(q);
          const float* qv = queries + q * d;
          const double eps = bf16_factor * qnorm[q] * max_norm + tiny * (1 + qnorm[q] + max_norm);
          const uint16_t* s = buf.tile16.data() + i * n;
          const float at = round_down(double(top.threshold()) - eps);
          buf.cand.clear();
          for (int64_t j = kd::next_at_least_bf16(s, 0, n, at); j < n; j = kd::next_at_least_bf16(s, j + 1, n, at))
            buf.cand.push_back(c0 + j);
          count += static_cast<int64_t>(buf.cand.size());
          rescore_and_push(qv, buf.cand, top);
        }
      } else {
        buf.tile32.resize(static_cast<size_t>(qb * chunk));
        torch::Tensor out = torch::from_blob(buf.tile32.data(), {m, n}, torch::kFloat);
        at::mm_out(out, torch::from_blob(const_cast<float*>(queries + q0 * d), {m, d}, torch::kFloat),
                   torch::from_blob(const_cast<float*>(c32), {n, d}, torch::kFloat).t());
        ++tiles_fp32;
        bool all_full = true;
        for (int64_t i = 0; i < m; ++i) {
          const int64_t q = q0 + i;
          TopK top = hp.at(q);
          if (qnorm[q] == 0 && *top.size == cap) continue;
          const float* qv = queries + q * d;
          const float* s = buf.tile32.data() + i * n;
          const double delta = fp32_factor * qnorm[q] * max_norm + tiny * (1 + qnorm[q] + max_norm);
          float thr = top.threshold();
          double floor = -std::numeric_limits<double>::infinity();
          if (*top.size < cap) {
            // Not full yet: only rows within 2 delta of the tile's own kk-th best can still make it.
            const int64_t kk = std::min(cap, n);
            buf.sorted.assign(s, s + n);
            for (float& v : buf.sorted) v = std::isnan(v) ? -kInf : v;
            std::nth_element(buf.sorted.begin(), buf.sorted.begin() + (kk - 1), buf.sorted.end(), std::greater<float>());
            floor = double(buf.sorted[static_cast<size_t>(kk - 1)]) - 2 * delta;
          }
          const float at = round_down(std::max(floor, double(thr) - delta));
          buf.cand.clear();
          for (int64_t j = kd::next_above_f32(s, 0, n, at); j < n; j = kd::next_above_f32(s, j + 1, n, at))
            buf.cand.push_back(c0 + j);
          count += static_cast<int64_t>(buf.cand.size());
          rescore_and_push(qv, buf.cand, top);
          all_full = all_full && *top.size == cap;
        }
        full[b] = all_full;
      }
      rescored += count;
    }
  };

  auto worker = [&] {
    Buffers buf;
    for (;;) {
      Unit* u = nullptr;
      int64_t c_begin = 0, c_end = 0;
      {
        std::lock_guard<std::mutex> lock(mu);
        if (cancelled) return;
        for (Unit& x : units)
          if (!x.busy && x.next_chunk < x.end_chunk && (!u || x.done < u->done)) u = &x;
        if (!u) return;  // the rest is in other threads' hands
        u->busy = true;
        c_begin = u->next_chunk;
        c_end = std::min(u->end_chunk, c_begin + step);
        u->next_chunk = c_end;
        u->done += c_end - c_begin;
      }
      bool stop = false;
      for (int64_t c = c_begin; c < c_end && !stop; ++c) {
        stop = o.cancel && o.cancel->load(std::memory_order_relaxed);
        if (!stop) process_chunk(*u, c, buf);
      }
      std::lock_guard<std::mutex> lock(mu);
      u->busy = false;
      if (stop) cancelled = true;
      tiles_done += c_end - c_begin;
      if (o.progress && !stop) {
        Progress p;
        p.done = p.done_this_run = tiles_done;
        p.total = tiles_total;
        p.elapsed_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - knn_start).count();
        o.progress(p);
      }
    }
  };
  // The products run single-threaded inside (nested OpenMP regions are serial; OpenBLAS and oneDNN
  // check for them), one per thread.
  at::parallel_for(0, threads, 1, [&](int64_t t0, int64_t t1) {
    for (int64_t t = t0; t < t1; ++t) worker();
  });
  check_cancel(o);

  for (int64_t p = 1; p < parts; ++p)
    at::parallel_for(0, nq, 64, [&](int64_t q0, int64_t q1) {
      for (int64_t q = q0; q < q1; ++q) {
        TopK into = heaps[0].at(q), from = heaps[static_cast<size_t>(p)].at(q);
        for (int64_t e = 0; e < *from.size; ++e) into.push(from.score[e], from.id[e]);
      }
    });
  if (log_enabled(LogLevel::kDebug)) {
    std::ostringstream line;
    line << "k-NN: " << rows << " x " << d << " bank, " << nq << " queries, " << threads << " threads, chunks of "
         << chunk << " rows, blocks of " << qb << " queries, " << groups << " groups x " << parts << " parts: "
         << tiles_bf16.load() << " bf16-screened and " << tiles_fp32.load() << " fp32 tiles, " << std::fixed
         << std::setprecision(1) << double(rescored.load()) / double(nq) << " rows rescored per query";
    log_debug(line.str());
  }
  KnnResult result = empty_result(nq, o.k);
  heaps[0].finish(result);
  return result;
}

// ---- CUDA -----------------------------------------------------------------------------------------

// Products on the device in fp32 (TF32 off, so scores match the CPU up to rounding). Per tile only the
// entries that can still enter a query's top-k come back to the host: those at or above the tile's own
// k-th best (ties included) and above the query's current k-th best; the host heaps apply the tie rule.
KnnResult exact_knn_cuda(const float* queries, int64_t nq, const BankView& bank, const KnnOptions& o,
                         const DeviceSpec& spec) {
  torch::NoGradGuard no_grad;
  const int64_t d = bank.dim, rows = bank.rows, cap = std::min<int64_t>(o.k, rows);
  const torch::Device device(torch::kCUDA, static_cast<c10::DeviceIndex>(spec.index < 0 ? 0 : spec.index));
  struct Tf32Off {
    bool saved = at::globalContext().allowTF32CuBLAS();
    Tf32Off() { at::globalContext().setAllowTF32CuBLAS(false); }
    ~Tf32Off() { at::globalContext().setAllowTF32CuBLAS(saved); }
  } tf32_off;
  const int64_t chunk = std::min(o.chunk_rows > 0 ? o.chunk_rows : kCudaChunkRows, rows);
  const int64_t qb = std::min(o.query_block > 0 ? o.query_block : kCudaQueryBlock, nq);
  const auto bank_dtype = bank.dtype == StoreDType::kFloat16 ? torch::kHalf : torch::kFloat;
  const int64_t item = bank.dtype == StoreDType::kFloat16 ? 2 : 4;
  torch::Tensor q_dev =
      torch::from_blob(const_cast<float*>(queries), {nq, d}, torch::kFloat).to(device);
  Heaps heaps(nq, cap);
  std::vector<float> thr(static_cast<size_t>(qb));
  const int64_t query_blocks = (nq + qb - 1) / qb;
  const auto knn_start = std::chrono::steady_clock::now();
  for (int64_t c0 = 0; c0 < rows; c0 += chunk) {
    check_cancel(o);
    const int64_t n = std::min(chunk, rows - c0);
    const auto* src = static_cast<const uint8_t*>(bank.data) + c0 * d * item;
    torch::Tensor x = torch::from_blob(const_cast<uint8_t*>(src), {n, d}, bank_dtype).to(device).to(torch::kFloat);
    const int64_t kk = std::min(cap, n);
    for (int64_t q0 = 0; q0 < nq; q0 += qb) {
      const int64_t m = std::min(qb, nq - q0);
      torch::Tensor s = torch::mm(q_dev.narrow(0, q0, m), x.t());
      torch::Tensor kth = std::get<0>(std::get<0>(s.topk(kk, 1, true, false)).min(1, true));
      for (int64_t i = 0; i < m; ++i) thr[i] = heaps.at(q0 + i).threshold();
      torch::Tensor held = torch::from_blob(thr.data(), {m, 1}, torch::kFloat).to(device);
      torch::Tensor mask = s.ge(kth).logical_and_(s.gt(held));
      torch::Tensor where = mask.nonzero().cpu();
      torch::Tensor values = s.masked_select(mask).cpu();  // row-major, the order of nonzero()
      const int64_t* w = where.data_ptr<int64_t>();
      const float* v = values.data_ptr<float>();
      for (int64_t e = 0; e < values.size(0); ++e) heaps.at(q0 + w[2 * e]).push(v[e], c0 + w[2 * e + 1]);
    }
    if (o.progress) {  // the .cpu() copies above synchronised: the chunk is done
      Progress p;
      p.done = p.done_this_run = (c0 / chunk + 1) * query_blocks;
      p.total = (rows + chunk - 1) / chunk * query_blocks;
      p.elapsed_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - knn_start).count();
      o.progress(p);
    }
  }
  KnnResult result = empty_result(nq, o.k);
  heaps.finish(result);
  return result;
}

}  // namespace

KnnResult exact_knn(const float* queries, int64_t num_queries, int64_t query_dim, const BankView& bank,
                    const KnnOptions& options) {
  if (options.k < 1) throw Error(ErrorKind::kUsage, "k-NN: k must be at least 1, got " + std::to_string(options.k));
  if (!npy_descr(bank.dtype)) throw Error(ErrorKind::kUsage, "k-NN: a bank holds float16 or float32 rows, not bfloat16");
  if (num_queries < 0 || query_dim < 1)
    throw Error(ErrorKind::kUsage, "k-NN: invalid query shape " + shape(num_queries, query_dim));
  if (bank.rows < 0 || bank.dim < 1)
    throw Error(ErrorKind::kInput, "k-NN: invalid bank shape " + shape(bank.rows, bank.dim));
  if (query_dim != bank.dim)
    throw Error(ErrorKind::kInput,
                "k-NN: queries are " + shape(num_queries, query_dim) + " but the bank is " + shape(bank.rows, bank.dim),
                "queries and bank must come from the same model (same embedding dimension)");
  if (options.chunk_rows < 0 || options.query_block < 0)
    throw Error(ErrorKind::kUsage, "k-NN: chunk_rows and query_block must be >= 0 (0 picks a size)");
  if (num_queries > 0 && queries == nullptr) throw Error(ErrorKind::kUsage, "k-NN: queries pointer is null");
  if (bank.rows > 0 && bank.data == nullptr) throw Error(ErrorKind::kInput, "k-NN: bank data pointer is null");
  const DeviceSpec device = parse_device(options.device);
  if (num_queries == 0 || bank.rows == 0) {
    check_cancel(options);
    return empty_result(num_queries, options.k);
  }
  return device.cuda ? exact_knn_cuda(queries, num_queries, bank, options, device)
                     : exact_knn_cpu(queries, num_queries, bank, options);
}

KnnResult exact_knn(const float* queries, int64_t num_queries, const BankView& bank, const KnnOptions& options) {
  return exact_knn(queries, num_queries, bank.dim, bank, options);
}

}  // namespace clipzs
