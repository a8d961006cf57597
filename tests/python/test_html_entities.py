#!/usr/bin/env python3
"""src/text/html_entities.cpp is what scripts/gen_html_entities.py writes, byte for byte.

Standalone (plain asserts): /usr/bin/python3 tests/python/test_html_entities.py [-k SUBSTRING]
Prints one line per test and last "N passed, M failed, K skipped"; exits 1 when a test failed, else 77
(CTest's SKIP_RETURN_CODE: the whole file counts as skipped, never as passed) when a test was skipped
because something it needs is missing (a Python without html.entities.html5), else 0.
"""

import html.entities
import os
import subprocess
import sys
import tempfile

from runner import Skip, run_tests  # tests/python/runner.py

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
GENERATOR = os.path.join(ROOT, "scripts", "gen_html_entities.py")
COMMITTED = os.path.join(ROOT, "src", "text", "html_entities.cpp")


def generate(args):
    if not hasattr(html.entities, "html5"):
        raise Skip("this Python (%s) has no html.entities.html5" % sys.version.split()[0])
    return subprocess.run([sys.executable, GENERATOR] + args, capture_output=True, text=True)


def test_generator_writes_the_committed_file():
    with tempfile.TemporaryDirectory(prefix="clipzs-test-entities-") as tmp:
        out = os.path.join(tmp, "html_entities.cpp")
        run = generate(["--out", out])
        assert run.returncode == 0, run.stderr
        with open(out, "rb") as f:
            generated = f.read()
    with open(COMMITTED, "rb") as f:
        committed = f.read()
    if generated != committed:
        g, c = generated.splitlines(), committed.splitlines()
        at = next((i for i in range(min(len(g), len(c))) if g[i] != c[i]), min(len(g), len(c)))
        raise AssertionError("%s is not the generator's output (first difference at line %d: generator %r, file %r); "
                             "regenerate with /usr/bin/python3 scripts/gen_html_entities.py --out src/text/html_entities.cpp"
                             % (COMMITTED, at + 1, g[at] if at < len(g) else b"(end)", c[at] if at < len(c) else b"(end)"))


def test_check_mode_agrees_and_names_a_difference():
    run = generate(["--check", COMMITTED])
    assert run.returncode == 0, run.stderr
    with tempfile.TemporaryDirectory(prefix="clipzs-test-entities-") as tmp:
        edited = os.path.join(tmp, "html_entities.cpp")
        with open(COMMITTED, "rb") as f:
            text = f.read().replace(b'{"amp;", "&"}', b'{"amp;", "?"}', 1)
        with open(edited, "wb") as f:
            f.write(text)
        run = generate(["--check", edited])
    assert run.returncode == 1, (run.returncode, run.stderr)
    assert '{"amp;", "&"}' in run.stderr, run.stderr


def main(argv) -> int:
    return run_tests(globals(), argv)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
