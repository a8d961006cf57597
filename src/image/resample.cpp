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

#include "clipzs/util/error.hpp"
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
// Where each output column's taps start (relative to `origin`), how many there are, how many padded
// groups of `taps_per_group` they fill, and where the column's weights start in the plan's weight array.
struct ColumnLayout {
  std::vector<int> xmin, taps, groups;
  std::vector<size_t> offset;
};

// Fills `layout` for columns [x0, x0+nx); each group takes `values_per_group` weight slots. Returns
// the total number of weight slots.
size_t layout_columns(const Coeffs& c, int x0, int nx, int origin, int taps_per_group, size_t values_per_group,
                      ColumnLayout& layout) {
  layout.xmin.resize(nx);
  layout.taps.resize(nx);
  layout.groups.resize(nx);
  layout.offset.resize(nx);
  size_t total = 0;
  for (int i = 0; i < nx; ++i) {
    layout.xmin[i] = c.bounds[2 * (x0 + i)] - origin;
    layout.taps[i] = c.bounds[2 * (x0 + i) + 1];
    layout.groups[i] = (layout.taps[i] + taps_per_group - 1) / taps_per_group;
    layout.offset[i] = total;
    total += static_cast<size_t>(layout.groups[i]) * values_per_group;
  }
  return total;
}

struct HorizontalPlan : ColumnLayout {
  std::vector<int32_t> kw;
};

// `origin` is the source column that the kernels' row pointers point at (xmin is stored relative to it).
HorizontalPlan plan_horizontal(const Coeffs& c, int ch, int x0, int nx, int origin) {
  HorizontalPlan plan;
  plan.kw.assign(layout_columns(c, x0, nx, origin, 8, static_cast<size_t>(8 * ch), plan), 0);
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
      const int nb = plan.groups[i];
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

// The same sums with vpmaddwd (16 int16 products, neighbours added pairwise, in one cheap instruction),
// arranged so that the per-channel sums land in fixed lanes and four output pixels are finished
// together with vector instructions; per output pixel that is far less work than the vpmulld kernel's
// lane stores and scalar reduction. The 22-bit weights do not fit in int16, so each weight k is split
// exactly as k = kh * 2^11 + kl with kl in [0, 2^11): the sum is (sum of p*kh) * 2^11 + (sum of p*kl),
// evaluated modulo 2^32 (wrapping adds and shifts), which is the exact value because that value fits
// in int32 (the vpmulld kernel relies on the same bound).
//
// One group = one 16-byte load broadcast to both 128-bit lanes, then vpshufb into 16 zero-extended
// int16 slots. Slot pairs (the two operands vpmaddwd adds) hold the same channel of two consecutive
// taps; each lane holds 4 pairs. Taps per group: C=1: 16, C=2: 8, C=3: 4 (one pad pair per lane),
// C=4: 4. After adding the two 128-bit halves of the result, int32 lane q holds: channel q (C=4; C=3,
// whose lane 3 is 0), channel q/2 (C=2), or a quarter of the sum (C=1). Four output pixels are then
// finished together: + 2^21, >> 22, and the saturating packs to int16 and uint8, which clamp to 0..255
// exactly as clip8 does.
constexpr int kMaddTaps[5] = {0, 16, 8, 4, 4};
constexpr int kSplitBits = 11;

struct MaddPlan : ColumnLayout {  // offset: into w, in int16 units: per group 16 hi then 16 lo weights
  std::vector<int16_t> w;
  int8_t shuffle[32];
};

// Tap index (within the group) and channel of int16 slot q (0..15); tap -1 for padding.
inline void madd_slot(int C, int q, int& tap, int& channel) {
  const int half = q / 8, pair = (q % 8) / 2, e = q % 2;
  switch (C) {
    case 1: tap = half * 8 + pair * 2 + e; channel = 0; return;
    case 2: tap = half * 4 + (pair % 2) * 2 + e; channel = pair / 2; return;
    case 3:
      if (pair == 3) {
        tap = -1;
        channel = 0;
        return;
      }
      tap = half * 2 + e;
      channel = pair;
      return;
    default: tap = half * 2 + e; channel = pair; return;
  }
}

// Returns false when some weight's high part does not fit in int16 (never for PIL's normalised filters;
// the vpmulld kernel then runs instead).
bool plan_madd(const Coeffs& c, int C, int x0, int nx, int origin, MaddPlan& plan) {
  const int G = kMaddTaps[C];
  const size_t total = layout_columns(c, x0, nx, origin, G, 32, plan);
  plan.w.assign(total, 0);
  // vpshufb indexes within each 128-bit lane; both lanes hold the same 16 loaded bytes.
  for (int lane = 0; lane < 2; ++lane) {
    for (int r = 0; r < 8; ++r) {
      int tap, channel;
      madd_slot(C, lane * 8 + r, tap, channel);
      plan.shuffle[lane * 16 + 2 * r] = tap < 0 ? static_cast<int8_t>(-128) : static_cast<int8_t>(tap * C + channel);
      plan.shuffle[lane * 16 + 2 * r + 1] = static_cast<int8_t>(-128);  // high byte of the int16: zero
    }
  }
  for (int i = 0; i < nx; ++i) {
    const int32_t* k = &c.k[static_cast<size_t>(x0 + i) * c.ksize];
    int16_t* w = &plan.w[plan.offset[i]];
    for (int g = 0; g < plan.groups[i]; ++g, w += 32) {
      for (int q = 0; q < 16; ++q) {
        int tap, channel;
        madd_slot(C, q, tap, channel);
        const int t = g * G + tap;
        if (tap < 0 || t >= plan.taps[i]) continue;
        const int32_t hi = k[t] >> kSplitBits;  // arithmetic shift: floor
        const int32_t lo = k[t] - hi * (1 << kSplitBits);
        if (hi < INT16_MIN || hi > INT16_MAX) return false;
        w[q] = static_cast<int16_t>(hi);
        w[16 + q] = static_cast<int16_t>(lo);
      }
    }
  }
  return true;
}

// Sum over the taps of output pixel i (row `in`), reduced to 4 int32 lanes (see above), without 2^21.
template <int C>
__attribute__((target("avx2"), always_inline)) inline __m128i madd_sums(const uint8_t* in, int i, const MaddPlan& plan,
                                                                         __m256i shuffle) {
  constexpr int kGroupBytes = kMaddTaps[C] * C;
  const uint8_t* p = in + static_cast<size_t>(plan.xmin[i]) * C;
  const int16_t* w = &plan.w[plan.offset[i]];
  __m256i acc_hi = _mm256_setzero_si256(), acc_lo = _mm256_setzero_si256();
  for (int g = plan.groups[i]; g > 0; --g, p += kGroupBytes, w += 32) {
    const __m256i px = _mm256_shuffle_epi8(
        _mm256_broadcastsi128_si256(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p))), shuffle);
    acc_hi = _mm256_add_epi32(acc_hi, _mm256_madd_epi16(px, _mm256_loadu_si256(reinterpret_cast<const __m256i*>(w))));
    acc_lo = _mm256_add_epi32(acc_lo, _mm256_madd_epi16(px, _mm256_loadu_si256(reinterpret_cast<const __m256i*>(w + 16))));
  }
  const __m256i acc = _mm256_add_epi32(_mm256_slli_epi32(acc_hi, kSplitBits), acc_lo);
  return _mm_add_epi32(_mm256_castsi256_si128(acc), _mm256_extracti128_si256(acc, 1));
}

template <int C>
__attribute__((target("avx2"))) void horizontal_madd(const uint8_t* src, size_t src_stride, int rows,
                                                     const MaddPlan& plan, const Coeffs& c, int x0, int nx,
                                                     uint8_t* dst, size_t dst_stride, const uint8_t* src_end) {
  constexpr int32_t kHalf = 1 << (kPrecisionBits - 1);
  constexpr int kGroupBytes = kMaddTaps[C] * C;
  const __m256i shuffle = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(plan.shuffle));
  const __m128i half = _mm_set1_epi32(kHalf);
  // Packed RGBx RGBx RGBx RGBx -> RGBRGBRGBRGB.
  const __m128i drop_pad = _mm_setr_epi8(0, 1, 2, 4, 5, 6, 8, 9, 10, 12, 13, 14, -1, -1, -1, -1);
  // Output pixels whose reads (a whole group past the last tap) stay inside the buffer can use the
  // vector path. Every pixel of a block of four is checked: near the right edge a pixel can have more
  // (zero-weighted) groups than the next, so its reads can end further right (ASan found the 4-byte
  // over-read when only the first and last pixel of the block were checked).
  auto vector_ok = [&](const uint8_t* in, int i) {
    const int ng = plan.groups[i];
    return ng > 0 && src_end - (in + static_cast<size_t>(plan.xmin[i]) * C) >=
                         static_cast<ptrdiff_t>(ng - 1) * kGroupBytes + 16;
  };
  for (int r = 0; r < rows; ++r) {
    const uint8_t* in = src + r * src_stride;
    uint8_t* out = dst + r * dst_stride;
    int i = 0;
    for (; i + 4 <= nx && vector_ok(in, i) && vector_ok(in, i + 1) && vector_ok(in, i + 2) && vector_ok(in, i + 3);
         i += 4) {
      const __m128i a = madd_sums<C>(in, i, plan, shuffle), b = madd_sums<C>(in, i + 1, plan, shuffle);
      const __m128i cc = madd_sums<C>(in, i + 2, plan, shuffle), d = madd_sums<C>(in, i + 3, plan, shuffle);
      uint8_t* o = out + i * C;
      if constexpr (C >= 3) {
        const __m128i p01 = _mm_packs_epi32(_mm_srai_epi32(_mm_add_epi32(a, half), kPrecisionBits),
                                            _mm_srai_epi32(_mm_add_epi32(b, half), kPrecisionBits));
        const __m128i p23 = _mm_packs_epi32(_mm_srai_epi32(_mm_add_epi32(cc, half), kPrecisionBits),
                                            _mm_srai_epi32(_mm_add_epi32(d, half), kPrecisionBits));
        __m128i bytes = _mm_packus_epi16(p01, p23);
        if constexpr (C == 4) {
          _mm_storeu_si128(reinterpret_cast<__m128i*>(o), bytes);
        } else {
          bytes = _mm_shuffle_epi8(bytes, drop_pad);
          _mm_storel_epi64(reinterpret_cast<__m128i*>(o), bytes);
          const int32_t tail = _mm_extract_epi32(bytes, 2);
          std::memcpy(o + 8, &tail, 4);
        }
      } else if constexpr (C == 2) {
        const __m128i ab = _mm_srai_epi32(_mm_add_epi32(_mm_hadd_epi32(a, b), half), kPrecisionBits);
        const __m128i cd = _mm_srai_epi32(_mm_add_epi32(_mm_hadd_epi32(cc, d), half), kPrecisionBits);
        _mm_storel_epi64(reinterpret_cast<__m128i*>(o), _mm_packus_epi16(_mm_packs_epi32(ab, cd), _mm_setzero_si128()));
      } else {
        const __m128i all = _mm_hadd_epi32(_mm_hadd_epi32(a, b), _mm_hadd_epi32(cc, d));
        const __m128i v = _mm_srai_epi32(_mm_add_epi32(all, half), kPrecisionBits);
        const __m128i bytes = _mm_packus_epi16(_mm_packs_epi32(v, v), _mm_setzero_si128());
        const int32_t four = _mm_cvtsi128_si32(bytes);
        std::memcpy(o, &four, 4);
      }
    }
    for (; i < nx; ++i) {
      int32_t s[C];
      for (int q = 0; q < C; ++q) s[q] = kHalf;
      if (vector_ok(in, i)) {
        alignas(16) int32_t l[4];
        _mm_store_si128(reinterpret_cast<__m128i*>(l), madd_sums<C>(in, i, plan, shuffle));
        // Wrapping adds, like the vector lanes (the total fits in int32).
        auto wadd = [](int32_t x, int32_t y) {
          return static_cast<int32_t>(static_cast<uint32_t>(x) + static_cast<uint32_t>(y));
        };
        if constexpr (C == 1) {
          s[0] = wadd(s[0], wadd(wadd(l[0], l[1]), wadd(l[2], l[3])));
        } else if constexpr (C == 2) {
          s[0] = wadd(s[0], wadd(l[0], l[1]));
          s[1] = wadd(s[1], wadd(l[2], l[3]));
        } else {
          for (int q = 0; q < C; ++q) s[q] = wadd(s[q], l[q]);
        }
      } else {
        const uint8_t* p = in + static_cast<size_t>(plan.xmin[i]) * C;
        const int32_t* k = &c.k[static_cast<size_t>(x0 + i) * c.ksize];
        const int n = plan.taps[i];
        for (int t = 0; t < n; ++t)
          for (int q = 0; q < C; ++q) s[q] += p[t * C + q] * k[t];
      }
      for (int q = 0; q < C; ++q) out[i * C + q] = clip8(s[q]);
    }
  }
}
#else
bool have_avx2() { return false; }
#endif

// `src` points at source column `origin` of the first row; `src_end` bounds every read of the source
// (the end of its whole buffer).
void horizontal_pass(int ch, const uint8_t* src, size_t src_stride, int rows, const Coeffs& c, int x0, int nx,
                     int origin, uint8_t* dst, size_t dst_stride, const uint8_t* src_end) {
  if (ch < 1 || ch > 4) throw Error(ErrorKind::kInternal, "resample: unsupported channel count");
#ifdef CLIPZS_HAVE_AVX2_KERNELS
  if (have_avx2()) {
    MaddPlan madd;
    if (plan_madd(c, ch, x0, nx, origin, madd)) {
      using MaddKernel = void (*)(const uint8_t*, size_t, int, const MaddPlan&, const Coeffs&, int, int, uint8_t*,
                                  size_t, const uint8_t*);
      const MaddKernel madd_kernels[4] = {horizontal_madd<1>, horizontal_madd<2>, horizontal_madd<3>,
                                          horizontal_madd<4>};
      madd_kernels[ch - 1](src, src_stride, rows, madd, c, x0, nx, dst, dst_stride, src_end);
      return;
    }
  }
#endif
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
