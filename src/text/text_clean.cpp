// Text cleaning of CLIP's SimpleTokenizer, reproduced on UTF-32 code points.
//
// ftfy 6.3.1 fix_text() with its default TextFixerConfig is reproduced step by step:
//   - text is fixed line by line (segments end after '\n', at most 1,000,000 characters); once a segment
//     contains '<', HTML unescaping is off for it and every later segment (ftfy's "auto" rule);
//   - per segment the fixers run in ftfy's order and are repeated until the text stops changing:
//     unescape_html (ftfy's own: only "&name;" / "&#...;" forms of 1-24 alphanumerics, plus all-caps
//     names such as &EACUTE;), fix_c1_controls (U+0080..U+009F read as sloppy Windows-1252),
//     fix_latin_ligatures, fix_character_width (U+3000 and the NFKC forms of U+FF01..U+FFEF),
//     uncurl_quotes, fix_line_breaks, (fix_surrogates: nothing to do, UTF-8 input has no surrogates),
//     remove_terminal_escapes, remove_control_chars, NFC.
//   - NOT reproduced: fix_encoding (mojibake detection and repair: the "badness" heuristic, re-decoding
//     through latin-1/Windows-125x/MacRoman/cp437, restore_byte_a0, replace_lossy_sequences,
//     decode_inconsistent_utf8). Text that ftfy would judge to be mojibake (e.g. "cafÃ©") therefore keeps
//     its characters here, while ftfy would turn it into "café".
// Then CLIP's own steps: html.unescape twice, strip, \s+ -> ' ', strip, lower().
//
// Unicode data (categories, case mapping, NFC/NFKC) comes from utf8proc. Its Unicode version (15.0 for
// utf8proc 2.8) may differ from the reference Python's for characters assigned in recent versions.
#include "text/text_clean.hpp"

#include <utf8proc.h>

#include <algorithm>
#include <array>
#include <cstdint>
#include <cstdlib>
#include <vector>

namespace clipzs::text {

// ---------------------------------------------------------------------------------------------------
// UTF-8

std::u32string decode_utf8_lossy(std::string_view bytes) {
  std::u32string out;
  out.reserve(bytes.size());
  const auto* s = reinterpret_cast<const unsigned char*>(bytes.data());
  const std::size_t n = bytes.size();
  std::size_t i = 0;
  while (i < n) {
    const unsigned char b = s[i];
    if (b < 0x80) {
      out.push_back(b);
      ++i;
      continue;
    }
    int need;
    char32_t cp;
    unsigned char lo = 0x80, hi = 0xBF;  // allowed range of the first continuation byte
    if (b >= 0xC2 && b <= 0xDF) {
      need = 1;
      cp = b & 0x1F;
    } else if (b >= 0xE0 && b <= 0xEF) {
      need = 2;
      cp = b & 0x0F;
      if (b == 0xE0) lo = 0xA0;
      if (b == 0xED) hi = 0x9F;  // no surrogates
    } else if (b >= 0xF0 && b <= 0xF4) {
      need = 3;
      cp = b & 0x07;
      if (b == 0xF0) lo = 0x90;
      if (b == 0xF4) hi = 0x8F;
    } else {
      out.push_back(0xFFFD);  // not a lead byte
      ++i;
      continue;
    }
    std::size_t j = i + 1;
    bool ok = true;
    for (int k = 0; k < need; ++k, ++j) {
      const unsigned char lo_k = k == 0 ? lo : 0x80, hi_k = k == 0 ? hi : 0xBF;
      if (j >= n || s[j] < lo_k || s[j] > hi_k) {
        ok = false;
        break;
      }
      cp = (cp << 6) | (s[j] & 0x3F);
    }
    // Maximal subpart rule: one U+FFFD for the valid prefix, continue at the offending byte.
    out.push_back(ok ? cp : char32_t{0xFFFD});
    i = j;
  }
  return out;
}

void append_utf8(std::string& out, char32_t cp) {
  if (cp < 0x80) {
    out.push_back(static_cast<char>(cp));
  } else if (cp < 0x800) {
    out.push_back(static_cast<char>(0xC0 | (cp >> 6)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else if (cp < 0x10000) {
    out.push_back(static_cast<char>(0xE0 | (cp >> 12)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else {
    out.push_back(static_cast<char>(0xF0 | (cp >> 18)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  }
}

std::string encode_utf8(std::u32string_view text) {
  std::string out;
  out.reserve(text.size());
  for (char32_t c : text) append_utf8(out, c);
  return out;
}

// ---------------------------------------------------------------------------------------------------
// Character classes. The White_Space set is a fixed list of 25 code points in the Unicode standard and
// utf8proc does not expose it, so it is spelled out.

bool is_regex_space(char32_t c) {
  if (c <= 0x20) return c == 0x20 || (c >= 0x09 && c <= 0x0D);
  if (c < 0x85) return false;
  return c == 0x85 || c == 0xA0 || c == 0x1680 || (c >= 0x2000 && c <= 0x200A) || c == 0x2028 ||
         c == 0x2029 || c == 0x202F || c == 0x205F || c == 0x3000;
}

bool is_py_space(char32_t c) { return is_regex_space(c) || (c >= 0x1C && c <= 0x1F); }

static inline utf8proc_category_t category(char32_t c) {
  return utf8proc_category(static_cast<utf8proc_int32_t>(c));
}

bool is_letter(char32_t c) {
  if (c < 0x80) return (c | 0x20) >= 'a' && (c | 0x20) <= 'z';
  const auto cat = category(c);
  return cat >= UTF8PROC_CATEGORY_LU && cat <= UTF8PROC_CATEGORY_LO;
}

bool is_number(char32_t c) {
  if (c < 0x80) return c >= '0' && c <= '9';
  const auto cat = category(c);
  return cat >= UTF8PROC_CATEGORY_ND && cat <= UTF8PROC_CATEGORY_NO;
}

// ---------------------------------------------------------------------------------------------------
// NFC / NFKC through utf8proc.

static bool needs_normalization_check(std::u32string_view text) {
  // Nothing below U+0300 decomposes under NFC or composes with a following character.
  return std::any_of(text.begin(), text.end(), [](char32_t c) { return c >= 0x300; });
}

static std::u32string utf8proc_normalize(std::u32string_view text, utf8proc_option_t options) {
  const std::string utf8 = encode_utf8(text);
  utf8proc_uint8_t* mapped = nullptr;
  const utf8proc_ssize_t len =
      utf8proc_map(reinterpret_cast<const utf8proc_uint8_t*>(utf8.data()),
                   static_cast<utf8proc_ssize_t>(utf8.size()), &mapped, options);
  if (len < 0 || mapped == nullptr) {
    std::free(mapped);
    return std::u32string(text);  // cannot happen for valid scalar values
  }
  std::u32string out =
      decode_utf8_lossy(std::string_view(reinterpret_cast<const char*>(mapped), static_cast<std::size_t>(len)));
  std::free(mapped);
  return out;
}

static std::u32string nfc(std::u32string_view text) {
  if (!needs_normalization_check(text)) return std::u32string(text);
  return utf8proc_normalize(text, static_cast<utf8proc_option_t>(UTF8PROC_STABLE | UTF8PROC_COMPOSE));
}

// ---------------------------------------------------------------------------------------------------
// HTML entity tables.

static const EntityEntry* find_entity(const EntityEntry* table, std::size_t count, std::string_view name) {
  const EntityEntry* end = table + count;
  const EntityEntry* it = std::lower_bound(
      table, end, name, [](const EntityEntry& e, std::string_view key) { return std::string_view(e.name) < key; });
  if (it != end && std::string_view(it->name) == name) return it;
  return nullptr;
}

static void append_utf8_value(std::u32string& out, const char* value) {
  out += decode_utf8_lossy(value);
}

// Python html._invalid_charrefs for 0x80..0x9F: the Windows-1252 reading, undefined bytes kept as is.
// fix_c1_controls ("sloppy-windows-1252") uses the same mapping.
static constexpr std::array<char32_t, 32> kWindows1252High = {
    0x20AC, 0x0081, 0x201A, 0x0192, 0x201E, 0x2026, 0x2020, 0x2021, 0x02C6, 0x2030, 0x0160,
    0x2039, 0x0152, 0x008D, 0x017D, 0x008F, 0x0090, 0x2018, 0x2019, 0x201C, 0x201D, 0x2022,
    0x2013, 0x2014, 0x02DC, 0x2122, 0x0161, 0x203A, 0x0153, 0x009D, 0x017E, 0x0178};

// Python's html._replace_charref for a numeric reference. `overflow` marks values past 0x10FFFF.
static void append_numeric_charref(std::u32string& out, std::uint32_t num, bool overflow) {
  if (!overflow) {
    if (num == 0x00) {
      out.push_back(0xFFFD);
      return;
    }
    if (num == 0x0D) {
      out.push_back(0x0D);
      return;
    }
    if (num >= 0x80 && num <= 0x9F) {
      out.push_back(kWindows1252High[num - 0x80]);
      return;
    }
  }
  if (overflow || num > 0x10FFFF || (num >= 0xD800 && num <= 0xDFFF)) {
    out.push_back(0xFFFD);
    return;
  }
  // html._invalid_codepoints: dropped.
  if ((num >= 0x01 && num <= 0x08) || num == 0x0B || (num >= 0x0E && num <= 0x1F) ||
      (num >= 0x7F && num <= 0x9F) || (num >= 0xFDD0 && num <= 0xFDEF) || (num & 0xFFFE) == 0xFFFE) {
    return;
  }
  out.push_back(num);
}

static inline bool is_ascii_digit(char32_t c) { return c >= '0' && c <= '9'; }
static inline bool is_ascii_hex(char32_t c) {
  return is_ascii_digit(c) || ((c | 0x20) >= 'a' && (c | 0x20) <= 'f');
}
static inline bool is_ascii_alnum(char32_t c) {
  return is_ascii_digit(c) || ((c | 0x20) >= 'a' && (c | 0x20) <= 'z');
}
static inline int hex_value(char32_t c) {
  return is_ascii_digit(c) ? static_cast<int>(c - '0') : static_cast<int>((c | 0x20) - 'a' + 10);
}

// Tries to match Python's html charref pattern
//   &(#[0-9]+;?|#[xX][0-9a-fA-F]+;?|[^\t\n\f <&#;]{1,32};?)
// at text[pos] == '&'. On success appends the replacement and returns the matched length, else 0.
static std::size_t replace_charref_at(std::u32string_view text, std::size_t pos, std::u32string& out) {
  const std::size_t n = text.size();
  std::size_t i = pos + 1;
  if (i < n && text[i] == '#') {
    ++i;
    int base = 10;
    if (i < n && (text[i] == 'x' || text[i] == 'X') && i + 1 < n && is_ascii_hex(text[i + 1])) {
      base = 16;
      ++i;
    } else if (!(i < n && is_ascii_digit(text[i]))) {
      return 0;
    }
    std::uint32_t num = 0;
    bool overflow = false;
    while (i < n && (base == 16 ? is_ascii_hex(text[i]) : is_ascii_digit(text[i]))) {
      if (!overflow) {
        num = num * base + static_cast<std::uint32_t>(hex_value(text[i]));
        if (num > 0x10FFFF) overflow = true;
      }
      ++i;
    }
    if (i < n && text[i] == ';') ++i;
    append_numeric_charref(out, num, overflow);
    return i - pos;
  }
  // Named reference: up to 32 characters outside the excluded set, then an optional ';'.
  std::size_t j = i;
  while (j < n && j - i < 32) {
    const char32_t c = text[j];
    if (c == '\t' || c == '\n' || c == '\f' || c == ' ' || c == '<' || c == '&' || c == '#' || c == ';') break;
    ++j;
  }
  if (j == i) return 0;
  if (j < n && text[j] == ';') ++j;
  const std::u32string_view s = text.substr(i, j - i);
  // Entity names are ASCII; a name containing anything else can only match through a shorter prefix.
  std::string ascii;
  ascii.reserve(s.size());
  for (char32_t c : s) {
    if (c >= 0x80) break;
    ascii.push_back(static_cast<char>(c));
  }
  if (ascii.size() == s.size()) {
    if (const EntityEntry* e = find_entity(kHtml5Entities, kHtml5EntityCount, ascii)) {
      append_utf8_value(out, e->value);
      return j - pos;
    }
  }
  // Longest prefix (at least 2 characters) that is an entity name; the rest is kept.
  for (std::size_t x = std::min(s.size() - 1, ascii.size()); x >= 2; --x) {
    if (const EntityEntry* e = find_entity(kHtml5Entities, kHtml5EntityCount, std::string_view(ascii).substr(0, x))) {
      append_utf8_value(out, e->value);
      out.append(s.substr(x));
      return j - pos;
    }
  }
  return 0;  // '&' + s: unchanged
}

std::u32string html_unescape(std::u32string_view text) {
  if (text.find(U'&') == std::u32string_view::npos) return std::u32string(text);
  std::u32string out;
  out.reserve(text.size());
  std::size_t i = 0;
  while (i < text.size()) {
    if (text[i] == '&') {
      const std::size_t used = replace_charref_at(text, i, out);
      if (used > 0) {
        i += used;
        continue;
      }
    }
    out.push_back(text[i]);
    ++i;
  }
  return out;
}

// ftfy.fixes.unescape_html: pattern &#?[0-9A-Za-z]{1,24}; ; names from the HTML5 table that end in ';',
// all-caps variants, and numeric references that Python decodes completely (no ';' left over).
static std::u32string ftfy_unescape(std::u32string_view text) {
  if (text.find(U'&') == std::u32string_view::npos) return std::u32string(text);
  std::u32string out;
  out.reserve(text.size());
  std::size_t i = 0;
  const std::size_t n = text.size();
  while (i < n) {
    if (text[i] != '&') {
      out.push_back(text[i++]);
      continue;
    }
    std::size_t j = i + 1;
    const bool numeric = j < n && text[j] == '#';
    if (numeric) ++j;
    const std::size_t run_start = j;
    while (j < n && is_ascii_alnum(text[j]) && j - run_start <= 24) ++j;
    const std::size_t run = j - run_start;
    if (run < 1 || run > 24 || j >= n || text[j] != ';') {
      out.push_back(text[i++]);
      continue;
    }
    const std::u32string_view match = text.substr(i, j + 1 - i);
    if (!numeric) {
      std::string name;
      for (char32_t c : match.substr(1)) name.push_back(static_cast<char>(c));
      const EntityEntry* e = find_entity(kHtml5Entities, kHtml5EntityCount, name);
      if (e == nullptr) e = find_entity(kFtfyUpperEntities, kFtfyUpperEntityCount, name);
      if (e != nullptr) {
        append_utf8_value(out, e->value);
      } else {
        out.append(match);
      }
    } else {
      const std::u32string decoded = html_unescape(match);
      if (decoded.find(U';') != std::u32string::npos) {
        out.append(match);
      } else {
        out.append(decoded);
      }
    }
    i = j + 1;
  }
  return out;
}

// ---------------------------------------------------------------------------------------------------
// The other ftfy fixers.

static void fix_c1_controls(std::u32string& text) {
  for (char32_t& c : text) {
    if (c >= 0x80 && c <= 0x9F) c = kWindows1252High[c - 0x80];
  }
}

static const char32_t* ligature_expansion(char32_t c) {
  switch (c) {
    case 0x0132: return U"IJ";
    case 0x0133: return U"ij";
    case 0x0149: return U"\u02BCn";
    case 0x01F1: return U"DZ";
    case 0x01F2: return U"Dz";
    case 0x01F3: return U"dz";
    case 0x01C4: return U"D\u017D";
    case 0x01C5: return U"D\u017E";
    case 0x01C6: return U"d\u017E";
    case 0x01C7: return U"LJ";
    case 0x01C8: return U"Lj";
    case 0x01C9: return U"lj";
    case 0x01CA: return U"NJ";
    case 0x01CB: return U"Nj";
    case 0x01CC: return U"nj";
    case 0xFB00: return U"ff";
    case 0xFB01: return U"fi";
    case 0xFB02: return U"fl";
    case 0xFB03: return U"ffi";
    case 0xFB04: return U"ffl";
    case 0xFB05: return U"\u017Ft";
    case 0xFB06: return U"st";
    default: return nullptr;
  }
}

static void fix_latin_ligatures(std::u32string& text) {
  const bool any = std::any_of(text.begin(), text.end(), [](char32_t c) { return ligature_expansion(c) != nullptr; });
  if (!any) return;
  std::u32string out;
  out.reserve(text.size() + 8);
  for (char32_t c : text) {
    if (const char32_t* rep = ligature_expansion(c)) {
      out += rep;
    } else {
      out.push_back(c);
    }
  }
  text.swap(out);
}

// ftfy's width map: U+3000 -> ' ', and every U+FF01..U+FFEF whose NFKC form differs.
static const std::vector<std::u32string>& width_map() {
  static const std::vector<std::u32string> table = [] {
    std::vector<std::u32string> t(0xFFF0 - 0xFF01);
    for (char32_t c = 0xFF01; c < 0xFFF0; ++c) {
      const char32_t one[1] = {c};
      std::u32string alt = utf8proc_normalize(
          std::u32string_view(one, 1),
          static_cast<utf8proc_option_t>(UTF8PROC_STABLE | UTF8PROC_COMPOSE | UTF8PROC_COMPAT));
      if (alt != std::u32string_view(one, 1)) t[c - 0xFF01] = std::move(alt);
    }
    return t;
  }();
  return table;
}

static void fix_character_width(std::u32string& text) {
  const bool any = std::any_of(text.begin(), text.end(), [](char32_t c) { return c == 0x3000 || (c >= 0xFF01 && c < 0xFFF0); });
  if (!any) return;
  const auto& map = width_map();
  std::u32string out;
  out.reserve(text.size());
  for (char32_t c : text) {
    if (c == 0x3000) {
      out.push_back(' ');
    } else if (c >= 0xFF01 && c < 0xFFF0 && !map[c - 0xFF01].empty()) {
      out += map[c - 0xFF01];
    } else {
      out.push_back(c);
    }
  }
  text.swap(out);
}

static void uncurl_quotes(std::u32string& text) {
  for (char32_t& c : text) {
    if (c == 0x02BC || (c >= 0x2018 && c <= 0x201B)) {
      c = '\'';
    } else if (c >= 0x201C && c <= 0x201F) {
      c = '"';
    }
  }
}

static void fix_line_breaks(std::u32string& text) {
  std::u32string out;
  out.reserve(text.size());
  bool changed = false;
  for (std::size_t i = 0; i < text.size(); ++i) {
    const char32_t c = text[i];
    if (c == '\r') {
      changed = true;
      if (i + 1 < text.size() && text[i + 1] == '\n') continue;  // "\r\n" -> "\n"
      out.push_back('\n');
    } else if (c == 0x2028 || c == 0x2029 || c == 0x85) {
      changed = true;
      out.push_back('\n');
    } else {
      out.push_back(c);
    }
  }
  if (changed) text.swap(out);
}

// Python's \d in a str pattern is any decimal digit (category Nd).
static bool is_unicode_decimal(char32_t c) {
  if (c < 0x80) return is_ascii_digit(c);
  return category(c) == UTF8PROC_CATEGORY_ND;
}

// "\033[" then digits or ';' then one ASCII letter.
static void remove_terminal_escapes(std::u32string& text) {
  if (text.find(U'\033') == std::u32string::npos) return;
  std::u32string out;
  out.reserve(text.size());
  std::size_t i = 0;
  while (i < text.size()) {
    if (text[i] == 0x1B && i + 1 < text.size() && text[i + 1] == '[') {
      std::size_t j = i + 2;
      while (j < text.size() && (text[j] == ';' || is_unicode_decimal(text[j]))) ++j;
      if (j < text.size() && text[j] < 0x80 && (text[j] | 0x20) >= 'a' && (text[j] | 0x20) <= 'z') {
        i = j + 1;
        continue;
      }
    }
    out.push_back(text[i++]);
  }
  text.swap(out);
}

static bool is_removed_control(char32_t c) {
  if (c < 0x20) return c <= 0x08 || c == 0x0B || c >= 0x0E;
  return c == 0x7F || (c >= 0x206A && c <= 0x206F) || c == 0xFEFF || (c >= 0xFFF9 && c <= 0xFFFC);
}

static void remove_control_chars(std::u32string& text) {
  text.erase(std::remove_if(text.begin(), text.end(), is_removed_control), text.end());
}

static std::u32string fix_segment(std::u32string text, bool unescape) {
  while (true) {
    std::u32string original = text;
    if (unescape) text = ftfy_unescape(text);
    fix_c1_controls(text);
    fix_latin_ligatures(text);
    fix_character_width(text);
    uncurl_quotes(text);
    fix_line_breaks(text);
    remove_terminal_escapes(text);
    remove_control_chars(text);
    text = nfc(text);
    if (text == original) return text;
  }
}

std::u32string ftfy_fix_text(std::u32string_view text) {
  constexpr std::size_t kMaxDecodeLength = 1000000;
  std::u32string out;
  out.reserve(text.size());
  bool unescape = true;
  std::size_t pos = 0;
  while (pos < text.size()) {
    const std::size_t nl = text.find(U'\n', pos);
    std::size_t end = nl == std::u32string_view::npos ? text.size() : nl + 1;
    if (end - pos > kMaxDecodeLength) end = pos + kMaxDecodeLength;
    const std::u32string_view segment = text.substr(pos, end - pos);
    if (segment.find(U'<') != std::u32string_view::npos) unescape = false;  // sticky, as in ftfy
    out += fix_segment(std::u32string(segment), unescape);
    pos = end;
  }
  return out;
}

// ---------------------------------------------------------------------------------------------------
// Lower-casing with Python's str.lower() semantics.

// Case_Ignorable (Unicode DerivedCoreProperties): categories Mn, Me, Cf, Lm, Sk plus the Word_Break
// MidLetter / MidNumLet / Single_Quote characters, which utf8proc does not expose (short fixed list).
static bool is_case_ignorable(char32_t c) {
  switch (c) {
    case 0x0027: case 0x002E: case 0x003A: case 0x00B7: case 0x0387: case 0x055F: case 0x05F4:
    case 0x2018: case 0x2019: case 0x2024: case 0x2027: case 0xFE13: case 0xFE52: case 0xFE55:
    case 0xFF07: case 0xFF0E: case 0xFF1A:
      return true;
    default:
      break;
  }
  const auto cat = category(c);
  return cat == UTF8PROC_CATEGORY_MN || cat == UTF8PROC_CATEGORY_ME || cat == UTF8PROC_CATEGORY_CF ||
         cat == UTF8PROC_CATEGORY_LM || cat == UTF8PROC_CATEGORY_SK;
}

// Cased = Lu, Ll, Lt, Other_Lowercase, Other_Uppercase. Characters with a case mapping cover most of
// the Other_* ones (Roman numerals, circled letters); the modifier letters and ordinal indicators that
// are Other_Lowercase without a mapping are listed.
static bool is_cased(char32_t c) {
  const auto cat = category(c);
  if (cat == UTF8PROC_CATEGORY_LU || cat == UTF8PROC_CATEGORY_LL || cat == UTF8PROC_CATEGORY_LT) return true;
  const auto cp = static_cast<utf8proc_int32_t>(c);
  if (utf8proc_tolower(cp) != cp || utf8proc_toupper(cp) != cp) return true;
  struct Range { char32_t lo, hi; };
  static constexpr Range kOther[] = {
      {0x00AA, 0x00AA}, {0x00BA, 0x00BA}, {0x02B0, 0x02B8}, {0x02C0, 0x02C1}, {0x02E0, 0x02E4},
      {0x0345, 0x0345}, {0x037A, 0x037A}, {0x10FC, 0x10FC}, {0x1D2C, 0x1D6A}, {0x1D78, 0x1D78},
      {0x1D9B, 0x1DBF}, {0x2071, 0x2071}, {0x207F, 0x207F}, {0x2090, 0x209C}, {0x2160, 0x217F},
      {0x24B6, 0x24E9}, {0x2C7C, 0x2C7D}, {0xA69C, 0xA69D}, {0xA770, 0xA770}, {0xA7F2, 0xA7F4},
      {0xA7F8, 0xA7F9}, {0xAB5C, 0xAB5F}, {0xAB69, 0xAB69}, {0x10780, 0x10780}, {0x10783, 0x10785},
      {0x10787, 0x107B0}, {0x107B2, 0x107BA}, {0x1E030, 0x1E06D}, {0x1F130, 0x1F149},
      {0x1F150, 0x1F169}, {0x1F170, 0x1F189}};
  for (const Range& r : kOther) {
    if (c >= r.lo && c <= r.hi) return true;
  }
  return false;
}

// CPython's Final_Sigma test: a cased letter before (skipping case-ignorables) and none after.
static bool is_final_sigma(std::u32string_view text, std::size_t i) {
  std::size_t j = i;
  char32_t c = 0;
  bool found = false;
  while (j > 0) {
    c = text[--j];
    if (!is_case_ignorable(c)) {
      found = true;
      break;
    }
  }
  if (!found || !is_cased(c)) return false;
  for (std::size_t k = i + 1; k < text.size(); ++k) {
    if (!is_case_ignorable(text[k])) return !is_cased(text[k]);
  }
  return true;
}

std::u32string py_lower(std::u32string_view text) {
  std::u32string out;
  out.reserve(text.size());
  for (std::size_t i = 0; i < text.size(); ++i) {
    const char32_t c = text[i];
    if (c < 0x80) {
      out.push_back(c >= 'A' && c <= 'Z' ? c + 32 : c);
    } else if (c == 0x0130) {
      // SpecialCasing: the only unconditional multi-character lower-case mapping.
      out.push_back('i');
      out.push_back(0x0307);
    } else if (c == 0x03A3) {
      out.push_back(is_final_sigma(text, i) ? 0x03C2 : 0x03C3);
    } else {
      out.push_back(static_cast<char32_t>(utf8proc_tolower(static_cast<utf8proc_int32_t>(c))));
    }
  }
  return out;
}

// ---------------------------------------------------------------------------------------------------

static std::u32string_view py_strip(std::u32string_view text) {
  std::size_t b = 0, e = text.size();
  while (b < e && is_py_space(text[b])) ++b;
  while (e > b && is_py_space(text[e - 1])) --e;
  return text.substr(b, e - b);
}

std::u32string collapse_whitespace(std::u32string_view text) {
  const std::u32string_view stripped = py_strip(text);
  std::u32string out;
  out.reserve(stripped.size());
  bool in_space = false;
  for (char32_t c : stripped) {
    if (is_regex_space(c)) {
      if (!in_space) out.push_back(' ');
      in_space = true;
    } else {
      out.push_back(c);
      in_space = false;
    }
  }
  return std::u32string(py_strip(out));
}

// Plain printable ASCII without '&': ftfy and html.unescape change nothing, so they are skipped.
static bool is_plain_ascii(std::string_view s) {
  for (unsigned char c : s) {
    if (c >= 0x7F || c == '&') return false;
    if (c < 0x20 && c != '\t' && c != '\n' && c != '\f') return false;
  }
  return true;
}

std::u32string clip_clean(std::string_view utf8) {
  std::u32string text = decode_utf8_lossy(utf8);
  if (!is_plain_ascii(utf8)) {
    text = ftfy_fix_text(text);
    text = html_unescape(html_unescape(text));
  }
  return py_lower(collapse_whitespace(text));
}

}  // namespace clipzs::text
