// The format table (see formats.hpp) and the two look-ups through it: by magic bytes and by extension.
#include "image/formats.hpp"

namespace clipzs::image_detail {

const std::vector<const ImageFormat*>& image_formats() {
  // No two matchers accept the same bytes, so this order never decides which format a file is; it is
  // the order of the extensions in image_extensions_text() (".jpg/.jpeg/.png/.bmp/.webp/...").
  static const std::vector<const ImageFormat*> kFormats = {
      &kJpegFormat, &kPngFormat, &kBmpFormat, &kWebpFormat, &kTiffFormat, &kGifFormat,
      &kPpmFormat,  &kPfmFormat, &kJpeg2000Format, &kHdrFormat, &kExrFormat, &kSunFormat,
  };
  return kFormats;
}

const ImageFormat* format_of(const uint8_t* data, size_t size) {
  for (const ImageFormat* format : image_formats()) {
    if (format->matches(data, size)) return format;
  }
  return nullptr;
}

const ImageFormat* format_for_extension(const std::string& extension) {
  for (const ImageFormat* format : image_formats()) {
    for (const char* const* e = format->extensions; *e != nullptr; ++e) {
      if (extension == *e) return format;
    }
  }
  return nullptr;
}

}  // namespace clipzs::image_detail
