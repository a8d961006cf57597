// CLIP byte-level BPE (openai/CLIP SimpleTokenizer semantics; see include/clipzs/text/tokenizer.hpp).
//
// Pipeline for one text: clean (text_clean.cpp) -> split into pieces with CLIP's pattern
//   <\|startoftext\|>|<\|endoftext\|>|'s|'t|'re|'ve|'m|'ll|'d|[\p{L}]+|[\p{N}]|[^\s\p{L}\p{N}]+
// (IGNORECASE, `regex` module) -> each piece's UTF-8 bytes as byte-alphabet symbols, the last one
// carrying "</w>" -> lowest-rank-pair merging -> vocabulary ids. Piece results are cached.
#include "clipzs/text/tokenizer.hpp"

#include <zlib.h>

#include <algorithm>
#include <array>
#include <cstdint>
#include <mutex>
#include <nlohmann/json.hpp>
#include <queue>
#include <shared_mutex>
#include <unordered_map>
#include <utility>

#include "clipzs/util/error.hpp"
#include "text/text_clean.hpp"

namespace clipzs {

namespace {

constexpr int kClipMergeCount = 49152 - 256 - 2;  // 48,894: the slice openai/CLIP takes
constexpr const char* kSotToken = "<|startoftext|>";
constexpr const char* kEotToken = "<|endoftext|>";
constexpr std::size_t kCacheLimit = 1 << 18;  // pieces; the cache is dropped when it grows past this

// GPT-2/CLIP byte alphabet: printable Latin-1 bytes stand for themselves, the other 68 bytes are moved
// to U+0100.. in byte order. `order` lists the bytes in vocabulary order (printable ones first).
struct ByteAlphabet {
  std::array<char32_t, 256> encode{};
  std::array<int, 256> vocab_index{};  // position of the byte's symbol among the first 256 tokens
  std::array<std::string, 256> symbol;  // UTF-8 of encode[b]

  ByteAlphabet() {
    std::vector<int> order;
    auto printable = [](int b) { return (b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF); };
    for (int b = 0; b < 256; ++b) {
      if (printable(b)) order.push_back(b);
    }
    int shifted = 0;
    for (int b = 0; b < 256; ++b) {
      if (printable(b)) {
        encode[b] = static_cast<char32_t>(b);
      } else {
        encode[b] = static_cast<char32_t>(256 + shifted++);
        order.push_back(b);
      }
    }
    for (int i = 0; i < 256; ++i) vocab_index[order[i]] = i;
    for (int b = 0; b < 256; ++b) text::append_utf8(symbol[b], encode[b]);
  }
};

const ByteAlphabet& byte_alphabet() {
  static const ByteAlphabet alphabet;
  return alphabet;
}

std::string read_file_maybe_gz(const std::string& path) {
  // gzread passes files that are not gzip through unchanged.
  gzFile f = gzopen(path.c_str(), "rb");
  if (f == nullptr) throw Error(ErrorKind::kModel, "cannot open vocabulary file " + path, "check the path");
  std::string data;
  std::array<char, 1 << 16> buf;
  while (true) {
    const int got = gzread(f, buf.data(), static_cast<unsigned>(buf.size()));
    if (got < 0) {
      int errnum = 0;
      std::string msg = gzerror(f, &errnum);
      gzclose(f);
      throw Error(ErrorKind::kModel, path + ": cannot read (" + msg + ")", "the file is damaged; fetch it again");
    }
    if (got == 0) break;
    data.append(buf.data(), static_cast<std::size_t>(got));
  }
  gzclose(f);
  return data;
}

bool is_valid_utf8(std::string_view s) {
  const std::u32string decoded = text::decode_utf8_lossy(s);
  // U+FFFD written as such is valid; compare against a re-encoding to tell the two apart.
  return text::encode_utf8(decoded) == s;
}

std::string excerpt(std::string_view line) {
  return line.size() <= 60 ? std::string(line) : std::string(line.substr(0, 60)) + "...";
}

[[noreturn]] void bad_line(const std::string& path, std::size_t line, const std::string& what) {
  throw Error(ErrorKind::kModel, path + ":" + std::to_string(line) + ": " + what,
              "the vocabulary file is malformed; use the original, unmodified file");
}

std::vector<std::string_view> split_lines(std::string_view data) {
  std::vector<std::string_view> lines;
  std::size_t pos = 0;
  while (true) {
    const std::size_t nl = data.find('\n', pos);
    if (nl == std::string_view::npos) {
      lines.push_back(data.substr(pos));
      break;
    }
    lines.push_back(data.substr(pos, nl - pos));
    pos = nl + 1;
  }
  return lines;
}

// A merge line split the way Python's str.split() does (on any whitespace); it must give two symbols.
bool split_merge(std::string_view line, std::string& first, std::string& second) {
  const std::u32string cps = text::decode_utf8_lossy(line);
  std::vector<std::u32string> parts;
  std::u32string cur;
  for (char32_t c : cps) {
    if (text::is_py_space(c)) {
      if (!cur.empty()) parts.push_back(std::move(cur));
      cur.clear();
    } else {
      cur.push_back(c);
    }
  }
  if (!cur.empty()) parts.push_back(std::move(cur));
  if (parts.size() != 2) return false;
  first = text::encode_utf8(parts[0]);
  second = text::encode_utf8(parts[1]);
  return true;
}

struct MergeRule {
  std::uint32_t rank;
  std::int32_t merged;
};

inline std::uint64_t pair_key(std::int32_t a, std::int32_t b) {
  return (static_cast<std::uint64_t>(static_cast<std::uint32_t>(a)) << 32) | static_cast<std::uint32_t>(b);
}

// Character classes of the pre-tokenizer. U+0345 (combining ypogegrammeni) matches no alternative of
// the pattern under IGNORECASE in the `regex` module (its case variants are letters, so it is excluded
// from [^\s\p{L}\p{N}] but not accepted by \p{L}); like whitespace it is skipped.
enum class CharClass { kSkip, kLetter, kNumber, kOther };

inline CharClass classify(char32_t c) {
  if (c < 0x80) {
    if ((c | 0x20) >= 'a' && (c | 0x20) <= 'z') return CharClass::kLetter;
    if (c >= '0' && c <= '9') return CharClass::kNumber;
    if (c == ' ' || (c >= 0x09 && c <= 0x0D)) return CharClass::kSkip;
    return CharClass::kOther;
  }
  if (text::is_regex_space(c) || c == 0x0345) return CharClass::kSkip;
  if (text::is_letter(c)) return CharClass::kLetter;
  if (text::is_number(c)) return CharClass::kNumber;
  return CharClass::kOther;
}

// Case-insensitive comparison with an ASCII literal as the `regex` module does it on lower-cased text:
// besides the letter itself only U+017F (long s) folds to an ASCII letter ('s').
inline bool literal_char_matches(char32_t c, char lit) {
  if (c == static_cast<char32_t>(static_cast<unsigned char>(lit))) return true;
  if (lit >= 'a' && lit <= 'z' && c == static_cast<char32_t>(lit - 32)) return true;
  return lit == 's' && c == 0x017F;
}

std::size_t match_literal(std::u32string_view text, std::size_t pos, std::string_view lit) {
  if (text.size() - pos < lit.size()) return 0;
  for (std::size_t k = 0; k < lit.size(); ++k) {
    if (!literal_char_matches(text[pos + k], lit[k])) return 0;
  }
  return lit.size();
}

}  // namespace

struct ClipTokenizer::Impl {
  std::vector<std::string> decoder;  // id -> token (byte-alphabet text, UTF-8); empty for unused ids
  std::unordered_map<std::string, std::int32_t> encoder;
  std::array<std::int32_t, 256> byte_id{};      // symbol of a byte inside a piece
  std::array<std::int32_t, 256> byte_end_id{};  // symbol of a piece's last byte ("...</w>")
  std::unordered_map<std::uint64_t, MergeRule> merges;
  std::int32_t sot = 0;
  std::int32_t eot = 0;

  mutable std::shared_mutex cache_mutex;
  mutable std::unordered_map<std::string, std::vector<std::int32_t>> cache;

  void set_base_ids(const std::string& source) {
    const ByteAlphabet& alphabet = byte_alphabet();
    for (int b = 0; b < 256; ++b) {
      const auto it = encoder.find(alphabet.symbol[b]);
      const auto it_end = encoder.find(alphabet.symbol[b] + "</w>");
      if (it == encoder.end() || it_end == encoder.end()) {
        throw Error(ErrorKind::kModel, source + ": the vocabulary lacks the byte symbol '" + alphabet.symbol[b] + "'",
                    "a CLIP vocabulary has all 256 byte symbols, with and without </w>");
      }
      byte_id[b] = it->second;
      byte_end_id[b] = it_end->second;
    }
  }

  std::int32_t special_id(const std::string& source, const char* token) const {
    const auto it = encoder.find(token);
    if (it == encoder.end()) {
      throw Error(ErrorKind::kModel, source + ": the vocabulary has no " + token + " token", "");
    }
    return it->second;
  }

  // Lowest-rank pair first; every occurrence of that pair is merged left to right (non-overlapping)
  // before pairs are looked at again, exactly like SimpleTokenizer.bpe(). A heap over (rank, position)
  // with lazy invalidation keeps long pieces at O(n log n).
  void bpe(std::vector<std::int32_t>& word) const {
    const std::size_t n = word.size();
    if (n < 2) return;
    std::vector<std::int32_t> next(n), prev(n);
    std::vector<char> alive(n, 1);
    for (std::size_t i = 0; i < n; ++i) {
      next[i] = i + 1 < n ? static_cast<std::int32_t>(i + 1) : -1;
      prev[i] = static_cast<std::int32_t>(i) - 1;
    }
    struct Cand {
      std::uint32_t rank;
      std::int32_t pos;
      std::int32_t left;
      std::int32_t right;
      bool operator>(const Cand& o) const { return rank != o.rank ? rank > o.rank : pos > o.pos; }
    };
    std::priority_queue<Cand, std::vector<Cand>, std::greater<Cand>> heap;
    auto push = [&](std::int32_t pos) {
      if (pos < 0) return;
      const std::int32_t nx = next[pos];
      if (nx < 0) return;
      const auto it = merges.find(pair_key(word[pos], word[nx]));
      if (it != merges.end()) heap.push(Cand{it->second.rank, pos, word[pos], word[nx]});
    };
    for (std::size_t i = 0; i + 1 < n; ++i) push(static_cast<std::int32_t>(i));

    std::vector<Cand> batch;
    std::vector<std::int32_t> touched;
    while (!heap.empty()) {
      const std::uint32_t rank = heap.top().rank;
      batch.clear();
      while (!heap.empty() && heap.top().rank == rank) {
        batch.push_back(heap.top());
        heap.pop();
      }
      // The heap pops equal ranks in position order, so `batch` is already left to right.
      touched.clear();
      for (const Cand& c : batch) {
        if (!alive[c.pos] || word[c.pos] != c.left) continue;
        const std::int32_t nx = next[c.pos];
        if (nx < 0 || word[nx] != c.right) continue;
        word[c.pos] = merges.at(pair_key(c.left, c.right)).merged;
        alive[nx] = 0;
        next[c.pos] = next[nx];
        if (next[nx] >= 0) prev[next[nx]] = c.pos;
        touched.push_back(c.pos);
      }
      // Pairs formed by this round's merges; none of them can be the pair just merged.
      for (std::int32_t pos : touched) {
        if (!alive[pos]) continue;
        push(prev[pos]);
        push(pos);
      }
    }
    std::size_t out = 0;
    for (std::int32_t i = 0; i >= 0; i = next[i]) word[out++] = word[i];
    word.resize(out);
  }

  void encode_piece(const std::string& piece, std::vector<std::int64_t>& out) const {
    {
      std::shared_lock lock(cache_mutex);
      const auto it = cache.find(piece);
      if (it != cache.end()) {
        out.insert(out.end(), it->second.begin(), it->second.end());
        return;
      }
    }
    std::vector<std::int32_t> word(piece.size());
    for (std::size_t i = 0; i < piece.size(); ++i) {
      const auto b = static_cast<unsigned char>(piece[i]);
      word[i] = i + 1 == piece.size() ? byte_end_id[b] : byte_id[b];
    }
    bpe(word);
    out.insert(out.end(), word.begin(), word.end());
    std::unique_lock lock(cache_mutex);
    if (cache.size() >= kCacheLimit) cache.clear();
    cache.emplace(piece, std::move(word));
  }

  // Splits the cleaned text into pieces and appends their ids; stops early once `limit` ids exist.
  void encode_clean(std::u32string_view text, std::vector<std::int64_t>& out, std::size_t limit) const {
    std::string piece;
    const std::size_t n = text.size();
    std::size_t i = 0;
    static constexpr std::string_view kContractions[] = {"'s", "'t", "'re", "'ve", "'m", "'ll", "'d"};
    while (i < n && out.size() < limit) {
      const char32_t c = text[i];
      std::size_t len = 0;
      if (c == '<') {
        if ((len = match_literal(text, i, kSotToken)) > 0 || (len = match_literal(text, i, kEotToken)) > 0) {
          piece.clear();
          for (std::size_t k = 0; k < len; ++k) text::append_utf8(piece, text[i + k]);
          // Only the exact strings are cached as special tokens upstream; a variant spelled with U+017F
          // goes through BPE like any other piece.
          if (piece == kSotToken) {
            out.push_back(sot);
          } else if (piece == kEotToken) {
            out.push_back(eot);
          } else {
            encode_piece(piece, out);
          }
          i += len;
          continue;
        }
      } else if (c == '\'') {
        for (std::string_view lit : kContractions) {
          if ((len = match_literal(text, i, lit)) > 0) break;
        }
      }
      if (len == 0) {
        switch (classify(c)) {
          case CharClass::kSkip:
            ++i;
            continue;
          case CharClass::kLetter:
            len = 1;
            while (i + len < n && classify(text[i + len]) == CharClass::kLetter) ++len;
            break;
          case CharClass::kNumber:
            len = 1;
            break;
          case CharClass::kOther:
            len = 1;
            while (i + len < n && classify(text[i + len]) == CharClass::kOther) ++len;
            break;
        }
      }
      piece.clear();
      for (std::size_t k = 0; k < len; ++k) text::append_utf8(piece, text[i + k]);
      encode_piece(piece, out);
      i += len;
    }
  }
};

ClipTokenizer::ClipTokenizer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
ClipTokenizer::ClipTokenizer(ClipTokenizer&&) noexcept = default;
ClipTokenizer& ClipTokenizer::operator=(ClipTokenizer&&) noexcept = default;
ClipTokenizer::~ClipTokenizer() = default;

ClipTokenizer ClipTokenizer::from_merges_file(const std::string& path, int num_merges) {
  const std::string data = read_file_maybe_gz(path);
  const std::vector<std::string_view> lines = split_lines(data);
  // Line 1 is a header; merges follow. Trailing empty lines (the final newline) are not merges.
  std::size_t available = lines.size() > 0 ? lines.size() - 1 : 0;
  while (available > 0 && lines[available].empty()) --available;
  std::size_t count;
  if (num_merges < 0) {
    count = std::min<std::size_t>(kClipMergeCount, available);
  } else {
    count = static_cast<std::size_t>(num_merges);
    if (count > available) {
      throw Error(ErrorKind::kModel,
                  path + ": has " + std::to_string(available) + " merges, " + std::to_string(count) + " requested",
                  "use the original CLIP merges file");
    }
  }
  if (count == 0 && available == 0 && (lines.empty() || lines[0].empty())) {
    throw Error(ErrorKind::kModel, path + ":1: empty vocabulary file", "use the original CLIP merges file");
  }

  auto impl = std::make_unique<Impl>();
  const ByteAlphabet& alphabet = byte_alphabet();
  std::vector<std::string> vocab(512);
  for (int b = 0; b < 256; ++b) {
    vocab[alphabet.vocab_index[b]] = alphabet.symbol[b];
    vocab[256 + alphabet.vocab_index[b]] = alphabet.symbol[b] + "</w>";
  }
  std::vector<std::pair<std::string, std::string>> rules;
  rules.reserve(count);
  for (std::size_t k = 0; k < count; ++k) {
    const std::size_t line_no = k + 2;  // 1-based, after the header
    const std::string_view line = lines[k + 1];
    if (!is_valid_utf8(line)) bad_line(path, line_no, "not valid UTF-8");
    std::string a, b;
    if (!split_merge(line, a, b)) bad_line(path, line_no, "expected two space-separated symbols, got '" + excerpt(line) + "'");
    vocab.push_back(a + b);
    rules.emplace_back(std::move(a), std::move(b));
  }
  vocab.emplace_back(kSotToken);
  vocab.emplace_back(kEotToken);

  // dict(zip(vocab, range(len(vocab)))): a repeated token keeps its last id.
  impl->encoder.reserve(vocab.size());
  for (std::size_t id = 0; id < vocab.size(); ++id) impl->encoder[vocab[id]] = static_cast<std::int32_t>(id);
  impl->decoder.assign(vocab.size(), std::string());
  for (const auto& [token, id] : impl->encoder) impl->decoder[id] = token;
  impl->set_base_ids(path);
  impl->sot = impl->special_id(path, kSotToken);
  impl->eot = impl->special_id(path, kEotToken);

  // dict(zip(merges, range(...))): a repeated pair keeps its last rank. Pairs whose sides are not
  // tokens can never occur in a word and are left out.
  impl->merges.reserve(rules.size());
  for (std::size_t r = 0; r < rules.size(); ++r) {
    const auto a = impl->encoder.find(rules[r].first);
    const auto b = impl->encoder.find(rules[r].second);
    if (a == impl->encoder.end() || b == impl->encoder.end()) continue;
    const std::int32_t merged = impl->encoder.at(rules[r].first + rules[r].second);
    impl->merges[pair_key(a->second, b->second)] = MergeRule{static_cast<std::uint32_t>(r), merged};
  }
  return ClipTokenizer(std::move(impl));
}

ClipTokenizer ClipTokenizer::from_hf_files(const std::string& vocab_json, const std::string& merges_txt) {
  auto impl = std::make_unique<Impl>();
  {
    const std::string data = read_file_maybe_gz(vocab_json);
    nlohmann::json j;
    try {
      j = nlohmann::json::parse(data);
    } catch (const nlohmann::json::parse_error& e) {
      const std::size_t upto = std::min<std::size_t>(e.byte, data.size());
      const std::size_t line = 1 + static_cast<std::size_t>(std::count(data.begin(), data.begin() + upto, '\n'));
      throw Error(ErrorKind::kModel, vocab_json + ":" + std::to_string(line) + ": invalid JSON (" + e.what() + ")",
                  "vocab.json must map tokens to ids");
    } catch (const nlohmann::json::exception& e) {  // out_of_range: a number like 1e400
      throw Error(ErrorKind::kModel, vocab_json + ": invalid JSON (" + e.what() + ")", "vocab.json must map tokens to ids");
    }
    if (!j.is_object()) {
      throw Error(ErrorKind::kModel, vocab_json + ":1: expected a JSON object of token -> id",
                  "vocab.json must map tokens to ids");
    }
    std::int64_t max_id = -1;
    // Ids index the decoder table, so they must lie in [0, number of tokens): Hugging Face vocabularies
    // number their tokens densely. (A bound of 2^30 let one hostile id allocate 32 GiB.)
    const auto token_count = static_cast<std::int64_t>(j.size());
    for (auto it = j.begin(); it != j.end(); ++it) {
      if (!it.value().is_number_integer() || it.value().get<std::int64_t>() < 0 ||
          it.value().get<std::int64_t>() >= token_count) {
        throw Error(ErrorKind::kModel, vocab_json + ": token '" + it.key() + "' has no valid id",
                    "vocab.json must map its N tokens to the integer ids 0..N-1");
      }
      const auto id = it.value().get<std::int64_t>();
      impl->encoder[it.key()] = static_cast<std::int32_t>(id);
      max_id = std::max(max_id, id);
    }
    impl->decoder.assign(static_cast<std::size_t>(max_id + 1), std::string());
    for (const auto& [token, id] : impl->encoder) impl->decoder[id] = token;
  }
  impl->set_base_ids(vocab_json);
  impl->sot = impl->special_id(vocab_json, kSotToken);
  impl->eot = impl->special_id(vocab_json, kEotToken);

  const std::string data = read_file_maybe_gz(merges_txt);
  const std::vector<std::string_view> lines = split_lines(data);
  std::size_t first = 0;
  if (!lines.empty() && lines[0].substr(0, 8) == "#version") first = 1;
  std::size_t last = lines.size();
  while (last > first && lines[last - 1].empty()) --last;
  std::uint32_t rank = 0;
  for (std::size_t k = first; k < last; ++k, ++rank) {
    const std::size_t line_no = k + 1;
    const std::string_view line = lines[k];
    if (!is_valid_utf8(line)) bad_line(merges_txt, line_no, "not valid UTF-8");
    std::string a, b;
    if (!split_merge(line, a, b)) bad_line(merges_txt, line_no, "expected two space-separated symbols, got '" + excerpt(line) + "'");
    const auto ia = impl->encoder.find(a);
    const auto ib = impl->encoder.find(b);
    const auto im = impl->encoder.find(a + b);
    if (ia == impl->encoder.end() || ib == impl->encoder.end() || im == impl->encoder.end()) {
      bad_line(merges_txt, line_no, "merge '" + a + " " + b + "' uses or makes a token missing from " + vocab_json);
    }
    impl->merges[pair_key(ia->second, ib->second)] = MergeRule{rank, im->second};
  }
  return ClipTokenizer(std::move(impl));
}

std::string ClipTokenizer::clean(std::string_view text) const { return text::encode_utf8(text::clip_clean(text)); }

std::vector<std::int64_t> ClipTokenizer::encode_ids(std::string_view text) const {
  std::vector<std::int64_t> out;
  impl_->encode_clean(text::clip_clean(text), out, static_cast<std::size_t>(-1));
  return out;
}

TokenizedText ClipTokenizer::encode(std::string_view text, int context_length) const {
  if (context_length < 1) {
    throw Error(ErrorKind::kUsage, "context length must be positive, got " + std::to_string(context_length), "");
  }
  const auto cl = static_cast<std::size_t>(context_length);
  TokenizedText result;
  result.ids.reserve(cl + 1);
  result.ids.push_back(impl_->sot);
  // One id past what fits is enough to know that the text is truncated.
  impl_->encode_clean(text::clip_clean(text), result.ids, cl);
  result.ids.push_back(impl_->eot);
  if (result.ids.size() > cl) {
    // open_clip: cut to context_length and force eot into the last slot.
    result.ids.resize(cl);
    result.ids.back() = impl_->eot;
    result.truncated = true;
  }
  // CLIP pools at argmax(ids), i.e. the first eot (eot has the largest id). A literal "<|endoftext|>"
  // in the text therefore moves the pooling position, as it does upstream.
  result.eot_position = static_cast<int>(std::find(result.ids.begin(), result.ids.end(), impl_->eot) - result.ids.begin());
  result.ids.resize(cl, 0);
  return result;
}

std::string ClipTokenizer::decode(const std::vector<std::int64_t>& ids) const {
  // byte alphabet char -> byte
  static const std::unordered_map<char32_t, unsigned char> byte_of = [] {
    std::unordered_map<char32_t, unsigned char> m;
    const ByteAlphabet& alphabet = byte_alphabet();
    for (int b = 0; b < 256; ++b) m[alphabet.encode[b]] = static_cast<unsigned char>(b);
    return m;
  }();
  std::string joined;
  for (std::int64_t id : ids) {
    if (id < 0 || id >= static_cast<std::int64_t>(impl_->decoder.size()) || impl_->decoder[id].empty()) {
      throw Error(ErrorKind::kUsage, "token id " + std::to_string(id) + " is not in the vocabulary", "");
    }
    joined += impl_->decoder[static_cast<std::size_t>(id)];
  }
  std::string bytes;
  for (char32_t c : text::decode_utf8_lossy(joined)) {
    const auto it = byte_of.find(c);
    if (it != byte_of.end()) {
      bytes.push_back(static_cast<char>(it->second));
    } else {
      text::append_utf8(bytes, c);  // a token outside the byte alphabet (only in foreign vocabularies)
    }
  }
  std::string text = text::encode_utf8(text::decode_utf8_lossy(bytes));
  std::string out;
  out.reserve(text.size());
  for (std::size_t i = 0; i < text.size();) {
    if (text.compare(i, 4, "</w>") == 0) {
      out.push_back(' ');
      i += 4;
    } else {
      out.push_back(text[i++]);
    }
  }
  return out;
}

std::int64_t ClipTokenizer::sot_id() const { return impl_->sot; }
std::int64_t ClipTokenizer::eot_id() const { return impl_->eot; }
std::int64_t ClipTokenizer::vocab_size() const { return static_cast<std::int64_t>(impl_->decoder.size()); }

}  // namespace clipzs
