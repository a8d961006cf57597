// JPEG 2000 (JP2 box file or raw codestream), decoded by OpenCV as it is.
// No size peek: OpenCV applies its own limit, then the pixel-count check follows the decode.
#include <string>

#include "image/formats.hpp"
#include "image/image_internal.hpp"

namespace clipzs::image_detail {
namespace {

bool jpeg2000_matches(const uint8_t* d, size_t n) {
  return starts_with_bytes(d, n, "\x00\x00\x00\x0cjP  ", 8) || starts_with_bytes(d, n, "\xff\x4f\xff\x51", 4);
}

DecodedImage jpeg2000_decode(const uint8_t* data, size_t size, const std::string& name, const DecodeOptions& options) {
  return decode_with_opencv(data, size, name, options.max_pixels, "JPEG2000");
}

const char* const kJpeg2000Extensions[] = {nullptr};  // not listed from folders by extension

}  // namespace

const ImageFormat kJpeg2000Format{"JPEG2000", jpeg2000_matches, nullptr, jpeg2000_decode, nullptr, kJpeg2000Extensions};

}  // namespace clipzs::image_detail
