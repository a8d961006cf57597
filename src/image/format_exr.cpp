// OpenEXR, decoded by OpenCV as it is. No size peek: OpenCV applies its own limit, then the
// pixel-count check follows the decode.
#include <string>

#include "image/formats.hpp"
#include "image/image_internal.hpp"

namespace clipzs::image_detail {
namespace {

bool exr_matches(const uint8_t* d, size_t n) {
  return starts_with_bytes(d, n, "\x76\x2f\x31\x01", 4);
}

DecodedImage exr_decode(const uint8_t* data, size_t size, const std::string& name, const DecodeOptions& options) {
  return decode_with_opencv(data, size, name, options.max_pixels, "EXR");
}

const char* const kExrExtensions[] = {nullptr};  // not listed from folders by extension

}  // namespace

const ImageFormat kExrFormat{"EXR", exr_matches, nullptr, exr_decode, nullptr, kExrExtensions};

}  // namespace clipzs::image_detail
