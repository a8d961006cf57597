// Image decoding and CLIP preprocessing, pixel-identical to the reference transform
// (PIL open -> torchvision Resize(n, BICUBIC) -> CenterCrop(n) -> convert("RGB")). No LibTorch dependency.
//
// Contract:
//  - decode_image() keeps the file's own pixel mode (like PIL's Image.mode), because the reference
//    resizes each mode differently: palette and 1-bit images with nearest-neighbour, RGBA/LA with
//    premultiplied alpha, L/RGB with the requested filter.
//  - 16-bit samples are reduced to 8 bits by taking the high byte (what PIL does for 16-bit RGB PNGs).
//  - EXIF orientation is ignored unless DecodeOptions::apply_exif_orientation is set.
//  - preprocess() returns an HxWx3 RGB uint8 image of exactly size x size pixels.
//  - normalize_chw() writes 3*size*size floats in CHW order: (pixel/255 - mean[c]) / std[c].
//  - GIF and WebP (animated or not) give their first frame, composed on the canvas as PIL gives it.
//  - Failure modes: unreadable, empty, truncated or unsupported files, and files whose header states
//    more than DecodeOptions::max_pixels pixels, throw clipzs::Error(kInput) naming the file and the
//    reason. Nothing else throws for valid images.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <vector>

namespace clipzs {

// Pixel modes, named as PIL names them.
enum class PixelMode { kL, kLA, kRGB, kRGBA, kP, k1, kCMYK };
const char* pixel_mode_name(PixelMode mode) noexcept;

// An 8-bit image in the file's own mode. For kP, `pixels` holds palette indices (1 channel) and
// `palette` holds 256 RGB triples; for k1, `pixels` holds 0 or 255 (1 channel).
struct DecodedImage {
  int width = 0;
  int height = 0;
  PixelMode mode = PixelMode::kRGB;
  std::vector<uint8_t> pixels;          // height * width * channels(mode), row-major, interleaved
  std::vector<uint8_t> palette;         // 768 bytes for kP, empty otherwise
  std::string format;                   // "JPEG", "PNG", ... as PIL names it
  int channels() const noexcept;
};

// An 8-bit interleaved image with 1, 3 or 4 channels (RGB order).
struct Image8 {
  int width = 0;
  int height = 0;
  int channels = 3;
  std::vector<uint8_t> pixels;
};

enum class Interpolation { kNearest, kBilinear, kBicubic, kLanczos, kBox, kHamming };
enum class ResizeMode {
  kShortest,  // resize the shorter side to `size` (torchvision Resize(int)), then center-crop
  kSquash,    // resize to size x size, ignoring the aspect ratio
};
Interpolation parse_interpolation(const std::string& name);  // throws Error(kUsage) for unknown names
ResizeMode parse_resize_mode(const std::string& name);       // "shortest" | "squash"
const char* interpolation_name(Interpolation interpolation) noexcept;
const char* resize_mode_name(ResizeMode mode) noexcept;

// PIL's decompression-bomb limit (2 * Image.MAX_IMAGE_PIXELS): images above it are refused.
constexpr uint64_t kDefaultMaxPixels = 178956970;

struct DecodeOptions {
  bool apply_exif_orientation = false;
  // Images with more pixels than this are refused from their header, before any pixel memory is
  // allocated (JPEG, PNG, GIF, WebP, BMP, TIFF, PNM; other formats after OpenCV's own 2^30 limit).
  uint64_t max_pixels = kDefaultMaxPixels;
};

struct PreprocessSpec {
  int size = 224;
  Interpolation interpolation = Interpolation::kBicubic;
  ResizeMode resize_mode = ResizeMode::kShortest;
  std::array<float, 3> mean{0.48145466f, 0.4578275f, 0.40821073f};
  std::array<float, 3> std{0.26862954f, 0.26130258f, 0.27577711f};
};

DecodedImage decode_image(const std::string& path, const DecodeOptions& options = {});
DecodedImage decode_image_bytes(const uint8_t* data, size_t size, const std::string& name_for_errors,
                                const DecodeOptions& options = {});

// PIL's Image.resize for an 8-bit image of `channels` channels (1..4), same arithmetic as PIL 9.4.
Image8 resize_like_pil(const Image8& image, int width, int height, Interpolation interpolation);

// The full reference transform up to (not including) ToTensor: RGB uint8, size x size.
Image8 preprocess(const DecodedImage& image, const PreprocessSpec& spec);

// ToTensor + Normalize into `out` (3*size*size floats, CHW).
void normalize_chw(const Image8& rgb, const PreprocessSpec& spec, float* out);

// A training view for few-shot methods, as torchvision's RandomResizedCrop(size, scale, ratio 3/4..4/3,
// bicubic) + RandomHorizontalFlip(0.5) (Tip-Adapter's augmentation): a crop of scale_min..scale_max of
// the area is resized to size x size with the spec's interpolation (PIL arithmetic), then converted
// to RGB. The draw depends only on (seed, image_index, view), so views do not change with threads,
// batches or resumes. View 0 is not special: every view is random.
struct AugmentSpec {
  double scale_min = 0.5;
  double scale_max = 1.0;
  bool flip = true;
};
Image8 augmented_view(const DecodedImage& image, const PreprocessSpec& spec, const AugmentSpec& augment, uint64_t seed,
                      uint64_t image_index, int view);

}  // namespace clipzs
