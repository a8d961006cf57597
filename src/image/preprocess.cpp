// CLIP's reference transform: torchvision 0.14 Resize(n, BICUBIC) -> CenterCrop(n) on the PIL image in
// its own mode, then convert("RGB"); plus ToTensor + Normalize. Only the centre-crop window of the
// resized image is computed (bit-identical, see resample_window).
#include <algorithm>
#include <cctype>
#include <cstring>
#include <string>

#include "clipzs/error.hpp"
#include "image/image_internal.hpp"

namespace clipzs {

const char* pixel_mode_name(PixelMode mode) noexcept {
  switch (mode) {
    case PixelMode::kL: return "L";
    case PixelMode::kLA: return "LA";
    case PixelMode::kRGB: return "RGB";
    case PixelMode::kRGBA: return "RGBA";
    case PixelMode::kP: return "P";
    case PixelMode::k1: return "1";
  }
  return "?";
}

int DecodedImage::channels() const noexcept {
  switch (mode) {
    case PixelMode::kLA: return 2;
    case PixelMode::kRGB: return 3;
    case PixelMode::kRGBA: return 4;
    case PixelMode::kL:
    case PixelMode::kP:
    case PixelMode::k1: return 1;
  }
  return 1;
}

namespace {

struct InterpolationName {
  const char* name;
  Interpolation value;
};
constexpr InterpolationName kInterpolations[] = {
    {"nearest", Interpolation::kNearest}, {"bilinear", Interpolation::kBilinear},
    {"bicubic", Interpolation::kBicubic}, {"lanczos", Interpolation::kLanczos},
    {"box", Interpolation::kBox},         {"hamming", Interpolation::kHamming},
};

std::string lower(std::string s) {
  for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

// Python's round() on a value that is an integer or a half: ties go to the even neighbour.
int round_half_even_div2(int d) {
  if (d % 2 == 0) return d / 2;
  const int lo = (d - 1) / 2;  // d > 0 here
  return (lo % 2 == 0) ? lo : lo + 1;
}

}  // namespace

Interpolation parse_interpolation(const std::string& name) {
  const std::string key = lower(name);
  for (const auto& entry : kInterpolations) {
    if (key == entry.name) return entry.value;
  }
  throw Error(ErrorKind::kUsage, "unknown interpolation '" + name + "'",
              "use one of: nearest, bilinear, bicubic, lanczos, box, hamming");
}

const char* interpolation_name(Interpolation interpolation) noexcept {
  for (const auto& entry : kInterpolations) {
    if (entry.value == interpolation) return entry.name;
  }
  return "?";
}

ResizeMode parse_resize_mode(const std::string& name) {
  const std::string key = lower(name);
  if (key == "shortest") return ResizeMode::kShortest;
  if (key == "squash") return ResizeMode::kSquash;
  throw Error(ErrorKind::kUsage, "unknown resize mode '" + name + "'", "use one of: shortest, squash");
}

const char* resize_mode_name(ResizeMode mode) noexcept {
  switch (mode) {
    case ResizeMode::kShortest: return "shortest";
    case ResizeMode::kSquash: return "squash";
  }
  return "?";
}

Image8 preprocess(const DecodedImage& image, const PreprocessSpec& spec) {
  const int n = spec.size;
  const int w = image.width, h = image.height, ch = image.channels();
  if (n <= 0) throw Error(ErrorKind::kUsage, "preprocess: size must be positive, got " + std::to_string(n));
  if (w <= 0 || h <= 0 || image.pixels.size() != static_cast<size_t>(w) * h * ch) {
    throw Error(ErrorKind::kUsage, "preprocess: image buffer does not match its " + std::to_string(w) + "x" +
                                       std::to_string(h) + " " + pixel_mode_name(image.mode) + " size");
  }
  if (image.mode == PixelMode::kP && image.palette.size() != 768) {
    throw Error(ErrorKind::kUsage, "preprocess: palette image without a 256-entry RGB palette");
  }

  // Resize target, as torchvision computes it (int() truncation of a float quotient).
  int tw = n, th = n;
  if (spec.resize_mode == ResizeMode::kShortest) {
    const int short_side = std::min(w, h), long_side = std::max(w, h);
    const int new_long = static_cast<int>(static_cast<double>(static_cast<int64_t>(n) * long_side) / short_side);
    if (w <= h) {
      tw = n;
      th = new_long;
    } else {
      tw = new_long;
      th = n;
    }
  }

  // CenterCrop: zero padding (left/top = deficit // 2) when smaller than n, then
  // offset = round((size - n) / 2) on the padded image. Window origin in resized coordinates:
  const int pad_x = tw < n ? (n - tw) / 2 : 0, pad_y = th < n ? (n - th) / 2 : 0;
  const int padded_w = std::max(tw, n), padded_h = std::max(th, n);
  const int ox = round_half_even_div2(padded_w - n) - pad_x;
  const int oy = round_half_even_div2(padded_h - n) - pad_y;
  // Part of the n x n window that lies inside the resized image.
  const int x0 = std::max(ox, 0), y0 = std::max(oy, 0);
  const int x1 = std::min(ox + n, tw), y1 = std::min(oy + n, th);

  // PIL resizes "1" and "P" with nearest neighbour whatever the filter, and RGBA/LA premultiplied.
  Interpolation interpolation = spec.interpolation;
  if (image.mode == PixelMode::kP || image.mode == PixelMode::k1) interpolation = Interpolation::kNearest;
  const bool resizing = tw != w || th != h;
  const bool premultiply = resizing && (image.mode == PixelMode::kRGBA || image.mode == PixelMode::kLA) &&
                           interpolation != Interpolation::kNearest;

  std::vector<uint8_t> window(static_cast<size_t>(n) * n * ch, 0);
  if (x1 > x0 && y1 > y0) {
    const uint8_t* src = image.pixels.data();
    std::vector<uint8_t> premul;
    if (premultiply) {
      premul = image.pixels;
      image_detail::premultiply_alpha(premul.data(), static_cast<size_t>(w) * h, ch);
      src = premul.data();
    }
    const size_t stride = static_cast<size_t>(n) * ch;
    uint8_t* dst = window.data() + static_cast<size_t>(y0 - oy) * stride + static_cast<size_t>(x0 - ox) * ch;
    image_detail::resample_window(src, w, h, ch, tw, th, interpolation, x0, y0, x1 - x0, y1 - y0, dst, stride);
    if (premultiply) image_detail::unpremultiply_alpha(window.data(), static_cast<size_t>(n) * n, ch);
  }

  // convert("RGB").
  Image8 out;
  out.width = n;
  out.height = n;
  out.channels = 3;
  out.pixels.resize(static_cast<size_t>(n) * n * 3);
  const size_t count = static_cast<size_t>(n) * n;
  const uint8_t* s = window.data();
  uint8_t* d = out.pixels.data();
  switch (image.mode) {
    case PixelMode::kRGB: std::memcpy(d, s, count * 3); break;
    case PixelMode::kRGBA:
      for (size_t i = 0; i < count; ++i) std::memcpy(d + 3 * i, s + 4 * i, 3);
      break;
    case PixelMode::kL:
      for (size_t i = 0; i < count; ++i) d[3 * i] = d[3 * i + 1] = d[3 * i + 2] = s[i];
      break;
    case PixelMode::kLA:
      for (size_t i = 0; i < count; ++i) d[3 * i] = d[3 * i + 1] = d[3 * i + 2] = s[2 * i];
      break;
    case PixelMode::k1:
      for (size_t i = 0; i < count; ++i) d[3 * i] = d[3 * i + 1] = d[3 * i + 2] = s[i] ? 255 : 0;
      break;
    case PixelMode::kP:
      // Palette transparency is ignored by convert("RGB").
      for (size_t i = 0; i < count; ++i) std::memcpy(d + 3 * i, &image.palette[3 * static_cast<size_t>(s[i])], 3);
      break;
  }
  return out;
}

void normalize_chw(const Image8& rgb, const PreprocessSpec& spec, float* out) {
  if (rgb.channels != 3 || rgb.width != spec.size || rgb.height != spec.size ||
      rgb.pixels.size() != static_cast<size_t>(rgb.width) * rgb.height * 3) {
    throw Error(ErrorKind::kUsage, "normalize_chw: expected a " + std::to_string(spec.size) + "x" +
                                       std::to_string(spec.size) + " RGB image");
  }
  // Same float32 operations as ToTensor (x / 255) and Normalize ((x - mean) / std), tabulated.
  float lut[3][256];
  for (int c = 0; c < 3; ++c) {
    for (int v = 0; v < 256; ++v) lut[c][v] = (static_cast<float>(v) / 255.0f - spec.mean[c]) / spec.std[c];
  }
  const size_t plane = static_cast<size_t>(rgb.width) * rgb.height;
  const uint8_t* p = rgb.pixels.data();
  for (size_t i = 0; i < plane; ++i) {
    out[i] = lut[0][p[3 * i]];
    out[plane + i] = lut[1][p[3 * i + 1]];
    out[2 * plane + i] = lut[2][p[3 * i + 2]];
  }
}

}  // namespace clipzs
