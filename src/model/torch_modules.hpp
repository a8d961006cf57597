// Loading a bundle's TorchScript modules: the one place clipzs calls torch::jit::load. ClipModel
// loads both towers through it; a method that runs other entry points of a tower itself (relation's
// anchor prompts go through the text encoder's encode_token_embeddings) loads the tower here too, so
// that device and dtype checks, placement and load errors are the model layer's.
#pragma once

#include <string>
#include <vector>

#include <torch/script.h>

#include "clipzs/store/bundle.hpp"
#include "clipzs/model/model.hpp"

namespace clipzs::model_detail {

// Where a bundle's modules run and in what precision.
struct Placement {
  torch::Device device{torch::kCPU};
  torch::ScalarType dtype = torch::kFloat;
};

// The placement `options` asks for, checked as ClipModel::load checks it: an unknown device name is
// Error(kUsage); cuda without a CUDA LibTorch or a visible device, and fp16 on the CPU, are
// Error(kUnsupported); cuda:N beyond the visible devices is Error(kUsage).
Placement placement_for(const RuntimeOptions& options);
// The same, and (after the device name, before the device) Error(kUnsupported) when `bundle` needs a
// newer LibTorch than this one: ClipModel::load's checks, in its order.
Placement placement_for(const BundleInfo& bundle, const RuntimeOptions& options);

// The module at `path`, loaded on the CPU and in eval mode, with every method of `methods`. Error(kModel)
// naming the file when it does not load (with a hint when it was exported by a newer torch) or lacks a
// method.
torch::jit::Module load_module(const std::string& path, const std::vector<std::string>& methods);

// The bundle's text encoder (bundle.text_file) as load_module gives it, moved to `placement`. Not
// frozen: a caller may backpropagate through it to its inputs.
torch::jit::Module load_text_module(const BundleInfo& bundle, const Placement& placement,
                                    const std::vector<std::string>& methods);

}  // namespace clipzs::model_detail
