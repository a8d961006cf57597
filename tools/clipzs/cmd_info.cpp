// `clipzs info`: what this clipzs runs on (LibTorch, CUDA, devices); with --model or --store, validate a
// model bundle (files, hashes, a dry forward) or an embedding store and print what it is.
#include <spdlog/spdlog.h>

#include "clipzs/store/bundle.hpp"
#include "clipzs/model/model.hpp"
#include "clipzs/store/store.hpp"
#include "command.hpp"

namespace clipzs::cli {
namespace {

nlohmann::json runtime_json(const TorchRuntimeInfo& info) {
  nlohmann::json out = {{"libtorch", info.libtorch_version},
                        {"cuda_compiled", info.cuda_compiled},
                        {"cuda_devices", info.cuda_devices},
                        {"threads", info.threads},
                        {"summary", info.summary()}};
  if (info.cuda_compiled) {
    out["cuda_version"] = info.cuda_version;
    out["cudnn_version"] = info.cudnn_version;
    if (info.cuda_devices == 0) out["no_device_reason"] = info.no_device_reason;
  }
  return out;
}


struct InfoCli {
  std::string model_dir, store_dir;
  bool skip_forward = false;
  void run() const;
};

void InfoCli::run() const {
  if (!model_dir.empty() && !store_dir.empty()) throw Error(ErrorKind::kUsage, "give at most one of --model or --store");
  if (model_dir.empty() && store_dir.empty()) {
    const TorchRuntimeInfo runtime = torch_runtime_info();
    spdlog::info("{}", runtime.summary());
    print_summary({{"runtime", runtime_json(runtime)}});
    return;
  }
  if (!store_dir.empty()) {
    Store store = read_store(store_dir, true);
    nlohmann::json out = store.manifest;
    out["verified"] = true;
    print_summary(out);
    return;
  }
  BundleInfo bundle = load_bundle_info(model_dir, true);
  ClipTokenizer tokenizer = load_bundle_tokenizer(bundle);
  if (tokenizer.vocab_size() != bundle.vocab_size)
    throw Error(ErrorKind::kModel, bundle.path_of(bundle.vocab_file) + " gives " + std::to_string(tokenizer.vocab_size()) +
                                       " tokens, bundle.json says text.vocab_size " + std::to_string(bundle.vocab_size));
  nlohmann::json out = bundle.json;
  out["path"] = model_dir;
  out["bundle_sha256"] = bundle.bundle_sha256;
  out["hashes_verified"] = true;
  if (!skip_forward) {
    RuntimeOptions runtime;
    ClipModel model = ClipModel::load(bundle, runtime);
    model.check_shapes();
    out["forward_checked"] = true;
    out["runtime"] = runtime_json(torch_runtime_info());
  }
  print_summary(out);
}

}  // namespace

void register_info(CLI::App& app, Action& action) {
  auto cli = std::make_shared<InfoCli>();
  CLI::App* info = app.add_subcommand(
      "info", "Show the LibTorch and CUDA this clipzs runs on; check and describe a model bundle (--model) or an embedding store (--store)");
  info->add_option("--model", cli->model_dir, "Model bundle folder");
  info->add_option("--store", cli->store_dir, "Embedding store folder");
  info->add_flag("--no-forward", cli->skip_forward, "Skip the dry forward through both encoders");
  info->callback([&action, cli] {
    action = [cli] { cli->run(); };
  });
}

}  // namespace clipzs::cli
