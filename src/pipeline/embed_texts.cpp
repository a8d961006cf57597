#include <chrono>
#include <cmath>

#include "clipzs/embed.hpp"
#include "clipzs/error.hpp"
#include "clipzs/files.hpp"
#include "pipeline/bundle_record.hpp"
#include "pipeline/finite_output.hpp"

namespace clipzs {
using nlohmann::json;

EmbedSummary embed_texts(const ClipModel& model, const ClipTokenizer& tokenizer, const ClassPrompts& classes,
                         const std::string& store_dir, const EmbedTextsOptions& options,
                         const ProgressCallback& progress) {
  const BundleInfo& bundle = model.bundle();
  const int64_t dim = model.embed_dim();
  const int64_t num_classes = static_cast<int64_t>(classes.classnames.size());
  const int context = bundle.context_length;
  if (options.batch_size < 1) throw Error(ErrorKind::kUsage, "--batch-size must be at least 1");

  std::vector<std::string> all_prompts;
  std::string fingerprint_text;
  for (int64_t c = 0; c < num_classes; ++c) {
    fingerprint_text += classes.classnames[c] + '\x1f';
    for (const auto& p : classes.prompts[c]) {
      all_prompts.push_back(p);
      fingerprint_text += p + '\x1e';
    }
  }
  json identity = {{"kind", "texts"},
                   {"bundle_name", bundle.name},
                   {"bundle_sha256", bundle.bundle_sha256},
                   {"inputs_sha256", sha256_bytes(fingerprint_text.data(), fingerprint_text.size())},
                   {"rows", num_classes},
                   {"dim", dim},
                   {"dtype", store_dtype_name(options.store_dtype)},
                   {"model_dtype", dtype_name(model.options().dtype)}};
  // Class proxies need every prompt of a class, so text stores are written in one go; a text run is
  // short (80,000 prompts: minutes on a CPU), and --resume simply starts it again.
  OpenMode mode = options.open_mode;
  if (mode.resume) mode.overwrite = true;
  StoreWriter writer = StoreWriter::open(store_dir, identity, num_classes, dim, options.store_dtype, mode);

  const auto start = std::chrono::steady_clock::now();
  auto elapsed = [&] { return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count(); };
  const int64_t total_prompts = static_cast<int64_t>(all_prompts.size());
  std::vector<float> prompt_embeddings(static_cast<size_t>(total_prompts * dim));
  int64_t truncated = 0;
  for (int64_t begin = 0; begin < total_prompts; begin += options.batch_size) {
    if (options.cancel && options.cancel->load())
      throw Error(ErrorKind::kInterrupted, "interrupted while embedding prompts", "rerun the same command");
    const int64_t end = std::min<int64_t>(total_prompts, begin + options.batch_size);
    std::vector<int64_t> ids;
    ids.reserve(static_cast<size_t>((end - begin) * context));
    for (int64_t i = begin; i < end; ++i) {
      TokenizedText t = tokenizer.encode(all_prompts[static_cast<size_t>(i)], context);
      truncated += t.truncated ? 1 : 0;
      ids.insert(ids.end(), t.ids.begin(), t.ids.end());
    }
    std::vector<float> out = model.encode_tokens(ids.data(), end - begin);
    if (!nonfinite_rows(out.data(), end - begin, dim).empty()) {
      std::vector<json> records;  // prompts by their index in the class x template list
      for (int64_t i = begin; i < end; ++i) records.push_back({{"index", i}, {"caption", all_prompts[static_cast<size_t>(i)]}});
      pipeline_detail::require_finite_output(out, end - begin, dim, "text encoder", records);
    }
    std::copy(out.begin(), out.end(), prompt_embeddings.begin() + begin * dim);
    if (progress) {
      Progress p;
      p.done = end;
      p.total = total_prompts;
      p.elapsed_s = elapsed();
      p.done_this_run = end;
      progress(p);
    }
  }

  // The standard CLIP ensemble: mean of normalised prompt embeddings, normalised again.
  std::vector<float> proxies(static_cast<size_t>(num_classes * dim), 0.0f);
  std::vector<json> records;
  int64_t offset = 0;
  for (int64_t c = 0; c < num_classes; ++c) {
    const int64_t count = static_cast<int64_t>(classes.prompts[c].size());
    float* proxy = proxies.data() + c * dim;
    for (int64_t k = 0; k < count; ++k)
      for (int64_t j = 0; j < dim; ++j) proxy[j] += prompt_embeddings[static_cast<size_t>((offset + k) * dim + j)];
    l2_normalize_rows(proxy, 1, dim);
    records.push_back({{"index", c},
                       {"label", classes.classnames[c]},
                       {"status", "ok"},
                       {"prompt_offset", offset},
                       {"prompts", classes.prompts[c]}});
    offset += count;
  }
  writer.add_file("prompts.npy", prompt_embeddings, {total_prompts, dim});
  writer.append(proxies.data(), records);
  json manifest = {{"kind", "texts"},
                   {"bundle", pipeline_detail::bundle_record(bundle)},
                   {"prompts", total_prompts},
                   {"truncated_prompts", truncated},
                   {"context_length", context},
                   {"ensemble", "mean of L2-normalised prompt embeddings, L2-normalised"},
                   {"model_dtype", dtype_name(model.options().dtype)},
                   {"device", model.options().device}};
  writer.finish(manifest);

  EmbedSummary summary;
  summary.store = store_dir;
  summary.rows = num_classes;
  summary.ok = num_classes;
  summary.seconds = elapsed();
  summary.rows_per_second = summary.seconds > 0 ? static_cast<double>(total_prompts) / summary.seconds : 0.0;
  return summary;
}

}  // namespace clipzs
