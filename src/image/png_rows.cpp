// The image data (IDAT) of non-interlaced PNGs with 8-bit samples, read without libpng's row loop.
//
// Why: libpng 1.6 as Debian builds it unfilters with plain C, and its Paeth filter (the one most PNG
// encoders pick) takes a data-dependent branch per byte; on photographic PNGs that is a large part of
// decoding. libpng has no way to plug in other filter code, so this file reads the IDAT stream itself.
//
// It does so the way libpng's sequential reader does (png_read_row / png_read_IDAT_data /
// png_read_finish_IDAT in libpng 1.6.39), so that every file decodes to the same pixels and fails or
// succeeds exactly as before: the same chunk reads (8192-byte input pieces, chunk headers read only
// when the current chunk is used up), the same inflate calls (one call series per row of
// 1 + rowbytes output bytes, then 1024-byte calls to look for the end of the stream), the same checks
// (chunk name, CRC of every IDAT chunk read, filter type) and the same split between fatal
// errors and the ones libpng only warns about (its "benign" errors, which are warnings when reading).
// The unit tests compare it with libpng on intact and damaged files.
#include <png.h>
#include <zlib.h>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "image/image_internal.hpp"

namespace clipzs::image_detail {
namespace {

// libpng's build-time sizes (pnglibconf.h): the input piece per refill, and the output per call when
// looking for the end of the stream. Both decide when errors surface, so they must be libpng's.
constexpr uint32_t kIdatReadSize = PNG_IDAT_READ_SIZE;
constexpr uint32_t kInflateBufSize = PNG_INFLATE_BUF_SIZE;
constexpr uint32_t kUint31Max = 0x7fffffffu;

// A fatal error, with libpng's wording.
struct Failure {
  std::string message;
};

uint32_t be32(const uint8_t* p) {
  return (static_cast<uint32_t>(p[0]) << 24) | (static_cast<uint32_t>(p[1]) << 16) |
         (static_cast<uint32_t>(p[2]) << 8) | p[3];
}

// libpng's wording for a zlib return code without a message of its own.
std::string zlib_message(const z_stream& zs, int ret) {
  if (zs.msg != nullptr) return zs.msg;
  switch (ret) {
    case Z_STREAM_END: return "unexpected end of LZ stream";
    case Z_NEED_DICT: return "missing LZ dictionary";
    case Z_ERRNO: return "zlib IO error";
    case Z_STREAM_ERROR: return "bad parameters to zlib";
    case Z_DATA_ERROR: return "damaged LZ stream";
    case Z_MEM_ERROR: return "insufficient memory";
    case Z_BUF_ERROR: return "truncated";
    case Z_VERSION_ERROR: return "unsupported zlib version";
    default: return "unexpected zlib return code";
  }
}

class IdatReader {
 public:
  IdatReader(const uint8_t* data, size_t size, size_t pos, uint32_t length)
      : d_(data), n_(size), pos_(pos), chunk_left_(length) {
    crc_ = static_cast<uint32_t>(crc32(0L, reinterpret_cast<const Bytef*>("IDAT"), 4));
    std::memset(&zs_, 0, sizeof zs_);
    // Window size from the stream header (libpng passes 0 to inflateInit2 too).
    if (inflateInit2(&zs_, 0) != Z_OK) throw Failure{"IDAT: " + zlib_message(zs_, Z_MEM_ERROR)};
  }
  ~IdatReader() { inflateEnd(&zs_); }
  IdatReader(const IdatReader&) = delete;
  IdatReader& operator=(const IdatReader&) = delete;

  // png_read_IDAT_data with an output buffer: fills out[0, len) or fails.
  void read(uint8_t* out, size_t len) {
    size_t avail_out = len;
    zs_.next_out = out;
    do {
      if (zs_.avail_in == 0) refill();
      zs_.avail_out = static_cast<uInt>(avail_out);  // rows are far below zlib's uInt limit
      avail_out = 0;
      const int ret = inflate_step();
      avail_out += zs_.avail_out;
      zs_.avail_out = 0;
      if (ret == Z_STREAM_END) {
        ended_ = true;  // extra input after the end: a warning in libpng
        break;
      }
      if (ret != Z_OK) throw Failure{"IDAT: " + zlib_message(zs_, ret)};
    } while (avail_out > 0);
    if (avail_out > 0) throw Failure{"Not enough image data"};
  }

  // png_read_finish_IDAT: look for the end of the stream (errors there are warnings, except those of
  // reading chunks), then finish the current chunk and check its CRC.
  void finish() {
    if (!ended_) {
      uint8_t tmp[kInflateBufSize];
      size_t extra = 0;
      do {
        if (zs_.avail_in == 0) refill();
        zs_.next_out = tmp;
        zs_.avail_out = sizeof tmp;
        const int ret = inflate_step();
        extra += sizeof tmp - zs_.avail_out;
        zs_.avail_out = 0;
        if (ret == Z_STREAM_END) {
          ended_ = true;
          break;
        }
        if (ret != Z_OK) break;  // a warning in libpng
      } while (extra > 0);
    }
    finish_chunk(chunk_left_);
  }

 private:
  const uint8_t* take(size_t count) {
    if (n_ - pos_ < count) throw Failure{"image file is truncated"};  // as decode.cpp's read callback
    const uint8_t* p = d_ + pos_;
    pos_ += count;
    return p;
  }

  // png_crc_finish: skip the rest of the chunk, then compare its CRC (critical chunk: fatal).
  void finish_chunk(uint32_t skip) {
    const uint8_t* rest = take(skip);
    crc_ = static_cast<uint32_t>(crc32(crc_, rest, skip));
    chunk_left_ = 0;
    const uint8_t* stored = take(4);
    if (be32(stored) != crc_) throw Failure{"IDAT: CRC error"};
  }

  // The input side of png_read_IDAT_data: move to the next IDAT chunk when this one is used up, then
  // hand zlib the next piece of at most 8192 bytes.
  void refill() {
    while (chunk_left_ == 0) {
      finish_chunk(0);
      const uint8_t* header = take(8);
      const uint32_t length = be32(header);
      if (length > kUint31Max) throw Failure{"PNG unsigned integer out of range"};
      crc_ = static_cast<uint32_t>(crc32(0L, header + 4, 4));
      char name[5] = {static_cast<char>(header[4]), static_cast<char>(header[5]), static_cast<char>(header[6]),
                      static_cast<char>(header[7]), 0};
      for (int i = 4; i < 8; ++i) {
        const int c = header[i];
        if (c < 65 || c > 122 || (c > 90 && c < 97)) throw Failure{std::string(name) + ": invalid chunk type"};
      }
      // (An IDAT length above libpng's size estimate is only a warning there.)
      if (std::memcmp(header + 4, "IDAT", 4) != 0) throw Failure{"Not enough image data"};
      chunk_left_ = length;
    }
    const uint32_t count = std::min(kIdatReadSize, chunk_left_);
    const uint8_t* piece = take(count);
    crc_ = static_cast<uint32_t>(crc32(crc_, piece, count));
    chunk_left_ -= count;
    zs_.next_in = const_cast<Bytef*>(piece);
    zs_.avail_in = count;
  }

  // png_zlib_inflate: libpng refuses a stream header announcing a window above 32K before zlib sees it.
  int inflate_step() {
    if (first_ && zs_.avail_in > 0) {
      if ((*zs_.next_in >> 4) > 7) {
        zs_.msg = const_cast<char*>("invalid window size (libpng)");
        return Z_DATA_ERROR;
      }
      first_ = false;
    }
    return inflate(&zs_, Z_NO_FLUSH);
  }

  const uint8_t* d_;
  size_t n_, pos_;
  uint32_t chunk_left_;
  uint32_t crc_ = 0;
  z_stream zs_;
  bool ended_ = false;
  bool first_ = true;
};

// ------------------------------------------------------------------------------------ unfiltering
// The PNG filters (specification section 9), with the previous reconstructed row `prev` (zeros for
// the first row). The left neighbours of each channel stay in registers, so the per-byte dependency
// goes through arithmetic only, and Paeth's choice is made without branches.

template <int B>
void unfilter_sub(const uint8_t* raw, uint8_t* out, size_t n) {
  unsigned a[B];
  for (int k = 0; k < B; ++k) out[k] = static_cast<uint8_t>(a[k] = raw[k]);
  for (size_t i = B; i < n; i += B)
    for (int k = 0; k < B; ++k) out[i + k] = static_cast<uint8_t>(a[k] = (raw[i + k] + a[k]) & 0xff);
}

void unfilter_up(const uint8_t* raw, const uint8_t* prev, uint8_t* out, size_t n) {
  for (size_t i = 0; i < n; ++i) out[i] = static_cast<uint8_t>(raw[i] + prev[i]);
}

template <int B>
void unfilter_avg(const uint8_t* raw, const uint8_t* prev, uint8_t* out, size_t n) {
  unsigned a[B];
  for (int k = 0; k < B; ++k) out[k] = static_cast<uint8_t>(a[k] = (raw[k] + (prev[k] >> 1)) & 0xff);
  for (size_t i = B; i < n; i += B)
    for (int k = 0; k < B; ++k)
      out[i + k] = static_cast<uint8_t>(a[k] = (raw[i + k] + ((a[k] + prev[i + k]) >> 1)) & 0xff);
}

inline int paeth_predictor(int a, int b, int c) {
  // p = a + b - c; pa = |p - a| = |b - c|, pb = |p - b| = |a - c|, pc = |p - c|; ties prefer a, then b.
  // Selected with masks: a compiler branch here mispredicts on every other byte of a photo.
  const int pa = std::abs(b - c), pb = std::abs(a - c), pc = std::abs(a + b - 2 * c);
  const int take_b = -static_cast<int>(pb <= pc);
  const int take_a = -static_cast<int>((pa <= pb) & (pa <= pc));
  const int bc = c ^ ((b ^ c) & take_b);
  return bc ^ ((a ^ bc) & take_a);
}

template <int B>
void unfilter_paeth(const uint8_t* raw, const uint8_t* prev, uint8_t* out, size_t n) {
  int a[B];
  for (int k = 0; k < B; ++k) out[k] = static_cast<uint8_t>(a[k] = (raw[k] + prev[k]) & 0xff);  // a = c = 0
  for (size_t i = B; i < n; i += B)
    for (int k = 0; k < B; ++k)
      out[i + k] = static_cast<uint8_t>(a[k] = (raw[i + k] + paeth_predictor(a[k], prev[i + k], prev[i - B + k])) & 0xff);
}

#if defined(__SSE2__)
// Paeth for 2..4 bytes per pixel, one pixel per step with the channels in 16-bit lanes (SSE2, part of
// x86-64): the serial dependency is per pixel instead of per byte.
// B bytes into the low 16-bit lanes. Assembled with shifts: a 3-byte memcpy into a word that is then
// read whole defeats store forwarding and costs more than the whole filter step.
template <int B>
inline __m128i load_pixel(const uint8_t* p) {
  uint32_t v = p[0];
  if constexpr (B >= 2) v |= static_cast<uint32_t>(p[1]) << 8;
  if constexpr (B >= 3) v |= static_cast<uint32_t>(p[2]) << 16;
  if constexpr (B >= 4) v |= static_cast<uint32_t>(p[3]) << 24;
  return _mm_unpacklo_epi8(_mm_cvtsi32_si128(static_cast<int>(v)), _mm_setzero_si128());
}

template <int B>
void unfilter_paeth_sse2(const uint8_t* raw, const uint8_t* prev, uint8_t* out, size_t n) {
  const __m128i zero = _mm_setzero_si128(), low = _mm_set1_epi16(0xff);
  auto abs16 = [&](__m128i v) { return _mm_max_epi16(v, _mm_sub_epi16(zero, v)); };
  // First pixel: a = c = 0, so the prediction is b.
  __m128i a = _mm_and_si128(_mm_add_epi16(load_pixel<B>(raw), load_pixel<B>(prev)), low);
  __m128i c = load_pixel<B>(prev);
  auto store = [&](uint8_t* dst, __m128i v) {
    const uint32_t bytes = static_cast<uint32_t>(_mm_cvtsi128_si32(_mm_packus_epi16(v, v)));
    for (int k = 0; k < B; ++k) dst[k] = static_cast<uint8_t>(bytes >> (8 * k));
  };
  store(out, a);
  for (size_t i = B; i < n; i += B) {
    const __m128i b = load_pixel<B>(prev + i);
    const __m128i pa_signed = _mm_sub_epi16(b, c), pb_signed = _mm_sub_epi16(a, c);
    const __m128i pa = abs16(pa_signed), pb = abs16(pb_signed), pc = abs16(_mm_add_epi16(pa_signed, pb_signed));
    // a when pa <= min(pb, pc); otherwise b when pb <= pc, else c.
    const __m128i not_a = _mm_cmpgt_epi16(pa, _mm_min_epi16(pb, pc));
    const __m128i take_c = _mm_cmpgt_epi16(pb, pc);
    const __m128i bc = _mm_or_si128(_mm_and_si128(take_c, c), _mm_andnot_si128(take_c, b));
    const __m128i pred = _mm_or_si128(_mm_and_si128(not_a, bc), _mm_andnot_si128(not_a, a));
    a = _mm_and_si128(_mm_add_epi16(load_pixel<B>(raw + i), pred), low);
    store(out + i, a);
    c = b;
  }
}
#endif

template <int B>
void unfilter(int filter, const uint8_t* raw, const uint8_t* prev, uint8_t* out, size_t n) {
  switch (filter) {
    case 0: std::memcpy(out, raw, n); break;
    case 1: unfilter_sub<B>(raw, out, n); break;
    case 2: unfilter_up(raw, prev, out, n); break;
    case 3: unfilter_avg<B>(raw, prev, out, n); break;
    default:
#if defined(__SSE2__)
      if constexpr (B >= 2) {
        unfilter_paeth_sse2<B>(raw, prev, out, n);
        break;
      }
#endif
      unfilter_paeth<B>(raw, prev, out, n);
      break;
  }
}

}  // namespace

void png_unfilter_row(int filter, const uint8_t* raw, const uint8_t* prev, uint8_t* out, size_t n, int bpp) {
  switch (bpp) {
    case 1: unfilter<1>(filter, raw, prev, out, n); break;
    case 2: unfilter<2>(filter, raw, prev, out, n); break;
    case 3: unfilter<3>(filter, raw, prev, out, n); break;
    default: unfilter<4>(filter, raw, prev, out, n); break;
  }
}

bool read_png_image_data(const uint8_t* data, size_t size, size_t pos, uint32_t length, uint32_t width,
                         uint32_t height, int channels, uint8_t* const* rows, char* message, size_t message_size) {
  try {
    const size_t rowbytes = static_cast<size_t>(width) * channels;
    IdatReader reader(data, size, pos, length);
    std::vector<uint8_t> raw(rowbytes + 1), zeros(rowbytes, 0);
    const uint8_t* prev = zeros.data();
    for (uint32_t y = 0; y < height; ++y) {
      reader.read(raw.data(), raw.size());
      const int filter = raw[0];
      if (filter > 4) throw Failure{"bad adaptive filter value"};
      png_unfilter_row(filter, raw.data() + 1, prev, rows[y], rowbytes, channels);
      prev = rows[y];
    }
    reader.finish();
    return true;
  } catch (const Failure& f) {
    std::snprintf(message, message_size, "%s", f.message.c_str());
    return false;
  }
}

}  // namespace clipzs::image_detail
