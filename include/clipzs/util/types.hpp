// The value types every floor shares: a float matrix, top-k predictions, a view of a stored bank of
// embeddings, and the one vocabulary of element types (DType) that models, stores and .npy files use.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace clipzs {

// Element types. A model runs in fp32, fp16 (GPU) or bf16; a store keeps float16 or float32 rows; a
// .npy file names them "<f4" / "<f2" (bf16 has no numpy name and is never stored).
enum class DType { kFloat32, kFloat16, kBFloat16 };

// Model precision names: fp32|float32, fp16|float16, bf16|bfloat16 -> DType; Error(kUsage) otherwise.
DType parse_dtype(const std::string& name);
const char* dtype_name(DType dtype) noexcept;  // "fp32", "fp16", "bf16"

// Store element types: the subset of DType a store holds, under the names manifests record. One type
// with DType, so a bf16 value compiles where a store dtype is wanted: StoreWriter::open, exact_knn and
// build_faiss_index refuse it (Error(kUsage)).
using StoreDType = DType;
StoreDType parse_store_dtype(const std::string& name);    // "float16"|"fp16"|"float32"|"fp32"; Error(kUsage)
const char* store_dtype_name(StoreDType dtype) noexcept;  // "float16" | "float32" ("bfloat16" for bf16)

// numpy's name of a stored type ("<f4", "<f2"); nullptr for bf16. And back: nothing for other descrs.
const char* npy_descr(DType dtype) noexcept;
std::optional<DType> dtype_of_npy(const std::string& descr) noexcept;
size_t dtype_size(DType dtype) noexcept;  // bytes per element

// A dense float32 matrix, row-major. Embeddings are rows (L2-normalised where a contract says so).
struct Matrix {
  int64_t rows = 0;
  int64_t cols = 0;
  std::vector<float> data;  // rows x cols
  const float* row(int64_t i) const { return data.data() + i * cols; }
};

// The top-k classes of each row, best first.
struct Predictions {
  int64_t rows = 0;
  int64_t k = 0;
  std::vector<int64_t> top_index;  // rows x k, class indices; -1 for skipped rows
  std::vector<float> top_prob;     // rows x k
};

// Rows of stored embeddings in place (an .npy payload, memory-mapped or read): not owned.
struct BankView {
  const void* data = nullptr;  // rows x dim elements of `dtype`
  StoreDType dtype = StoreDType::kFloat16;
  int64_t rows = 0;
  int64_t dim = 0;
};

}  // namespace clipzs
