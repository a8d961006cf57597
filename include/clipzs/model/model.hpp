// The two CLIP encoders of a bundle, loaded with LibTorch. This header does not include torch: inputs
// and outputs are plain float/int64 buffers, so tools and methods compile without LibTorch headers.
//
// Contract:
//  - encode_images: `images` holds n x 3 x S x S float32 (CHW, normalised with the bundle's mean/std,
//    S = bundle image size). Returns n x D float32, each row L2-normalised.
//  - encode_tokens: `ids` holds n x L int64 token rows (L = bundle context length, eot = max id of a
//    row, as CLIP's pooling assumes). Returns n x D float32, each row L2-normalised.
//  - The forward runs in `dtype` on `device`; results always come back as float32 on the CPU.
//  - Failure modes: a module that does not load, lacks a method, or returns the wrong shape throws
//    Error(kModel) naming the file; --device cuda without a CUDA LibTorch throws Error(kUnsupported).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "clipzs/store/bundle.hpp"
#include "clipzs/util/types.hpp"

namespace clipzs {

// DType, parse_dtype and dtype_name (the model's precision) are in types.hpp.

struct RuntimeOptions {
  std::string device = "cpu";  // "cpu", "cuda", "cuda:N"
  DType dtype = DType::kFloat32;
  int threads = 0;             // LibTorch intra-op threads; 0 keeps LibTorch's default
  bool load_image = true;      // load image_encoder.pt
  bool load_text = true;       // load text_encoder.pt
  bool warmup = false;         // two forwards of one blank image at load (keeps JIT set-up out of timings)
};

// Sets LibTorch's intra-op thread count (process-wide).
void set_torch_threads(int threads);
// What LibTorch this clipzs runs on. Never throws; querying devices without a driver is not an error.
struct TorchRuntimeInfo {
  std::string libtorch_version;  // "1.13.1", "2.11.0": the headers clipzs was compiled against
  bool cuda_compiled = false;    // LibTorch's CUDA library is linked and registered (libtorch_cuda.so)
  std::string cuda_version;      // CUDA runtime LibTorch was built with ("13.0"); empty when not compiled
  std::string cudnn_version;     // "9.19.0"; empty when LibTorch has no cuDNN
  int cuda_devices = 0;          // devices visible now (0 without a GPU or driver)
  std::string no_device_reason;  // why none is visible, as the CUDA runtime said it; empty otherwise
  int threads = 0;               // LibTorch intra-op threads
  std::string summary() const;   // "LibTorch 2.11.0, CUDA 13.0 compiled, no device visible, 2 threads"
};
TorchRuntimeInfo torch_runtime_info();
// True when a CUDA LibTorch sees at least one device.
bool cuda_available();
// torch_runtime_info().summary().
std::string torch_build_info();

class ClipModel {
 public:
  static ClipModel load(const BundleInfo& bundle, const RuntimeOptions& options);
  ClipModel(ClipModel&&) noexcept;
  ClipModel& operator=(ClipModel&&) noexcept;
  ~ClipModel();

  std::vector<float> encode_images(const float* images, int64_t n) const;
  std::vector<float> encode_tokens(const int64_t* ids, int64_t n) const;

  // One forward of each loaded tower on zeros/[sot, eot] rows; checks output shapes against the
  // bundle. Throws Error(kModel) naming the file on any mismatch.
  void check_shapes() const;

  const BundleInfo& bundle() const;
  const RuntimeOptions& options() const;
  int64_t embed_dim() const;

 private:
  struct Impl;
  explicit ClipModel(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// L2-normalises each row of an n x d matrix in place; all-zero rows stay zero.
void l2_normalize_rows(float* data, int64_t n, int64_t d);

}  // namespace clipzs
