#include "clipzs/util/types.hpp"

#include "clipzs/util/error.hpp"

namespace clipzs {

DType parse_dtype(const std::string& name) {
  if (name == "fp32" || name == "float32") return DType::kFloat32;
  if (name == "fp16" || name == "float16") return DType::kFloat16;
  if (name == "bf16" || name == "bfloat16") return DType::kBFloat16;
  throw Error(ErrorKind::kUsage, "unknown dtype '" + name + "'", "use fp32, fp16 or bf16");
}

const char* dtype_name(DType dtype) noexcept {
  switch (dtype) {
    case DType::kFloat32: return "fp32";
    case DType::kFloat16: return "fp16";
    case DType::kBFloat16: return "bf16";
  }
  return "fp32";
}

StoreDType parse_store_dtype(const std::string& name) {
  if (name == "float16" || name == "fp16") return DType::kFloat16;
  if (name == "float32" || name == "fp32") return DType::kFloat32;
  throw Error(ErrorKind::kUsage, "unknown store dtype '" + name + "'", "use float16 or float32");
}

const char* store_dtype_name(StoreDType dtype) noexcept {
  switch (dtype) {
    case DType::kFloat16: return "float16";
    case DType::kFloat32: return "float32";
    case DType::kBFloat16: return "bfloat16";
  }
  return "float32";
}

const char* npy_descr(DType dtype) noexcept {
  switch (dtype) {
    case DType::kFloat32: return "<f4";
    case DType::kFloat16: return "<f2";
    case DType::kBFloat16: return nullptr;
  }
  return nullptr;
}

std::optional<DType> dtype_of_npy(const std::string& descr) noexcept {
  if (descr == "<f4") return DType::kFloat32;
  if (descr == "<f2") return DType::kFloat16;
  return std::nullopt;
}

size_t dtype_size(DType dtype) noexcept { return dtype == DType::kFloat32 ? 4 : 2; }

}  // namespace clipzs
