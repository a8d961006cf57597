// Sun raster, decoded by OpenCV as it is. No size peek: OpenCV applies its own limit, then the
// pixel-count check follows the decode.
#include <string>

#include "image/formats.hpp"
#include "image/image_internal.hpp"

namespace clipzs::image_detail {
namespace {

bool sun_matches(const uint8_t* d, size_t n) {
  return starts_with_bytes(d, n, "\x59\xa6\x6a\x95", 4);
}

DecodedImage sun_decode(const uint8_t* data, size_t size, const std::string& name, const DecodeOptions& options) {
  return decode_with_opencv(data, size, name, options.max_pixels, "SUN");
}

const char* const kSunExtensions[] = {nullptr};  // not listed from folders by extension

}  // namespace

const ImageFormat kSunFormat{"SUN", sun_matches, nullptr, sun_decode, nullptr, kSunExtensions};

}  // namespace clipzs::image_detail
