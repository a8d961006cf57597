// CLIP byte-level BPE tokenizer, identical to openai/CLIP's SimpleTokenizer (with ftfy cleaning) and
// open_clip's truncation rule. No LibTorch dependency.
//
// Contract:
//  - Input texts are UTF-8. Invalid UTF-8 bytes are replaced by U+FFFD before cleaning (Python would
//    have failed to decode them; the replacement keeps batch runs going and is documented).
//  - Cleaning: ftfy-style fix (NFC, HTML entities unescaped twice, curly quotes -> ASCII, Latin
//    ligatures expanded, full-width forms -> ASCII), whitespace collapsed and stripped, lower-cased.
//  - encode(): one row of exactly `context_length` ids: [sot] + bpe ids + [eot], zero-padded. Longer
//    inputs are cut to context_length with eot kept as the last id, and `truncated` is set.
//  - Failure modes: constructing from a missing or malformed vocabulary throws clipzs::Error(kModel)
//    naming the file and line.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace clipzs {

struct TokenizedText {
  std::vector<int64_t> ids;  // exactly context_length ids
  bool truncated = false;    // the text needed more than context_length ids
  int eot_position = 0;      // index of the end-of-text id in `ids` (the pooling position)
};

class ClipTokenizer {
 public:
  // From CLIP's merges file (`bpe_simple_vocab_16e6.txt.gz` or the same text uncompressed).
  // `num_merges` < 0 uses the standard CLIP count (48,894) or all merges in the file if fewer.
  static ClipTokenizer from_merges_file(const std::string& path, int num_merges = -1);
  // From Hugging Face's pair: vocab.json (token -> id) and merges.txt.
  static ClipTokenizer from_hf_files(const std::string& vocab_json, const std::string& merges_txt);

  ClipTokenizer(ClipTokenizer&&) noexcept;
  ClipTokenizer& operator=(ClipTokenizer&&) noexcept;
  ~ClipTokenizer();

  // The cleaned text exactly as the BPE step sees it (for debugging parity).
  std::string clean(std::string_view text) const;
  // BPE ids of the cleaned text, without start/end ids and without length limit.
  std::vector<int64_t> encode_ids(std::string_view text) const;
  // One framed, padded row (see the contract above).
  TokenizedText encode(std::string_view text, int context_length = 77) const;
  // Inverse of encode_ids for ids of the BPE vocabulary (special ids become their token strings).
  std::string decode(const std::vector<int64_t>& ids) const;

  int64_t sot_id() const;
  int64_t eot_id() const;
  int64_t vocab_size() const;

 private:
  struct Impl;
  explicit ClipTokenizer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace clipzs
