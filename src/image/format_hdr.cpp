// Radiance HDR (RGBE), decoded by OpenCV as it is. No size peek: OpenCV applies its own limit, then the
// pixel-count check follows the decode.
#include <string>

#include "image/formats.hpp"
#include "image/image_internal.hpp"

namespace clipzs::image_detail {
namespace {

bool hdr_matches(const uint8_t* d, size_t n) {
  return starts_with_bytes(d, n, "#?RADIANCE", 10) || starts_with_bytes(d, n, "#?RGBE", 6);
}

DecodedImage hdr_decode(const uint8_t* data, size_t size, const std::string& name, const DecodeOptions& options) {
  return decode_with_opencv(data, size, name, options.max_pixels, "HDR");
}

const char* const kHdrExtensions[] = {nullptr};  // not listed from folders by extension

}  // namespace

const ImageFormat kHdrFormat{"HDR", hdr_matches, nullptr, hdr_decode, nullptr, kHdrExtensions};

}  // namespace clipzs::image_detail
