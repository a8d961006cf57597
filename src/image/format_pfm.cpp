// PFM (portable float map, "PF" colour or "Pf" grey), decoded by OpenCV as it is.
// No size peek: OpenCV applies its own limit, then the pixel-count check follows the decode.
#include <string>

#include "image/formats.hpp"
#include "image/image_internal.hpp"

namespace clipzs::image_detail {
namespace {

bool pfm_matches(const uint8_t* d, size_t n) {
  return n >= 2 && d[0] == 'P' && (d[1] == 'F' || d[1] == 'f');
}

DecodedImage pfm_decode(const uint8_t* data, size_t size, const std::string& name, const DecodeOptions& options) {
  return decode_with_opencv(data, size, name, options.max_pixels, "PFM");
}

const char* const kPfmExtensions[] = {nullptr};  // not listed from folders by extension

}  // namespace

const ImageFormat kPfmFormat{"PFM", pfm_matches, nullptr, pfm_decode, nullptr, kPfmExtensions};

}  // namespace clipzs::image_detail
