// NumPy .npy files (format versions 1.0-3.0 read, 1.0 written), C order, little-endian.
// Dtypes: "<f4" (float32), "<f2" (float16), "<i8" (int64), "<i4" (int32), "|u1" (uint8), "|b1" (bool).
// Failure modes: malformed headers, Fortran order, big-endian data or truncated payloads throw
// Error(kInput) naming the file and what is wrong.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace clipzs {

struct NpyArray {
  std::string dtype;            // numpy descr, e.g. "<f4"
  std::vector<int64_t> shape;   // C order
  std::vector<uint8_t> data;    // raw little-endian payload
  int64_t element_count() const;
  size_t item_size() const;
  // Values converted to float32 (from f4, f2, i8, i4, u1, b1). Throws Error(kInput) for other dtypes.
  std::vector<float> to_float() const;
  // Values converted to int64 (from integer and bool dtypes).
  std::vector<int64_t> to_int64() const;
};

size_t npy_item_size(const std::string& dtype);  // throws Error(kInput) for unsupported dtypes

NpyArray read_npy(const std::string& path);
// Header only (dtype, shape, offset of the payload); `data` stays empty.
NpyArray read_npy_header(const std::string& path, size_t* payload_offset);

// A complete .npy version 1.0 header (magic .. newline), padded so the payload is 64-byte aligned.
std::string npy_header(const std::string& dtype, const std::vector<int64_t>& shape);

// Writes atomically (temp name + rename). Throws Error(kOutput).
void write_npy(const std::string& path, const std::string& dtype, const std::vector<int64_t>& shape,
               const void* data, size_t bytes);
void write_npy(const std::string& path, const std::vector<float>& values, const std::vector<int64_t>& shape);

// IEEE half <-> float, round-to-nearest-even (numpy's astype behaviour).
uint16_t float_to_half(float value);
float half_to_float(uint16_t value);

}  // namespace clipzs
