// .npy reader (read_npy: magic, version, header dict, shape, payload size) and the value
// conversions every caller applies next. A file that reads back must also survive the writer's
// round trip: npy_header() + payload read again gives the same dtype, shape and bytes.
#include <cstring>

#include "clipzs/store/npy.hpp"
#include "fuzz_common.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace clipzs_fuzz;
  const std::string path = put_file("input.npy", as_view(data, size));
  expect_clipzs_errors_only([&] {
    const clipzs::NpyArray a = clipzs::read_npy(path);
    // The payload must be exactly what the shape and dtype say (read_npy's contract).
    if (a.data.size() != static_cast<size_t>(a.element_count()) * a.item_size()) __builtin_trap();
    std::vector<float> f = a.to_float();
    if (f.size() != static_cast<size_t>(a.element_count())) __builtin_trap();
    if (a.dtype != "<f4" && a.dtype != "<f2" && a.dtype != "<f8") a.to_int64();

    std::string again = clipzs::npy_header(a.dtype, a.shape);
    again.append(reinterpret_cast<const char*>(a.data.data()), a.data.size());
    const clipzs::NpyArray b = clipzs::read_npy(put_file("again.npy", again));
    if (b.dtype != a.dtype || b.shape != a.shape || b.data != a.data) __builtin_trap();
  });
  return 0;
}
