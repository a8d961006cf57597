// ClipTokenizer: parity with openai/CLIP's SimpleTokenizer (ftfy 6.3.1) on the shared reference corpus,
// golden vectors, framing/truncation, cleaning behaviours, vocabulary file errors and the HF file pair.
#include <gtest/gtest.h>
#include <zlib.h>

#include <atomic>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "clipzs/util/error.hpp"
#include "clipzs/text/tokenizer.hpp"

namespace clipzs {
// For EXPECT_EQ on whole rows (found by argument-dependent lookup).
bool operator==(const TokenizedText& a, const TokenizedText& b) {
  return a.ids == b.ids && a.truncated == b.truncated && a.eot_position == b.eot_position;
}
}  // namespace clipzs

namespace fs = std::filesystem;
using clipzs::ClipTokenizer;

namespace {

const fs::path kRefDir = fs::path(CLIPZS_SHARED_DIR) / "reference" / "tokenizer";
const fs::path kMergesPath = kRefDir / "bpe_simple_vocab_16e6.txt.gz";
const fs::path kCasesPath = kRefDir / "clip_tokenizer_cases.jsonl.gz";

bool have_reference() { return fs::exists(kMergesPath) && fs::exists(kCasesPath); }

#define REQUIRE_REFERENCE()                                                                             \
  do {                                                                                                  \
    if (!have_reference()) {                                                                            \
      GTEST_SKIP() << "reference data not found at " << kRefDir.string()                                \
                   << " (../shared/reference is absent, e.g. in a fresh clone): tokenizer parity skipped"; \
    }                                                                                                   \
  } while (0)

// One tokenizer for all tests that use the real vocabulary (loading takes ~0.1 s).
const ClipTokenizer& clip() {
  static const ClipTokenizer tok = ClipTokenizer::from_merges_file(kMergesPath.string());
  return tok;
}

std::string read_gz(const fs::path& path) {
  gzFile f = gzopen(path.string().c_str(), "rb");
  if (f == nullptr) throw std::runtime_error("cannot open " + path.string());
  std::string out;
  char buf[1 << 16];
  int got;
  while ((got = gzread(f, buf, sizeof buf)) > 0) out.append(buf, static_cast<size_t>(got));
  gzclose(f);
  return out;
}

// A fresh temporary directory, removed at the end of the test.
struct TempDir {
  fs::path path;
  TempDir() {
    std::random_device rd;
    path = fs::temp_directory_path() / ("clipzs_tok_" + std::to_string(rd()) + std::to_string(rd()));
    fs::create_directories(path);
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path, ec);
  }
  fs::path write(const std::string& name, const std::string& content) const {
    const fs::path p = path / name;
    std::ofstream(p, std::ios::binary) << content;
    return p;
  }
};

std::vector<int64_t> framed(std::vector<int64_t> ids) {
  ids.insert(ids.begin(), 49406);
  ids.push_back(49407);
  return ids;
}

std::vector<int64_t> unpadded(const clipzs::TokenizedText& t) {
  std::vector<int64_t> ids = t.ids;
  while (!ids.empty() && ids.back() == 0) ids.pop_back();
  return ids;
}

// The GPT-2/CLIP byte alphabet, written independently of the library for the HF-pair tests.
std::vector<std::string> byte_symbols() {
  std::vector<std::string> syms(256);
  int shifted = 0;
  for (int b = 0; b < 256; ++b) {
    const bool printable = (b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
    const unsigned cp = printable ? static_cast<unsigned>(b) : 256u + static_cast<unsigned>(shifted++);
    std::string s;
    if (cp < 0x80) {
      s.push_back(static_cast<char>(cp));
    } else {
      s.push_back(static_cast<char>(0xC0 | (cp >> 6)));
      s.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    }
    syms[b] = s;
  }
  return syms;
}

}  // namespace

// ---------------------------------------------------------------------------------------------------
// Parity with the upstream tokenizer on the shared corpus.

TEST(ClipTokenizer, ReferenceCorpusParity) {
  REQUIRE_REFERENCE();
  const ClipTokenizer& tok = clip();
  const std::string data = read_gz(kCasesPath);
  size_t total = 0, matched = 0, shown = 0;
  size_t pos = 0;
  while (pos < data.size()) {
    size_t nl = data.find('\n', pos);
    if (nl == std::string::npos) nl = data.size();
    const std::string line = data.substr(pos, nl - pos);
    pos = nl + 1;
    if (line.empty()) continue;
    const auto j = nlohmann::json::parse(line);
    const std::string text = j.at("text").get<std::string>();
    const auto expected = j.at("ids").get<std::vector<int64_t>>();
    const bool expected_trunc = j.at("truncated").get<bool>();
    ++total;
    const clipzs::TokenizedText got = tok.encode(text, 77);
    if (got.ids == expected && got.truncated == expected_trunc) {
      ++matched;
    } else if (shown++ < 10) {
      ADD_FAILURE() << "mismatch for " << nlohmann::json(text).dump() << "\n  cleaned: "
                    << nlohmann::json(tok.clean(text)).dump() << "\n  got:      " << nlohmann::json(got.ids).dump()
                    << " truncated=" << got.truncated << "\n  expected: " << nlohmann::json(expected).dump()
                    << " truncated=" << expected_trunc;
    }
  }
  std::printf("[ tokenizer ] reference corpus: %zu / %zu cases identical\n", matched, total);
  EXPECT_EQ(total, 18461u);
  EXPECT_EQ(matched, total);
}

// ---------------------------------------------------------------------------------------------------
// Golden vectors and framing.

TEST(ClipTokenizer, GoldenPhotoOfAFox) {
  REQUIRE_REFERENCE();
  const ClipTokenizer& tok = clip();
  EXPECT_EQ(tok.sot_id(), 49406);
  EXPECT_EQ(tok.eot_id(), 49407);
  EXPECT_EQ(tok.vocab_size(), 49408);
  EXPECT_EQ(tok.encode_ids("a photo of a fox"), (std::vector<int64_t>{320, 1125, 539, 320, 3240}));
  const auto t = tok.encode("a photo of a fox");
  ASSERT_EQ(t.ids.size(), 77u);
  EXPECT_EQ(unpadded(t), (std::vector<int64_t>{49406, 320, 1125, 539, 320, 3240, 49407}));
  EXPECT_FALSE(t.truncated);
  EXPECT_EQ(t.eot_position, 6);
  // Case, surrounding and repeated whitespace do not matter.
  EXPECT_EQ(tok.encode("  A   Photo\tOF a\nFOX "), t);
}

TEST(ClipTokenizer, EmptyAndWhitespaceOnly) {
  REQUIRE_REFERENCE();
  for (const char* text : {"", " ", "\t\n  \r\n", "\xe3\x80\x80"}) {
    const auto t = clip().encode(text);
    ASSERT_EQ(t.ids.size(), 77u);
    EXPECT_EQ(unpadded(t), (std::vector<int64_t>{49406, 49407})) << text;
    EXPECT_FALSE(t.truncated);
    EXPECT_EQ(t.eot_position, 1);
    EXPECT_TRUE(clip().encode_ids(text).empty());
  }
}

TEST(ClipTokenizer, TruncationKeepsEotLast) {
  REQUIRE_REFERENCE();
  std::string text;
  for (int i = 0; i < 40; ++i) text += "a photo of a fox ";
  const auto all = clip().encode_ids(text);
  ASSERT_EQ(all.size(), 200u);
  const auto t = clip().encode(text);
  ASSERT_EQ(t.ids.size(), 77u);
  EXPECT_TRUE(t.truncated);
  EXPECT_EQ(t.ids.front(), 49406);
  EXPECT_EQ(t.ids.back(), 49407);
  EXPECT_EQ(t.eot_position, 76);
  EXPECT_EQ(std::vector<int64_t>(t.ids.begin() + 1, t.ids.end() - 1), std::vector<int64_t>(all.begin(), all.begin() + 75));

  // Exactly 75 ids fit in 77; 76 do not.
  std::string t75, t76;
  for (int i = 0; i < 75; ++i) t75 += "a ";
  t76 = t75 + "a";
  EXPECT_FALSE(clip().encode(t75).truncated);
  EXPECT_EQ(clip().encode(t75).eot_position, 76);
  EXPECT_TRUE(clip().encode(t76).truncated);

  // Other context lengths.
  const auto short_row = clip().encode("a photo of a fox", 4);
  EXPECT_EQ(short_row.ids, (std::vector<int64_t>{49406, 320, 1125, 49407}));
  EXPECT_TRUE(short_row.truncated);
  EXPECT_EQ(short_row.eot_position, 3);
  const auto exact = clip().encode("a photo of a fox", 7);
  EXPECT_EQ(exact.ids, (std::vector<int64_t>{49406, 320, 1125, 539, 320, 3240, 49407}));
  EXPECT_FALSE(exact.truncated);
  try {
    (void)clip().encode("x", 0);
    FAIL() << "context_length 0 accepted";
  } catch (const clipzs::Error& e) {
    EXPECT_EQ(e.kind(), clipzs::ErrorKind::kUsage);
  }
}

TEST(ClipTokenizer, DecodeInvertsEncode) {
  REQUIRE_REFERENCE();
  EXPECT_EQ(clip().decode(clip().encode_ids("A photo of a Fox.")), "a photo of a fox . ");
  EXPECT_EQ(clip().decode(clip().encode_ids("東京タワー café 🐶")), "東京タワー café 🐶 ");
  EXPECT_EQ(clip().decode({49406, 320, 49407}), "<|startoftext|>a <|endoftext|>");
  EXPECT_THROW((void)clip().decode({49408}), clipzs::Error);
  EXPECT_THROW((void)clip().decode({-1}), clipzs::Error);
}

TEST(ClipTokenizer, SpecialTokensInText) {
  REQUIRE_REFERENCE();
  // Upstream matches the special tokens in the text itself; the pooling position follows the first eot.
  EXPECT_EQ(clip().encode_ids("a <|endoftext|> b"), (std::vector<int64_t>{320, 49407, 321}));
  const auto t = clip().encode("a <|EndOfText|> b");
  EXPECT_EQ(t.eot_position, 2);
  EXPECT_EQ(unpadded(t), (std::vector<int64_t>{49406, 320, 49407, 321, 49407}));
}

// ---------------------------------------------------------------------------------------------------
// Cleaning (ftfy + html.unescape + whitespace + lower). Expected strings follow ftfy 6.3.1 / Python.

TEST(ClipTokenizer, CleaningBehaviours) {
  REQUIRE_REFERENCE();
  const ClipTokenizer& tok = clip();
  // HTML entities: ftfy's pass plus two html.unescape passes.
  EXPECT_EQ(tok.clean("&amp; &lt;tag&gt; &quot;q&quot;"), "& <tag> \"q\"");
  EXPECT_EQ(tok.clean("&amp;amp;amp;lt;"), "<");                     // ftfy repeats until stable
  EXPECT_EQ(tok.clean("<b>&amp;amp;amp;lt;</b>"), "<b>&amp;lt;</b>");  // '<' turns ftfy's pass off
  EXPECT_EQ(tok.clean("fish &amp chips &copy2024"), "fish & chips \xc2\xa9" "2024");  // legacy names, no ';'
  EXPECT_EQ(tok.clean("&#8217;s &#x1F600; &#128;"), "'s \xf0\x9f\x98\x80 \xe2\x82\xac");
  EXPECT_EQ(tok.clean("P&EACUTE;REZ"), "p\xc3\xa9rez");  // ftfy's all-caps entity names
  EXPECT_EQ(tok.clean("a&#0;b&#1;c&#xD800;d"), "a\xef\xbf\xbd" "bc\xef\xbf\xbd" "d");
  // Quotes, ligatures, width.
  EXPECT_EQ(tok.clean("\xe2\x80\x9c" "curly\xe2\x80\x9d \xe2\x80\x98q\xe2\x80\x99"), "\"curly\" 'q'");
  EXPECT_EQ(tok.clean("\xef\xac\x81ne \xef\xac\x82owers \xef\xac\x83"), "fine flowers ffi");
  EXPECT_EQ(tok.clean("\xef\xbc\xa6\xef\xbc\xb5\xef\xbc\xac\xef\xbc\xac\xe3\x80\x80\xef\xbd\x94\xef\xbd\x85\xef\xbd\x98\xef\xbd\x94"),
            "full text");
  // Half-width katakana become full-width (ftfy's width map is NFKC on U+FF01..U+FFEF).
  EXPECT_EQ(tok.clean("\xef\xbe\x80\xef\xbd\xb0\xef\xbe\x9d"), "\xe3\x82\xbf\xe3\x83\xbc\xe3\x83\xb3");
  // NFC.
  EXPECT_EQ(tok.clean("cafe\xcc\x81"), "caf\xc3\xa9");
  // Control characters, C1 controls (read as Windows-1252), terminal escapes, BOM, line breaks.
  EXPECT_EQ(tok.clean("a\x01" "b\x0b" "c\x7f" "d"), "abcd");
  EXPECT_EQ(tok.clean("\xef\xbb\xbfhello\xc2\x85"), "hello\xe2\x80\xa6");
  EXPECT_EQ(tok.clean("\x1b[36;44mblue\x1b[0m"), "blue");
  EXPECT_EQ(tok.clean("one\r\ntwo\xe2\x80\xa8three"), "one two three");
  // Python's lower(): full mapping for U+0130, final sigma.
  EXPECT_EQ(tok.clean("\xc4\xb0stanbul"), "i\xcc\x87stanbul");
  EXPECT_EQ(tok.clean("\xce\x9f\xce\x94\xce\x9f\xce\xa3 \xce\xa3\xce\x91"), "\xce\xbf\xce\xb4\xce\xbf\xcf\x82 \xcf\x83\xce\xb1");
  // Invalid UTF-8 becomes U+FFFD (documented in the header).
  EXPECT_EQ(tok.clean("a\xff" "b\xe2\x82"), "a\xef\xbf\xbd" "b\xef\xbf\xbd");
}

TEST(ClipTokenizer, PreTokenizerEdgeCases) {
  REQUIRE_REFERENCE();
  const ClipTokenizer& tok = clip();
  // Contractions split off; a run of punctuation swallows the apostrophe.
  EXPECT_EQ(tok.decode(tok.encode_ids("it's they're")), "it 's they 're ");
  EXPECT_EQ(tok.decode(tok.encode_ids("!!'s")), "!!' s ");
  // Digits are single pieces; letters of any script form runs.
  EXPECT_EQ(tok.decode(tok.encode_ids("b2b 1999")), "b 2 b 1 9 9 9 ");
  // U+0345 alone matches no alternative of the pattern under IGNORECASE and is dropped.
  EXPECT_EQ(tok.encode_ids("a\xcd\x85" "b"), tok.encode_ids("a b"));
}

// ---------------------------------------------------------------------------------------------------
// Vocabulary files.

TEST(ClipTokenizer, MissingMergesFileNamesIt) {
  try {
    (void)ClipTokenizer::from_merges_file("/nonexistent/dir/bpe.txt.gz");
    FAIL() << "no error";
  } catch (const clipzs::Error& e) {
    EXPECT_EQ(e.kind(), clipzs::ErrorKind::kModel);
    EXPECT_NE(std::string(e.what()).find("/nonexistent/dir/bpe.txt.gz"), std::string::npos) << e.what();
  }
}

TEST(ClipTokenizer, MalformedMergesFileNamesFileAndLine) {
  TempDir dir;
  const fs::path p = dir.write("merges.txt", "#version: test\ni n\nt h e\nh e\n");
  try {
    (void)ClipTokenizer::from_merges_file(p.string());
    FAIL() << "no error";
  } catch (const clipzs::Error& e) {
    EXPECT_EQ(e.kind(), clipzs::ErrorKind::kModel);
    const std::string what = e.what();
    EXPECT_NE(what.find(p.string() + ":3"), std::string::npos) << what;
  }
  const fs::path bad_utf8 = dir.write("bad.txt", "#version\ni n\n\xff \xfe\n");
  try {
    (void)ClipTokenizer::from_merges_file(bad_utf8.string());
    FAIL() << "no error";
  } catch (const clipzs::Error& e) {
    EXPECT_EQ(e.kind(), clipzs::ErrorKind::kModel);
    EXPECT_NE(std::string(e.what()).find(bad_utf8.string() + ":3"), std::string::npos) << e.what();
  }
  // Damaged gzip data.
  const fs::path truncated = dir.write("trunc.txt.gz", std::string("\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\x03", 10) + "garbage");
  EXPECT_THROW((void)ClipTokenizer::from_merges_file(truncated.string()), clipzs::Error);
  const fs::path empty = dir.write("empty.txt", "");
  EXPECT_THROW((void)ClipTokenizer::from_merges_file(empty.string()), clipzs::Error);
  // Asking for more merges than the file has.
  const fs::path small = dir.write("small.txt", "#version\ni n\n");
  EXPECT_THROW((void)ClipTokenizer::from_merges_file(small.string(), 5), clipzs::Error);
}

TEST(ClipTokenizer, SmallPlainMergesFile) {
  // Uncompressed file, fewer merges than CLIP's count: all of them are used.
  TempDir dir;
  const fs::path p = dir.write("merges.txt", "#version: test\nh e\nl l\nhe ll\no</w> x\nhell o</w>\n");
  const ClipTokenizer tok = ClipTokenizer::from_merges_file(p.string());
  EXPECT_EQ(tok.vocab_size(), 512 + 5 + 2);
  EXPECT_EQ(tok.sot_id(), 517);
  EXPECT_EQ(tok.eot_id(), 518);
  EXPECT_EQ(tok.encode_ids("hello"), (std::vector<int64_t>{516}));  // "hello</w>" = 512 + rank 4
  EXPECT_EQ(tok.decode(tok.encode_ids("Hello hell")), "hello hell ");
  // With num_merges = 2 only "he" and "ll" exist.
  const ClipTokenizer two = ClipTokenizer::from_merges_file(p.string(), 2);
  EXPECT_EQ(two.encode_ids("hello"), (std::vector<int64_t>{512, 513, 256 + 78}));  // he, ll, o</w>
}

namespace {

// Writes vocab.json + merges.txt for the given merges (joined tokens get consecutive ids after the
// 512 byte symbols), like Hugging Face's files for CLIP.
std::pair<fs::path, fs::path> write_hf_pair(const TempDir& dir, const std::vector<std::pair<std::string, std::string>>& merges,
                                            bool with_specials = true) {
  const auto syms = byte_symbols();
  // Vocabulary order of the byte symbols: printable bytes first, as in CLIP.
  std::vector<int> order;
  for (int pass = 0; pass < 2; ++pass) {
    for (int b = 0; b < 256; ++b) {
      const bool printable = (b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
      if (printable == (pass == 0)) order.push_back(b);
    }
  }
  nlohmann::json vocab = nlohmann::json::object();
  int id = 0;
  for (int b : order) vocab[syms[b]] = id++;
  for (int b : order) vocab[syms[b] + "</w>"] = id++;
  std::string merges_txt = "#version: 0.2\n";
  for (const auto& [a, b] : merges) {
    vocab[a + b] = id++;
    merges_txt += a + " " + b + "\n";
  }
  if (with_specials) {
    vocab["<|startoftext|>"] = id++;
    vocab["<|endoftext|>"] = id++;
  }
  return {dir.write("vocab.json", vocab.dump()), dir.write("merges.txt", merges_txt)};
}

}  // namespace

TEST(ClipTokenizer, HuggingFacePair) {
  TempDir dir;
  const auto [vocab, merges] = write_hf_pair(dir, {{"h", "e"}, {"l", "l"}, {"he", "ll"}, {"hell", "o</w>"}});
  const ClipTokenizer tok = ClipTokenizer::from_hf_files(vocab.string(), merges.string());
  EXPECT_EQ(tok.vocab_size(), 512 + 4 + 2);
  EXPECT_EQ(tok.sot_id(), 516);
  EXPECT_EQ(tok.eot_id(), 517);
  EXPECT_EQ(tok.encode_ids("Hello"), (std::vector<int64_t>{515}));
  // "hel" -> he + l</w>; "o" -> o</w>.
  EXPECT_EQ(tok.encode_ids("hel o"), (std::vector<int64_t>{512, 256 + ('l' - 0x21), 256 + ('o' - 0x21)}));
  const auto row = tok.encode("hello", 5);
  EXPECT_EQ(row.ids, (std::vector<int64_t>{516, 515, 517, 0, 0}));
  EXPECT_EQ(tok.decode(tok.encode_ids("hello hel")), "hello hel ");
}

TEST(ClipTokenizer, HuggingFacePairErrors) {
  TempDir dir;
  {
    const auto [vocab, merges] = write_hf_pair(dir, {{"h", "e"}});
    std::ofstream(merges, std::ios::app) << "x yz\n";  // "yz" is not a token
    try {
      (void)ClipTokenizer::from_hf_files(vocab.string(), merges.string());
      FAIL() << "no error";
    } catch (const clipzs::Error& e) {
      EXPECT_EQ(e.kind(), clipzs::ErrorKind::kModel);
      EXPECT_NE(std::string(e.what()).find(merges.string() + ":3"), std::string::npos) << e.what();
    }
  }
  {
    const auto [vocab, merges] = write_hf_pair(dir, {{"h", "e"}}, /*with_specials=*/false);
    EXPECT_THROW((void)ClipTokenizer::from_hf_files(vocab.string(), merges.string()), clipzs::Error);
  }
  {
    const fs::path bad_json = dir.write("bad.json", "{\n\"a\": 1,\n\"b\": }\n");
    const fs::path merges = dir.write("m.txt", "#version: 0.2\n");
    try {
      (void)ClipTokenizer::from_hf_files(bad_json.string(), merges.string());
      FAIL() << "no error";
    } catch (const clipzs::Error& e) {
      EXPECT_EQ(e.kind(), clipzs::ErrorKind::kModel);
      EXPECT_NE(std::string(e.what()).find(bad_json.string() + ":3"), std::string::npos) << e.what();
    }
  }
}

// The HF pair made from CLIP's own merges tokenizes like the merges file.
TEST(ClipTokenizer, HuggingFacePairMatchesMergesFile) {
  REQUIRE_REFERENCE();
  const std::string data = read_gz(kMergesPath);
  std::vector<std::pair<std::string, std::string>> merges;
  size_t pos = data.find('\n') + 1;
  while (merges.size() < 48894) {
    const size_t nl = data.find('\n', pos);
    ASSERT_NE(nl, std::string::npos) << "merges file shorter than expected";
    const std::string line = data.substr(pos, nl - pos);
    const size_t sp = line.find(' ');
    merges.emplace_back(line.substr(0, sp), line.substr(sp + 1));
    pos = nl + 1;
  }
  TempDir dir;
  const auto [vocab, merges_txt] = write_hf_pair(dir, merges);
  const ClipTokenizer hf = ClipTokenizer::from_hf_files(vocab.string(), merges_txt.string());
  EXPECT_EQ(hf.vocab_size(), 49408);
  for (const char* text : {"a photo of a fox", "itap of a tench.", "東京タワーの写真", "emoji 🐶🐱 party 🎉",
                           "Straße naïve résumé", "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"}) {
    EXPECT_EQ(hf.encode(text).ids, clip().encode(text).ids) << text;
  }
}

// ---------------------------------------------------------------------------------------------------

TEST(ClipTokenizer, ConcurrentEncodingIsConsistent) {
  REQUIRE_REFERENCE();
  const ClipTokenizer tok = ClipTokenizer::from_merges_file(kMergesPath.string());  // cold cache
  std::vector<std::string> texts;
  for (int i = 0; i < 400; ++i) texts.push_back("a photo of a thing number " + std::to_string(i * 7919) + " zq" + std::to_string(i));
  std::vector<std::vector<int64_t>> expected;
  for (const auto& t : texts) expected.push_back(clip().encode(t).ids);
  std::atomic<int> bad{0};
  std::vector<std::thread> threads;
  for (int k = 0; k < 4; ++k) {
    threads.emplace_back([&, k] {
      for (size_t i = 0; i < texts.size(); ++i) {
        const size_t j = (i * 31 + static_cast<size_t>(k) * 101) % texts.size();
        if (tok.encode(texts[j]).ids != expected[j]) ++bad;
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(bad.load(), 0);
}
