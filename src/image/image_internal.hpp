// Private helpers shared by the image sources (decode.cpp, the format_*.cpp decoders, png_rows.cpp,
// resample.cpp, preprocess.cpp). The format table is in formats.hpp.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "clipzs/image/image.hpp"

namespace clipzs::image_detail {

// Throws Error(kInput) "cannot read image '<name>': <reason>".
[[noreturn]] void fail_image(const std::string& name, const std::string& reason);
// Refuses a zero-sized image, or one of more than max_pixels pixels (stated before decoding).
void check_image_dimensions(uint64_t width, uint64_t height, uint64_t max_pixels, const std::string& name);

// PIL's MULDIV255: a*b/255 rounded, in integers.
inline uint8_t muldiv255(unsigned a, unsigned b) {
  const unsigned t = a * b + 128;
  return static_cast<uint8_t>(((t >> 8) + t) >> 8);
}

// A rectangle [x0, x1) x [y0, y1) of pixels.
struct PixelRect {
  int x0 = 0, y0 = 0, x1 = 0, y1 = 0;
  bool empty() const noexcept { return x1 <= x0 || y1 <= y0; }
};

// The part of an in_w x in_h source that a resampler holds in memory: `data` points at pixel (x0, y0),
// rows are `stride` bytes apart, and `width` x `height` pixels are there. The whole buffer (stride *
// height bytes from `data`) must be readable.
struct SourceView {
  const uint8_t* data = nullptr;
  size_t stride = 0;
  int x0 = 0, y0 = 0, width = 0, height = 0;
};

// Resizes `src` (in_w x in_h x ch, interleaved, tightly packed) to out_w x out_h with PIL 9.4's
// ImagingResample arithmetic (no premultiplication here), but only materialises the window
// [wx, wx+ww) x [wy, wy+wh) of the result, which must lie inside [0,out_w) x [0,out_h). Every output
// pixel of PIL's two-pass resampler depends only on the intermediate rows/columns it touches, so a
// window is bit-identical to cropping the full result, and much cheaper for the centre crop.
// `dst` receives wh rows of ww*ch bytes, `dst_stride` bytes apart.
void resample_window(const uint8_t* src, int in_w, int in_h, int ch, int out_w, int out_h,
                     Interpolation interpolation, int wx, int wy, int ww, int wh, uint8_t* dst,
                     size_t dst_stride);

// The same from a view that holds only part of the source; the view must cover
// resample_source_rect(...) of the same arguments (kInternal error otherwise).
void resample_window(const SourceView& src, int in_w, int in_h, int ch, int out_w, int out_h,
                     Interpolation interpolation, int wx, int wy, int ww, int wh, uint8_t* dst,
                     size_t dst_stride);

// The source pixels that resample_window reads (with non-zero or zero weight) for that window; empty
// when it reads none (a nearest-neighbour window that lies wholly outside the source).
PixelRect resample_source_rect(int in_w, int in_h, int out_w, int out_h, Interpolation interpolation, int wx,
                               int wy, int ww, int wh);

// The source pixels of a width x height image of `mode` that preprocess(image, spec) reads; empty
// when it reads none or the spec is invalid (preprocess reports that).
PixelRect preprocess_source_rect(int width, int height, PixelMode mode, const PreprocessSpec& spec);

// Part of a decoded file, for preprocessing: `image` (mode, palette and format as decode_image gives
// them) holds the pixels [x0, x0 + image.width) x [y0, y0 + image.height) of the full_width x
// full_height image. Only the pixels inside `exact` (which the held part covers) are guaranteed to be
// those decode_image returns; the rest of the held part is decoding margin and may differ.
struct DecodedPart {
  DecodedImage image;
  int full_width = 0, full_height = 0;
  int x0 = 0, y0 = 0;
  PixelRect exact;
};

// Decodes at least preprocess_source_rect(spec) of the file, and as little more as the format allows
// (JPEG: the iMCU columns/rows around it plus a safety margin, then only entropy decoding for the
// rows after it; PNG: every row is still decoded, only the needed rows are kept; with EXIF orientation
// applied, and for other formats, the whole image). Throws exactly where decode_image_bytes throws:
// data after the needed rows is still decoded far enough to report truncation as PIL does.
DecodedPart decode_image_part_bytes(const uint8_t* data, size_t size, const std::string& name_for_errors,
                                    const DecodeOptions& options, const PreprocessSpec& spec);
DecodedPart decode_image_part(const std::string& path, const DecodeOptions& options, const PreprocessSpec& spec);

// Reads the image data of a non-interlaced PNG with 8-bit samples (after libpng's png_read_info, which
// leaves the file at offset `pos`, just after the first IDAT chunk's type, of that chunk's `length`)
// exactly as libpng 1.6's sequential reader would: same pixels, same fatal errors (returned as false
// with libpng's message), same tolerated ones; only the unfiltering is faster. rows[y] receives row y
// (width * channels bytes); consecutive rows must be distinct buffers.
bool read_png_image_data(const uint8_t* data, size_t size, size_t pos, uint32_t length, uint32_t width,
                         uint32_t height, int channels, uint8_t* const* rows, char* message, size_t message_size);

// PNG unfiltering of one row of n bytes, bpp bytes per pixel (1..4); `prev` is the previous
// reconstructed row (zeros for the first).
void png_unfilter_row(int filter, const uint8_t* raw, const uint8_t* prev, uint8_t* out, size_t n, int bpp);

// decode_image_bytes for a PNG, but with libpng reading every row itself (what read_png_image_data
// replaces), for tests that compare the two.
DecodedImage decode_png_with_libpng_rows(const uint8_t* data, size_t size, const std::string& name_for_errors);

// preprocess() of the full image, from a part that covers preprocess_source_rect (same output bits).
Image8 preprocess_part(const DecodedPart& part, const PreprocessSpec& spec);

// preprocess(decode_image(path, options), spec), decoding only what preprocessing needs: same pixels,
// same errors.
Image8 decode_and_preprocess(const std::string& path, const PreprocessSpec& spec, const DecodeOptions& options = {});
Image8 decode_and_preprocess_bytes(const uint8_t* data, size_t size, const std::string& name_for_errors,
                                   const PreprocessSpec& spec, const DecodeOptions& options = {});

// PIL's RGBA->RGBa / LA->La (premultiply) and the inverse RGBa->RGBA / La->LA rule, in place, for
// `count` pixels of `ch` channels with alpha last (ch 2 = LA, 4 = RGBA).
void premultiply_alpha(uint8_t* pixels, size_t count, int ch);
void unpremultiply_alpha(uint8_t* pixels, size_t count, int ch);

// Value of a SHORT/LONG tag in IFD0 of a TIFF-structured block (starting at the byte-order mark), or
// `fallback` when absent or malformed.
int tiff_ifd0_value(const uint8_t* data, size_t size, uint16_t tag, int fallback);

// Reads the EXIF orientation (1..8) from a TIFF-structured block (starting at the byte-order mark).
// Returns 1 when absent or malformed.
int exif_orientation_from_tiff(const uint8_t* data, size_t size);

// Rotates/flips a decoded image like PIL's ImageOps.exif_transpose for orientation 2..8.
void apply_orientation(DecodedImage& image, int orientation);

}  // namespace clipzs::image_detail
