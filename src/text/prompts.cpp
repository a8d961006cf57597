// Class names and prompt templates (declared in clipzs/pipeline/embed.hpp; no LibTorch needed).
#include <filesystem>
#include <fstream>

#include <nlohmann/json.hpp>

#include "clipzs/text/prompts.hpp"
#include "clipzs/util/error.hpp"
#include "clipzs/util/files.hpp"
#include "clipzs/util/log.hpp"
#include "util/strings.hpp"

namespace clipzs {
using nlohmann::json;

namespace {

// Opens like a JSON object or array (after blanks and a UTF-8 byte-order mark).
bool opens_like_json(const std::string& text) {
  size_t i = text.find_first_not_of(" \t\r\n\xEF\xBB\xBF");
  return i != std::string::npos && (text[i] == '{' || text[i] == '[');
}

// Whether text that opens with '{' or '[' but does not parse is broken JSON rather than a line file.
// JSON's first bracket is followed by a string, a nested bracket, a closing bracket or a number
// ('["a", ...' or '{"imagenet1k": ...', also on one line); a line file's is followed by a word
// ("{c}", "{c} in the wild", "[c] ..."). A first line that is a bare "{}" or "[]" is a template
// placeholder line, not JSON. Pretty-printed JSON also shows JSON-only lines: a lone bracket, or a
// quoted string ending in ',' or holding '":'.
bool broken_json(const std::string& text, const std::vector<std::string>& lines) {
  const size_t open = text.find_first_not_of(" \t\r\n");
  const std::string first = lines.empty() ? std::string() : detail::trim_space(lines.front());
  if (first == "{}" || first == "[]") return false;
  const size_t next = text.find_first_not_of(" \t\r\n", open + 1);
  if (next != std::string::npos && std::string("\"[{]}-0123456789").find(text[next]) != std::string::npos) return true;
  for (const std::string& line : lines) {
    const std::string l = detail::trim_space(line);
    if (l.empty()) continue;
    if (l == "{" || l == "}" || l == "[" || l == "]" || l == "}," || l == "],") return true;
    if (l.front() == '"' && (l.back() == ',' || l.find("\":") != std::string::npos)) return true;
  }
  return false;
}

std::vector<std::string> lines_of(const std::string& file, const std::string& text) {
  std::vector<std::string> out;
  size_t start = 0;
  while (start <= text.size()) {
    size_t nl = text.find('\n', start);
    std::string line = text.substr(start, nl == std::string::npos ? std::string::npos : nl - start);
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (!line.empty()) out.push_back(line);
    if (nl == std::string::npos) break;
    start = nl + 1;
  }
  if (out.empty()) throw Error(ErrorKind::kInput, "'" + file + "' has no lines", "write one entry per line");
  return out;
}

// A list of strings from a CLIP_benchmark-style file: JSON {dataset: [..]} / [..], or plain lines.
// The reading is decided by parsing, not by the first character: a file is JSON when it parses as a JSON
// object or array, otherwise one entry per line. A line file can open with '{' or '[' ("{c}",
// "{c} in the wild"); then the line reading is used and said so. A file with JSON-only lines that does
// not parse is refused as broken JSON rather than read as entries.
std::vector<std::string> string_list(const std::string& file, const std::string& dataset, const char* what) {
  std::string text = read_file(file);
  if (text.compare(0, 3, "\xEF\xBB\xBF") == 0) text.erase(0, 3);
  json doc = json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (!doc.is_object() && !doc.is_array()) {
    std::vector<std::string> lines = lines_of(file, text);
    if (opens_like_json(text)) {
      if (broken_json(text, lines)) {
        try {
          const json reparsed = json::parse(text);  // throws with the position of the error
          (void)reparsed;
        } catch (const json::parse_error& e) {
          throw Error(ErrorKind::kInput, "'" + file + "' is not valid JSON: " + e.what(),
                      "fix the JSON, or write plain text with one entry per line");
        }
      }
      log_warn("'" + file + "' is not JSON (it opens with '" + text.substr(text.find_first_not_of(" \t\r\n"), 1) +
               "' but does not parse as a JSON object or array): read as " + std::to_string(lines.size()) +
               " " + what + ", one per line");
    }
    return lines;
  }
  const json* list = &doc;
  if (doc.is_object()) {
    if (!dataset.empty()) {
      if (!doc.contains(dataset))
        throw Error(ErrorKind::kInput, "'" + file + "' has no key '" + dataset + "'",
                    "pass " + param("dataset") + " with one of the file's keys (e.g. imagenet1k, cifar10)");
      list = &doc[dataset];
    } else if (doc.size() == 1) {
      list = &doc.begin().value();
    } else {
      throw Error(ErrorKind::kInput, "'" + file + "' holds " + std::to_string(doc.size()) + " datasets",
                  "pass " + param("dataset") + " to choose one (e.g. " + param("dataset") + " imagenet1k)");
    }
  }
  if (!list->is_array() || list->empty())
    throw Error(ErrorKind::kInput, "'" + file + "'" + (dataset.empty() ? "" : " key '" + dataset + "'") +
                                       " is not a non-empty list of " + what);
  std::vector<std::string> out;
  for (size_t i = 0; i < list->size(); ++i) {
    if (!(*list)[i].is_string())
      throw Error(ErrorKind::kInput, "'" + file + "' entry " + std::to_string(i) + " is not a string");
    out.push_back((*list)[i].get<std::string>());
  }
  return out;
}

std::string fill_template(const std::string& tmpl, const std::string& name) {
  std::string out = tmpl;
  for (const char* placeholder : {"{c}", "{}"}) {
    const std::string p(placeholder);
    for (size_t pos; (pos = out.find(p)) != std::string::npos;) out.replace(pos, p.size(), name);
  }
  return out;
}

}  // namespace

ClassPrompts load_class_prompts(const std::string& classes_file, const std::string& templates_file,
                                const std::string& dataset, const std::string& cupl_prompts) {
  return build_class_prompts(string_list(classes_file, dataset, "class names"), templates_file, dataset, cupl_prompts);
}

ClassPrompts build_class_prompts(std::vector<std::string> classnames, const std::string& templates_file,
                                 const std::string& dataset, const std::string& cupl_prompts) {
  ClassPrompts out;
  out.classnames = std::move(classnames);
  std::vector<std::string> templates{"{c}"};
  if (!templates_file.empty()) {
    templates = string_list(templates_file, dataset, "templates");
    for (size_t i = 0; i < templates.size(); ++i)
      if (templates[i].find("{c}") == std::string::npos && templates[i].find("{}") == std::string::npos)
        throw Error(ErrorKind::kInput, "'" + templates_file + "' template " + std::to_string(i) + " (\"" + templates[i] +
                                           "\") has no {c} placeholder");
  }
  json cupl;
  if (!cupl_prompts.empty()) {
    try {
      cupl = json::parse(read_file(cupl_prompts));
    } catch (const json::parse_error& e) {
      throw Error(ErrorKind::kInput, "'" + cupl_prompts + "' is not valid JSON: " + e.what());
    }
    if (!cupl.is_object()) throw Error(ErrorKind::kInput, "'" + cupl_prompts + "' must map class names to prompt lists");
  }
  for (const auto& name : out.classnames) {
    std::vector<std::string> prompts;
    if (cupl.contains(name)) {
      for (const auto& p : cupl[name]) {
        if (!p.is_string()) throw Error(ErrorKind::kInput, "'" + cupl_prompts + "' class '" + name + "' has a non-string prompt");
        prompts.push_back(p.get<std::string>());
      }
    } else {
      for (const auto& t : templates) prompts.push_back(fill_template(t, name));
    }
    if (prompts.empty()) throw Error(ErrorKind::kInput, "class '" + name + "' has no prompts");
    out.prompts.push_back(std::move(prompts));
  }
  return out;
}

}  // namespace clipzs
