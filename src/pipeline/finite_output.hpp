// A model that returns NaN or Inf (bad weights, fp16 overflow) must not slip into a store: the batch is
// refused before it is written, so the rows already stored stay and `--resume` continues after a fix.
#pragma once

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "clipzs/util/error.hpp"
#include "clipzs/store/store.hpp"

namespace clipzs::pipeline_detail {

// `out` holds rows x dim model outputs; output row r belongs to records[record_of[r]] (or records[r]
// when record_of is null), the batch's row records with "index" = store row. Throws Error(kModel)
// naming the store rows and their inputs.
inline void require_finite_output(const std::vector<float>& out, int64_t rows, int64_t dim, const char* encoder,
                                  const std::vector<nlohmann::json>& records,
                                  const std::vector<int64_t>* record_of = nullptr) {
  const std::vector<int64_t> bad = nonfinite_rows(out.data(), rows, dim);
  if (bad.empty()) return;
  std::vector<int64_t> store_rows;
  std::vector<std::string> names;
  for (int64_t output_row : bad) {
    const int64_t r = record_of ? (*record_of)[static_cast<size_t>(output_row)] : output_row;
    const bool known = r < static_cast<int64_t>(records.size());
    store_rows.push_back(known ? records[static_cast<size_t>(r)].value("index", r) : r);
    names.push_back(known ? record_name(records[static_cast<size_t>(r)]) : std::string());
  }
  throw Error(ErrorKind::kModel, std::string("the ") + encoder + " returned NaN or Inf for " + describe_rows(store_rows, names),
              "check the model bundle (" + call("info") + " " + param("model") + ") or try " + param("dtype") + " fp32; the rows stored so far are kept, rerun "
              "with " + param("resume") + " after the fix");
}

}  // namespace clipzs::pipeline_detail
