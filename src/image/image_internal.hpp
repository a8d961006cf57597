// Private helpers shared by the image sources (decode.cpp, resample.cpp, preprocess.cpp).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "clipzs/image.hpp"

namespace clipzs::image_detail {

// PIL's MULDIV255: a*b/255 rounded, in integers.
inline uint8_t muldiv255(unsigned a, unsigned b) {
  const unsigned t = a * b + 128;
  return static_cast<uint8_t>(((t >> 8) + t) >> 8);
}

// Resizes `src` (in_w x in_h x ch, interleaved, tightly packed) to out_w x out_h with PIL 9.4's
// ImagingResample arithmetic (no premultiplication here), but only materialises the window
// [wx, wx+ww) x [wy, wy+wh) of the result, which must lie inside [0,out_w) x [0,out_h). Every output
// pixel of PIL's two-pass resampler depends only on the intermediate rows/columns it touches, so a
// window is bit-identical to cropping the full result, and much cheaper for the centre crop.
// `dst` receives wh rows of ww*ch bytes, `dst_stride` bytes apart.
void resample_window(const uint8_t* src, int in_w, int in_h, int ch, int out_w, int out_h,
                     Interpolation interpolation, int wx, int wy, int ww, int wh, uint8_t* dst,
                     size_t dst_stride);

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
