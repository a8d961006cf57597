// exact_knn against a brute-force reference (double precision), and the FAISS indexes against exact_knn.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <limits>
#include <numeric>
#include <random>
#include <set>
#include <vector>

#include <torch/cuda.h>

#include "../test_support.hpp"
#include "clipzs/util/error.hpp"
#include "clipzs/search/knn.hpp"
#include "clipzs/store/npy.hpp"

using namespace clipzs;
namespace fs = std::filesystem;

namespace {

// Unit rows around `clusters` random centres (clusters = 0: plain Gaussian rows).
std::vector<float> random_rows(int64_t rows, int64_t dim, uint64_t seed, int clusters = 0, float spread = 0.5f) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::vector<float> centres(static_cast<size_t>(std::max(clusters, 1) * dim));
  for (float& v : centres) v = normal(rng);
  std::vector<float> out(static_cast<size_t>(rows * dim));
  for (int64_t r = 0; r < rows; ++r) {
    const int64_t c = clusters > 0 ? static_cast<int64_t>(rng() % static_cast<uint64_t>(clusters)) : 0;
    double norm = 0;
    for (int64_t j = 0; j < dim; ++j) {
      float v = normal(rng);
      if (clusters > 0) v = centres[c * dim + j] + spread * v;
      out[r * dim + j] = v;
      norm += double(v) * v;
    }
    for (int64_t j = 0; j < dim; ++j) out[r * dim + j] = static_cast<float>(out[r * dim + j] / std::sqrt(norm));
  }
  return out;
}

std::vector<uint16_t> to_half(const std::vector<float>& v) {
  std::vector<uint16_t> h(v.size());
  for (size_t i = 0; i < v.size(); ++i) h[i] = float_to_half(v[i]);
  return h;
}

std::vector<float> from_half(const std::vector<uint16_t>& h) {
  std::vector<float> v(h.size());
  for (size_t i = 0; i < h.size(); ++i) v[i] = half_to_float(h[i]);
  return v;
}

struct Reference {
  std::vector<int64_t> ids;    // nq x k, -1 padded
  std::vector<double> scores;  // nq x k
  std::vector<double> all;     // nq x rows, every exact score
};

// Double-precision scores, sorted by (score desc, id asc).
Reference brute_force(const std::vector<float>& q, int64_t nq, const std::vector<float>& bank, int64_t rows, int64_t d, int k) {
  Reference ref;
  ref.ids.assign(static_cast<size_t>(nq * k), -1);
  ref.scores.assign(static_cast<size_t>(nq * k), -std::numeric_limits<double>::infinity());
  ref.all.resize(static_cast<size_t>(nq * rows));
  std::vector<int64_t> order(static_cast<size_t>(rows));
  for (int64_t i = 0; i < nq; ++i) {
    double* s = ref.all.data() + i * rows;
    for (int64_t r = 0; r < rows; ++r) {
      double acc = 0;
      for (int64_t j = 0; j < d; ++j) acc += double(q[i * d + j]) * bank[r * d + j];
      s[r] = acc;
    }
    std::iota(order.begin(), order.end(), int64_t{0});
    std::stable_sort(order.begin(), order.end(), [&](int64_t a, int64_t b) { return s[a] > s[b]; });
    for (int64_t r = 0; r < std::min<int64_t>(k, rows); ++r) {
      ref.ids[i * k + r] = order[r];
      ref.scores[i * k + r] = s[order[r]];
    }
  }
  return ref;
}

// Ids must equal the reference's except where the two rows' exact scores are within `tie` (a near-tie
// that fp32 rounding may order either way); scores within `tol` of the exact ones.
void expect_matches(const KnnResult& got, const Reference& ref, int64_t rows, double tie = 1e-5, double tol = 2e-5) {
  ASSERT_EQ(got.ids.size(), ref.ids.size());
  int mismatches = 0;
  for (int64_t i = 0; i < got.queries; ++i) {
    for (int64_t r = 0; r < got.k; ++r) {
      const size_t e = static_cast<size_t>(i * got.k + r);
      if (ref.ids[e] < 0) {
        EXPECT_EQ(got.ids[e], -1) << "query " << i << " rank " << r;
        EXPECT_TRUE(std::isinf(got.scores[e]) && got.scores[e] < 0);
        continue;
      }
      ASSERT_GE(got.ids[e], 0) << "query " << i << " rank " << r;
      ASSERT_LT(got.ids[e], rows);
      EXPECT_NEAR(got.scores[e], ref.scores[e], tol) << "query " << i << " rank " << r;
      const double exact_got = ref.all[static_cast<size_t>(i * rows + got.ids[e])];
      EXPECT_NEAR(got.scores[e], exact_got, tol);
      if (got.ids[e] != ref.ids[e]) {
        ++mismatches;
        EXPECT_NEAR(exact_got, ref.scores[e], tie) << "query " << i << " rank " << r << ": id " << got.ids[e]
                                                   << " instead of " << ref.ids[e] << " is not a near-tie";
      }
    }
  }
  if (mismatches) std::printf("  (%d near-tie id swaps)\n", mismatches);
}

BankView view(const std::vector<uint16_t>& h, int64_t rows, int64_t d) { return BankView{h.data(), StoreDType::kFloat16, rows, d}; }
BankView view(const std::vector<float>& f, int64_t rows, int64_t d) { return BankView{f.data(), StoreDType::kFloat32, rows, d}; }

struct Case {
  const char* name;
  bool half;
  int64_t rows, dim, nq;
  int k;
  int64_t chunk, block;
  bool screen;
};

class ExactKnn : public ::testing::TestWithParam<Case> {};

}  // namespace

TEST_P(ExactKnn, MatchesBruteForce) {
  const Case c = GetParam();
  std::vector<float> bank = random_rows(c.rows, c.dim, 11, 20, 0.6f);
  std::vector<uint16_t> bank16 = to_half(bank);
  if (c.half) bank = from_half(bank16);  // the reference sees what the search sees
  const std::vector<float> q = random_rows(c.nq, c.dim, 12, 20, 0.6f);
  KnnOptions o;
  o.k = c.k;
  o.chunk_rows = c.chunk;
  o.query_block = c.block;
  o.bf16_screen = c.screen;
  const KnnResult got = c.half ? exact_knn(q.data(), c.nq, c.dim, view(bank16, c.rows, c.dim), o)
                               : exact_knn(q.data(), c.nq, c.dim, view(bank, c.rows, c.dim), o);
  EXPECT_EQ(got.queries, c.nq);
  EXPECT_EQ(got.k, c.k);
  expect_matches(got, brute_force(q, c.nq, bank, c.rows, c.dim, c.k), c.rows);
}

INSTANTIATE_TEST_SUITE_P(
    Shapes, ExactKnn,
    ::testing::Values(
        // chunk sizes that do not divide the bank, several query blocks, both dtypes, screening on/off
        Case{"fp32_small_chunks", false, 1000, 64, 70, 10, 300, 16, true},
        Case{"fp16_small_chunks", true, 1000, 64, 70, 10, 257, 16, true},
        Case{"fp16_defaults", true, 3000, 96, 130, 25, 0, 0, true},
        Case{"fp16_screened_blocks", true, 4100, 128, 200, 40, 700, 64, true},
        Case{"fp32_screened_blocks", false, 4100, 128, 200, 40, 700, 64, true},
        Case{"fp16_no_screen", true, 4100, 128, 200, 40, 700, 64, false},
        Case{"k_larger_than_chunk", true, 2000, 32, 40, 300, 128, 0, true},
        Case{"k_larger_than_bank", false, 7, 16, 5, 10, 3, 2, true},
        Case{"one_query", true, 5000, 64, 1, 5, 0, 0, true},
        Case{"odd_dim", false, 900, 37, 50, 8, 0, 0, true}),
    [](const ::testing::TestParamInfo<Case>& info) { return std::string(info.param.name); });

TEST(ExactKnnBasics, PadsWhenBankIsSmallerThanK) {
  const std::vector<float> bank = random_rows(3, 8, 1), q = random_rows(2, 8, 2);
  KnnOptions o;
  o.k = 5;
  const KnnResult r = exact_knn(q.data(), 2, 8, view(bank, 3, 8), o);
  for (int64_t i = 0; i < 2; ++i) {
    std::set<int64_t> ids(r.ids.begin() + i * 5, r.ids.begin() + i * 5 + 3);
    EXPECT_EQ(ids, (std::set<int64_t>{0, 1, 2}));
    for (int64_t j = 3; j < 5; ++j) {
      EXPECT_EQ(r.ids[i * 5 + j], -1);
      EXPECT_EQ(r.scores[i * 5 + j], -std::numeric_limits<float>::infinity());
    }
  }
}

TEST(ExactKnnBasics, TiesGoToTheLowerId) {
  // 5 distinct unit rows repeated 400 times: every score is an exact tie with 399 others.
  const int64_t d = 64, distinct = 5, rows = 2000;
  const std::vector<float> base = random_rows(distinct, d, 3);
  std::vector<float> bank(static_cast<size_t>(rows * d));
  for (int64_t r = 0; r < rows; ++r) std::copy_n(base.data() + (r % distinct) * d, d, bank.data() + r * d);
  const std::vector<uint16_t> bank16 = to_half(bank);
  const std::vector<float> q = random_rows(100, d, 4);
  for (bool half : {false, true}) {
    for (int64_t chunk : {int64_t{0}, int64_t{97}, int64_t{1000}}) {
      KnnOptions o;
      o.k = 12;
      o.chunk_rows = chunk;
      const KnnResult r = half ? exact_knn(q.data(), 100, d, view(bank16, rows, d), o) : exact_knn(q.data(), 100, d, view(bank, rows, d), o);
      for (int64_t i = 0; i < 100; ++i) {
        // The best distinct row's first 12 copies, in id order.
        const int64_t best = r.ids[i * 12] % distinct;
        for (int64_t j = 0; j < 12; ++j) {
          EXPECT_EQ(r.ids[i * 12 + j], best + j * distinct) << "half " << half << " chunk " << chunk << " query " << i;
          EXPECT_EQ(r.scores[i * 12 + j], r.scores[i * 12]);
        }
      }
    }
  }
}

TEST(ExactKnnBasics, ResultsDoNotDependOnChunkingOrScreening) {
  const int64_t rows = 3000, d = 64, nq = 150;
  const std::vector<uint16_t> bank = to_half(random_rows(rows, d, 5, 10, 0.5f));
  const std::vector<float> q = random_rows(nq, d, 6, 10, 0.5f);
  KnnOptions a;
  a.k = 20;
  const KnnResult base = exact_knn(q.data(), nq, d, view(bank, rows, d), a);
  for (auto [chunk, block, screen] : {std::tuple<int64_t, int64_t, bool>{111, 7, true}, {2999, 64, false}, {64, 150, true}}) {
    KnnOptions o = a;
    o.chunk_rows = chunk;
    o.query_block = block;
    o.bf16_screen = screen;
    const KnnResult r = exact_knn(q.data(), nq, d, view(bank, rows, d), o);
    EXPECT_EQ(r.ids, base.ids) << "chunk " << chunk << " block " << block;
    EXPECT_EQ(r.scores, base.scores) << "chunk " << chunk << " block " << block;  // one fp32 kernel scores every row
  }
}

TEST(ExactKnnBasics, UnnormalisedRowsAndQueries) {
  // Row norms from 0.05 to 20 and query norms up to 50: the bf16 screen's bound scales with them.
  const int64_t rows = 4000, d = 96, nq = 128;
  std::vector<float> bank = random_rows(rows, d, 8, 30, 0.5f), q = random_rows(nq, d, 9, 30, 0.5f);
  std::mt19937 rng(10);
  std::uniform_real_distribution<float> scale(-3.0f, 3.0f);
  for (int64_t r = 0; r < rows; ++r) {
    const float f = std::exp(scale(rng));
    for (int64_t j = 0; j < d; ++j) bank[r * d + j] *= f;
  }
  for (int64_t i = 0; i < nq; ++i)
    for (int64_t j = 0; j < d; ++j) q[i * d + j] *= 1 + 49.0f * static_cast<float>(i) / nq;
  const std::vector<uint16_t> bank16 = to_half(bank);
  const std::vector<float> widened = from_half(bank16);
  KnnOptions o;
  o.k = 30;
  o.chunk_rows = 500;
  o.query_block = 64;
  const KnnResult r = exact_knn(q.data(), nq, d, view(bank16, rows, d), o);
  const Reference ref = brute_force(q, nq, widened, rows, d, 30);
  // Scores reach ~1,000 here: the tolerances scale with them.
  expect_matches(r, ref, rows, 1e-3, 2e-3);
}

TEST(ExactKnnBasics, ExactTiesThroughTheScreenedPath) {
  // Entries +-0.125 or 0 at d = 64: every product and sum is exact in fp32, so thousands of rows tie
  // exactly and the lower id must win, in the screened (bf16) path as in the fp32 one.
  const int64_t rows = 6000, d = 64, nq = 64;
  std::mt19937 rng(11);
  auto draw = [&](int64_t n) {
    std::vector<float> v(static_cast<size_t>(n * d));
    for (float& x : v) x = 0.125f * static_cast<float>(static_cast<int>(rng() % 3) - 1);
    return v;
  };
  const std::vector<float> bank = draw(rows), q = draw(nq);
  const Reference ref = brute_force(q, nq, bank, rows, d, 16);
  for (bool screen : {true, false}) {
    KnnOptions o;
    o.k = 16;
    o.chunk_rows = 512;
    o.query_block = 64;
    o.bf16_screen = screen;
    const KnnResult r = exact_knn(q.data(), nq, d, view(bank, rows, d), o);
    EXPECT_EQ(r.ids, ref.ids) << "screen " << screen;
  }
}

TEST(ExactKnnBasics, ZeroQueryReturnsTheFirstRows) {
  const std::vector<float> bank = random_rows(500, 16, 7);
  std::vector<float> q(16 * 40, 0.0f);
  KnnOptions o;
  o.k = 4;
  o.chunk_rows = 100;
  const KnnResult r = exact_knn(q.data(), 40, 16, view(bank, 500, 16), o);
  for (int64_t i = 0; i < 40; ++i)
    for (int64_t j = 0; j < 4; ++j) {
      EXPECT_EQ(r.ids[i * 4 + j], j);
      EXPECT_EQ(r.scores[i * 4 + j], 0.0f);
    }
}

TEST(ExactKnnBasics, EmptyInputs) {
  const std::vector<float> bank = random_rows(10, 8, 1), q = random_rows(3, 8, 2);
  KnnOptions o;
  o.k = 2;
  KnnResult r = exact_knn(q.data(), 0, 8, view(bank, 10, 8), o);
  EXPECT_EQ(r.queries, 0);
  EXPECT_TRUE(r.ids.empty());
  r = exact_knn(q.data(), 3, 8, BankView{nullptr, StoreDType::kFloat32, 0, 8}, o);
  EXPECT_EQ(r.ids, std::vector<int64_t>(6, -1));
}

TEST(ExactKnnBasics, ValidatesArguments) {
  const std::vector<float> bank = random_rows(10, 8, 1), q = random_rows(3, 8, 2);
  auto kind_of = [](auto&& f) {
    try {
      f();
    } catch (const Error& e) {
      return e.kind();
    }
    return ErrorKind::kInternal;
  };
  KnnOptions o;
  o.k = 0;
  EXPECT_EQ(kind_of([&] { exact_knn(q.data(), 3, 8, view(bank, 10, 8), o); }), ErrorKind::kUsage);
  o.k = 3;
  EXPECT_EQ(kind_of([&] { exact_knn(q.data(), 3, 4, view(bank, 10, 8), o); }), ErrorKind::kInput);
  try {
    exact_knn(q.data(), 3, 4, view(bank, 10, 8), o);
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("3 x 4"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("10 x 8"), std::string::npos) << e.what();
  }
  o.device = "tpu";
  EXPECT_EQ(kind_of([&] { exact_knn(q.data(), 3, 8, view(bank, 10, 8), o); }), ErrorKind::kUsage);
  o.device = "cuda";
  if (!torch::cuda::is_available()) {
    EXPECT_EQ(kind_of([&] { exact_knn(q.data(), 3, 8, view(bank, 10, 8), o); }), ErrorKind::kUnsupported);
  }
  o.device = "cpu";
  o.chunk_rows = -1;
  EXPECT_EQ(kind_of([&] { exact_knn(q.data(), 3, 8, view(bank, 10, 8), o); }), ErrorKind::kUsage);
}

TEST(ExactKnnBasics, CancelFlagStopsTheSearch) {
  const std::vector<float> bank = random_rows(1000, 16, 1), q = random_rows(10, 16, 2);
  std::atomic<bool> cancel{true};
  KnnOptions o;
  o.k = 5;
  o.chunk_rows = 100;
  o.cancel = &cancel;
  try {
    exact_knn(q.data(), 10, 16, view(bank, 1000, 16), o);
    FAIL() << "no exception";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kInterrupted);
  }
  cancel = false;
  EXPECT_NO_THROW(exact_knn(q.data(), 10, 16, view(bank, 1000, 16), o));
}

// ---- FAISS ------------------------------------------------------------------------------------------

namespace {

#define SKIP_WITHOUT_FAISS() \
  if (!faiss_available()) GTEST_SKIP() << "clipzs was built without FAISS (install libfaiss-dev and rebuild)"

// Clustered unit rows whose spread inside a cluster has a few directions only, as embeddings of
// similar images do (isotropic noise in 64-d would make every neighbour nearly equidistant).
std::vector<float> clustered_rows(int64_t rows, int64_t d, uint64_t seed) {
  const int clusters = 40, intrinsic = 6;
  std::mt19937_64 structure(99);  // the same clusters for bank and queries
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::vector<float> centre(static_cast<size_t>(clusters * d)), basis(static_cast<size_t>(clusters * intrinsic * d));
  for (float& v : centre) v = normal(structure);
  for (float& v : basis) v = 0.6f * normal(structure);
  std::mt19937_64 rng(seed);
  std::vector<float> out(static_cast<size_t>(rows * d));
  for (int64_t r = 0; r < rows; ++r) {
    const int64_t c = static_cast<int64_t>(rng() % clusters);
    float z[intrinsic];
    for (float& v : z) v = normal(rng);
    double norm = 0;
    for (int64_t j = 0; j < d; ++j) {
      float v = centre[c * d + j] + 0.05f * normal(rng);
      for (int t = 0; t < intrinsic; ++t) v += z[t] * basis[(c * intrinsic + t) * d + j];
      out[r * d + j] = v;
      norm += double(v) * v;
    }
    for (int64_t j = 0; j < d; ++j) out[r * d + j] = static_cast<float>(out[r * d + j] / std::sqrt(norm));
  }
  return out;
}

struct FaissData {
  int64_t rows = 12000, d = 64, nq = 200;
  std::vector<float> bank, q;
  std::vector<uint16_t> bank16;
  FaissData() {
    bank16 = to_half(clustered_rows(rows, d, 21));
    bank = from_half(bank16);
    q = clustered_rows(nq, d, 22);
  }
};

double recall_at(const KnnResult& got, const KnnResult& exact, int k) {
  int64_t hit = 0;
  for (int64_t i = 0; i < exact.queries; ++i) {
    std::set<int64_t> truth(exact.ids.begin() + i * exact.k, exact.ids.begin() + i * exact.k + k);
    for (int j = 0; j < k; ++j) hit += truth.count(got.ids[static_cast<size_t>(i * got.k + j)]);
  }
  return double(hit) / double(exact.queries * k);
}

}  // namespace

TEST(FaissIndex, FlatEqualsExact) {
  SKIP_WITHOUT_FAISS();
  FaissData data;
  const fs::path dir = test_support::fresh_temp_dir("knn_flat");
  IndexBuildOptions b;
  b.type = "flat";
  const std::string desc = build_faiss_index(view(data.bank16, data.rows, data.d), (dir / "flat.faiss").string(), b);
  EXPECT_NE(desc.find("\"flat\""), std::string::npos) << desc;
  EXPECT_FALSE(fs::exists(dir / ("flat.faiss.tmp-" + std::to_string(::getpid()))));
  IndexSearchOptions s;
  s.k = 10;
  const KnnResult f = search_faiss_index((dir / "flat.faiss").string(), data.q.data(), data.nq, data.d, s);
  const Reference ref = brute_force(data.q, data.nq, data.bank, data.rows, data.d, 10);
  expect_matches(f, ref, data.rows);
  KnnOptions o;
  o.k = 10;
  const KnnResult e = exact_knn(data.q.data(), data.nq, data.d, view(data.bank16, data.rows, data.d), o);
  EXPECT_EQ(recall_at(f, e, 10), 1.0);
  fs::remove_all(dir);
}

TEST(FaissIndex, IvfFlatWithAllListsEqualsExact) {
  SKIP_WITHOUT_FAISS();
  FaissData data;
  const fs::path dir = test_support::fresh_temp_dir("knn_ivf");
  IndexBuildOptions b;
  b.type = "ivf-flat";
  b.nlist = 40;
  build_faiss_index(view(data.bank16, data.rows, data.d), (dir / "ivf.faiss").string(), b);
  IndexSearchOptions s;
  s.k = 10;
  s.nprobe = 40;
  const Reference ref = brute_force(data.q, data.nq, data.bank, data.rows, data.d, 10);
  for (bool mmap : {true, false}) {
    s.mmap = mmap;
    expect_matches(search_faiss_index((dir / "ivf.faiss").string(), data.q.data(), data.nq, data.d, s), ref, data.rows);
  }
  fs::remove_all(dir);
}

TEST(FaissIndex, ApproximateIndexesRecall) {
  SKIP_WITHOUT_FAISS();
  FaissData data;
  KnnOptions o;
  o.k = 10;
  const KnnResult exact = exact_knn(data.q.data(), data.nq, data.d, view(data.bank16, data.rows, data.d), o);
  const fs::path dir = test_support::fresh_temp_dir("knn_approx");
  struct Want {
    const char* type;
    double min_recall;  // recall@10 on 6,000 clustered rows, d = 64
  };
  for (const Want& w : {Want{"hnsw", 0.95}, Want{"ivf-pq", 0.70}, Want{"ivf-flat", 0.95}}) {
    IndexBuildOptions b;
    b.type = w.type;
    b.nlist = 50;
    b.pq_m = 16;
    b.hnsw_m = 16;
    const std::string file = (dir / (std::string(w.type) + ".faiss")).string();
    build_faiss_index(view(data.bank16, data.rows, data.d), file, b);
    IndexSearchOptions s;
    s.k = 10;
    s.nprobe = 10;
    s.ef_search = 64;
    for (bool mmap : {true, false}) {
      s.mmap = mmap;
      const double recall = recall_at(search_faiss_index(file, data.q.data(), data.nq, data.d, s), exact, 10);
      std::printf("  %s (mmap %d): recall@10 %.3f\n", w.type, mmap, recall);
      EXPECT_GE(recall, w.min_recall) << w.type;
    }
  }
  fs::remove_all(dir);
}

TEST(FaissIndex, BuildIsDeterministicForASeed) {
  SKIP_WITHOUT_FAISS();
  FaissData data;
  const fs::path dir = test_support::fresh_temp_dir("knn_seed");
  IndexBuildOptions b;
  b.type = "ivf-pq";
  b.nlist = 20;
  b.pq_m = 8;
  b.train_rows = 10000;
  build_faiss_index(view(data.bank16, data.rows, data.d), (dir / "a.faiss").string(), b);
  build_faiss_index(view(data.bank16, data.rows, data.d), (dir / "b.faiss").string(), b);
  IndexSearchOptions s;
  s.k = 5;
  const KnnResult a = search_faiss_index((dir / "a.faiss").string(), data.q.data(), data.nq, data.d, s);
  const KnnResult c = search_faiss_index((dir / "b.faiss").string(), data.q.data(), data.nq, data.d, s);
  EXPECT_EQ(a.ids, c.ids);
  fs::remove_all(dir);
}

TEST(FaissIndex, DamagedOrMismatchedFilesAreInputErrors) {
  SKIP_WITHOUT_FAISS();
  FaissData data;
  const fs::path dir = test_support::fresh_temp_dir("knn_damaged");
  IndexBuildOptions b;
  b.type = "ivf-flat";
  b.nlist = 16;
  const std::string good = (dir / "good.faiss").string();
  build_faiss_index(view(data.bank16, data.rows, data.d), good, b);
  std::string bytes;
  {
    std::ifstream in(good, std::ios::binary);
    bytes.assign(std::istreambuf_iterator<char>(in), {});
  }
  auto write = [&](const std::string& name, const std::string& content) {
    std::ofstream(dir / name, std::ios::binary) << content;
    return (dir / name).string();
  };
  const std::vector<std::string> damaged = {
      write("truncated.faiss", bytes.substr(0, bytes.size() / 2)),
      write("header_only.faiss", bytes.substr(0, 40)),
      write("garbage.faiss", std::string(4096, '\x5a')),
      write("empty.faiss", ""),
      (dir / "missing.faiss").string(),
  };
  IndexSearchOptions s;
  s.k = 5;
  for (const auto& file : damaged) {
    for (bool mmap : {true, false}) {
      s.mmap = mmap;
      try {
        search_faiss_index(file, data.q.data(), data.nq, data.d, s);
        ADD_FAILURE() << file << " (mmap " << mmap << ") was accepted";
      } catch (const Error& e) {
        EXPECT_EQ(e.kind(), ErrorKind::kInput) << e.what();
        EXPECT_NE(std::string(e.what()).find(file), std::string::npos) << e.what();
      }
    }
  }
  // Right file, wrong query dimension.
  try {
    search_faiss_index(good, data.q.data(), 10, 32, s);
    ADD_FAILURE() << "dimension mismatch accepted";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kInput);
  }
  fs::remove_all(dir);
}

TEST(FaissIndex, BadParametersAreUsageErrors) {
  SKIP_WITHOUT_FAISS();
  FaissData data;
  const fs::path dir = test_support::fresh_temp_dir("knn_params");
  const BankView bank = view(data.bank16, data.rows, data.d);
  auto kind_of = [&](IndexBuildOptions b) {
    try {
      build_faiss_index(bank, (dir / "x.faiss").string(), b);
    } catch (const Error& e) {
      return e.kind();
    }
    return ErrorKind::kInternal;
  };
  IndexBuildOptions b;
  b.type = "lsh";
  EXPECT_EQ(kind_of(b), ErrorKind::kUsage);
  b.type = "ivf-pq";
  b.pq_m = 7;  // does not divide 64
  EXPECT_EQ(kind_of(b), ErrorKind::kUsage);
  b.type = "ivf-flat";
  b.nlist = data.rows + 1;
  EXPECT_EQ(kind_of(b), ErrorKind::kUsage);
  b.nlist = 16;
  try {
    build_faiss_index(bank, (dir / "no" / "such" / "dir.faiss").string(), b);
    ADD_FAILURE() << "unwritable path accepted";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kOutput) << e.what();
  }
  fs::remove_all(dir);
}

// Sharded banks at scale: 1,000,000 rows in 4 shards, one IVF trained once, each shard added with its
// global ids, merged, searched memory-mapped. The merge equals one index filled with every row (same
// lists, same order), and its recall against exact search is what IVF gives.
TEST(FaissIndex, ShardedIvfAtOneMillionRowsMergesToTheSingleIndex) {
  SKIP_WITHOUT_FAISS();
  const int64_t rows = 1000000, d = 32, nq = 100, shards = 4;
  const std::vector<uint16_t> bank16 = to_half(clustered_rows(rows, d, 31));
  const std::vector<float> q = clustered_rows(nq, d, 32);
  const fs::path dir = test_support::fresh_temp_dir("knn_shards");
  IndexBuildOptions b;
  b.type = "ivf-flat";
  b.nlist = 1024;
  b.train_rows = 40960;  // FAISS wants 39 per list
  b.train_only = true;
  const std::string trained = (dir / "trained.faiss").string();
  build_faiss_index(view(bank16, rows, d), trained, b);

  std::vector<std::string> parts;
  const int64_t per_shard = rows / shards;
  for (int64_t s = 0; s < shards; ++s) {
    IndexBuildOptions a;
    a.trained_path = trained;
    a.id_offset = s * per_shard;
    parts.push_back((dir / ("shard" + std::to_string(s) + ".faiss")).string());
    const BankView shard{bank16.data() + s * per_shard * d, StoreDType::kFloat16, per_shard, d};
    build_faiss_index(shard, parts.back(), a);
  }
  std::swap(parts[0], parts[3]);  // ids are global, so the order of the shards does not matter
  const std::string merged = (dir / "merged.faiss").string();
  const std::string desc = merge_faiss_indexes(parts, merged);
  EXPECT_NE(desc.find("\"rows\":1000000"), std::string::npos) << desc;

  IndexBuildOptions whole;
  whole.trained_path = trained;
  const std::string single = (dir / "single.faiss").string();
  build_faiss_index(view(bank16, rows, d), single, whole);

  IndexSearchOptions s;
  s.k = 10;
  s.nprobe = 16;
  s.mmap = true;
  const KnnResult m = search_faiss_index(merged, q.data(), nq, d, s);
  const KnnResult one = search_faiss_index(single, q.data(), nq, d, s);
  // Same candidates and codes; only the order inside a list can differ (shard 3 came first), which
  // changes nothing but ties.
  int64_t same_ids = 0;
  for (size_t i = 0; i < m.ids.size(); ++i) {
    ASSERT_EQ(m.scores[i], one.scores[i]) << "entry " << i;
    same_ids += m.ids[i] == one.ids[i];
  }
  EXPECT_GE(same_ids, static_cast<int64_t>(m.ids.size()) * 99 / 100);
  KnnOptions o;
  o.k = 10;
  const KnnResult exact = exact_knn(q.data(), nq, d, view(bank16, rows, d), o);
  EXPECT_GT(recall_at(m, exact, 10), 0.9);  // IVF-Flat, 16 of 1024 lists probed
  for (int64_t id : m.ids) EXPECT_TRUE(id >= 0 && id < rows);

  // A shard added to a separately trained index cannot be merged.
  IndexBuildOptions other = b;
  other.seed = 99;
  const std::string trained2 = (dir / "trained2.faiss").string();
  build_faiss_index(view(bank16, rows, d), trained2, other);
  IndexBuildOptions a;
  a.trained_path = trained2;
  build_faiss_index(view(bank16, 1000, d), (dir / "foreign.faiss").string(), a);
  try {
    merge_faiss_indexes({parts[0], (dir / "foreign.faiss").string()}, (dir / "bad.faiss").string());
    ADD_FAILURE() << "merged indexes trained separately";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kInput);
    EXPECT_NE(std::string(e.what()).find("foreign.faiss"), std::string::npos) << e.what();
  }
  fs::remove_all(dir);
}
