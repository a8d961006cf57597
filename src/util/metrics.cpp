#include "clipzs/util/metrics.hpp"

#include <algorithm>

#include "clipzs/util/error.hpp"

namespace clipzs {

ClassificationMetrics compute_metrics(const std::vector<int64_t>& labels, const Predictions& p, int64_t num_classes) {
  if (static_cast<int64_t>(labels.size()) != p.rows)
    throw Error(ErrorKind::kInternal, "metrics: labels and predictions differ in length");
  ClassificationMetrics m;
  m.class_count.assign(static_cast<size_t>(num_classes), 0);
  m.per_class_recall.assign(static_cast<size_t>(num_classes), 0.0);
  m.confusion.assign(static_cast<size_t>(num_classes * num_classes), 0);
  std::vector<int64_t> class_correct(static_cast<size_t>(num_classes), 0);
  int64_t top1 = 0, top5 = 0;
  for (int64_t i = 0; i < p.rows; ++i) {
    const int64_t label = labels[static_cast<size_t>(i)];
    const int64_t* top = p.top_index.data() + i * p.k;
    if (label < 0 || label >= num_classes || top[0] < 0) continue;
    ++m.evaluated;
    ++m.class_count[static_cast<size_t>(label)];
    ++m.confusion[static_cast<size_t>(label * num_classes + top[0])];
    if (top[0] == label) {
      ++top1;
      ++class_correct[static_cast<size_t>(label)];
    }
    if (std::find(top, top + std::min<int64_t>(5, p.k), label) != top + std::min<int64_t>(5, p.k)) ++top5;
  }
  if (m.evaluated == 0) return m;
  m.acc1 = static_cast<double>(top1) / static_cast<double>(m.evaluated);
  m.acc5 = static_cast<double>(top5) / static_cast<double>(m.evaluated);
  int64_t present = 0;
  double recall_sum = 0;
  for (int64_t c = 0; c < num_classes; ++c) {
    if (m.class_count[static_cast<size_t>(c)] == 0) continue;
    m.per_class_recall[static_cast<size_t>(c)] =
        static_cast<double>(class_correct[static_cast<size_t>(c)]) / static_cast<double>(m.class_count[static_cast<size_t>(c)]);
    recall_sum += m.per_class_recall[static_cast<size_t>(c)];
    ++present;
  }
  m.mean_per_class_recall = recall_sum / static_cast<double>(present);
  return m;
}

}  // namespace clipzs
