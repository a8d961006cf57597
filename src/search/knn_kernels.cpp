#include "search/knn_kernels.hpp"

#include <cstring>

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#include <immintrin.h>
#define CLIPZS_KNN_X86 1
#endif

#include "clipzs/store/npy.hpp"

namespace clipzs::knn_detail {
namespace {

inline float bits_to_float(uint32_t bits) {
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}

inline uint16_t float_to_bf16_bits(float f) {
  uint32_t bits;
  std::memcpy(&bits, &f, 4);
  if ((bits & 0x7fffffffu) > 0x7f800000u) return static_cast<uint16_t>((bits >> 16) | 0x40u);  // keep NaN a NaN
  bits += 0x7fffu + ((bits >> 16) & 1u);  // round to nearest even
  return static_cast<uint16_t>(bits >> 16);
}

CpuFeatures detect() noexcept {
  CpuFeatures f;
#ifdef CLIPZS_KNN_X86
  __builtin_cpu_init();
  f.avx2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && __builtin_cpu_supports("f16c");
  unsigned a = 0, b = 0, c = 0, d = 0;
  // CPUID leaf 7, subleaf 1, EAX bit 5: AVX512_BF16 (also needs the OS to save the AVX-512 state).
  if (__get_cpuid_count(7, 1, &a, &b, &c, &d)) f.avx512_bf16 = (a >> 5) & 1u;
  f.avx512_bf16 = f.avx512_bf16 && __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
                  __builtin_cpu_supports("avx512vl");
#endif
  return f;
}

#ifdef CLIPZS_KNN_X86
#define CLIPZS_AVX2 __attribute__((target("avx2,fma,f16c")))

CLIPZS_AVX2 inline float hsum(__m256 v) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}

// fp32 -> bf16 bits with round to nearest even, 8 lanes, as 32-bit integers.
CLIPZS_AVX2 inline __m256i round_bf16(__m256 f) {
  const __m256i bits = _mm256_castps_si256(f);
  const __m256i lsb = _mm256_and_si256(_mm256_srli_epi32(bits, 16), _mm256_set1_epi32(1));
  return _mm256_srli_epi32(_mm256_add_epi32(bits, _mm256_add_epi32(lsb, _mm256_set1_epi32(0x7fff))), 16);
}

CLIPZS_AVX2 void half_to_float_avx2(const uint16_t* src, float* dst, int64_t n) {
  int64_t i = 0;
  for (; i + 8 <= n; i += 8)
    _mm256_storeu_ps(dst + i, _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(src + i))));
  for (; i < n; ++i) dst[i] = half_to_float(src[i]);
}

// Eight values widened to fp32 (lambdas would not inherit the target attribute, hence overloads).
CLIPZS_AVX2 inline __m256 load8(const uint16_t* p) { return _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p))); }
CLIPZS_AVX2 inline __m256 load8(const float* p) { return _mm256_loadu_ps(p); }
inline float widen(uint16_t h) { return half_to_float(h); }
inline float widen(float f) { return f; }

CLIPZS_AVX2 float half_to_float_sumsq_avx2(const uint16_t* src, float* dst, int64_t n) {
  __m256 acc = _mm256_setzero_ps();
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const __m256 v = load8(src + i);
    acc = _mm256_fmadd_ps(v, v, acc);
    _mm256_storeu_ps(dst + i, v);
  }
  float sum = hsum(acc);
  for (; i < n; ++i) {
    dst[i] = half_to_float(src[i]);
    sum += dst[i] * dst[i];
  }
  return sum;
}

template <typename T>
CLIPZS_AVX2 float to_bf16_avx2(const T* src, uint16_t* dst, int64_t n) {
  __m256 acc = _mm256_setzero_ps();
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) {
    const __m256 a = load8(src + i), b = load8(src + i + 8);
    acc = _mm256_fmadd_ps(a, a, acc);
    acc = _mm256_fmadd_ps(b, b, acc);
    // packus interleaves the 128-bit lanes; the permute puts a0..7 b0..7 back in order. A NaN may come
    // out as another value here: its row's exact score is NaN anyway and never enters a result.
    const __m256i packed = _mm256_packus_epi32(round_bf16(a), round_bf16(b));
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(dst + i), _mm256_permute4x64_epi64(packed, 0xd8));
  }
  float sum = hsum(acc);
  for (; i < n; ++i) {
    const float v = widen(src[i]);
    sum += v * v;
    dst[i] = float_to_bf16_bits(v);
  }
  return sum;
}

template <typename T>
CLIPZS_AVX2 float dot_avx2(const float* a, const T* b, int64_t n) {
  __m256 s0 = _mm256_setzero_ps(), s1 = _mm256_setzero_ps(), s2 = _mm256_setzero_ps(), s3 = _mm256_setzero_ps();
  int64_t i = 0;
  for (; i + 32 <= n; i += 32) {
    s0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), load8(b + i), s0);
    s1 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 8), load8(b + i + 8), s1);
    s2 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 16), load8(b + i + 16), s2);
    s3 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 24), load8(b + i + 24), s3);
  }
  for (; i + 8 <= n; i += 8) s0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), load8(b + i), s0);
  float sum = hsum(_mm256_add_ps(_mm256_add_ps(s0, s1), _mm256_add_ps(s2, s3)));
  for (; i < n; ++i) sum += a[i] * widen(b[i]);
  return sum;
}

CLIPZS_AVX2 int64_t next_above_f32_avx2(const float* v, int64_t j, int64_t n, float threshold) {
  const __m256 t = _mm256_set1_ps(threshold);
  for (; j + 16 <= n; j += 16) {
    const int m0 = _mm256_movemask_ps(_mm256_cmp_ps(_mm256_loadu_ps(v + j), t, _CMP_GT_OQ));
    const int m1 = _mm256_movemask_ps(_mm256_cmp_ps(_mm256_loadu_ps(v + j + 8), t, _CMP_GT_OQ));
    if (m0 | m1) return j + __builtin_ctz(static_cast<unsigned>(m0 | (m1 << 8)));
  }
  for (; j < n; ++j)
    if (v[j] > threshold) return j;
  return n;
}

CLIPZS_AVX2 int64_t next_at_least_bf16_avx2(const uint16_t* v, int64_t j, int64_t n, float threshold) {
  const __m256 t = _mm256_set1_ps(threshold);
  for (; j + 16 <= n; j += 16) {
    const __m256i raw = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(v + j));
    // bf16 -> fp32 is a 16-bit shift into the high half of each 32-bit lane.
    const __m256 lo = _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(_mm256_castsi256_si128(raw)), 16));
    const __m256 hi = _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(_mm256_extracti128_si256(raw, 1)), 16));
    const int m0 = _mm256_movemask_ps(_mm256_cmp_ps(lo, t, _CMP_GE_OQ));
    const int m1 = _mm256_movemask_ps(_mm256_cmp_ps(hi, t, _CMP_GE_OQ));
    if (m0 | m1) return j + __builtin_ctz(static_cast<unsigned>(m0 | (m1 << 8)));
  }
  for (; j < n; ++j)
    if (bits_to_float(static_cast<uint32_t>(v[j]) << 16) >= threshold) return j;
  return n;
}
#endif  // CLIPZS_KNN_X86

}  // namespace

const CpuFeatures& cpu_features() noexcept {
  static const CpuFeatures features = detect();
  return features;
}

void half_to_float_n(const uint16_t* src, float* dst, int64_t n) noexcept {
#ifdef CLIPZS_KNN_X86
  if (cpu_features().avx2) return half_to_float_avx2(src, dst, n);
#endif
  for (int64_t i = 0; i < n; ++i) dst[i] = half_to_float(src[i]);
}

float half_to_float_sumsq(const uint16_t* src, float* dst, int64_t n) noexcept {
#ifdef CLIPZS_KNN_X86
  if (cpu_features().avx2) return half_to_float_sumsq_avx2(src, dst, n);
#endif
  float sum = 0;
  for (int64_t i = 0; i < n; ++i) {
    dst[i] = half_to_float(src[i]);
    sum += dst[i] * dst[i];
  }
  return sum;
}

float half_to_bf16_n(const uint16_t* src, uint16_t* dst, int64_t n) noexcept {
#ifdef CLIPZS_KNN_X86
  if (cpu_features().avx2) return to_bf16_avx2(src, dst, n);
#endif
  float sum = 0;
  for (int64_t i = 0; i < n; ++i) {
    const float v = half_to_float(src[i]);
    sum += v * v;
    dst[i] = float_to_bf16_bits(v);
  }
  return sum;
}

float float_to_bf16_n(const float* src, uint16_t* dst, int64_t n) noexcept {
#ifdef CLIPZS_KNN_X86
  if (cpu_features().avx2) return to_bf16_avx2(src, dst, n);
#endif
  float sum = 0;
  for (int64_t i = 0; i < n; ++i) {
    sum += src[i] * src[i];
    dst[i] = float_to_bf16_bits(src[i]);
  }
  return sum;
}

float dot_f32(const float* a, const float* b, int64_t n) noexcept {
#ifdef CLIPZS_KNN_X86
  if (cpu_features().avx2) return dot_avx2(a, b, n);
#endif
  float s[4] = {0, 0, 0, 0};
  int64_t i = 0;
  for (; i + 4 <= n; i += 4)
    for (int l = 0; l < 4; ++l) s[l] += a[i + l] * b[i + l];
  for (; i < n; ++i) s[0] += a[i] * b[i];
  return (s[0] + s[1]) + (s[2] + s[3]);
}

float dot_f16(const float* a, const uint16_t* b, int64_t n) noexcept {
#ifdef CLIPZS_KNN_X86
  if (cpu_features().avx2) return dot_avx2(a, b, n);
#endif
  float s[4] = {0, 0, 0, 0};
  int64_t i = 0;
  for (; i + 4 <= n; i += 4)
    for (int l = 0; l < 4; ++l) s[l] += a[i + l] * half_to_float(b[i + l]);
  for (; i < n; ++i) s[0] += a[i] * half_to_float(b[i]);
  return (s[0] + s[1]) + (s[2] + s[3]);
}

int64_t next_above_f32(const float* v, int64_t from, int64_t n, float threshold) noexcept {
#ifdef CLIPZS_KNN_X86
  if (cpu_features().avx2) return next_above_f32_avx2(v, from, n, threshold);
#endif
  for (int64_t j = from; j < n; ++j)
    if (v[j] > threshold) return j;
  return n;
}

int64_t next_at_least_bf16(const uint16_t* v, int64_t from, int64_t n, float threshold) noexcept {
#ifdef CLIPZS_KNN_X86
  if (cpu_features().avx2) return next_at_least_bf16_avx2(v, from, n, threshold);
#endif
  for (int64_t j = from; j < n; ++j)
    if (bits_to_float(static_cast<uint32_t>(v[j]) << 16) >= threshold) return j;
  return n;
}

}  // namespace clipzs::knn_detail
