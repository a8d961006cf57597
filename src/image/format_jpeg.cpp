// JPEG, decoded with libjpeg(-turbo) directly: the same library and the same decompression settings as
// PIL 9.4, so the same pixels. libjpeg's default error handler prints and exit()s; the handler here
// longjmps back and the failure becomes clipzs::Error(kInput). Partial decoding keeps only the iMCU
// columns and rows that preprocessing reads (plus a margin) and only entropy-decodes the rest.
#include <algorithm>
#include <csetjmp>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include <jpeglib.h>
#include <jerror.h>

#include "image/formats.hpp"
#include "image/image_internal.hpp"

namespace clipzs::image_detail {
namespace {

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
  int part_x0, part_y0;  // out: origin of the held part
  PixelRect exact;       // out: the pixels the part holds exactly
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
    if (!job->exif->empty() && exif_orientation_from_tiff(job->exif->data(), job->exif->size()) != 1) {
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
  PixelRect exact{0, 0, w, h};
  try {
    if (partial) {
      const PixelRect need = preprocess_source_rect(w, h, img.mode, *job->spec);
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
                 const PreprocessSpec* spec, DecodedPart& part) {
  DecodedImage& img = part.image;
  img.format = "JPEG";
  std::vector<uint8_t> row, exif;
  JpegJob job{data, size, options.apply_exif_orientation, &img, &row, &exif, false, 0, 0, 0, false,
              spec, kJpegMarginImcus, 0, 0, {}};
  job.max_pixels = options.max_pixels;
  char message[JMSG_LENGTH_MAX + 64];
  message[0] = '\0';
  if (!run_jpeg(&job, message, sizeof message)) {
    if (job.bad_layers) fail_image(name, "cannot handle " + std::to_string(job.layers) + "-layer JPEG images");
    if (job.too_large) check_image_dimensions(job.width, job.height, options.max_pixels, name);
    fail_image(name, std::string("JPEG decoding failed: ") + message);
  }
  part.full_width = static_cast<int>(job.width);
  part.full_height = static_cast<int>(job.height);
  part.x0 = job.part_x0;
  part.y0 = job.part_y0;
  part.exact = job.exact;
  const int orientation =
      options.apply_exif_orientation && !exif.empty() ? exif_orientation_from_tiff(exif.data(), exif.size()) : 1;
  if (orientation != 1) {
    // run_jpeg decoded the whole image (the orientation moves the pixels preprocessing needs).
    apply_orientation(img, orientation);
    part.full_width = img.width;
    part.full_height = img.height;
    part.x0 = part.y0 = 0;
    part.exact = PixelRect{0, 0, img.width, img.height};
  }
}

bool jpeg_matches(const uint8_t* data, size_t size) {
  return size >= 3 && data[0] == 0xFF && data[1] == 0xD8 && data[2] == 0xFF;
}

DecodedImage jpeg_decode(const uint8_t* data, size_t size, const std::string& name, const DecodeOptions& options) {
  DecodedPart part;
  decode_jpeg(data, size, name, options, nullptr, part);
  return std::move(part.image);
}

void jpeg_decode_part(const uint8_t* data, size_t size, const std::string& name, const DecodeOptions& options,
                      const PreprocessSpec& spec, DecodedPart& part) {
  decode_jpeg(data, size, name, options, &spec, part);
}

const char* const kJpegExtensions[] = {"jpg", "jpeg", nullptr};

}  // namespace

const ImageFormat kJpegFormat{"JPEG", jpeg_matches, nullptr, jpeg_decode, jpeg_decode_part, kJpegExtensions};

}  // namespace clipzs::image_detail
