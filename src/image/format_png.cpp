// PNG, decoded with libpng directly, in the modes PIL 9.4 gives. libpng's default error handler prints
// and exit()s; the handler here longjmps back and the failure becomes clipzs::Error(kInput). The image
// data of non-interlaced 8-bit files is read by read_png_image_data (png_rows.cpp), which reads it as
// libpng would.
#include <csetjmp>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include <png.h>

#include "image/formats.hpp"
#include "image/image_internal.hpp"

namespace clipzs::image_detail {
namespace {

struct PngError {
  std::jmp_buf jump;
  char message[256];
};

struct PngSource {
  const uint8_t* data;
  size_t size;
  size_t pos;
};

void png_error_cb(png_structp png, png_const_charp msg) {
  auto* err = static_cast<PngError*>(png_get_error_ptr(png));
  std::snprintf(err->message, sizeof err->message, "%s", msg ? msg : "unknown libpng error");
  std::longjmp(err->jump, 1);
}

void png_warning_cb(png_structp, png_const_charp) {}

void png_read_cb(png_structp png, png_bytep out, size_t n) {
  auto* src = static_cast<PngSource*>(png_get_io_ptr(png));
  if (src->size - src->pos < n) png_error(png, "image file is truncated");
  std::memcpy(out, src->data + src->pos, n);
  src->pos += n;
}

struct PngJob {
  const uint8_t* data;
  size_t size;
  bool want_exif;
  DecodedImage* out;
  std::vector<png_bytep>* rows;
  std::vector<uint8_t>* exif;
  bool reading_end;  // errors after the pixels are complete are tolerated, as in PIL
  bool unsupported;
  uint64_t width, height;
  bool too_large;
  // Partial decoding: with `spec`, only the rows preprocess(spec) reads are kept (every row is still
  // decoded: PIL reports damaged data anywhere in the image, and libpng cannot skip unfiltering).
  const PreprocessSpec* spec;
  std::vector<uint8_t>* scratch;  // where the rows that are not kept go (two rows, used alternately)
  int part_y0;                     // out: first row held
  PixelRect exact;                 // out: the pixels held
  bool libpng_rows;                // read the rows with libpng even where read_png_image_data could
  uint64_t max_pixels = kDefaultMaxPixels;
};

bool run_png(PngJob* job, char* message, size_t message_size) {
  PngError err;
  err.message[0] = '\0';
  PngSource src{job->data, job->size, 0};
  png_structp png = png_create_read_struct(PNG_LIBPNG_VER_STRING, &err, png_error_cb, png_warning_cb);
  if (png == nullptr) {
    std::snprintf(message, message_size, "cannot initialise libpng");
    return false;
  }
  png_infop info = png_create_info_struct(png);
  if (info == nullptr) {
    png_destroy_read_struct(&png, nullptr, nullptr);
    std::snprintf(message, message_size, "cannot initialise libpng");
    return false;
  }
  if (setjmp(err.jump)) {
    png_destroy_read_struct(&png, &info, nullptr);
    if (job->reading_end) return true;
    std::snprintf(message, message_size, "%s", err.message);
    return false;
  }
  png_set_read_fn(png, &src, png_read_cb);
  // PIL verifies the CRC of every chunk before the image data, ancillary ones included. (Critical chunks
  // keep libpng's default, an error; read_png_image_data does the same for IDAT chunks.)
  png_set_crc_action(png, PNG_CRC_DEFAULT, PNG_CRC_ERROR_QUIT);
  // PIL has no per-side limit (libpng's default is 1,000,000); the pixel-count limit still applies.
  png_set_user_limits(png, 0x7fffffff, 0x7fffffff);
  png_read_info(png, info);

  png_uint_32 w = 0, h = 0;
  int bit_depth = 0, color_type = 0, interlace = 0;
  png_get_IHDR(png, info, &w, &h, &bit_depth, &color_type, &interlace, nullptr, nullptr);
  job->width = w;
  job->height = h;
  if (w == 0 || h == 0 || static_cast<uint64_t>(w) * h > job->max_pixels) {
    job->too_large = true;
    png_destroy_read_struct(&png, &info, nullptr);
    return false;
  }
  DecodedImage& img = *job->out;
  // The same modes as PIL's PngImagePlugin; tRNS is deliberately not expanded to alpha (PIL keeps it
  // in info, and convert("RGB") ignores it).
  switch (color_type) {
    case PNG_COLOR_TYPE_GRAY:
      // 1-bit -> "1" (0/255); 2/4-bit scaled by 85/17 -> "L". 16-bit: PIL makes mode "I"; we keep the
      // high byte as "L" (see image.hpp).
      img.mode = bit_depth == 1 ? PixelMode::k1 : PixelMode::kL;
      if (bit_depth < 8) png_set_expand_gray_1_2_4_to_8(png);
      break;
    case PNG_COLOR_TYPE_GRAY_ALPHA:
      // PIL opens 16-bit grey+alpha as "RGBA" (grey replicated); the pixels it produces are the same.
      img.mode = PixelMode::kLA;
      break;
    case PNG_COLOR_TYPE_RGB: img.mode = PixelMode::kRGB; break;
    case PNG_COLOR_TYPE_RGB_ALPHA: img.mode = PixelMode::kRGBA; break;
    case PNG_COLOR_TYPE_PALETTE:
      img.mode = PixelMode::kP;
      if (bit_depth < 8) png_set_packing(png);
      break;
    default:
      job->unsupported = true;
      png_destroy_read_struct(&png, &info, nullptr);
      return false;
  }
  if (bit_depth == 16) png_set_strip_16(png);  // keeps the high byte, like PIL's ";16B" unpackers
  png_set_interlace_handling(png);
  png_read_update_info(png, info);

  const int ch = img.channels();
  const size_t stride = static_cast<size_t>(w) * ch;
  if (png_get_rowbytes(png, info) != stride) {
    std::snprintf(message, message_size, "unexpected PNG row layout");
    png_destroy_read_struct(&png, &info, nullptr);
    return false;
  }
  // Rows held: [y0, y1).
  int y0 = 0, y1 = static_cast<int>(h);
  job->exact = PixelRect{0, 0, static_cast<int>(w), static_cast<int>(h)};
  try {
    if (job->spec != nullptr && !job->want_exif) {
      const PixelRect need = preprocess_source_rect(static_cast<int>(w), static_cast<int>(h), img.mode, *job->spec);
      if (!need.empty()) {
        y0 = need.y0;
        y1 = need.y1;
        job->exact = PixelRect{0, y0, static_cast<int>(w), y1};
      }
    }
    img.pixels.resize(stride * static_cast<size_t>(y1 - y0));
    job->rows->resize(h);
    if (y1 - y0 < static_cast<int>(h)) job->scratch->resize(2 * stride);
    if (img.mode == PixelMode::kP) img.palette.resize(768);
  } catch (...) {
    png_destroy_read_struct(&png, &info, nullptr);
    throw;
  }
  img.width = static_cast<int>(w);
  img.height = y1 - y0;
  job->part_y0 = y0;
  // Rows outside the part land in two scratch rows, alternately (read_png_image_data unfilters from
  // the previous row's buffer; for interlaced images their contents are meaningless, but the held rows
  // are each their own buffer and come out right).
  for (png_uint_32 y = 0; y < h; ++y) {
    const int yi = static_cast<int>(y);
    (*job->rows)[y] = yi >= y0 && yi < y1 ? img.pixels.data() + static_cast<size_t>(yi - y0) * stride
                                          : job->scratch->data() + (y & 1) * stride;
  }

  if (img.mode == PixelMode::kP) {
    // Entries the PLTE chunk does not define stay PIL's default grey ramp.
    for (int i = 0; i < 256; ++i) img.palette[3 * i] = img.palette[3 * i + 1] = img.palette[3 * i + 2] = static_cast<uint8_t>(i);
    png_colorp pal = nullptr;
    int num = 0;
    if (png_get_PLTE(png, info, &pal, &num) & PNG_INFO_PLTE) {
      for (int i = 0; i < num && i < 256; ++i) {
        img.palette[3 * i] = pal[i].red;
        img.palette[3 * i + 1] = pal[i].green;
        img.palette[3 * i + 2] = pal[i].blue;
      }
    }
  }

  // Non-interlaced 8-bit images without EXIF handling: the image data is read by read_png_image_data
  // (libpng's reading, faster unfiltering). png_read_info stopped right after the first IDAT chunk's
  // type field.
  if (!job->libpng_rows && !job->want_exif && interlace == PNG_INTERLACE_NONE && bit_depth == 8 && src.pos >= 16 &&
      std::memcmp(job->data + src.pos - 4, "IDAT", 4) == 0) {
    const uint8_t* len = job->data + src.pos - 8;
    const uint32_t first_length = (static_cast<uint32_t>(len[0]) << 24) | (static_cast<uint32_t>(len[1]) << 16) |
                                  (static_cast<uint32_t>(len[2]) << 8) | len[3];
    const bool ok = read_png_image_data(job->data, job->size, src.pos, first_length, w, h, ch,
                                                      job->rows->data(), message, message_size);
    png_destroy_read_struct(&png, &info, nullptr);
    return ok;
  }
  png_read_image(png, job->rows->data());

  if (job->want_exif) {
    png_uint_32 n = 0;
    png_bytep exif = nullptr;
    if (png_get_eXIf_1(png, info, &n, &exif) == 0 || n == 0) {
      // eXIf may follow the image data; failures there do not lose the pixels.
      job->reading_end = true;
      png_read_end(png, info);
      job->reading_end = false;
      n = 0;
      exif = nullptr;
      png_get_eXIf_1(png, info, &n, &exif);
    }
    if (exif != nullptr && n > 0) job->exif->assign(exif, exif + n);
  }
  png_destroy_read_struct(&png, &info, nullptr);
  return true;
}

// PIL reads the chunks that follow the image data and fails when one of them is cut short (a missing
// IEND or a cut chunk header is fine). libpng never looks there unless asked, so check it here.
bool png_tail_truncated(const uint8_t* d, size_t n) {
  size_t pos = 8;
  bool seen_idat = false;
  while (pos + 8 <= n) {
    const uint32_t len = (static_cast<uint32_t>(d[pos]) << 24) | (d[pos + 1] << 16) | (d[pos + 2] << 8) | d[pos + 3];
    const bool idat = std::memcmp(d + pos + 4, "IDAT", 4) == 0;
    if (std::memcmp(d + pos + 4, "IEND", 4) == 0) return false;
    if (seen_idat && !idat && len > n - pos - 8) return true;
    seen_idat = seen_idat || idat;
    if (len > n - pos - 8 || n - pos - 8 - len < 4) return false;  // the decoder has judged the image data
    pos += 12 + static_cast<size_t>(len);
  }
  return false;
}

void decode_png(const uint8_t* data, size_t size, const std::string& name, const DecodeOptions& options,
                const PreprocessSpec* spec, DecodedPart& part, bool libpng_rows = false) {
  DecodedImage& img = part.image;
  img.format = "PNG";
  std::vector<png_bytep> rows;
  std::vector<uint8_t> exif, scratch;
  PngJob job{data, size, options.apply_exif_orientation, &img, &rows, &exif, false, false, 0, 0, false,
             spec, &scratch, 0, {}, libpng_rows};
  job.max_pixels = options.max_pixels;
  char message[320];
  message[0] = '\0';
  if (!run_png(&job, message, sizeof message)) {
    if (job.unsupported) fail_image(name, "unsupported PNG colour type");
    if (job.too_large) check_image_dimensions(job.width, job.height, options.max_pixels, name);
    fail_image(name, std::string("PNG decoding failed: ") + message);
  }
  if (png_tail_truncated(data, size)) fail_image(name, "image file is truncated (a chunk after the image data is cut short)");
  if (img.mode == PixelMode::k1) {
    for (auto& v : img.pixels) v = v ? 255 : 0;
  }
  if (options.apply_exif_orientation && !exif.empty()) {
    const uint8_t* e = exif.data();
    size_t n = exif.size();
    if (n >= 6 && std::memcmp(e, "Exif\0\0", 6) == 0) {
      e += 6;
      n -= 6;
    }
    apply_orientation(img, exif_orientation_from_tiff(e, n));
  }
  part.full_width = img.width;
  part.full_height = static_cast<int>(job.height);
  part.x0 = 0;
  part.y0 = job.part_y0;
  part.exact = job.exact;
  if (options.apply_exif_orientation) {  // whole image (possibly rotated)
    part.full_height = img.height;
    part.exact = PixelRect{0, 0, img.width, img.height};
  }
}

bool png_matches(const uint8_t* data, size_t size) { return starts_with_bytes(data, size, "\x89PNG\r\n\x1a\n", 8); }

DecodedImage png_decode(const uint8_t* data, size_t size, const std::string& name, const DecodeOptions& options) {
  DecodedPart part;
  decode_png(data, size, name, options, nullptr, part);
  return std::move(part.image);
}

void png_decode_part(const uint8_t* data, size_t size, const std::string& name, const DecodeOptions& options,
                     const PreprocessSpec& spec, DecodedPart& part) {
  decode_png(data, size, name, options, &spec, part);
}

const char* const kPngExtensions[] = {"png", nullptr};

}  // namespace

const ImageFormat kPngFormat{"PNG", png_matches, nullptr, png_decode, png_decode_part, kPngExtensions};

DecodedImage decode_png_with_libpng_rows(const uint8_t* data, size_t size, const std::string& name_for_errors) {
  if (data == nullptr || size == 0 || !png_matches(data, size)) fail_image(name_for_errors, "not a PNG file");
  DecodedPart part;
  decode_png(data, size, name_for_errors, DecodeOptions{}, nullptr, part, true);
  return std::move(part.image);
}

}  // namespace clipzs::image_detail
