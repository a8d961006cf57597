#!/usr/bin/env bash
# Reproduces a bundle's zero-shot ImageNet-1k top-1 and compares it with open_clip's published figure.
#   scripts/reproduce_imagenet.sh BUNDLE IMAGENET_VAL_DIR [METADATA_DIR]
# IMAGENET_VAL_DIR: the 50,000 validation images in one folder per synset (n01440764/, ...), the usual
#   layout; folders are matched to classes in sorted order, as torchvision's ImageFolder does.
# METADATA_DIR: en_classnames.json + en_zeroshot_classification_templates.json (CLIP_benchmark format;
#   scripts/import_metadata.py writes them). Default: $CLIPZS_METADATA, else metadata/.
# Published top-1 (open_clip docs/openclip_results.csv), chosen by bundle.json's model.name:
#   ViT-B-32 63.32, ViT-B-16 68.34, ViT-L-14 75.54, RN50 59.82; or set EXPECTED_TOP1.
# Tolerance: TOLERANCE points (default 0.5): preprocessing and tokenization are exact, so what remains
#   is float arithmetic and the fp32 export; exit 1 when |measured - published| > TOLERANCE.
# Env: DEVICE (cpu), DTYPE (fp32), THREADS, RESULTS (results/imagenet-<name>.json), BATCH_SIZE (64).
# For CI jobs: cache the image store between runs with --image-store (set IMAGE_STORE); a rerun with
# the same bundle and images only reclassifies (seconds), and an interrupted embedding resumes.
set -euo pipefail
[ $# -ge 2 ] || { sed -n '2,16p' "$0"; exit 2; }
cd "$(dirname "$0")/.."
BUNDLE=$1; VAL=$2; META=${3:-${CLIPZS_METADATA:-metadata}}
for f in en_classnames.json en_zeroshot_classification_templates.json; do
  [ -f "$META/$f" ] || { echo "reproduce_imagenet: $META/$f missing; run scripts/import_metadata.py --out $META" >&2; exit 2; }
done
NAME=$(/usr/bin/python3 -c "import json,sys;print(json.load(open(sys.argv[1]+'/bundle.json'))['model']['name'])" "$BUNDLE")
case "$NAME" in
  ViT-B-32*|ViT-B/32*) PUBLISHED=63.32 ;; ViT-B-16*|ViT-B/16*) PUBLISHED=68.34 ;;
  ViT-L-14-336*|ViT-L/14@336*) PUBLISHED=76.56 ;; ViT-L-14*|ViT-L/14*) PUBLISHED=75.54 ;;
  RN50*) PUBLISHED=59.82 ;; *) PUBLISHED="" ;;
esac
PUBLISHED=${EXPECTED_TOP1:-$PUBLISHED}
[ -n "$PUBLISHED" ] || { echo "reproduce_imagenet: no published figure for '$NAME'; set EXPECTED_TOP1" >&2; exit 2; }
RESULTS=${RESULTS:-results/imagenet-$NAME.json}
store_args=(); [ -n "${IMAGE_STORE:-}" ] && store_args=(--image-store "$IMAGE_STORE")
build/clipzs eval --model "$BUNDLE" --input "$VAL" --classes "$META/en_classnames.json" \
  --templates "$META/en_zeroshot_classification_templates.json" --dataset imagenet1k --label-rule sorted \
  --device "${DEVICE:-cpu}" --dtype "${DTYPE:-fp32}" --threads "${THREADS:-0}" --batch-size "${BATCH_SIZE:-64}" \
  "${store_args[@]}" --out "$RESULTS"
/usr/bin/python3 - "$RESULTS" "$PUBLISHED" "${TOLERANCE:-0.5}" <<'PY'
import json, sys
r = json.load(open(sys.argv[1])); top1 = 100 * r["metrics"]["acc1"]; want = float(sys.argv[2]); tol = float(sys.argv[3])
ok = abs(top1 - want) <= tol
print(json.dumps({"model": r["model"], "top1": round(top1, 2), "published": want, "tolerance": tol, "ok": ok}))
sys.exit(0 if ok else 1)
PY
