// GIF, decoded with giflib (OpenCV 4.6, Debian bookworm's, has no GIF decoder): the first frame, as
// PIL 9.4's Image.open gives it. The logical screen (grown to the frame if the frame reaches past it)
// is filled with the frame's transparent index (else 0) and the frame is pasted at its offset; the mode
// is P with the frame's palette (local, else global), or L when that palette is the identity grey ramp.
#include <gif_lib.h>

#include <algorithm>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "image/formats.hpp"
#include "image/image_internal.hpp"

namespace clipzs::image_detail {
namespace {

struct GifSource {
  const uint8_t* data;
  size_t size;
  size_t pos;
};

int gif_read(GifFileType* gif, GifByteType* out, int n) {
  auto* src = static_cast<GifSource*>(gif->UserData);
  const size_t take = std::min(static_cast<size_t>(n), src->size - src->pos);
  std::memcpy(out, src->data + src->pos, take);
  src->pos += take;
  return static_cast<int>(take);
}

struct GifCloser {
  void operator()(GifFileType* gif) const {
    int error = 0;
    DGifCloseFile(gif, &error);
  }
};

std::string gif_error(int code) {
  const char* text = GifErrorString(code);
  return text != nullptr ? text : "GIF error " + std::to_string(code);
}

// PIL drops a palette that is the identity grey ramp (entry i == (i, i, i)) and opens the frame as L.
bool palette_needed(const ColorMapObject* map) {
  for (int i = 0; i < map->ColorCount; ++i) {
    const GifColorType& c = map->Colors[i];
    if (c.Red != i || c.Green != i || c.Blue != i) return true;
  }
  return false;
}

DecodedImage decode_gif(const uint8_t* data, size_t size, const std::string& name, uint64_t max_pixels) {
  GifSource src{data, size, 0};
  int error = 0;
  std::unique_ptr<GifFileType, GifCloser> gif(DGifOpen(&src, gif_read, &error));
  if (!gif) fail_image(name, "GIF decoding failed: " + gif_error(error));
  uint64_t width = static_cast<uint64_t>(gif->SWidth), height = static_cast<uint64_t>(gif->SHeight);
  check_image_dimensions(width, height, max_pixels, name);

  int transparent = -1;  // from the Graphic Control Extension before the first image
  for (;;) {
    GifRecordType type = UNDEFINED_RECORD_TYPE;
    if (DGifGetRecordType(gif.get(), &type) == GIF_ERROR) fail_image(name, "GIF decoding failed: " + gif_error(gif->Error));
    if (type == TERMINATE_RECORD_TYPE) fail_image(name, "GIF file holds no image");
    if (type == EXTENSION_RECORD_TYPE) {
      int code = 0;
      GifByteType* block = nullptr;
      if (DGifGetExtension(gif.get(), &code, &block) == GIF_ERROR)
        fail_image(name, "GIF decoding failed: " + gif_error(gif->Error));
      if (code == GRAPHICS_EXT_FUNC_CODE && block != nullptr && block[0] >= 4 && (block[1] & 1)) transparent = block[4];
      while (block != nullptr) {
        if (DGifGetExtensionNext(gif.get(), &block) == GIF_ERROR)
          fail_image(name, "GIF decoding failed: " + gif_error(gif->Error));
      }
      continue;
    }
    if (type != IMAGE_DESC_RECORD_TYPE) continue;
    if (DGifGetImageDesc(gif.get()) == GIF_ERROR) fail_image(name, "GIF decoding failed: " + gif_error(gif->Error));
    break;
  }

  const GifImageDesc& frame = gif->Image;
  const uint64_t right = static_cast<uint64_t>(frame.Left) + frame.Width;
  const uint64_t bottom = static_cast<uint64_t>(frame.Top) + frame.Height;
  // PIL grows the image to a frame that reaches past the logical screen.
  width = std::max(width, right);
  height = std::max(height, bottom);
  check_image_dimensions(width, height, max_pixels, name);

  const ColorMapObject* map = frame.ColorMap != nullptr ? frame.ColorMap : gif->SColorMap;
  const bool has_palette = map != nullptr && palette_needed(map);
  DecodedImage img;
  img.format = "GIF";
  img.width = static_cast<int>(width);
  img.height = static_cast<int>(height);
  img.mode = has_palette ? PixelMode::kP : PixelMode::kL;
  img.pixels.assign(static_cast<size_t>(width) * height, static_cast<uint8_t>(transparent >= 0 ? transparent : 0));
  if (has_palette) {
    img.palette.resize(768);
    for (int i = 0; i < 256; ++i) img.palette[3 * i] = img.palette[3 * i + 1] = img.palette[3 * i + 2] = static_cast<uint8_t>(i);
    for (int i = 0; i < std::min(map->ColorCount, 256); ++i) {
      img.palette[3 * i] = map->Colors[i].Red;
      img.palette[3 * i + 1] = map->Colors[i].Green;
      img.palette[3 * i + 2] = map->Colors[i].Blue;
    }
  }

  // Rows arrive in file order; interlaced frames store rows 0, 8, 16, ... then 4, 12, ... then 2, 6,
  // ... then 1, 3, ...
  std::vector<int> order;
  order.reserve(static_cast<size_t>(frame.Height));
  if (frame.Interlace) {
    const int starts[4] = {0, 4, 2, 1}, steps[4] = {8, 8, 4, 2};
    for (int pass = 0; pass < 4; ++pass)
      for (int y = starts[pass]; y < frame.Height; y += steps[pass]) order.push_back(y);
  } else {
    for (int y = 0; y < frame.Height; ++y) order.push_back(y);
  }
  std::vector<GifPixelType> row(static_cast<size_t>(frame.Width));
  for (int y : order) {
    if (DGifGetLine(gif.get(), row.data(), frame.Width) == GIF_ERROR)
      fail_image(name, "image file is truncated or damaged (GIF: " + gif_error(gif->Error) + ")");
    std::memcpy(img.pixels.data() + (static_cast<size_t>(frame.Top) + y) * width + frame.Left, row.data(), row.size());
  }
  return img;
}

bool gif_matches(const uint8_t* data, size_t size) {
  return starts_with_bytes(data, size, "GIF87a", 6) || starts_with_bytes(data, size, "GIF89a", 6);
}

DecodedImage gif_decode(const uint8_t* data, size_t size, const std::string& name, const DecodeOptions& options) {
  return decode_gif(data, size, name, options.max_pixels);  // GIF has no EXIF orientation
}

const char* const kGifExtensions[] = {"gif", nullptr};

}  // namespace

const ImageFormat kGifFormat{"GIF", gif_matches, nullptr, gif_decode, nullptr, kGifExtensions};

}  // namespace clipzs::image_detail
