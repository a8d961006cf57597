// Image-caption pair listing from JSON Lines (list_pair_inputs on a .jsonl): per-line JSON, key
// priority, value types, BOM/CR handling, skip accounting; then the run fingerprint.
#include "clipzs/store/pairs.hpp"
#include "fuzz_common.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace clipzs_fuzz;
  const std::string path = put_file("pairs.jsonl", as_view(data, size));
  expect_clipzs_errors_only([&] {
    const clipzs::PairListing l = clipzs::list_pair_inputs(path);
    clipzs::pairs_fingerprint(l.pairs);
  });
  return 0;
}
