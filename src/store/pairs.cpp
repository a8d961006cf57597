#include "clipzs/store/pairs.hpp"

#include <algorithm>
#include <array>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <initializer_list>
#include <nlohmann/json.hpp>
#include <unordered_map>

#include "clipzs/util/error.hpp"
#include "clipzs/util/files.hpp"
#include "util/strings.hpp"

namespace clipzs {
namespace fs = std::filesystem;
namespace {

constexpr size_t kMaxWarnings = 5;
// Column/key names, in priority order: when a table has several, the earlier name wins.
const std::initializer_list<const char*> kImageNames{"image", "path", "filepath", "file", "img"};
const std::initializer_list<const char*> kCaptionNames{"caption", "text", "title", "txt"};
const std::initializer_list<const char*> kKeyNames{"key", "id"};

using detail::resolve_listed_path;
using detail::trim_space;
using detail::ascii_lower;

std::string join_names(const std::initializer_list<const char*>& names) {
  std::string out;
  size_t i = 0;
  for (const char* n : names) {
    if (i > 0) out += i + 1 == names.size() ? " or " : ", ";
    out += "'" + std::string(n) + "'";
    ++i;
  }
  return out;
}

void strip_bom(std::string& line) {
  if (line.size() >= 3 && line.compare(0, 3, "\xEF\xBB\xBF") == 0) line.erase(0, 3);
}

void strip_cr(std::string& line) {
  if (!line.empty() && line.back() == '\r') line.pop_back();
}

class Collector {
 public:
  explicit Collector(PairListing& out) : out_(out) {}
  void add(std::string image_path, std::string caption, std::string key) {
    PairInput p;
    p.image.path = std::move(image_path);
    p.caption = std::move(caption);
    p.key = std::move(key);
    out_.pairs.push_back(std::move(p));
  }
  void skip(const std::string& why) {
    ++out_.skipped;
    if (out_.warnings.size() < kMaxWarnings) out_.warnings.push_back(why);
  }

 private:
  PairListing& out_;
};

// ---------------------------------------------------------------------------------------------------
// Tables

int find_column(const std::vector<std::string>& header, const std::initializer_list<const char*>& names) {
  for (const char* name : names)
    for (size_t i = 0; i < header.size(); ++i)
      if (ascii_lower(trim_space(header[i])) == name) return static_cast<int>(i);
  return -1;
}

void split_tsv_line(const std::string& line, std::vector<std::string>& fields) {
  fields.clear();
  size_t start = 0;
  for (;;) {
    size_t tab = line.find('\t', start);
    fields.push_back(line.substr(start, tab == std::string::npos ? std::string::npos : tab - start));
    if (tab == std::string::npos) break;
    start = tab + 1;
  }
}

void list_table(const fs::path& file, bool tsv, PairListing& out) {
  std::ifstream in(file, std::ios::binary);
  if (!in) throw Error(ErrorKind::kInput, "cannot read '" + file.string() + "'");
  const std::string name = file.string();
  int line_no = 0;
  // Reads one record; a quoted CSV field may span lines. Returns the record's first line number, or 0 at EOF.
  auto next_record = [&](std::vector<std::string>& fields, std::string& line) -> int {
    if (!std::getline(in, line)) return 0;
    const int first = ++line_no;
    strip_cr(line);
    if (first == 1) strip_bom(line);
    if (tsv) {
      split_tsv_line(line, fields);
      return first;
    }
    while (!split_csv_line(line, fields)) {
      std::string more;
      if (!std::getline(in, more))
        throw Error(ErrorKind::kInput, name + ":" + std::to_string(first) + ": unterminated quoted field",
                    "a CSV field that starts with '\"' must end with '\"' (write a quote inside it as '\"\"')");
      ++line_no;
      strip_cr(more);
      line += "\n" + more;
    }
    return first;
  };

  std::vector<std::string> header;
  std::string header_line;
  if (next_record(header, header_line) == 0)
    throw Error(ErrorKind::kInput, "'" + name + "' is empty",
                "a pairs table needs a header row naming an image column and a caption column");
  const int image_col = find_column(header, kImageNames);
  const int caption_col = find_column(header, kCaptionNames);
  const int key_col = find_column(header, kKeyNames);
  if (image_col < 0)
    throw Error(ErrorKind::kInput, name + ":1: the header has no image column (found: " + header_line + ")",
                "name the image column " + join_names(kImageNames));
  if (caption_col < 0)
    throw Error(ErrorKind::kInput, name + ":1: the header has no caption column (found: " + header_line + ")",
                "name the caption column " + join_names(kCaptionNames));

  Collector collect(out);
  const fs::path base = file.parent_path();
  std::vector<std::string> fields;
  std::string line;
  int64_t row = 0;  // data rows, from 0: the default key
  for (int at; (at = next_record(fields, line)) != 0;) {
    if (trim_space(line).empty()) continue;
    const std::string where = name + ":" + std::to_string(at);
    auto field = [&](int col) { return col >= 0 && col < static_cast<int>(fields.size()) ? trim_space(fields[col]) : std::string(); };
    std::string image = field(image_col), caption = field(caption_col), key = field(key_col);
    if (key_col < 0 || key.empty()) key = std::to_string(row);
    ++row;
    if (image.empty() || caption.empty()) {
      collect.skip(where + ": row has no " + std::string(image.empty() ? "image" : "caption"));
      continue;
    }
    collect.add(resolve_listed_path(base, image), std::move(caption), std::move(key));
  }
}

// Value of the first of `names` the object holds; nullptr when none.
const nlohmann::json* first_key(const nlohmann::json& obj, const std::initializer_list<const char*>& names) {
  for (const char* n : names) {
    auto it = obj.find(n);
    if (it != obj.end()) return &*it;
  }
  return nullptr;
}

void list_jsonl(const fs::path& file, PairListing& out) {
  std::ifstream in(file, std::ios::binary);
  if (!in) throw Error(ErrorKind::kInput, "cannot read '" + file.string() + "'");
  const std::string name = file.string();
  const fs::path base = file.parent_path();
  Collector collect(out);
  bool any_image_key = false, any_caption_key = false;
  int64_t row = 0;
  std::string line;
  for (int line_no = 1; std::getline(in, line); ++line_no) {
    strip_cr(line);
    if (line_no == 1) strip_bom(line);
    if (trim_space(line).empty()) continue;
    const std::string where = name + ":" + std::to_string(line_no);
    nlohmann::json obj;
    try {
      obj = nlohmann::json::parse(line);
    } catch (const nlohmann::json::exception& e) {
      throw Error(ErrorKind::kInput, where + ": malformed JSON (" + e.what() + ")",
                  "each line of a .jsonl file must be one complete JSON object");
    }
    if (!obj.is_object())
      throw Error(ErrorKind::kInput, where + ": expected a JSON object, found " + std::string(obj.type_name()),
                  "each line of a .jsonl file must be one JSON object with an image and a caption key");
    const nlohmann::json* image = first_key(obj, kImageNames);
    const nlohmann::json* caption = first_key(obj, kCaptionNames);
    const nlohmann::json* key = first_key(obj, kKeyNames);
    any_image_key = any_image_key || image != nullptr;
    any_caption_key = any_caption_key || caption != nullptr;
    for (const nlohmann::json* v : {image, caption})
      if (v != nullptr && !v->is_null() && !v->is_string())
        throw Error(ErrorKind::kInput, where + ": the " + std::string(v == image ? "image" : "caption") +
                                           " must be a string, found " + v->type_name());
    std::string key_text;
    if (key != nullptr && key->is_string()) key_text = key->get<std::string>();
    else if (key != nullptr && !key->is_null()) key_text = key->dump();
    if (key_text.empty()) key_text = std::to_string(row);
    ++row;
    std::string image_text = image != nullptr && image->is_string() ? trim_space(image->get<std::string>()) : "";
    std::string caption_text = caption != nullptr && caption->is_string() ? trim_space(caption->get<std::string>()) : "";
    if (image_text.empty() || caption_text.empty()) {
      collect.skip(where + ": line has no " + std::string(image_text.empty() ? "image" : "caption"));
      continue;
    }
    collect.add(resolve_listed_path(base, image_text), std::move(caption_text), std::move(key_text));
  }
  // A file where no line names an image (or caption) is a schema mistake, not a set of failed samples.
  if (row > 0 && !any_image_key)
    throw Error(ErrorKind::kInput, name + ": no line has an image key", "name the image key " + join_names(kImageNames));
  if (row > 0 && !any_caption_key)
    throw Error(ErrorKind::kInput, name + ": no line has a caption key",
                "name the caption key " + join_names(kCaptionNames));
}

// ---------------------------------------------------------------------------------------------------
// WebDataset tar shards

struct TarMember {
  std::string name;
  uint64_t offset = 0;  // of the data
  uint64_t size = 0;
};

class TarScanner {
 public:
  explicit TarScanner(const fs::path& path) : path_(path), name_(path.string()), in_(path, std::ios::binary) {
    if (!in_) throw Error(ErrorKind::kInput, "cannot read '" + name_ + "'");
    std::error_code ec;
    file_size_ = fs::file_size(path, ec);
    if (ec) throw Error(ErrorKind::kInput, "cannot read '" + name_ + "': " + ec.message());
  }

  // Regular-file members, in archive order.
  std::vector<TarMember> members() {
    std::vector<TarMember> out;
    std::string long_name, pax_path;
    bool have_pax_size = false;
    uint64_t pax_size = 0;
    uint64_t at = 0;
    std::array<char, 512> h{};
    for (;;) {
      if (at >= file_size_) break;  // no end-of-archive blocks: every member is complete, accept
      if (at + 512 > file_size_) damaged(at, "truncated header");
      read_at(at, h.data(), 512);
      if (std::all_of(h.begin(), h.end(), [](char c) { return c == 0; })) break;  // end of archive
      check_checksum(h, at);
      uint64_t size = number(h.data() + 124, 12, at, "size");
      const char type = h[156];
      if (have_pax_size && type != 'x' && type != 'g' && type != 'L' && type != 'K') size = pax_size;
      const uint64_t data = at + 512;
      if (size > file_size_ - data) damaged(at, "the member's data runs past the end of the file (truncated)");
      const uint64_t next = data + (size + 511) / 512 * 512;
      switch (type) {
        case 'L':  // GNU long name for the next member
          long_name = meta(data, size, at);
          long_name = long_name.substr(0, long_name.find('\0'));
          break;
        case 'x':  // pax extended header for the next member
          parse_pax(meta(data, size, at), at, pax_path, have_pax_size, pax_size);
          break;
        case 'K':  // GNU long link name; 'g' global pax header: nothing we use
        case 'g':
          break;
        default: {
          if (type == '0' || type == '\0' || type == '7') {
            std::string name = !pax_path.empty() ? pax_path : !long_name.empty() ? long_name : header_name(h);
            out.push_back({std::move(name), data, size});
          }
          long_name.clear();
          pax_path.clear();
          have_pax_size = false;
        }
      }
      at = next;
    }
    return out;
  }

  std::string read_member(const TarMember& m) {
    std::string bytes(static_cast<size_t>(m.size), '\0');
    read_at(m.offset, bytes.data(), bytes.size());
    return bytes;
  }

 private:
  [[noreturn]] void damaged(uint64_t at, const std::string& why) const {
    throw Error(ErrorKind::kInput, name_ + ": damaged tar header at byte " + std::to_string(at) + ": " + why,
                "the shard is truncated or not a tar file; download or copy it again");
  }

  void read_at(uint64_t offset, char* dst, size_t n) {
    in_.clear();
    in_.seekg(static_cast<std::streamoff>(offset));
    in_.read(dst, static_cast<std::streamsize>(n));
    if (static_cast<size_t>(in_.gcount()) != n)
      throw Error(ErrorKind::kInput, name_ + ": cannot read " + std::to_string(n) + " bytes at byte " + std::to_string(offset),
                  "the shard is truncated; download or copy it again");
  }

  std::string meta(uint64_t data, uint64_t size, uint64_t at) {
    if (size > (16u << 20)) damaged(at, "implausibly large extended header (" + std::to_string(size) + " bytes)");
    return read_member({"", data, size});
  }

  // Octal (NUL/space terminated), or GNU base-256 when the top bit of the first byte is set.
  uint64_t number(const char* field, size_t len, uint64_t at, const char* what) const {
    const auto* f = reinterpret_cast<const unsigned char*>(field);
    uint64_t v = 0;
    if (f[0] & 0x80) {
      if (f[0] != 0x80) damaged(at, std::string("negative or oversized ") + what + " field");
      for (size_t i = 1; i < len; ++i) {
        if (v >> 56) damaged(at, std::string("oversized ") + what + " field");
        v = (v << 8) | f[i];
      }
      return v;
    }
    size_t i = 0;
    while (i < len && f[i] == ' ') ++i;
    // An empty field reads as 0 (some writers leave unused numbers blank); a blank checksum still fails.
    for (; i < len && f[i] != 0 && f[i] != ' '; ++i) {
      if (f[i] < '0' || f[i] > '7') damaged(at, std::string("the ") + what + " field is not an octal number");
      if (v >> 60) damaged(at, std::string("oversized ") + what + " field");
      v = v * 8 + (f[i] - '0');
    }
    return v;
  }

  void check_checksum(const std::array<char, 512>& h, uint64_t at) const {
    const uint64_t stored = number(h.data() + 148, 8, at, "checksum");
    // The checksum field counts as spaces. Some old writers summed signed chars; accept both.
    int64_t unsigned_sum = 0, signed_sum = 0;
    for (size_t i = 0; i < 512; ++i) {
      const bool in_field = i >= 148 && i < 156;
      unsigned_sum += in_field ? ' ' : static_cast<unsigned char>(h[i]);
      signed_sum += in_field ? ' ' : static_cast<signed char>(h[i]);
    }
    if (static_cast<int64_t>(stored) != unsigned_sum && static_cast<int64_t>(stored) != signed_sum)
      damaged(at, "checksum mismatch");
  }

  static std::string field_str(const char* f, size_t len) { return std::string(f, strnlen(f, len)); }

  // ustar splits long paths into `prefix` and `name`; only POSIX ustar ("ustar\0") has the prefix field
  // (old GNU headers keep other data there).
  static std::string header_name(const std::array<char, 512>& h) {
    std::string name = field_str(h.data(), 100);
    if (std::memcmp(h.data() + 257, "ustar\0", 6) == 0) {
      std::string prefix = field_str(h.data() + 345, 155);
      if (!prefix.empty()) name = prefix + "/" + name;
    }
    return name;
  }

  // Records are "LEN key=value\n", LEN counting the whole record.
  void parse_pax(const std::string& text, uint64_t at, std::string& path, bool& have_size, uint64_t& size) const {
    size_t pos = 0;
    while (pos < text.size()) {
      if (text[pos] == '\0') break;  // padding
      size_t sp = text.find(' ', pos);
      if (sp == std::string::npos) damaged(at, "malformed pax record");
      size_t len = 0;
      for (size_t i = pos; i < sp; ++i) {
        if (text[i] < '0' || text[i] > '9' || len > text.size()) damaged(at, "malformed pax record length");
        len = len * 10 + static_cast<size_t>(text[i] - '0');
      }
      if (sp == pos || len <= sp - pos || pos + len > text.size() || text[pos + len - 1] != '\n')
        damaged(at, "malformed pax record");
      const std::string record = text.substr(sp + 1, pos + len - 1 - (sp + 1));
      const size_t eq = record.find('=');
      if (eq == std::string::npos) damaged(at, "malformed pax record (no '=')");
      const std::string key = record.substr(0, eq), value = record.substr(eq + 1);
      if (key == "path") {
        path = value;
      } else if (key == "size") {
        uint64_t v = 0;
        if (value.empty()) damaged(at, "malformed pax size");
        for (char c : value) {
          if (c < '0' || c > '9' || (v >> 59)) damaged(at, "malformed pax size");
          v = v * 10 + static_cast<uint64_t>(c - '0');
        }
        have_size = true;
        size = v;
      }
      pos += len;
    }
  }

  fs::path path_;
  std::string name_;
  std::ifstream in_;
  uint64_t file_size_ = 0;
};

void list_shard(const fs::path& shard, PairListing& out) {
  TarScanner tar(shard);
  const std::string name = shard.string();
  struct Sample {
    std::string key;
    const TarMember* image = nullptr;
    const TarMember* caption = nullptr;
    const TarMember* json = nullptr;
    bool empty_image = false;
  };
  const std::vector<TarMember> members = tar.members();
  std::vector<Sample> samples;
  std::unordered_map<std::string, size_t> by_key;
  for (const TarMember& m : members) {
    // WebDataset key/extension split: the key ends at the first '.' of the file name. Names without a
    // dot, or starting with one (e.g. macOS "._x" files), belong to no sample, as in webdataset itself.
    const size_t slash = m.name.rfind('/');
    const size_t file_start = slash == std::string::npos ? 0 : slash + 1;
    const size_t dot = m.name.find('.', file_start);
    if (dot == std::string::npos || dot == file_start) continue;
    std::string key = m.name.substr(0, dot);
    const std::string ext = ascii_lower(m.name.substr(dot + 1));
    auto [it, fresh] = by_key.emplace(key, samples.size());
    if (fresh) samples.push_back({std::move(key)});
    Sample& s = samples[it->second];
    if (is_image_extension(ext)) {
      if (m.size == 0) s.empty_image = true;
      else if (s.image == nullptr) s.image = &m;
    } else if (ext == "txt") {
      if (s.caption == nullptr) s.caption = &m;
    } else if (ext == "json") {
      if (s.json == nullptr) s.json = &m;
    }
  }

  Collector collect(out);
  for (const Sample& s : samples) {
    std::string caption;
    if (s.caption != nullptr) {
      caption = tar.read_member(*s.caption);
      strip_bom(caption);
      caption = trim_space(caption);
    }
    if (s.image == nullptr || caption.empty()) {
      std::string why = s.image == nullptr ? (s.empty_image ? "an empty image" : "no image") : "";
      if (caption.empty()) why += std::string(why.empty() ? "" : " and ") + (s.caption ? "an empty caption" : "no caption");
      collect.skip(name + ": sample " + s.key + " has " + why);
      continue;
    }
    PairInput p;
    p.image.path = name;
    p.image.member = s.image->name;
    p.image.offset = s.image->offset;
    p.image.size = s.image->size;
    p.caption = std::move(caption);
    p.key = s.key;
    if (s.json != nullptr) p.metadata = tar.read_member(*s.json);
    out.pairs.push_back(std::move(p));
  }
}

void list_shard_folder(const fs::path& dir, PairListing& out) {
  std::vector<fs::path> shards;
  std::error_code ec;
  for (auto it = fs::directory_iterator(dir, ec); !ec && it != fs::directory_iterator(); it.increment(ec))
    if (it->is_regular_file(ec) && ascii_lower(it->path().extension().string()) == ".tar") shards.push_back(it->path());
  if (ec) throw Error(ErrorKind::kInput, "cannot list folder '" + dir.string() + "': " + ec.message());
  if (shards.empty())
    throw Error(ErrorKind::kInput, "folder '" + dir.string() + "' holds no .tar shards",
                "pass a folder of WebDataset .tar shards (as img2dataset writes them), a .tar shard, or a .csv/.tsv/.jsonl table");
  std::sort(shards.begin(), shards.end(),
            [](const fs::path& a, const fs::path& b) { return a.filename().string() < b.filename().string(); });
  for (const auto& shard : shards) list_shard(shard, out);
}

}  // namespace

PairListing list_pair_inputs(const std::string& input) {
  const fs::path path(input);
  std::error_code ec;
  if (!fs::exists(path, ec))
    throw Error(ErrorKind::kInput, "input '" + input + "' does not exist",
                "pass a .csv/.tsv/.jsonl table of image and caption, a WebDataset .tar shard, or a folder of shards");
  PairListing out;
  if (fs::is_directory(path, ec)) {
    list_shard_folder(path, out);
  } else {
    const std::string ext = ascii_lower(path.extension().string());
    if (ext == ".csv" || ext == ".tsv") list_table(path, ext == ".tsv", out);
    else if (ext == ".jsonl") list_jsonl(path, out);
    else if (ext == ".tar") list_shard(path, out);
    else
      throw Error(ErrorKind::kInput, "input '" + input + "': unsupported pairs input (extension '" + ext + "')",
                  "pass a .csv, .tsv or .jsonl table, a WebDataset .tar shard, or a folder of shards");
  }
  if (out.pairs.empty())
    throw Error(ErrorKind::kInput,
                "input '" + input + "' lists no image-caption pairs" +
                    (out.skipped > 0 ? " (" + std::to_string(out.skipped) + " samples lack an image or a caption)" : ""),
                out.warnings.empty() ? "" : "first skipped: " + out.warnings.front());
  return out;
}

std::string pairs_fingerprint(const std::vector<PairInput>& pairs) {
  // Length-prefixed fields: captions may hold any byte, so no separator is safe on its own.
  std::string all = "clipzs-pairs-1\n";
  auto put = [&all](const std::string& s) {
    all += std::to_string(s.size());
    all += ':';
    all += s;
  };
  for (const auto& p : pairs) {
    put(p.image.path);
    put(p.image.member);
    put(std::to_string(p.image.offset));
    put(std::to_string(p.image.size));
    put(p.caption);
    put(p.key);
    all += '\n';
  }
  return sha256_bytes(all.data(), all.size());
}

}  // namespace clipzs
