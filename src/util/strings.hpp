// Private string and path helpers shared by the listing readers (store/) and option parsing.
#pragma once

#include <cctype>
#include <filesystem>
#include <string>

namespace clipzs::detail {

// ASCII lower-casing (names, extensions, options); other bytes unchanged.
inline std::string ascii_lower(std::string s) {
  for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

// Without leading and trailing spaces, tabs, CR and LF.
inline std::string trim_space(const std::string& s) {
  const size_t b = s.find_first_not_of(" \t\r\n");
  if (b == std::string::npos) return "";
  const size_t e = s.find_last_not_of(" \t\r\n");
  return s.substr(b, e - b + 1);
}

// A path read from a listing file: relative paths are relative to the listing's folder.
inline std::string resolve_listed_path(const std::filesystem::path& base, const std::string& path) {
  std::filesystem::path p(path);
  return p.is_absolute() ? p.string() : (base / p).lexically_normal().string();
}

}  // namespace clipzs::detail
