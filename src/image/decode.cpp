// Image decoding that keeps each file's own pixel mode, as PIL 9.4's Image.open does, because the
// reference preprocessing resizes each mode differently. JPEG and PNG are decoded with libjpeg(-turbo)
// and libpng directly (the same libjpeg and the same decoding settings as PIL); other formats fall back
// to OpenCV. libjpeg's and libpng's default error handlers print and exit(): both get handlers here
// that longjmp back and turn the failure into clipzs::Error(kInput).
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <csetjmp>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include <jpeglib.h>
#include <jerror.h>
#include <png.h>

#include <opencv2/core.hpp>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include "clipzs/error.hpp"
#include "image/image_internal.hpp"

namespace clipzs {
namespace {

using image_detail::muldiv255;

[[noreturn]] void fail(const std::string& name, const std::string& reason) { image_detail::fail_image(name, reason); }

using image_detail::check_image_dimensions;

bool starts_with(const uint8_t* data, size_t size, const char* magic, size_t n) {
  return size >= n && std::memcmp(data, magic, n) == 0;
}

// ---------------------------------------------------------------------------------------------- JPEG

struct JpegError {
  jpeg_error_mgr pub;
  std::jmp_buf jump;
  char message[JMSG_LENGTH_MAX];
};

void jpeg_error_exit(j_common_ptr cinfo) {
  auto* err = reinterpret_cast<JpegError*>(cinfo->err);
  (*cinfo->err->format_message)(cinfo, err->message);
  std::longjmp(err->jump, 1);
}

// PIL ignores libjpeg warnings (corrupt data still decodes) but stops when the data runs out: its
// suspending source never invents the fake EOI that jpeg_mem_src inserts, so running out of input is
// an error here too.
void jpeg_emit_message(j_common_ptr cinfo, int msg_level) {
  if (msg_level == -1 && cinfo->err->msg_code == JWRN_JPEG_EOF) {
    auto* err = reinterpret_cast<JpegError*>(cinfo->err);
    std::snprintf(err->message, sizeof err->message, "image file is truncated (premature end of JPEG data)");
    std::longjmp(err->jump, 1);
  }
}

void jpeg_output_message(j_common_ptr) {}

// Decoding margin around the pixels a partial decode must get right, in iMCUs (the unit
// jpeg_crop_scanline and jpeg_skip_scanlines work in). A cut edge changes pixels near it: fancy
// upsampling replicates the edge chroma sample instead of reading its neighbour (1 chroma sample), and
// progressive block smoothing (only for progressive files whose scans leave coefficients incomplete)
// treats the edge block's missing neighbours as copies of itself, and its 5x5 window carries that 2
// blocks in. Three iMCUs cover both. The unit test compares partial and full decodes on many images;
// with 2 iMCUs it already finds a 4:2:0 progressive image with incomplete scans that differs.
constexpr int kJpegMarginImcus = 3;

struct JpegJob {
  const uint8_t* data;
  size_t size;
  bool want_exif;
  DecodedImage* out;
  std::vector<uint8_t>* row;  // scratch: CMYK rows, discarded rows
  std::vector<uint8_t>* exif;
  bool bad_layers;
  int layers;
  uint64_t width, height;
  bool too_large;
  // Partial decoding: with `spec`, only what preprocess(spec) reads (plus margin) is kept.
  const PreprocessSpec* spec;
  int margin_imcus;
  int part_x0, part_y0;                  // out: origin of the held part
  image_detail::PixelRect exact;         // out: the pixels the part holds exactly
  uint64_t max_pixels = kDefaultMaxPixels;
};

// Everything libjpeg may longjmp out of lives in this function; it holds no C++ objects of its own.
bool run_jpeg(JpegJob* job, char* message, size_t message_size) {
  jpeg_decompress_struct cinfo;
  JpegError err;
  cinfo.err = jpeg_std_error(&err.pub);
  err.pub.error_exit = jpeg_error_exit;
  err.pub.emit_message = jpeg_emit_message;
  err.pub.output_message = jpeg_output_message;
  err.message[0] = '\0';
  if (setjmp(err.jump)) {
    std::snprintf(message, message_size, "%s", err.message);
    jpeg_destroy_decompress(&cinfo);
    return false;
  }
  jpeg_create_decompress(&cinfo);
  jpeg_mem_src(&cinfo, job->data, static_cast<unsigned long>(job->size));
  if (job->want_exif) jpeg_save_markers(&cinfo, JPEG_APP0 + 1, 0xFFFF);
  jpeg_read_header(&cinfo, TRUE);

  DecodedImage& img = *job->out;
  job->layers = cinfo.num_components;
  // Default decompression parameters, like PIL: JDCT_ISLOW, fancy upsampling, libjpeg's own guess of
  // the file's colour space (JFIF/Adobe markers).
  switch (cinfo.num_components) {
    case 1: cinfo.out_color_space = JCS_GRAYSCALE; img.mode = PixelMode::kL; break;
    case 3: cinfo.out_color_space = JCS_RGB; img.mode = PixelMode::kRGB; break;
    case 4: cinfo.out_color_space = JCS_CMYK; img.mode = PixelMode::kCMYK; break;
    default:
      job->bad_layers = true;
      jpeg_destroy_decompress(&cinfo);
      return false;
  }
  job->width = cinfo.image_width;
  job->height = cinfo.image_height;
  if (cinfo.image_width == 0 || cinfo.image_height == 0 ||
      static_cast<uint64_t>(cinfo.image_width) * cinfo.image_height > job->max_pixels) {
    job->too_large = true;
    jpeg_destroy_decompress(&cinfo);
    return false;
  }
  bool partial = job->spec != nullptr;
  if (job->want_exif) {
    for (jpeg_saved_marker_ptr m = cinfo.marker_list; m != nullptr; m = m->next) {
      if (m->marker == JPEG_APP0 + 1 && m->data_length >= 6 && std::memcmp(m->data, "Exif\0", 5) == 0) {
        job->exif->assign(m->data + 6, m->data + m->data_length);
        break;  // PIL keeps the first Exif segment
      }
    }
    // A rotation/flip moves the pixels preprocessing needs: decode everything then.
    if (!job->exif->empty() && image_detail::exif_orientation_from_tiff(job->exif->data(), job->exif->size()) != 1) {
      partial = false;
    }
  }

  jpeg_start_decompress(&cinfo);
  const int w = static_cast<int>(cinfo.output_width);
  const int h = static_cast<int>(cinfo.output_height);
  const bool cmyk = cinfo.out_color_space == JCS_CMYK;
  const int channels = img.channels();
  // Held part: decoded columns [x0, x0 + cw), stored rows [y0, y1).
  JDIMENSION x0 = 0, cw = static_cast<JDIMENSION>(w);
  int y0 = 0, y1 = h;
  image_detail::PixelRect exact{0, 0, w, h};
  try {
    if (partial) {
      const image_detail::PixelRect need = image_detail::preprocess_source_rect(w, h, img.mode, *job->spec);
      if (!need.empty()) {
        exact = need;
        const int imcu_w = cinfo.max_h_samp_factor * DCTSIZE;  // no DCT scaling here
        const int imcu_h = cinfo.max_v_samp_factor * DCTSIZE;
        const int left = std::max(0, need.x0 - job->margin_imcus * imcu_w);
        const int right = std::min(w, need.x1 + job->margin_imcus * imcu_w);
        x0 = static_cast<JDIMENSION>(left);
        cw = static_cast<JDIMENSION>(right - left);
        y0 = std::max(0, need.y0 - job->margin_imcus * imcu_h);
        y1 = need.y1;
      }
    }
  } catch (...) {
    jpeg_destroy_decompress(&cinfo);
    throw;
  }
  // Widens to the iMCU column boundary on the left; cw then ends where asked.
  if (cw < static_cast<JDIMENSION>(w)) jpeg_crop_scanline(&cinfo, &x0, &cw);
  img.width = static_cast<int>(cw);
  img.height = y1 - y0;
  job->part_x0 = static_cast<int>(x0);
  job->part_y0 = y0;
  job->exact = exact;
  const size_t stride = static_cast<size_t>(cw) * channels;
  try {
    img.pixels.resize(stride * static_cast<size_t>(y1 - y0));
    job->row->resize(static_cast<size_t>(cw) * 4);
  } catch (...) {
    jpeg_destroy_decompress(&cinfo);
    throw;
  }
  // Rows above the part: entropy-decoded only (or not at all for multi-scan files, whose coefficients
  // are all in memory by now).
  if (y0 > 0) jpeg_skip_scanlines(&cinfo, static_cast<JDIMENSION>(y0));
  JSAMPROW rows[16];
  while (static_cast<int>(cinfo.output_scanline) < y1) {
    const int y = static_cast<int>(cinfo.output_scanline);
    JDIMENSION want = 1;
    if (cmyk) {
      rows[0] = job->row->data();
    } else {
      want = static_cast<JDIMENSION>(std::min(16, y1 - y));
      for (JDIMENSION k = 0; k < want; ++k) rows[k] = img.pixels.data() + static_cast<size_t>(y - y0 + k) * stride;
    }
    const JDIMENSION got = jpeg_read_scanlines(&cinfo, rows, want);
    if (got == 0) {
      std::snprintf(message, message_size, "image file is truncated");
      jpeg_destroy_decompress(&cinfo);
      return false;
    }
    if (cmyk) {
      // PIL reads 4-channel JPEGs as Adobe-style inverted CMYK ("CMYK;I"): its CMYK values are 255 - raw.
      const uint8_t* s = job->row->data();
      uint8_t* d = img.pixels.data() + static_cast<size_t>(y - y0) * stride;
      for (size_t i = 0; i < static_cast<size_t>(cw) * 4; ++i) d[i] = static_cast<uint8_t>(255 - s[i]);
    }
  }
  if (y1 < h) {
    // PIL decodes every row, so data missing below the part must still fail. Skipping entropy-decodes
    // all but the last row (skipping *to* the end would decode nothing), and the last row is read.
    const JDIMENSION rest = static_cast<JDIMENSION>(h - y1);
    if (rest > 1) jpeg_skip_scanlines(&cinfo, rest - 1);
    rows[0] = job->row->data();
    if (jpeg_read_scanlines(&cinfo, rows, 1) != 1) {
      std::snprintf(message, message_size, "image file is truncated");
      jpeg_destroy_decompress(&cinfo);
      return false;
    }
  }
  // No jpeg_finish_decompress: PIL ignores its outcome once every row is out, so bytes after the last
  // scanline are never judged. (A file cut right before EOI still fails above, as in PIL: the entropy
  // decoder reads ahead into the missing bytes.)
  jpeg_destroy_decompress(&cinfo);
  return true;
}

// Whole image, or (with `spec`) the part of it that preprocess(spec) needs, into `part`.
void decode_jpeg(const uint8_t* data, size_t size, const std::string& name, const DecodeOptions& options,
                 const PreprocessSpec* spec, image_detail::DecodedPart& part) {
  DecodedImage& img = part.image;
  img.format = "JPEG";
  std::vector<uint8_t> row, exif;
  JpegJob job{data, size, options.apply_exif_orientation, &img, &row, &exif, false, 0, 0, 0, false,
              spec, kJpegMarginImcus, 0, 0, {}};
  job.max_pixels = options.max_pixels;
  char message[JMSG_LENGTH_MAX + 64];
  message[0] = '\0';
  if (!run_jpeg(&job, message, sizeof message)) {
    if (job.bad_layers) fail(name, "cannot handle " + std::to_string(job.layers) + "-layer JPEG images");
    if (job.too_large) check_image_dimensions(job.width, job.height, options.max_pixels, name);
    fail(name, std::string("JPEG decoding failed: ") + message);
  }
  part.full_width = static_cast<int>(job.width);
  part.full_height = static_cast<int>(job.height);
  part.x0 = job.part_x0;
  part.y0 = job.part_y0;
  part.exact = job.exact;
  const int orientation =
      options.apply_exif_orientation && !exif.empty() ? image_detail::exif_orientation_from_tiff(exif.data(), exif.size()) : 1;
  if (orientation != 1) {
    // run_jpeg decoded the whole image (the orientation moves the pixels preprocessing needs).
    image_detail::apply_orientation(img, orientation);
    part.full_width = img.width;
    part.full_height = img.height;
    part.x0 = part.y0 = 0;
    part.exact = image_detail::PixelRect{0, 0, img.width, img.height};
  }
}

DecodedImage decode_jpeg(const uint8_t* data, size_t size, const std::string& name, const DecodeOptions& options) {
  image_detail::DecodedPart part;
  decode_jpeg(data, size, name, options, nullptr, part);
  return std::move(part.image);
}

// ----------------------------------------------------------------------------------------------- PNG

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
  image_detail::PixelRect exact;   // out: the pixels held
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
  job->exact = image_detail::PixelRect{0, 0, static_cast<int>(w), static_cast<int>(h)};
  try {
    if (job->spec != nullptr && !job->want_exif) {
      const image_detail::PixelRect need =
          image_detail::preprocess_source_rect(static_cast<int>(w), static_cast<int>(h), img.mode, *job->spec);
      if (!need.empty()) {
        y0 = need.y0;
        y1 = need.y1;
        job->exact = image_detail::PixelRect{0, y0, static_cast<int>(w), y1};
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
    const bool ok = image_detail::read_png_image_data(job->data, job->size, src.pos, first_length, w, h, ch,
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
                const PreprocessSpec* spec, image_detail::DecodedPart& part, bool libpng_rows = false) {
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
    if (job.unsupported) fail(name, "unsupported PNG colour type");
    if (job.too_large) check_image_dimensions(job.width, job.height, options.max_pixels, name);
    fail(name, std::string("PNG decoding failed: ") + message);
  }
  if (png_tail_truncated(data, size)) fail(name, "image file is truncated (a chunk after the image data is cut short)");
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
    image_detail::apply_orientation(img, image_detail::exif_orientation_from_tiff(e, n));
  }
  part.full_width = img.width;
  part.full_height = static_cast<int>(job.height);
  part.x0 = 0;
  part.y0 = job.part_y0;
  part.exact = job.exact;
  if (options.apply_exif_orientation) {  // whole image (possibly rotated)
    part.full_height = img.height;
    part.exact = image_detail::PixelRect{0, 0, img.width, img.height};
  }
}

DecodedImage decode_png(const uint8_t* data, size_t size, const std::string& name, const DecodeOptions& options) {
  image_detail::DecodedPart part;
  decode_png(data, size, name, options, nullptr, part);
  return std::move(part.image);
}

// -------------------------------------------------------------------------------- OpenCV fallback

const char* sniff_format(const uint8_t* d, size_t n) {
  if (starts_with(d, n, "BM", 2)) return "BMP";
  if (starts_with(d, n, "II*\0", 4) || starts_with(d, n, "MM\0*", 4)) return "TIFF";
  if (n >= 12 && std::memcmp(d, "RIFF", 4) == 0 && std::memcmp(d + 8, "WEBP", 4) == 0) return "WEBP";
  if (starts_with(d, n, "GIF87a", 6) || starts_with(d, n, "GIF89a", 6)) return "GIF";
  if (n >= 2 && d[0] == 'P' && d[1] >= '1' && d[1] <= '7') return "PPM";
  if (n >= 2 && d[0] == 'P' && (d[1] == 'F' || d[1] == 'f')) return "PFM";
  if (starts_with(d, n, "\x00\x00\x00\x0cjP  ", 8) || starts_with(d, n, "\xff\x4f\xff\x51", 4)) return "JPEG2000";
  if (starts_with(d, n, "#?RADIANCE", 10) || starts_with(d, n, "#?RGBE", 6)) return "HDR";
  if (starts_with(d, n, "\x76\x2f\x31\x01", 4)) return "EXR";
  if (starts_with(d, n, "\x59\xa6\x6a\x95", 4)) return "SUN";
  return nullptr;
}

// EXIF block of a WebP file (RIFF "EXIF" chunk), or empty.
std::vector<uint8_t> webp_exif(const uint8_t* d, size_t n) {
  size_t pos = 12;
  while (pos + 8 <= n) {
    const uint32_t len = d[pos + 4] | (d[pos + 5] << 8) | (d[pos + 6] << 16) | (static_cast<uint32_t>(d[pos + 7]) << 24);
    const size_t body = pos + 8;
    if (len > n - body) break;
    if (std::memcmp(d + pos, "EXIF", 4) == 0) {
      const uint8_t* e = d + body;
      size_t m = len;
      if (m >= 6 && std::memcmp(e, "Exif\0\0", 6) == 0) {
        e += 6;
        m -= 6;
      }
      return std::vector<uint8_t>(e, e + m);
    }
    pos = body + len + (len & 1);
  }
  return {};
}

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

// Width and height from the header of a BMP, TIFF or PNM file, so an oversized image is refused before
// OpenCV allocates it. False when the header cannot be read (OpenCV then reports the damage).
bool peek_dimensions(const uint8_t* d, size_t n, const char* format, uint64_t& w, uint64_t& h) {
  if (format == nullptr) return false;
  if (std::strcmp(format, "BMP") == 0) {
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
  if (std::strcmp(format, "TIFF") == 0) {
    const int tw = image_detail::tiff_ifd0_value(d, n, 256, -1), th = image_detail::tiff_ifd0_value(d, n, 257, -1);
    if (tw < 0 || th < 0) return false;
    w = static_cast<uint64_t>(tw);
    h = static_cast<uint64_t>(th);
    return true;
  }
  if (std::strcmp(format, "PPM") == 0) {  // "P6 <w> <h> ...", with # comments between tokens
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
  return false;
}

// `format`: sniff_format's answer for the data (null when unknown).
DecodedImage decode_opencv(const uint8_t* data, size_t size, const std::string& name, const DecodeOptions& options,
                           const char* format) {
  uint64_t header_w = 0, header_h = 0;
  if (peek_dimensions(data, size, format, header_w, header_h))
    check_image_dimensions(header_w, header_h, options.max_pixels, name);
  cv::Mat m;
  try {
    const cv::Mat buf(1, static_cast<int>(size), CV_8U, const_cast<uint8_t*>(data));
    // IMREAD_UNCHANGED keeps alpha and bit depth and never applies EXIF orientation.
    m = cv::imdecode(buf, cv::IMREAD_UNCHANGED | cv::IMREAD_IGNORE_ORIENTATION);
  } catch (const cv::Exception& e) {
    fail(name, std::string("decoding failed: ") + e.what());
  }
  if (m.empty()) {
    if (format != nullptr) fail(name, std::string("unsupported or corrupt ") + format + " image");
    fail(name, "cannot identify image file (not a JPEG, PNG or other supported image format)");
  }
  check_image_dimensions(static_cast<uint64_t>(m.cols), static_cast<uint64_t>(m.rows), options.max_pixels, name);
  if (m.depth() == CV_16U) {
    cv::Mat high(m.size(), CV_MAKETYPE(CV_8U, m.channels()));
    const int n = m.cols * m.channels();
    for (int y = 0; y < m.rows; ++y) {
      const uint16_t* s = m.ptr<uint16_t>(y);
      uint8_t* d = high.ptr<uint8_t>(y);
      for (int x = 0; x < n; ++x) d[x] = static_cast<uint8_t>(s[x] >> 8);  // high byte, as for PNG
    }
    m = high;
  } else if (m.depth() != CV_8U) {
    cv::Mat clipped;
    m.convertTo(clipped, CV_MAKETYPE(CV_8U, m.channels()));  // saturating, like PIL's F/I -> L
    m = clipped;
  }
  DecodedImage img;
  img.format = format != nullptr ? format : "UNKNOWN";
  img.width = m.cols;
  img.height = m.rows;
  switch (m.channels()) {
    case 1: img.mode = PixelMode::kL; break;
    case 2: img.mode = PixelMode::kLA; break;
    case 3: img.mode = PixelMode::kRGB; cv::cvtColor(m, m, cv::COLOR_BGR2RGB); break;
    case 4: img.mode = PixelMode::kRGBA; cv::cvtColor(m, m, cv::COLOR_BGRA2RGBA); break;
    default: fail(name, "unsupported channel count " + std::to_string(m.channels()));
  }
  const size_t stride = static_cast<size_t>(img.width) * img.channels();
  img.pixels.resize(stride * img.height);
  for (int y = 0; y < img.height; ++y) std::memcpy(img.pixels.data() + y * stride, m.ptr<uint8_t>(y), stride);

  if (format != nullptr && std::strcmp(format, "BMP") == 0) restore_bmp_palette_mode(data, size, img);
  if (img.mode == PixelMode::kRGBA && format != nullptr && std::strcmp(format, "TIFF") == 0 &&
      image_detail::tiff_ifd0_value(data, size, 338, 0) == 2) {
    // OpenCV reads 8-bit TIFFs through libtiff's RGBA interface, which premultiplies unassociated
    // alpha ((v*a + 127) / 255); PIL does not. Undo it as closely as the rounding allows.
    for (size_t i = 0; i < img.pixels.size(); i += 4) {
      const unsigned a = img.pixels[i + 3];
      if (a == 0 || a == 255) continue;
      for (int c = 0; c < 3; ++c) {
        const unsigned v = (255u * img.pixels[i + c] + a / 2) / a;
        img.pixels[i + c] = static_cast<uint8_t>(v > 255 ? 255 : v);
      }
    }
  }
  if (options.apply_exif_orientation && format != nullptr) {
    int orientation = 1;
    if (std::strcmp(format, "TIFF") == 0) {
      orientation = image_detail::exif_orientation_from_tiff(data, size);
    } else if (std::strcmp(format, "WEBP") == 0) {
      const std::vector<uint8_t> exif = webp_exif(data, size);
      orientation = image_detail::exif_orientation_from_tiff(exif.data(), exif.size());
    }
    image_detail::apply_orientation(img, orientation);
  }
  return img;
}

// Formats other than JPEG and PNG: GIF and WebP through their own libraries (OpenCV 4.6 reads no GIF
// and no animated WebP), the rest through OpenCV.
DecodedImage decode_other(const uint8_t* data, size_t size, const std::string& name, const DecodeOptions& options) {
  const char* format = sniff_format(data, size);
  if (format != nullptr && std::strcmp(format, "GIF") == 0)
    return image_detail::decode_gif(data, size, name, options.max_pixels);
  if (format != nullptr && std::strcmp(format, "WEBP") == 0) {
    DecodedImage img = image_detail::decode_webp(data, size, name, options.max_pixels);
    if (options.apply_exif_orientation) {
      const std::vector<uint8_t> exif = webp_exif(data, size);
      image_detail::apply_orientation(img, image_detail::exif_orientation_from_tiff(exif.data(), exif.size()));
    }
    return img;
  }
  return decode_opencv(data, size, name, options, format);
}

}  // namespace

// ------------------------------------------------------------------------------------ orientation

namespace image_detail {

void fail_image(const std::string& name, const std::string& reason) {
  throw Error(ErrorKind::kInput, "cannot read image '" + name + "': " + reason);
}

void check_image_dimensions(uint64_t w, uint64_t h, uint64_t max_pixels, const std::string& name) {
  if (w == 0 || h == 0) fail_image(name, "image has zero width or height");
  if (w > (1ull << 32) || h > (1ull << 32) || w * h > max_pixels) {
    fail_image(name, "image size " + std::to_string(w) + "x" + std::to_string(h) + " exceeds the limit of " +
                         std::to_string(max_pixels) + " pixels (possible decompression bomb; raise --max-pixels to allow it)");
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

// ------------------------------------------------------------------------------------- public API

DecodedImage decode_image_bytes(const uint8_t* data, size_t size, const std::string& name_for_errors,
                                const DecodeOptions& options) {
  if (data == nullptr || size == 0) fail(name_for_errors, "file is empty (0 bytes)");
  // The format comes from the magic bytes, never from the file name.
  if (size >= 3 && data[0] == 0xFF && data[1] == 0xD8 && data[2] == 0xFF) {
    return decode_jpeg(data, size, name_for_errors, options);
  }
  if (starts_with(data, size, "\x89PNG\r\n\x1a\n", 8)) return decode_png(data, size, name_for_errors, options);
  return decode_other(data, size, name_for_errors, options);
}

namespace {

bool is_broken_symlink(const std::string& path) {
  struct stat st {};
  return ::lstat(path.c_str(), &st) == 0 && S_ISLNK(st.st_mode);
}

std::vector<uint8_t> read_file(const std::string& path) {
  // O_NONBLOCK: opening a FIFO named like an image must not hang the run (regular files ignore it).
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);
  if (fd < 0) fail(path, errno == ENOENT && is_broken_symlink(path) ? "broken symbolic link (its target does not exist)"
                                                                   : std::strerror(errno));
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    const int e = errno;
    ::close(fd);
    fail(path, std::strerror(e));
  }
  if (!S_ISREG(st.st_mode)) {
    ::close(fd);
    fail(path, S_ISDIR(st.st_mode) ? "a folder, not an image file" : "not a regular file");
  }
  std::vector<uint8_t> bytes(static_cast<size_t>(st.st_size));
  size_t got = 0;
  while (got < bytes.size()) {
    const ssize_t r = ::read(fd, bytes.data() + got, bytes.size() - got);
    if (r < 0) {
      if (errno == EINTR) continue;
      const int e = errno;
      ::close(fd);
      fail(path, std::strerror(e));
    }
    if (r == 0) break;
    got += static_cast<size_t>(r);
  }
  ::close(fd);
  bytes.resize(got);
  return bytes;
}

}  // namespace

DecodedImage decode_image(const std::string& path, const DecodeOptions& options) {
  const std::vector<uint8_t> bytes = read_file(path);
  return decode_image_bytes(bytes.data(), bytes.size(), path, options);
}

namespace image_detail {

DecodedPart decode_image_part_bytes(const uint8_t* data, size_t size, const std::string& name_for_errors,
                                    const DecodeOptions& options, const PreprocessSpec& spec) {
  if (data == nullptr || size == 0) fail(name_for_errors, "file is empty (0 bytes)");
  DecodedPart part;
  if (size >= 3 && data[0] == 0xFF && data[1] == 0xD8 && data[2] == 0xFF) {
    decode_jpeg(data, size, name_for_errors, options, &spec, part);
  } else if (starts_with(data, size, "\x89PNG\r\n\x1a\n", 8)) {
    decode_png(data, size, name_for_errors, options, &spec, part);
  } else {
    part.image = decode_other(data, size, name_for_errors, options);
    part.full_width = part.image.width;
    part.full_height = part.image.height;
    part.exact = PixelRect{0, 0, part.image.width, part.image.height};
  }
  return part;
}

DecodedImage decode_png_with_libpng_rows(const uint8_t* data, size_t size, const std::string& name_for_errors) {
  if (data == nullptr || size == 0 || !starts_with(data, size, "\x89PNG\r\n\x1a\n", 8)) {
    fail(name_for_errors, "not a PNG file");
  }
  DecodedPart part;
  decode_png(data, size, name_for_errors, DecodeOptions{}, nullptr, part, true);
  return std::move(part.image);
}

DecodedPart decode_image_part(const std::string& path, const DecodeOptions& options, const PreprocessSpec& spec) {
  const std::vector<uint8_t> bytes = read_file(path);
  return decode_image_part_bytes(bytes.data(), bytes.size(), path, options, spec);
}

}  // namespace image_detail

}  // namespace clipzs
