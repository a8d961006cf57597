// The image formats clipzs reads: one table, one entry per format, one source file per entry.
//
// Everything that depends on the format goes through this table: recognising a file from its first
// bytes (format_of), refusing an oversized image from its header, full and partial decoding
// (decode.cpp) and the file-name extensions that make a file an image (inputs.cpp). The matchers are
// the only place a file's format is told from its bytes.
//
// To add a format:
//  1. src/image/format_<name>.cpp: the matcher, the decoder (or decode_with_opencv), optionally a
//     header size peek and a partial decoder, the extensions, and `const ImageFormat k<Name>Format`.
//  2. Here: its `extern const ImageFormat k<Name>Format;` declaration.
//  3. formats.cpp: its place in kFormats (the order format_of() tries them in, and the order of the
//     extensions in inputs.cpp's messages).
//  4. tests/unit/base/test_image.cpp: a sample in ImageFormats.TableIsConsistent, and a decoding case.
// CMake picks the new file up by its glob (re-run cmake).
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "clipzs/image/image.hpp"
// Included from the same folder, so that the unit tests (which do not have src/ on their include
// path) can include this header by its path.
#include "image_internal.hpp"

namespace clipzs::image_detail {

struct ImageFormat {
  // The format's name as PIL gives it: DecodedImage::format, and the name error messages use.
  const char* name;
  // True when the data starts with this format's magic bytes. Must check `size` before reading, and
  // accept nothing another entry accepts (the unit test checks this on sample files).
  bool (*matches)(const uint8_t* data, size_t size);
  // Width and height as the header states them, or false when they cannot be read there. When set,
  // the dispatcher refuses an image of more than max_pixels pixels from it before calling `decode`.
  // Null for formats whose decoder checks the size itself (after its own header checks, so that a
  // damaged header is reported as PIL reports it).
  bool (*peek_size)(const uint8_t* data, size_t size, uint64_t& width, uint64_t& height);
  // The whole image, as decode_image_bytes returns it (EXIF orientation included when asked).
  DecodedImage (*decode)(const uint8_t* data, size_t size, const std::string& name, const DecodeOptions& options);
  // Partial decoding for preprocessing (see decode_image_part_bytes), into a default-constructed
  // `part`. Null when the format has none: the dispatcher then decodes the whole image.
  void (*decode_part)(const uint8_t* data, size_t size, const std::string& name, const DecodeOptions& options,
                      const PreprocessSpec& spec, DecodedPart& part);
  // File-name extensions that make inputs.cpp list a file as an image: lower case, without the dot,
  // ended by nullptr (a format may have none: {nullptr}).
  const char* const* extensions;
};

// The entries, each defined in its format_<name>.cpp.
extern const ImageFormat kJpegFormat;
extern const ImageFormat kPngFormat;
extern const ImageFormat kBmpFormat;
extern const ImageFormat kWebpFormat;
extern const ImageFormat kTiffFormat;
extern const ImageFormat kGifFormat;
extern const ImageFormat kPpmFormat;
extern const ImageFormat kPfmFormat;
extern const ImageFormat kJpeg2000Format;
extern const ImageFormat kHdrFormat;
extern const ImageFormat kExrFormat;
extern const ImageFormat kSunFormat;

// Every format, in the order format_of() tries them.
const std::vector<const ImageFormat*>& image_formats();

// The first format whose matcher accepts the data, or nullptr (the data may still be something
// OpenCV reads; decode_image_bytes tries that).
const ImageFormat* format_of(const uint8_t* data, size_t size);

// The format that lists `extension` (lower case, without the dot), or nullptr.
const ImageFormat* format_for_extension(const std::string& extension);

// For matchers: the data starts with the n bytes at `magic`.
inline bool starts_with_bytes(const uint8_t* data, size_t size, const char* magic, size_t n) {
  return size >= n && std::memcmp(data, magic, n) == 0;
}

// Decodes with OpenCV's imdecode (alpha and bit depth kept, EXIF orientation never applied): 16-bit
// samples keep their high byte, other depths saturate to 8 bits, BGR(A) becomes RGB(A). `format` is
// the entry's name, or nullptr for data no entry recognises (the image's format is then "UNKNOWN").
// The formats that use it add what PIL does differently after it.
DecodedImage decode_with_opencv(const uint8_t* data, size_t size, const std::string& name, uint64_t max_pixels,
                                const char* format);

}  // namespace clipzs::image_detail
