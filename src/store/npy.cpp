#include "clipzs/npy.hpp"

#include <cstring>
#include <fstream>
#include <regex>

#include "clipzs/error.hpp"
#include "clipzs/files.hpp"

namespace clipzs {
namespace {

Error bad_npy(const std::string& path, const std::string& what) {
  return Error(ErrorKind::kInput, "'" + path + "' is not a readable .npy file: " + what,
               "write it with numpy.save (C order, little-endian)");
}

// Parses the Python-dict header, e.g. {'descr': '<f4', 'fortran_order': False, 'shape': (3, 4), }
void parse_header(const std::string& path, const std::string& header, NpyArray& out) {
  static const std::regex descr_re(R"('descr'\s*:\s*'([^']+)')");
  static const std::regex fortran_re(R"('fortran_order'\s*:\s*(True|False))");
  static const std::regex shape_re(R"('shape'\s*:\s*\(([^)]*)\))");
  std::smatch m;
  if (!std::regex_search(header, m, descr_re)) throw bad_npy(path, "header has no 'descr'");
  out.dtype = m[1];
  if (out.dtype == "<u1" || out.dtype == ">u1") out.dtype = "|u1";
  if (out.dtype == "<b1") out.dtype = "|b1";
  if (!std::regex_search(header, m, fortran_re)) throw bad_npy(path, "header has no 'fortran_order'");
  if (m[1] == "True") throw bad_npy(path, "Fortran-ordered arrays are not supported");
  if (!std::regex_search(header, m, shape_re)) throw bad_npy(path, "header has no 'shape'");
  out.shape.clear();
  std::string dims = m[1];
  size_t pos = 0;
  while (pos < dims.size()) {
    size_t comma = dims.find(',', pos);
    std::string item = dims.substr(pos, comma == std::string::npos ? std::string::npos : comma - pos);
    item.erase(0, item.find_first_not_of(" \t"));
    item.erase(item.find_last_not_of(" \tL") + 1);
    if (!item.empty()) out.shape.push_back(std::stoll(item));
    if (comma == std::string::npos) break;
    pos = comma + 1;
  }
  npy_item_size(out.dtype);  // validates the dtype
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
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error(ErrorKind::kInput, "cannot read '" + path + "'", "check the path");
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
  const size_t need = static_cast<size_t>(array.element_count()) * array.item_size();
  if (bytes.size() < offset + need)
    throw bad_npy(path, "payload is truncated (" + std::to_string(bytes.size() - offset) + " of " +
                            std::to_string(need) + " bytes)");
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
