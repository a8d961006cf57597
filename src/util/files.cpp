#include "clipzs/util/files.hpp"

#include <fcntl.h>
#include <openssl/evp.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <memory>
#include <vector>

#include "clipzs/util/error.hpp"

namespace clipzs {
namespace {

std::string to_hex(const unsigned char* digest, unsigned int length) {
  static const char* kHex = "0123456789abcdef";
  std::string out(length * 2, '0');
  for (unsigned int i = 0; i < length; ++i) {
    out[2 * i] = kHex[digest[i] >> 4];
    out[2 * i + 1] = kHex[digest[i] & 15];
  }
  return out;
}

struct DigestContext {
  DigestContext() : ctx(EVP_MD_CTX_new()) {
    if (!ctx || EVP_DigestInit_ex(ctx, EVP_sha256(), nullptr) != 1)
      throw Error(ErrorKind::kInternal, "OpenSSL could not start a SHA-256 digest");
  }
  ~DigestContext() { EVP_MD_CTX_free(ctx); }
  void update(const void* data, size_t size) { EVP_DigestUpdate(ctx, data, size); }
  std::string finish() {
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned int length = 0;
    EVP_DigestFinal_ex(ctx, digest, &length);
    return to_hex(digest, length);
  }
  EVP_MD_CTX* ctx;
};

std::string errno_text() { return std::strerror(errno); }

}  // namespace

std::string sha256_bytes(const void* data, size_t size) {
  DigestContext digest;
  digest.update(data, size);
  return digest.finish();
}

std::string sha256_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error(ErrorKind::kInput, "cannot read '" + path + "': " + errno_text());
  DigestContext digest;
  std::vector<char> buffer(1 << 20);
  while (in) {
    in.read(buffer.data(), static_cast<std::streamsize>(buffer.size()));
    if (in.gcount() > 0) digest.update(buffer.data(), static_cast<size_t>(in.gcount()));
  }
  if (in.bad()) throw Error(ErrorKind::kInput, "read error in '" + path + "'");
  return digest.finish();
}

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error(ErrorKind::kInput, "cannot read '" + path + "': " + errno_text());
  std::string content((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (in.bad()) throw Error(ErrorKind::kInput, "read error in '" + path + "'");
  return content;
}

std::string temp_path_for(const std::string& path) {
  return path + ".tmp-" + std::to_string(::getpid());
}

void fsync_path(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY);
  if (fd < 0) throw Error(ErrorKind::kOutput, "cannot open '" + path + "' to flush it: " + errno_text());
  int rc = ::fsync(fd);
  ::close(fd);
  if (rc != 0) throw Error(ErrorKind::kOutput, "cannot flush '" + path + "' to disk: " + errno_text());
}

void write_file_atomic(const std::string& path, const std::string& content) {
  const std::string temp = temp_path_for(path);
  int fd = ::open(temp.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  if (fd < 0)
    throw Error(ErrorKind::kOutput, "cannot write '" + temp + "': " + errno_text(),
                "check that the output folder exists and is writable");
  size_t written = 0;
  while (written < content.size()) {
    ssize_t n = ::write(fd, content.data() + written, content.size() - written);
    if (n < 0) {
      if (errno == EINTR) continue;
      std::string reason = errno_text();
      ::close(fd);
      ::unlink(temp.c_str());
      throw Error(ErrorKind::kOutput, "cannot write '" + temp + "': " + reason, "check free disk space");
    }
    written += static_cast<size_t>(n);
  }
  if (::fsync(fd) != 0 || ::close(fd) != 0) {
    std::string reason = errno_text();
    ::unlink(temp.c_str());
    throw Error(ErrorKind::kOutput, "cannot flush '" + temp + "': " + reason);
  }
  if (::rename(temp.c_str(), path.c_str()) != 0) {
    std::string reason = errno_text();
    ::unlink(temp.c_str());
    throw Error(ErrorKind::kOutput, "cannot rename '" + temp + "' to '" + path + "': " + reason);
  }
}

std::string utc_timestamp() {
  std::time_t now = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&now, &tm);
  char buffer[32];
  std::strftime(buffer, sizeof buffer, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buffer;
}

namespace {

std::string without_trailing_separator(std::string path) {
  while (path.size() > 1 && path.back() == '/') path.pop_back();
  return path;
}

}  // namespace

bool path_within(const std::string& inner, const std::string& outer) {
  namespace fs = std::filesystem;
  std::error_code ec;
  const fs::path a = fs::weakly_canonical(fs::absolute(inner), ec);
  const fs::path b = fs::weakly_canonical(fs::absolute(outer), ec);
  auto ia = a.begin(), ib = b.begin();
  for (; ib != b.end(); ++ia, ++ib) {
    if (ib->empty() && std::next(ib) == b.end()) break;  // a trailing '/' of `outer`
    if (ia == a.end() || *ia != *ib) return false;
  }
  return true;
}

bool output_taken(const std::string& path) {
  // "x/" names the same entry as "x" (a regular file x is taken, not a missing folder).
  const std::string normal = without_trailing_separator(std::filesystem::path(path).lexically_normal().string());
  std::error_code ec;
  const auto status = std::filesystem::symlink_status(normal.empty() ? path : normal, ec);
  if (status.type() == std::filesystem::file_type::not_found) return false;
  if (ec) return true;  // cannot tell: treat as taken, the caller asks for --overwrite
  return !(std::filesystem::is_directory(status) && std::filesystem::is_empty(normal, ec) && !ec);
}

std::string check_replaceable_folder(const std::string& dir, const std::string& marker) {
  namespace fs = std::filesystem;
  std::string normal = without_trailing_separator(fs::path(dir).lexically_normal().string());
  const std::string hint = "write to a new folder, e.g. '" + (fs::path(normal.empty() ? "." : normal) / "out").lexically_normal().string() + "'";
  if (dir.empty()) throw Error(ErrorKind::kUsage, "no output folder given", hint);
  std::error_code ec;
  if (path_within(fs::current_path(ec).string(), normal))  // '.', '..', '/', and every spelling of them
    throw Error(ErrorKind::kUsage, "'" + dir + "' is the working folder or one above it; writing the output replaces the folder as a whole", hint);
  if (fs::is_symlink(fs::symlink_status(normal, ec)))
    throw Error(ErrorKind::kUsage, "'" + dir + "' is a symbolic link (to '" + fs::read_symlink(normal, ec).string() +
                                       "'); writing the output would replace the link, not the folder it points to",
                "give the folder itself");
  if (!marker.empty() && fs::is_directory(normal, ec) && !fs::is_empty(normal, ec) && !fs::exists(fs::path(normal) / marker, ec))
    throw Error(ErrorKind::kUsage, "'" + dir + "' holds files but no " + marker + ": not a folder this command wrote, and writing "
                                       "the output replaces the folder as a whole", hint);
  return normal;
}

FolderWriter::FolderWriter(const std::string& dir, const std::string& marker)
    : dir_(check_replaceable_folder(dir, marker)), temp_(dir_ + ".tmp-" + std::to_string(::getpid())) {
  std::error_code ec;
  std::filesystem::remove_all(temp_, ec);
  std::filesystem::create_directories(temp_, ec);
  if (ec) throw Error(ErrorKind::kOutput, "cannot create '" + temp_ + "': " + ec.message(), "check that the folder is writable");
}

FolderWriter::~FolderWriter() {
  std::error_code ec;
  if (!committed_) std::filesystem::remove_all(temp_, ec);
}

void FolderWriter::commit() {
  std::error_code ec;
  std::filesystem::remove_all(dir_, ec);
  if (!ec) std::filesystem::rename(temp_, dir_, ec);
  if (ec) throw Error(ErrorKind::kOutput, "cannot move '" + temp_ + "' to '" + dir_ + "': " + ec.message());
  committed_ = true;
}

}  // namespace clipzs
