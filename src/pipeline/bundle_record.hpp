// How a store's manifest.json names the bundle that made it: `clipzs verify` re-hashes the bundle at
// "dir" (absolute) and compares with "sha256".
#pragma once

#include <filesystem>

#include <nlohmann/json.hpp>

#include "clipzs/store/bundle.hpp"

namespace clipzs::pipeline_detail {

inline nlohmann::json bundle_record(const BundleInfo& bundle) {
  std::error_code ec;
  const std::filesystem::path dir = std::filesystem::absolute(bundle.dir, ec);
  return {{"name", bundle.name}, {"sha256", bundle.bundle_sha256}, {"source", bundle.source},
          {"dir", ec ? bundle.dir : dir.lexically_normal().string()}, {"logit_scale", bundle.logit_scale}};
}

}  // namespace clipzs::pipeline_detail
