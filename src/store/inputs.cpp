#include "clipzs/store/inputs.hpp"

#include <sys/stat.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <set>

#include "clipzs/util/error.hpp"
#include "clipzs/util/files.hpp"
#include "image/formats.hpp"
#include "util/strings.hpp"

namespace clipzs {
namespace fs = std::filesystem;
namespace {

bool has_image_extension(const fs::path& path) { return is_image_extension(path.extension().string()); }

// Every entry named like an image becomes a row, also when it is not a readable regular file (a broken
// symlink, a folder called x.jpg, a FIFO): the run then records why it could not be read instead of
// dropping it unseen. Folders are still searched, symlinked ones once each (a symlink loop ends there).
std::vector<ImageInput> list_folder(const fs::path& root) {
  std::vector<fs::path> files;
  std::set<std::pair<uintmax_t, uintmax_t>> visited;  // (device, inode) of folders entered
  auto identity = [](const fs::path& dir) -> std::pair<uintmax_t, uintmax_t> {
    struct stat st {};
    if (::stat(dir.c_str(), &st) != 0) return {0, 0};
    return {static_cast<uintmax_t>(st.st_dev), static_cast<uintmax_t>(st.st_ino)};
  };
  visited.insert(identity(root));
  std::error_code ec;
  for (auto it = fs::recursive_directory_iterator(root, fs::directory_options::follow_directory_symlink |
                                                             fs::directory_options::skip_permission_denied,
                                                  ec);
       it != fs::recursive_directory_iterator(); it.increment(ec)) {
    if (ec) throw Error(ErrorKind::kInput, "cannot list folder '" + root.string() + "': " + ec.message());
    std::error_code status_ec;
    const bool is_dir = it->is_directory(status_ec);
    if (is_dir && !visited.insert(identity(it->path())).second) it.disable_recursion_pending();
    if (has_image_extension(it->path())) files.push_back(it->path());
  }
  if (ec) throw Error(ErrorKind::kInput, "cannot list folder '" + root.string() + "': " + ec.message());
  std::sort(files.begin(), files.end(), [](const fs::path& a, const fs::path& b) { return a.string() < b.string(); });
  // ImageFolder layout: every file sits exactly one level below the root.
  bool class_layout = !files.empty();
  for (const auto& f : files) {
    const fs::path rel = fs::relative(f, root);
    if (std::distance(rel.begin(), rel.end()) != 2) {
      class_layout = false;
      break;
    }
  }
  std::vector<ImageInput> out;
  out.reserve(files.size());
  for (const auto& f : files)
    out.push_back({f.string(), class_layout ? fs::relative(f, root).begin()->string() : std::string()});
  return out;
}

using detail::resolve_listed_path;
using detail::trim_space;

std::vector<ImageInput> list_csv(const fs::path& file) {
  std::ifstream in(file);
  if (!in) throw Error(ErrorKind::kInput, "cannot read '" + file.string() + "'");
  std::string line;
  std::vector<std::string> fields;
  if (!std::getline(in, line))
    throw Error(ErrorKind::kInput, "'" + file.string() + "' is empty", "a CSV needs a header row with a 'path' column");
  if (line.size() >= 3 && line.compare(0, 3, "\xEF\xBB\xBF") == 0) line.erase(0, 3);  // UTF-8 BOM
  if (!line.empty() && line.back() == '\r') line.pop_back();
  split_csv_line(line, fields);
  int path_col = -1, label_col = -1;
  for (size_t i = 0; i < fields.size(); ++i) {
    std::string name = trim_space(fields[i]);
    std::transform(name.begin(), name.end(), name.begin(), [](unsigned char c) { return std::tolower(c); });
    if (path_col < 0 && (name == "path" || name == "filepath" || name == "image" || name == "file")) path_col = static_cast<int>(i);
    if (label_col < 0 && (name == "label" || name == "class")) label_col = static_cast<int>(i);
  }
  if (path_col < 0)
    throw Error(ErrorKind::kInput, file.string() + ":1: the header has no 'path' column (found: " + line + ")",
                "name the image column 'path' and the optional class column 'label'");
  std::vector<ImageInput> out;
  const fs::path base = file.parent_path();
  for (int row = 2; std::getline(in, line); ++row) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (trim_space(line).empty()) continue;
    // A quoted field may span lines.
    while (!split_csv_line(line, fields)) {
      std::string more;
      if (!std::getline(in, more))
        throw Error(ErrorKind::kInput, file.string() + ":" + std::to_string(row) + ": unterminated quoted field");
      line += "\n" + more;
    }
    if (static_cast<int>(fields.size()) <= path_col || trim_space(fields[path_col]).empty())
      throw Error(ErrorKind::kInput, file.string() + ":" + std::to_string(row) + ": no path in this row",
                  "every row needs a value in the 'path' column");
    ImageInput item{resolve_listed_path(base, trim_space(fields[path_col])), ""};
    if (label_col >= 0 && static_cast<int>(fields.size()) > label_col) item.label = trim_space(fields[label_col]);
    out.push_back(std::move(item));
  }
  return out;
}

std::vector<ImageInput> list_text(const fs::path& file) {
  std::ifstream in(file);
  if (!in) throw Error(ErrorKind::kInput, "cannot read '" + file.string() + "'");
  std::vector<ImageInput> out;
  const fs::path base = file.parent_path();
  std::string line;
  while (std::getline(in, line)) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    std::string t = trim_space(line);
    if (t.empty() || t[0] == '#') continue;
    size_t tab = t.find('\t');
    ImageInput item{resolve_listed_path(base, trim_space(t.substr(0, tab))), tab == std::string::npos ? "" : trim_space(t.substr(tab + 1))};
    out.push_back(std::move(item));
  }
  return out;
}

}  // namespace

bool split_csv_line(const std::string& line, std::vector<std::string>& fields) {
  fields.clear();
  std::string current;
  bool quoted = false;
  for (size_t i = 0; i < line.size(); ++i) {
    char c = line[i];
    if (quoted) {
      if (c == '"') {
        if (i + 1 < line.size() && line[i + 1] == '"') { current += '"'; ++i; }
        else quoted = false;
      } else {
        current += c;
      }
    } else if (c == '"') {
      quoted = true;
    } else if (c == ',') {
      fields.push_back(std::move(current));
      current.clear();
    } else {
      current += c;
    }
  }
  fields.push_back(std::move(current));
  return !quoted;
}

std::vector<ImageInput> list_image_inputs(const std::string& input) {
  fs::path path(input);
  std::error_code ec;
  if (!fs::exists(path, ec))
    throw Error(ErrorKind::kInput, "input '" + input + "' does not exist",
                "pass a folder of images, a CSV with a 'path' column, or a text file with one path per line");
  std::vector<ImageInput> out;
  if (fs::is_directory(path)) out = list_folder(path);
  else {
    std::string ext = path.extension().string();
    std::transform(ext.begin(), ext.end(), ext.begin(), [](unsigned char c) { return std::tolower(c); });
    out = ext == ".csv" ? list_csv(path) : list_text(path);
  }
  if (out.empty())
    throw Error(ErrorKind::kInput, "input '" + input + "' lists no images",
                "folders are searched for " + image_extensions_text() + " files");
  return out;
}

bool is_image_extension(std::string ext) {
  if (!ext.empty() && ext[0] == '.') ext.erase(0, 1);
  return image_detail::format_for_extension(detail::ascii_lower(std::move(ext))) != nullptr;
}

std::string image_extensions_text() {
  std::string out;
  for (const image_detail::ImageFormat* format : image_detail::image_formats()) {
    for (const char* const* e = format->extensions; *e != nullptr; ++e) out += (out.empty() ? "." : "/.") + std::string(*e);
  }
  return out;
}

std::vector<uint8_t> read_archive_member(const ImageInput& input) {
  std::ifstream in(input.path, std::ios::binary);
  if (!in) throw Error(ErrorKind::kInput, "cannot open archive '" + input.path + "'");
  std::vector<uint8_t> bytes(static_cast<size_t>(input.size));
  in.seekg(static_cast<std::streamoff>(input.offset));
  in.read(reinterpret_cast<char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
  if (!in || static_cast<uint64_t>(in.gcount()) != input.size)
    throw Error(ErrorKind::kInput, input.display_name() + ": the archive ends inside this member",
                "the shard is truncated; download or copy it again");
  return bytes;
}

std::string listing_fingerprint(const std::vector<ImageInput>& inputs) {
  std::string all;
  for (const auto& item : inputs) {
    all += item.path;
    all += '\0';
    all += item.label;
    if (item.in_archive()) {  // plain files keep the fingerprint they had before archive members existed
      all += '\0';
      all += item.member + '\0' + std::to_string(item.offset) + '\0' + std::to_string(item.size);
    }
    all += '\n';
  }
  return sha256_bytes(all.data(), all.size());
}

}  // namespace clipzs
