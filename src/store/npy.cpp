#include "clipzs/store/npy.hpp"

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <fstream>

#include "clipzs/util/error.hpp"
#include "clipzs/util/files.hpp"

namespace clipzs {
namespace {

Error bad_npy(const std::string& path, const std::string& what) {
  return Error(ErrorKind::kInput, "'" + path + "' is not a readable .npy file: " + what,
               "write it with numpy.save (C order, little-endian)");
}

bool is_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r'; }

// Position just past "'key'<space>:<space>" in the header dict, or npos. A hand-written scan rather than
// std::regex: libstdc++'s regex recurses once per character matched, and a .npy header may be 64 KiB
// (version 1) or 4 GiB (versions 2-3) long, which overflowed the stack.
size_t value_of(const std::string& header, const std::string& key) {
  const std::string quoted = "'" + key + "'";
  for (size_t at = header.find(quoted); at != std::string::npos; at = header.find(quoted, at + 1)) {
    size_t p = at + quoted.size();
    while (p < header.size() && is_space(header[p])) ++p;
    if (p < header.size() && header[p] == ':') {
      ++p;
      while (p < header.size() && is_space(header[p])) ++p;
      return p;
    }
  }
  return std::string::npos;
}

// Parses the Python-dict header, e.g. {'descr': '<f4', 'fortran_order': False, 'shape': (3, 4), }
void parse_header(const std::string& path, const std::string& header, NpyArray& out) {
  size_t p = value_of(header, "descr");
  size_t end = p == std::string::npos || header[p] != '\'' ? std::string::npos : header.find('\'', p + 1);
  if (end == std::string::npos || end == p + 1) throw bad_npy(path, "header has no 'descr'");
  out.dtype = header.substr(p + 1, end - p - 1);
  if (out.dtype == "<u1" || out.dtype == ">u1") out.dtype = "|u1";
  if (out.dtype == "<b1") out.dtype = "|b1";
  p = value_of(header, "fortran_order");
  if (p == std::string::npos || (header.compare(p, 4, "True") != 0 && header.compare(p, 5, "False") != 0))
    throw bad_npy(path, "header has no 'fortran_order'");
  if (header.compare(p, 4, "True") == 0) throw bad_npy(path, "Fortran-ordered arrays are not supported");
  p = value_of(header, "shape");
  end = p == std::string::npos || header[p] != '(' ? std::string::npos : header.find(')', p);
  if (end == std::string::npos) throw bad_npy(path, "header has no 'shape'");
  const size_t item_size = npy_item_size(out.dtype);  // validates the dtype
  out.shape.clear();
  const std::string dims = header.substr(p + 1, end - p - 1);
  int64_t count = 1;
  size_t pos = 0;
  while (pos < dims.size()) {
    size_t comma = dims.find(',', pos);
    std::string item = dims.substr(pos, comma == std::string::npos ? std::string::npos : comma - pos);
    item.erase(0, item.find_first_not_of(" \t"));
    item.erase(item.find_last_not_of(" \tL") + 1);
    if (!item.empty()) {
      // A non-negative integer whose product with the others (in bytes) fits in int64.
      int64_t d = 0;
      for (char c : item) {
        if (c < '0' || c > '9' || d > (INT64_MAX - 9) / 10)
          throw bad_npy(path, "shape entry '" + item.substr(0, 40) + "' is not a non-negative integer");
        d = d * 10 + (c - '0');
      }
      if (d > 0 && count > INT64_MAX / static_cast<int64_t>(item_size) / d) throw bad_npy(path, "shape is too large");
      count *= d;
      out.shape.push_back(d);
    }
    if (comma == std::string::npos) break;
    pos = comma + 1;
  }
}

}  // namespace

size_t npy_item_size(const std::string& dtype) {
  if (dtype == "<f4" || dtype == "<i4") return 4;
  if (dtype == "<f2") return 2;
  if (dtype == "<i8" || dtype == "<f8") return 8;
  if (dtype == "|u1" || dtype == "|b1" || dtype == "|i1") return 1;
  throw Error(ErrorKind::kInput, "unsupported .npy dtype '" + dtype + "'",
              "use float32, float16, float64, int64, int32 or uint8");
}

int64_t NpyArray::element_count() const {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

size_t NpyArray::item_size() const { return npy_item_size(dtype); }

std::vector<float> NpyArray::to_float() const {
  const int64_t n = element_count();
  std::vector<float> out(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) {
    const uint8_t* p = data.data() + i * item_size();
    if (dtype == "<f4") { std::memcpy(&out[i], p, 4); }
    else if (dtype == "<f2") { uint16_t h; std::memcpy(&h, p, 2); out[i] = half_to_float(h); }
    else if (dtype == "<f8") { double v; std::memcpy(&v, p, 8); out[i] = static_cast<float>(v); }
    else if (dtype == "<i8") { int64_t v; std::memcpy(&v, p, 8); out[i] = static_cast<float>(v); }
    else if (dtype == "<i4") { int32_t v; std::memcpy(&v, p, 4); out[i] = static_cast<float>(v); }
    else if (dtype == "|i1") { out[i] = static_cast<float>(static_cast<int8_t>(*p)); }
    else { out[i] = static_cast<float>(*p); }
  }
  return out;
}

std::vector<int64_t> NpyArray::to_int64() const {
  const int64_t n = element_count();
  std::vector<int64_t> out(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) {
    const uint8_t* p = data.data() + i * item_size();
    if (dtype == "<i8") { std::memcpy(&out[i], p, 8); }
    else if (dtype == "<i4") { int32_t v; std::memcpy(&v, p, 4); out[i] = v; }
    else if (dtype == "|u1" || dtype == "|b1") { out[i] = *p; }
    else if (dtype == "|i1") { out[i] = static_cast<int8_t>(*p); }
    else throw Error(ErrorKind::kInput, "expected an integer array, found dtype '" + dtype + "'");
  }
  return out;
}

NpyArray read_npy_header(const std::string& path, size_t* payload_offset) {
  std::ifstream in(path, std::ios::binary | std::ios::ate);
  if (!in) throw Error(ErrorKind::kInput, "cannot read '" + path + "'", "check the path");
  const auto file_size = static_cast<uint64_t>(std::max<std::streamoff>(0, in.tellg()));
  in.seekg(0);
  char magic[8];
  if (!in.read(magic, 8) || std::memcmp(magic, "\x93NUMPY", 6) != 0) throw bad_npy(path, "no NUMPY magic");
  const int major = static_cast<unsigned char>(magic[6]);
  uint32_t header_len = 0;
  size_t offset = 0;
  if (major == 1) {
    unsigned char b[2];
    if (!in.read(reinterpret_cast<char*>(b), 2)) throw bad_npy(path, "truncated header");
    header_len = b[0] | (b[1] << 8);
    offset = 10;
  } else if (major == 2 || major == 3) {
    unsigned char b[4];
    if (!in.read(reinterpret_cast<char*>(b), 4)) throw bad_npy(path, "truncated header");
    header_len = b[0] | (b[1] << 8) | (b[2] << 16) | (static_cast<uint32_t>(b[3]) << 24);
    offset = 12;
  } else {
    throw bad_npy(path, "unknown format version " + std::to_string(major));
  }
  if (header_len > file_size - std::min<uint64_t>(offset, file_size)) throw bad_npy(path, "truncated header");
  std::string header(header_len, '\0');
  if (!in.read(header.data(), header_len)) throw bad_npy(path, "truncated header");
  NpyArray array;
  parse_header(path, header, array);
  if (payload_offset) *payload_offset = offset + header_len;
  return array;
}

NpyArray read_npy(const std::string& path) {
  size_t offset = 0;
  NpyArray array = read_npy_header(path, &offset);
  std::string bytes = read_file(path);
  const size_t need = static_cast<size_t>(array.element_count()) * array.item_size();  // checked by parse_header
  const size_t have = bytes.size() - std::min(offset, bytes.size());
  if (have < need)
    throw bad_npy(path, "payload is truncated (" + std::to_string(have) + " of " + std::to_string(need) + " bytes)");
  array.data.assign(bytes.begin() + static_cast<std::ptrdiff_t>(offset),
                    bytes.begin() + static_cast<std::ptrdiff_t>(offset + need));
  return array;
}

std::string npy_header(const std::string& dtype, const std::vector<int64_t>& shape) {
  std::string dict = "{'descr': '" + dtype + "', 'fortran_order': False, 'shape': (";
  for (size_t i = 0; i < shape.size(); ++i) {
    dict += std::to_string(shape[i]);
    if (shape.size() == 1 || i + 1 < shape.size()) dict += ",";
    if (i + 1 < shape.size()) dict += " ";
  }
  dict += "), }";
  // magic(6) + version(2) + length(2) + dict + padding + '\n' must be a multiple of 64.
  size_t total = 10 + dict.size() + 1;
  size_t padded = (total + 63) / 64 * 64;
  dict.append(padded - total, ' ');
  dict += '\n';
  std::string out("\x93NUMPY\x01\x00", 8);
  out += static_cast<char>(dict.size() & 0xff);
  out += static_cast<char>((dict.size() >> 8) & 0xff);
  out += dict;
  return out;
}

void write_npy(const std::string& path, const std::string& dtype, const std::vector<int64_t>& shape,
               const void* data, size_t bytes) {
  std::string content = npy_header(dtype, shape);
  content.append(static_cast<const char*>(data), bytes);
  write_file_atomic(path, content);
}

void write_npy(const std::string& path, const std::vector<float>& values, const std::vector<int64_t>& shape) {
  write_npy(path, "<f4", shape, values.data(), values.size() * sizeof(float));
}

uint16_t float_to_half(float value) {
  uint32_t x;
  std::memcpy(&x, &value, 4);
  const uint32_t sign = (x >> 16) & 0x8000u;
  const uint32_t abs = x & 0x7fffffffu;
  if (abs >= 0x7f800000u) {  // inf or nan
    return static_cast<uint16_t>(sign | 0x7c00u | (abs > 0x7f800000u ? 0x200u : 0u));
  }
  if (abs >= 0x477ff000u) return static_cast<uint16_t>(sign | 0x7c00u);  // rounds to inf
  if (abs < 0x38800000u) {  // subnormal half (or zero)
    if (abs < 0x33000000u) return static_cast<uint16_t>(sign);  // below half the smallest subnormal
    const uint32_t mantissa = (abs & 0x7fffffu) | 0x800000u;
    const int shift = 126 - static_cast<int>(abs >> 23);  // 14..24
    uint32_t half = mantissa >> shift;
    const uint32_t rest = mantissa & ((1u << shift) - 1);
    const uint32_t halfway = 1u << (shift - 1);
    if (rest > halfway || (rest == halfway && (half & 1u))) ++half;
    return static_cast<uint16_t>(sign | half);
  }
  uint32_t half = ((abs >> 13) - (112u << 10));
  const uint32_t rest = abs & 0x1fffu;
  if (rest > 0x1000u || (rest == 0x1000u && (half & 1u))) ++half;
  return static_cast<uint16_t>(sign | half);
}

float half_to_float(uint16_t h) {
  const uint32_t sign = static_cast<uint32_t>(h & 0x8000u) << 16;
  uint32_t exponent = (h >> 10) & 0x1fu;
  uint32_t mantissa = h & 0x3ffu;
  uint32_t bits;
  if (exponent == 0) {
    if (mantissa == 0) {
      bits = sign;
    } else {  // subnormal: normalise
      exponent = 113;
      while ((mantissa & 0x400u) == 0) { mantissa <<= 1; --exponent; }
      mantissa &= 0x3ffu;
      bits = sign | (exponent << 23) | (mantissa << 13);
    }
  } else if (exponent == 31) {
    bits = sign | 0x7f800000u | (mantissa << 13);
  } else {
    bits = sign | ((exponent + 112) << 23) | (mantissa << 13);
  }
  float out;
  std::memcpy(&out, &bits, 4);
  return out;
}

}  // namespace clipzs
