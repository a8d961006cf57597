#include "clipzs/store/store.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>

#include "clipzs/store/bundle.hpp"
#include "clipzs/util/error.hpp"
#include "clipzs/util/files.hpp"
#include "clipzs/store/npy.hpp"
#include "store/json_fields.hpp"

namespace clipzs {
namespace fs = std::filesystem;
using nlohmann::json;

namespace {

constexpr const char* kManifest = "manifest.json";
constexpr const char* kData = "embeddings.npy";
constexpr const char* kRows = "rows.jsonl";
constexpr const char* kRunFile = "run.json";
constexpr const char* kPartialData = "embeddings.npy.partial";
constexpr const char* kPartialRows = "rows.partial.jsonl";
constexpr const char* kLock = ".lock";

std::string errno_text() { return std::strerror(errno); }

std::string join(const std::string& dir, const std::string& name) { return (fs::path(dir) / name).string(); }

// Complete lines of a JSONL file (an unterminated last line is a row whose write was cut off).
std::vector<std::string> complete_lines(const std::string& path) {
  std::string content = read_file(path);
  std::vector<std::string> lines;
  size_t start = 0;
  for (size_t nl; (nl = content.find('\n', start)) != std::string::npos; start = nl + 1)
    lines.push_back(content.substr(start, nl - start));
  return lines;
}

}  // namespace

struct StoreWriter::Impl {
  std::string dir;
  json identity;
  int64_t rows = 0;
  int64_t dim = 0;
  StoreDType dtype = StoreDType::kFloat16;
  int64_t done = 0;
  int64_t errors = 0;  // rows whose status is "error"
  int data_fd = -1;
  int rows_fd = -1;
  int lock_fd = -1;
  size_t header_size = 0;
  std::vector<std::string> extra_files;

  size_t row_bytes() const { return static_cast<size_t>(dim) * dtype_size(dtype); }
  std::string path(const char* name) const { return join(dir, name); }

  ~Impl() {
    if (data_fd >= 0) ::close(data_fd);
    if (rows_fd >= 0) ::close(rows_fd);
    if (lock_fd >= 0) ::close(lock_fd);  // releases the flock
  }

  void write_all(int fd, const void* data, size_t size, const char* name) {
    const char* p = static_cast<const char*>(data);
    while (size > 0) {
      ssize_t n = ::write(fd, p, size);
      if (n < 0) {
        if (errno == EINTR) continue;
        throw Error(ErrorKind::kOutput, "cannot write '" + path(name) + "': " + errno_text(), "check free disk space");
      }
      p += n;
      size -= static_cast<size_t>(n);
    }
  }

  void start_partial_files(const std::string& header) {
    std::ofstream data(path(kPartialData), std::ios::binary | std::ios::trunc);
    data.write(header.data(), static_cast<std::streamsize>(header.size()));
    std::ofstream rows_file(path(kPartialRows), std::ios::binary | std::ios::trunc);
    if (!data || !rows_file) throw Error(ErrorKind::kOutput, "cannot create the partial files in '" + dir + "'");
  }

  void remove_run_files() {
    for (const char* name : {kManifest, kData, kRows, kRunFile, kPartialData, kPartialRows}) {
      std::error_code ec;
      fs::remove(path(name), ec);
    }
  }

  // Cuts both partial files to the rows present in both, and returns that count.
  int64_t recover_partial_rows(const std::string& header, int64_t granularity) {
    const std::string data_path = path(kPartialData);
    const std::string rows_path = path(kPartialRows);
    if (!fs::exists(data_path) || !fs::exists(rows_path) || fs::file_size(data_path) < header_size) {
      start_partial_files(header);  // killed before the first row: nothing to keep
      return 0;
    }
    const auto data_size = static_cast<size_t>(fs::file_size(data_path));
    const int64_t data_rows = static_cast<int64_t>((data_size - header_size) / row_bytes());
    std::vector<std::string> lines = complete_lines(rows_path);
    int64_t n = std::min<int64_t>(data_rows, static_cast<int64_t>(lines.size()));
    std::vector<bool> error_row;
    for (int64_t i = 0; i < n; ++i) {  // every kept line must parse and be in order
      const json record = json::parse(lines[i], nullptr, false);
      const auto index = record.is_object() ? record.find("index") : record.end();
      if (index == record.end() || !index->is_number_integer() || index->get<int64_t>() != i) {
        n = i;
        break;
      }
      error_row.push_back(store_detail::is_error_record(record));
    }
    n -= n % std::max<int64_t>(1, granularity);
    errors = std::count(error_row.begin(), error_row.begin() + n, true);
    size_t rows_bytes = 0;
    for (int64_t i = 0; i < n; ++i) rows_bytes += lines[i].size() + 1;
    fs::resize_file(data_path, header_size + static_cast<size_t>(n) * row_bytes());
    fs::resize_file(rows_path, rows_bytes);
    return n;
  }
};

json complete_run_manifest(const std::string& dir, const json& identity) {
  const std::string path = join(dir, kManifest);
  if (!fs::exists(path)) return nullptr;
  json manifest = json::parse(read_file(path), nullptr, false);
  if (!manifest.is_object() || manifest.value("run", json()) != identity) return nullptr;
  return manifest;
}

StoreWriter::StoreWriter(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
StoreWriter::StoreWriter(StoreWriter&&) noexcept = default;
StoreWriter& StoreWriter::operator=(StoreWriter&&) noexcept = default;
StoreWriter::~StoreWriter() = default;

StoreWriter StoreWriter::open(const std::string& dir, const json& identity, int64_t rows, int64_t dim,
                              StoreDType dtype, const OpenMode& mode) {
  if (!npy_descr(dtype)) throw Error(ErrorKind::kUsage, "a store holds float16 or float32 rows, not bfloat16");
  auto impl = std::make_unique<Impl>();
  impl->dir = dir;
  impl->identity = identity;
  impl->rows = rows;
  impl->dim = dim;
  impl->dtype = dtype;
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec || !fs::is_directory(dir))
    throw Error(ErrorKind::kOutput, "cannot create output folder '" + dir + "'" + (ec ? ": " + ec.message() : ""),
                "choose a writable " + param("out") + " location");

  impl->lock_fd = ::open(impl->path(kLock).c_str(), O_RDWR | O_CREAT, 0644);
  if (impl->lock_fd < 0)
    throw Error(ErrorKind::kOutput, "cannot write in '" + dir + "': " + errno_text(), "choose a writable " + param("out") + " location");
  if (::flock(impl->lock_fd, LOCK_EX | LOCK_NB) != 0)
    throw Error(ErrorKind::kOutput, "another clipzs process is writing the store '" + dir + "'",
                "wait for it to finish, or write to another " + param("out"));

  const std::string dtype_descr = npy_descr(dtype);
  const std::string header = npy_header(dtype_descr, {rows, dim});
  impl->header_size = header.size();

  const bool complete = fs::exists(impl->path(kManifest));
  const bool partial = fs::exists(impl->path(kRunFile));
  if (complete && !mode.overwrite)
    throw Error(ErrorKind::kOutput, "'" + dir + "' already holds a complete store",
                "pass " + param("overwrite") + " to replace it, or choose another " + param("out"));
  if (partial && !complete && !mode.resume && !mode.overwrite)
    throw Error(ErrorKind::kOutput, "'" + dir + "' holds an unfinished run",
                "pass " + param("resume") + " to continue it, or " + param("overwrite") + " to start again");

  bool resuming = false;
  if (partial && !complete && mode.resume) {
    json previous;
    try {
      previous = json::parse(read_file(impl->path(kRunFile)));
    } catch (const json::exception&) {
      throw Error(ErrorKind::kOutput, impl->path(kRunFile) + " is damaged", "pass " + param("overwrite") + " to start again");
    }
    if (previous != identity) {
      std::string what = "the unfinished run in '" + dir + "' differs from this one";
      for (auto it = identity.begin(); it != identity.end(); ++it) {
        if (!previous.contains(it.key()) || previous[it.key()] != it.value()) {
          what += " (" + it.key() + ": " + (previous.contains(it.key()) ? previous[it.key()].dump() : "absent") +
                  " there, " + it.value().dump() + " now)";
          break;
        }
      }
      throw Error(ErrorKind::kOutput, what, "resume with the same model, input and options, or pass " + param("overwrite"));
    }
    resuming = true;
  }
  if (!resuming) {
    impl->remove_run_files();
    impl->start_partial_files(header);
    write_file_atomic(impl->path(kRunFile), identity.dump(2) + "\n");
  } else {
    impl->done = impl->recover_partial_rows(header, mode.resume_granularity);
  }
  impl->data_fd = ::open(impl->path(kPartialData).c_str(), O_WRONLY | O_APPEND);
  impl->rows_fd = ::open(impl->path(kPartialRows).c_str(), O_WRONLY | O_APPEND);
  if (impl->data_fd < 0 || impl->rows_fd < 0)
    throw Error(ErrorKind::kOutput, "cannot open the partial files in '" + dir + "': " + errno_text());
  return StoreWriter(std::move(impl));
}

int64_t StoreWriter::rows_done() const { return impl_->done; }
int64_t StoreWriter::error_rows() const { return impl_->errors; }

void StoreWriter::append(const float* embeddings, const std::vector<json>& records) {
  const size_t n = records.size();
  if (impl_->done + static_cast<int64_t>(n) > impl_->rows)
    throw Error(ErrorKind::kInternal, "store '" + impl_->dir + "' received more rows than announced");
  const size_t values = n * static_cast<size_t>(impl_->dim);
  // Data first, then the row records: a crash in between leaves surplus data, which resume cuts off.
  if (impl_->dtype == StoreDType::kFloat16) {
    std::vector<uint16_t> half(values);
    for (size_t i = 0; i < values; ++i) half[i] = float_to_half(embeddings[i]);
    impl_->write_all(impl_->data_fd, half.data(), values * 2, kPartialData);
  } else {
    impl_->write_all(impl_->data_fd, embeddings, values * 4, kPartialData);
  }
  std::string lines;
  for (const auto& record : records) {
    lines += record.dump() + "\n";
    if (store_detail::is_error_record(record)) ++impl_->errors;
  }
  impl_->write_all(impl_->rows_fd, lines.data(), lines.size(), kPartialRows);
  impl_->done += static_cast<int64_t>(n);
}

void StoreWriter::flush() {
  if (::fdatasync(impl_->data_fd) != 0 || ::fdatasync(impl_->rows_fd) != 0)
    throw Error(ErrorKind::kOutput, "cannot flush the store '" + impl_->dir + "': " + errno_text());
}

void StoreWriter::add_file(const std::string& name, const std::vector<float>& values, const std::vector<int64_t>& shape) {
  write_npy(join(impl_->dir, name), values, shape);
  impl_->extra_files.push_back(name);
}

json StoreWriter::finish(const json& manifest) {
  if (impl_->done != impl_->rows)
    throw Error(ErrorKind::kInternal, "store '" + impl_->dir + "' finished with " + std::to_string(impl_->done) +
                                          " of " + std::to_string(impl_->rows) + " rows");
  flush();
  ::close(impl_->data_fd);
  ::close(impl_->rows_fd);
  impl_->data_fd = impl_->rows_fd = -1;
  const std::string data_path = impl_->path(kData);
  const std::string rows_path = impl_->path(kRows);
  if (::rename(impl_->path(kPartialData).c_str(), data_path.c_str()) != 0 ||
      ::rename(impl_->path(kPartialRows).c_str(), rows_path.c_str()) != 0)
    throw Error(ErrorKind::kOutput, "cannot move the finished files into place in '" + impl_->dir + "': " + errno_text());
  json out = manifest;
  out["format"] = "clipzs-embedding-store";
  out["format_version"] = 1;
  out["dtype"] = store_dtype_name(impl_->dtype);
  out["rows"] = impl_->rows;
  out["dim"] = impl_->dim;
  out["ok_rows"] = impl_->rows - impl_->errors;
  out["error_rows"] = impl_->errors;
  out["clipzs_version"] = CLIPZS_VERSION;
  out["created"] = utc_timestamp();
  out["run"] = impl_->identity;
  json files = json::object();
  files[kData] = sha256_file(data_path);
  files[kRows] = sha256_file(rows_path);
  for (const auto& name : impl_->extra_files) files[name] = sha256_file(join(impl_->dir, name));
  out["files"] = files;
  fsync_path(impl_->dir);
  write_file_atomic(impl_->path(kManifest), out.dump(2) + "\n");
  std::error_code ec;
  fs::remove(impl_->path(kRunFile), ec);
  fsync_path(impl_->dir);
  return out;
}

float store_logit_scale(const json& manifest) {
  if (!manifest.is_object() || !manifest.contains("bundle") || !manifest["bundle"].is_object()) return 0.0f;
  const json& bundle = manifest["bundle"];
  if (bundle.contains("logit_scale") && bundle["logit_scale"].is_number()) return bundle["logit_scale"].get<float>();
  // Older stores: the bundle they name, read as every command reads one, and only if it is still the
  // bundle that made the store (a re-exported folder would give another model's scale).
  const std::string dir = bundle.value("dir", "");
  if (dir.empty()) return 0.0f;
  try {
    const BundleInfo b = load_bundle_info(dir, /*verify_hashes=*/false);
    return b.bundle_sha256 == bundle.value("sha256", "") ? b.logit_scale : 0.0f;
  } catch (const std::exception&) {
    return 0.0f;
  }
}

float resolve_logit_scale(float override_scale, const json& manifest, const std::string& store) {
  if (override_scale > 0) return override_scale;
  const float s = store_logit_scale(manifest);
  if (!(s > 0) || !std::isfinite(s))
    throw Error(ErrorKind::kInput, "cannot tell the logit scale of the bundle that made '" + store +
                                       "': its manifest does not record it (made before clipzs did) and the bundle it "
                                       "points to is gone, unreadable or no longer the one that made the store",
                "pass " + param("logit_scale") + " (100 for OpenAI's CLIP models), or embed the store again");
  return s;
}

Store read_store(const std::string& dir, bool verify, bool as_float) {
  Store store;
  store.dir = dir;
  const std::string manifest_path = join(dir, kManifest);
  if (!fs::exists(manifest_path)) {
    std::string hint = fs::exists(join(dir, kRunFile)) ? "the run that writes it has not finished; rerun it with " + param("resume")
                                                        : "make it with `" + call("embed") + "`";
    throw Error(ErrorKind::kInput, "'" + dir + "' is not a complete embedding store (no manifest.json)", hint);
  }
  try {
    store.manifest = json::parse(read_file(manifest_path));
    store.rows = store_detail::json_count(store.manifest, "rows", manifest_path + " is damaged");
    store.dim = store_detail::json_count(store.manifest, "dim", manifest_path + " is damaged");
  } catch (const json::exception& e) {
    throw Error(ErrorKind::kInput, manifest_path + " is damaged: " + e.what());
  }
  const std::string data_path = join(dir, kData);
  const std::string rows_path = join(dir, kRows);
  if (verify) {
    const json files = store.manifest.value("files", json::object());
    if (!files.is_object()) throw Error(ErrorKind::kInput, manifest_path + " is damaged: 'files' is not an object");
    for (const auto& [name, expected] : files.items()) {
      // Plain names of files in the store only: "/dev/zero" or "../x" would hash files elsewhere.
      if (!expected.is_string() || !store_detail::is_plain_file_name(name))
        throw Error(ErrorKind::kInput, manifest_path + " is damaged: files['" + name + "'] is not a sha256 of a store file");
      const std::string path = join(dir, name);
      if (!fs::exists(path)) throw Error(ErrorKind::kInput, "store file '" + path + "' is missing");
      if (sha256_file(path) != expected.get<std::string>())
        throw Error(ErrorKind::kInput, "store file '" + path + "' does not match its sha256 in manifest.json",
                    "the store was modified or damaged; re-create it with `" + call("embed") + "`");
    }
  }
  NpyArray array = read_npy(data_path);
  if (array.shape.size() != 2 || array.shape[0] != store.rows || array.shape[1] != store.dim)
    throw Error(ErrorKind::kInput, data_path + " has a shape other than manifest.json's rows x dim");
  std::vector<int64_t> bad_rows;
  if (as_float) {
    store.embeddings = array.to_float();
    bad_rows = nonfinite_rows(store.embeddings.data(), store.rows, store.dim);
  } else {
    if (array.dtype == "<f2")
      bad_rows = nonfinite_rows_f16(reinterpret_cast<const uint16_t*>(array.data.data()), store.rows, store.dim);
    else if (array.dtype == "<f4")
      bad_rows = nonfinite_rows(reinterpret_cast<const float*>(array.data.data()), store.rows, store.dim);
    store.raw = std::move(array);
  }
  int64_t line_no = 0;
  for (const auto& line : complete_lines(rows_path)) {
    ++line_no;
    try {
      store.records.push_back(json::parse(line));
    } catch (const json::exception& e) {
      throw Error(ErrorKind::kInput, rows_path + ":" + std::to_string(line_no) + ": not valid JSON");
    }
  }
  if (static_cast<int64_t>(store.records.size()) != store.rows)
    throw Error(ErrorKind::kInput, rows_path + " has " + std::to_string(store.records.size()) + " rows, manifest.json says " +
                                       std::to_string(store.rows));
  if (!bad_rows.empty())
    throw Error(ErrorKind::kInput,
                data_path + ": NaN or Inf values in " + describe_rows(bad_rows, [&] {
                  std::vector<std::string> names;
                  for (size_t i = 0; i < bad_rows.size() && i < 5; ++i) names.push_back(record_name(store.records[bad_rows[i]]));
                  return names;
                }()),
                "the model or the file is damaged; re-create the store (`" + call("verify_store") + "` lists every bad row)");
  return store;
}

std::vector<int64_t> nonfinite_rows(const float* values, int64_t rows, int64_t cols) {
  std::vector<int64_t> bad;
  for (int64_t r = 0; r < rows; ++r) {
    const float* row = values + r * cols;
    float sum = 0.0f;  // NaN and Inf propagate into the sum; one branch per row
    for (int64_t c = 0; c < cols; ++c) sum += row[c] * 0.0f;
    if (sum != 0.0f) bad.push_back(r);
  }
  return bad;
}

std::vector<int64_t> nonfinite_rows_f16(const uint16_t* values, int64_t rows, int64_t cols) {
  std::vector<int64_t> bad;
  for (int64_t r = 0; r < rows; ++r) {
    const uint16_t* row = values + r * cols;
    bool finite = true;
    for (int64_t c = 0; c < cols; ++c) finite &= (row[c] & 0x7C00) != 0x7C00;  // exponent all ones
    if (!finite) bad.push_back(r);
  }
  return bad;
}

std::string describe_rows(const std::vector<int64_t>& rows, const std::vector<std::string>& names, size_t shown) {
  std::string out = rows.size() == 1 ? "row " : "rows ";
  for (size_t i = 0; i < rows.size() && i < shown; ++i) {
    if (i > 0) out += ", ";
    out += std::to_string(rows[i]);
    if (i < names.size() && !names[i].empty()) out += " (" + names[i] + ")";
  }
  if (rows.size() > shown) out += " and " + std::to_string(rows.size() - shown) + " more";
  return out;
}

std::string record_name(const json& record) {
  for (const char* key : {"path", "caption", "label"}) {
    auto it = record.find(key);
    if (it != record.end() && it->is_string() && !it->get<std::string>().empty()) return it->get<std::string>();
  }
  return {};
}

}  // namespace clipzs
