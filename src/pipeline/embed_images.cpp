#include <chrono>
#include <condition_variable>
#include <deque>
#include <memory>
#include <mutex>
#include <thread>

#include "clipzs/embed.hpp"
#include "clipzs/error.hpp"
#include "pipeline/bundle_record.hpp"
#include "pipeline/completed_run.hpp"
#include "pipeline/finite_output.hpp"
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

}  // namespace

EmbedSummary embed_images(const ClipModel& model, const std::vector<ImageInput>& inputs, const std::string& store_dir,
                          const EmbedImagesOptions& options, const ProgressCallback& progress) {
  const BundleInfo& bundle = model.bundle();
  const PreprocessSpec spec = bundle.preprocess;
  if (options.augment_views < 0) throw Error(ErrorKind::kUsage, "--augment must be 0 or more");
  const int64_t views = std::max(1, options.augment_views);
  const int64_t total = static_cast<int64_t>(inputs.size()) * views;
  const int64_t dim = model.embed_dim();
  const int64_t pixels_per_image = 3LL * spec.size * spec.size;
  if (options.batch_size < 1) throw Error(ErrorKind::kUsage, "--batch-size must be at least 1");

  json identity = {
      {"kind", "images"},
      {"bundle_name", bundle.name},
      {"bundle_sha256", bundle.bundle_sha256},
      {"inputs_sha256", listing_fingerprint(inputs)},
      {"rows", total},
      {"dim", dim},
      {"dtype", store_dtype_name(options.store_dtype)},
      {"batch_size", options.batch_size},
      {"model_dtype", dtype_name(model.options().dtype)},
      {"exif", options.decode.apply_exif_orientation ? "apply" : "ignore"},
      {"max_pixels", options.decode.max_pixels},
  };
  if (options.augment_views > 0)
    identity["augment"] = {{"views", options.augment_views}, {"seed", options.augment_seed},
                           {"scale", {options.augment.scale_min, options.augment.scale_max}}, {"flip", options.augment.flip}};
  // A shard: row numbers below stay global (inputs, augmentation draws, batches); the store holds
  // rows [shard.first, shard.first + shard.count) under local indices.
  const int64_t shard_unit = options.shard_unit > 0 ? options.shard_unit : options.batch_size;
  if (shard_unit % options.batch_size != 0)
    throw Error(ErrorKind::kInternal, "embed_images: the shard unit is not a multiple of the batch size");
  const ShardRange shard = shard_range(total, shard_unit, options.shard_index, options.shard_count);
  const bool sharded = options.shard_count > 1;
  if (sharded)
    identity["shard"] = {{"index", options.shard_index}, {"count", options.shard_count}, {"first_row", shard.first},
                         {"rows", shard.count}, {"total_rows", total}};
  const int64_t first_row = shard.first;
  const int64_t end_row = shard.first + shard.count;
  if (auto done = pipeline_detail::completed_run(store_dir, identity, shard.count, options.open_mode)) return *done;
  OpenMode open_mode = options.open_mode;
  open_mode.resume_granularity = options.batch_size;
  StoreWriter writer = StoreWriter::open(store_dir, identity, shard.count, dim, options.store_dtype, open_mode);
  const int64_t resumed = writer.rows_done();
  // Resume on a batch boundary so batches are the same as in an uninterrupted run.
  if (resumed % options.batch_size != 0 && resumed != shard.count)
    throw Error(ErrorKind::kInternal, "resumed store is not on a batch boundary");

  int workers = options.workers;
  if (workers <= 0) {
    const int cores = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
    const int torch_threads = model.options().threads > 0 ? model.options().threads : cores;
    workers = std::max(1, cores - torch_threads);
  }
  ThreadPool pool(workers);
  const int prefetch = 2;  // batches decoded ahead of the one in the model
  std::deque<std::unique_ptr<PendingBatch>> queue;
  int64_t next_begin = first_row + resumed;

  auto schedule = [&]() {
    while (static_cast<int>(queue.size()) < prefetch && next_begin < end_row) {
      auto batch = std::make_unique<PendingBatch>();
      batch->begin = next_begin;
      batch->end = std::min<int64_t>(end_row, next_begin + options.batch_size);
      const int64_t n = batch->end - batch->begin;
      batch->pixels.resize(static_cast<size_t>(n * pixels_per_image));
      batch->errors.resize(static_cast<size_t>(n));
      batch->remaining = static_cast<int>(n);
      PendingBatch* raw = batch.get();
      for (int64_t i = 0; i < n; ++i) {
        pool.submit([raw, i, &inputs, &spec, &options, pixels_per_image, views] {
          try {
            const int64_t row = raw->begin + i;
            const ImageInput& item = inputs[static_cast<size_t>(row / views)];
            Image8 crop;
            if (options.augment_views > 0) {
              DecodedImage full;
              if (item.in_archive()) {
                const std::vector<uint8_t> bytes = read_archive_member(item);
                full = decode_image_bytes(bytes.data(), bytes.size(), item.display_name(), options.decode);
              } else {
                full = decode_image(item.path, options.decode);
              }
              crop = augmented_view(full, spec, options.augment, options.augment_seed, static_cast<uint64_t>(row / views),
                                    static_cast<int>(row % views));
            } else if (item.in_archive()) {
              // decode_and_preprocess* decode only the part of the file the centre crop needs; same
              // pixels and errors as preprocess(decode_image(...)).
              const std::vector<uint8_t> bytes = read_archive_member(item);
              crop = image_detail::decode_and_preprocess_bytes(bytes.data(), bytes.size(), item.display_name(), spec,
                                                               options.decode);
            } else {
              crop = image_detail::decode_and_preprocess(item.path, spec, options.decode);
            }
            normalize_chw(crop, spec, raw->pixels.data() + i * pixels_per_image);
          } catch (const std::exception& e) {
            raw->errors[static_cast<size_t>(i)] = e.what()[0] ? e.what() : "unknown decoding error";
          }
          std::lock_guard<std::mutex> lock(raw->mutex);
          if (--raw->remaining == 0) raw->done.notify_all();
        });
      }
      queue.push_back(std::move(batch));
      next_begin = raw->end;
    }
  };

  // Waits for every scheduled batch, so no worker touches freed memory when we leave early.
  auto drain = [&]() {
    for (auto& b : queue) b->wait();
  };

  EmbedSummary summary;
  summary.store = store_dir;
  summary.rows = shard.count;
  summary.resumed_rows = resumed;
  const auto start = std::chrono::steady_clock::now();
  auto elapsed = [&] { return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count(); };

  try {
    schedule();
    std::vector<float> ok_pixels;
    while (!queue.empty()) {
      if (options.cancel && options.cancel->load())
        throw Error(ErrorKind::kInterrupted, "interrupted after " + std::to_string(writer.rows_done()) + " of " +
                                                 std::to_string(shard.count) + " rows",
                    "rerun the same command with --resume to continue");
      std::unique_ptr<PendingBatch> batch = std::move(queue.front());
      queue.pop_front();
      batch->wait();
      schedule();  // start decoding the next batch while this one runs through the model
      const int64_t n = batch->end - batch->begin;
      std::vector<int64_t> ok_rows;
      for (int64_t i = 0; i < n; ++i) {
        if (batch->errors[static_cast<size_t>(i)].empty()) {
          ok_rows.push_back(i);
        } else if (options.on_error == ErrorPolicy::kFail) {
          throw Error(ErrorKind::kInput,
                      "row " + std::to_string(batch->begin + i) + ": " + batch->errors[static_cast<size_t>(i)],
                      "fix or remove the file, or use --on-error record to keep going");
        }
      }
      std::vector<json> records;
      records.reserve(static_cast<size_t>(n));
      for (int64_t i = 0; i < n; ++i) {
        const int64_t row = batch->begin + i;
        const ImageInput& item = inputs[static_cast<size_t>(row / views)];
        json record = {{"index", row - first_row}, {"path", item.path}, {"label", item.label}};
        if (item.in_archive()) record["member"] = item.member;
        if (options.augment_views > 0) {
          record["source"] = row / views;
          record["view"] = row % views;
        }
        const std::string& error = batch->errors[static_cast<size_t>(i)];
        if (error.empty()) {
          record["status"] = "ok";
        } else {
          record["status"] = "error";
          record["error"] = error;
          ++summary.errors;  // this run's, for progress; the total comes from the writer at the end
        }
        records.push_back(std::move(record));
      }
      std::vector<float> embeddings(static_cast<size_t>(n * dim), 0.0f);
      if (!ok_rows.empty()) {
        const float* forward_input = batch->pixels.data();
        if (static_cast<int64_t>(ok_rows.size()) != n) {  // compact the good rows
          ok_pixels.resize(ok_rows.size() * static_cast<size_t>(pixels_per_image));
          for (size_t k = 0; k < ok_rows.size(); ++k)
            std::copy_n(batch->pixels.data() + ok_rows[k] * pixels_per_image, pixels_per_image,
                        ok_pixels.data() + k * static_cast<size_t>(pixels_per_image));
          forward_input = ok_pixels.data();
        }
        std::vector<float> out = model.encode_images(forward_input, static_cast<int64_t>(ok_rows.size()));
        pipeline_detail::require_finite_output(out, static_cast<int64_t>(ok_rows.size()), dim, "image encoder", records,
                                               &ok_rows);
        for (size_t k = 0; k < ok_rows.size(); ++k)
          std::copy_n(out.data() + k * static_cast<size_t>(dim), dim, embeddings.data() + ok_rows[k] * dim);
      }
      writer.append(embeddings.data(), records);
      writer.flush();
      if (progress) {
        Progress p;
        p.done = writer.rows_done();
        p.total = shard.count;
        p.errors = summary.errors;
        p.elapsed_s = elapsed();
        p.done_this_run = writer.rows_done() - resumed;
        progress(p);
      }
    }
  } catch (...) {
    drain();
    throw;
  }
  json manifest = {
      {"kind", "images"},
      {"bundle", pipeline_detail::bundle_record(bundle)},
      {"preprocess",
       {{"size", spec.size},
        {"interpolation", interpolation_name(spec.interpolation)},
        {"resize_mode", resize_mode_name(spec.resize_mode)},
        {"mean", spec.mean},
        {"std", spec.std},
        {"exif", options.decode.apply_exif_orientation ? "apply" : "ignore"}}},
      {"model_dtype", dtype_name(model.options().dtype)},
      {"device", model.options().device},
  };
  if (options.augment_views > 0) manifest["augment"] = identity["augment"];
  if (sharded) manifest["shard"] = identity["shard"];
  summary.seconds = elapsed();
  const int64_t embedded = shard.count - resumed;
  summary.rows_per_second = summary.seconds > 0 ? static_cast<double>(embedded) / summary.seconds : 0.0;
  summary.errors = writer.error_rows();
  summary.ok = shard.count - summary.errors;
  writer.finish(manifest);
  return summary;
}

ShardRange shard_range(int64_t total, int64_t unit, int shard_index, int shard_count) {
  if (shard_count < 1 || shard_index < 0 || shard_index >= shard_count)
    throw Error(ErrorKind::kUsage, "shard " + std::to_string(shard_index) + "/" + std::to_string(shard_count) +
                                       " does not exist", "use --shard i/N with 0 <= i < N");
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
    throw Error(ErrorKind::kUsage, "--shard '" + text + "' is not of the form i/N", "e.g. --shard 3/16 (shards 0/16 .. 15/16)");
  }
  if (count < 1 || index < 0 || index >= count)
    throw Error(ErrorKind::kUsage, "--shard " + text + ": i must be in 0..N-1", "e.g. --shard 0/4 .. --shard 3/4");
}

}  // namespace clipzs
