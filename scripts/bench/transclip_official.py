"""The official TransCLIP solver (MaxZanella/transduction-for-vlms, TransCLIP_solver/) on .npy features,
on the CPU: `.cuda()` is made a no-op, nothing else of the solver is changed. For transclip_cpu.sh.
  python transclip_official.py CHECKOUT FEATURES TEXT_PROXIES(d x C) LABELS THREADS ROWS [Z_OUT]
Prints one JSON line (seconds: the solver call only)."""
import json, sys, time
import numpy as np
import torch

checkout, features, proxies, labels, threads, rows = sys.argv[1:7]
z_out = sys.argv[7] if len(sys.argv) > 7 else ""
torch.set_num_threads(int(threads))
torch.Tensor.cuda = lambda self, *a, **k: self          # the solver calls .cuda() throughout
torch.nn.Module.cuda = lambda self, *a, **k: self
sys.path.insert(0, checkout)
from TransCLIP_solver.TransCLIP import TransCLIP_solver  # noqa: E402

x = torch.from_numpy(np.load(features)); w = torch.from_numpy(np.load(proxies)); y = torch.from_numpy(np.load(labels))
n = int(rows) if int(rows) > 0 else x.shape[0]
x, y = x[:n], y[:n]
x = x / x.norm(dim=1, keepdim=True)
with torch.no_grad():
    t = time.time()
    z, _ = TransCLIP_solver(None, None, None, None, x, y, w, verbose=False)
    seconds = time.time() - t
if z_out:
    np.save(z_out, z.float().numpy())
acc0 = ((100 * x @ w).argmax(1) == y).float().mean().item()
acc = (z.argmax(1) == y).float().mean().item()
print(json.dumps({"impl": "official", "n": n, "d": x.shape[1], "classes": w.shape[1], "threads": int(threads),
                  "seconds": seconds, "acc_zero_shot": acc0, "acc_transclip": acc, "torch": torch.__version__}))
