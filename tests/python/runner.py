"""The runner of the tests/python/test_*.py scripts: each test is a module-level function test_*();
raising Skip marks it skipped. Exit status: 1 if any failed, 77 (CTest's skip) if any skipped, else 0.
`-k TEXT` runs only the tests whose name contains TEXT."""
import traceback


class Skip(Exception):
    """A missing prerequisite: the test is skipped, visibly, not passed."""


def run_tests(namespace: dict, argv) -> int:
    only = argv[argv.index("-k") + 1] if "-k" in argv else ""
    tests = [(n, f) for n, f in sorted(namespace.items()) if n.startswith("test_") and callable(f) and only in n]
    passed = failed = skipped = 0
    for name, fn in tests:
        try:
            fn()
        except Skip as e:
            skipped += 1
            print("SKIP %s: %s" % (name, e))
            continue
        except Exception:  # noqa: BLE001
            failed += 1
            print("FAIL %s\n%s" % (name, traceback.format_exc()))
            continue
        passed += 1
        print("ok   %s" % name)
    print("%d passed, %d failed, %d skipped" % (passed, failed, skipped))
    return 1 if failed else 77 if skipped else 0
