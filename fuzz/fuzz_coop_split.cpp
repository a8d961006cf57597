// CoOp split files (split_zhou_*.json): list_coop_split for each split, coop_classnames, and then
// what evaluation does with them: resolve_labels of the listed labels against the class names.
#include "clipzs/store/dataset.hpp"
#include "fuzz_common.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace clipzs_fuzz;
  const std::string path = put_file("split.json", as_view(data, size));
  std::vector<clipzs::ImageInput> rows;
  for (const char* split : {"train", "val", "test"}) {
    expect_clipzs_errors_only([&] { rows = clipzs::list_coop_split(path, split, "/data/images"); });
  }
  expect_clipzs_errors_only([&] {
    const std::vector<std::string> classes = clipzs::coop_classnames(path);
    std::vector<std::string> labels, paths;
    for (const auto& r : rows) {
      labels.push_back(r.label);
      paths.push_back(r.path);
    }
    clipzs::resolve_labels(labels, paths, classes, clipzs::LabelRule::kAuto);
  });
  return 0;
}
