#!/usr/bin/env bash
# Zero-shot eval over stored embeddings at ImageNet size (50,000 x 768, 1,000 classes, synthetic):
# clipzs (build/eval_speed) next to the same computation in PyTorch as CLIP_benchmark does it
# (logits = 100 * img @ cls.T, topk(5), accuracy), same threads.  Target: clipzs under 2 s.
#   scripts/bench/eval_speed.sh [THREADS]
set -euo pipefail
cd "$(dirname "$0")/../.."
T=${1:-$(nproc)}
build/eval_speed 50000 768 1000 "$T"
/usr/bin/python3 - "$T" <<'PY'
import json, sys, time, torch
torch.set_num_threads(int(sys.argv[1]))
g = torch.Generator().manual_seed(0)
img = torch.nn.functional.normalize(torch.randn(50000, 768, generator=g), dim=1)
cls = torch.nn.functional.normalize(torch.randn(1000, 768, generator=g), dim=1)
y = torch.arange(50000) % 1000
t = time.time()
with torch.no_grad():
    correct1 = correct5 = 0
    for i in range(0, 50000, 8192):  # CLIP_benchmark iterates over batches too
        logits = 100.0 * img[i:i + 8192] @ cls.T
        top5 = logits.softmax(1).topk(5, 1).indices
        correct1 += (top5[:, 0] == y[i:i + 8192]).sum().item()
        correct5 += (top5 == y[i:i + 8192, None]).any(1).sum().item()
print(json.dumps({"what": "pytorch reference eval", "seconds": round(time.time() - t, 3), "acc1": correct1 / 50000, "acc5": correct5 / 50000}))
PY
