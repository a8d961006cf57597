// Model bundle description (load_bundle_info: bundle.json fields, types, ranges, the files map and
// sha256 checks), then load_bundle_tokenizer on what it accepted. The bundle folder holds small
// stand-ins for the encoders and the tiny test merges file; the seeds carry their real sha256, so
// mutations of valid seeds get past the hash check and into the tokenizer settings.
#include <fstream>
#include <sstream>

#include "clipzs/store/bundle.hpp"
#include "fuzz_common.hpp"

namespace {

std::string bundle_dir() {
  static const std::string dir = [] {
    const std::string d = clipzs_fuzz::scratch_dir();
    clipzs_fuzz::put_file("image_encoder.pt", "image encoder stand-in\n");  // sha256 in the seeds
    clipzs_fuzz::put_file("text_encoder.pt", "text encoder stand-in\n");
    std::ifstream in(CLIPZS_SOURCE_DIR "/tests/fixtures/bundles/tiny-vit/tiny_merges.txt", std::ios::binary);
    std::stringstream merges;
    merges << in.rdbuf();
    if (merges.str().empty()) std::abort();  // the fixture is part of the repository
    clipzs_fuzz::put_file("tiny_merges.txt", merges.str());
    return d;
  }();
  return dir;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace clipzs_fuzz;
  const std::string dir = bundle_dir();
  put_file("bundle.json", as_view(data, size));
  expect_clipzs_errors_only([&] {
    const clipzs::BundleInfo info = clipzs::load_bundle_info(dir, /*verify_hashes=*/true);
    clipzs::ClipTokenizer tok = clipzs::load_bundle_tokenizer(info);
    tok.encode("a photo of a dog.", info.context_length > 0 && info.context_length <= 1024 ? info.context_length : 77);
  });
  return 0;
}
