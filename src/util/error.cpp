#include "clipzs/error.hpp"

namespace clipzs {

const char* error_kind_name(ErrorKind kind) noexcept {
  switch (kind) {
    case ErrorKind::kUsage: return "usage";
    case ErrorKind::kInput: return "input";
    case ErrorKind::kModel: return "model";
    case ErrorKind::kOutput: return "output";
    case ErrorKind::kUnsupported: return "unsupported";
    case ErrorKind::kInterrupted: return "interrupted";
    case ErrorKind::kInternal: return "internal";
  }
  return "internal";
}

}  // namespace clipzs
