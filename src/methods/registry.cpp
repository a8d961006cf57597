// The method registry (include/clipzs/methods/method.hpp): one line per method in CLIPZS_METHODS below, in the
// order reports list them. Each NAME_method_entry() is defined beside its method.
#include <filesystem>

#include "clipzs/util/error.hpp"
#include "clipzs/util/files.hpp"
#include "clipzs/methods/method.hpp"

#define CLIPZS_METHODS(X) \
  X(zeroshot)             \
  X(inmap)                \
  X(xmore)                \
  X(transclip)            \
  X(linear_probe)         \
  X(tip_adapter)          \
  X(tip_adapter_f)        \
  X(relation)

namespace clipzs {
namespace fs = std::filesystem;
using nlohmann::json;

#define CLIPZS_DECLARE_ENTRY(id) MethodEntry id##_method_entry();
CLIPZS_METHODS(CLIPZS_DECLARE_ENTRY)
#undef CLIPZS_DECLARE_ENTRY

const std::vector<MethodEntry>& method_registry() {
#define CLIPZS_LIST_ENTRY(id) id##_method_entry(),
  static const std::vector<MethodEntry> entries = {CLIPZS_METHODS(CLIPZS_LIST_ENTRY)};
#undef CLIPZS_LIST_ENTRY
  return entries;
}

const char* method_kind_name(MethodKind kind) noexcept {
  switch (kind) {
    case MethodKind::kZeroShot: return "zero-shot";
    case MethodKind::kLabelFree: return "label-free";
    case MethodKind::kFewShot: return "few-shot";
  }
  return "?";
}

std::string method_names_text() {
  std::string text;
  for (const auto& e : method_registry()) text += (text.empty() ? "" : ", ") + e.name;
  return text;
}

int method_rank(const std::string& name) noexcept {
  const auto& entries = method_registry();
  for (size_t i = 0; i < entries.size(); ++i)
    if (entries[i].name == name) return static_cast<int>(i);
  return -1;
}

const MethodEntry& find_method(const std::string& name) {
  for (const auto& e : method_registry())
    if (e.name == name) return e;
  throw Error(ErrorKind::kUsage, "unknown method '" + name + "'", "known methods: " + method_names_text());
}

std::string MethodState::bundle_sha256() const { return record_.is_object() ? record_.value("bundle_sha256", "") : ""; }

std::unique_ptr<MethodState> load_method_state(const std::string& dir, const std::string& expected) {
  if (!expected.empty()) find_method(expected);  // an unknown name is a usage error before any file is read
  const fs::path path = fs::path(dir) / "state.json";
  if (!fs::exists(path))
    throw Error(ErrorKind::kInput, "'" + dir + "' is not a method state folder (no state.json)",
                "make it with `" + call("adapt") + " " + (expected.empty() ? std::string("<method>") : expected) + " " + param("out") + "`");
  json state;
  try {
    state = json::parse(read_file(path.string()));
  } catch (const json::parse_error& e) {
    throw Error(ErrorKind::kInput, path.string() + " is damaged: " + e.what());
  }
  if (!state.is_object() || !state.contains("method") || !state["method"].is_string())
    throw Error(ErrorKind::kInput, path.string() + " names no method", "make the state again with `" + call("adapt") + "`");
  const std::string method = state["method"].get<std::string>();
  if (!expected.empty() && method != expected)
    throw Error(ErrorKind::kInput, "'" + dir + "' holds a " + method + " state, not " + expected);
  const int rank = method_rank(method);
  if (rank < 0)
    throw Error(ErrorKind::kInput, path.string() + " holds a state of method '" + method + "', which this clipzs does not know",
                "known methods: " + method_names_text());
  const MethodEntry& entry = method_registry()[static_cast<size_t>(rank)];
  if (!entry.load)
    throw Error(ErrorKind::kInput, path.string() + ": " + method + " has no state folder", method + " classifies from the class prompts alone");
  check_state_version(dir, state);
  return entry.load(dir, state);
}

void check_state_version(const std::string& dir, const json& state) {
  const std::string method = state.value("method", "");
  const int supported = find_method(method).state_version;
  const json& v = state.contains("state_version") ? state["state_version"] : json(1);
  if (!v.is_number_integer() || v.get<int64_t>() < 1)
    throw Error(ErrorKind::kInput, (fs::path(dir) / "state.json").string() + ": state_version must be a positive integer");
  if (v.get<int64_t>() > supported)
    throw Error(ErrorKind::kInput,
                "'" + dir + "' is a " + method + " state of format " + std::to_string(v.get<int64_t>()) + "; this clipzs reads up to " +
                    std::to_string(supported),
                "use the clipzs that made it, or a newer one");
}

void stamp_state(json& state, const std::string& method) {
  state["method"] = method;
  state["state_version"] = find_method(method).state_version;
  state["clipzs_version"] = CLIPZS_VERSION;
  if (!state.contains("created")) state["created"] = utc_timestamp();
}

}  // namespace clipzs
