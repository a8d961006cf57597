// WebP, decoded with libwebp's animation decoder as PIL 9.4 does for every WebP (OpenCV 4.6 refuses
// animated ones): the first frame on the canvas, RGBA, or RGB without alpha.
#include <webp/decode.h>
#include <webp/demux.h>

#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "image/formats.hpp"
#include "image/image_internal.hpp"

namespace clipzs::image_detail {
namespace {

DecodedImage decode_webp(const uint8_t* data, size_t size, const std::string& name, uint64_t max_pixels) {
  WebPBitstreamFeatures features;
  if (WebPGetFeatures(data, size, &features) != VP8_STATUS_OK)
    fail_image(name, "unsupported or corrupt WEBP image");
  check_image_dimensions(static_cast<uint64_t>(features.width), static_cast<uint64_t>(features.height), max_pixels, name);

  WebPAnimDecoderOptions options;
  if (!WebPAnimDecoderOptionsInit(&options)) fail_image(name, "cannot initialise libwebp");
  options.color_mode = MODE_RGBA;
  options.use_threads = 0;
  const WebPData bytes{data, size};
  std::unique_ptr<WebPAnimDecoder, void (*)(WebPAnimDecoder*)> decoder(WebPAnimDecoderNew(&bytes, &options),
                                                                       WebPAnimDecoderDelete);
  if (!decoder) fail_image(name, "unsupported, truncated or corrupt WEBP image");
  WebPAnimInfo info;
  if (!WebPAnimDecoderGetInfo(decoder.get(), &info)) fail_image(name, "corrupt WEBP image");
  check_image_dimensions(info.canvas_width, info.canvas_height, max_pixels, name);
  uint8_t* canvas = nullptr;
  int timestamp = 0;
  if (!WebPAnimDecoderGetNext(decoder.get(), &canvas, &timestamp))
    fail_image(name, "image file is truncated or damaged (WEBP)");

  DecodedImage img;
  img.format = "WEBP";
  img.width = static_cast<int>(info.canvas_width);
  img.height = static_cast<int>(info.canvas_height);
  const size_t count = static_cast<size_t>(img.width) * img.height;
  if (features.has_alpha) {
    img.mode = PixelMode::kRGBA;
    img.pixels.assign(canvas, canvas + count * 4);
  } else {
    img.mode = PixelMode::kRGB;
    img.pixels.resize(count * 3);
    for (size_t i = 0; i < count; ++i) std::memcpy(&img.pixels[3 * i], canvas + 4 * i, 3);
  }
  return img;
}

// EXIF block of a WebP file (RIFF "EXIF" chunk), or empty.
std::vector<uint8_t> webp_exif(const uint8_t* d, size_t n) {
  size_t pos = 12;
  while (pos + 8 <= n) {
    const uint32_t len = d[pos + 4] | (d[pos + 5] << 8) | (d[pos + 6] << 16) | (static_cast<uint32_t>(d[pos + 7]) << 24);
    const size_t body = pos + 8;
    if (len > n - body) break;
    if (std::memcmp(d + pos, "EXIF", 4) == 0) {
      const uint8_t* e = d + body;
      size_t m = len;
      if (m >= 6 && std::memcmp(e, "Exif\0\0", 6) == 0) {
        e += 6;
        m -= 6;
      }
      return std::vector<uint8_t>(e, e + m);
    }
    pos = body + len + (len & 1);
  }
  return {};
}

bool webp_matches(const uint8_t* d, size_t n) {
  return n >= 12 && std::memcmp(d, "RIFF", 4) == 0 && std::memcmp(d + 8, "WEBP", 4) == 0;
}

DecodedImage webp_decode(const uint8_t* data, size_t size, const std::string& name, const DecodeOptions& options) {
  DecodedImage img = decode_webp(data, size, name, options.max_pixels);
  if (options.apply_exif_orientation) {
    const std::vector<uint8_t> exif = webp_exif(data, size);
    apply_orientation(img, exif_orientation_from_tiff(exif.data(), exif.size()));
  }
  return img;
}

const char* const kWebpExtensions[] = {"webp", nullptr};

}  // namespace

const ImageFormat kWebpFormat{"WEBP", webp_matches, nullptr, webp_decode, nullptr, kWebpExtensions};

}  // namespace clipzs::image_detail
