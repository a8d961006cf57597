#include <condition_variable>
#include <deque>
#include <memory>
#include <mutex>
#include <thread>

#include "clipzs/pipeline/embed.hpp"
#include "clipzs/util/error.hpp"
#include "pipeline/embedding_run.hpp"
#include "image/image_internal.hpp"
#include "util/thread_pool.hpp"

namespace clipzs {
using nlohmann::json;

ErrorPolicy parse_error_policy(const std::string& name) {
  if (name == "record" || name == "skip") return ErrorPolicy::kRecord;
  if (name == "fail") return ErrorPolicy::kFail;
  throw Error(ErrorKind::kUsage, "unknown error policy '" + name + "'", "use record or fail");
}

namespace {

// One batch being decoded by the pool: a slice [begin, end) of the listing.
struct PendingBatch {
  int64_t begin = 0;
  int64_t end = 0;
  std::vector<float> pixels;        // (end-begin) x 3 x S x S
  std::vector<std::string> errors;  // empty string: decoded fine
  int remaining = 0;
  std::mutex mutex;
  std::condition_variable done;

  void wait() {
    std::unique_lock<std::mutex> lock(mutex);
    done.wait(lock, [this] { return remaining == 0; });
  }
};

// The producer of image runs: decodes and preprocesses rows on a pool of worker threads, `prefetch`
// batches ahead of the one in the encoder.
class ImageBatches final : public pipeline_detail::BatchProducer {
 public:
  ImageBatches(const std::vector<ImageInput>& inputs, const PreprocessSpec& spec, const EmbedImagesOptions& options,
               int64_t views, int64_t first_row, int workers)
      : inputs_(inputs), spec_(spec), options_(options), views_(views), first_row_(first_row), workers_(workers),
        pixels_per_image_(3LL * spec.size * spec.size) {}
  ~ImageBatches() override { stop(); }

  void start(int64_t first, int64_t end, int64_t batch_size) override {
    next_begin_ = first;
    end_row_ = end;
    batch_size_ = batch_size;
    pool_ = std::make_unique<ThreadPool>(workers_);
    schedule();
  }

  bool has_next() const override { return !queue_.empty(); }

  bool next(pipeline_detail::Batch& out) override {
    if (queue_.empty()) return false;
    std::unique_ptr<PendingBatch> batch = std::move(queue_.front());
    queue_.pop_front();
    batch->wait();
    schedule();  // start decoding the next batch while this one runs through the encoder
    const int64_t n = batch->end - batch->begin;
    out.begin = batch->begin;
    out.end = batch->end;
    out.errors = std::move(batch->errors);
    out.records.reserve(static_cast<size_t>(n));
    for (int64_t i = 0; i < n; ++i) {
      const int64_t row = batch->begin + i;
      const ImageInput& item = inputs_[static_cast<size_t>(row / views_)];
      json record = {{"index", row - first_row_}, {"path", item.path}, {"label", item.label}};
      if (item.in_archive()) record["member"] = item.member;
      if (options_.augment_views > 0) {
        record["source"] = row / views_;
        record["view"] = row % views_;
      }
      const std::string& error = out.errors[static_cast<size_t>(i)];
      if (error.empty()) {
        record["status"] = "ok";
        out.ok.push_back(i);
      } else {
        record["status"] = "error";
        record["error"] = render_names(error);
      }
      out.records.push_back(std::move(record));
    }
    if (static_cast<int64_t>(out.ok.size()) == n) {
      out.pixels = std::move(batch->pixels);
    } else {  // the encoder sees the fine rows only
      out.pixels.resize(out.ok.size() * static_cast<size_t>(pixels_per_image_));
      for (size_t k = 0; k < out.ok.size(); ++k)
        std::copy_n(batch->pixels.data() + out.ok[k] * pixels_per_image_, pixels_per_image_,
                    out.pixels.data() + k * static_cast<size_t>(pixels_per_image_));
    }
    return true;
  }

  // Waits for every scheduled batch, so that no worker touches freed memory once the run is left.
  void stop() noexcept override {
    for (auto& b : queue_) b->wait();
    queue_.clear();
  }

 private:
  void schedule() {
    const int prefetch = 2;
    while (static_cast<int>(queue_.size()) < prefetch && next_begin_ < end_row_) {
      auto batch = std::make_unique<PendingBatch>();
      batch->begin = next_begin_;
      batch->end = std::min<int64_t>(end_row_, next_begin_ + batch_size_);
      const int64_t n = batch->end - batch->begin;
      batch->pixels.resize(static_cast<size_t>(n * pixels_per_image_));
      batch->errors.resize(static_cast<size_t>(n));
      batch->remaining = static_cast<int>(n);
      PendingBatch* raw = batch.get();
      queue_.push_back(std::move(batch));  // first: owned by the queue before any task points at it
      next_begin_ = raw->end;
      for (int64_t i = 0; i < n; ++i) pool_->submit([this, raw, i] { decode_row(*raw, i); });
    }
  }

  void decode_row(PendingBatch& batch, int64_t i) const {
    try {
      const int64_t row = batch.begin + i;
      const ImageInput& item = inputs_[static_cast<size_t>(row / views_)];
      Image8 crop;
      if (options_.augment_views > 0) {
        DecodedImage full;
        if (item.in_archive()) {
          const std::vector<uint8_t> bytes = read_archive_member(item);
          full = decode_image_bytes(bytes.data(), bytes.size(), item.display_name(), options_.decode);
        } else {
          full = decode_image(item.path, options_.decode);
        }
        crop = augmented_view(full, spec_, options_.augment, options_.augment_seed, static_cast<uint64_t>(row / views_),
                              static_cast<int>(row % views_));
      } else if (item.in_archive()) {
        // decode_and_preprocess* decode only the part of the file the centre crop needs; same pixels
        // and errors as preprocess(decode_image(...)).
        const std::vector<uint8_t> bytes = read_archive_member(item);
        crop = image_detail::decode_and_preprocess_bytes(bytes.data(), bytes.size(), item.display_name(), spec_,
                                                         options_.decode);
      } else {
        crop = image_detail::decode_and_preprocess(item.path, spec_, options_.decode);
      }
      normalize_chw(crop, spec_, batch.pixels.data() + i * pixels_per_image_);
    } catch (const Error& e) {  // names stay marked for the caller's message; rows.jsonl gets them plain
      batch.errors[static_cast<size_t>(i)] = e.what()[0] ? e.marked_what() : "unknown decoding error";
    } catch (const std::exception& e) {
      batch.errors[static_cast<size_t>(i)] = e.what()[0] ? e.what() : "unknown decoding error";
    }
    std::lock_guard<std::mutex> lock(batch.mutex);
    if (--batch.remaining == 0) batch.done.notify_all();
  }

  const std::vector<ImageInput>& inputs_;
  const PreprocessSpec spec_;
  const EmbedImagesOptions& options_;
  const int64_t views_;
  const int64_t first_row_;
  const int workers_;
  const int64_t pixels_per_image_;
  int64_t next_begin_ = 0;
  int64_t end_row_ = 0;
  int64_t batch_size_ = 1;
  std::deque<std::unique_ptr<PendingBatch>> queue_;
  std::unique_ptr<ThreadPool> pool_;  // last: destroyed first, joining its workers
};

}  // namespace

EmbedSummary embed_images(const ClipModel& model, const std::vector<ImageInput>& inputs, const std::string& store_dir,
                          const EmbedImagesOptions& options, const ProgressCallback& progress) {
  const BundleInfo& bundle = model.bundle();
  const PreprocessSpec spec = bundle.preprocess;
  if (options.augment_views < 0) throw Error(ErrorKind::kUsage, param("augment_views") + " must be 0 or more");
  const int64_t views = std::max(1, options.augment_views);
  const int64_t total = static_cast<int64_t>(inputs.size()) * views;
  if (options.batch_size < 1) throw Error(ErrorKind::kUsage, param("batch_size") + " must be at least 1");

  json identity = pipeline_detail::run_identity("images", model, listing_fingerprint(inputs), total,
                                                options.store_dtype, options.batch_size);
  identity["exif"] = options.decode.apply_exif_orientation ? "apply" : "ignore";
  identity["max_pixels"] = options.decode.max_pixels;
  if (options.augment_views > 0)
    identity["augment"] = {{"views", options.augment_views}, {"seed", options.augment_seed},
                           {"scale", {options.augment.scale_min, options.augment.scale_max}}, {"flip", options.augment.flip}};
  const json augment = identity.value("augment", json());
  pipeline_detail::StoreRunPlan plan =
      pipeline_detail::store_run_plan(store_dir, std::move(identity), total, model.embed_dim(), options);
  plan.on_error = options.on_error;
  pipeline_detail::StoreRun run(std::move(plan));

  int workers = options.workers;
  if (workers <= 0) {
    const int cores = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
    const int torch_threads = model.options().threads > 0 ? model.options().threads : cores;
    workers = std::max(1, cores - torch_threads);
  }
  ImageBatches producer(inputs, spec, options, views, run.shard().first, workers);
  auto encoder = pipeline_detail::image_encoder(model);
  auto manifest = [&] {
    json m = pipeline_detail::run_manifest("images", model);
    m["preprocess"] = {{"size", spec.size},
                       {"interpolation", interpolation_name(spec.interpolation)},
                       {"resize_mode", resize_mode_name(spec.resize_mode)},
                       {"mean", spec.mean},
                       {"std", spec.std},
                       {"exif", options.decode.apply_exif_orientation ? "apply" : "ignore"}};
    if (!augment.is_null()) m["augment"] = augment;
    return m;
  };
  return run.run(producer, *encoder, manifest, progress);
}

ShardRange shard_range(int64_t total, int64_t unit, int shard_index, int shard_count) {
  if (shard_count < 1 || shard_index < 0 || shard_index >= shard_count)
    throw Error(ErrorKind::kUsage, "shard " + std::to_string(shard_index) + "/" + std::to_string(shard_count) +
                                       " does not exist", "use " + param("shard") + " i/N with 0 <= i < N");
  if (unit < 1) throw Error(ErrorKind::kUsage, "the shard step must be at least one row");
  const int64_t steps = (total + unit - 1) / unit;
  const int64_t first_step = steps * shard_index / shard_count;
  const int64_t end_step = steps * (shard_index + 1) / shard_count;
  ShardRange r;
  r.first = std::min<int64_t>(total, first_step * unit);
  r.count = std::min<int64_t>(total, end_step * unit) - r.first;
  return r;
}

void parse_shard(const std::string& text, int& index, int& count) {
  const size_t slash = text.find('/');
  try {
    size_t used_i = 0, used_n = 0;
    if (slash == std::string::npos) throw std::invalid_argument("no slash");
    index = std::stoi(text.substr(0, slash), &used_i);
    count = std::stoi(text.substr(slash + 1), &used_n);
    if (used_i != slash || used_n != text.size() - slash - 1) throw std::invalid_argument("trailing text");
  } catch (const std::exception&) {
    throw Error(ErrorKind::kUsage, param("shard") + " '" + text + "' is not of the form i/N", "e.g. " + param("shard") + " 3/16 (shards 0/16 .. 15/16)");
  }
  if (count < 1 || index < 0 || index >= count)
    throw Error(ErrorKind::kUsage, param("shard") + " " + text + ": i must be in 0..N-1", "e.g. " + param("shard") + " 0/4 .. " + param("shard") + " 3/4");
}

}  // namespace clipzs
