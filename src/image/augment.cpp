#include <algorithm>
#include <cmath>
#include <random>

#include "clipzs/util/error.hpp"
#include "clipzs/image/image.hpp"

namespace clipzs {

namespace {

// Uniform in [0, 1) from 53 random bits: fully specified, unlike std::uniform_real_distribution.
double uniform01(std::mt19937_64& rng) { return static_cast<double>(rng() >> 11) * (1.0 / 9007199254740992.0); }
int64_t uniform_int(std::mt19937_64& rng, int64_t lo, int64_t hi) {  // inclusive
  return lo + static_cast<int64_t>(rng() % static_cast<uint64_t>(hi - lo + 1));
}

DecodedImage crop(const DecodedImage& image, int x, int y, int w, int h) {
  DecodedImage out;
  out.width = w;
  out.height = h;
  out.mode = image.mode;
  out.palette = image.palette;
  out.format = image.format;
  const int ch = image.channels();
  out.pixels.resize(static_cast<size_t>(w) * h * ch);
  for (int r = 0; r < h; ++r)
    std::copy_n(image.pixels.data() + (static_cast<size_t>(y + r) * image.width + x) * ch, static_cast<size_t>(w) * ch,
                out.pixels.data() + static_cast<size_t>(r) * w * ch);
  return out;
}

}  // namespace

Image8 augmented_view(const DecodedImage& image, const PreprocessSpec& spec, const AugmentSpec& augment, uint64_t seed,
                      uint64_t image_index, int view) {
  if (image.width < 1 || image.height < 1) throw Error(ErrorKind::kInput, "cannot augment an empty image");
  if (!(augment.scale_min > 0 && augment.scale_min <= augment.scale_max && augment.scale_max <= 1))
    throw Error(ErrorKind::kUsage, "augmentation scale must satisfy 0 < min <= max <= 1");
  std::seed_seq seq{static_cast<uint32_t>(seed), static_cast<uint32_t>(seed >> 32), static_cast<uint32_t>(image_index),
                    static_cast<uint32_t>(image_index >> 32), static_cast<uint32_t>(view)};
  std::mt19937_64 rng(seq);
  const int W = image.width, H = image.height;
  const double area = static_cast<double>(W) * H;
  const double log_lo = std::log(3.0 / 4.0), log_hi = std::log(4.0 / 3.0);
  int x = 0, y = 0, w = W, h = H;
  bool found = false;
  // torchvision's RandomResizedCrop.get_params: ten tries, then a centre crop within the ratio range.
  for (int attempt = 0; attempt < 10 && !found; ++attempt) {
    const double target = area * (augment.scale_min + (augment.scale_max - augment.scale_min) * uniform01(rng));
    const double ratio = std::exp(log_lo + (log_hi - log_lo) * uniform01(rng));
    const int cw = static_cast<int>(std::lround(std::sqrt(target * ratio)));
    const int chh = static_cast<int>(std::lround(std::sqrt(target / ratio)));
    if (cw > 0 && cw <= W && chh > 0 && chh <= H) {
      w = cw;
      h = chh;
      y = static_cast<int>(uniform_int(rng, 0, H - h));
      x = static_cast<int>(uniform_int(rng, 0, W - w));
      found = true;
    }
  }
  if (!found) {
    const double in_ratio = static_cast<double>(W) / H;
    if (in_ratio < 3.0 / 4.0) {
      w = W;
      h = static_cast<int>(std::lround(w / (3.0 / 4.0)));
    } else if (in_ratio > 4.0 / 3.0) {
      h = H;
      w = static_cast<int>(std::lround(h * (4.0 / 3.0)));
    }
    w = std::clamp(w, 1, W);
    h = std::clamp(h, 1, H);
    y = (H - h) / 2;
    x = (W - w) / 2;
  }
  const bool flip = augment.flip && uniform01(rng) < 0.5;
  PreprocessSpec squash = spec;
  squash.resize_mode = ResizeMode::kSquash;  // the crop goes to size x size, as RandomResizedCrop does
  Image8 out = preprocess(crop(image, x, y, w, h), squash);
  if (flip) {
    const int ch = out.channels;
    for (int r = 0; r < out.height; ++r) {
      uint8_t* row = out.pixels.data() + static_cast<size_t>(r) * out.width * ch;
      for (int a = 0, b = out.width - 1; a < b; ++a, --b)
        for (int c = 0; c < ch; ++c) std::swap(row[a * ch + c], row[b * ch + c]);
    }
  }
  return out;
}

}  // namespace clipzs
