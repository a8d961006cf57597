// Tokenizing arbitrary text (clean: UTF-8 repair, NFC, HTML entities, ftfy fixes; pre-tokenizer;
// BPE) with CLIP's real vocabulary when ../shared has it (else the tiny test merges, or the file in
// $CLIPZS_FUZZ_MERGES). Texts never make the tokenizer throw, so nothing is caught here; the contract
// of encode() (exact length, eot at eot_position, sot first) and decode() of its own ids are checked.
#include <filesystem>

#include "clipzs/text/tokenizer.hpp"
#include "fuzz_common.hpp"

namespace {

const clipzs::ClipTokenizer& tokenizer() {
  static const clipzs::ClipTokenizer tok = [] {
    std::string path = CLIPZS_SHARED_DIR "/reference/tokenizer/bpe_simple_vocab_16e6.txt.gz";
    if (!std::filesystem::exists(path)) path = CLIPZS_SOURCE_DIR "/tests/fixtures/bundles/tiny-vit/tiny_merges.txt";
    if (const char* env = std::getenv("CLIPZS_FUZZ_MERGES")) path = env;
    std::fprintf(stderr, "fuzz_tokenizer: vocabulary %s\n", path.c_str());
    return clipzs::ClipTokenizer::from_merges_file(path);
  }();
  return tok;
}

}  // namespace

// Loads the vocabulary before fuzzing starts, so the first input is not charged with it (-timeout).
extern "C" int LLVMFuzzerInitialize(int*, char***) {
  tokenizer();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const clipzs::ClipTokenizer& tok = tokenizer();
  if (size < 1) return 0;
  // First byte: a context length in 1..64 for the second, short encode (truncation paths).
  const int short_context = 1 + data[0] % 64;
  const std::string_view text = clipzs_fuzz::as_view(data + 1, size - 1);

  for (int context : {77, short_context}) {
    const clipzs::TokenizedText t = tok.encode(text, context);
    if (t.ids.size() != static_cast<size_t>(context) || t.eot_position < 0 || t.eot_position >= context ||
        t.ids[t.eot_position] != tok.eot_id() || (context > 1 && t.ids[0] != tok.sot_id()))
      __builtin_trap();
  }
  const std::vector<int64_t> ids = tok.encode_ids(text);
  tok.decode(ids);  // every id encode_ids makes is in the vocabulary: must not throw
  tok.clean(text);
  return 0;
}
