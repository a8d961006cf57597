#include "clipzs/store/bundle.hpp"

#include <cstdio>

#include <filesystem>
#include <limits>
#include <type_traits>

#include "clipzs/util/error.hpp"
#include "clipzs/util/files.hpp"

namespace clipzs {
namespace fs = std::filesystem;
namespace {

using nlohmann::json;

// Reads field `key` of `object` (itself at `where` in bundle.json) with a message that names both.
// Integer fields must be JSON integers within T's range: nlohmann converts a float such as 1e300 to
// int with undefined behaviour, and a too-large integer silently wraps.
template <typename T>
T field(const json& object, const char* key, const std::string& where, const std::string& file) {
  auto it = object.find(key);
  if (it == object.end())
    throw Error(ErrorKind::kModel, file + ": missing field '" + where + "." + key + "'",
                "re-export the bundle with scripts/export_clip.py");
  auto wrong_type = [&] {
    return Error(ErrorKind::kModel, file + ": field '" + where + "." + key + "' has the wrong type (" +
                                        it->dump().substr(0, 200) + ")");
  };
  if constexpr (std::is_integral_v<T> && !std::is_same_v<T, bool>) {
    const bool fits = it->is_number_unsigned()
                          ? it->template get<uint64_t>() <= static_cast<uint64_t>(std::numeric_limits<T>::max())
                          : it->is_number_integer() && it->template get<int64_t>() >= std::numeric_limits<T>::min() &&
                                it->template get<int64_t>() <= std::numeric_limits<T>::max();
    if (!fits) throw wrong_type();
  }
  try {
    return it->template get<T>();
  } catch (const json::exception&) {
    throw wrong_type();
  }
}

// An optional field: `fallback` when absent, else read (and checked) as field() does.
template <typename T>
T optional_field(const json& object, const char* key, T fallback, const std::string& where, const std::string& file) {
  return object.contains(key) ? field<T>(object, key, where, file) : fallback;
}

const json& section(const json& root, const char* key, const std::string& file) {
  auto it = root.find(key);
  if (it == root.end() || !it->is_object())
    throw Error(ErrorKind::kModel, file + ": missing section '" + key + "'",
                "re-export the bundle with scripts/export_clip.py");
  return *it;
}

}  // namespace

std::string BundleInfo::path_of(const std::string& file) const { return (fs::path(dir) / file).string(); }

BundleInfo load_bundle_info(const std::string& dir, bool verify_hashes) {
  if (!fs::is_directory(dir))
    throw Error(ErrorKind::kModel, "model bundle '" + dir + "' is not a folder",
                "pass " + param("model") + " with a folder made by scripts/export_clip.py");
  const std::string file = (fs::path(dir) / "bundle.json").string();
  if (!fs::exists(file))
    throw Error(ErrorKind::kModel, "model bundle '" + dir + "' has no bundle.json",
                "pass " + param("model") + " with a folder made by scripts/export_clip.py");
  BundleInfo b;
  b.dir = dir;
  std::string text = read_file(file);
  b.bundle_sha256 = sha256_bytes(text.data(), text.size());
  try {
    b.json = json::parse(text);
  } catch (const json::exception& e) {  // parse_error, or out_of_range for a number like 1e400
    throw Error(ErrorKind::kModel, file + ": not valid JSON (" + e.what() + ")");
  }
  const json& root = b.json;
  b.schema_version = field<int>(root, "schema_version", "", file);
  if (b.schema_version != 1)
    throw Error(ErrorKind::kModel, file + ": schema_version " + std::to_string(b.schema_version) +
                                       " is not supported by clipzs " CLIPZS_VERSION " (expects 1)",
                "upgrade clipzs or re-export the bundle");

  const json& model = section(root, "model", file);
  b.name = field<std::string>(model, "name", "model", file);
  b.source = optional_field<std::string>(model, "source", "", "model", file);
  b.architecture = optional_field<std::string>(model, "architecture", "", "model", file);
  b.embed_dim = field<int>(model, "embed_dim", "model", file);

  const json& image = section(root, "image", file);
  b.image_file = field<std::string>(image, "file", "image", file);
  b.preprocess.size = field<int>(image, "size", "image", file);
  auto mean = field<std::vector<float>>(image, "mean", "image", file);
  auto stdev = field<std::vector<float>>(image, "std", "image", file);
  if (mean.size() != 3 || stdev.size() != 3)
    throw Error(ErrorKind::kModel, file + ": image.mean and image.std need 3 values each");
  for (int c = 0; c < 3; ++c) {
    if (!(stdev[c] > 0)) throw Error(ErrorKind::kModel, file + ": image.std values must be positive");
    b.preprocess.mean[c] = mean[c];
    b.preprocess.std[c] = stdev[c];
  }
  try {
    b.preprocess.interpolation = parse_interpolation(field<std::string>(image, "interpolation", "image", file));
    b.preprocess.resize_mode = parse_resize_mode(field<std::string>(image, "resize_mode", "image", file));
  } catch (const Error& e) {
    if (e.kind() == ErrorKind::kModel) throw;
    throw Error(ErrorKind::kModel, file + ": " + e.marked_what());
  }
  if (b.preprocess.size < 8 || b.preprocess.size > 4096)
    throw Error(ErrorKind::kModel, file + ": image.size " + std::to_string(b.preprocess.size) + " is out of range");

  const json& text_section = section(root, "text", file);
  b.text_file = field<std::string>(text_section, "file", "text", file);
  b.context_length = field<int>(text_section, "context_length", "text", file);
  b.tokenizer_kind = field<std::string>(text_section, "tokenizer", "text", file);
  b.vocab_file = field<std::string>(text_section, "vocab_file", "text", file);
  if (b.tokenizer_kind == "hf_bpe") b.merges_file = field<std::string>(text_section, "merges_file", "text", file);
  else if (b.tokenizer_kind != "clip_bpe")
    throw Error(ErrorKind::kModel, file + ": text.tokenizer '" + b.tokenizer_kind + "' is unknown",
                "use clip_bpe or hf_bpe");
  b.vocab_size = field<int64_t>(text_section, "vocab_size", "text", file);
  b.sot_id = field<int64_t>(text_section, "sot_id", "text", file);
  b.eot_id = field<int64_t>(text_section, "eot_id", "text", file);
  b.text_width = optional_field<int>(text_section, "width", 0, "text", file);
  b.logit_scale = optional_field<float>(root, "logit_scale", 100.0f, "", file);

  std::string attention;
  if (root.contains("export") && root["export"].is_object()) {
    const json& exp = root["export"];
    b.export_torch_version = optional_field<std::string>(exp, "torch_version", "", "export", file);
    attention = optional_field<std::string>(exp, "attention", "", "export", file);
  }
  if (root.contains("requires")) {
    const json& req = section(root, "requires", file);
    b.min_libtorch = optional_field<std::string>(req, "libtorch", "", "requires", file);
    int major = 0, minor = 0;
    char tail = 0;
    if (!b.min_libtorch.empty() && std::sscanf(b.min_libtorch.c_str(), "%d.%d%c", &major, &minor, &tail) != 2)
      throw Error(ErrorKind::kModel, file + ": requires.libtorch '" + b.min_libtorch + "' is not a major.minor version",
                  "re-export the bundle with scripts/export_clip.py");
  } else if (attention == "sdpa") {
    b.min_libtorch = "2.0";  // scaled_dot_product_attention, written before requires existed
  }

  const json& files = section(root, "files", file);
  for (auto it = files.begin(); it != files.end(); ++it) {
    if (!it->is_string()) throw Error(ErrorKind::kModel, file + ": files['" + it.key() + "'] must be a sha256 string");
    b.file_sha256[it.key()] = it->get<std::string>();
  }
  std::vector<std::string> required{b.image_file, b.text_file, b.vocab_file};
  if (!b.merges_file.empty()) required.push_back(b.merges_file);
  for (const auto& name : required) {
    if (!b.file_sha256.count(name))
      throw Error(ErrorKind::kModel, file + ": 'files' lists no sha256 for '" + name + "'",
                  "re-export the bundle with scripts/export_clip.py");
  }
  for (const auto& [name, expected] : b.file_sha256) {
    const std::string path = b.path_of(name);
    if (!fs::is_regular_file(path))
      throw Error(ErrorKind::kModel, "model bundle '" + dir + "' is missing '" + name + "'",
                  "copy the whole bundle folder, or re-export it");
    if (verify_hashes) {
      const std::string actual = sha256_file(path);
      if (actual != expected)
        throw Error(ErrorKind::kModel,
                    "model bundle file '" + path + "' is damaged or was replaced: sha256 " + actual +
                        " differs from " + expected + " in bundle.json",
                    "copy the bundle again, or re-export it");
    }
  }
  return b;
}

ClipTokenizer load_bundle_tokenizer(const BundleInfo& bundle) {
  if (bundle.tokenizer_kind == "hf_bpe")
    return ClipTokenizer::from_hf_files(bundle.path_of(bundle.vocab_file), bundle.path_of(bundle.merges_file));
  // vocab = 256 byte tokens + 256 end-of-word byte tokens + merges + 2 specials.
  const auto text = bundle.json.find("text");
  const int num_merges = text != bundle.json.end() && text->is_object()
                             ? optional_field<int>(*text, "num_merges", static_cast<int>(bundle.vocab_size - 512 - 2),
                                                   "text", bundle.path_of("bundle.json"))
                             : static_cast<int>(bundle.vocab_size - 512 - 2);
  return ClipTokenizer::from_merges_file(bundle.path_of(bundle.vocab_file), num_merges);
}

}  // namespace clipzs
