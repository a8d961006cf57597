// A --resume whose run was killed after its store was complete (manifest written, process not yet
// gone) has nothing left to do: a requeued cluster job must succeed, not be refused.
#pragma once

#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "clipzs/pipeline/embed.hpp"
#include "clipzs/store/store.hpp"

namespace clipzs::pipeline_detail {

// The summary of the complete store in `dir` when `mode` resumes and the store was made by this very
// run (`identity`), else nothing (the caller opens the store as usual).
inline std::optional<EmbedSummary> completed_run(const std::string& dir, const nlohmann::json& identity, int64_t rows,
                                                 const OpenMode& mode) {
  if (!mode.resume || mode.overwrite) return std::nullopt;
  const nlohmann::json manifest = complete_run_manifest(dir, identity);
  if (manifest.is_null()) return std::nullopt;
  EmbedSummary summary;
  summary.store = dir;
  summary.rows = summary.resumed_rows = rows;
  summary.errors = manifest.value("error_rows", int64_t{0});
  summary.ok = rows - summary.errors;
  return summary;
}

}  // namespace clipzs::pipeline_detail
