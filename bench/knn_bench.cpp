// Exact k-NN over a synthetic X-MoRe-size bank: clipzs exact_knn next to faiss::IndexFlatIP, in one
// process, on the same data and thread budget. Prints one JSON line per method and a comparison line.
//
//   knn_bench [--rows 1000000] [--dim 512] [--queries 10000] [--k 128] [--clusters 1000] [--seed 1]
//             [--threads 0 (all cores)] [--methods clipzs,clipzs-fp32,faiss] [--chunk-rows 0]
//             [--query-block 0] [--device cpu|cuda]
//             [--nlist 1024] [--nprobe 32] [--pq-m 64] [--hnsw-m 32] [--ef-search 256] [--mmap 1]
//             [--index-dir /tmp] [--repeat 1]
//
// Methods: clipzs (exact_knn, bf16 screening where the CPU has it), clipzs-fp32 (exact_knn, fp32
// products only), clipzs-cuda, faiss (faiss::IndexFlatIP), and approximate indexes built and searched
// through clipzs's FAISS wrappers: index-ivf-flat, index-ivf-pq, index-hnsw (build time reported
// apart; the comparison line against the first method then gives their recall@k).
//
// Data: fp16 bank rows, L2-normalised, each = a shared direction + its cluster's centre + a point of a
// random 8-dimensional subspace of that cluster + noise, so that a query's neighbours are the close
// points of its cluster (mean score 0.91 at rank 1, 0.73 at rank 128 with the defaults) rather than
// random near-ties; queries are drawn the same way. FAISS gets an fp32 copy (IndexFlatIP::add), as it
// has no fp16 flat index for inner product.
#include <torch/torch.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <unistd.h>
#include <cstring>
#include <ctime>
#include <fstream>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "clipzs/util/error.hpp"
#include "clipzs/search/knn.hpp"
#include "clipzs/util/log.hpp"
#include "clipzs/store/npy.hpp"

#ifdef CLIPZS_HAVE_FAISS
#include <faiss/IndexFlat.h>
#endif

namespace {
using nlohmann::json;
using clock_type = std::chrono::steady_clock;

struct Args {
  int64_t rows = 1000000, dim = 512, queries = 10000, clusters = 1000, chunk_rows = 0, query_block = 0;
  int k = 128, threads = 0, repeat = 1, mmap = 1, nprobe = 32, pq_m = 64, hnsw_m = 32, ef_search = 256;
  int64_t nlist = 1024;
  uint64_t seed = 1;
  std::string methods = "clipzs,clipzs-fp32,faiss", device = "cpu", index_dir = "/tmp";
};

Args parse(int argc, char** argv) {
  Args a;
  for (int i = 1; i < argc; ++i) {
    const std::string key = argv[i];
    if (i + 1 >= argc) {
      std::fprintf(stderr, "missing value for %s\n", key.c_str());
      std::exit(2);
    }
    const std::string v = argv[++i];
    if (key == "--rows") a.rows = std::stoll(v);
    else if (key == "--dim") a.dim = std::stoll(v);
    else if (key == "--queries") a.queries = std::stoll(v);
    else if (key == "--k") a.k = std::stoi(v);
    else if (key == "--clusters") a.clusters = std::stoll(v);
    else if (key == "--seed") a.seed = std::stoull(v);
    else if (key == "--threads") a.threads = std::stoi(v);
    else if (key == "--methods") a.methods = v;
    else if (key == "--chunk-rows") a.chunk_rows = std::stoll(v);
    else if (key == "--query-block") a.query_block = std::stoll(v);
    else if (key == "--device") a.device = v;
    else if (key == "--nlist") a.nlist = std::stoll(v);
    else if (key == "--nprobe") a.nprobe = std::stoi(v);
    else if (key == "--mmap") a.mmap = std::stoi(v);
    else if (key == "--repeat") a.repeat = std::max(1, std::stoi(v));
    else if (key == "--pq-m") a.pq_m = std::stoi(v);
    else if (key == "--hnsw-m") a.hnsw_m = std::stoi(v);
    else if (key == "--ef-search") a.ef_search = std::stoi(v);
    else if (key == "--index-dir") a.index_dir = v;
    else {
      std::fprintf(stderr, "unknown option %s\n", key.c_str());
      std::exit(2);
    }
  }
  return a;
}

// Peak resident memory since the last reset_peak_rss() (Linux: VmHWM, reset through clear_refs).
void reset_peak_rss() { std::ofstream("/proc/self/clear_refs") << "5"; }
double cpu_seconds() {
  timespec t{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
  return double(t.tv_sec) + 1e-9 * double(t.tv_nsec);
}
double peak_rss_gb() {
  std::ifstream status("/proc/self/status");
  std::string line;
  while (std::getline(status, line))
    if (line.rfind("VmHWM:", 0) == 0) return std::stod(line.substr(6)) / (1024.0 * 1024.0);
  return -1;
}

struct Generator {
  torch::Tensor shared, centres, basis;  // d; C x d; C x r x d
  int64_t d;
  Generator(int64_t clusters, int64_t dim, uint64_t seed) : d(dim) {
    auto gen = at::make_generator<at::CPUGeneratorImpl>(seed);
    shared = torch::nn::functional::normalize(torch::randn({dim}, gen), torch::nn::functional::NormalizeFuncOptions().dim(0));
    centres = torch::nn::functional::normalize(torch::randn({clusters, dim}, gen), torch::nn::functional::NormalizeFuncOptions().dim(1));
    basis = torch::randn({clusters, 8, dim}, gen) * (0.35 / std::sqrt(double(dim)));
  }
  // n unit rows as float32.
  torch::Tensor rows(int64_t n, at::Generator& gen) const {
    torch::Tensor idx = torch::randint(centres.size(0), {n}, gen);
    torch::Tensor z = torch::randn({n, 1, 8}, gen);
    torch::Tensor x = 0.5 * shared + centres.index_select(0, idx) + torch::bmm(z, basis.index_select(0, idx)).squeeze(1) +
                      torch::randn({n, d}, gen) * (0.3 / std::sqrt(double(d)));
    return torch::nn::functional::normalize(x, torch::nn::functional::NormalizeFuncOptions().dim(1));
  }
};

json compare(const clipzs::KnnResult& a, const clipzs::KnnResult& b) {
  int64_t same_lists = 0, overlap = 0;
  double max_diff = 0;
  for (int64_t q = 0; q < a.queries; ++q) {
    const size_t o = static_cast<size_t>(q * a.k);
    same_lists += std::equal(a.ids.begin() + o, a.ids.begin() + o + a.k, b.ids.begin() + o);
    std::set<int64_t> sa(a.ids.begin() + o, a.ids.begin() + o + a.k);
    for (int64_t j = 0; j < a.k; ++j) overlap += sa.count(b.ids[o + j]);
    for (int64_t j = 0; j < a.k; ++j)
      if (std::isfinite(a.scores[o + j]) || std::isfinite(b.scores[o + j]))
        max_diff = std::max(max_diff, std::fabs(double(a.scores[o + j]) - b.scores[o + j]));
  }
  return {{"identical_id_lists", double(same_lists) / double(a.queries)},
          {"id_overlap", double(overlap) / double(a.queries * a.k)},
          {"max_score_diff_by_rank", max_diff}};
}

}  // namespace

int main(int argc, char** argv) {
  const Args a = parse(argc, argv);
  // CLIPZS_LOG=debug: exact_knn's plan and screening counts on stderr (no spdlog here: this file sees
  // LibTorch's headers, whose bundled fmt clashes with Debian's spdlog).
  if (const char* level = std::getenv("CLIPZS_LOG"); level != nullptr && std::string(level) == "debug")
    clipzs::set_log_sink([](clipzs::LogLevel, const std::string& m) { std::fprintf(stderr, "%s\n", m.c_str()); },
                         clipzs::LogLevel::kDebug);
  const int threads = a.threads > 0 ? a.threads : static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  torch::set_num_threads(threads);
  torch::NoGradGuard no_grad;

  // Data, generated in blocks so the fp32 intermediates stay small.
  auto t0 = clock_type::now();
  Generator g(a.clusters, a.dim, a.seed);
  auto gen = at::make_generator<at::CPUGeneratorImpl>(a.seed + 1);
  std::vector<uint16_t> bank(static_cast<size_t>(a.rows * a.dim));
  for (int64_t r0 = 0; r0 < a.rows; r0 += 16384) {
    const int64_t n = std::min<int64_t>(16384, a.rows - r0);
    torch::Tensor x = g.rows(n, gen).to(torch::kHalf).contiguous();
    std::memcpy(bank.data() + r0 * a.dim, x.data_ptr(), static_cast<size_t>(n * a.dim) * 2);
  }
  auto qgen = at::make_generator<at::CPUGeneratorImpl>(a.seed + 2);
  torch::Tensor qt = g.rows(a.queries, qgen).contiguous();
  const std::vector<float> queries(qt.data_ptr<float>(), qt.data_ptr<float>() + a.queries * a.dim);
  const double gen_seconds = std::chrono::duration<double>(clock_type::now() - t0).count();
  const clipzs::BankView view{bank.data(), clipzs::StoreDType::kFloat16, a.rows, a.dim};

  std::string cpu = "unknown";
  {
    std::ifstream info("/proc/cpuinfo");
    std::string line;
    while (std::getline(info, line))
      if (line.rfind("model name", 0) == 0) {
        cpu = line.substr(line.find(':') + 2);
        break;
      }
  }
  std::printf("%s\n", json{{"what", "setup"}, {"rows", a.rows}, {"dim", a.dim}, {"queries", a.queries}, {"k", a.k},
                           {"clusters", a.clusters}, {"seed", a.seed}, {"threads", threads}, {"cpu", cpu},
                           {"bank_gb_fp16", double(bank.size()) * 2 / 1e9}, {"generate_seconds", gen_seconds}}
                          .dump()
                          .c_str());
  std::fflush(stdout);

  std::vector<std::pair<std::string, clipzs::KnnResult>> results;
  // --repeat N runs the whole method list N times, interleaved, so that on a shared machine every
  // method gets a chance at a quiet spell; the comparison uses the first round's results.
  std::vector<std::string> order;
  for (int round = 0; round < a.repeat; ++round) {
    std::stringstream list(a.methods);
    std::string m;
    while (std::getline(list, m, ',')) order.push_back(m);
  }
  const size_t per_round = order.size() / static_cast<size_t>(std::max(1, a.repeat));
  for (size_t run = 0; run < order.size(); ++run) {
    const std::string& method = order[run];
    clipzs::KnnResult r;
    double seconds = 0, cpu0 = 0;
    json extra = json::object();
    reset_peak_rss();
    try {
      if (method == "clipzs" || method == "clipzs-fp32" || method == "clipzs-cuda") {
        clipzs::KnnOptions o;
        o.k = a.k;
        o.chunk_rows = a.chunk_rows;
        o.query_block = a.query_block;
        o.bf16_screen = method != "clipzs-fp32";
        o.device = method == "clipzs-cuda" ? "cuda" : a.device;
        const auto s = clock_type::now();
        cpu0 = cpu_seconds();
        r = clipzs::exact_knn(queries.data(), a.queries, a.dim, view, o);
        seconds = std::chrono::duration<double>(clock_type::now() - s).count();
      } else if (method.rfind("index-", 0) == 0) {
        clipzs::IndexBuildOptions b;
        b.type = method.substr(6);
        b.nlist = a.nlist;
        b.pq_m = a.pq_m;
        b.hnsw_m = a.hnsw_m;
        const std::string file = a.index_dir + "/knn_bench-" + b.type + "-" + std::to_string(::getpid()) + ".faiss";
        const auto b0 = clock_type::now();
        const json desc = json::parse(clipzs::build_faiss_index(view, file, b));
        extra["build_seconds"] = std::chrono::duration<double>(clock_type::now() - b0).count();
        extra["index"] = desc;
        clipzs::IndexSearchOptions so;
        so.k = a.k;
        so.nprobe = a.nprobe;
        so.ef_search = a.ef_search;
        so.mmap = a.mmap != 0;
        const auto s = clock_type::now();
        cpu0 = cpu_seconds();
        r = clipzs::search_faiss_index(file, queries.data(), a.queries, a.dim, so);
        seconds = std::chrono::duration<double>(clock_type::now() - s).count();
        std::remove(file.c_str());
      } else if (method == "faiss") {
#ifdef CLIPZS_HAVE_FAISS
        faiss::IndexFlatIP index(a.dim);
        std::vector<float> block(static_cast<size_t>(65536 * a.dim));
        for (int64_t r0 = 0; r0 < a.rows; r0 += 65536) {  // the fp32 copy FAISS searches
          const int64_t n = std::min<int64_t>(65536, a.rows - r0);
          for (int64_t i = 0; i < n * a.dim; ++i) block[static_cast<size_t>(i)] = clipzs::half_to_float(bank[static_cast<size_t>(r0 * a.dim + i)]);
          index.add(n, block.data());
        }
        r.queries = a.queries;
        r.k = a.k;
        r.ids.resize(static_cast<size_t>(a.queries * a.k));
        r.scores.resize(static_cast<size_t>(a.queries * a.k));
        const auto s = clock_type::now();
        cpu0 = cpu_seconds();
        index.search(a.queries, queries.data(), a.k, r.scores.data(), r.ids.data());
        seconds = std::chrono::duration<double>(clock_type::now() - s).count();
#else
        std::printf("%s\n", json{{"method", method}, {"skipped", "built without FAISS"}}.dump().c_str());
        continue;
#endif
      } else {
        std::fprintf(stderr, "unknown method %s\n", method.c_str());
        return 2;
      }
    } catch (const clipzs::Error& e) {
      std::printf("%s\n", json{{"method", method}, {"skipped", e.what()}}.dump().c_str());
      continue;
    }
    double first = 0, last = 0;  // mean score at rank 1 and rank k: how close the neighbours are
    for (int64_t q = 0; q < r.queries; ++q) {
      first += r.scores[static_cast<size_t>(q * r.k)];
      last += r.scores[static_cast<size_t>(q * r.k + r.k - 1)];
    }
    extra["mean_score_rank_1"] = r.queries ? first / double(r.queries) : 0.0;
    extra["mean_score_rank_k"] = r.queries ? last / double(r.queries) : 0.0;
    json line = {{"method", method}, {"round", run / std::max<size_t>(1, per_round)}, {"seconds", seconds}, {"queries_per_s", double(a.queries) / seconds},
                 {"cpu_seconds", cpu_seconds() - cpu0}, {"peak_rss_gb", peak_rss_gb()}};
    line.update(extra);
    std::printf("%s\n", line.dump().c_str());
    std::fflush(stdout);
    if (run < per_round) results.emplace_back(method, std::move(r));
  }
  for (size_t i = 1; i < results.size(); ++i) {
    json c = compare(results[0].second, results[i].second);
    c["what"] = "compare";
    c["a"] = results[0].first;
    c["b"] = results[i].first;
    std::printf("%s\n", c.dump().c_str());
  }
  return 0;
}
