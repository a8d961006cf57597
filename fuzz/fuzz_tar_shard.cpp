// WebDataset .tar shards (list_pair_inputs on a .tar): ustar/GNU/pax headers, octal and base-256
// numbers, checksums, long names, pax path/size records, grouping of members into samples; then the
// members the listing points at are read back (read_archive_member), as embedding does.
#include "clipzs/store/pairs.hpp"
#include "fuzz_common.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace clipzs_fuzz;
  const std::string path = put_file("shard.tar", as_view(data, size));
  expect_clipzs_errors_only([&] {
    const clipzs::PairListing l = clipzs::list_pair_inputs(path);
    for (const auto& p : l.pairs) {
      // A listed member lies inside the file: reading it must succeed and give `size` bytes.
      if (p.image.offset + p.image.size > size || clipzs::read_archive_member(p.image).size() != p.image.size)
        __builtin_trap();
    }
  });
  return 0;
}
