// Image decoding and CLIP preprocessing: pixel parity with PIL 9.4 / torchvision 0.14 on the shared
// reference set, plus synthetic checks of the resize arithmetic that run without it.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iostream>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include <jpeglib.h>
#include <png.h>
#include <opencv2/core.hpp>
#include <opencv2/imgcodecs.hpp>

#include "clipzs/util/error.hpp"
#include "clipzs/image/image.hpp"
#include "clipzs/store/inputs.hpp"
// The private partial-decoding entry points and the format table (src/ is not on the tests' include path).
#include "../../../src/image/formats.hpp"
#include "../../../src/image/image_internal.hpp"

namespace fs = std::filesystem;
using clipzs::DecodedImage;
using clipzs::Error;
using clipzs::ErrorKind;
using clipzs::Image8;
using clipzs::Interpolation;
using clipzs::PixelMode;

namespace {

const fs::path kPreprocessDir = fs::path(CLIPZS_SHARED_DIR) / "reference" / "preprocess";

#define SKIP_WITHOUT_REFERENCE()                                                                      \
  if (!fs::exists(kPreprocessDir / "manifest.json")) {                                                \
    GTEST_SKIP() << "reference data not found at " << kPreprocessDir.string()                        \
                 << " (shared folder absent, e.g. a fresh clone); preprocessing parity not checked"; \
  }

std::vector<uint8_t> read_bytes(const fs::path& p) {
  std::ifstream f(p, std::ios::binary);
  return std::vector<uint8_t>((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
}

// Minimal .npy reader for C-order uint8 arrays (all the reference outputs are |u1, HxWx3).
struct NpyU8 {
  std::vector<size_t> shape;
  std::vector<uint8_t> data;
};

NpyU8 read_npy_u8(const fs::path& p) {
  const std::vector<uint8_t> b = read_bytes(p);
  if (b.size() < 10 || std::memcmp(b.data(), "\x93NUMPY", 6) != 0) throw std::runtime_error("not a .npy: " + p.string());
  const int major = b[6];
  size_t header_len, offset;
  if (major == 1) {
    header_len = b[8] | (b[9] << 8);
    offset = 10;
  } else {
    header_len = b[8] | (b[9] << 8) | (b[10] << 16) | (static_cast<size_t>(b[11]) << 24);
    offset = 12;
  }
  const std::string header(b.begin() + offset, b.begin() + offset + header_len);
  if (header.find("'|u1'") == std::string::npos && header.find("'u1'") == std::string::npos) {
    throw std::runtime_error("not uint8: " + p.string());
  }
  if (header.find("'fortran_order': False") == std::string::npos) throw std::runtime_error("not C order: " + p.string());
  const size_t lp = header.find('(', header.find("'shape'"));
  const size_t rp = header.find(')', lp);
  NpyU8 out;
  std::string dims = header.substr(lp + 1, rp - lp - 1);
  size_t pos = 0;
  while (pos < dims.size()) {
    const size_t comma = dims.find(',', pos);
    const std::string tok = dims.substr(pos, comma == std::string::npos ? std::string::npos : comma - pos);
    if (tok.find_first_of("0123456789") != std::string::npos) out.shape.push_back(std::stoul(tok));
    if (comma == std::string::npos) break;
    pos = comma + 1;
  }
  size_t count = 1;
  for (size_t d : out.shape) count *= d;
  if (b.size() < offset + header_len + count) throw std::runtime_error("short .npy: " + p.string());
  out.data.assign(b.begin() + offset + header_len, b.begin() + offset + header_len + count);
  return out;
}

uint64_t fnv1a(const std::vector<uint8_t>& v) {
  uint64_t h = 1469598103934665603ull;
  for (uint8_t x : v) {
    h ^= x;
    h *= 1099511628211ull;
  }
  return h;
}

// Deterministic test pattern shared with the PIL script that produced the expected hashes below.
Image8 pattern(int w, int h, int ch) {
  Image8 im;
  im.width = w;
  im.height = h;
  im.channels = ch;
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x)
      for (int c = 0; c < ch; ++c) im.pixels.push_back(static_cast<uint8_t>((x * 37 + y * 71 + c * 101 + x * y * 13) % 256));
  return im;
}

DecodedImage as_decoded(const Image8& im, PixelMode mode) {
  DecodedImage d;
  d.width = im.width;
  d.height = im.height;
  d.mode = mode;
  d.pixels = im.pixels;
  return d;
}

ErrorKind kind_of(const std::function<void()>& f, std::string* what = nullptr) {
  try {
    f();
  } catch (const Error& e) {
    if (what) *what = e.what();
    return e.kind();
  }
  ADD_FAILURE() << "expected clipzs::Error";
  return ErrorKind::kInternal;
}

// ---- tiny PNG writer (stored deflate blocks) for decoder edge cases ----
uint32_t crc32_of(const uint8_t* p, size_t n, uint32_t crc = 0) {
  crc = ~crc;
  for (size_t i = 0; i < n; ++i) {
    crc ^= p[i];
    for (int k = 0; k < 8; ++k) crc = (crc >> 1) ^ (0xEDB88320u & (0u - (crc & 1u)));
  }
  return ~crc;
}

void put32(std::vector<uint8_t>& v, uint32_t x) {
  for (int s = 24; s >= 0; s -= 8) v.push_back(static_cast<uint8_t>(x >> s));
}

void chunk(std::vector<uint8_t>& png, const char* type, const std::vector<uint8_t>& body) {
  put32(png, static_cast<uint32_t>(body.size()));
  std::vector<uint8_t> tb(type, type + 4);
  tb.insert(tb.end(), body.begin(), body.end());
  png.insert(png.end(), tb.begin(), tb.end());
  put32(png, crc32_of(tb.data(), tb.size()));
}

// `rows` are raw scanlines without the filter byte.
std::vector<uint8_t> make_png(int w, int h, int bit_depth, int color_type, const std::vector<std::vector<uint8_t>>& rows,
                              const std::vector<std::pair<std::string, std::vector<uint8_t>>>& extra_before_idat = {}) {
  std::vector<uint8_t> png = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
  std::vector<uint8_t> ihdr;
  put32(ihdr, w);
  put32(ihdr, h);
  ihdr.insert(ihdr.end(), {static_cast<uint8_t>(bit_depth), static_cast<uint8_t>(color_type), 0, 0, 0});
  chunk(png, "IHDR", ihdr);
  for (const auto& [type, body] : extra_before_idat) chunk(png, type.c_str(), body);
  std::vector<uint8_t> raw;
  for (const auto& r : rows) {
    raw.push_back(0);
    raw.insert(raw.end(), r.begin(), r.end());
  }
  std::vector<uint8_t> z = {0x78, 0x01};
  size_t pos = 0;
  do {
    const size_t n = std::min<size_t>(65535, raw.size() - pos);
    z.push_back(pos + n == raw.size() ? 1 : 0);
    z.push_back(n & 0xff);
    z.push_back(n >> 8);
    z.push_back(~n & 0xff);
    z.push_back((~n >> 8) & 0xff);
    z.insert(z.end(), raw.begin() + pos, raw.begin() + pos + n);
    pos += n;
  } while (pos < raw.size());
  uint32_t a = 1, b = 0;
  for (uint8_t x : raw) {
    a = (a + x) % 65521;
    b = (b + a) % 65521;
  }
  put32(z, (b << 16) | a);
  chunk(png, "IDAT", z);
  chunk(png, "IEND", {});
  return png;
}

}  // namespace

// ------------------------------------------------------------------------------ reference parity

TEST(ImagePreprocessReference, PixelIdenticalToPilAt224And336) {
  SKIP_WITHOUT_REFERENCE();
  const nlohmann::json manifest = nlohmann::json::parse(read_bytes(kPreprocessDir / "manifest.json"));
  int checked = 0;
  for (const auto& entry : manifest.at("images")) {
    if (!entry.contains("outputs")) continue;
    const std::string file = entry.at("file");
    SCOPED_TRACE(file);
    const DecodedImage img = clipzs::decode_image((kPreprocessDir / "images" / file).string());
    EXPECT_EQ(img.format, entry.at("format").get<std::string>());
    EXPECT_EQ(clipzs::pixel_mode_name(img.mode), entry.at("mode").get<std::string>());
    EXPECT_EQ(img.width, entry.at("size")[0].get<int>());
    EXPECT_EQ(img.height, entry.at("size")[1].get<int>());
    std::cout << "[ parity   ] " << file << " (" << clipzs::pixel_mode_name(img.mode) << ")";
    for (int n : {224, 336}) {
      const NpyU8 expected = read_npy_u8(kPreprocessDir / "expected" / entry.at("outputs").at(std::to_string(n)).get<std::string>());
      ASSERT_EQ(expected.shape, (std::vector<size_t>{static_cast<size_t>(n), static_cast<size_t>(n), 3}));
      clipzs::PreprocessSpec spec;
      spec.size = n;
      const Image8 out = clipzs::preprocess(img, spec);
      ASSERT_EQ(out.width, n);
      ASSERT_EQ(out.height, n);
      ASSERT_EQ(out.channels, 3);
      size_t identical = 0;
      int max_diff = 0;
      for (size_t p = 0; p < static_cast<size_t>(n) * n; ++p) {
        bool same = true;
        for (int c = 0; c < 3; ++c) {
          const int d = std::abs(int(out.pixels[3 * p + c]) - int(expected.data[3 * p + c]));
          max_diff = std::max(max_diff, d);
          same = same && d == 0;
        }
        identical += same;
      }
      std::cout << "  " << n << ": " << identical << "/" << size_t(n) * n << " identical, max|diff| " << max_diff;
      EXPECT_EQ(identical, static_cast<size_t>(n) * n) << "at size " << n << ", max |diff| " << max_diff;
    }
    std::cout << "\n";
    ++checked;
  }
  EXPECT_GE(checked, 20);
}

TEST(ImagePreprocessReference, BrokenFilesThrowInputErrorNamingTheFile) {
  SKIP_WITHOUT_REFERENCE();
  const nlohmann::json manifest = nlohmann::json::parse(read_bytes(kPreprocessDir / "manifest.json"));
  int checked = 0;
  for (const auto& entry : manifest.at("images")) {
    if (!entry.contains("error")) continue;
    const std::string path = (kPreprocessDir / "images" / entry.at("file").get<std::string>()).string();
    std::string what;
    EXPECT_EQ(kind_of([&] { clipzs::decode_image(path); }, &what), ErrorKind::kInput) << path;
    EXPECT_NE(what.find(path), std::string::npos) << what;
    EXPECT_NE(what.find("truncated"), std::string::npos) << what;
    ++checked;
  }
  EXPECT_GE(checked, 1);
}

// Squash mode = Resize((n, n)) on the PIL image; hashes of PIL 9.4's output for two modes.
TEST(ImagePreprocessReference, SquashModeMatchesPil) {
  SKIP_WITHOUT_REFERENCE();
  struct Case {
    const char* file;
    int size;
    uint64_t pil_fnv1a;
  };
  for (const Case& c : {Case{"chelsea.png", 224, 0xd633825c3cf160bbull}, Case{"logo.png", 224, 0xde16205421578e1bull},
                        Case{"coffee_wide.png", 336, 0x06ac20215f91d005ull}}) {
    SCOPED_TRACE(c.file);
    clipzs::PreprocessSpec spec;
    spec.size = c.size;
    spec.resize_mode = clipzs::ResizeMode::kSquash;
    const Image8 out = clipzs::preprocess(clipzs::decode_image((kPreprocessDir / "images" / c.file).string()), spec);
    EXPECT_EQ(out.width, c.size);
    EXPECT_EQ(out.height, c.size);
    EXPECT_EQ(fnv1a(out.pixels), c.pil_fnv1a);
  }
}


// `jpeg` with an APP1 Exif segment inserted after SOI: a big-endian TIFF with one IFD entry,
// Orientation (0x0112), SHORT, 1 value.
std::vector<uint8_t> with_exif_orientation(const std::vector<uint8_t>& jpeg, int orientation) {
  const std::vector<uint8_t> tiff = {'M', 'M', 0, 42, 0, 0, 0, 8, 0, 1, 0x01, 0x12, 0, 3, 0, 0, 0, 1,
                                     0, static_cast<uint8_t>(orientation), 0, 0, 0, 0, 0, 0};
  std::vector<uint8_t> app1 = {'E', 'x', 'i', 'f', 0, 0};
  app1.insert(app1.end(), tiff.begin(), tiff.end());
  const size_t len = app1.size() + 2;
  std::vector<uint8_t> out = {0xFF, 0xD8, 0xFF, 0xE1, static_cast<uint8_t>(len >> 8), static_cast<uint8_t>(len & 0xff)};
  out.insert(out.end(), app1.begin(), app1.end());
  out.insert(out.end(), jpeg.begin() + 2, jpeg.end());
  return out;
}

TEST(ImagePreprocessReference, ExifOrientationRotatesOnlyWhenAsked) {
  SKIP_WITHOUT_REFERENCE();
  std::vector<uint8_t> jpeg = read_bytes(kPreprocessDir / "images" / "chelsea_q95_444.jpg");
  const DecodedImage plain = clipzs::decode_image_bytes(jpeg.data(), jpeg.size(), "plain.jpg");
  for (int orientation = 1; orientation <= 8; ++orientation) {
    SCOPED_TRACE(orientation);
    const std::vector<uint8_t> with = with_exif_orientation(jpeg, orientation);
    const DecodedImage ignored = clipzs::decode_image_bytes(with.data(), with.size(), "exif.jpg");
    EXPECT_EQ(ignored.pixels, plain.pixels);
    clipzs::DecodeOptions opt;
    opt.apply_exif_orientation = true;
    const DecodedImage r = clipzs::decode_image_bytes(with.data(), with.size(), "exif.jpg", opt);
    const bool swap = orientation >= 5;
    ASSERT_EQ(r.width, swap ? plain.height : plain.width);
    ASSERT_EQ(r.height, swap ? plain.width : plain.height);
    // Where the source's top-left pixel lands, per EXIF's definition of each orientation.
    const int W = r.width - 1, H = r.height - 1;
    const int corner[9][2] = {{0, 0}, {0, 0}, {W, 0}, {W, H}, {0, H}, {0, 0}, {W, 0}, {W, H}, {0, H}};
    const uint8_t* p = &r.pixels[(static_cast<size_t>(corner[orientation][1]) * r.width + corner[orientation][0]) * 3];
    EXPECT_TRUE(std::equal(p, p + 3, plain.pixels.begin()));
  }
}

// ------------------------------------------------------------------- resize arithmetic, synthetic

TEST(ImageResize, EqualSizeIsIdentityForEveryFilter) {
  for (int ch = 1; ch <= 4; ++ch) {
    const Image8 im = pattern(13, 9, ch);
    for (auto f : {Interpolation::kNearest, Interpolation::kBilinear, Interpolation::kBicubic, Interpolation::kLanczos,
                   Interpolation::kBox, Interpolation::kHamming}) {
      const Image8 out = clipzs::resize_like_pil(im, 13, 9, f);
      EXPECT_EQ(out.pixels, im.pixels) << clipzs::interpolation_name(f) << " ch " << ch;
    }
  }
}

TEST(ImageResize, ConstantImageStaysConstant) {
  for (int ch : {1, 3, 4}) {
    for (int value : {0, 1, 77, 128, 254, 255}) {
      Image8 im;
      im.width = 37;
      im.height = 23;
      im.channels = ch;
      im.pixels.assign(37 * 23 * ch, static_cast<uint8_t>(value));
      if (ch == 4)
        for (size_t i = 3; i < im.pixels.size(); i += 4) im.pixels[i] = 255;  // opaque: premultiply is lossless
      for (auto f : {Interpolation::kNearest, Interpolation::kBilinear, Interpolation::kBicubic,
                     Interpolation::kLanczos, Interpolation::kBox, Interpolation::kHamming}) {
        for (auto [w, h] : {std::pair{5, 4}, std::pair{100, 61}, std::pair{37, 7}, std::pair{224, 224}}) {
          const Image8 out = clipzs::resize_like_pil(im, w, h, f);
          ASSERT_EQ(out.pixels.size(), size_t(w) * h * ch);
          for (size_t i = 0; i < out.pixels.size(); ++i) {
            const int expect = (ch == 4 && i % 4 == 3) ? 255 : value;
            ASSERT_EQ(out.pixels[i], expect) << clipzs::interpolation_name(f) << " " << w << "x" << h << " ch " << ch;
          }
        }
      }
    }
  }
}

TEST(ImageResize, HandComputedBilinear) {
  // 4 -> 2 bilinear: scale 2, support 2; output 0 uses taps 0..2 with weights 3/7, 3/7, 1/7 and
  // output 1 taps 1..3 with 1/7, 3/7, 3/7 (22-bit fixed point, +2^21, >> 22).
  Image8 im;
  im.width = 4;
  im.height = 1;
  im.channels = 1;
  im.pixels = {0, 70, 140, 210};
  const Image8 out = clipzs::resize_like_pil(im, 2, 1, Interpolation::kBilinear);
  EXPECT_EQ(out.pixels, (std::vector<uint8_t>{50, 160}));
}

// FNV-1a of the bytes of PIL 9.4 `Image.frombytes(mode, (7, 5), pattern(7, 5, ch)).resize(size, filter)`
// with mode L, LA, RGB, RGBA for 1..4 channels.
TEST(ImageResize, MatchesPilOnSyntheticPattern) {
  struct Case {
    int ch;
    Interpolation f;
    int w, h;
    uint64_t pil;
  };
  const Case cases[] = {
      {1, Interpolation::kNearest, 3, 4, 0x96026a2d63ea1ea3ull},
      {1, Interpolation::kNearest, 11, 2, 0x833e6e3d72a25615ull},
      {1, Interpolation::kNearest, 7, 9, 0x909dd017f55fbe1aull},
      {1, Interpolation::kNearest, 16, 12, 0x890b2951f65d812bull},
      {1, Interpolation::kBilinear, 3, 4, 0xac65b6040a467572ull},
      {1, Interpolation::kBilinear, 11, 2, 0x955949a4cc3af92cull},
      {1, Interpolation::kBilinear, 7, 9, 0x7f60ae52996f8a9aull},
      {1, Interpolation::kBilinear, 16, 12, 0xe7223632b5ec59b4ull},
      {1, Interpolation::kBicubic, 3, 4, 0xd08807a0d887e5c9ull},
      {1, Interpolation::kBicubic, 11, 2, 0xd052b808693260d3ull},
      {1, Interpolation::kBicubic, 7, 9, 0x633bc83eb4a8d158ull},
      {1, Interpolation::kBicubic, 16, 12, 0xb3d36bcc5024db91ull},
      {1, Interpolation::kLanczos, 3, 4, 0xdb261c9fa749e28full},
      {1, Interpolation::kLanczos, 11, 2, 0x6ec513da17f4f887ull},
      {1, Interpolation::kLanczos, 7, 9, 0x94227acda41c6751ull},
      {1, Interpolation::kLanczos, 16, 12, 0x8f771a7b32f8b512ull},
      {1, Interpolation::kBox, 3, 4, 0x6b8de9b26154f371ull},
      {1, Interpolation::kBox, 11, 2, 0x13df7ef67d024e56ull},
      {1, Interpolation::kBox, 7, 9, 0x909dd017f55fbe1aull},
      {1, Interpolation::kBox, 16, 12, 0x890b2951f65d812bull},
      {1, Interpolation::kHamming, 3, 4, 0xa75f555ea2b03520ull},
      {1, Interpolation::kHamming, 11, 2, 0x38f53cb21f050f64ull},
      {1, Interpolation::kHamming, 7, 9, 0x0118d5c465eaaddcull},
      {1, Interpolation::kHamming, 16, 12, 0xe53e4f00783cd371ull},
      {2, Interpolation::kNearest, 3, 4, 0x5f2c1b7da1a41147ull},
      {2, Interpolation::kNearest, 11, 2, 0xbf0db107db86bbc7ull},
      {2, Interpolation::kNearest, 7, 9, 0x7a3159d2e72907f8ull},
      {2, Interpolation::kNearest, 16, 12, 0xa1a2ab8c85af2db3ull},
      {2, Interpolation::kBilinear, 3, 4, 0x09e1a5ccfc47b58full},
      {2, Interpolation::kBilinear, 11, 2, 0x37b836b90ab6971eull},
      {2, Interpolation::kBilinear, 7, 9, 0x2d254a6f58f9725eull},
      {2, Interpolation::kBilinear, 16, 12, 0x058b5c3a196d831bull},
      {2, Interpolation::kBicubic, 3, 4, 0x73a9e5513616a10full},
      {2, Interpolation::kBicubic, 11, 2, 0xd7f3e699dcd19242ull},
      {2, Interpolation::kBicubic, 7, 9, 0x3d8ea174ac16f9eeull},
      {2, Interpolation::kBicubic, 16, 12, 0x7f7f5654c2afaf05ull},
      {2, Interpolation::kLanczos, 3, 4, 0x451ef72ffc16163full},
      {2, Interpolation::kLanczos, 11, 2, 0x48ddff2df1aba007ull},
      {2, Interpolation::kLanczos, 7, 9, 0x621ee59a1af18f6full},
      {2, Interpolation::kLanczos, 16, 12, 0xa717d9bbe3196bc1ull},
      {2, Interpolation::kBox, 3, 4, 0x2a0a44cd14bd0920ull},
      {2, Interpolation::kBox, 11, 2, 0xe4fff0052f4e15ddull},
      {2, Interpolation::kBox, 7, 9, 0x47af07f85b470b03ull},
      {2, Interpolation::kBox, 16, 12, 0xf5d6257b78b7203aull},
      {2, Interpolation::kHamming, 3, 4, 0x671a2b9f58893a37ull},
      {2, Interpolation::kHamming, 11, 2, 0x294ce81f017d96a5ull},
      {2, Interpolation::kHamming, 7, 9, 0x0dce0ccef18dae86ull},
      {2, Interpolation::kHamming, 16, 12, 0x54829b320e1a7521ull},
      {3, Interpolation::kNearest, 3, 4, 0x4d0f23faea1ecf97ull},
      {3, Interpolation::kNearest, 11, 2, 0xd0c1a565d26043cfull},
      {3, Interpolation::kNearest, 7, 9, 0xe8ee041d6ba8e2abull},
      {3, Interpolation::kNearest, 16, 12, 0xd33b932acbad0e33ull},
      {3, Interpolation::kBilinear, 3, 4, 0xf8c765b26611acddull},
      {3, Interpolation::kBilinear, 11, 2, 0x3e9d080d31074521ull},
      {3, Interpolation::kBilinear, 7, 9, 0xbba08248082dd39aull},
      {3, Interpolation::kBilinear, 16, 12, 0x3a61f197e5990f14ull},
      {3, Interpolation::kBicubic, 3, 4, 0xca0d97cee36bd439ull},
      {3, Interpolation::kBicubic, 11, 2, 0x6a9fcdc984c79e0dull},
      {3, Interpolation::kBicubic, 7, 9, 0x541eb709019849e3ull},
      {3, Interpolation::kBicubic, 16, 12, 0xc43f3073313eaa51ull},
      {3, Interpolation::kLanczos, 3, 4, 0xedaa14517b6fc597ull},
      {3, Interpolation::kLanczos, 11, 2, 0x6b750b6719c698efull},
      {3, Interpolation::kLanczos, 7, 9, 0xb110705bc0d5449dull},
      {3, Interpolation::kLanczos, 16, 12, 0xf0fe5eb2b389a2f6ull},
      {3, Interpolation::kBox, 3, 4, 0xa841c01038d67df2ull},
      {3, Interpolation::kBox, 11, 2, 0x51b7b31f55357c62ull},
      {3, Interpolation::kBox, 7, 9, 0xe8ee041d6ba8e2abull},
      {3, Interpolation::kBox, 16, 12, 0xd33b932acbad0e33ull},
      {3, Interpolation::kHamming, 3, 4, 0xad0b8e19a1e07359ull},
      {3, Interpolation::kHamming, 11, 2, 0x8cb9cde19669b703ull},
      {3, Interpolation::kHamming, 7, 9, 0x8e3f05cd77bd3257ull},
      {3, Interpolation::kHamming, 16, 12, 0xff9dd6deba1b2c5full},
      {4, Interpolation::kNearest, 3, 4, 0xfc8d57f6af2157f3ull},
      {4, Interpolation::kNearest, 11, 2, 0x0ecc9039531ff433ull},
      {4, Interpolation::kNearest, 7, 9, 0x4620cb9b5ae60cffull},
      {4, Interpolation::kNearest, 16, 12, 0x92d9749506837dc3ull},
      {4, Interpolation::kBilinear, 3, 4, 0x4dc7db9831ed84b4ull},
      {4, Interpolation::kBilinear, 11, 2, 0x8840a69681b95ddfull},
      {4, Interpolation::kBilinear, 7, 9, 0xf1ee1d6a98b43514ull},
      {4, Interpolation::kBilinear, 16, 12, 0x7fa352c1dec14a24ull},
      {4, Interpolation::kBicubic, 3, 4, 0x685875436c2bfb66ull},
      {4, Interpolation::kBicubic, 11, 2, 0xb0221b3c85a3cc21ull},
      {4, Interpolation::kBicubic, 7, 9, 0x21bec20d9bf1af66ull},
      {4, Interpolation::kBicubic, 16, 12, 0x907120499df1d97bull},
      {4, Interpolation::kLanczos, 3, 4, 0x5ebc5431fc9d7780ull},
      {4, Interpolation::kLanczos, 11, 2, 0x4d3d1dd101826292ull},
      {4, Interpolation::kLanczos, 7, 9, 0xb681a6d5ff278640ull},
      {4, Interpolation::kLanczos, 16, 12, 0x621341fb3fa71ecaull},
      {4, Interpolation::kBox, 3, 4, 0x79d4e46a4042f68bull},
      {4, Interpolation::kBox, 11, 2, 0x2b1f35aeb7fcc055ull},
      {4, Interpolation::kBox, 7, 9, 0x386e563795f977d9ull},
      {4, Interpolation::kBox, 16, 12, 0xf1ab60999530dfaeull},
      {4, Interpolation::kHamming, 3, 4, 0x97acd92fff435335ull},
      {4, Interpolation::kHamming, 11, 2, 0xa2a5e7200f3c39f5ull},
      {4, Interpolation::kHamming, 7, 9, 0x585753b96df363deull},
      {4, Interpolation::kHamming, 16, 12, 0x926e961b04dbc884ull},
  };
  for (const Case& c : cases) {
    const Image8 out = clipzs::resize_like_pil(pattern(7, 5, c.ch), c.w, c.h, c.f);
    EXPECT_EQ(fnv1a(out.pixels), c.pil) << "ch " << c.ch << " " << clipzs::interpolation_name(c.f) << " -> " << c.w
                                        << "x" << c.h;
  }
}

TEST(ImageResize, NearestSamplesAccumulatedCentres) {
  // 10 -> 224: source index of output x is floor((x + 0.5) * 10 / 224) here (no ties).
  Image8 im;
  im.width = 10;
  im.height = 1;
  im.channels = 1;
  for (int i = 0; i < 10; ++i) im.pixels.push_back(static_cast<uint8_t>(i * 10));
  const Image8 out = clipzs::resize_like_pil(im, 224, 1, Interpolation::kNearest);
  for (int x = 0; x < 224; ++x) EXPECT_EQ(out.pixels[x], static_cast<int>((x + 0.5) * 10 / 224) * 10) << x;
}

TEST(ImageResize, RejectsBadArguments) {
  Image8 im = pattern(4, 4, 3);
  EXPECT_EQ(kind_of([&] { clipzs::resize_like_pil(im, 0, 4, Interpolation::kBicubic); }), ErrorKind::kUsage);
  im.channels = 5;
  EXPECT_EQ(kind_of([&] { clipzs::resize_like_pil(im, 2, 2, Interpolation::kBicubic); }), ErrorKind::kUsage);
}

// --------------------------------------------------------------------------- names and options

TEST(ImagePreprocess, InterpolationNames) {
  for (auto f : {Interpolation::kNearest, Interpolation::kBilinear, Interpolation::kBicubic, Interpolation::kLanczos,
                 Interpolation::kBox, Interpolation::kHamming}) {
    EXPECT_EQ(clipzs::parse_interpolation(clipzs::interpolation_name(f)), f);
  }
  EXPECT_EQ(clipzs::parse_interpolation("BICUBIC"), Interpolation::kBicubic);
  std::string what;
  EXPECT_EQ(kind_of([] { clipzs::parse_interpolation("cubic"); }, &what), ErrorKind::kUsage);
  EXPECT_NE(what.find("cubic"), std::string::npos);
  EXPECT_EQ(kind_of([] { clipzs::parse_interpolation(""); }), ErrorKind::kUsage);
  EXPECT_EQ(clipzs::parse_resize_mode("squash"), clipzs::ResizeMode::kSquash);
  EXPECT_EQ(clipzs::parse_resize_mode("shortest"), clipzs::ResizeMode::kShortest);
  EXPECT_EQ(kind_of([] { clipzs::parse_resize_mode("crop"); }), ErrorKind::kUsage);
}

TEST(ImagePreprocess, SquashResizesBothSidesToSize) {
  const Image8 im = pattern(40, 20, 3);
  clipzs::PreprocessSpec spec;
  spec.size = 16;
  spec.resize_mode = clipzs::ResizeMode::kSquash;
  const Image8 out = clipzs::preprocess(as_decoded(im, PixelMode::kRGB), spec);
  EXPECT_EQ(out.pixels, clipzs::resize_like_pil(im, 16, 16, Interpolation::kBicubic).pixels);
}

TEST(ImagePreprocess, ShortestSideThenCentreCrop) {
  // 40x20 -> Resize(16) = 32x16, crop offset round((32-16)/2) = 8.
  const Image8 im = pattern(40, 20, 3);
  clipzs::PreprocessSpec spec;
  spec.size = 16;
  const Image8 out = clipzs::preprocess(as_decoded(im, PixelMode::kRGB), spec);
  const Image8 full = clipzs::resize_like_pil(im, 32, 16, Interpolation::kBicubic);
  for (int y = 0; y < 16; ++y)
    for (int x = 0; x < 16; ++x)
      for (int c = 0; c < 3; ++c) ASSERT_EQ(out.pixels[(y * 16 + x) * 3 + c], full.pixels[(y * 32 + x + 8) * 3 + c]);
  // Odd excess: 21x16 -> crop 16 at round(2.5) = 2 (half to even), 23 -> round(3.5) = 4.
  for (auto [w, off] : {std::pair{21, 2}, std::pair{23, 4}}) {
    const Image8 src = pattern(w, 16, 1);
    const Image8 o = clipzs::preprocess(as_decoded(src, PixelMode::kL), spec);
    for (int x = 0; x < 16; ++x) ASSERT_EQ(o.pixels[x * 3], src.pixels[x + off]) << w;
  }
}

TEST(ImagePreprocess, PaletteAndBilevelUseNearestAndConvert) {
  DecodedImage p;
  p.width = 2;
  p.height = 1;
  p.mode = PixelMode::kP;
  p.pixels = {1, 2};
  p.palette.assign(768, 0);
  for (int i = 0; i < 256; ++i) p.palette[3 * i] = p.palette[3 * i + 1] = p.palette[3 * i + 2] = static_cast<uint8_t>(i);
  p.palette[3] = 10, p.palette[4] = 20, p.palette[5] = 30;
  p.palette[6] = 200, p.palette[7] = 100, p.palette[8] = 0;
  clipzs::PreprocessSpec spec;
  spec.size = 4;
  const Image8 out = clipzs::preprocess(p, spec);  // 2x1 -> 8x4 nearest -> crop x 2..5
  const std::vector<uint8_t> left = {10, 20, 30}, right = {200, 100, 0};
  for (int x = 0; x < 4; ++x) {
    const auto& want = x < 2 ? left : right;
    EXPECT_TRUE(std::equal(want.begin(), want.end(), out.pixels.begin() + x * 3)) << x;
  }
  DecodedImage b = p;
  b.mode = PixelMode::k1;
  b.palette.clear();
  b.pixels = {0, 255};
  const Image8 ob = clipzs::preprocess(b, spec);
  EXPECT_EQ(ob.pixels[0], 0);
  EXPECT_EQ(ob.pixels[3 * 3], 255);
}

TEST(ImagePreprocess, NormalizeMatchesToTensorNormalize) {
  clipzs::PreprocessSpec spec;
  spec.size = 2;
  Image8 rgb;
  rgb.width = rgb.height = 2;
  rgb.pixels = {0, 0, 0, 255, 255, 255, 128, 64, 32, 1, 2, 3};
  std::vector<float> out(12);
  clipzs::normalize_chw(rgb, spec, out.data());
  for (int c = 0; c < 3; ++c)
    for (int i = 0; i < 4; ++i)
      EXPECT_EQ(out[c * 4 + i], (static_cast<float>(rgb.pixels[i * 3 + c]) / 255.0f - spec.mean[c]) / spec.std[c]);
  EXPECT_NEAR(out[0], -0.48145466f / 0.26862954f, 1e-6);
}

// ------------------------------------------------------------------------------------ decoding

TEST(ImageDecode, ZeroByteAndMissingAndNonImageFilesAreInputErrors) {
  const fs::path dir = fs::path(::testing::TempDir()) / "clipzs_image_test";
  fs::create_directories(dir);
  const fs::path empty = dir / "empty.jpg";
  std::ofstream(empty).close();
  std::string what;
  EXPECT_EQ(kind_of([&] { clipzs::decode_image(empty.string()); }, &what), ErrorKind::kInput);
  EXPECT_NE(what.find(empty.string()), std::string::npos) << what;
  EXPECT_EQ(kind_of([&] { clipzs::decode_image((dir / "missing.png").string()); }, &what), ErrorKind::kInput);
  EXPECT_NE(what.find("missing.png"), std::string::npos) << what;
  const fs::path text = dir / "notes.png";
  std::ofstream(text) << "just some text, not an image\n";
  EXPECT_EQ(kind_of([&] { clipzs::decode_image(text.string()); }, &what), ErrorKind::kInput);
  EXPECT_NE(what.find(text.string()), std::string::npos) << what;
  EXPECT_EQ(kind_of([&] { clipzs::decode_image(dir.string()); }), ErrorKind::kInput);
  // A JPEG signature followed by garbage, and a PNG cut inside IDAT.
  const std::vector<uint8_t> bad_jpeg = {0xFF, 0xD8, 0xFF, 0xE0, 0x00, 0x02, 0x12, 0x34};
  EXPECT_EQ(kind_of([&] { clipzs::decode_image_bytes(bad_jpeg.data(), bad_jpeg.size(), "bad.jpg"); }), ErrorKind::kInput);
  std::vector<std::vector<uint8_t>> rows(8, std::vector<uint8_t>(8 * 3, 7));
  std::vector<uint8_t> png = make_png(8, 8, 8, 2, rows);
  EXPECT_NO_THROW(clipzs::decode_image_bytes(png.data(), png.size(), "ok.png"));
  png.resize(png.size() - 12 - 40);
  EXPECT_EQ(kind_of([&] { clipzs::decode_image_bytes(png.data(), png.size(), "cut.png"); }, &what), ErrorKind::kInput);
  EXPECT_NE(what.find("cut.png"), std::string::npos) << what;
  fs::remove_all(dir);
}

TEST(ImageDecode, PngModesAsPilSeesThem) {
  // Palette with 2 entries, 2-bit indices, tRNS: stays "P"; undefined entries are a grey ramp.
  {
    const std::vector<uint8_t> png = make_png(4, 1, 2, 3, {{0b00011011}},
                                              {{"PLTE", {10, 20, 30, 40, 50, 60}}, {"tRNS", {0}}});
    const DecodedImage d = clipzs::decode_image_bytes(png.data(), png.size(), "p.png");
    EXPECT_EQ(d.mode, PixelMode::kP);
    EXPECT_EQ(d.pixels, (std::vector<uint8_t>{0, 1, 2, 3}));
    ASSERT_EQ(d.palette.size(), 768u);
    EXPECT_EQ(d.palette[3], 40);
    EXPECT_EQ(d.palette[6], 2);
    EXPECT_EQ(d.palette[9 + 2], 3);
  }
  // 1-bit grey -> "1" with 0/255; 4-bit grey -> "L" scaled by 17.
  {
    const std::vector<uint8_t> png = make_png(8, 1, 1, 0, {{0b10100000}});
    const DecodedImage d = clipzs::decode_image_bytes(png.data(), png.size(), "b.png");
    EXPECT_EQ(d.mode, PixelMode::k1);
    EXPECT_EQ(d.pixels, (std::vector<uint8_t>{255, 0, 255, 0, 0, 0, 0, 0}));
    const std::vector<uint8_t> png4 = make_png(2, 1, 4, 0, {{0x1F}});
    const DecodedImage d4 = clipzs::decode_image_bytes(png4.data(), png4.size(), "g4.png");
    EXPECT_EQ(d4.mode, PixelMode::kL);
    EXPECT_EQ(d4.pixels, (std::vector<uint8_t>{17, 255}));
  }
  // Grey+alpha stays "LA"; 16-bit RGB keeps the high byte.
  {
    const std::vector<uint8_t> png = make_png(1, 1, 8, 4, {{9, 200}});
    const DecodedImage d = clipzs::decode_image_bytes(png.data(), png.size(), "la.png");
    EXPECT_EQ(d.mode, PixelMode::kLA);
    EXPECT_EQ(d.pixels, (std::vector<uint8_t>{9, 200}));
    const std::vector<uint8_t> png16 = make_png(1, 1, 16, 2, {{0x12, 0xFF, 0xAB, 0x01, 0x00, 0x80}});
    const DecodedImage d16 = clipzs::decode_image_bytes(png16.data(), png16.size(), "rgb16.png");
    EXPECT_EQ(d16.mode, PixelMode::kRGB);
    EXPECT_EQ(d16.pixels, (std::vector<uint8_t>{0x12, 0xAB, 0x00}));
  }
  // eXIf orientation 6 on a 2x1 image -> 1x2 when asked.
  {
    const std::vector<uint8_t> exif = {'I', 'I', 42, 0, 8, 0, 0, 0, 1, 0, 0x12, 0x01, 3, 0, 1, 0, 0, 0, 6, 0, 0, 0, 0, 0, 0, 0};
    const std::vector<uint8_t> png = make_png(2, 1, 8, 0, {{5, 6}}, {{"eXIf", exif}});
    EXPECT_EQ(clipzs::decode_image_bytes(png.data(), png.size(), "e.png").width, 2);
    clipzs::DecodeOptions opt;
    opt.apply_exif_orientation = true;
    const DecodedImage d = clipzs::decode_image_bytes(png.data(), png.size(), "e.png", opt);
    EXPECT_EQ(d.width, 1);
    EXPECT_EQ(d.height, 2);
    EXPECT_EQ(d.pixels, (std::vector<uint8_t>{5, 6}));
  }
}

// BMP goes through OpenCV, but keeps PIL's modes: a colour table makes "P" (nearest-neighbour resize),
// an identity grey table "L".
TEST(ImageDecode, BmpColourTablesKeepPilModes) {
  auto make_bmp = [](const std::vector<uint32_t>& table, const std::vector<uint8_t>& idx, int w, int h) {
    auto le = [](std::vector<uint8_t>& v, uint32_t x, int n) {
      for (int i = 0; i < n; ++i) v.push_back(static_cast<uint8_t>(x >> (8 * i)));
    };
    const int row = (w + 3) & ~3;
    const uint32_t offset = 14 + 40 + 4 * static_cast<uint32_t>(table.size());
    std::vector<uint8_t> b = {'B', 'M'};
    le(b, offset + row * h, 4);
    le(b, 0, 4);
    le(b, offset, 4);
    le(b, 40, 4);
    le(b, w, 4);
    le(b, h, 4);
    le(b, 1, 2);
    le(b, 8, 2);
    le(b, 0, 4);
    le(b, row * h, 4);
    le(b, 2835, 4);
    le(b, 2835, 4);
    le(b, static_cast<uint32_t>(table.size()), 4);
    le(b, 0, 4);
    for (uint32_t rgb : table) le(b, rgb, 4);  // stored B, G, R, 0 = 0x00RRGGBB little-endian
    for (int y = h - 1; y >= 0; --y) {         // bottom-up rows
      for (int x = 0; x < row; ++x) b.push_back(x < w ? idx[y * w + x] : 0);
    }
    return b;
  };
  const std::vector<uint8_t> idx = {0, 1, 2, 1, 2, 0};
  const std::vector<uint8_t> colour = make_bmp({0xff0000, 0x00ff00, 0x0000ff}, idx, 3, 2);
  const DecodedImage p = clipzs::decode_image_bytes(colour.data(), colour.size(), "p.bmp");
  EXPECT_EQ(p.format, "BMP");
  EXPECT_EQ(p.mode, PixelMode::kP);
  EXPECT_EQ(p.pixels, idx);
  ASSERT_EQ(p.palette.size(), 768u);
  EXPECT_EQ(p.palette[3 * 1 + 1], 255);
  const std::vector<uint8_t> grey = make_bmp({0x000000, 0x010101, 0x020202}, idx, 3, 2);
  const DecodedImage l = clipzs::decode_image_bytes(grey.data(), grey.size(), "l.bmp");
  EXPECT_EQ(l.mode, PixelMode::kL);
  EXPECT_EQ(l.pixels, idx);
}

// The format table: complete entries, matchers that never both accept a file, and the dispatcher picking
// the format each sample is. Samples: the reference images, files OpenCV writes, hand-made files, and
// bare magic bytes (so every entry has one).
TEST(ImageFormats, TableIsConsistent) {
  using clipzs::image_detail::ImageFormat;
  using clipzs::image_detail::format_for_extension;
  using clipzs::image_detail::format_of;
  const std::vector<const ImageFormat*>& table = clipzs::image_detail::image_formats();
  ASSERT_FALSE(table.empty());
  std::set<std::string> names, extensions;
  for (const ImageFormat* f : table) {
    ASSERT_NE(f, nullptr);
    ASSERT_NE(f->name, nullptr);
    EXPECT_STRNE(f->name, "");
    EXPECT_TRUE(names.insert(f->name).second) << "two entries named " << f->name;
    EXPECT_NE(f->matches, nullptr) << f->name;
    EXPECT_NE(f->decode, nullptr) << f->name;
    ASSERT_NE(f->extensions, nullptr) << f->name;
    for (const char* const* e = f->extensions; *e != nullptr; ++e) {
      EXPECT_TRUE(extensions.insert(*e).second) << "extension " << *e << " listed twice";
    }
  }
  // Only JPEG and PNG decode a part of the image; the rest decode whole.
  for (const ImageFormat* f : table) {
    const std::string name = f->name;
    EXPECT_EQ(f->decode_part != nullptr, name == "JPEG" || name == "PNG") << name;
  }

  struct Sample {
    std::string label;
    std::vector<uint8_t> bytes;
    std::string format;  // "" when no entry may accept it
    bool decodes;        // a whole, valid file: decoding must give `format`
  };
  std::vector<Sample> samples;
  auto bytes = [](const std::string& s) { return std::vector<uint8_t>(s.begin(), s.end()); };
  if (fs::exists(kPreprocessDir / "manifest.json")) {
    const nlohmann::json manifest = nlohmann::json::parse(read_bytes(kPreprocessDir / "manifest.json"));
    for (const auto& entry : manifest.at("images")) {
      const std::string file = entry.at("file");
      std::string ext = fs::path(file).extension().string().substr(1);
      const ImageFormat* by_ext = format_for_extension(ext);
      ASSERT_NE(by_ext, nullptr) << file;
      samples.push_back({file, read_bytes(kPreprocessDir / "images" / file),
                         entry.contains("format") ? entry.at("format").get<std::string>() : std::string(by_ext->name),
                         !entry.contains("error")});
      EXPECT_EQ(samples.back().format, by_ext->name) << file << ": the extension names another format";
    }
  }
  samples.push_back({"make_png", make_png(2, 1, 8, 0, {{5, 6}}), "PNG", true});
  samples.push_back({"bad jpeg", {0xFF, 0xD8, 0xFF, 0xE0, 0x00, 0x02, 0x12, 0x34}, "JPEG", false});
  // A 1x1 GIF89a: global table of 2 colours, one LZW-coded pixel.
  samples.push_back({"gif89a 1x1",
                     {'G', 'I', 'F', '8', '9', 'a', 1, 0, 1, 0, 0x80, 0, 0, 0xff, 0xff, 0xff, 0, 0, 0,  // screen, colours
                      0x2c, 0, 0, 0, 0, 1, 0, 1, 0, 0,  // image descriptor
                      2, 2, 0x44, 0x01, 0,              // LZW: clear, pixel 0, end
                      0x3b},
                     "GIF", true});
  // Files OpenCV writes, for the formats this OpenCV can write.
  const cv::Mat rgb(40, 48, CV_8UC3, cv::Scalar(10, 120, 230)), grey(40, 48, CV_8UC1, cv::Scalar(77));
  const cv::Mat bilevel(40, 48, CV_8UC1, cv::Scalar(255)), hdr(40, 48, CV_32FC3, cv::Scalar(0.25f, 0.5f, 0.75f));
  for (const auto& [ext, mat, format] :
       std::vector<std::tuple<std::string, cv::Mat, std::string>>{{".bmp", rgb, "BMP"}, {".tiff", rgb, "TIFF"},
                                                                 {".webp", rgb, "WEBP"}, {".ppm", rgb, "PPM"},
                                                                 {".pgm", grey, "PPM"}, {".pbm", bilevel, "PPM"},
                                                                 {".pfm", hdr, "PFM"}, {".hdr", hdr, "HDR"},
                                                                 {".ras", rgb, "SUN"}, {".jp2", rgb, "JPEG2000"}}) {
    if (!cv::haveImageWriter(ext)) continue;
    std::vector<uint8_t> out;
    try {
      if (!cv::imencode(ext, mat, out)) continue;
    } catch (const cv::Exception&) {
      continue;
    }
    samples.push_back({"opencv " + ext, out, format, true});
  }
  // Magic bytes only: every entry gets a sample even where OpenCV cannot write the format.
  for (const auto& [magic, format] : std::vector<std::pair<std::string, std::string>>{
           {std::string("\xFF\xD8\xFF", 3), "JPEG"},
           {std::string("\x89PNG\r\n\x1a\n", 8), "PNG"},
           {"BM", "BMP"},
           {std::string("RIFF\x00\x00\x00\x00WEBP", 12), "WEBP"},
           {std::string("II*\x00", 4), "TIFF"},
           {std::string("MM\x00*", 4), "TIFF"},
           {"GIF87a", "GIF"},
           {"GIF89a", "GIF"},
           {"P1", "PPM"},
           {"P7", "PPM"},
           {"PF", "PFM"},
           {"Pf", "PFM"},
           {std::string("\x00\x00\x00\x0cjP  ", 8), "JPEG2000"},
           {std::string("\xff\x4f\xff\x51", 4), "JPEG2000"},
           {"#?RADIANCE", "HDR"},
           {"#?RGBE", "HDR"},
           {std::string("\x76\x2f\x31\x01", 4), "EXR"},
           {std::string("\x59\xa6\x6a\x95", 4), "SUN"},
           // Recognised by nothing: text, a RIFF that is not WebP, prefixes cut short, "P" + other.
           {"just some text, not an image\n", ""},
           {std::string("RIFF\x00\x00\x00\x00WAVE", 12), ""},
           {std::string("\xFF\xD8", 2), ""},
           {std::string("\x89PNG\r\n\x1a", 7), ""},
           {"GIF88a", ""},
           {"P8", ""},
           {"B", ""},
       }) {
    samples.push_back({"magic " + format + " " + std::to_string(samples.size()), bytes(magic), format, false});
  }

  std::set<std::string> picked;
  for (const Sample& s : samples) {
    SCOPED_TRACE(s.label);
    std::string accepted;
    int count = 0;
    for (const ImageFormat* f : table) {
      if (f->matches(s.bytes.data(), s.bytes.size())) {
        accepted += std::string(accepted.empty() ? "" : ", ") + f->name;
        ++count;
      }
    }
    EXPECT_LE(count, 1) << "accepted by " << accepted;
    const ImageFormat* got = format_of(s.bytes.data(), s.bytes.size());
    EXPECT_EQ(got != nullptr ? std::string(got->name) : std::string(), s.format);
    if (got != nullptr) picked.insert(got->name);
    if (s.decodes) {
      EXPECT_EQ(clipzs::decode_image_bytes(s.bytes.data(), s.bytes.size(), s.label).format, s.format);
      const clipzs::image_detail::DecodedPart part = clipzs::image_detail::decode_image_part_bytes(
          s.bytes.data(), s.bytes.size(), s.label, clipzs::DecodeOptions{}, clipzs::PreprocessSpec{});
      EXPECT_EQ(part.image.format, s.format);
    }
  }
  for (const ImageFormat* f : table) EXPECT_EQ(picked.count(f->name), 1u) << f->name << " picked for no sample";

  // Extensions come from the table too, in its order.
  EXPECT_EQ(clipzs::image_extensions_text(), ".jpg/.jpeg/.png/.bmp/.webp/.tif/.tiff/.gif/.ppm/.pgm/.pbm");
  for (const auto& [ext, format] : std::vector<std::pair<std::string, std::string>>{
           {"jpg", "JPEG"}, {"jpeg", "JPEG"}, {"png", "PNG"}, {"tif", "TIFF"}, {"pbm", "PPM"}, {"gif", "GIF"}}) {
    const ImageFormat* f = format_for_extension(ext);
    ASSERT_NE(f, nullptr) << ext;
    EXPECT_EQ(f->name, format) << ext;
  }
  EXPECT_EQ(format_for_extension("JPG"), nullptr);  // callers lower-case first
  EXPECT_EQ(format_for_extension("svg"), nullptr);
  EXPECT_EQ(format_for_extension(""), nullptr);
  EXPECT_TRUE(clipzs::is_image_extension(".TIFF"));
  EXPECT_FALSE(clipzs::is_image_extension(".pfm"));
}

TEST(ImagePreprocess, RgbaIsResizedPremultiplied) {
  // Half-transparent red next to transparent green: premultiplied resizing must not bleed the green.
  Image8 im;
  im.width = 2;
  im.height = 1;
  im.channels = 4;
  im.pixels = {255, 0, 0, 255, 0, 255, 0, 0};
  const Image8 out = clipzs::resize_like_pil(im, 4, 1, Interpolation::kBilinear);
  for (int x = 0; x < 4; ++x) {
    if (out.pixels[x * 4 + 3] == 0) continue;
    EXPECT_EQ(out.pixels[x * 4 + 1], 0) << x;
  }
}

// ------------------------------------------------------------------- partial (region) decoding

namespace {

using clipzs::image_detail::DecodedPart;

// Deterministic texture with detail at every scale and independent chroma, so that any pixel a partial
// decode gets wrong (upsampling context, block smoothing at a cut edge) changes the outputs.
std::vector<uint8_t> texture(int w, int h, int ch, uint32_t seed) {
  std::vector<uint8_t> px(static_cast<size_t>(w) * h * ch);
  // Waves sin(a x + b y + s) and cos(c x - 2c y + t) from per-column and per-row tables.
  std::vector<double> sx(w), cx(w), sx2(w), cx2(w), sy(h), cy(h), sy2(h), cy2(h);
  for (int c = 0; c < ch; ++c) {
    for (int x = 0; x < w; ++x) {
      sx[x] = std::sin(x * 0.031 * (c + 1) + seed);
      cx[x] = std::cos(x * 0.031 * (c + 1) + seed);
      sx2[x] = std::sin(x * 0.093 + c);
      cx2[x] = std::cos(x * 0.093 + c);
    }
    for (int y = 0; y < h; ++y) {
      sy[y] = std::sin(y * 0.017);
      cy[y] = std::cos(y * 0.017);
      sy2[y] = std::sin(-2 * y * 0.093);
      cy2[y] = std::cos(-2 * y * 0.093);
    }
    for (int y = 0; y < h; ++y) {
      for (int x = 0; x < w; ++x) {
        uint32_t k = (static_cast<uint32_t>(x / 3) * 73856093u) ^ (static_cast<uint32_t>(y / 3) * 19349663u) ^
                     (static_cast<uint32_t>(c + 1) * 83492791u) ^ seed;
        k ^= k >> 13;
        k *= 0x5bd1e995u;
        k ^= k >> 15;
        const double v = 128 + 55 * (sx[x] * cy[y] + cx[x] * sy[y]) + 35 * (cx2[x] * cy2[y] - sx2[x] * sy2[y]) +
                         static_cast<int>(k % 41) - 20 + (((x / 29 + y / 23 + c) % 3 == 0) ? 30 : 0);
        px[(static_cast<size_t>(y) * w + x) * ch + c] = static_cast<uint8_t>(std::clamp(v, 0.0, 255.0));
      }
    }
  }
  return px;
}

struct JpegConfig {
  const char* name;
  int components;  // 1 grey, 3 YCbCr, 4 CMYK
  int h_samp, v_samp;  // luma sampling factors (chroma 1x1)
  bool progressive;
  int restart_rows;
  // A progressive scan script that never completes the coefficients: libjpeg then smooths blocks
  // with their neighbours' DC values (block smoothing), which reaches across a cropped edge.
  bool incomplete_scans = false;
  bool arithmetic = false;  // arithmetic instead of Huffman entropy coding
};

// Encodes with libjpeg's compressor into memory (libjpeg's default error handler exits: the encoder
// never fails on these inputs).
std::vector<uint8_t> encode_jpeg(const std::vector<uint8_t>& px, int w, int h, const JpegConfig& cfg, int quality) {
  jpeg_compress_struct c;
  jpeg_error_mgr err;
  c.err = jpeg_std_error(&err);
  jpeg_create_compress(&c);
  unsigned char* buf = nullptr;
  unsigned long size = 0;
  jpeg_mem_dest(&c, &buf, &size);
  c.image_width = static_cast<JDIMENSION>(w);
  c.image_height = static_cast<JDIMENSION>(h);
  c.input_components = cfg.components;
  c.in_color_space = cfg.components == 1 ? JCS_GRAYSCALE : cfg.components == 3 ? JCS_RGB : JCS_CMYK;
  jpeg_set_defaults(&c);
  jpeg_set_quality(&c, quality, TRUE);
  if (cfg.components == 3) {
    c.comp_info[0].h_samp_factor = cfg.h_samp;
    c.comp_info[0].v_samp_factor = cfg.v_samp;
    for (int i = 1; i < 3; ++i) c.comp_info[i].h_samp_factor = c.comp_info[i].v_samp_factor = 1;
  }
  if (cfg.progressive) jpeg_simple_progression(&c);
  // Coarse DC (Al = 1, never refined), a few luma AC bands, coarse chroma AC: valid, and incomplete.
  static jpeg_scan_info incomplete3[] = {{3, {0, 1, 2, 0}, 0, 0, 0, 1},
                                         {1, {0, 0, 0, 0}, 1, 5, 0, 0},
                                         {1, {1, 0, 0, 0}, 1, 63, 0, 2},
                                         {1, {2, 0, 0, 0}, 1, 2, 0, 0}};
  static jpeg_scan_info incomplete1[] = {{1, {0, 0, 0, 0}, 0, 0, 0, 1}, {1, {0, 0, 0, 0}, 1, 3, 0, 1}};
  if (cfg.incomplete_scans) {
    c.scan_info = cfg.components == 1 ? incomplete1 : incomplete3;
    c.num_scans = cfg.components == 1 ? 2 : 4;
  }
  c.restart_in_rows = cfg.restart_rows;
  c.arith_code = cfg.arithmetic ? TRUE : FALSE;
  jpeg_start_compress(&c, TRUE);
  const size_t stride = static_cast<size_t>(w) * cfg.components;
  while (c.next_scanline < c.image_height) {
    JSAMPROW row = const_cast<uint8_t*>(px.data()) + c.next_scanline * stride;
    jpeg_write_scanlines(&c, &row, 1);
  }
  jpeg_finish_compress(&c);
  std::vector<uint8_t> out(buf, buf + size);
  std::free(buf);
  jpeg_destroy_compress(&c);
  return out;
}

// PNG through libpng's writer (defined below): filters < 0 and idat_size 0 keep libpng's defaults.
std::vector<uint8_t> encode_png_with(const std::vector<uint8_t>& px, int w, int h, int color_type, int ch, int filters,
                                     size_t idat_size, const std::vector<uint8_t>& palette = {}, bool interlaced = false);

// PNG with libpng's default filters, optionally Adam7-interlaced.
std::vector<uint8_t> encode_png(const std::vector<uint8_t>& px, int w, int h, int color_type, int ch, bool interlaced) {
  return encode_png_with(px, w, h, color_type, ch, -1, 0, {}, interlaced);
}

// 224 and 336, bicubic and bilinear, shortest side; squash (which reads the whole image) twice.
std::vector<clipzs::PreprocessSpec> part_specs() {
  std::vector<clipzs::PreprocessSpec> specs;
  for (int n : {224, 336})
    for (auto f : {Interpolation::kBicubic, Interpolation::kBilinear}) {
      clipzs::PreprocessSpec s;
      s.size = n;
      s.interpolation = f;
      specs.push_back(s);
      if ((n == 224) == (f == Interpolation::kBicubic)) {
        s.resize_mode = clipzs::ResizeMode::kSquash;
        specs.push_back(s);
      }
    }
  return specs;
}

std::string spec_name(const clipzs::PreprocessSpec& s) {
  return std::to_string(s.size) + " " + clipzs::interpolation_name(s.interpolation) + " " +
         clipzs::resize_mode_name(s.resize_mode);
}

// Counts of what the comparisons exercised.
struct PartStats {
  int compared = 0, cropped_columns = 0, skipped_top = 0, stopped_early = 0;
};

// The partial path against the full one for one encoded file: the held part's exact pixels equal the
// full decode's, and preprocess_part equals preprocess(decode_image) for every spec.
void expect_part_matches_full(const std::vector<uint8_t>& file, const std::string& name,
                              const std::vector<clipzs::PreprocessSpec>& specs, PartStats& stats,
                              const clipzs::DecodeOptions& options = {}) {
  const DecodedImage full = clipzs::decode_image_bytes(file.data(), file.size(), name, options);
  const int ch = full.channels();
  for (const auto& spec : specs) {
    SCOPED_TRACE(name + " @ " + spec_name(spec));
    const DecodedPart part = clipzs::image_detail::decode_image_part_bytes(file.data(), file.size(), name, options, spec);
    ASSERT_EQ(part.full_width, full.width);
    ASSERT_EQ(part.full_height, full.height);
    ASSERT_EQ(part.image.mode, full.mode);
    ASSERT_EQ(part.image.format, full.format);
    ASSERT_EQ(part.image.palette, full.palette);
    const auto& e = part.exact;
    ASSERT_FALSE(e.empty());
    ASSERT_GE(e.x0, part.x0);
    ASSERT_GE(e.y0, part.y0);
    ASSERT_LE(e.x1, part.x0 + part.image.width);
    ASSERT_LE(e.y1, part.y0 + part.image.height);
    // It covers what preprocessing reads.
    const auto need = clipzs::image_detail::preprocess_source_rect(full.width, full.height, full.mode, spec);
    ASSERT_TRUE(need.x0 >= e.x0 && need.y0 >= e.y0 && need.x1 <= e.x1 && need.y1 <= e.y1);
    size_t wrong = 0;
    for (int y = e.y0; y < e.y1; ++y) {
      const uint8_t* a = &part.image.pixels[(static_cast<size_t>(y - part.y0) * part.image.width + (e.x0 - part.x0)) * ch];
      const uint8_t* b = &full.pixels[(static_cast<size_t>(y) * full.width + e.x0) * ch];
      wrong += std::memcmp(a, b, static_cast<size_t>(e.x1 - e.x0) * ch) != 0;
    }
    EXPECT_EQ(wrong, 0u) << "rows of the exact rectangle that differ from the full decode";
    const Image8 expect = clipzs::preprocess(full, spec);
    const Image8 got = clipzs::image_detail::preprocess_part(part, spec);
    EXPECT_TRUE(got.pixels == expect.pixels);
    if (&spec == &specs.front()) {
      const Image8 one_call = clipzs::image_detail::decode_and_preprocess_bytes(file.data(), file.size(), name, spec, options);
      EXPECT_TRUE(one_call.pixels == expect.pixels);
    }
    ++stats.compared;
    stats.cropped_columns += part.image.width < full.width;
    stats.skipped_top += part.y0 > 0;
    stats.stopped_early += part.y0 + part.image.height < full.height;
  }
}

// decode_and_preprocess_bytes fails exactly when decode_image_bytes does, with an input error.
void expect_same_failure(const std::vector<uint8_t>& file, const std::string& name, int& failures) {
  clipzs::PreprocessSpec spec;
  bool full_failed = false, part_failed = false;
  std::string full_what, part_what;
  try {
    clipzs::decode_image_bytes(file.data(), file.size(), name);
  } catch (const Error& e) {
    full_failed = true;
    full_what = e.what();
    EXPECT_EQ(e.kind(), ErrorKind::kInput);
  }
  try {
    clipzs::image_detail::decode_and_preprocess_bytes(file.data(), file.size(), name, spec);
  } catch (const Error& e) {
    part_failed = true;
    part_what = e.what();
    EXPECT_EQ(e.kind(), ErrorKind::kInput);
  }
  EXPECT_EQ(part_failed, full_failed) << name << ": full decode says '" << full_what << "', partial says '" << part_what << "'";
  if (full_failed && part_failed) EXPECT_EQ(part_what, full_what);
  failures += full_failed;
}

}  // namespace

TEST(ImagePreprocessPart, SyntheticJpegsMatchFullDecode) {
  const JpegConfig configs[] = {
      {"420", 3, 2, 2, false, 0},       {"422", 3, 2, 1, false, 0},      {"440", 3, 1, 2, false, 0},
      {"444", 3, 1, 1, false, 0},       {"411", 3, 4, 1, false, 0},      {"grey", 1, 1, 1, false, 0},
      {"420-prog", 3, 2, 2, true, 0},   {"444-prog", 3, 1, 1, true, 0},  {"422-prog", 3, 2, 1, true, 0},
      {"grey-prog", 1, 1, 1, true, 0},  {"cmyk", 4, 1, 1, false, 0},     {"420-restart", 3, 2, 2, false, 1},
      {"420-smooth", 3, 2, 2, false, 0, true}, {"444-smooth", 3, 1, 1, false, 0, true},
      {"grey-smooth", 1, 1, 1, false, 0, true}, {"420-arith", 3, 2, 2, false, 0, false, true},
      {"444-arith-prog", 3, 1, 1, true, 0, false, true},
  };
  const std::pair<int, int> sizes[] = {{9, 7},     {50, 300},  {300, 50},  {333, 250}, {251, 333},
                                       {451, 300}, {427, 640}, {641, 427}, {799, 501}, {417, 903},
                                       {903, 417}};
  const std::vector<clipzs::PreprocessSpec> specs = part_specs();
  PartStats stats;
  int files = 0;
  uint32_t seed = 1;
  for (const auto& cfg : configs) {
    for (auto [w, h] : sizes) {
      const std::vector<uint8_t> px = texture(w, h, cfg.components, seed++);
      const std::vector<uint8_t> jpeg = encode_jpeg(px, w, h, cfg, 70 + static_cast<int>(seed % 4) * 8);
      expect_part_matches_full(jpeg, std::string(cfg.name) + "-" + std::to_string(w) + "x" + std::to_string(h) + ".jpg",
                               specs, stats);
      ++files;
    }
  }
  std::cout << "[ part     ] " << files << " JPEGs, " << stats.compared << " decode+preprocess comparisons; "
            << stats.cropped_columns << " with cropped columns, " << stats.skipped_top << " skipping rows above, "
            << stats.stopped_early << " stopping before the last row\n";
  EXPECT_EQ(files, 17 * 11);
  EXPECT_GT(stats.cropped_columns, 100);
  EXPECT_GT(stats.skipped_top, 50);
  EXPECT_GT(stats.stopped_early, 50);
}

TEST(ImagePreprocessPart, OtherFiltersAndExifOrientation) {
  std::vector<clipzs::PreprocessSpec> specs;
  for (auto f : {Interpolation::kNearest, Interpolation::kLanczos, Interpolation::kBox, Interpolation::kHamming}) {
    clipzs::PreprocessSpec s;
    s.size = 224;
    s.interpolation = f;
    specs.push_back(s);
  }
  PartStats stats;
  const JpegConfig cfg{"420", 3, 2, 2, false, 0};
  for (auto [w, h] : {std::pair{700, 400}, std::pair{400, 700}, std::pair{224, 300}, std::pair{100, 90}}) {
    const std::vector<uint8_t> jpeg = encode_jpeg(texture(w, h, 3, 99), w, h, cfg, 85);
    expect_part_matches_full(jpeg, "f-" + std::to_string(w) + "x" + std::to_string(h) + ".jpg", specs, stats);
    // EXIF orientation, applied or not: 6 (rotation) forces a whole decode, 1 keeps the partial one.
    for (int orientation : {1, 6}) {
      const std::vector<uint8_t> with = with_exif_orientation(jpeg, orientation);
      for (bool apply : {false, true}) {
        clipzs::DecodeOptions opt;
        opt.apply_exif_orientation = apply;
        expect_part_matches_full(with, "exif" + std::to_string(orientation) + (apply ? "-applied" : "") + ".jpg",
                                 part_specs(), stats, opt);
      }
    }
  }
  EXPECT_GT(stats.cropped_columns, 10);
}

TEST(ImagePreprocessPart, PngKeepsOnlyNeededRows) {
  PartStats stats;
  const std::vector<clipzs::PreprocessSpec> specs = part_specs();
  struct Kind {
    int color_type, ch;
  };
  for (const Kind k : {Kind{PNG_COLOR_TYPE_RGB, 3}, Kind{PNG_COLOR_TYPE_RGBA, 4}, Kind{PNG_COLOR_TYPE_GRAY, 1},
                       Kind{PNG_COLOR_TYPE_GRAY_ALPHA, 2}}) {
    for (auto [w, h] : {std::pair{300, 520}, std::pair{520, 300}, std::pair{77, 401}}) {
      for (bool interlaced : {false, true}) {
        const std::vector<uint8_t> png = encode_png(texture(w, h, k.ch, 7), w, h, k.color_type, k.ch, interlaced);
        expect_part_matches_full(png, "t" + std::to_string(k.color_type) + (interlaced ? "-i-" : "-") + std::to_string(w) + "x" + std::to_string(h) + ".png", specs, stats);
      }
    }
  }
  // Palette and 1-bit images (nearest-neighbour resize).
  std::vector<std::vector<uint8_t>> idx_rows, bit_rows;
  for (int y = 0; y < 90; ++y) {
    std::vector<uint8_t> r, b;
    for (int x = 0; x < 40; ++x) r.push_back(static_cast<uint8_t>((x * 7 + y * 3) % 3));
    for (int x = 0; x < 5; ++x) b.push_back(static_cast<uint8_t>(x * 37 + y * 11));
    idx_rows.push_back(r);
    bit_rows.push_back(b);
  }
  const std::vector<uint8_t> pal = make_png(40, 90, 8, 3, idx_rows, {{"PLTE", {10, 20, 30, 40, 50, 60, 70, 80, 90}}});
  expect_part_matches_full(pal, "palette.png", specs, stats);
  const std::vector<uint8_t> bits = make_png(40, 90, 1, 0, bit_rows);
  expect_part_matches_full(bits, "bits.png", specs, stats);
  std::cout << "[ part     ] " << stats.compared << " PNG comparisons, " << stats.skipped_top << " holding rows below the top, "
            << stats.stopped_early << " holding rows above the bottom\n";
  EXPECT_GT(stats.skipped_top, 10);
}

TEST(ImagePreprocessPart, ReferenceImagesMatchFullDecodeAndPil) {
  SKIP_WITHOUT_REFERENCE();
  const nlohmann::json manifest = nlohmann::json::parse(read_bytes(kPreprocessDir / "manifest.json"));
  PartStats stats;
  int checked = 0;
  for (const auto& entry : manifest.at("images")) {
    if (!entry.contains("outputs")) continue;
    const std::string file = entry.at("file");
    const std::string path = (kPreprocessDir / "images" / file).string();
    expect_part_matches_full(read_bytes(path), file, part_specs(), stats);
    for (int n : {224, 336}) {
      const NpyU8 expected = read_npy_u8(kPreprocessDir / "expected" / entry.at("outputs").at(std::to_string(n)).get<std::string>());
      clipzs::PreprocessSpec spec;
      spec.size = n;
      EXPECT_TRUE(clipzs::image_detail::decode_and_preprocess(path, spec).pixels == expected.data) << file << " at " << n;
    }
    ++checked;
  }
  EXPECT_GE(checked, 20);
  std::cout << "[ part     ] " << checked << " reference images, " << stats.cropped_columns << " of "
            << stats.compared << " decodes with cropped columns\n";
}

// PIL decodes every row, so a file damaged below the rows preprocessing needs still fails; the partial
// path must fail the same way, and succeed where the full decode succeeds.
TEST(ImagePreprocessPart, TruncationBelowTheNeededRowsStillFails) {
  int failures = 0, cases = 0;
  for (const JpegConfig& cfg : {JpegConfig{"420", 3, 2, 2, false, 0}, JpegConfig{"444-prog", 3, 1, 1, true, 0},
                                JpegConfig{"grey", 1, 1, 1, false, 0}, JpegConfig{"422-arith", 3, 2, 1, false, 0, false, true}}) {
    // Portrait: preprocessing needs the middle rows only.
    const std::vector<uint8_t> jpeg = encode_jpeg(texture(427, 900, cfg.components, 5), 427, 900, cfg, 90);
    for (double keep : {0.1, 0.3, 0.5, 0.7, 0.8, 0.9, 0.95, 0.99}) {
      std::vector<uint8_t> cut(jpeg.begin(), jpeg.begin() + static_cast<ptrdiff_t>(jpeg.size() * keep));
      expect_same_failure(cut, std::string(cfg.name) + "-cut" + std::to_string(keep) + ".jpg", failures);
      ++cases;
    }
    for (size_t drop : {1, 2, 3, 4, 8, 16, 64}) {
      std::vector<uint8_t> cut(jpeg.begin(), jpeg.end() - static_cast<ptrdiff_t>(drop));
      expect_same_failure(cut, std::string(cfg.name) + "-drop" + std::to_string(drop) + ".jpg", failures);
      ++cases;
    }
    expect_same_failure(jpeg, std::string(cfg.name) + "-whole.jpg", failures);
    ++cases;
  }
  // PNG cut inside IDAT, in the rows below the needed ones.
  const std::vector<uint8_t> png = encode_png(texture(300, 900, 3, 3), 300, 900, PNG_COLOR_TYPE_RGB, 3, false);
  for (double keep : {0.5, 0.8, 0.9, 0.99}) {
    std::vector<uint8_t> cut(png.begin(), png.begin() + static_cast<ptrdiff_t>(png.size() * keep));
    expect_same_failure(cut, "cut" + std::to_string(keep) + ".png", failures);
    ++cases;
  }
  std::cout << "[ part     ] " << cases << " damaged/whole files, " << failures << " of them rejected by both paths\n";
  EXPECT_GT(failures, 20);
  if (fs::exists(kPreprocessDir / "images" / "truncated.jpg")) {
    const std::string path = (kPreprocessDir / "images" / "truncated.jpg").string();
    std::string what;
    EXPECT_EQ(kind_of([&] { clipzs::image_detail::decode_and_preprocess(path, clipzs::PreprocessSpec{}); }, &what),
              ErrorKind::kInput);
    EXPECT_NE(what.find("truncated"), std::string::npos) << what;
  }
}

// ------------------------------------------------------------ resampling kernels vs plain reference

namespace {

// PIL 9.4's ImagingResample written as plainly as possible (no SIMD, no windows), to check the
// vectorised kernels: same filters, same coefficient rounding, horizontal pass into an 8-bit
// intermediate, then vertical.
double ref_filter(Interpolation f, double x) {
  const double pi = 3.14159265358979323846;
  auto sinc = [&](double v) { return v == 0.0 ? 1.0 : std::sin(v * pi) / (v * pi); };
  switch (f) {
    case Interpolation::kBox: return (x > -0.5 && x <= 0.5) ? 1.0 : 0.0;
    case Interpolation::kBilinear: x = std::fabs(x); return x < 1.0 ? 1.0 - x : 0.0;
    case Interpolation::kHamming:
      x = std::fabs(x);
      if (x == 0.0) return 1.0;
      if (x >= 1.0) return 0.0;
      return std::sin(x * pi) / (x * pi) * (static_cast<double>(0.54f) + static_cast<double>(0.46f) * std::cos(x * pi));
    case Interpolation::kBicubic:
      x = std::fabs(x);
      if (x < 1.0) return ((-0.5 + 2.0) * x - (-0.5 + 3.0)) * x * x + 1;
      if (x < 2.0) return (((x - 5) * x + 8) * x - 4) * -0.5;
      return 0.0;
    case Interpolation::kLanczos: return (-3.0 <= x && x < 3.0) ? sinc(x) * sinc(x / 3) : 0.0;
    default: return 0.0;
  }
}

double ref_support(Interpolation f) {
  switch (f) {
    case Interpolation::kBox: return 0.5;
    case Interpolation::kBicubic: return 2.0;
    case Interpolation::kLanczos: return 3.0;
    default: return 1.0;
  }
}

// One pass along an axis: `count` lines of `in_size` samples (`step` bytes apart within a line,
// `line` bytes between lines), ch channels.
void ref_pass(const uint8_t* in, int in_size, uint8_t* out, int out_size, int count, size_t in_step, size_t in_line,
              size_t out_step, size_t out_line, int ch, Interpolation f) {
  const double scale = static_cast<double>(static_cast<float>(in_size)) / out_size;
  const double fs = scale < 1.0 ? 1.0 : scale;
  const double support = ref_support(f) * fs;
  for (int o = 0; o < out_size; ++o) {
    const double center = (o + 0.5) * scale;
    const int lo = std::max(0, static_cast<int>(center - support + 0.5));
    const int hi = std::min(in_size, static_cast<int>(center + support + 0.5));
    std::vector<double> w;
    double sum = 0;
    for (int t = lo; t < hi; ++t) {
      w.push_back(ref_filter(f, (t - center + 0.5) / fs));
      sum += w.back();
    }
    std::vector<int64_t> k;
    for (double v : w) {
      const double n = sum != 0.0 ? v / sum : v;
      k.push_back(static_cast<int64_t>(n < 0 ? -0.5 + n * (1 << 22) : 0.5 + n * (1 << 22)));
    }
    for (int l = 0; l < count; ++l) {
      for (int c = 0; c < ch; ++c) {
        int64_t acc = 1 << 21;
        for (size_t t = 0; t < k.size(); ++t) acc += in[l * in_line + (lo + t) * in_step + c] * k[t];
        const int64_t v = acc >> 22;  // floor, as PIL's arithmetic shift
        out[l * out_line + o * out_step + c] = static_cast<uint8_t>(v < 0 ? 0 : v > 255 ? 255 : v);
      }
    }
  }
}

std::vector<uint8_t> ref_resample(const std::vector<uint8_t>& src, int w, int h, int ch, int ow, int oh, Interpolation f) {
  std::vector<uint8_t> tmp(static_cast<size_t>(ow) * h * ch);
  if (ow != w) {
    ref_pass(src.data(), w, tmp.data(), ow, h, ch, static_cast<size_t>(w) * ch, ch, static_cast<size_t>(ow) * ch, ch, f);
  } else {
    tmp = src;
  }
  std::vector<uint8_t> out(static_cast<size_t>(ow) * oh * ch);
  if (oh != h) {
    ref_pass(tmp.data(), h, out.data(), oh, ow, static_cast<size_t>(ow) * ch, ch, static_cast<size_t>(ow) * ch, ch, ch, f);
  } else {
    out = tmp;
  }
  return out;
}

}  // namespace

TEST(ImageResize, SimdKernelsMatchPlainReference) {
  uint32_t state = 12345;
  auto rnd = [&](int n) {
    state = state * 1664525u + 1013904223u;
    return static_cast<int>((state >> 8) % static_cast<uint32_t>(n));
  };
  int cases = 0;
  for (int round = 0; round < 60; ++round) {
    const int ch = 1 + round % 4;
    const int w = 1 + rnd(round < 30 ? 40 : 700), h = 1 + rnd(round < 30 ? 40 : 300);
    // Downscales up to ~12x (dozens of taps), upscales, and unchanged axes.
    const int ow = std::max(1, round % 5 == 0 ? w : w * (4 + rnd(40)) / 48 + rnd(3));
    const int oh = std::max(1, round % 7 == 0 ? h : h * (4 + rnd(40)) / 48 + rnd(3));
    std::vector<uint8_t> src(static_cast<size_t>(w) * h * ch);
    for (auto& v : src) v = static_cast<uint8_t>(rnd(2) ? rnd(256) : (rnd(2) ? 0 : 255));  // extremes test clipping
    for (auto f : {Interpolation::kBicubic, Interpolation::kBilinear, Interpolation::kLanczos, Interpolation::kBox,
                   Interpolation::kHamming}) {
      SCOPED_TRACE(std::to_string(w) + "x" + std::to_string(h) + "x" + std::to_string(ch) + " -> " +
                   std::to_string(ow) + "x" + std::to_string(oh) + " " + clipzs::interpolation_name(f));
      const std::vector<uint8_t> expect = ref_resample(src, w, h, ch, ow, oh, f);
      std::vector<uint8_t> got(expect.size());
      clipzs::image_detail::resample_window(src.data(), w, h, ch, ow, oh, f, 0, 0, ow, oh, got.data(),
                                            static_cast<size_t>(ow) * ch);
      ASSERT_TRUE(got == expect);
      // A window, from a view holding just the source pixels it reads (in a tight buffer, so the
      // kernels' read-ahead meets the buffer's end).
      const int wx = rnd(ow), wy = rnd(oh), ww = 1 + rnd(ow - wx), wh = 1 + rnd(oh - wy);
      const auto r = clipzs::image_detail::resample_source_rect(w, h, ow, oh, f, wx, wy, ww, wh);
      ASSERT_FALSE(r.empty());
      std::vector<uint8_t> part;
      for (int y = r.y0; y < r.y1; ++y)
        part.insert(part.end(), src.begin() + (static_cast<size_t>(y) * w + r.x0) * ch,
                    src.begin() + (static_cast<size_t>(y) * w + r.x1) * ch);
      clipzs::image_detail::SourceView view;
      view.data = part.data();
      view.stride = static_cast<size_t>(r.x1 - r.x0) * ch;
      view.x0 = r.x0;
      view.y0 = r.y0;
      view.width = r.x1 - r.x0;
      view.height = r.y1 - r.y0;
      std::vector<uint8_t> win(static_cast<size_t>(ww) * wh * ch);
      clipzs::image_detail::resample_window(view, w, h, ch, ow, oh, f, wx, wy, ww, wh, win.data(),
                                            static_cast<size_t>(ww) * ch);
      for (int y = 0; y < wh; ++y)
        ASSERT_EQ(0, std::memcmp(&win[static_cast<size_t>(y) * ww * ch],
                                 &expect[(static_cast<size_t>(wy + y) * ow + wx) * ch], static_cast<size_t>(ww) * ch))
            << "window row " << y;
      // A view that misses a column the window reads is refused.
      if (r.x1 - r.x0 > 1) {
        view.width -= 1;
        EXPECT_EQ(kind_of([&] {
                    clipzs::image_detail::resample_window(view, w, h, ch, ow, oh, f, wx, wy, ww, wh, win.data(),
                                                          static_cast<size_t>(ww) * ch);
                  }),
                  ErrorKind::kInternal);
      }
      ++cases;
    }
  }
  EXPECT_EQ(cases, 300);
}

// ------------------------------------------------------------- PNG image data without libpng rows

namespace {

// libpng's writer with a chosen filter and IDAT chunk size (small chunks: many chunk boundaries).
std::vector<uint8_t> encode_png_with(const std::vector<uint8_t>& px, int w, int h, int color_type, int ch, int filters,
                                     size_t idat_size, const std::vector<uint8_t>& palette, bool interlaced) {
  std::vector<uint8_t> out;
  png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, nullptr, nullptr, nullptr);
  png_infop info = png_create_info_struct(png);
  if (setjmp(png_jmpbuf(png))) {
    png_destroy_write_struct(&png, &info);
    ADD_FAILURE() << "libpng write failed";
    return {};
  }
  png_set_write_fn(
      png, &out,
      [](png_structp p, png_bytep data, size_t n) {
        auto* v = static_cast<std::vector<uint8_t>*>(png_get_io_ptr(p));
        v->insert(v->end(), data, data + n);
      },
      nullptr);
  png_set_IHDR(png, info, w, h, 8, color_type, interlaced ? PNG_INTERLACE_ADAM7 : PNG_INTERLACE_NONE,
               PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
  if (!palette.empty()) {
    std::vector<png_color> pal;
    for (size_t i = 0; i + 2 < palette.size(); i += 3) pal.push_back({palette[i], palette[i + 1], palette[i + 2]});
    png_set_PLTE(png, info, pal.data(), static_cast<int>(pal.size()));
  }
  if (filters >= 0) png_set_filter(png, 0, filters);
  if (idat_size > 0) png_set_compression_buffer_size(png, idat_size);
  png_write_info(png, info);
  std::vector<png_bytep> rows(h);
  for (int y = 0; y < h; ++y) rows[y] = const_cast<uint8_t*>(px.data()) + static_cast<size_t>(y) * w * ch;
  png_write_image(png, rows.data());
  png_write_end(png, info);
  png_destroy_write_struct(&png, &info);
  return out;
}

struct PngOutcome {
  bool ok = false;
  std::string what;
  std::vector<uint8_t> pixels;
};

PngOutcome outcome(const std::function<DecodedImage()>& f) {
  PngOutcome o;
  try {
    o.pixels = f().pixels;
    o.ok = true;
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kInput);
    o.what = e.what();
  }
  return o;
}

// Rewrites the CRC of the chunk that starts at `pos` (its length field).
void fix_crc(std::vector<uint8_t>& png, size_t pos) {
  const uint32_t len = (static_cast<uint32_t>(png[pos]) << 24) | (png[pos + 1] << 16) | (png[pos + 2] << 8) | png[pos + 3];
  if (pos + 12 + len > png.size()) return;
  const uint32_t crc = crc32_of(&png[pos + 4], 4 + len);
  for (int k = 0; k < 4; ++k) png[pos + 8 + len + k] = static_cast<uint8_t>(crc >> (24 - 8 * k));
}

// Offsets of the chunks (their length fields).
std::vector<size_t> chunk_offsets(const std::vector<uint8_t>& png) {
  std::vector<size_t> at;
  size_t pos = 8;
  while (pos + 12 <= png.size()) {
    at.push_back(pos);
    const uint32_t len = (static_cast<uint32_t>(png[pos]) << 24) | (png[pos + 1] << 16) | (png[pos + 2] << 8) | png[pos + 3];
    pos += 12 + static_cast<size_t>(len);
  }
  return at;
}

}  // namespace

TEST(ImageDecode, PngImageDataReadLikeLibpng) {
  struct Base {
    std::string name;
    std::vector<uint8_t> png;
  };
  std::vector<Base> bases;
  const int filter_sets[] = {PNG_FILTER_NONE, PNG_FILTER_SUB, PNG_FILTER_UP, PNG_FILTER_AVG, PNG_FILTER_PAETH, PNG_ALL_FILTERS};
  const struct {
    int type, ch;
  } kinds[] = {{PNG_COLOR_TYPE_GRAY, 1}, {PNG_COLOR_TYPE_GRAY_ALPHA, 2}, {PNG_COLOR_TYPE_RGB, 3}, {PNG_COLOR_TYPE_RGBA, 4}};
  int n = 0;
  for (const auto& k : kinds) {
    for (int f : filter_sets) {
      const int w = 23 + 7 * (n % 5), h = 17 + 5 * (n % 3);
      const size_t idat = (n % 3 == 0) ? 8192 : (n % 3 == 1 ? 97 : 1000);
      bases.push_back({"t" + std::to_string(k.type) + "-f" + std::to_string(f) + "-" + std::to_string(w) + "x" + std::to_string(h),
                       encode_png_with(texture(w, h, k.ch, 11 + n), w, h, k.type, k.ch, f, idat)});
      ++n;
    }
  }
  std::vector<uint8_t> idx(31 * 19);
  for (size_t i = 0; i < idx.size(); ++i) idx[i] = static_cast<uint8_t>((i * 7) % 5);
  bases.push_back({"palette", encode_png_with(idx, 31, 19, PNG_COLOR_TYPE_PALETTE, 1, PNG_ALL_FILTERS, 64,
                                              {0, 0, 0, 255, 0, 0, 0, 255, 0, 0, 0, 255, 9, 9, 9})});
  // A large photo-like image with Paeth rows, in one big IDAT and in many small ones.
  bases.push_back({"big", encode_png_with(texture(700, 90, 3, 5), 700, 90, PNG_COLOR_TYPE_RGB, 3, PNG_ALL_FILTERS, 8192)});
  bases.push_back({"big-small-idats", encode_png_with(texture(700, 90, 3, 5), 700, 90, PNG_COLOR_TYPE_RGB, 3, PNG_FILTER_PAETH, 300)});

  uint32_t state = 777;
  auto rnd = [&](size_t m) {
    state = state * 1664525u + 1013904223u;
    return static_cast<size_t>((state >> 4) % static_cast<uint32_t>(m));
  };
  int cases = 0, both_fail = 0, same_message = 0;
  auto compare = [&](const std::vector<uint8_t>& file, const std::string& label) {
    const PngOutcome ours = outcome([&] { return clipzs::decode_image_bytes(file.data(), file.size(), "x.png"); });
    const PngOutcome ref = outcome([&] { return clipzs::image_detail::decode_png_with_libpng_rows(file.data(), file.size(), "x.png"); });
    ++cases;
    ASSERT_EQ(ours.ok, ref.ok) << label << ": ours '" << ours.what << "', libpng '" << ref.what << "'";
    if (ours.ok) {
      ASSERT_TRUE(ours.pixels == ref.pixels) << label;
    } else {
      ++both_fail;
      same_message += ours.what == ref.what;
      if (ref.what.find("invalid chunk type") == std::string::npos) EXPECT_EQ(ours.what, ref.what) << label;
    }
  };
  for (const Base& b : bases) {
    compare(b.png, b.name);
    const std::vector<size_t> chunks = chunk_offsets(b.png);
    // Truncations: everywhere near the end, and spread over the file.
    for (size_t cut = 1; cut <= 64 && cut < b.png.size(); ++cut)
      compare(std::vector<uint8_t>(b.png.begin(), b.png.end() - cut), b.name + " cut " + std::to_string(cut));
    for (int t = 0; t < 24; ++t) {
      const size_t keep = 33 + rnd(b.png.size() - 33);
      compare(std::vector<uint8_t>(b.png.begin(), b.png.begin() + keep), b.name + " keep " + std::to_string(keep));
    }
    // Byte changes anywhere after the header chunks, with the CRC left stale or made to match.
    for (int t = 0; t < 40; ++t) {
      std::vector<uint8_t> m = b.png;
      const size_t at = 33 + rnd(m.size() - 33);
      m[at] ^= static_cast<uint8_t>(1 + rnd(255));
      compare(m, b.name + " flip " + std::to_string(at));
      for (size_t c : chunks) {
        if (at >= c + 4 && at < m.size()) {
          std::vector<uint8_t> fixed = m;
          size_t owner = c;
          for (size_t c2 : chunks)
            if (c2 <= at) owner = c2;
          fix_crc(fixed, owner);
          compare(fixed, b.name + " flip+crc " + std::to_string(at));
          break;
        }
      }
    }
    // Data appended inside the last IDAT (after the zlib stream), and a stray IDAT after it.
    for (size_t c : chunks) {
      if (std::memcmp(&b.png[c + 4], "IEND", 4) != 0) continue;
      std::vector<uint8_t> extra(b.png.begin(), b.png.begin() + c);
      std::vector<uint8_t> body = {'I', 'D', 'A', 'T', 1, 2, 3};
      std::vector<uint8_t> stray;
      put32(stray, 3);
      stray.insert(stray.end(), body.begin(), body.end());
      put32(stray, crc32_of(body.data(), body.size()));
      extra.insert(extra.end(), stray.begin(), stray.end());
      extra.insert(extra.end(), b.png.begin() + c, b.png.end());
      compare(extra, b.name + " stray IDAT");
      // No IEND at all, and garbage after IEND.
      compare(std::vector<uint8_t>(b.png.begin(), b.png.begin() + c), b.name + " no IEND");
      std::vector<uint8_t> tail = b.png;
      tail.insert(tail.end(), {1, 2, 3, 4, 5});
      compare(tail, b.name + " garbage after IEND");
    }
  }
  // The end of the zlib stream cut into chunks at every point near its end, without its Adler-32, and
  // with bytes after it: where libpng's end-of-image handling decides between error and warning.
  for (const Base& b : {bases[2], bases[14], bases.back()}) {
    const std::vector<size_t> chunks = chunk_offsets(b.png);
    std::vector<uint8_t> head, stream;  // everything before the first IDAT; the IDAT data joined
    for (size_t c : chunks) {
      const uint32_t len = (static_cast<uint32_t>(b.png[c]) << 24) | (b.png[c + 1] << 16) | (b.png[c + 2] << 8) | b.png[c + 3];
      if (std::memcmp(&b.png[c + 4], "IDAT", 4) == 0) {
        if (head.empty()) head.assign(b.png.begin(), b.png.begin() + c);
        stream.insert(stream.end(), b.png.begin() + c + 8, b.png.begin() + c + 8 + len);
      }
    }
    auto build = [&](const std::vector<std::vector<uint8_t>>& idats) {
      std::vector<uint8_t> png = head;
      for (const auto& d : idats) chunk(png, "IDAT", d);
      chunk(png, "IEND", {});
      return png;
    };
    for (size_t back = 0; back <= 24 && back < stream.size(); ++back) {
      const size_t k = stream.size() - back;
      const std::vector<uint8_t> first(stream.begin(), stream.begin() + k), rest(stream.begin() + k, stream.end());
      compare(build({first, rest}), b.name + " split " + std::to_string(back) + " from the end");
      compare(build({first, {}, rest}), b.name + " split+empty " + std::to_string(back));
      compare(build({first}), b.name + " stream without its last " + std::to_string(back) + " bytes");
      std::vector<uint8_t> more = stream;
      more.insert(more.end(), back + 1, static_cast<uint8_t>(back * 37));
      compare(build({more}), b.name + " " + std::to_string(back + 1) + " bytes after the stream");
      compare(build({first, std::vector<uint8_t>(rest.begin(), rest.end()), {1, 2, 3}}), b.name + " extra IDAT " + std::to_string(back));
    }
    // libpng feeds zlib 8192 bytes of a chunk at a time: whether the Adler-32 arrives with the last
    // row's data (a bad one is fatal) or only when looking for the end (a warning) depends on it.
    for (size_t t = 0; t <= 12 && stream.size() > 8192 + 12; ++t) {
      const size_t k = stream.size() - 8192 - t;
      std::vector<uint8_t> bad = stream;
      bad.back() ^= 0x5a;
      for (const auto* s2 : {&stream, &bad}) {
        const std::vector<uint8_t> first(s2->begin(), s2->begin() + k), rest(s2->begin() + k, s2->end());
        compare(build({first, rest}), b.name + " 8192-piece boundary " + std::to_string(t) + (s2 == &bad ? " bad adler" : ""));
      }
    }
  }
  std::cout << "[ png rows ] " << cases << " files (" << bases.size() << " encodings, truncated, damaged), " << both_fail
            << " rejected by both readers, " << same_message << " of those with the same message\n";
  EXPECT_GT(both_fail, 500);
}

TEST(ImageDecode, PngUnfilterMatchesPlainFormulas) {
  uint32_t state = 99;
  auto rnd = [&]() {
    state = state * 1664525u + 1013904223u;
    return static_cast<uint8_t>(state >> 24);
  };
  for (int bpp = 1; bpp <= 4; ++bpp) {
    for (size_t pixels : {1u, 2u, 5u, 64u, 333u}) {
      const size_t n = pixels * bpp;
      std::vector<uint8_t> raw(n), prev(n), out(n), expect(n);
      for (int filter = 0; filter <= 4; ++filter) {
        for (int round = 0; round < 4; ++round) {
          for (size_t i = 0; i < n; ++i) {
            raw[i] = round == 0 ? 255 : rnd();  // round 0: ties and wrap-around
            prev[i] = round == 1 ? 0 : rnd();
          }
          for (size_t i = 0; i < n; ++i) {
            const int a = i >= static_cast<size_t>(bpp) ? expect[i - bpp] : 0;
            const int b = prev[i];
            const int c = i >= static_cast<size_t>(bpp) ? prev[i - bpp] : 0;
            int pred = 0;
            switch (filter) {
              case 1: pred = a; break;
              case 2: pred = b; break;
              case 3: pred = (a + b) / 2; break;
              case 4: {
                const int p = a + b - c, pa = std::abs(p - a), pb = std::abs(p - b), pc = std::abs(p - c);
                pred = (pa <= pb && pa <= pc) ? a : (pb <= pc ? b : c);
                break;
              }
              default: break;
            }
            expect[i] = static_cast<uint8_t>(raw[i] + pred);
          }
          clipzs::image_detail::png_unfilter_row(filter, raw.data(), prev.data(), out.data(), n, bpp);
          ASSERT_TRUE(out == expect) << "filter " << filter << " bpp " << bpp << " pixels " << pixels;
        }
      }
    }
  }
}
