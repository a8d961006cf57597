// Tokenizer vocabularies: a CLIP merges file (ClipTokenizer::from_merges_file; gzip or plain), or,
// when the input holds the "\n=====\n" separator, a Hugging Face pair vocab.json + merges.txt
// (from_hf_files). A vocabulary that loads must then encode and decode a fixed text.
#include "clipzs/text/tokenizer.hpp"
#include "fuzz_common.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace clipzs_fuzz;
  const auto parts = split_parts(as_view(data, size), 2);
  expect_clipzs_errors_only([&] {
    clipzs::ClipTokenizer tok =
        parts.size() == 1 ? clipzs::ClipTokenizer::from_merges_file(put_file("merges.txt", parts[0]))
                          : clipzs::ClipTokenizer::from_hf_files(put_file("vocab.json", parts[0]),
                                                                 put_file("merges.txt", parts[1]));
    const clipzs::TokenizedText t = tok.encode("A photo of a <|endoftext|> café, isn't it? 123", 16);
    tok.decode(tok.encode_ids("Hello world"));
    if (t.ids.size() != 16) __builtin_trap();
  });
  return 0;
}
