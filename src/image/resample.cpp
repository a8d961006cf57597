// PIL 9.4-compatible resizing of 8-bit images (behaviour of Image.resize / ImagingResample /
// ImagingScaleAffine), reimplemented so that CLIP preprocessing is bit-identical to the reference.
//
// Facts reproduced here (each one changes output bits if done differently):
//  - separable filter: horizontal pass first into an 8-bit intermediate, then vertical;
//  - per output pixel: scale = in/out, filterscale = max(scale, 1), support = filter.support*filterscale,
//    center = (x + 0.5) * scale, taps [(int)(center - support + 0.5), (int)(center + support + 0.5))
//    clamped to the image, weight = filter((tap - center + 0.5) * (1 / filterscale)), divided by
//    the sum of weights;
//  - weights rounded half away from zero to 22-bit fixed point, accumulator starts at 2^21, result
//    is (acc >> 22) clipped to 0..255;
//  - NEAREST is not a filter but an affine scale: source coordinate accumulated in double as
//    0.5*scale, +scale, +scale, ..., truncated; out-of-range samples are 0;
//  - equal sizes copy the image unchanged.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <vector>

#if defined(__x86_64__) && defined(__GNUC__) && !defined(CLIPZS_NO_AVX2)
#include <immintrin.h>
#endif

#include "clipzs/error.hpp"
#include "image/image_internal.hpp"

namespace clipzs {
namespace image_detail {
namespace {

constexpr int kPrecisionBits = 32 - 8 - 2;
constexpr double kPi = 3.14159265358979323846;

struct Filter {
  double (*fn)(double);
  double support;
};

double box_filter(double x) { return (x > -0.5 && x <= 0.5) ? 1.0 : 0.0; }

double bilinear_filter(double x) {
  if (x < 0.0) x = -x;
  return x < 1.0 ? 1.0 - x : 0.0;
}

double hamming_filter(double x) {
  if (x < 0.0) x = -x;
  if (x == 0.0) return 1.0;
  if (x >= 1.0) return 0.0;
  x = x * kPi;
  // PIL writes these constants as float literals; their float values matter for the last bits.
  return std::sin(x) / x * (static_cast<double>(0.54f) + static_cast<double>(0.46f) * std::cos(x));
}

double bicubic_filter(double x) {
  constexpr double a = -0.5;
  if (x < 0.0) x = -x;
  if (x < 1.0) return ((a + 2.0) * x - (a + 3.0)) * x * x + 1;
  if (x < 2.0) return (((x - 5) * x + 8) * x - 4) * a;
  return 0.0;
}

double sinc_filter(double x) {
  if (x == 0.0) return 1.0;
  x = x * kPi;
  return std::sin(x) / x;
}

double lanczos_filter(double x) {
  if (-3.0 <= x && x < 3.0) return sinc_filter(x) * sinc_filter(x / 3);
  return 0.0;
}

Filter filter_for(Interpolation interpolation) {
  switch (interpolation) {
    case Interpolation::kBox: return {box_filter, 0.5};
    case Interpolation::kBilinear: return {bilinear_filter, 1.0};
    case Interpolation::kHamming: return {hamming_filter, 1.0};
    case Interpolation::kBicubic: return {bicubic_filter, 2.0};
    case Interpolation::kLanczos: return {lanczos_filter, 3.0};
    case Interpolation::kNearest: break;
  }
  throw Error(ErrorKind::kInternal, "resample: no convolution filter for nearest-neighbour");
}

// Fixed-point coefficients for one axis: for output index i, taps start at bounds[2i] (source
// index), bounds[2i+1] taps, weights at k[i*ksize ...].
struct Coeffs {
  int ksize = 0;
  std::vector<int> bounds;
  std::vector<int32_t> k;
};

Coeffs precompute_coeffs(int in_size, int out_size, const Filter& filter) {
  // PIL's box is float; in_size - 0 is exact in float for any realistic size.
  const double scale = static_cast<double>(static_cast<float>(in_size)) / out_size;
  const double filterscale = scale < 1.0 ? 1.0 : scale;
  const double support = filter.support * filterscale;
  Coeffs c;
  c.ksize = static_cast<int>(std::ceil(support)) * 2 + 1;
  c.bounds.resize(static_cast<size_t>(out_size) * 2);
  c.k.assign(static_cast<size_t>(out_size) * c.ksize, 0);
  std::vector<double> w(c.ksize);
  const double ss = 1.0 / filterscale;
  for (int xx = 0; xx < out_size; ++xx) {
    const double center = (xx + 0.5) * scale;
    int xmin = static_cast<int>(center - support + 0.5);
    if (xmin < 0) xmin = 0;
    int xmax = static_cast<int>(center + support + 0.5);
    if (xmax > in_size) xmax = in_size;
    xmax -= xmin;
    double ww = 0.0;
    for (int x = 0; x < xmax; ++x) {
      w[x] = filter.fn((x + xmin - center + 0.5) * ss);
      ww += w[x];
    }
    int32_t* k = &c.k[static_cast<size_t>(xx) * c.ksize];
    for (int x = 0; x < xmax; ++x) {
      const double v = ww != 0.0 ? w[x] / ww : w[x];
      const double scaled = v * (1 << kPrecisionBits);
      k[x] = static_cast<int32_t>(v < 0 ? -0.5 + scaled : 0.5 + scaled);
    }
    c.bounds[2 * xx] = xmin;
    c.bounds[2 * xx + 1] = std::max(xmax, 0);
  }
  return c;
}

inline uint8_t clip8(int32_t v) {
  v >>= kPrecisionBits;  // arithmetic shift: floor division, as in PIL
  return static_cast<uint8_t>(v < 0 ? 0 : (v > 255 ? 255 : v));
}

// Horizontal weights for the output columns [x0, x0+nx), laid out for vectorised dot products: each
// column's taps are padded to a multiple of 8 with zero weights and every weight is repeated C times,
// so 8 taps of interleaved pixels (8*C bytes) meet 8*C weights lane by lane.
struct HorizontalPlan {
  std::vector<int> xmin, taps, blocks;
  std::vector<size_t> offset;
  std::vector<int32_t> kw;
};

// `origin` is the source column that the kernels' row pointers point at (xmin is stored relative to it).
HorizontalPlan plan_horizontal(const Coeffs& c, int ch, int x0, int nx, int origin) {
  HorizontalPlan plan;
  plan.xmin.resize(nx);
  plan.taps.resize(nx);
  plan.blocks.resize(nx);
  plan.offset.resize(nx);
  size_t total = 0;
  for (int i = 0; i < nx; ++i) {
    plan.xmin[i] = c.bounds[2 * (x0 + i)] - origin;
    plan.taps[i] = c.bounds[2 * (x0 + i) + 1];
    plan.blocks[i] = (plan.taps[i] + 7) / 8;
    plan.offset[i] = total;
    total += static_cast<size_t>(plan.blocks[i]) * 8 * ch;
  }
  plan.kw.assign(total, 0);
  for (int i = 0; i < nx; ++i) {
    const int32_t* k = &c.k[static_cast<size_t>(x0 + i) * c.ksize];
    int32_t* w = &plan.kw[plan.offset[i]];
    for (int t = 0; t < plan.taps[i]; ++t)
      for (int q = 0; q < ch; ++q) w[t * ch + q] = k[t];
  }
  return plan;
}

// Integer sums are exact (no overflow: |weights| sum to a few times 2^22, pixels < 2^8), so summing
// in lanes and reducing afterwards gives PIL's result bit for bit.
template <int C>
void horizontal_generic(const uint8_t* src, size_t src_stride, int rows, const HorizontalPlan& plan, int nx,
                        uint8_t* dst, size_t dst_stride, const uint8_t*) {
  constexpr int32_t kHalf = 1 << (kPrecisionBits - 1);
  for (int r = 0; r < rows; ++r) {
    const uint8_t* in = src + r * src_stride;
    uint8_t* out = dst + r * dst_stride;
    for (int i = 0; i < nx; ++i) {
      const uint8_t* p = in + static_cast<size_t>(plan.xmin[i]) * C;
      const int32_t* w = &plan.kw[plan.offset[i]];
      int32_t s[C];
      for (int q = 0; q < C; ++q) s[q] = kHalf;
      const int n = plan.taps[i];
      for (int t = 0; t < n; ++t)
        for (int q = 0; q < C; ++q) s[q] += p[t * C + q] * w[t * C + q];
      for (int q = 0; q < C; ++q) out[i * C + q] = clip8(s[q]);
    }
  }
}

void vertical_generic(const uint8_t* tmp, size_t tmp_stride, int row0, const Coeffs& c, int y0, int ny,
                      size_t row_bytes, uint8_t* dst, size_t dst_stride, int32_t* acc) {
  constexpr int32_t kHalf = 1 << (kPrecisionBits - 1);
  for (int j = 0; j < ny; ++j) {
    const int yy = y0 + j;
    const int ymin = c.bounds[2 * yy] - row0;
    const int n = c.bounds[2 * yy + 1];
    const int32_t* k = &c.k[static_cast<size_t>(yy) * c.ksize];
    for (size_t x = 0; x < row_bytes; ++x) acc[x] = kHalf;
    for (int t = 0; t < n; ++t) {
      const uint8_t* row = tmp + static_cast<size_t>(ymin + t) * tmp_stride;
      const int32_t w = k[t];
      for (size_t x = 0; x < row_bytes; ++x) acc[x] += row[x] * w;
    }
    uint8_t* out = dst + j * dst_stride;
    for (size_t x = 0; x < row_bytes; ++x) out[x] = clip8(acc[x]);
  }
}

// The build targets baseline x86-64 (SSE2, no 32-bit vector multiply), so the same passes are written a
// second time with AVX2 intrinsics and picked at run time. Integer arithmetic: identical results.
#if defined(__x86_64__) && defined(__GNUC__) && !defined(CLIPZS_NO_AVX2)
#define CLIPZS_HAVE_AVX2_KERNELS 1
bool have_avx2() {
  static const bool yes = __builtin_cpu_supports("avx2");
  return yes;
}

// s[j % C] += lanes[j] for j < N, unrolled at compile time (a runtime `j % C` loop dominated the pass).
template <int C, int N, int J = 0>
inline __attribute__((always_inline)) void reduce_lanes(const int32_t* lanes, int32_t* s) {
  if constexpr (J < N) {
    s[J % C] += lanes[J];
    reduce_lanes<C, N, J + 1>(lanes, s);
  }
}

// 8 taps of C interleaved channels per block: C vectors of 8 int32 lanes against the expanded weights.
template <int C>
__attribute__((target("avx2"))) void horizontal_avx2(const uint8_t* src, size_t src_stride, int rows,
                                                     const HorizontalPlan& plan, int nx, uint8_t* dst,
                                                     size_t dst_stride, const uint8_t* src_end) {
  constexpr int32_t kHalf = 1 << (kPrecisionBits - 1);
  constexpr int kLanes = 8 * C;
  for (int r = 0; r < rows; ++r) {
    const uint8_t* in = src + r * src_stride;
    uint8_t* out = dst + r * dst_stride;
    for (int i = 0; i < nx; ++i) {
      const uint8_t* p = in + static_cast<size_t>(plan.xmin[i]) * C;
      const int32_t* w = &plan.kw[plan.offset[i]];
      const int nb = plan.blocks[i];
      int32_t s[C];
      for (int q = 0; q < C; ++q) s[q] = kHalf;
      if (src_end - p >= static_cast<ptrdiff_t>(nb) * kLanes) {
        // Reads up to 7 taps past the span: their weights are 0 and the bytes exist.
        __m256i acc[C];
        for (int v = 0; v < C; ++v) acc[v] = _mm256_setzero_si256();
        for (int b = 0; b < nb; ++b, p += kLanes, w += kLanes) {
          for (int v = 0; v < C; ++v) {
            const __m256i px = _mm256_cvtepu8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(p + 8 * v)));
            const __m256i wv = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(w + 8 * v));
            acc[v] = _mm256_add_epi32(acc[v], _mm256_mullo_epi32(px, wv));
          }
        }
        alignas(32) int32_t lanes[kLanes];
        if constexpr (8 % C == 0) {
          // Every vector has the same channel pattern: add them up first.
          __m256i sum = acc[0];
          for (int v = 1; v < C; ++v) sum = _mm256_add_epi32(sum, acc[v]);
          _mm256_store_si256(reinterpret_cast<__m256i*>(lanes), sum);
          reduce_lanes<C, 8>(lanes, s);
        } else {
          for (int v = 0; v < C; ++v) _mm256_store_si256(reinterpret_cast<__m256i*>(lanes + 8 * v), acc[v]);
          reduce_lanes<C, kLanes>(lanes, s);
        }
      } else {
        const int n = plan.taps[i];
        for (int t = 0; t < n; ++t)
          for (int q = 0; q < C; ++q) s[q] += p[t * C + q] * w[t * C + q];
      }
      for (int q = 0; q < C; ++q) out[i * C + q] = clip8(s[q]);
    }
  }
}

__attribute__((target("avx2"))) void vertical_avx2(const uint8_t* tmp, size_t tmp_stride, int row0, const Coeffs& c,
                                                   int y0, int ny, size_t row_bytes, uint8_t* dst, size_t dst_stride,
                                                   int32_t* acc) {
  constexpr int32_t kHalf = 1 << (kPrecisionBits - 1);
  const size_t vec_end = row_bytes & ~size_t{7};
  for (int j = 0; j < ny; ++j) {
    const int yy = y0 + j;
    const int ymin = c.bounds[2 * yy] - row0;
    const int n = c.bounds[2 * yy + 1];
    const int32_t* k = &c.k[static_cast<size_t>(yy) * c.ksize];
    for (size_t x = 0; x < row_bytes; ++x) acc[x] = kHalf;
    for (int t = 0; t < n; ++t) {
      const uint8_t* row = tmp + static_cast<size_t>(ymin + t) * tmp_stride;
      const __m256i wv = _mm256_set1_epi32(k[t]);
      size_t x = 0;
      for (; x < vec_end; x += 8) {
        const __m256i px = _mm256_cvtepu8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(row + x)));
        __m256i* a = reinterpret_cast<__m256i*>(acc + x);
        _mm256_storeu_si256(a, _mm256_add_epi32(_mm256_loadu_si256(a), _mm256_mullo_epi32(px, wv)));
      }
      for (; x < row_bytes; ++x) acc[x] += row[x] * k[t];
    }
    uint8_t* out = dst + j * dst_stride;
    for (size_t x = 0; x < row_bytes; ++x) out[x] = clip8(acc[x]);
  }
}
#else
bool have_avx2() { return false; }
#endif

// `src` points at source column `origin` of the first row; `src_end` bounds every read of the source
// (the end of its whole buffer).
void horizontal_pass(int ch, const uint8_t* src, size_t src_stride, int rows, const Coeffs& c, int x0, int nx,
                     int origin, uint8_t* dst, size_t dst_stride, const uint8_t* src_end) {
  const HorizontalPlan plan = plan_horizontal(c, ch, x0, nx, origin);
  using Kernel = void (*)(const uint8_t*, size_t, int, const HorizontalPlan&, int, uint8_t*, size_t, const uint8_t*);
  Kernel kernels[4] = {horizontal_generic<1>, horizontal_generic<2>, horizontal_generic<3>, horizontal_generic<4>};
#ifdef CLIPZS_HAVE_AVX2_KERNELS
  if (have_avx2()) {
    kernels[0] = horizontal_avx2<1>;
    kernels[1] = horizontal_avx2<2>;
    kernels[2] = horizontal_avx2<3>;
    kernels[3] = horizontal_avx2<4>;
  }
#endif
  if (ch < 1 || ch > 4) throw Error(ErrorKind::kInternal, "resample: unsupported channel count");
  kernels[ch - 1](src, src_stride, rows, plan, nx, dst, dst_stride, src_end);
}

void vertical_pass(const uint8_t* tmp, size_t tmp_stride, int row0, const Coeffs& c, int y0, int ny,
                   size_t row_bytes, uint8_t* dst, size_t dst_stride) {
  std::vector<int32_t> acc(row_bytes);
#ifdef CLIPZS_HAVE_AVX2_KERNELS
  if (have_avx2()) {
    vertical_avx2(tmp, tmp_stride, row0, c, y0, ny, row_bytes, dst, dst_stride, acc.data());
    return;
  }
#endif
  vertical_generic(tmp, tmp_stride, row0, c, y0, ny, row_bytes, dst, dst_stride, acc.data());
}

// ImagingScaleAffine's source index table: coordinate accumulated in double, truncated; -1 = outside.
std::vector<int> nearest_table(int in_size, int out_size) {
  const double a = static_cast<double>(static_cast<float>(in_size)) / out_size;
  std::vector<int> tab(out_size);
  double xo = a * 0.5;
  for (int x = 0; x < out_size; ++x) {
    const int xin = xo < 0.0 ? -1 : static_cast<int>(xo);
    tab[x] = (xin >= 0 && xin < in_size) ? xin : -1;
    xo += a;
  }
  return tab;
}

}  // namespace

void resample_window(const uint8_t* src, int in_w, int in_h, int ch, int out_w, int out_h,
                     Interpolation interpolation, int wx, int wy, int ww, int wh, uint8_t* dst,
                     size_t dst_stride) {
  SourceView view;
  view.data = src;
  view.stride = static_cast<size_t>(in_w < 0 ? 0 : in_w) * ch;
  view.width = in_w;
  view.height = in_h;
  resample_window(view, in_w, in_h, ch, out_w, out_h, interpolation, wx, wy, ww, wh, dst, dst_stride);
}

PixelRect resample_source_rect(int in_w, int in_h, int out_w, int out_h, Interpolation interpolation, int wx,
                               int wy, int ww, int wh) {
  PixelRect r;
  if (ww <= 0 || wh <= 0 || in_w <= 0 || in_h <= 0) return r;
  if (out_w == in_w && out_h == in_h) return PixelRect{wx, wy, wx + ww, wy + wh};
  if (interpolation == Interpolation::kNearest) {
    // The samples the tables pick; -1 entries read nothing.
    auto span = [](const std::vector<int>& tab, int from, int count, int& lo, int& hi) {
      lo = INT32_MAX;
      hi = -1;
      for (int i = from; i < from + count; ++i) {
        if (tab[i] < 0) continue;
        lo = std::min(lo, tab[i]);
        hi = std::max(hi, tab[i] + 1);
      }
      if (hi < 0) lo = hi = 0;
    };
    span(nearest_table(in_w, out_w), wx, ww, r.x0, r.x1);
    span(nearest_table(in_h, out_h), wy, wh, r.y0, r.y1);
    if (r.empty()) return PixelRect{};
    return r;
  }
  const Filter filter = filter_for(interpolation);
  // Tap ranges of the window's first and last outputs: both ends move monotonically with the output
  // index, but take the extremes over the whole window anyway (cheap, and independent of that fact).
  auto taps = [&](int in_size, int out_size, int from, int count, int& lo, int& hi) {
    if (out_size == in_size) {
      lo = from;
      hi = from + count;
      return;
    }
    const Coeffs c = precompute_coeffs(in_size, out_size, filter);
    lo = in_size;
    hi = 0;
    for (int i = from; i < from + count; ++i) {
      lo = std::min(lo, c.bounds[2 * i]);
      hi = std::max(hi, c.bounds[2 * i] + c.bounds[2 * i + 1]);
    }
    if (hi <= lo) hi = lo + 1;  // degenerate, never for valid sizes (resample_window does the same)
  };
  taps(in_w, out_w, wx, ww, r.x0, r.x1);
  taps(in_h, out_h, wy, wh, r.y0, r.y1);
  return r;
}

void resample_window(const SourceView& src, int in_w, int in_h, int ch, int out_w, int out_h,
                     Interpolation interpolation, int wx, int wy, int ww, int wh, uint8_t* dst,
                     size_t dst_stride) {
  if (ww <= 0 || wh <= 0) return;
  if (wx < 0 || wy < 0 || wx + ww > out_w || wy + wh > out_h || ch < 1 || ch > 4 || in_w <= 0 || in_h <= 0) {
    throw Error(ErrorKind::kInternal, "resample: window outside the output image");
  }
  const size_t src_stride = src.stride;
  const size_t row_bytes = static_cast<size_t>(ww) * ch;
  // Source pixel (x, y) of the full image; only ever formed for pixels the view holds.
  auto at = [&](int x, int y) {
    return src.data + static_cast<size_t>(y - src.y0) * src_stride + static_cast<size_t>(x - src.x0) * ch;
  };
  // Every path below checks that the view holds what it reads (the same rectangle that
  // resample_source_rect reports) before reading.
  auto require = [&](int x0, int y0, int x1, int y1) {
    if (src.data == nullptr || x0 < src.x0 || y0 < src.y0 || x1 > src.x0 + src.width || y1 > src.y0 + src.height) {
      throw Error(ErrorKind::kInternal, "resample: the source view does not cover the pixels the window reads");
    }
  };

  if (out_w == in_w && out_h == in_h) {
    require(wx, wy, wx + ww, wy + wh);
    for (int j = 0; j < wh; ++j) std::memcpy(dst + j * dst_stride, at(wx, wy + j), row_bytes);
    return;
  }

  if (interpolation == Interpolation::kNearest) {
    const std::vector<int> xt = nearest_table(in_w, out_w);
    const std::vector<int> yt = nearest_table(in_h, out_h);
    for (int j = 0; j < wh; ++j) {
      if (yt[wy + j] >= 0) require(src.x0, yt[wy + j], src.x0, yt[wy + j] + 1);
    }
    for (int i = 0; i < ww; ++i) {
      if (xt[wx + i] >= 0) require(xt[wx + i], src.y0, xt[wx + i] + 1, src.y0);
    }
    for (int j = 0; j < wh; ++j) {
      uint8_t* out = dst + j * dst_stride;
      const int yi = yt[wy + j];
      if (yi < 0) {
        std::memset(out, 0, row_bytes);
        continue;
      }
      for (int i = 0; i < ww; ++i) {
        const int xi = xt[wx + i];
        if (xi < 0) {
          std::memset(out + i * ch, 0, ch);
        } else {
          std::memcpy(out + i * ch, at(xi, yi), ch);
        }
      }
    }
    return;
  }

  const Filter filter = filter_for(interpolation);
  const bool need_h = out_w != in_w;
  const bool need_v = out_h != in_h;

  // Source rows feeding the requested output rows.
  Coeffs cv;
  int r0 = wy, r1 = wy + wh;
  if (need_v) {
    cv = precompute_coeffs(in_h, out_h, filter);
    r0 = in_h;
    r1 = 0;
    for (int j = wy; j < wy + wh; ++j) {
      r0 = std::min(r0, cv.bounds[2 * j]);
      r1 = std::max(r1, cv.bounds[2 * j] + cv.bounds[2 * j + 1]);
    }
    if (r1 <= r0) r1 = r0 + 1;  // degenerate, never for valid sizes
  }
  require(src.x0, r0, src.x0, r1);

  Coeffs chz;
  if (need_h) {
    chz = precompute_coeffs(in_w, out_w, filter);
    int c0 = in_w, c1 = 0;
    for (int i = wx; i < wx + ww; ++i) {
      c0 = std::min(c0, chz.bounds[2 * i]);
      c1 = std::max(c1, chz.bounds[2 * i] + chz.bounds[2 * i + 1]);
    }
    if (c1 > c0) require(c0, src.y0, c1, src.y0);
  } else {
    require(wx, src.y0, wx + ww, src.y0);
  }

  const uint8_t* tmp = need_h ? nullptr : at(wx, r0);
  size_t tmp_stride = src_stride;
  std::vector<uint8_t> tmp_buf;
  if (need_h) {
    const uint8_t* rows = src.data + static_cast<size_t>(r0 - src.y0) * src_stride;  // column src.x0 of row r0
    const uint8_t* src_end = src.data + src_stride * static_cast<size_t>(src.height);
    if (!need_v) {
      horizontal_pass(ch, rows, src_stride, r1 - r0, chz, wx, ww, src.x0, dst, dst_stride, src_end);
      return;
    }
    tmp_buf.resize(static_cast<size_t>(r1 - r0) * row_bytes);
    horizontal_pass(ch, rows, src_stride, r1 - r0, chz, wx, ww, src.x0, tmp_buf.data(), row_bytes, src_end);
    tmp = tmp_buf.data();
    tmp_stride = row_bytes;
  }
  vertical_pass(tmp, tmp_stride, r0, cv, wy, wh, row_bytes, dst, dst_stride);
}

void premultiply_alpha(uint8_t* pixels, size_t count, int ch) {
  const int a = ch - 1;
  for (size_t i = 0; i < count; ++i) {
    uint8_t* p = pixels + i * ch;
    const unsigned alpha = p[a];
    for (int c = 0; c < a; ++c) p[c] = muldiv255(p[c], alpha);
  }
}

void unpremultiply_alpha(uint8_t* pixels, size_t count, int ch) {
  // PIL's RGBa->RGBA and La->LA: alpha 0 or 255 keeps the stored value, otherwise 255*c/alpha with
  // integer (truncating) division, clipped to 255.
  const int a = ch - 1;
  for (size_t i = 0; i < count; ++i) {
    uint8_t* p = pixels + i * ch;
    const unsigned alpha = p[a];
    if (alpha == 0 || alpha == 255) continue;
    for (int c = 0; c < a; ++c) {
      const unsigned v = 255u * p[c] / alpha;
      p[c] = static_cast<uint8_t>(v > 255 ? 255 : v);
    }
  }
}

}  // namespace image_detail

Image8 resize_like_pil(const Image8& image, int width, int height, Interpolation interpolation) {
  if (image.channels < 1 || image.channels > 4) {
    throw Error(ErrorKind::kUsage, "resize: images must have 1 to 4 channels, got " + std::to_string(image.channels));
  }
  if (width <= 0 || height <= 0 || image.width <= 0 || image.height <= 0) {
    throw Error(ErrorKind::kUsage, "resize: sizes must be positive (" + std::to_string(image.width) + "x" +
                                       std::to_string(image.height) + " -> " + std::to_string(width) + "x" +
                                       std::to_string(height) + ")");
  }
  const size_t count = static_cast<size_t>(image.width) * image.height;
  if (image.pixels.size() != count * image.channels) {
    throw Error(ErrorKind::kUsage, "resize: pixel buffer does not match width*height*channels");
  }
  Image8 out;
  out.width = width;
  out.height = height;
  out.channels = image.channels;
  if (width == image.width && height == image.height) {
    out.pixels = image.pixels;  // PIL returns a copy, no premultiply round trip
    return out;
  }
  out.pixels.resize(static_cast<size_t>(width) * height * image.channels);
  // Like Image.resize: 2 and 4 channels are LA/RGBA, resampled premultiplied unless nearest.
  const bool premultiply = (image.channels == 2 || image.channels == 4) && interpolation != Interpolation::kNearest;
  const uint8_t* src = image.pixels.data();
  std::vector<uint8_t> premul;
  if (premultiply) {
    premul = image.pixels;
    image_detail::premultiply_alpha(premul.data(), count, image.channels);
    src = premul.data();
  }
  image_detail::resample_window(src, image.width, image.height, image.channels, width, height, interpolation, 0, 0,
                                width, height, out.pixels.data(), static_cast<size_t>(width) * image.channels);
  if (premultiply) {
    image_detail::unpremultiply_alpha(out.pixels.data(), static_cast<size_t>(width) * height, image.channels);
  }
  return out;
}

}  // namespace clipzs
