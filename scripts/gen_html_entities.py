#!/usr/bin/env python3
"""Writes src/text/html_entities.cpp, the HTML entity tables of text cleaning, from Python's standard library.

Regenerate:
    /usr/bin/python3 scripts/gen_html_entities.py --out src/text/html_entities.cpp
Check that the committed file is this script's output, byte for byte (exit 1 and the first differing
line when not; tests/python/test_html_entities.py does the same under CTest):
    /usr/bin/python3 scripts/gen_html_entities.py --check src/text/html_entities.cpp

Two tables, each sorted by name in byte order:
  kHtml5Entities      every name of html.entities.html5 (the WHATWG table: names with and without the
                      trailing ';') -> its text, as html.unescape decodes it
  kFtfyUpperEntities  the all-caps names ftfy also decodes: for each all-lower-case name N ending in ';'
                      whose upper-cased form U is left alone by html.unescape("&" + U), U -> html5[N].upper()
Values are UTF-8 C string literals: printable ASCII as itself, everything else (and '"', '\\', '?', the
last to stay clear of trigraphs) as a three-digit octal escape.
"""

import argparse
import html
import html.entities
import sys

HEADER = """\
// Generated, do not edit: /usr/bin/python3 scripts/gen_html_entities.py --out src/text/html_entities.cpp
// The HTML5 named character references as Python's html.entities.html5 holds them (the WHATWG
// table; names with and without the trailing ';'), and the all-caps names ftfy also decodes: for
// each lower-case name N ending in ';' whose upper-cased form U is not decoded by
// html.unescape("&" + U), U maps to html5[N].upper(). Sorted by name (byte order).
#include "text/text_clean.hpp"

namespace clipzs::text {
"""

FOOTER = """\
}  // namespace clipzs::text
"""


def c_literal(text: str) -> str:
    out = []
    for byte in text.encode("utf-8"):
        if 0x20 <= byte < 0x7F and chr(byte) not in '"\\?':
            out.append(chr(byte))
        else:
            out.append("\\%03o" % byte)
    return '"' + "".join(out) + '"'


def upper_entities(table: dict) -> dict:
    out = {}
    for name, text in table.items():
        if not name.endswith(";") or name != name.lower():
            continue
        upper = name.upper()
        if html.unescape("&" + upper) == "&" + upper:  # not decoded as it stands
            out[upper] = text.upper()
    return out


def c_table(variable: str, count: str, table: dict) -> str:
    lines = ["const EntityEntry %s[] = {" % variable]
    for name in sorted(table, key=lambda n: n.encode("utf-8")):
        lines.append("    {%s, %s}," % (c_literal(name), c_literal(table[name])))
    lines.append("};")
    lines.append("const std::size_t %s = sizeof(%s) / sizeof(%s[0]);" % (count, variable, variable))
    return "\n".join(lines) + "\n"


def generate() -> str:
    html5 = html.entities.html5
    return (HEADER + "\n" + c_table("kHtml5Entities", "kHtml5EntityCount", html5) + "\n" +
            c_table("kFtfyUpperEntities", "kFtfyUpperEntityCount", upper_entities(html5)) + "\n" + FOOTER)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    what = parser.add_mutually_exclusive_group(required=True)
    what.add_argument("--out", help="the .cpp file to write ('-' for standard output)")
    what.add_argument("--check", metavar="FILE", help="compare FILE with what --out would write; exit 1 when they differ")
    args = parser.parse_args(argv)
    text = generate()
    if args.check:
        with open(args.check, "rb") as f:
            have = f.read().decode("utf-8")
        if have == text:
            return 0
        want_lines, have_lines = text.splitlines(), have.splitlines()
        for i in range(max(len(want_lines), len(have_lines))):
            want = want_lines[i] if i < len(want_lines) else "(end of file)"
            got = have_lines[i] if i < len(have_lines) else "(end of file)"
            if want != got:
                break
        else:
            i, want, got = len(want_lines), "(line ends differ)", ""
        sys.stderr.write("%s differs from the generator's output at line %d:\n  file:      %s\n  generator: %s\n"
                         "regenerate: /usr/bin/python3 scripts/gen_html_entities.py --out %s\n" % (args.check, i + 1, got, want, args.check))
        return 1
    if args.out == "-":
        sys.stdout.write(text)
    else:
        with open(args.out, "w", encoding="utf-8", newline="\n") as f:
            f.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
