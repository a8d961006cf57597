#include "clipzs/model/model.hpp"

#include <torch/script.h>
#include <torch/torch.h>
#include <ATen/detail/CUDAHooksInterface.h>
#include <c10/util/Exception.h>

#include <cmath>
#include <cstdio>
#include <sstream>

#include "clipzs/util/error.hpp"
#include "model/torch_modules.hpp"

namespace clipzs {

void set_torch_threads(int threads) {
  if (threads > 0) torch::set_num_threads(threads);
}

namespace {
// The LibTorch headers clipzs was compiled against, "major.minor.patch".
std::string libtorch_version() {
  return std::to_string(TORCH_VERSION_MAJOR) + "." + std::to_string(TORCH_VERSION_MINOR) + "." +
         std::to_string(TORCH_VERSION_PATCH);
}
}  // namespace

TorchRuntimeInfo torch_runtime_info() {
  TorchRuntimeInfo info;
  info.libtorch_version = libtorch_version();
  info.threads = static_cast<int>(torch::get_num_threads());
  // Without libtorch_cuda.so, ATen's CUDA hooks are the stub, whose version queries throw.
  const at::CUDAHooksInterface& hooks = at::detail::getCUDAHooks();
  try {
    const long cudart = hooks.versionCUDART();  // e.g. 13000
    info.cuda_compiled = true;
    info.cuda_version = std::to_string(cudart / 1000) + "." + std::to_string((cudart % 1000) / 10);
  } catch (const c10::Error&) {
    return info;
  }
  // The device query warns (once) when there is no driver: keep that text as the reason instead of
  // letting it reach stderr.
  struct Collect : c10::WarningHandler {
    std::string text;
#if TORCH_VERSION_MAJOR >= 2
    void process(const c10::Warning& warning) override {
      if (text.empty()) text = warning.msg();
    }
#else
    void process(const c10::SourceLocation&, const std::string& msg, const bool) override {
      if (text.empty()) text = msg;
    }
#endif
  } collect;
  {
#if TORCH_VERSION_MAJOR >= 2
    c10::WarningUtils::WarningHandlerGuard guard(&collect);
#else
    c10::Warning::WarningHandlerGuard guard(&collect);
#endif
    try {
      info.cuda_devices = static_cast<int>(torch::cuda::device_count());
    } catch (const c10::Error& e) {
      collect.text = e.what_without_backtrace();
    }
  }
  if (info.cuda_devices == 0) {
    info.no_device_reason = collect.text.empty() ? "the CUDA runtime reports no device" : collect.text;
    const size_t cut = info.no_device_reason.find_first_of("\n");
    if (cut != std::string::npos) info.no_device_reason.resize(cut);
  }
  try {
    if (hooks.hasCuDNN()) {
      const long v = hooks.versionCuDNN();  // 9 x 10000 + minor x 100 + patch (cuDNN 9)
      info.cudnn_version = std::to_string(v / 10000) + "." + std::to_string((v % 10000) / 100) + "." + std::to_string(v % 100);
    }
  } catch (const c10::Error&) {
  }
  return info;
}

std::string TorchRuntimeInfo::summary() const {
  std::ostringstream out;
  out << "LibTorch " << libtorch_version << ", ";
  if (!cuda_compiled)
    out << "CPU only (no CUDA compiled in)";
  else if (cuda_devices == 0)
    out << "CUDA " << cuda_version << " compiled, no device visible";
  else
    out << "CUDA " << cuda_version << " compiled, " << cuda_devices << " device" << (cuda_devices == 1 ? "" : "s");
  out << ", " << threads << " intra-op threads";
  return out.str();
}

bool cuda_available() {
  const TorchRuntimeInfo info = torch_runtime_info();
  return info.cuda_compiled && info.cuda_devices > 0;
}

std::string torch_build_info() { return torch_runtime_info().summary(); }

void l2_normalize_rows(float* data, int64_t n, int64_t d) {
  for (int64_t i = 0; i < n; ++i) {
    float* row = data + i * d;
    double sum = 0;
    for (int64_t j = 0; j < d; ++j) sum += static_cast<double>(row[j]) * row[j];
    if (sum <= 0) continue;
    const float inv = static_cast<float>(1.0 / std::sqrt(sum));
    for (int64_t j = 0; j < d; ++j) row[j] *= inv;
  }
}

namespace {

torch::ScalarType scalar_type(DType dtype) {
  switch (dtype) {
    case DType::kFloat16: return torch::kHalf;
    case DType::kBFloat16: return torch::kBFloat16;
    default: return torch::kFloat;
  }
}

// Error(kUnsupported) when `bundle` needs a newer LibTorch than this one.
void check_libtorch_requirement(const BundleInfo& bundle) {
  if (bundle.min_libtorch.empty()) return;
  int major = 0, minor = 0;
  std::sscanf(bundle.min_libtorch.c_str(), "%d.%d", &major, &minor);
  if (TORCH_VERSION_MAJOR < major || (TORCH_VERSION_MAJOR == major && TORCH_VERSION_MINOR < minor)) {
    std::string by = bundle.export_torch_version.empty() ? "" : " (exported by torch " + bundle.export_torch_version + ")";
    throw Error(ErrorKind::kUnsupported,
                bundle.path_of("bundle.json") + ": this bundle needs LibTorch >= " + bundle.min_libtorch + by +
                    ", and this clipzs runs on LibTorch " + libtorch_version(),
                "use a clipzs built against LibTorch >= " + bundle.min_libtorch +
                    " (docs/building.md), or re-export the model with --attention manual (loads in LibTorch 1.13 and later)");
  }
}

// The checks of ClipModel::load in their order: the device name, the bundle's LibTorch requirement
// (when `bundle` is given), the device, the dtype.
model_detail::Placement checked_placement(const BundleInfo* bundle, const RuntimeOptions& options) {
  model_detail::Placement placement;
  try {
    placement.device = torch::Device(options.device);
  } catch (const c10::Error&) {
    throw Error(ErrorKind::kUsage, "unknown device '" + options.device + "'", "use cpu, cuda or cuda:N");
  }
  if (bundle) check_libtorch_requirement(*bundle);
  if (placement.device.is_cuda()) {
    const TorchRuntimeInfo runtime = torch_runtime_info();
    if (!runtime.cuda_compiled)
      throw Error(ErrorKind::kUnsupported, "device '" + options.device + "' needs a CUDA build of LibTorch",
                  "this clipzs links " + runtime.summary() + "; use device cpu, or build the CUDA variant (docs/building.md)");
    if (runtime.cuda_devices == 0)
      throw Error(ErrorKind::kUnsupported, "device '" + options.device + "': no CUDA device is visible (" + runtime.no_device_reason + ")",
                  "this clipzs links " + runtime.summary() + "; use device cpu on this machine");
    if (placement.device.has_index() && placement.device.index() >= runtime.cuda_devices)
      throw Error(ErrorKind::kUsage, "device '" + options.device + "' does not exist (" + std::to_string(runtime.cuda_devices) +
                                         " CUDA device" + (runtime.cuda_devices == 1 ? "" : "s") + " visible)");
  }
  if (placement.device.is_cpu() && options.dtype == DType::kFloat16)
    throw Error(ErrorKind::kUnsupported, "fp16 is not supported on the CPU by this LibTorch",
                "use " + param("dtype") + " bf16 (fast on CPUs with AVX512-BF16/AMX) or fp32");
  placement.dtype = scalar_type(options.dtype);
  return placement;
}

}  // namespace

namespace model_detail {

Placement placement_for(const RuntimeOptions& options) { return checked_placement(nullptr, options); }

Placement placement_for(const BundleInfo& bundle, const RuntimeOptions& options) { return checked_placement(&bundle, options); }

torch::jit::Module load_module(const std::string& path, const std::vector<std::string>& methods) {
  torch::jit::Module module;
  try {
    module = torch::jit::load(path, torch::kCPU);
  } catch (const c10::Error& e) {
    std::string reason = e.what_without_backtrace();
    if (reason.size() > 400) reason = reason.substr(0, 400) + "...";
    std::string hint = "re-export the bundle with scripts/export_clip.py";
    if (reason.find("Unknown builtin op") != std::string::npos ||
        reason.find("maximum supported version") != std::string::npos)
      hint = "the file was exported by a newer torch than this LibTorch (" + std::to_string(TORCH_VERSION_MAJOR) +
             "." + std::to_string(TORCH_VERSION_MINOR) +
             "); re-export with that torch version and --attention manual (docs/bundle-format.md)";
    throw Error(ErrorKind::kModel, "cannot load TorchScript module '" + path + "': " + reason, hint);
  }
  for (const auto& method : methods)
    if (!module.find_method(method))
      throw Error(ErrorKind::kModel, "TorchScript module '" + path + "' has no method '" + method + "'",
                  "re-export the bundle with scripts/export_clip.py");
  module.eval();
  return module;
}

torch::jit::Module load_text_module(const BundleInfo& bundle, const Placement& placement,
                                    const std::vector<std::string>& methods) {
  torch::jit::Module module = load_module(bundle.path_of(bundle.text_file), methods);
  module.to(placement.device, placement.dtype);
  return module;
}

}  // namespace model_detail

struct ClipModel::Impl {
  BundleInfo bundle;
  RuntimeOptions options;
  torch::Device device{torch::kCPU};
  torch::ScalarType dtype = torch::kFloat;
  torch::jit::Module image_module;
  torch::jit::Module text_module;
  bool has_image = false;
  bool has_text = false;

  std::vector<float> run(torch::jit::Module& module, const std::string& file, torch::Tensor input,
                         int64_t n) {
    torch::InferenceMode guard;
    torch::Tensor out;
    try {
      out = module.forward({input.to(device)}).toTensor();
    } catch (const c10::Error& e) {
      throw Error(ErrorKind::kModel, "forward of '" + file + "' failed: " + e.what_without_backtrace());
    }
    if (out.dim() != 2 || out.size(0) != n || out.size(1) != bundle.embed_dim) {
      std::ostringstream shape;
      shape << out.sizes();
      throw Error(ErrorKind::kModel, "'" + file + "' returned shape " + shape.str() + ", expected [" +
                                         std::to_string(n) + ", " + std::to_string(bundle.embed_dim) + "]",
                  "bundle.json's model.embed_dim must match the exported module");
    }
    out = out.to(torch::kCPU, torch::kFloat).contiguous();
    out = out / out.norm(2, 1, true).clamp_min(1e-12);
    std::vector<float> result(out.data_ptr<float>(), out.data_ptr<float>() + out.numel());
    return result;
  }
};

ClipModel::ClipModel(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
ClipModel::ClipModel(ClipModel&&) noexcept = default;
ClipModel& ClipModel::operator=(ClipModel&&) noexcept = default;
ClipModel::~ClipModel() = default;

ClipModel ClipModel::load(const BundleInfo& bundle, const RuntimeOptions& options) {
  auto impl = std::make_unique<Impl>();
  impl->bundle = bundle;
  impl->options = options;
  const model_detail::Placement placement = model_detail::placement_for(bundle, options);
  impl->device = placement.device;
  impl->dtype = placement.dtype;
  set_torch_threads(options.threads);
  auto prepare = [&](torch::jit::Module& module) {
    module.to(impl->device, impl->dtype);
    if (impl->device.is_cpu()) {
      // Freezing inlines the weights as constants (measured: bf16 ViT-B/32 forward ~10% faster);
      // a graph that cannot be frozen still runs unfrozen.
      try {
        module = torch::jit::freeze(module);
      } catch (const c10::Error&) {
      }
    }
  };
  if (options.load_image) {
    impl->image_module = model_detail::load_module(bundle.path_of(bundle.image_file), {"forward"});
    prepare(impl->image_module);
    impl->has_image = true;
  }

  if (options.load_text) {
    impl->text_module = model_detail::load_text_module(bundle, placement, {"forward"});
    impl->has_text = true;
  }
  ClipModel model(std::move(impl));
  if (options.warmup && options.load_image) {
    // TorchScript's profiling executor optimises the graph during the first two calls; doing them
    // on one blank image keeps that cost out of the first real batch.
    const int64_t s = bundle.preprocess.size;
    std::vector<float> blank(static_cast<size_t>(3 * s * s), 0.0f);
    for (int i = 0; i < 2; ++i) model.encode_images(blank.data(), 1);
  }
  return model;
}

std::vector<float> ClipModel::encode_images(const float* images, int64_t n) const {
  if (!impl_->has_image) throw Error(ErrorKind::kInternal, "image encoder was not loaded");
  const int64_t s = impl_->bundle.preprocess.size;
  torch::Tensor input =
      torch::from_blob(const_cast<float*>(images), {n, 3, s, s}, torch::kFloat).to(impl_->dtype);
  return impl_->run(impl_->image_module, impl_->bundle.image_file, input, n);
}

std::vector<float> ClipModel::encode_tokens(const int64_t* ids, int64_t n) const {
  if (!impl_->has_text) throw Error(ErrorKind::kInternal, "text encoder was not loaded");
  const int64_t l = impl_->bundle.context_length;
  torch::Tensor input = torch::from_blob(const_cast<int64_t*>(ids), {n, l}, torch::kLong).clone();
  return impl_->run(impl_->text_module, impl_->bundle.text_file, input, n);
}

void ClipModel::check_shapes() const {
  if (impl_->has_image) {
    const int64_t s = impl_->bundle.preprocess.size;
    std::vector<float> zeros(static_cast<size_t>(2 * 3 * s * s), 0.0f);
    encode_images(zeros.data(), 2);
  }
  if (impl_->has_text) {
    std::vector<int64_t> ids(static_cast<size_t>(2 * impl_->bundle.context_length), 0);
    ids[0] = ids[impl_->bundle.context_length] = impl_->bundle.sot_id;
    ids[1] = ids[impl_->bundle.context_length + 1] = impl_->bundle.eot_id;
    encode_tokens(ids.data(), 2);
  }
}

const BundleInfo& ClipModel::bundle() const { return impl_->bundle; }
const RuntimeOptions& ClipModel::options() const { return impl_->options; }
int64_t ClipModel::embed_dim() const { return impl_->bundle.embed_dim; }

}  // namespace clipzs
