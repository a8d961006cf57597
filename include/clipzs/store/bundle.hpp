// Model bundles: a directory with bundle.json, two TorchScript encoders and a tokenizer vocabulary
// (format: docs/bundle-format.md). This header only reads and checks the description; the encoders
// are loaded by clipzs::ClipModel (model.hpp).
//
// Failure modes: a missing folder or file, malformed JSON, a missing or mistyped field, an unknown
// schema version or a file whose sha256 differs from bundle.json all throw Error(kModel) naming the
// file and the field or problem.
#pragma once

#include <cstdint>
#include <map>
#include <string>

#include <nlohmann/json.hpp>

#include "clipzs/image/image.hpp"
#include "clipzs/text/tokenizer.hpp"

namespace clipzs {

struct BundleInfo {
  std::string dir;                 // the bundle folder as given
  int schema_version = 1;
  std::string name;
  std::string source;
  std::string architecture;
  int embed_dim = 0;               // D

  PreprocessSpec preprocess;       // image size, mean/std, interpolation, resize mode
  std::string image_file;          // absolute or dir-relative path of image_encoder.pt

  std::string text_file;
  int context_length = 77;
  std::string tokenizer_kind;      // "clip_bpe" | "hf_bpe"
  std::string vocab_file;          // merges file (clip_bpe) or vocab.json (hf_bpe)
  std::string merges_file;         // hf_bpe only
  int64_t vocab_size = 0;
  int64_t sot_id = 0;
  int64_t eot_id = 0;
  int text_width = 0;

  float logit_scale = 100.0f;
  // The oldest LibTorch that loads the encoders, "major.minor" (bundle.json requires.libtorch; for
  // bundles written before that field, "2.0" when export.attention is sdpa, else empty = any).
  // ClipModel::load refuses a bundle that needs a newer LibTorch than it runs on, before loading.
  std::string min_libtorch;
  std::string export_torch_version;  // export.torch_version (informational), "" if absent
  std::map<std::string, std::string> file_sha256;  // file name -> expected sha256
  std::string bundle_sha256;       // sha256 of bundle.json's bytes: the bundle's identity
  nlohmann::json json;             // bundle.json as read

  std::string path_of(const std::string& file) const;  // dir + "/" + file
};

// Reads and validates bundle.json. With verify_hashes, every file's sha256 is checked (a few hundred ms
// for a ViT-B/32 bundle); without, only its presence.
BundleInfo load_bundle_info(const std::string& dir, bool verify_hashes = true);

ClipTokenizer load_bundle_tokenizer(const BundleInfo& bundle);

}  // namespace clipzs
