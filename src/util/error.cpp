#include "clipzs/util/error.hpp"

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

namespace {
// A marked name: kOpen, 'p' or 'c', the name, kClose. Control characters that no message holds.
constexpr char kOpen = '\x01';
constexpr char kClose = '\x02';

std::string marked(char what, std::string_view name) {
  std::string out;
  out.reserve(name.size() + 3);
  out += kOpen;
  out += what;
  out += name;
  out += kClose;
  return out;
}
}  // namespace

std::string param(std::string_view name) { return marked('p', name); }
std::string call(std::string_view name) { return marked('c', name); }

std::string render_names(std::string_view text, const NameRenderer& renderer) {
  std::string out;
  out.reserve(text.size());
  size_t at = 0;
  while (at < text.size()) {
    const size_t open = text.find(kOpen, at);
    const size_t close = open == std::string_view::npos ? open : text.find(kClose, open);
    if (close == std::string_view::npos || close < open + 2) {  // no (well-formed) mark left
      out.append(text.substr(at));
      break;
    }
    out.append(text.substr(at, open - at));
    const bool is_call = text[open + 1] == 'c';
    const std::string_view name = text.substr(open + 2, close - open - 2);
    out += renderer ? renderer(name, is_call) : std::string(name);
    at = close + 1;
  }
  return out;
}

}  // namespace clipzs
