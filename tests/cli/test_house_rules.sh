#!/usr/bin/env bash
# The house rules of docs/architecture.md that a scan can check: the library (src/) speaks no CLI (no
# flag or subcommand in a string literal; names go through param()/call()), never prints or exits and
# logs only through its sink; the CLI keeps no options in function-local statics. Each rule reports the
# offending file:line, so a new violation fails here with its place.
source "$(dirname "$0")/lib.sh"
cd "$CLIPZS_SOURCE_DIR" || exit 1

py_check "no string literal in src/ names a CLI flag or a clipzs subcommand" "
import re, pathlib
literal = re.compile(r'\"(?:[^\"\\\\]|\\\\.)*\"')
flag = re.compile(r'(?<![A-Za-z0-9-])--[a-z][a-z0-9-]+')
command = re.compile(r'clipzs (embed|adapt|infer|eval|index|merge|verify|info|tokenize|preprocess)\b')
# Allowed: the exporter's own flag (scripts/export_clip.py, not clipzs).
allowed = {'--attention'}
bad = []
for path in sorted(pathlib.Path('src').rglob('*.[ch]pp')):
    for n, line in enumerate(path.read_text().splitlines(), 1):
        if line.lstrip().startswith('//'): continue
        for lit in literal.findall(line):
            flags = set(flag.findall(lit)) - allowed
            if flags or command.search(lit): bad.append(f'{path}:{n}: {lit}')
assert not bad, 'library text naming the CLI (use param()/call()):\n' + '\n'.join(bad)
"

py_check "src/ never prints to stdout, never exits, never names spdlog" "
import re, pathlib
rule = re.compile(r'std::cout|\bprintf\(|std::puts|\bexit\(|std::exit|_Exit\(|abort\(|spdlog')
bad = [f'{p}:{n}: {l.strip()}' for p in sorted(pathlib.Path('src').rglob('*.[ch]pp'))
       for n, l in enumerate(p.read_text().splitlines(), 1) if rule.search(l) and not l.lstrip().startswith('//')]
assert not bad, '\n'.join(bad)
"

py_check "tools/clipzs keeps no options in function-local statics" "
import re, pathlib
rule = re.compile(r'^\s+static (?!_cast|constexpr)[\w:<>, ]+[ &*]\w+')
# Allowed: the list the adapt subcommands register into before main() runs (needs its own lifetime).
allowed = {('cmd_adapt.cpp', 'commands;')}
bad = []
for p in sorted(pathlib.Path('tools/clipzs').glob('*.cpp')):
    for n, l in enumerate(p.read_text().splitlines(), 1):
        if rule.search(l) and 'static_cast' not in l.split('static', 1)[1][:8]:
            if not any(p.name == f and key in l for f, key in allowed): bad.append(f'{p}:{n}: {l.strip()}')
assert not bad, '\n'.join(bad)
"

py_check "every public header sits in include/clipzs/<folder>/ beside a src/<folder>/ that exists" "
import pathlib
loose = sorted(str(p) for p in pathlib.Path('include/clipzs').glob('*.hpp'))
orphans = sorted(str(d) for d in pathlib.Path('include/clipzs').iterdir() if d.is_dir() and not pathlib.Path('src', d.name).is_dir())
assert not loose and not orphans, (loose, orphans)
"

py_check "every name the library marks is a real flag or subcommand of this clipzs (tools/clipzs/names.cpp)" "
import re, pathlib, subprocess
def help_of(words):
    return subprocess.run(['$CLIPZS', *words, '--help'], capture_output=True, text=True).stdout
flags, commands, todo = set(), set(), [[]]
while todo:
    words = todo.pop()
    text = help_of(words)
    flags |= set(re.findall(r'(?<![\w-])(--[a-z][a-z0-9-]*)', text))
    if words: commands.add(' '.join(words))
    if 'Subcommands:' in text:
        for line in text.split('Subcommands:', 1)[1].splitlines()[1:]:
            if line.strip(): todo.append(words + [line.split()[0]])
spelled = {'augment_views': '--augment'}
called = {'build_faiss_index': 'index build', 'verify_store': 'verify', 'write_eval_report': 'eval report'}
bad = []
for p in sorted(pathlib.Path('src').rglob('*.[ch]pp')):
    t = p.read_text()
    for name in re.findall(r'\bparam\(\"([a-z_0-9]+)\"\)', t):
        if spelled.get(name, '--' + name.replace('_', '-')) not in flags: bad.append(f'{p}: param {name}')
    for name in re.findall(r'\bcall\(\"([a-z_0-9]+)\"\)', t):
        c = called.get(name, name.replace('_', ' '))
        if c not in commands: bad.append(f'{p}: call {name}')
assert len(commands) > 15 and len(flags) > 50, (len(commands), len(flags))
assert not bad, bad
"

# The scan itself can fail: a planted violation in a copy of src/ is found.
mkdir -p "$WORK/plant/src" && cp -r src/util "$WORK/plant/src/"
echo 'const char* kPlanted = "pass --overwrite to replace it";' >> "$WORK/plant/src/util/error.cpp"
if (cd "$WORK/plant" && "$PY" -c "
import re, pathlib, sys
literal = re.compile(r'\"(?:[^\"\\\\]|\\\\.)*\"')
flag = re.compile(r'(?<![A-Za-z0-9-])--[a-z][a-z0-9-]+')
sys.exit(1 if any(flag.search(l) for p in pathlib.Path('src').rglob('*.cpp') for line in p.read_text().splitlines() for l in literal.findall(line)) else 0)
"); then fail "the flag scan missed a planted violation"; else pass "the flag scan finds a planted violation"; fi
finish
