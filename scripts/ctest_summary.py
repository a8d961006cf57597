#!/usr/bin/env python3
"""Counts a CTest run from its JUnit file and lists the skipped tests, for scripts/test.sh.

  ctest_summary.py JUNIT_XML CTEST_JSON BUILD_NAME SKIPPED_OUT
  ctest_summary.py --skips SKIPPED_LIST STRICT      (STRICT: 1 in CI)
JUNIT_XML: `ctest --output-junit`; CTEST_JSON: `ctest --show-only=json-v1` (labels). Prints
"passed failed skipped" on stdout. Writes one line per skipped test to SKIPPED_OUT:
"gpu|other<TAB>build<TAB>test<TAB>reason", where gpu marks a test labelled gpu (it needs a device; every
other skip means something the suite needs is missing). A JUnit file that cannot be read counts as one
failure.
With --skips: prints the skipped tests of every build (SKIPPED_LIST: the SKIPPED_OUT files joined) on
stderr, each tagged "needs a GPU" or, for any other skip, "NOT ALLOWED IN CI" (STRICT=1) or "needs
something missing here"; exits 1 when STRICT=1 and a skip other than a GPU-only one is listed.
"""
import json
import sys
import xml.etree.ElementTree as ET


def report_skips(skipped_list, strict):
    rows = [l.rstrip("\n").split("\t") for l in open(skipped_list) if l.strip()]
    if not rows:
        return 0
    print("test.sh: skipped tests (build: test -- reason):", file=sys.stderr)
    for kind, build, test, reason in (r + [""] * (4 - len(r)) for r in rows):
        tag = "needs a GPU" if kind == "gpu" else "NOT ALLOWED IN CI" if strict else "needs something missing here"
        print("  [%s] %s: %s%s" % (tag, build, test, " -- " + reason if reason else ""), file=sys.stderr)
    others = sum(1 for r in rows if r[0] != "gpu")
    if strict and others:
        print("test.sh: FAILED: in CI only GPU-only tests may skip, and %d other test(s) did" % others, file=sys.stderr)
        return 1
    return 0


def main(argv):
    if len(argv) == 4 and argv[1] == "--skips":
        return report_skips(argv[2], argv[3] == "1")
    junit, listing, build, skipped_out = argv[1:5]
    gpu = set()
    try:
        for t in json.load(open(listing))["tests"]:
            for p in t.get("properties", []):
                if p.get("name") == "LABELS" and "gpu" in p.get("value", []):
                    gpu.add(t["name"])
    except (OSError, ValueError, KeyError):
        pass
    try:
        cases = list(ET.parse(junit).getroot().iter("testcase"))
    except (OSError, ET.ParseError):
        open(skipped_out, "w").close()
        print("0 1 0")
        return 0
    passed = failed = skipped = 0
    lines = []
    for c in cases:
        status = c.get("status", "")
        if c.find("skipped") is not None or status in ("notrun", "disabled"):
            skipped += 1
            out = c.findtext("system-out") or ""
            lines_out = [l.strip() for l in out.splitlines()]
            at = next((i for i, l in enumerate(lines_out) if "SKIP" in l.upper()), None)
            # gtest prints "file:line: Skipped" and the reason on the next line.
            reason = "" if at is None else " ".join(l for l in lines_out[at:at + 2] if l)
            kind = "gpu" if c.get("name") in gpu else "other"
            lines.append("\t".join([kind, build, c.get("name", "?"), reason[:200].replace("\t", " ")]))
        elif c.find("failure") is not None or c.find("error") is not None or status == "fail":
            failed += 1
        else:
            passed += 1
    with open(skipped_out, "w") as f:
        f.write("".join(l + "\n" for l in lines))
    print(passed, failed, skipped)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
