#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>

#include "clipzs/util/error.hpp"
#include "clipzs/store/inputs.hpp"
#include "clipzs/store/pairs.hpp"
#include "../test_support.hpp"

namespace fs = std::filesystem;
using namespace clipzs;
using namespace std::string_literals;

namespace {

void write(const fs::path& path, const std::string& content) {
  fs::create_directories(path.parent_path());
  std::ofstream out(path, std::ios::binary);
  out << content;
}

std::string bytes_of(const std::vector<uint8_t>& v) { return std::string(v.begin(), v.end()); }

// Error message of list_pair_inputs(input); fails the test when it does not throw Error(kInput).
std::string input_error(const std::string& input) {
  try {
    list_pair_inputs(input);
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kInput) << e.what();
    return e.what();
  }
  ADD_FAILURE() << "no error for " << input;
  return "";
}

// Writes ustar archives by hand, recording where each member's data lands.
class TarBuilder {
 public:
  // A plain member; `prefix` fills the ustar prefix field (the path is prefix + "/" + name).
  void add(const std::string& name, const std::string& data, char type = '0', const std::string& prefix = "") {
    bytes_ += header(name, data.size(), type, prefix);
    offsets_[prefix.empty() ? name : prefix + "/" + name] = bytes_.size();
    bytes_ += data;
    pad();
  }
  // A member whose name does not fit the header: a GNU 'L' record carries it.
  void add_gnu_long(const std::string& name, const std::string& data) {
    bytes_ += header("././@LongLink", name.size() + 1, 'L');
    bytes_ += name + '\0';
    pad();
    bytes_ += header(name.substr(0, 99), data.size(), '0');
    offsets_[name] = bytes_.size();
    bytes_ += data;
    pad();
  }
  // The same through a pax extended header with a `path` record.
  void add_pax_path(const std::string& name, const std::string& data) {
    std::string body = " path=" + name + "\n";
    size_t len = body.size() + 1;
    while (std::to_string(len).size() + body.size() != len) ++len;
    std::string records = std::to_string(len) + body + "20 mtime=1700000000\n";
    bytes_ += header("PaxHeaders/x", records.size(), 'x');
    bytes_ += records;
    pad();
    bytes_ += header("truncated-name", data.size(), '0');
    offsets_[name] = bytes_.size();
    bytes_ += data;
    pad();
  }
  std::string finish() const { return bytes_ + std::string(1024, '\0'); }
  uint64_t offset(const std::string& name) const { return offsets_.at(name); }

 private:
  static void octal(char* field, size_t width, uint64_t value) {
    std::snprintf(field, width, "%0*llo", static_cast<int>(width - 1), static_cast<unsigned long long>(value));
  }
  static std::string header(const std::string& name, uint64_t size, char type, const std::string& prefix = "") {
    std::string h(512, '\0');
    name.copy(&h[0], std::min<size_t>(name.size(), 100));
    octal(&h[100], 8, 0644);
    octal(&h[108], 8, 1000);
    octal(&h[116], 8, 1000);
    octal(&h[124], 12, size);
    octal(&h[136], 12, 1700000000);
    h[156] = type;
    std::memcpy(&h[257], "ustar\0" "00", 8);
    prefix.copy(&h[345], std::min<size_t>(prefix.size(), 155));
    std::fill(h.begin() + 148, h.begin() + 156, ' ');
    unsigned sum = 0;
    for (unsigned char c : h) sum += c;
    std::snprintf(&h[148], 8, "%06o", sum);  // 6 digits, NUL, then the space already there
    h[155] = ' ';
    return h;
  }
  void pad() { bytes_.append((512 - bytes_.size() % 512) % 512, '\0'); }

  std::string bytes_;
  std::map<std::string, uint64_t> offsets_;
};

}  // namespace

TEST(PairsTable, CsvQuotesEmbeddedNewlinesAndRelativePaths) {
  fs::path dir = test_support::fresh_temp_dir("pairs_csv");
  write(dir / "t" / "pairs.csv",
        "\xEF\xBB\xBFId,Image,Caption,extra\r\n"
        "a,imgs/a.jpg,\"a dog, \"\"barking\"\"\",x\r\n"
        "b,/abs/b.png,\"first line\nsecond line\",y\r\n"
        "\r\n"
        ",../up/c.jpg, plain caption ,z\r\n"
        "d,d.jpg,,w\r\n");
  PairListing l = list_pair_inputs((dir / "t" / "pairs.csv").string());
  ASSERT_EQ(l.pairs.size(), 3u);
  EXPECT_EQ(l.pairs[0].image.path, (dir / "t" / "imgs" / "a.jpg").string());
  EXPECT_EQ(l.pairs[0].caption, "a dog, \"barking\"");
  EXPECT_EQ(l.pairs[0].key, "a");
  EXPECT_FALSE(l.pairs[0].image.in_archive());
  EXPECT_EQ(l.pairs[1].image.path, "/abs/b.png");
  EXPECT_EQ(l.pairs[1].caption, "first line\nsecond line");
  EXPECT_EQ(l.pairs[2].image.path, (dir / "up" / "c.jpg").string());
  EXPECT_EQ(l.pairs[2].caption, "plain caption");
  EXPECT_EQ(l.pairs[2].key, "2");  // empty key: the data row number, from 0
  EXPECT_TRUE(l.pairs[2].metadata.empty());
  EXPECT_EQ(l.skipped, 1);
  ASSERT_EQ(l.warnings.size(), 1u);
  // The embedded newline makes the last row line 7 of the file.
  EXPECT_EQ(l.warnings[0], (dir / "t" / "pairs.csv").string() + ":7: row has no caption");
}

TEST(PairsTable, CsvUnterminatedQuoteNamesTheRow) {
  fs::path dir = test_support::fresh_temp_dir("pairs_csv_quote");
  write(dir / "p.csv", "image,caption\na.jpg,ok\nb.jpg,\"never closed\nstill open\n");
  std::string msg = input_error((dir / "p.csv").string());
  EXPECT_NE(msg.find((dir / "p.csv").string() + ":3: unterminated quoted field"), std::string::npos) << msg;
}

TEST(PairsTable, TsvSplitsOnTabsAndNumbersRows) {
  fs::path dir = test_support::fresh_temp_dir("pairs_tsv");
  write(dir / "p.tsv", "path\ttext\n x/1.jpg \tone, \"quoted\"\r\n2.jpg\ttwo\n");
  PairListing l = list_pair_inputs((dir / "p.tsv").string());
  ASSERT_EQ(l.pairs.size(), 2u);
  EXPECT_EQ(l.pairs[0].image.path, (dir / "x" / "1.jpg").string());
  EXPECT_EQ(l.pairs[0].caption, "one, \"quoted\"");  // no CSV quoting in TSV
  EXPECT_EQ(l.pairs[0].key, "0");
  EXPECT_EQ(l.pairs[1].caption, "two");
  EXPECT_EQ(l.pairs[1].key, "1");
  EXPECT_EQ(l.skipped, 0);
}

TEST(PairsTable, JsonlKeysNamesAndSkips) {
  fs::path dir = test_support::fresh_temp_dir("pairs_jsonl");
  write(dir / "p.jsonl",
        "{\"image\": \"a.jpg\", \"caption\": \"a cat\", \"key\": 42}\n"
        "\n"
        "{\"path\": \"/x/b.jpg\", \"text\": \"b\", \"id\": \"bee\"}\n"
        "{\"img\": \"c.jpg\", \"title\": null}\n"
        "{\"image\": \"d.jpg\", \"path\": \"ignored.jpg\", \"caption\": \"d\", \"txt\": \"ignored\"}\n");
  PairListing l = list_pair_inputs((dir / "p.jsonl").string());
  ASSERT_EQ(l.pairs.size(), 3u);
  EXPECT_EQ(l.pairs[0].image.path, (dir / "a.jpg").string());
  EXPECT_EQ(l.pairs[0].caption, "a cat");
  EXPECT_EQ(l.pairs[0].key, "42");
  EXPECT_EQ(l.pairs[1].image.path, "/x/b.jpg");
  EXPECT_EQ(l.pairs[1].key, "bee");
  EXPECT_EQ(l.pairs[2].image.path, (dir / "d.jpg").string());  // `image` wins over `path`
  EXPECT_EQ(l.pairs[2].caption, "d");
  EXPECT_EQ(l.pairs[2].key, "3");
  EXPECT_EQ(l.skipped, 1);
  ASSERT_EQ(l.warnings.size(), 1u);
  EXPECT_EQ(l.warnings[0], (dir / "p.jsonl").string() + ":4: line has no caption");
}

TEST(PairsTable, MalformedJsonlLineIsNamed) {
  fs::path dir = test_support::fresh_temp_dir("pairs_jsonl_bad");
  write(dir / "p.jsonl", "{\"image\": \"a.jpg\", \"caption\": \"a\"}\n\n{\"image\": \"b.jpg\", \"caption\": }\n");
  std::string msg = input_error((dir / "p.jsonl").string());
  EXPECT_EQ(msg.rfind((dir / "p.jsonl").string() + ":3: malformed JSON", 0), 0u) << msg;

  write(dir / "q.jsonl", "[\"image\", \"a.jpg\"]\n");
  msg = input_error((dir / "q.jsonl").string());
  EXPECT_NE(msg.find("q.jsonl:1: expected a JSON object"), std::string::npos) << msg;

  write(dir / "r.jsonl", "{\"image\": 7, \"caption\": \"a\"}\n");
  msg = input_error((dir / "r.jsonl").string());
  EXPECT_NE(msg.find("r.jsonl:1: the image must be a string"), std::string::npos) << msg;

  write(dir / "s.jsonl", "{\"picture\": \"a.jpg\", \"caption\": \"a\"}\n");
  msg = input_error((dir / "s.jsonl").string());
  EXPECT_NE(msg.find("no line has an image key"), std::string::npos) << msg;
}

TEST(PairsTable, MissingColumnsAreNamed) {
  fs::path dir = test_support::fresh_temp_dir("pairs_cols");
  write(dir / "nocap.csv", "image,label\na.jpg,x\n");
  std::string msg = input_error((dir / "nocap.csv").string());
  EXPECT_EQ(msg.rfind((dir / "nocap.csv").string() + ":1: the header has no caption column", 0), 0u) << msg;
  EXPECT_NE(msg.find("image,label"), std::string::npos) << msg;

  write(dir / "noimg.tsv", "url\tcaption\nhttp://x\ty\n");
  msg = input_error((dir / "noimg.tsv").string());
  EXPECT_EQ(msg.rfind((dir / "noimg.tsv").string() + ":1: the header has no image column", 0), 0u) << msg;
  try {
    list_pair_inputs((dir / "noimg.tsv").string());
  } catch (const Error& e) {
    EXPECT_NE(e.hint().find("'filepath'"), std::string::npos) << e.hint();
  }

  write(dir / "empty.csv", "");
  EXPECT_NE(input_error((dir / "empty.csv").string()).find("is empty"), std::string::npos);
  write(dir / "only_header.csv", "image,caption\n");
  EXPECT_NE(input_error((dir / "only_header.csv").string()).find("lists no image-caption pairs"), std::string::npos);
  EXPECT_NE(input_error((dir / "missing.csv").string()).find("does not exist"), std::string::npos);
  write(dir / "p.txt", "a.jpg\n");
  EXPECT_NE(input_error((dir / "p.txt").string()).find("unsupported"), std::string::npos);
}

TEST(PairsTar, GroupsMembersByKeyWithCaptionsMetadataAndOffsets) {
  fs::path dir = test_support::fresh_temp_dir("pairs_tar");
  const std::string long_dir = std::string(90, 'd');  // pushes the path past the 100-byte name field
  const std::string jpg0 = "\xFF\xD8\xFF\xE0 fake jpeg 0 \x00\x01"s, png1(700, 'p'), webp2 = "RIFF....WEBP",
                    jpg4 = std::string(512, 'j'), jpg6 = "six";
  TarBuilder t;
  t.add("00000/", "", '5');                                          // directory: ignored
  t.add("00000/000000000.jpg", jpg0);
  t.add("00000/000000000.txt", "  a cat on a mat \n");
  t.add("00000/000000000.json", "{\"url\": \"http://x/0.jpg\"}");
  t.add_gnu_long(long_dir + "/000000001.PNG", png1);
  t.add_pax_path("00000/000000002.webp", webp2);
  t.add_gnu_long(long_dir + "/000000001.txt", "\xEF\xBB\xBF" "caption one\xC3\xA9");
  t.add("00000/000000003.jpg", "no caption here");                  // skipped: no caption
  t.add("00000/000000002.txt", "two");
  t.add("000000004.jpg", jpg4, '0', "deep/prefix");                 // ustar prefix field
  t.add("000000004.txt", "four", '0', "deep/prefix");
  t.add("00000/000000005.jpg", "");                                 // skipped: empty image
  t.add("00000/000000005.txt", "five");
  t.add("00000/000000006.seg.png", "not the image");
  t.add("00000/000000006.jpeg", jpg6);
  t.add("00000/000000006.txt", "six");
  t.add("00000/link.jpg", "", '2');                                 // symlink: ignored
  t.add("00000/._000000006.jpg", "apple double");                   // no key: ignored
  write(dir / "shard.tar", t.finish());
  const std::string shard = (dir / "shard.tar").string();

  PairListing l = list_pair_inputs(shard);
  ASSERT_EQ(l.pairs.size(), 5u);
  const std::vector<std::string> keys{"00000/000000000", long_dir + "/000000001", "00000/000000002",
                                      "deep/prefix/000000004", "00000/000000006"};
  const std::vector<std::string> captions{"a cat on a mat", "caption one\xC3\xA9", "two", "four", "six"};
  const std::vector<std::string> members{"00000/000000000.jpg", long_dir + "/000000001.PNG",
                                         "00000/000000002.webp", "deep/prefix/000000004.jpg",
                                         "00000/000000006.jpeg"};
  const std::vector<std::string> data{jpg0, png1, webp2, jpg4, jpg6};
  for (size_t i = 0; i < l.pairs.size(); ++i) {
    const PairInput& p = l.pairs[i];
    SCOPED_TRACE(keys[i]);
    EXPECT_EQ(p.key, keys[i]);
    EXPECT_EQ(p.caption, captions[i]);
    EXPECT_EQ(p.image.path, shard);
    EXPECT_EQ(p.image.member, members[i]);
    EXPECT_EQ(p.image.offset, t.offset(members[i]));
    EXPECT_EQ(p.image.size, data[i].size());
    EXPECT_TRUE(p.image.in_archive());
    EXPECT_EQ(bytes_of(read_archive_member(p.image)), data[i]);
  }
  EXPECT_EQ(l.pairs[0].metadata, "{\"url\": \"http://x/0.jpg\"}");
  EXPECT_EQ(l.pairs[1].metadata, "");
  EXPECT_EQ(l.pairs[0].image.display_name(), shard + ":00000/000000000.jpg");

  EXPECT_EQ(l.skipped, 2);
  ASSERT_EQ(l.warnings.size(), 2u);
  EXPECT_EQ(l.warnings[0], shard + ": sample 00000/000000003 has no caption");
  EXPECT_EQ(l.warnings[1], shard + ": sample 00000/000000005 has an empty image");
}

TEST(PairsTar, WarningsNameOnlyTheFirstFiveSkips) {
  fs::path dir = test_support::fresh_temp_dir("pairs_tar_warn");
  TarBuilder t;
  for (int i = 0; i < 8; ++i) t.add(std::to_string(i) + ".jpg", "img");
  t.add("8.jpg", "img");
  t.add("8.txt", "eight");
  t.add("9.txt", "caption without image");
  write(dir / "s.tar", t.finish());
  PairListing l = list_pair_inputs((dir / "s.tar").string());
  ASSERT_EQ(l.pairs.size(), 1u);
  EXPECT_EQ(l.pairs[0].key, "8");
  EXPECT_EQ(l.skipped, 9);
  ASSERT_EQ(l.warnings.size(), 5u);
  EXPECT_EQ(l.warnings[4], (dir / "s.tar").string() + ": sample 4 has no caption");
}

TEST(PairsTar, FolderReadsShardsInNameOrder) {
  fs::path dir = test_support::fresh_temp_dir("pairs_folder");
  TarBuilder a, b;
  a.add("00000/1.jpg", "a1");
  a.add("00000/1.txt", "first of a");
  a.add("00000/0.jpg", "a0");  // appears after 1: order of first appearance
  a.add("00000/0.txt", "second of a");
  b.add("00001/0.jpg", "b0");
  b.add("00001/0.txt", "only of b");
  write(dir / "00001.tar", b.finish());
  write(dir / "00000.tar", a.finish());
  write(dir / "00000.parquet", "PAR1 not read");
  write(dir / "00000_stats.json", "{}");
  write(dir / "sub" / "99999.tar", "not read either");

  PairListing l = list_pair_inputs(dir.string());
  ASSERT_EQ(l.pairs.size(), 3u);
  EXPECT_EQ(l.pairs[0].key, "00000/1");
  EXPECT_EQ(l.pairs[1].key, "00000/0");
  EXPECT_EQ(l.pairs[2].key, "00001/0");
  EXPECT_EQ(l.pairs[0].image.path, (dir / "00000.tar").string());
  EXPECT_EQ(l.pairs[2].image.path, (dir / "00001.tar").string());
  EXPECT_EQ(bytes_of(read_archive_member(l.pairs[1].image)), "a0");
  EXPECT_EQ(l.pairs[2].caption, "only of b");

  fs::path empty = test_support::fresh_temp_dir("pairs_folder_empty");
  write(empty / "x.parquet", "");
  EXPECT_NE(input_error(empty.string()).find("holds no .tar shards"), std::string::npos);
}

TEST(PairsTar, TruncatedOrDamagedShardNamesShardAndOffset) {
  fs::path dir = test_support::fresh_temp_dir("pairs_tar_bad");
  TarBuilder t;
  t.add("0.jpg", std::string(600, 'x'));  // header at 0, data 512..1112, padded to 1536
  t.add("0.txt", "zero");                 // header at 1536
  const std::string full = t.finish();

  write(dir / "cut_header.tar", full.substr(0, 1536 + 100));
  std::string msg = input_error((dir / "cut_header.tar").string());
  EXPECT_NE(msg.find((dir / "cut_header.tar").string() + ": damaged tar header at byte 1536"), std::string::npos) << msg;
  EXPECT_NE(msg.find("truncated"), std::string::npos) << msg;

  write(dir / "cut_data.tar", full.substr(0, 800));
  msg = input_error((dir / "cut_data.tar").string());
  EXPECT_NE(msg.find("cut_data.tar: damaged tar header at byte 0"), std::string::npos) << msg;
  EXPECT_NE(msg.find("past the end"), std::string::npos) << msg;

  std::string bad = full;
  bad[1536 + 10] ^= 0x20;  // flip a bit of the second member's name
  write(dir / "bad_sum.tar", bad);
  msg = input_error((dir / "bad_sum.tar").string());
  EXPECT_NE(msg.find("bad_sum.tar: damaged tar header at byte 1536: checksum mismatch"), std::string::npos) << msg;

  write(dir / "not_a.tar", std::string(2048, 'A'));
  msg = input_error((dir / "not_a.tar").string());
  EXPECT_NE(msg.find("byte 0"), std::string::npos) << msg;

  // Cut exactly after the last member: complete samples, no end marker; accepted like other readers do.
  write(dir / "no_end.tar", full.substr(0, full.size() - 1024));
  EXPECT_EQ(list_pair_inputs((dir / "no_end.tar").string()).pairs.size(), 1u);
}

TEST(PairsTar, ReadsPythonTarfileShards) {
  if (!fs::exists("/usr/bin/python3")) GTEST_SKIP() << "no /usr/bin/python3";
  fs::path dir = test_support::fresh_temp_dir("pairs_pytar");
  write(dir / "make.py", R"PY(
import io, sys, tarfile
def shard(path, fmt):
    with tarfile.open(path, "w", format=fmt) as tar:
        for key, img, cap in [("s/" + "L" * 120 + "/000", b"\x89PNG" + bytes(range(256)) * 3, "long named"),
                              ("s/001", b"jpg-bytes", "caf\u00e9 \u2014 ok"),
                              ("s/002", b"x" * 513, None)]:
            for ext, data in [("png" if key.endswith("000") else "jpg", img),
                              ("txt", cap.encode() if cap else None), ("json", b'{"k": "%s"}' % key[-3:].encode())]:
                if data is None: continue
                info = tarfile.TarInfo(key + "." + ext)
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
shard(sys.argv[1] + "/a_pax.tar", tarfile.PAX_FORMAT)
shard(sys.argv[1] + "/b_gnu.tar", tarfile.GNU_FORMAT)
)PY");
  const std::string cmd = "/usr/bin/python3 '" + (dir / "make.py").string() + "' '" + dir.string() + "'";
  ASSERT_EQ(std::system(cmd.c_str()), 0) << cmd;
  PairListing l = list_pair_inputs(dir.string());
  ASSERT_EQ(l.pairs.size(), 4u);
  EXPECT_EQ(l.skipped, 2);
  for (size_t shard = 0; shard < 2; ++shard) {
    const PairInput& p0 = l.pairs[shard * 2];
    const PairInput& p1 = l.pairs[shard * 2 + 1];
    EXPECT_EQ(p0.image.path, (dir / (shard == 0 ? "a_pax.tar" : "b_gnu.tar")).string());
    EXPECT_EQ(p0.key, "s/" + std::string(120, 'L') + "/000");
    EXPECT_EQ(p0.image.member, p0.key + ".png");
    EXPECT_EQ(p0.caption, "long named");
    EXPECT_EQ(p0.metadata, "{\"k\": \"000\"}");
    std::string png = "\x89PNG";
    for (int r = 0; r < 3; ++r)
      for (int i = 0; i < 256; ++i) png += static_cast<char>(i);
    EXPECT_EQ(bytes_of(read_archive_member(p0.image)), png);
    EXPECT_EQ(p1.key, "s/001");
    EXPECT_EQ(p1.caption, "caf\xC3\xA9 \xE2\x80\x94 ok");
    EXPECT_EQ(bytes_of(read_archive_member(p1.image)), "jpg-bytes");
  }
}

TEST(PairsFingerprint, CoversImageSourceCaptionAndKey) {
  PairInput a;
  a.image.path = "shard.tar";
  a.image.member = "0.jpg";
  a.image.offset = 512;
  a.image.size = 100;
  a.caption = "a cat";
  a.key = "0";
  a.metadata = "{}";
  const std::string base = pairs_fingerprint({a});
  EXPECT_EQ(base.size(), 64u);
  EXPECT_EQ(base.find_first_not_of("0123456789abcdef"), std::string::npos);
  EXPECT_EQ(pairs_fingerprint({a}), base);

  auto changed = [&](auto edit) {
    PairInput b = a;
    edit(b);
    return pairs_fingerprint({b});
  };
  EXPECT_NE(changed([](PairInput& p) { p.image.path = "other.tar"; }), base);
  EXPECT_NE(changed([](PairInput& p) { p.image.member = "1.jpg"; }), base);
  EXPECT_NE(changed([](PairInput& p) { p.image.offset = 1024; }), base);
  EXPECT_NE(changed([](PairInput& p) { p.image.size = 101; }), base);
  EXPECT_NE(changed([](PairInput& p) { p.caption = "a dog"; }), base);
  EXPECT_NE(changed([](PairInput& p) { p.key = "1"; }), base);
  EXPECT_EQ(changed([](PairInput& p) { p.metadata = "{\"x\": 1}"; }), base);  // metadata is not identity

  // Field boundaries are unambiguous: moving text between caption and key changes the hash.
  PairInput c = a, d = a;
  c.caption = "ab";
  c.key = "c";
  d.caption = "a";
  d.key = "bc";
  EXPECT_NE(pairs_fingerprint({c}), pairs_fingerprint({d}));
  EXPECT_NE(pairs_fingerprint({a, c}), pairs_fingerprint({c, a}));
  EXPECT_NE(pairs_fingerprint({}), pairs_fingerprint({a}));
}

// One list of image extensions: a shard member is an image exactly when a folder file of that name is.
// (pairs.cpp used to know only jpg/jpeg/png/webp/bmp, so gif/tif/ppm samples were dropped as captionless.)
TEST(PairsTar, ImageExtensionsAreTheFolderListingsOnes) {
  fs::path dir = test_support::fresh_temp_dir("pairs_ext");
  const std::vector<std::string> exts{"jpg", "JPEG", "png", "bmp", "webp", "tif", "tiff", "gif", "ppm", "pgm", "pbm"};
  TarBuilder t;
  for (size_t i = 0; i < exts.size(); ++i) {
    const std::string key = "s" + std::to_string(i);
    t.add(key + "." + exts[i], "image bytes " + std::to_string(i));
    t.add(key + ".txt", "caption " + std::to_string(i));
    write(dir / "folder" / (key + "." + exts[i]), "x");
  }
  t.add("other.svg", "<svg/>");
  t.add("other.txt", "not an image");
  write(dir / "folder" / "other.svg", "<svg/>");
  write(dir / "shard.tar", t.finish());
  PairListing l = list_pair_inputs((dir / "shard.tar").string());
  ASSERT_EQ(l.pairs.size(), exts.size());
  std::vector<ImageInput> files = list_image_inputs((dir / "folder").string());
  EXPECT_EQ(files.size(), exts.size());
  for (const std::string& e : exts) {
    EXPECT_TRUE(is_image_extension(e)) << e;
    EXPECT_TRUE(is_image_extension("." + e)) << e;
  }
  EXPECT_FALSE(is_image_extension("svg"));
  EXPECT_FALSE(is_image_extension("txt"));
  EXPECT_NE(image_extensions_text().find(".gif"), std::string::npos);
}
