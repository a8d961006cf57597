// PNM (PBM, PGM, PPM, PAM: "P1" to "P7"), decoded by OpenCV. PIL names them all "PPM".
#include <cctype>
#include <string>

#include "image/formats.hpp"
#include "image/image_internal.hpp"

namespace clipzs::image_detail {
namespace {

bool ppm_matches(const uint8_t* d, size_t n) { return n >= 2 && d[0] == 'P' && d[1] >= '1' && d[1] <= '7'; }

// "P6 <w> <h> ...", with # comments between the tokens; read so that an oversized image is refused
// before OpenCV allocates it.
bool ppm_peek_size(const uint8_t* d, size_t n, uint64_t& w, uint64_t& h) {
  size_t pos = 2;
  uint64_t values[2] = {0, 0};
  for (uint64_t& v : values) {
    while (pos < n && (std::isspace(d[pos]) || d[pos] == '#')) {
      if (d[pos] == '#') {
        while (pos < n && d[pos] != '\n') ++pos;
      } else {
        ++pos;
      }
    }
    if (pos >= n || !std::isdigit(d[pos])) return false;
    for (; pos < n && std::isdigit(d[pos]) && v < (1ull << 40); ++pos) v = v * 10 + (d[pos] - '0');
  }
  w = values[0];
  h = values[1];
  return true;
}

DecodedImage ppm_decode(const uint8_t* data, size_t size, const std::string& name, const DecodeOptions& options) {
  return decode_with_opencv(data, size, name, options.max_pixels, "PPM");
}

const char* const kPpmExtensions[] = {"ppm", "pgm", "pbm", nullptr};

}  // namespace

const ImageFormat kPpmFormat{"PPM", ppm_matches, ppm_peek_size, ppm_decode, nullptr, kPpmExtensions};

}  // namespace clipzs::image_detail
