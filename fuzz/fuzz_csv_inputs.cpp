// CSV/TSV manifests and path lists. The first byte picks the reader ('0'..'3' in the seeds):
//   0: list_image_inputs on a .csv (path/label columns, RFC 4180 quotes, multi-line fields)
//   1: list_image_inputs on a plain path list (comments, tab-separated labels)
//   2: list_pair_inputs on a .csv (image/caption/key columns)
//   3: list_pair_inputs on a .tsv
// The rest of the input is the file.
#include "clipzs/store/inputs.hpp"
#include "clipzs/store/pairs.hpp"
#include "fuzz_common.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace clipzs_fuzz;
  if (size < 1) return 0;
  const int mode = data[0] % 4;
  const std::string_view body = as_view(data + 1, size - 1);
  expect_clipzs_errors_only([&] {
    if (mode == 0 || mode == 1) {
      const auto inputs = clipzs::list_image_inputs(put_file(mode == 0 ? "list.csv" : "list.txt", body));
      clipzs::listing_fingerprint(inputs);
    } else {
      const auto l = clipzs::list_pair_inputs(put_file(mode == 2 ? "pairs.csv" : "pairs.tsv", body));
      clipzs::pairs_fingerprint(l.pairs);
    }
  });
  // The record splitter on its own, on the whole body as one record.
  std::vector<std::string> fields;
  clipzs::split_csv_line(std::string(body), fields);
  return 0;
}
