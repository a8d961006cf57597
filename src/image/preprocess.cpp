// CLIP's reference transform: torchvision 0.14 Resize(n, BICUBIC) -> CenterCrop(n) on the PIL image in
// its own mode, then convert("RGB"); plus ToTensor + Normalize. Only the centre-crop window of the
// resized image is computed (bit-identical, see resample_window), and it may be computed from a
// decoded part of the image that covers the source pixels the window reads (preprocess_part).
#include <algorithm>
#include <cctype>
#include <cstring>
#include <string>

#include "clipzs/util/error.hpp"
#include "image/image_internal.hpp"
#include "util/strings.hpp"

namespace clipzs {

const char* pixel_mode_name(PixelMode mode) noexcept {
  switch (mode) {
    case PixelMode::kL: return "L";
    case PixelMode::kLA: return "LA";
    case PixelMode::kRGB: return "RGB";
    case PixelMode::kRGBA: return "RGBA";
    case PixelMode::kP: return "P";
    case PixelMode::k1: return "1";
    case PixelMode::kCMYK: return "CMYK";
  }
  return "?";
}

int DecodedImage::channels() const noexcept {
  switch (mode) {
    case PixelMode::kLA: return 2;
    case PixelMode::kRGB: return 3;
    case PixelMode::kRGBA:
    case PixelMode::kCMYK: return 4;
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

// Python's round() on a value that is an integer or a half: ties go to the even neighbour.
int round_half_even_div2(int d) {
  if (d % 2 == 0) return d / 2;
  const int lo = (d - 1) / 2;  // d > 0 here
  return (lo % 2 == 0) ? lo : lo + 1;
}

}  // namespace

Interpolation parse_interpolation(const std::string& name) {
  const std::string key = detail::ascii_lower(name);
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
  const std::string key = detail::ascii_lower(name);
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

namespace {

// Resize target and centre-crop window of preprocess(), in resized coordinates.
struct CropPlan {
  int tw = 0, th = 0;    // Resize output size
  int ox = 0, oy = 0;    // origin of the n x n crop (may be negative when padding)
  int x0 = 0, y0 = 0, x1 = 0, y1 = 0;  // part of the crop inside the resized image
  Interpolation interpolation = Interpolation::kBicubic;
};

CropPlan plan_crop(int w, int h, PixelMode mode, const PreprocessSpec& spec) {
  const int n = spec.size;
  CropPlan p;
  // Resize target, as torchvision computes it (int() truncation of a float quotient).
  p.tw = n;
  p.th = n;
  if (spec.resize_mode == ResizeMode::kShortest) {
    const int short_side = std::min(w, h), long_side = std::max(w, h);
    const int new_long = static_cast<int>(static_cast<double>(static_cast<int64_t>(n) * long_side) / short_side);
    if (w <= h) {
      p.tw = n;
      p.th = new_long;
    } else {
      p.tw = new_long;
      p.th = n;
    }
  }
  // CenterCrop: zero padding (left/top = deficit // 2) when smaller than n, then
  // offset = round((size - n) / 2) on the padded image. Window origin in resized coordinates:
  const int pad_x = p.tw < n ? (n - p.tw) / 2 : 0, pad_y = p.th < n ? (n - p.th) / 2 : 0;
  const int padded_w = std::max(p.tw, n), padded_h = std::max(p.th, n);
  p.ox = round_half_even_div2(padded_w - n) - pad_x;
  p.oy = round_half_even_div2(padded_h - n) - pad_y;
  // Part of the n x n window that lies inside the resized image.
  p.x0 = std::max(p.ox, 0);
  p.y0 = std::max(p.oy, 0);
  p.x1 = std::min(p.ox + n, p.tw);
  p.y1 = std::min(p.oy + n, p.th);
  // PIL resizes "1" and "P" with nearest neighbour whatever the filter.
  p.interpolation = spec.interpolation;
  if (mode == PixelMode::kP || mode == PixelMode::k1) p.interpolation = Interpolation::kNearest;
  return p;
}

// preprocess() of a full_w x full_h image of which `part` holds [px, px + part.width) x
// [py, py + part.height).
Image8 preprocess_impl(const DecodedImage& part, int full_w, int full_h, int px, int py, const PreprocessSpec& spec) {
  const int n = spec.size;
  const int ch = part.channels();
  if (n <= 0) throw Error(ErrorKind::kUsage, "preprocess: size must be positive, got " + std::to_string(n));
  if (full_w <= 0 || full_h <= 0 || part.width < 0 || part.height < 0 ||
      part.pixels.size() != static_cast<size_t>(part.width) * part.height * ch) {
    throw Error(ErrorKind::kUsage, "preprocess: image buffer does not match its " + std::to_string(part.width) + "x" +
                                       std::to_string(part.height) + " " + pixel_mode_name(part.mode) + " size");
  }
  if (part.mode == PixelMode::kP && part.palette.size() != 768) {
    throw Error(ErrorKind::kUsage, "preprocess: palette image without a 256-entry RGB palette");
  }

  const CropPlan plan = plan_crop(full_w, full_h, part.mode, spec);
  const Interpolation interpolation = plan.interpolation;
  // RGBA/LA are resized premultiplied.
  const bool resizing = plan.tw != full_w || plan.th != full_h;
  const bool premultiply = resizing && (part.mode == PixelMode::kRGBA || part.mode == PixelMode::kLA) &&
                           interpolation != Interpolation::kNearest;

  std::vector<uint8_t> window(static_cast<size_t>(n) * n * ch, 0);
  if (plan.x1 > plan.x0 && plan.y1 > plan.y0) {
    image_detail::SourceView view;
    view.data = part.pixels.data();
    view.stride = static_cast<size_t>(part.width) * ch;
    view.x0 = px;
    view.y0 = py;
    view.width = part.width;
    view.height = part.height;
    std::vector<uint8_t> premul;
    if (premultiply) {
      // Premultiply only the pixels the resampler reads (per pixel, so the same values).
      const image_detail::PixelRect r = image_detail::resample_source_rect(
          full_w, full_h, plan.tw, plan.th, interpolation, plan.x0, plan.y0, plan.x1 - plan.x0, plan.y1 - plan.y0);
      if (!r.empty()) {
        if (r.x0 < px || r.y0 < py || r.x1 > px + part.width || r.y1 > py + part.height) {
          throw Error(ErrorKind::kInternal, "preprocess: the decoded part does not cover the pixels it needs");
        }
        const size_t row = static_cast<size_t>(r.x1 - r.x0) * ch;
        premul.resize(row * (r.y1 - r.y0));
        for (int y = r.y0; y < r.y1; ++y) {
          const uint8_t* from = view.data + (y - py) * view.stride + static_cast<size_t>(r.x0 - px) * ch;
          std::memcpy(premul.data() + (y - r.y0) * row, from, row);
        }
        image_detail::premultiply_alpha(premul.data(), static_cast<size_t>(r.x1 - r.x0) * (r.y1 - r.y0), ch);
        view.data = premul.data();
        view.stride = row;
        view.x0 = r.x0;
        view.y0 = r.y0;
        view.width = r.x1 - r.x0;
        view.height = r.y1 - r.y0;
      }
    }
    const size_t stride = static_cast<size_t>(n) * ch;
    uint8_t* dst = window.data() + static_cast<size_t>(plan.y0 - plan.oy) * stride +
                   static_cast<size_t>(plan.x0 - plan.ox) * ch;
    image_detail::resample_window(view, full_w, full_h, ch, plan.tw, plan.th, interpolation, plan.x0, plan.y0,
                                  plan.x1 - plan.x0, plan.y1 - plan.y0, dst, stride);
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
  switch (part.mode) {
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
    case PixelMode::kCMYK:
      // PIL's cmyk2rgb: channel = clip(nk - c * nk / 255) with nk = 255 - k.
      for (size_t i = 0; i < count; ++i) {
        const unsigned nk = 255u - s[4 * i + 3];
        for (int c = 0; c < 3; ++c) d[3 * i + c] = static_cast<uint8_t>(nk - image_detail::muldiv255(s[4 * i + c], nk));
      }
      break;
    case PixelMode::kP:
      // Palette transparency is ignored by convert("RGB").
      for (size_t i = 0; i < count; ++i) std::memcpy(d + 3 * i, &part.palette[3 * static_cast<size_t>(s[i])], 3);
      break;
  }
  return out;
}

}  // namespace

namespace image_detail {

PixelRect preprocess_source_rect(int width, int height, PixelMode mode, const PreprocessSpec& spec) {
  if (spec.size <= 0 || width <= 0 || height <= 0) return PixelRect{};
  const CropPlan plan = plan_crop(width, height, mode, spec);
  if (plan.x1 <= plan.x0 || plan.y1 <= plan.y0) return PixelRect{};
  return resample_source_rect(width, height, plan.tw, plan.th, plan.interpolation, plan.x0, plan.y0,
                              plan.x1 - plan.x0, plan.y1 - plan.y0);
}

Image8 preprocess_part(const DecodedPart& part, const PreprocessSpec& spec) {
  return preprocess_impl(part.image, part.full_width, part.full_height, part.x0, part.y0, spec);
}

Image8 decode_and_preprocess_bytes(const uint8_t* data, size_t size, const std::string& name_for_errors,
                                   const PreprocessSpec& spec, const DecodeOptions& options) {
  return preprocess_part(decode_image_part_bytes(data, size, name_for_errors, options, spec), spec);
}

Image8 decode_and_preprocess(const std::string& path, const PreprocessSpec& spec, const DecodeOptions& options) {
  return preprocess_part(decode_image_part(path, options, spec), spec);
}

}  // namespace image_detail

Image8 preprocess(const DecodedImage& image, const PreprocessSpec& spec) {
  return preprocess_impl(image, image.width, image.height, 0, 0, spec);
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
