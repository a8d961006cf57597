#!/usr/bin/env python3
"""Writes class names and prompt templates in CLIP_benchmark's JSON format from packages the user has
installed, so reproducing published numbers needs no hand-made files.

  import_metadata.py --out DIR [--source auto|clip_benchmark|open_clip]

Writes DIR/en_classnames.json ({dataset: [names]}) and DIR/en_zeroshot_classification_templates.json
({dataset: [templates with {c}]}).
  clip_benchmark: copies the package's own two files (every dataset it knows).
  open_clip:      imagenet1k only: IMAGENET_CLASSNAMES and the 80 OPENAI_IMAGENET_TEMPLATES of
                  open_clip.zero_shot_metadata (its templates are functions of the class name; they
                  are called with "{c}" to recover the template text).
Files are written through a temporary name and renamed, so an interrupted run leaves nothing half-written.
"""
import argparse
import importlib
import json
import os
import sys


def atomic_json(path, data):
    tmp = "%s.tmp-%d" % (path, os.getpid())
    with open(tmp, "w") as f:
        json.dump(data, f, indent=1, ensure_ascii=False)
        f.write("\n")
    os.replace(tmp, path)


def from_clip_benchmark():
    pkg = importlib.import_module("clip_benchmark")
    base = os.path.join(os.path.dirname(pkg.__file__), "datasets")
    out = []
    for name in ("en_classnames.json", "en_zeroshot_classification_templates.json"):
        with open(os.path.join(base, name)) as f:
            out.append(json.load(f))
    return out


def from_open_clip():
    meta = importlib.import_module("open_clip.zero_shot_metadata")
    classes = list(meta.IMAGENET_CLASSNAMES)
    templates = [t("{c}") if callable(t) else str(t).replace("{}", "{c}") for t in meta.OPENAI_IMAGENET_TEMPLATES]
    return {"imagenet1k": classes}, {"imagenet1k": templates}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", required=True)
    ap.add_argument("--source", choices=["auto", "clip_benchmark", "open_clip"], default="auto")
    args = ap.parse_args()
    sources = ["clip_benchmark", "open_clip"] if args.source == "auto" else [args.source]
    errors = []
    for source in sources:
        try:
            classes, templates = from_clip_benchmark() if source == "clip_benchmark" else from_open_clip()
            break
        except ImportError as e:
            errors.append("%s: %s" % (source, e))
    else:
        sys.exit("import_metadata: no source available (%s); install clip_benchmark or open_clip_torch" % "; ".join(errors))
    os.makedirs(args.out, exist_ok=True)
    atomic_json(os.path.join(args.out, "en_classnames.json"), classes)
    atomic_json(os.path.join(args.out, "en_zeroshot_classification_templates.json"), templates)
    print(json.dumps({"source": source, "out": args.out, "datasets": sorted(classes),
                      "imagenet1k_classes": len(classes.get("imagenet1k", [])),
                      "imagenet1k_templates": len(templates.get("imagenet1k", []))}))


if __name__ == "__main__":
    main()
