// Small vector kernels of the k-NN search (internal). Each has an AVX2/FMA/F16C version chosen at run
// time (the library is built for baseline x86-64) and a portable scalar one.
#pragma once

#include <cstdint>

namespace clipzs::knn_detail {

struct CpuFeatures {
  bool avx2 = false;         // AVX2 + FMA + F16C
  bool avx512_bf16 = false;  // native bf16 dot products (what makes oneDNN's bf16 GEMM ~2x fp32)
};
const CpuFeatures& cpu_features() noexcept;

void half_to_float_n(const uint16_t* src, float* dst, int64_t n) noexcept;
// The same, returning the fp32 sum of squares of the values.
float half_to_float_sumsq(const uint16_t* src, float* dst, int64_t n) noexcept;

// Rounds n values to bfloat16 (round to nearest even) and returns the fp32 sum of their squares (of
// the inputs, before rounding).
float half_to_bf16_n(const uint16_t* src, uint16_t* dst, int64_t n) noexcept;
float float_to_bf16_n(const float* src, uint16_t* dst, int64_t n) noexcept;

inline void prefetch(const void* p, int64_t bytes) noexcept {
  for (int64_t o = 0; o < bytes; o += 64) __builtin_prefetch(static_cast<const char*>(p) + o);
}

float dot_f32(const float* a, const float* b, int64_t n) noexcept;
float dot_f16(const float* a, const uint16_t* b, int64_t n) noexcept;

// The first index j in [from, n) with v[j] > threshold (fp32) or v[j] >= threshold (bf16 bits), else n.
int64_t next_above_f32(const float* v, int64_t from, int64_t n, float threshold) noexcept;
int64_t next_at_least_bf16(const uint16_t* v, int64_t from, int64_t n, float threshold) noexcept;

}  // namespace clipzs::knn_detail
