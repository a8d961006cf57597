// Checked reads of count fields from JSON files users can edit: get<int64_t>() of a float like 1e300
// is undefined behaviour, so a count must be a non-negative JSON integer that fits int64.
#pragma once

#include <cstdint>
#include <string>

#include <nlohmann/json.hpp>

#include "clipzs/util/error.hpp"

namespace clipzs::store_detail {

// obj[key] as a count; Error(kInput) "<where>: '<key>' is not a non-negative integer" otherwise.
inline int64_t json_count(const nlohmann::json& obj, const char* key, const std::string& where) {
  const auto it = obj.is_object() ? obj.find(key) : obj.end();
  if (it == obj.end() || !it->is_number_unsigned() || it->get<uint64_t>() > static_cast<uint64_t>(INT64_MAX))
    throw Error(ErrorKind::kInput, where + ": '" + key + "' is missing or not a non-negative integer");
  return static_cast<int64_t>(it->get<uint64_t>());
}

// A plain file name inside a store folder (no '/', not "." or ".."): manifest "files" keys.
inline bool is_plain_file_name(const std::string& name) {
  return !name.empty() && name != "." && name != ".." && name.find('/') == std::string::npos;
}

// A row record whose "status" is the string "error" (any other value, or none, is not).
inline bool is_error_record(const nlohmann::json& record) {
  if (!record.is_object()) return false;
  const auto it = record.find("status");
  return it != record.end() && it->is_string() && it->get_ref<const std::string&>() == "error";
}

}  // namespace clipzs::store_detail
