// BMP (Windows and OS/2 bitmaps), decoded by OpenCV; colour-table images get PIL's palette modes back.
#include <algorithm>
#include <string>
#include <utility>
#include <vector>

#include "image/formats.hpp"
#include "image/image_internal.hpp"

namespace clipzs::image_detail {
namespace {

uint32_t le32(const uint8_t* p) { return p[0] | (p[1] << 8) | (p[2] << 16) | (static_cast<uint32_t>(p[3]) << 24); }

// PIL opens BMPs of 1/4/8 bits per pixel as "P" (or "1"/"L" when the colour table is exactly the
// black/white or identity grey ramp) and resizes "P"/"1" with nearest neighbour; OpenCV expands them to
// colours. Rebuild PIL's mode: indices come back from the colours through the file's colour table.
void restore_bmp_palette_mode(const uint8_t* d, size_t n, DecodedImage& img) {
  if (n < 30) return;
  const uint32_t header = le32(d + 14);
  const bool os2 = header == 12;
  if (!os2 && header < 40) return;
  const int bits = os2 ? (d[24] | (d[25] << 8)) : (d[28] | (d[29] << 8));
  if (bits != 1 && bits != 4 && bits != 8) return;
  uint32_t colors = (!os2 && n >= 50) ? le32(d + 46) : 0;
  if (colors == 0) colors = 1u << bits;
  const size_t entry = os2 ? 3 : 4;
  const size_t table = 14 + static_cast<size_t>(header);
  if (colors > 256 || table + colors * entry > n) return;
  auto rgb_of = [&](uint32_t i) {
    const uint8_t* e = d + table + i * entry;  // stored B, G, R
    return (static_cast<uint32_t>(e[2]) << 16) | (e[1] << 8) | e[0];
  };
  bool grey = true;
  for (uint32_t i = 0; i < colors && grey; ++i) {
    const uint32_t v = colors == 2 ? (i ? 255 : 0) : i;
    grey = rgb_of(i) == ((v << 16) | (v << 8) | v);
  }
  const size_t count = static_cast<size_t>(img.width) * img.height;
  const int ch = img.channels();
  if (grey) {
    if (ch != 1) return;  // OpenCV yields grey for grey tables; anything else: leave as decoded
    if (colors == 2) img.mode = PixelMode::k1;
    return;
  }
  if (ch != 1 && ch != 3) return;
  std::vector<std::pair<uint32_t, uint8_t>> lookup;  // colour -> first index with that colour
  for (uint32_t i = 0; i < colors; ++i) lookup.emplace_back(rgb_of(i), static_cast<uint8_t>(i));
  std::stable_sort(lookup.begin(), lookup.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
  std::vector<uint8_t> indices(count);
  for (size_t i = 0; i < count; ++i) {
    const uint8_t* p = &img.pixels[i * ch];
    const uint32_t key = ch == 3 ? ((static_cast<uint32_t>(p[0]) << 16) | (p[1] << 8) | p[2])
                                 : ((static_cast<uint32_t>(p[0]) << 16) | (p[0] << 8) | p[0]);
    const auto it = std::lower_bound(lookup.begin(), lookup.end(), key,
                                     [](const auto& e, uint32_t k) { return e.first < k; });
    if (it == lookup.end() || it->first != key) return;  // not from the table: keep OpenCV's pixels
    indices[i] = it->second;
  }
  img.palette.resize(768);
  for (int i = 0; i < 256; ++i) img.palette[3 * i] = img.palette[3 * i + 1] = img.palette[3 * i + 2] = static_cast<uint8_t>(i);
  for (uint32_t i = 0; i < colors; ++i) {
    const uint32_t c = rgb_of(i);
    img.palette[3 * i] = static_cast<uint8_t>(c >> 16);
    img.palette[3 * i + 1] = static_cast<uint8_t>(c >> 8);
    img.palette[3 * i + 2] = static_cast<uint8_t>(c);
  }
  img.pixels.swap(indices);
  img.mode = PixelMode::kP;
}

bool bmp_matches(const uint8_t* data, size_t size) { return starts_with_bytes(data, size, "BM", 2); }

// From the info header, so that an oversized bitmap is refused before OpenCV allocates it.
bool bmp_peek_size(const uint8_t* d, size_t n, uint64_t& w, uint64_t& h) {
  if (n < 26) return false;
  if (le32(d + 14) == 12) {  // OS/2 BITMAPCOREHEADER: 16-bit sizes
    w = d[18] | (d[19] << 8);
    h = d[20] | (d[21] << 8);
    return true;
  }
  const int32_t height = static_cast<int32_t>(le32(d + 22));  // negative: top-down rows
  w = le32(d + 18);
  h = static_cast<uint64_t>(height < 0 ? -static_cast<int64_t>(height) : height);
  return true;
}

DecodedImage bmp_decode(const uint8_t* data, size_t size, const std::string& name, const DecodeOptions& options) {
  DecodedImage img = decode_with_opencv(data, size, name, options.max_pixels, "BMP");
  restore_bmp_palette_mode(data, size, img);
  return img;  // BMP has no EXIF orientation
}

const char* const kBmpExtensions[] = {"bmp", nullptr};

}  // namespace

const ImageFormat kBmpFormat{"BMP", bmp_matches, bmp_peek_size, bmp_decode, nullptr, kBmpExtensions};

}  // namespace clipzs::image_detail
