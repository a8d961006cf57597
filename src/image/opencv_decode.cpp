// The OpenCV path shared by the formats that have no decoder of their own here (BMP, TIFF, PNM, PFM,
// JPEG 2000, Radiance HDR, OpenEXR, Sun raster) and by data that no format entry recognises.
#include <cstring>
#include <string>

#include <opencv2/core.hpp>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include "image/formats.hpp"
#include "image/image_internal.hpp"

namespace clipzs::image_detail {

DecodedImage decode_with_opencv(const uint8_t* data, size_t size, const std::string& name, uint64_t max_pixels,
                                const char* format) {
  cv::Mat m;
  try {
    const cv::Mat buf(1, static_cast<int>(size), CV_8U, const_cast<uint8_t*>(data));
    // IMREAD_UNCHANGED keeps alpha and bit depth and never applies EXIF orientation.
    m = cv::imdecode(buf, cv::IMREAD_UNCHANGED | cv::IMREAD_IGNORE_ORIENTATION);
  } catch (const cv::Exception& e) {
    fail_image(name, std::string("decoding failed: ") + e.what());
  }
  if (m.empty()) {
    if (format != nullptr) fail_image(name, std::string("unsupported or corrupt ") + format + " image");
    fail_image(name, "cannot identify image file (not a JPEG, PNG or other supported image format)");
  }
  check_image_dimensions(static_cast<uint64_t>(m.cols), static_cast<uint64_t>(m.rows), max_pixels, name);
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
    default: fail_image(name, "unsupported channel count " + std::to_string(m.channels()));
  }
  const size_t stride = static_cast<size_t>(img.width) * img.channels();
  img.pixels.resize(stride * img.height);
  for (int y = 0; y < img.height; ++y) std::memcpy(img.pixels.data() + y * stride, m.ptr<uint8_t>(y), stride);
  return img;
}

}  // namespace clipzs::image_detail
