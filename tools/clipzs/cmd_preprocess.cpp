// `clipzs preprocess`: write the exact model input for one image, for debugging pixel parity.
#include "clipzs/store/bundle.hpp"
#include "clipzs/image/image.hpp"
#include "clipzs/store/npy.hpp"
#include "command.hpp"
#include "options.hpp"

namespace clipzs::cli {

namespace {

struct PreprocessCli {
  std::string model_dir, image_path, out, tensor_out;
  bool exif_apply = false;
  int size = 0;
  void run() const;
};

void PreprocessCli::run() const {
  BundleInfo bundle = load_bundle_info(model_dir, false);
  PreprocessSpec spec = bundle.preprocess;
  if (size > 0) spec.size = size;
  DecodeOptions decode;
  decode.apply_exif_orientation = exif_apply;
  DecodedImage decoded = decode_image(image_path, decode);
  Image8 crop = preprocess(decoded, spec);
  write_npy(out, "|u1", {crop.height, crop.width, 3}, crop.pixels.data(), crop.pixels.size());
  nlohmann::json summary = {{"image", image_path}, {"mode", pixel_mode_name(decoded.mode)},
                            {"width", decoded.width}, {"height", decoded.height}, {"out", out}};
  if (!tensor_out.empty()) {
    std::vector<float> tensor(static_cast<size_t>(3 * spec.size * spec.size));
    normalize_chw(crop, spec, tensor.data());
    write_npy(tensor_out, tensor, {3, spec.size, spec.size});
    summary["tensor_out"] = tensor_out;
  }
  print_summary(summary);
}

}  // namespace

void register_preprocess(CLI::App& app, Action& action) {
  auto cli = std::make_shared<PreprocessCli>();
  CLI::App* sub = app.add_subcommand("preprocess", "Write an image's preprocessed crop (uint8 HxWx3 RGB .npy)");
  sub->add_option("--model", cli->model_dir, "Model bundle folder (its size, interpolation, mean/std)")->required();
  sub->add_option("image", cli->image_path, "Image file")->required();
  sub->add_option("--out", cli->out, "Output .npy: uint8 size x size x 3, RGB")->required();
  sub->add_option("--tensor-out", cli->tensor_out, "Also write the normalised float32 3 x size x size tensor here");
  sub->add_option("--size", cli->size, "Override the bundle's input size");
  add_exif_flag(sub, cli->exif_apply, "EXIF orientation: ignore or apply");
  sub->callback([&action, cli] {
    action = [cli] { cli->run(); };
  });
}

}  // namespace clipzs::cli
