"""Bundle writing shared by export_clip.py and make_test_bundle.py (see docs/bundle-format.md).

export_bundle() takes an OpenAI-layout CLIP state dict, builds clipzs_model's encoders, scripts and
saves them, copies the tokenizer files, reloads the saved modules and compares them with a source model
on random input, then writes bundle.json (sha256 of every file) last, through a temporary name.
"""

import os
import sys


def ensure_torch_python() -> None:
    """Re-runs the calling script under a Python that has torch (Debian's /usr/bin/python3 has
    python3-torch; a pyenv python3 earlier on PATH may not)."""
    try:
        import torch  # noqa: F401
        return
    except ImportError:
        pass
    here = os.path.realpath(sys.executable or "")
    for candidate in ("/usr/bin/python3",):
        if os.path.exists(candidate) and os.path.realpath(candidate) != here \
                and not os.environ.get("CLIPZS_NO_REEXEC"):
            os.environ["CLIPZS_NO_REEXEC"] = "1"
            os.execv(candidate, [candidate] + sys.argv)
    sys.exit("error: PyTorch is not importable from %s; run this script with a python3 that has torch "
             "(Debian: apt install python3-torch, then /usr/bin/python3)" % (sys.executable,))


def fix_hash_seed() -> None:
    """Re-runs the calling script with PYTHONHASHSEED=0. TorchScript writes module constants in set
    order, so without this the code/ entries of a saved .pt (not the weights) vary from run to run."""
    if os.environ.get("PYTHONHASHSEED") != "0":
        os.environ["PYTHONHASHSEED"] = "0"
        os.execv(sys.executable, [sys.executable] + sys.argv)


ensure_torch_python()

import datetime  # noqa: E402
import gzip  # noqa: E402
import hashlib  # noqa: E402
import json  # noqa: E402
import shutil  # noqa: E402
from dataclasses import dataclass  # noqa: E402
from typing import Callable, Dict, List, Optional  # noqa: E402

import torch  # noqa: E402
from torch import Tensor  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import clipzs_model  # noqa: E402
from clipzs_model import OPENAI_MEAN, OPENAI_STD, ClipConfig  # noqa: E402

SCHEMA_VERSION = 1


def min_libtorch(torch_version: str, attention: str) -> str:
    """The oldest LibTorch that loads what this torch writes, as "major.minor" (bundle.json requires).

    Manual attention (matmul + softmax) uses only operators LibTorch 1.13 has, and TorchScript's file
    format is the same (version 10) from 1.13 to 2.x, so such a bundle loads from 1.13 on whichever torch
    wrote it (tested both ways). scaled_dot_product_attention and whatever else a newer torch may emit
    are only promised to the torch that wrote them: its major.minor.
    """
    if attention == "manual":
        return "1.13"
    parts = torch_version.split("+")[0].split(".")
    return "%s.%s" % (parts[0], parts[1])
CLIP_NUM_MERGES = 49152 - 256 - 2  # merges the CLIP tokenizer reads from its file (48,894)
INTERPOLATIONS = ("nearest", "bilinear", "bicubic", "lanczos", "box", "hamming")
RESIZE_MODES = ("shortest", "squash")
DEFAULT_RTOL = 1e-4


class ExportError(Exception):
    """A bundle could not be written, or its reloaded modules disagree with the source model."""


# ----------------------------------------------------------------------------------------------------
# Tokenizer files


@dataclass
class Vocab:
    kind: str                          # "clip_bpe" | "hf_bpe"
    files: Dict[str, str]              # name in the bundle -> source path
    vocab_size: int
    sot_id: int
    eot_id: int
    num_merges: Optional[int] = None   # clip_bpe: merges the tokenizer must read from the file


def read_text_maybe_gz(path: str) -> str:
    with open(path, "rb") as f:
        data = f.read()
    if data[:2] == b"\x1f\x8b":
        data = gzip.decompress(data)
    return data.decode("utf-8")


def count_merges(path: str) -> int:
    """Merge lines in a CLIP merges file: every non-empty line after the header line."""
    lines = read_text_maybe_gz(path).split("\n")[1:]
    return sum(1 for line in lines if line.strip())


def clip_bpe_vocab(merges_path: str, model_vocab_size: int) -> Vocab:
    """CLIP's tokenizer over the first `num_merges` merges: 256 byte symbols + 256 end-of-word byte
    symbols + one id per merge + <|startoftext|> + <|endoftext|>. The model's vocabulary size fixes
    num_merges; the file must hold at least that many."""
    available = count_merges(merges_path)
    num_merges = model_vocab_size - 512 - 2
    if num_merges < 0:
        raise ExportError("the text tower has %d token ids, fewer than CLIP's 514 fixed ids" % model_vocab_size)
    if num_merges > available:
        raise ExportError("%s has %d merges but the text tower's %d token ids need %d"
                          % (merges_path, available, model_vocab_size, num_merges))
    if num_merges > CLIP_NUM_MERGES:
        raise ExportError("the text tower has %d token ids, more than the CLIP tokenizer's %d"
                          % (model_vocab_size, CLIP_NUM_MERGES + 514))
    return Vocab(kind="clip_bpe", files={os.path.basename(merges_path): merges_path},
                 vocab_size=model_vocab_size, sot_id=model_vocab_size - 2, eot_id=model_vocab_size - 1,
                 num_merges=num_merges)


def hf_bpe_vocab(vocab_json: str, merges_txt: str, model_vocab_size: int) -> Vocab:
    with open(vocab_json, encoding="utf-8") as f:
        table = json.load(f)
    try:
        sot, eot = int(table["<|startoftext|>"]), int(table["<|endoftext|>"])
    except KeyError as e:
        raise ExportError("%s has no %s token" % (vocab_json, e))
    top = max(table.values())
    if top >= model_vocab_size:
        raise ExportError("%s has id %d but the text tower has only %d token ids"
                          % (vocab_json, top, model_vocab_size))
    if eot != top:
        raise ExportError("<|endoftext|> (%d) is not the largest id (%d) of %s: argmax pooling would be wrong"
                          % (eot, top, vocab_json))
    return Vocab(kind="hf_bpe", files={"vocab.json": vocab_json, "merges.txt": merges_txt},
                 vocab_size=model_vocab_size, sot_id=sot, eot_id=eot)


# ----------------------------------------------------------------------------------------------------
# Hugging Face CLIPModel names -> OpenAI names


def hf_to_openai_state_dict(hf: Dict[str, Tensor]) -> Dict[str, Tensor]:
    """Renames a transformers CLIPModel state dict to OpenAI CLIP's layout (q/k/v packed into in_proj,
    projections transposed). Unknown keys are kept under their own name so that loading reports them."""
    out: Dict[str, Tensor] = {}
    direct = {
        "vision_model.embeddings.patch_embedding.weight": "visual.conv1.weight",
        "vision_model.embeddings.class_embedding": "visual.class_embedding",
        "vision_model.embeddings.position_embedding.weight": "visual.positional_embedding",
        "vision_model.pre_layrnorm.weight": "visual.ln_pre.weight",
        "vision_model.pre_layrnorm.bias": "visual.ln_pre.bias",
        "vision_model.post_layernorm.weight": "visual.ln_post.weight",
        "vision_model.post_layernorm.bias": "visual.ln_post.bias",
        "text_model.embeddings.token_embedding.weight": "token_embedding.weight",
        "text_model.embeddings.position_embedding.weight": "positional_embedding",
        "text_model.final_layer_norm.weight": "ln_final.weight",
        "text_model.final_layer_norm.bias": "ln_final.bias",
        "logit_scale": "logit_scale",
    }
    transposed = {"visual_projection.weight": "visual.proj", "text_projection.weight": "text_projection"}
    in_layer = {"layer_norm1": "ln_1", "layer_norm2": "ln_2", "mlp.fc1": "mlp.c_fc", "mlp.fc2": "mlp.c_proj",
                "self_attn.out_proj": "attn.out_proj"}
    towers = (("vision_model.encoder.layers.", "visual.transformer.resblocks."),
              ("text_model.encoder.layers.", "transformer.resblocks."))
    qkv: Dict[str, Dict[str, Tensor]] = {}
    for key, value in hf.items():
        if key.endswith("position_ids"):
            continue
        if key in direct:
            out[direct[key]] = value
            continue
        if key in transposed:
            out[transposed[key]] = value.t().contiguous()
            continue
        for hf_prefix, oa_prefix in towers:
            if key.startswith(hf_prefix):
                index, rest = key[len(hf_prefix):].split(".", 1)
                block = oa_prefix + index + "."
                part = rest.split(".")
                if len(part) == 3 and part[0] == "self_attn" and part[1] in ("q_proj", "k_proj", "v_proj"):
                    qkv.setdefault(block + "attn.in_proj_" + part[2], {})[part[1][0]] = value
                    break
                for hf_name, oa_name in in_layer.items():
                    if rest.startswith(hf_name + "."):
                        out[block + oa_name + rest[len(hf_name):]] = value
                        break
                else:
                    out[key] = value
                break
        else:
            out[key] = value
    for name, parts in qkv.items():
        if sorted(parts) != ["k", "q", "v"]:
            raise ExportError("incomplete q/k/v projections for %s" % name)
        out[name] = torch.cat([parts["q"], parts["k"], parts["v"]], dim=0)
    return out


# ----------------------------------------------------------------------------------------------------
# Checks


def sha256_file(path: str) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def check_inputs(cfg: ClipConfig, sot_id: int, eot_id: int, seed: int = 1234):
    """Random normalised-looking images and token rows [sot, ids..., eot, 0...] of varied lengths."""
    g = torch.Generator().manual_seed(seed)
    s = cfg.vision.image_size
    images = torch.randn(2, 3, s, s, generator=g)
    length = cfg.text.context_length
    top = min(sot_id, eot_id)
    lengths = [0, 3, min(17, length - 2), length - 2]
    tokens = torch.zeros(len(lengths), length, dtype=torch.long)
    for row, n in enumerate(lengths):
        tokens[row, 0] = sot_id
        tokens[row, 1:1 + n] = torch.randint(1, top, (n,), generator=g)
        tokens[row, 1 + n] = eot_id
    return images, tokens


def _max_diff(a: Tensor, b: Tensor):
    a, b = a.float(), b.float()
    if a.shape != b.shape:
        raise ExportError("output shapes differ: %s vs %s" % (tuple(a.shape), tuple(b.shape)))
    diff = float((a - b).abs().max())
    scale = max(float(b.abs().max()), 1e-12)
    return diff, diff / scale


# ----------------------------------------------------------------------------------------------------
# Export


@dataclass
class Reference:
    """The model the saved bundle is compared with: two callables on float images / int64 tokens."""
    label: str
    encode_image: Callable[[Tensor], Tensor]
    encode_text: Callable[[Tensor], Tensor]


def default_preprocess(size: int) -> Dict:
    return {"size": size, "mean": list(OPENAI_MEAN), "std": list(OPENAI_STD), "interpolation": "bicubic",
            "resize_mode": "shortest"}


def _prepare_out_dir(out_dir: str, overwrite: bool) -> None:
    if os.path.isdir(out_dir) and os.listdir(out_dir):
        if not overwrite:
            raise ExportError("%s exists and is not empty (pass --overwrite to replace a bundle there)" % out_dir)
        old = os.path.join(out_dir, "bundle.json")
        names = {"bundle.json", "image_encoder.pt", "text_encoder.pt"}
        if os.path.exists(old):
            try:
                with open(old) as f:
                    names |= set(json.load(f).get("files", {}))
            except (OSError, ValueError):
                pass
        for name in sorted(names):
            path = os.path.join(out_dir, name)
            if os.path.isfile(path) and os.path.dirname(os.path.abspath(path)) == os.path.abspath(out_dir):
                os.remove(path)
        rest = os.listdir(out_dir)
        if rest:
            raise ExportError("%s holds files that are not part of a bundle: %s" % (out_dir, ", ".join(rest)))
    os.makedirs(out_dir, exist_ok=True)


def export_bundle(sd: Dict[str, Tensor], out_dir: str, *, cfg: ClipConfig, vocab: Vocab, preprocess: Dict,
                  name: str, source: str, attention: str = "manual", reference: Optional[Reference] = None,
                  tool: str = "scripts/export_clip.py", overwrite: bool = False, rtol: float = DEFAULT_RTOL,
                  log: Callable[[str], None] = print) -> Dict:
    """Writes a bundle for state dict `sd` (OpenAI layout) to `out_dir` and returns bundle.json's content.

    With reference=None the saved modules are compared with the eager clipzs model (a round-trip check
    only); pass the source library's model to check the conversion itself. Raises ExportError when the
    relative max abs difference exceeds `rtol`; bundle.json is then not written.
    """
    size = int(preprocess["size"])
    if size != cfg.vision.image_size:
        raise ExportError("preprocess size %d differs from the image tower's %d" % (size, cfg.vision.image_size))
    if preprocess["interpolation"] not in INTERPOLATIONS:
        raise ExportError("unsupported interpolation %r" % (preprocess["interpolation"],))
    if preprocess["resize_mode"] not in RESIZE_MODES:
        raise ExportError("unsupported resize mode %r (bundles support %s)"
                          % (preprocess["resize_mode"], ", ".join(RESIZE_MODES)))
    if vocab.vocab_size != cfg.text.vocab_size:
        raise ExportError("tokenizer has %d ids, text tower %d" % (vocab.vocab_size, cfg.text.vocab_size))
    if attention not in clipzs_model.ATTENTION_MODES:
        raise ExportError("unknown attention mode %r" % attention)

    sd = {k: (v.detach().float() if v.is_floating_point() else v.detach()) for k, v in sd.items()}
    try:
        image, text, logit_scale = clipzs_model.build_encoders(sd, cfg, attention)
    except (ValueError, RuntimeError) as e:
        raise ExportError(str(e))
    _prepare_out_dir(out_dir, overwrite)

    files = {"image_encoder.pt": torch.jit.script(image), "text_encoder.pt": torch.jit.script(text)}
    for file_name, module in files.items():
        torch.jit.save(module, os.path.join(out_dir, file_name))
    for file_name, src in vocab.files.items():
        shutil.copyfile(src, os.path.join(out_dir, file_name))
    log("wrote %s (%s)" % (out_dir, ", ".join(sorted(list(files) + list(vocab.files)))))

    # Reload what was written and compare with the source.
    if reference is None:
        reference = Reference("clipzs eager model (round trip only)", image, text)
    loaded_image = torch.jit.load(os.path.join(out_dir, "image_encoder.pt"), map_location="cpu")
    loaded_text = torch.jit.load(os.path.join(out_dir, "text_encoder.pt"), map_location="cpu")
    images, tokens = check_inputs(cfg, vocab.sot_id, vocab.eot_id)
    with torch.no_grad():
        img_abs, img_rel = _max_diff(loaded_image(images), reference.encode_image(images))
        txt_abs, txt_rel = _max_diff(loaded_text(tokens), reference.encode_text(tokens))
        emb = loaded_text.token_embedding_weight()[tokens]
        path_abs, path_rel = _max_diff(loaded_text.encode_token_embeddings(emb, tokens.argmax(-1)),
                                       loaded_text(tokens))
    log("check vs %s: max abs diff image %.3g (relative %.3g), text %.3g (relative %.3g)"
        % (reference.label, img_abs, img_rel, txt_abs, txt_rel))
    failures = []
    if not img_rel <= rtol:
        failures.append("image tower differs by %.3g relative" % img_rel)
    if not txt_rel <= rtol:
        failures.append("text tower differs by %.3g relative" % txt_rel)
    if not path_rel <= 1e-5:
        failures.append("encode_token_embeddings differs from forward by %.3g relative" % path_rel)
    if failures:
        raise ExportError("export check failed (%s, tolerance %g relative); bundle.json was not written, "
                          "%s is incomplete" % ("; ".join(failures), rtol, out_dir))

    text_section = {
        "file": "text_encoder.pt",
        "context_length": cfg.text.context_length,
        "tokenizer": vocab.kind,
    }
    if vocab.kind == "clip_bpe":
        text_section["vocab_file"] = next(iter(vocab.files))
        text_section["num_merges"] = vocab.num_merges
    else:
        text_section["vocab_file"] = "vocab.json"
        text_section["merges_file"] = "merges.txt"
    text_section.update({"vocab_size": vocab.vocab_size, "sot_id": vocab.sot_id, "eot_id": vocab.eot_id,
                         "width": cfg.text.width})
    bundle = {
        "schema_version": SCHEMA_VERSION,
        "model": {
            "name": name,
            "source": source,
            "architecture": cfg.vision.kind,
            "embed_dim": cfg.embed_dim,
            "config": cfg.to_dict(),
        },
        "image": {
            "file": "image_encoder.pt",
            "size": size,
            "mean": [float(x) for x in preprocess["mean"]],
            "std": [float(x) for x in preprocess["std"]],
            "interpolation": preprocess["interpolation"],
            "resize_mode": preprocess["resize_mode"],
        },
        "text": text_section,
        "logit_scale": float("%.7g" % logit_scale),
        "requires": {"libtorch": min_libtorch(torch.__version__, attention)},
        "files": {n: sha256_file(os.path.join(out_dir, n)) for n in sorted(list(files) + list(vocab.files))},
        "export": {
            "tool": tool,
            "torch_version": torch.__version__,
            "created": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "attention": attention,
            "reference": reference.label,
            "max_abs_diff_image": img_abs,
            "max_abs_diff_text": txt_abs,
            "max_abs_diff_token_path": path_abs,
        },
    }
    tmp = os.path.join(out_dir, ".bundle.json.tmp")
    with open(tmp, "w") as f:
        json.dump(bundle, f, indent=2)
        f.write("\n")
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, os.path.join(out_dir, "bundle.json"))
    return bundle


def bundle_sizes(out_dir: str) -> List[str]:
    return ["%s %d" % (n, os.path.getsize(os.path.join(out_dir, n))) for n in sorted(os.listdir(out_dir))]
