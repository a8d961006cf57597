// Small file utilities shared by the library: hashing, whole-file reads, and atomic writes.
// Atomic writes go to "<path>.tmp-<pid>" first and are renamed over <path> only once complete and
// flushed, so a reader never sees a half-written file under the final name.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace clipzs {

// Lower-case hex SHA-256 of a file's bytes. Throws Error(kInput) if the file cannot be read.
std::string sha256_file(const std::string& path);
std::string sha256_bytes(const void* data, size_t size);

// Whole file as bytes. Throws Error(kInput) naming the path if it cannot be read.
std::string read_file(const std::string& path);

// Writes `content` to `path` atomically (temp name, fsync, rename). Throws Error(kOutput).
void write_file_atomic(const std::string& path, const std::string& content);

// Temp name used by write_file_atomic and friends for `path`.
std::string temp_path_for(const std::string& path);

// `inner` is `outer` or lies below it, both made absolute with the symbolic links of their existing
// parts resolved (so "x/../a" and "a/" are "a").
bool path_within(const std::string& inner, const std::string& outer);

// Whether writing to `path` would replace something: it exists and is not an empty folder. An existing
// empty folder (made by `mkdir -p` or `mktemp -d` before the run) is a free output, no --overwrite needed.
bool output_taken(const std::string& path);

// The checks of FolderWriter's constructor on their own (callers run them before long work); returns
// `dir` as FolderWriter takes it.
std::string check_replaceable_folder(const std::string& dir, const std::string& marker = {});

// A folder written as a whole (method states, reports): files go into temp(), a fresh sibling
// "<dir>.tmp-PID", and commit() replaces `dir` (and whatever was there) with it. Destroyed without
// commit() (an error, an interrupt), it removes the temporary folder, so `dir` never holds a
// half-written result. `dir` is taken lexically normalised ("a/./b/" is "a/b", "x/../a" is "a").
// Because commit() deletes what is at `dir`, the constructor refuses (Error(kUsage), naming it) a `dir`
// that is '/', the working folder or one above it, a symbolic link, or, when `marker` is given, an
// existing non-empty folder without that file (not something this kind of writer made). File-system
// failures throw Error(kOutput) naming the folder.
class FolderWriter {
 public:
  explicit FolderWriter(const std::string& dir, const std::string& marker = {});
  ~FolderWriter();
  FolderWriter(const FolderWriter&) = delete;
  FolderWriter& operator=(const FolderWriter&) = delete;
  const std::string& temp() const { return temp_; }
  const std::string& dir() const { return dir_; }
  void commit();

 private:
  std::string dir_, temp_;
  bool committed_ = false;
};

// fsync a file or directory by path; errors are reported as Error(kOutput).
void fsync_path(const std::string& path);

// ISO-8601 UTC time, e.g. "2026-11-23T12:00:00Z".
std::string utc_timestamp();

}  // namespace clipzs
