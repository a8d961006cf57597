// Image decoding that keeps each file's own pixel mode, as PIL 9.4's Image.open does, because the
// reference preprocessing resizes each mode differently. This file holds what does not depend on the
// format: reading the file, the format dispatch through the table in formats.hpp (the format comes
// from the magic bytes, never from the file name), the size limit, the error wording, and the EXIF
// orientation helpers. Each format's decoding is in its format_<name>.cpp.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>
#include <vector>

#include "clipzs/util/error.hpp"
#include "image/formats.hpp"
#include "image/image_internal.hpp"

namespace clipzs {

// ------------------------------------------------------------------------- errors and orientation

namespace image_detail {

void fail_image(const std::string& name, const std::string& reason) {
  throw Error(ErrorKind::kInput, "cannot read image '" + name + "': " + reason);
}

void check_image_dimensions(uint64_t w, uint64_t h, uint64_t max_pixels, const std::string& name) {
  if (w == 0 || h == 0) fail_image(name, "image has zero width or height");
  if (w > (1ull << 32) || h > (1ull << 32) || w * h > max_pixels) {
    fail_image(name, "image size " + std::to_string(w) + "x" + std::to_string(h) + " exceeds the limit of " +
                         std::to_string(max_pixels) + " pixels (possible decompression bomb; raise " + param("max_pixels") + " to allow it)");
  }
}

int tiff_ifd0_value(const uint8_t* d, size_t n, uint16_t tag, int fallback) {
  if (d == nullptr || n < 8) return fallback;
  bool le;
  if (d[0] == 'I' && d[1] == 'I') {
    le = true;
  } else if (d[0] == 'M' && d[1] == 'M') {
    le = false;
  } else {
    return fallback;
  }
  auto u16 = [&](size_t p) -> uint32_t { return le ? (d[p] | (d[p + 1] << 8)) : ((d[p] << 8) | d[p + 1]); };
  auto u32 = [&](size_t p) -> uint32_t {
    return le ? (u16(p) | (u16(p + 2) << 16)) : ((u16(p) << 16) | u16(p + 2));
  };
  if (u16(2) != 42) return fallback;
  const uint32_t ifd = u32(4);
  if (ifd > n || n - ifd < 2) return fallback;
  const uint32_t count = u16(ifd);
  for (uint32_t i = 0; i < count; ++i) {
    const size_t e = ifd + 2 + 12ull * i;
    if (e + 12 > n) break;
    if (u16(e) != tag) continue;
    const uint32_t type = u16(e + 2);
    if (type == 3) return static_cast<int>(u16(e + 8));  // SHORT, left-justified in the value field
    if (type == 4) return static_cast<int>(u32(e + 8) & 0x7fffffff);
    return fallback;
  }
  return fallback;
}

int exif_orientation_from_tiff(const uint8_t* d, size_t n) {
  const int v = tiff_ifd0_value(d, n, 0x0112, 1);
  return (v >= 1 && v <= 8) ? v : 1;
}

void apply_orientation(DecodedImage& img, int orientation) {
  if (orientation < 2 || orientation > 8) return;
  const int w = img.width, h = img.height, ch = img.channels();
  const bool swap = orientation >= 5;  // transpose, rotations by 90/270, transverse
  const int ow = swap ? h : w, oh = swap ? w : h;
  std::vector<uint8_t> out(img.pixels.size());
  for (int y = 0; y < oh; ++y) {
    for (int x = 0; x < ow; ++x) {
      int sx = x, sy = y;
      switch (orientation) {
        case 2: sx = w - 1 - x; break;                      // FLIP_LEFT_RIGHT
        case 3: sx = w - 1 - x; sy = h - 1 - y; break;      // ROTATE_180
        case 4: sy = h - 1 - y; break;                      // FLIP_TOP_BOTTOM
        case 5: sx = y; sy = x; break;                      // TRANSPOSE
        case 6: sx = y; sy = h - 1 - x; break;              // ROTATE_270 (90 degrees clockwise)
        case 7: sx = w - 1 - y; sy = h - 1 - x; break;      // TRANSVERSE
        case 8: sx = w - 1 - y; sy = x; break;              // ROTATE_90 (counter-clockwise)
      }
      std::memcpy(&out[(static_cast<size_t>(y) * ow + x) * ch], &img.pixels[(static_cast<size_t>(sy) * w + sx) * ch], ch);
    }
  }
  img.pixels.swap(out);
  img.width = ow;
  img.height = oh;
}

}  // namespace image_detail

// ---------------------------------------------------------------------------------------- dispatch

namespace {

using image_detail::fail_image;
using image_detail::ImageFormat;

// The whole image as `format` decodes it, or as OpenCV does when no format recognised the data.
DecodedImage decode_whole(const ImageFormat* format, const uint8_t* data, size_t size, const std::string& name,
                          const DecodeOptions& options) {
  if (format == nullptr) return image_detail::decode_with_opencv(data, size, name, options.max_pixels, nullptr);
  uint64_t width = 0, height = 0;
  if (format->peek_size != nullptr && format->peek_size(data, size, width, height))
    image_detail::check_image_dimensions(width, height, options.max_pixels, name);
  return format->decode(data, size, name, options);
}

bool is_broken_symlink(const std::string& path) {
  struct stat st {};
  return ::lstat(path.c_str(), &st) == 0 && S_ISLNK(st.st_mode);
}

std::vector<uint8_t> read_file(const std::string& path) {
  // O_NONBLOCK: opening a FIFO named like an image must not hang the run (regular files ignore it).
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);
  if (fd < 0) {
    fail_image(path, errno == ENOENT && is_broken_symlink(path) ? "broken symbolic link (its target does not exist)"
                                                                : std::strerror(errno));
  }
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    const int e = errno;
    ::close(fd);
    fail_image(path, std::strerror(e));
  }
  if (!S_ISREG(st.st_mode)) {
    ::close(fd);
    fail_image(path, S_ISDIR(st.st_mode) ? "a folder, not an image file" : "not a regular file");
  }
  std::vector<uint8_t> bytes(static_cast<size_t>(st.st_size));
  size_t got = 0;
  while (got < bytes.size()) {
    const ssize_t r = ::read(fd, bytes.data() + got, bytes.size() - got);
    if (r < 0) {
      if (errno == EINTR) continue;
      const int e = errno;
      ::close(fd);
      fail_image(path, std::strerror(e));
    }
    if (r == 0) break;
    got += static_cast<size_t>(r);
  }
  ::close(fd);
  bytes.resize(got);
  return bytes;
}

}  // namespace

DecodedImage decode_image_bytes(const uint8_t* data, size_t size, const std::string& name_for_errors,
                                const DecodeOptions& options) {
  if (data == nullptr || size == 0) fail_image(name_for_errors, "file is empty (0 bytes)");
  return decode_whole(image_detail::format_of(data, size), data, size, name_for_errors, options);
}

DecodedImage decode_image(const std::string& path, const DecodeOptions& options) {
  const std::vector<uint8_t> bytes = read_file(path);
  return decode_image_bytes(bytes.data(), bytes.size(), path, options);
}

namespace image_detail {

DecodedPart decode_image_part_bytes(const uint8_t* data, size_t size, const std::string& name_for_errors,
                                    const DecodeOptions& options, const PreprocessSpec& spec) {
  if (data == nullptr || size == 0) fail_image(name_for_errors, "file is empty (0 bytes)");
  DecodedPart part;
  const ImageFormat* format = format_of(data, size);
  if (format != nullptr && format->decode_part != nullptr) {
    format->decode_part(data, size, name_for_errors, options, spec, part);
  } else {
    part.image = decode_whole(format, data, size, name_for_errors, options);
    part.full_width = part.image.width;
    part.full_height = part.image.height;
    part.exact = PixelRect{0, 0, part.image.width, part.image.height};
  }
  return part;
}

DecodedPart decode_image_part(const std::string& path, const DecodeOptions& options, const PreprocessSpec& spec) {
  const std::vector<uint8_t> bytes = read_file(path);
  return decode_image_part_bytes(bytes.data(), bytes.size(), path, options, spec);
}

}  // namespace image_detail

}  // namespace clipzs
