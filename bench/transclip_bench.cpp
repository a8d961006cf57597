// TransCLIP (zero-shot) on .npy features, as `adapt transclip` runs it, for scripts/bench/transclip_cpu.sh.
//   transclip_bench FEATURES(n x d) TEXT_PROXIES(d x C) LABELS [--threads T] [--rows N] [--z OUT.npy]
// Prints one JSON line: seconds (solver only, k-NN graph included), accuracies, shape.
#include <chrono>
#include <cstdio>
#include <cstring>
#include <string>

#include <nlohmann/json.hpp>

#include "clipzs/methods/inmap.hpp"
#include "clipzs/model/model.hpp"
#include "clipzs/store/npy.hpp"
#include "clipzs/methods/transclip.hpp"

int main(int argc, char** argv) {
  if (argc < 4) {
    std::fprintf(stderr, "usage: %s FEATURES TEXT_PROXIES LABELS [--threads T] [--rows N] [--z OUT.npy]\n", argv[0]);
    return 2;
  }
  int threads = 0;
  int64_t rows = 0;
  std::string z_out;
  for (int i = 4; i + 1 < argc; i += 2) {
    if (!std::strcmp(argv[i], "--threads")) threads = std::atoi(argv[i + 1]);
    else if (!std::strcmp(argv[i], "--rows")) rows = std::atoll(argv[i + 1]);
    else if (!std::strcmp(argv[i], "--z")) z_out = argv[i + 1];
  }
  try {
    if (threads > 0) clipzs::set_torch_threads(threads);
    clipzs::NpyArray f = clipzs::read_npy(argv[1]);
    clipzs::NpyArray t = clipzs::read_npy(argv[2]);
    std::vector<int64_t> labels = clipzs::read_npy(argv[3]).to_int64();
    clipzs::Matrix x{f.shape[0], f.shape[1], f.to_float()};
    if (rows > 0 && rows < x.rows) {
      x.rows = rows;
      x.data.resize(static_cast<size_t>(rows * x.cols));
      labels.resize(static_cast<size_t>(rows));
    }
    clipzs::check_and_normalize_features(x, argv[1]);
    const clipzs::Matrix text = clipzs::transpose(clipzs::Matrix{t.shape[0], t.shape[1], t.to_float()});
    const auto start = std::chrono::steady_clock::now();
    const clipzs::TransCLIPResult r = clipzs::run_transclip(x, text, {});
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    if (!z_out.empty()) clipzs::write_npy(z_out, r.assignments.data, {r.assignments.rows, r.assignments.cols});
    nlohmann::json out = {{"impl", "clipzs"}, {"n", x.rows}, {"d", x.cols}, {"classes", text.rows}, {"threads", threads},
                          {"seconds", seconds}, {"acc_zero_shot", clipzs::accuracy(r.zero_shot_predictions, labels)},
                          {"acc_transclip", clipzs::accuracy(r.predictions, labels)}};
    std::printf("%s\n", out.dump().c_str());
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "transclip_bench: %s\n", e.what());
    return 1;
  }
}
