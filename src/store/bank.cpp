#include "clipzs/store/bank.hpp"

#include <filesystem>

#include "clipzs/util/error.hpp"
#include "clipzs/util/files.hpp"
#include "clipzs/store/store.hpp"

namespace clipzs {
namespace fs = std::filesystem;
using nlohmann::json;

namespace {

StoreDType npy_store_dtype(const NpyArray& a, const std::string& what) {
  if (const auto dtype = dtype_of_npy(a.dtype)) return *dtype;
  throw Error(ErrorKind::kInput, what + " holds " + a.dtype + " values; a bank needs float16 or float32");
}

}  // namespace

BankView Bank::image_view() const {
  BankView view;
  view.data = image_embeddings.data.data();
  view.dtype = npy_store_dtype(image_embeddings, dir + "/images/embeddings.npy");
  view.rows = rows;
  view.dim = dim;
  return view;
}

Matrix Bank::caption_rows(const std::vector<int64_t>& ids) const {
  Matrix m{static_cast<int64_t>(ids.size()), dim, std::vector<float>(ids.size() * static_cast<size_t>(dim))};
  const bool half = caption_embeddings.dtype == "<f2";
  for (size_t r = 0; r < ids.size(); ++r) {
    if (ids[r] < 0 || ids[r] >= rows) throw Error(ErrorKind::kInternal, "caption row out of range");
    float* out = m.data.data() + r * static_cast<size_t>(dim);
    if (half) {
      const uint16_t* in = reinterpret_cast<const uint16_t*>(caption_embeddings.data.data()) + ids[r] * dim;
      for (int64_t j = 0; j < dim; ++j) out[j] = half_to_float(in[j]);
    } else {
      const float* in = reinterpret_cast<const float*>(caption_embeddings.data.data()) + ids[r] * dim;
      std::copy(in, in + dim, out);
    }
  }
  return m;
}

std::string Bank::bundle_sha256() const { return info.value("bundle", json::object()).value("sha256", ""); }

Bank open_bank(const std::string& dir, bool verify) {
  Bank bank;
  bank.dir = dir;
  const std::string info_path = (fs::path(dir) / "bank.json").string();
  if (!fs::exists(info_path)) {
    const bool started = fs::exists(fs::path(dir) / "images") || fs::exists(fs::path(dir) / "captions");
    throw Error(ErrorKind::kInput, "'" + dir + "' is not a complete retrieval bank (no bank.json)",
                started ? "its `" + call("embed_pairs") + "` run has not finished; rerun it with " + param("resume")
                        : "make one with `" + call("embed_pairs") + " " + param("model") + " DIR " + param("input") + " PAIRS " + param("out") + " BANK`");
  }
  try {
    bank.info = json::parse(read_file(info_path));
    if (bank.info.value("kind", "") != "bank") throw Error(ErrorKind::kInput, info_path + " does not describe a bank");
    bank.rows = bank.info.at("rows").get<int64_t>();
    bank.dim = bank.info.at("dim").get<int64_t>();
  } catch (const json::exception& e) {
    throw Error(ErrorKind::kInput, info_path + " is damaged: " + e.what());
  }
  Store images = read_store((fs::path(dir) / "images").string(), verify, false);
  Store captions = read_store((fs::path(dir) / "captions").string(), verify, false);
  for (const Store* s : {&images, &captions})
    if (s->rows != bank.rows || s->dim != bank.dim)
      throw Error(ErrorKind::kInput, "'" + s->dir + "' holds " + std::to_string(s->rows) + " x " + std::to_string(s->dim) +
                                         " embeddings, bank.json says " + std::to_string(bank.rows) + " x " +
                                         std::to_string(bank.dim),
                  "the bank was modified; make it again with `" + call("embed_pairs") + "`");
  const std::string sha = bank.bundle_sha256();
  for (const Store* s : {&images, &captions})
    if (s->manifest.value("bundle", json::object()).value("sha256", "") != sha)
      throw Error(ErrorKind::kInput, "'" + s->dir + "' was embedded by another model bundle than bank.json names");
  bank.image_embeddings = std::move(images.raw);
  bank.caption_embeddings = std::move(captions.raw);
  npy_store_dtype(bank.image_embeddings, images.dir + "/embeddings.npy");
  npy_store_dtype(bank.caption_embeddings, captions.dir + "/embeddings.npy");
  bank.captions.reserve(static_cast<size_t>(bank.rows));
  bank.keys.reserve(static_cast<size_t>(bank.rows));
  bank.usable.reserve(static_cast<size_t>(bank.rows));
  for (int64_t i = 0; i < bank.rows; ++i) {
    const json& c = captions.records[static_cast<size_t>(i)];
    const json& im = images.records[static_cast<size_t>(i)];
    bank.captions.push_back(c.value("caption", ""));
    bank.keys.push_back(c.value("key", ""));
    bank.usable.push_back(im.value("status", "ok") == "ok" && c.value("status", "ok") == "ok");
  }
  return bank;
}

}  // namespace clipzs
