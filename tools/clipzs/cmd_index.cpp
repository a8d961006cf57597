// `clipzs index build`: an approximate k-NN index (FAISS) over a retrieval bank's image embeddings.
#include <fcntl.h>
#include <spdlog/spdlog.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <optional>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <thread>

#include "clipzs/util/files.hpp"
#include "clipzs/search/knn.hpp"
#include "clipzs/store/npy.hpp"
#include "command.hpp"

namespace clipzs::cli {
namespace fs = std::filesystem;
using nlohmann::json;

namespace {

// The payload of a 2-D float16/float32 .npy, memory-mapped read-only: the index is built chunk by
// chunk, so a bank larger than memory only costs page cache.
class MappedMatrix {
 public:
  explicit MappedMatrix(const std::string& path) {
    size_t offset = 0;
    const NpyArray header = read_npy_header(path, &offset);
    const std::optional<DType> dtype = dtype_of_npy(header.dtype);
    if (!dtype)
      throw Error(ErrorKind::kInput, path + ": expected float16 or float32 embeddings, found dtype '" + header.dtype + "'");
    if (header.shape.size() != 2 || header.shape[0] < 1 || header.shape[1] < 1)
      throw Error(ErrorKind::kInput, path + ": expected a non-empty N x D array");
    view_.dtype = *dtype;
    view_.rows = header.shape[0];
    view_.dim = header.shape[1];
    const size_t payload = static_cast<size_t>(view_.rows * view_.dim) * header.item_size();
    fd_ = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    struct stat st {};
    if (fd_ < 0 || ::fstat(fd_, &st) != 0)
      throw Error(ErrorKind::kInput, "cannot open " + path + ": " + std::strerror(errno));
    if (static_cast<size_t>(st.st_size) < offset + payload)
      throw Error(ErrorKind::kInput, path + " is truncated: " + std::to_string(st.st_size) + " bytes for a " +
                                         std::to_string(view_.rows) + " x " + std::to_string(view_.dim) + " array");
    size_ = offset + payload;
    base_ = ::mmap(nullptr, size_, PROT_READ, MAP_PRIVATE, fd_, 0);
    if (base_ == MAP_FAILED) throw Error(ErrorKind::kInput, "cannot map " + path + ": " + std::strerror(errno));
    ::madvise(base_, size_, MADV_SEQUENTIAL);
    view_.data = static_cast<const char*>(base_) + offset;
  }
  ~MappedMatrix() {
    if (base_ && base_ != MAP_FAILED) ::munmap(base_, size_);
    if (fd_ >= 0) ::close(fd_);
  }
  MappedMatrix(const MappedMatrix&) = delete;
  MappedMatrix& operator=(const MappedMatrix&) = delete;
  const BankView& view() const { return view_; }

 private:
  int fd_ = -1;
  void* base_ = nullptr;
  size_t size_ = 0;
  BankView view_;
};


struct IndexBuildCli {
  std::string bank, out;
  IndexBuildOptions o;
  bool overwrite = false;
  int threads = 0;
  void run();
};

void IndexBuildCli::run() {
  const std::string embeddings = (fs::path(bank) / "images" / "embeddings.npy").string();
  if (!fs::is_regular_file(embeddings))
    throw Error(ErrorKind::kInput, "'" + bank + "' has no images/embeddings.npy", "make the bank with `clipzs embed pairs`");
  if (!fs::exists(fs::path(bank) / "bank.json"))
    spdlog::warn("'{}' has no bank.json: its embedding run may not have finished", bank);
  const std::string file = out.empty() ? (fs::path(bank) / ("index-" + o.type + (o.train_only ? "-trained" : "") + ".faiss")).string() : out;
  if (o.id_offset == 0 && !o.train_only) {  // a shard's ids are its global rows
    const fs::path manifest = fs::path(bank) / "images" / "manifest.json";
    if (fs::exists(manifest)) {
      const json m = json::parse(read_file(manifest.string()), nullptr, false);
      if (m.is_object() && m.contains("shard")) o.id_offset = m["shard"].value("first_row", int64_t{0});
    }
  }
  if (fs::exists(file) && !overwrite)
    throw Error(ErrorKind::kOutput, "'" + file + "' already exists", "pass --overwrite to replace it, or choose another --out");
  set_torch_threads(threads > 0 ? threads : static_cast<int>(std::max(1u, std::thread::hardware_concurrency())));
  if (!faiss_available())
    build_faiss_index(BankView{}, file, o);  // throws kUnsupported with the install hint
  const MappedMatrix matrix(embeddings);
  const BankView& view = matrix.view();
  spdlog::info("building the {} index over {} x {} {} embeddings of {}", o.type, view.rows, view.dim,
               store_dtype_name(view.dtype), bank);
  o.cancel = &interrupt_flag();
  o.progress = make_progress("index build", "rows", false);
  const json desc = json::parse(build_faiss_index(view, file, o));
  finish_progress();
  spdlog::info("wrote {} ({:.1f} MB) in {:.1f} s", file, desc.value("bytes", 0) / 1e6, desc.value("seconds", 0.0));
  print_summary({{"command", "index build"}, {"bank", bank}, {"out", file}, {"index", desc}});
}


struct IndexMergeCli {
  std::vector<std::string> parts;
  std::string merged_out;
  bool merge_overwrite = false;
  void run() const;
};

void IndexMergeCli::run() const {
  if (fs::exists(merged_out) && !merge_overwrite)
    throw Error(ErrorKind::kOutput, "'" + merged_out + "' already exists", "pass --overwrite to replace it, or choose another --out");
  const json desc = json::parse(merge_faiss_indexes(parts, merged_out));
  spdlog::info("merged {} indexes into {} ({} rows, {:.1f} MB)", parts.size(), merged_out, desc.value("rows", 0),
               desc.value("bytes", 0) / 1e6);
  print_summary({{"command", "index merge"}, {"out", merged_out}, {"index", desc}});
}

}  // namespace

void register_index(CLI::App& app, Action& action) {
  CLI::App* index = app.add_subcommand("index", "Approximate k-NN indexes over a retrieval bank (FAISS)");
  index->require_subcommand(1);
  auto cli = std::make_shared<IndexBuildCli>();
  CLI::App* build = index->add_subcommand("build", "Build an inner-product index over BANK/images/embeddings.npy");
  build->add_option("--bank", cli->bank, "Bank folder (clipzs embed pairs); its images/embeddings.npy is indexed")->required();
  build->add_option("--type", cli->o.type, "Index type: flat, ivf-flat, ivf-pq or hnsw")
      ->capture_default_str()
      ->check(CLI::IsMember({"flat", "ivf-flat", "ivf-pq", "hnsw"}));
  build->add_option("--nlist", cli->o.nlist, "IVF lists (0: ~4 sqrt(N), at most N/39)")->capture_default_str();
  build->add_option("--pq-m", cli->o.pq_m, "IVF-PQ sub-quantizers, must divide D (0: D/16)")->capture_default_str();
  build->add_option("--pq-bits", cli->o.pq_bits, "IVF-PQ bits per sub-quantizer code")->capture_default_str();
  build->add_option("--hnsw-m", cli->o.hnsw_m, "HNSW neighbours per node")->capture_default_str();
  build->add_option("--train-rows", cli->o.train_rows, "Rows sampled to train IVF/PQ (0: min(N, 256 x nlist))")->capture_default_str();
  build->add_option("--seed", cli->o.seed, "Seed of the training sample and k-means")->capture_default_str();
  build->add_flag("--train-only", cli->o.train_only, "Write the trained, empty IVF index (to fill shard by shard with --trained)");
  build->add_option("--trained", cli->o.trained_path, "Fill a copy of this trained IVF index (from --train-only) instead of training");
  build->add_option("--id-offset", cli->o.id_offset, "Ids start here (a shard's first global row; default: the bank's shard first_row, else 0)");
  build->add_option("--out", cli->out, "Index file (default: BANK/index-<type>.faiss)");
  build->add_flag("--overwrite", cli->overwrite, "Replace an existing index file");
  build->add_option("--threads", cli->threads, "Threads (0: all cores)");
  build->callback([&action, cli] {
    action = [cli] { cli->run(); };
  });

  auto merge_cli = std::make_shared<IndexMergeCli>();
  CLI::App* merge = index->add_subcommand("merge", "Merge IVF indexes filled from one trained index (one per bank shard)");
  merge->add_option("indexes", merge_cli->parts, "Index files (clipzs index build --trained ...)")->required();
  merge->add_option("--out", merge_cli->merged_out, "Merged index file")->required();
  merge->add_flag("--overwrite", merge_cli->merge_overwrite, "Replace an existing index file");
  merge->callback([&action, merge_cli] {
    action = [merge_cli] { merge_cli->run(); };
  });
}

}  // namespace clipzs::cli
