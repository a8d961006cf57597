// Classification metrics with CLIP_benchmark's names and definitions.
//  acc1 / acc5: fraction of evaluated rows whose label is the top-1 / among the top-5 predictions.
//  mean_per_class_recall: the mean over classes that have at least one row of that class's recall.
//  confusion: C x C counts, row = true class, column = predicted class.
// Rows whose label is negative (unknown) or whose prediction is missing (-1) are not evaluated.
#pragma once

#include <cstdint>
#include <vector>

#include "clipzs/util/types.hpp"

namespace clipzs {

struct ClassificationMetrics {
  int64_t evaluated = 0;
  double acc1 = 0;
  double acc5 = 0;
  double mean_per_class_recall = 0;
  std::vector<int64_t> class_count;      // rows per true class
  std::vector<double> per_class_recall;  // NaN-free: 0 for classes without rows (see class_count)
  std::vector<int64_t> confusion;        // C x C
};

ClassificationMetrics compute_metrics(const std::vector<int64_t>& labels, const Predictions& predictions,
                                      int64_t num_classes);

}  // namespace clipzs
