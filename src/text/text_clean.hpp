// Private: the text cleaning that CLIP's SimpleTokenizer applies before BPE, reproduced on code points.
//
//   ftfy.fix_text (6.3.1 defaults, see text_clean.cpp for what is and is not covered)
//   -> html.unescape twice (Python semantics) -> str.strip() -> regex \s+ -> ' ' -> strip -> str.lower()
//
// Everything works on UTF-32 strings so that character counts and classes match Python's str.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace clipzs::text {

// ---- UTF-8 <-> UTF-32 ----
// Invalid UTF-8 becomes U+FFFD, one per maximal invalid subpart (what Python's errors="replace" does).
std::u32string decode_utf8_lossy(std::string_view bytes);
void append_utf8(std::string& out, char32_t cp);
std::string encode_utf8(std::u32string_view text);

// ---- character classes, with the semantics of the Python code CLIP runs ----
// str.isspace(): Unicode White_Space plus U+001C..U+001F (CPython's bidi-based definition).
bool is_py_space(char32_t c);
// \s of the `regex` module (used by whitespace_clean and the pre-tokenizer): Unicode White_Space.
bool is_regex_space(char32_t c);
// \p{L} and \p{N} (general categories L* and N*).
bool is_letter(char32_t c);
bool is_number(char32_t c);

// ---- steps ----
// ftfy.fix_text with its default configuration (line by line, fixes repeated until nothing changes).
std::u32string ftfy_fix_text(std::u32string_view text);
// Python's html.unescape (HTML5 named references incl. the legacy ones without ';', numeric references
// with the HTML5 replacement rules).
std::u32string html_unescape(std::u32string_view text);
// Python's str.lower(): full lower-case mapping (U+0130 -> "i\u0307") and the Final_Sigma rule.
std::u32string py_lower(std::u32string_view text);
// str.strip() then regex.sub(r'\s+', ' ') then strip().
std::u32string collapse_whitespace(std::u32string_view text);

// The whole chain: whitespace_clean(basic_clean(text)).lower().
std::u32string clip_clean(std::string_view utf8);

// ---- generated tables (html_entities.cpp) ----
struct EntityEntry {
  const char* name;   // without '&', with the ';' where the table has it
  const char* value;  // UTF-8
};
extern const EntityEntry kHtml5Entities[];
extern const std::size_t kHtml5EntityCount;
extern const EntityEntry kFtfyUpperEntities[];
extern const std::size_t kFtfyUpperEntityCount;

}  // namespace clipzs::text
