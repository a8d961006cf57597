// TIFF, decoded by OpenCV (libtiff); unassociated alpha is taken back out as PIL leaves it.
#include <string>

#include "image/formats.hpp"
#include "image/image_internal.hpp"

namespace clipzs::image_detail {
namespace {

bool tiff_matches(const uint8_t* data, size_t size) {
  return starts_with_bytes(data, size, "II*\0", 4) || starts_with_bytes(data, size, "MM\0*", 4);
}

// ImageWidth and ImageLength from IFD0, so that an oversized image is refused before OpenCV allocates it.
bool tiff_peek_size(const uint8_t* d, size_t n, uint64_t& w, uint64_t& h) {
  const int tw = tiff_ifd0_value(d, n, 256, -1), th = tiff_ifd0_value(d, n, 257, -1);
  if (tw < 0 || th < 0) return false;
  w = static_cast<uint64_t>(tw);
  h = static_cast<uint64_t>(th);
  return true;
}

DecodedImage tiff_decode(const uint8_t* data, size_t size, const std::string& name, const DecodeOptions& options) {
  DecodedImage img = decode_with_opencv(data, size, name, options.max_pixels, "TIFF");
  if (img.mode == PixelMode::kRGBA && tiff_ifd0_value(data, size, 338, 0) == 2) {
    // OpenCV reads 8-bit TIFFs through libtiff's RGBA interface, which premultiplies unassociated
    // alpha ((v*a + 127) / 255); PIL does not. Undo it as closely as the rounding allows.
    for (size_t i = 0; i < img.pixels.size(); i += 4) {
      const unsigned a = img.pixels[i + 3];
      if (a == 0 || a == 255) continue;
      for (int c = 0; c < 3; ++c) {
        const unsigned v = (255u * img.pixels[i + c] + a / 2) / a;
        img.pixels[i + c] = static_cast<uint8_t>(v > 255 ? 255 : v);
      }
    }
  }
  // The file is itself TIFF-structured: its IFD0 holds the orientation.
  if (options.apply_exif_orientation) apply_orientation(img, exif_orientation_from_tiff(data, size));
  return img;
}

const char* const kTiffExtensions[] = {"tif", "tiff", nullptr};

}  // namespace

const ImageFormat kTiffFormat{"TIFF", tiff_matches, tiff_peek_size, tiff_decode, nullptr, kTiffExtensions};

}  // namespace clipzs::image_detail
