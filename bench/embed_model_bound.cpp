// Model-bound image throughput: the bundle's image encoder on resident, already-normalised tensors,
// through the same ClipModel the CLI uses. Prints one JSON line.
//   embed_model_bound BUNDLE [--dtype fp32|bf16] [--threads T] [--batch B] [--batches K]
#include <chrono>
#include <cstdio>
#include <cstring>
#include <random>
#include <string>

#include "clipzs/store/bundle.hpp"
#include "clipzs/model/model.hpp"

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: %s BUNDLE [--dtype fp32|bf16] [--threads T] [--batch B] [--batches K]\n", argv[0]);
    return 2;
  }
  std::string dtype = "fp32";
  int threads = 0, batch = 32, batches = 4;
  for (int i = 2; i + 1 < argc; i += 2) {
    if (!std::strcmp(argv[i], "--dtype")) dtype = argv[i + 1];
    else if (!std::strcmp(argv[i], "--threads")) threads = std::atoi(argv[i + 1]);
    else if (!std::strcmp(argv[i], "--batch")) batch = std::atoi(argv[i + 1]);
    else if (!std::strcmp(argv[i], "--batches")) batches = std::atoi(argv[i + 1]);
  }
  try {
    clipzs::BundleInfo bundle = clipzs::load_bundle_info(argv[1], false);
    clipzs::RuntimeOptions options;
    options.dtype = clipzs::parse_dtype(dtype);
    options.threads = threads;
    options.load_text = false;
    clipzs::ClipModel model = clipzs::ClipModel::load(bundle, options);
    const int s = bundle.preprocess.size;
    std::vector<float> input(static_cast<size_t>(batch) * 3 * s * s);
    std::mt19937 rng(0);
    std::normal_distribution<float> normal;
    for (auto& v : input) v = normal(rng);
    model.encode_images(input.data(), batch);  // warm-up
    const auto start = std::chrono::steady_clock::now();
    for (int k = 0; k < batches; ++k) model.encode_images(input.data(), batch);
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    std::printf("{\"what\": \"clipzs model-bound\", \"dtype\": \"%s\", \"threads\": %d, \"batch\": %d, \"images\": %d, "
                "\"seconds\": %.3f, \"images_per_second\": %.2f}\n",
                dtype.c_str(), threads, batch, batch * batches, seconds, batch * batches / seconds);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "embed_model_bound: %s\n", e.what());
    return 1;
  }
  return 0;
}
