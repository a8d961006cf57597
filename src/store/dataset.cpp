#include "clipzs/store/dataset.hpp"

#include <algorithm>
#include <filesystem>
#include <map>
#include <set>

#include <nlohmann/json.hpp>

#include "clipzs/util/error.hpp"
#include "clipzs/util/files.hpp"

namespace clipzs {
namespace fs = std::filesystem;
using nlohmann::json;

LabelRule parse_label_rule(const std::string& name) {
  if (name == "auto") return LabelRule::kAuto;
  if (name == "name") return LabelRule::kName;
  if (name == "index") return LabelRule::kIndex;
  if (name == "sorted") return LabelRule::kSorted;
  throw Error(ErrorKind::kUsage, "unknown label rule '" + name + "'", "use auto, name, index or sorted");
}

const char* label_rule_name(LabelRule rule) noexcept {
  switch (rule) {
    case LabelRule::kName: return "name";
    case LabelRule::kIndex: return "index";
    case LabelRule::kSorted: return "sorted";
    default: return "auto";
  }
}

namespace {

std::string normalise(const std::string& s) {
  std::string out = s;
  for (char& c : out) {
    if (c == '_') c = ' ';
    else c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  }
  return out;
}

bool parse_index(const std::string& s, int64_t& out) {
  if (s.empty() || s.size() > 18) return false;
  for (char c : s)
    if (c < '0' || c > '9') return false;
  out = std::stoll(s);
  return true;
}

std::string row_name(const std::vector<std::string>& paths, size_t i) {
  return "row " + std::to_string(i) + (i < paths.size() ? " (" + paths[i] + ")" : "");
}

}  // namespace

std::vector<std::string> duplicate_classnames(const std::vector<std::string>& classnames) {
  std::map<std::string, int> count;
  std::vector<std::string> out;
  for (const auto& c : classnames)
    if (++count[c] == 2) out.push_back(c);
  return out;
}

ResolvedLabels resolve_labels(const std::vector<std::string>& labels, const std::vector<std::string>& paths,
                              const std::vector<std::string>& classnames, LabelRule rule, bool missing_ok) {
  const int64_t num_classes = static_cast<int64_t>(classnames.size());
  if (num_classes == 0) throw Error(ErrorKind::kInput, "the class list is empty", "give at least one class name");
  ResolvedLabels out;
  out.ids.assign(labels.size(), -1);
  for (size_t i = 0; i < labels.size(); ++i) {
    if (labels[i].empty() && !missing_ok)
      throw Error(ErrorKind::kInput, row_name(paths, i) + " has no label",
                  "evaluation needs a label per image: a class subfolder, a 'label' CSV column or a split file");
  }
  std::map<std::string, int64_t> by_name;
  for (int64_t c = num_classes - 1; c >= 0; --c) by_name[normalise(classnames[c])] = c;  // first occurrence wins

  auto try_name = [&](bool strict) {
    std::vector<int64_t> ids(labels.size(), -1);
    for (size_t i = 0; i < labels.size(); ++i) {
      if (labels[i].empty()) continue;
      auto it = by_name.find(normalise(labels[i]));
      if (it == by_name.end()) {
        if (strict)
          throw Error(ErrorKind::kInput, row_name(paths, i) + ": label '" + labels[i] + "' is not in the class list",
                      "fix the label, or choose another " + param("label_rule") + " (index, sorted)");
        return false;
      }
      ids[i] = it->second;
    }
    out.ids = ids;
    return true;
  };
  auto try_index = [&](bool strict) {
    std::vector<int64_t> ids(labels.size(), -1);
    for (size_t i = 0; i < labels.size(); ++i) {
      if (labels[i].empty()) continue;
      int64_t v = -1;
      if (!parse_index(labels[i], v) || v >= num_classes) {
        if (strict)
          throw Error(ErrorKind::kInput, row_name(paths, i) + ": label '" + labels[i] + "' is not a class index in [0, " +
                                             std::to_string(num_classes) + ")");
        return false;
      }
      ids[i] = v;
    }
    out.ids = ids;
    return true;
  };
  auto try_sorted = [&](bool strict) {
    std::set<std::string> distinct;
    for (const auto& l : labels)
      if (!l.empty()) distinct.insert(l);
    if (static_cast<int64_t>(distinct.size()) != num_classes) {
      if (strict)
        throw Error(ErrorKind::kInput, "the data has " + std::to_string(distinct.size()) + " distinct labels, the class list " +
                                           std::to_string(num_classes) + " classes",
                    "labels that are not class names or indices are matched by sorted order, which needs one folder per class");
      return false;
    }
    std::map<std::string, int64_t> index;
    int64_t next = 0;
    for (const auto& l : distinct) index[l] = next++;
    for (size_t i = 0; i < labels.size(); ++i)
      if (!labels[i].empty()) out.ids[i] = index[labels[i]];
    out.warnings.push_back("labels matched to classes by sorted order (ImageFolder convention): '" + *distinct.begin() +
                           "' is class 0 (" + classnames[0] + ")");
    return true;
  };

  switch (rule) {
    case LabelRule::kName: try_name(true); out.rule = rule; break;
    case LabelRule::kIndex: try_index(true); out.rule = rule; break;
    case LabelRule::kSorted: try_sorted(true); out.rule = rule; break;
    case LabelRule::kAuto:
      if (try_name(false)) out.rule = LabelRule::kName;
      else if (try_index(false)) out.rule = LabelRule::kIndex;
      else if (try_sorted(false)) out.rule = LabelRule::kSorted;
      else {
        try_name(true);  // throws with the first unmatched row
        throw Error(ErrorKind::kInternal, "label resolution failed without a message");
      }
  }
  for (const auto& d : duplicate_classnames(classnames))
    out.warnings.push_back("class name '" + d + "' appears more than once; labels by name go to its first occurrence");
  return out;
}

std::vector<ImageInput> list_coop_split(const std::string& split_file, const std::string& split,
                                        const std::string& image_root) {
  json doc;
  try {
    doc = json::parse(read_file(split_file));
  } catch (const json::exception& e) {  // parse_error, or out_of_range for a number like 1e400
    throw Error(ErrorKind::kInput, "'" + split_file + "' is not valid JSON: " + e.what());
  }
  if (!doc.is_object() || !doc.contains(split) || !doc[split].is_array())
    throw Error(ErrorKind::kInput, "'" + split_file + "' has no '" + split + "' list", "use " + param("split") + " train, val or test");
  std::vector<ImageInput> out;
  const auto& rows = doc[split];
  for (size_t i = 0; i < rows.size(); ++i) {
    const auto& r = rows[i];
    if (!r.is_array() || r.size() < 2 || !r[0].is_string() || !r[1].is_number_integer())
      throw Error(ErrorKind::kInput, "'" + split_file + "' " + split + "[" + std::to_string(i) +
                                         "] is not [path, integer label, classname]");
    out.push_back({(fs::path(image_root) / r[0].get<std::string>()).string(), std::to_string(r[1].get<int64_t>())});
  }
  if (out.empty()) throw Error(ErrorKind::kInput, "'" + split_file + "' split '" + split + "' is empty");
  return out;
}

std::vector<std::string> coop_classnames(const std::string& split_file) {
  json doc = json::parse(read_file(split_file), nullptr, false);
  if (doc.is_discarded() || !doc.is_object()) throw Error(ErrorKind::kInput, "'" + split_file + "' is not valid JSON");
  std::map<int64_t, std::string> names;
  for (const auto& [split, rows] : doc.items()) {
    if (!rows.is_array()) continue;
    for (const auto& r : rows)
      if (r.is_array() && r.size() >= 3 && r[1].is_number_integer() && r[2].is_string()) names[r[1].get<int64_t>()] = r[2];
  }
  std::vector<std::string> out;
  for (const auto& [label, name] : names) {
    if (label != static_cast<int64_t>(out.size()))
      throw Error(ErrorKind::kInput, "'" + split_file + "' has no class with label " + std::to_string(out.size()));
    out.push_back(name);
  }
  return out;
}

}  // namespace clipzs
