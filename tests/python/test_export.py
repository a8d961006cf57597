#!/usr/bin/env python3
"""Tests of the Python side: bundle export, the clipzs model definition, reference_embed.py.

Standalone (plain asserts): /usr/bin/python3 tests/python/test_export.py [-k SUBSTRING]
Prints one line per test and last "N passed, M failed, K skipped"; exits 1 when a test failed, else 77
(CTest's SKIP_RETURN_CODE: the whole file counts as skipped, never as passed) when a test was skipped
because something it needs is missing (../shared/reference, or $CLIPZS_SHARED_DIR), else 0.
"""

import hashlib
import json
import math
import os
import subprocess
import sys
import tempfile

from runner import Skip, run_tests  # tests/python/runner.py

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
SCRIPTS = os.path.join(ROOT, "scripts")
sys.path.insert(0, SCRIPTS)

import clipzs_export  # noqa: E402  (re-runs under a python that has torch if needed)

import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402
from torch import nn  # noqa: E402

import clipzs_model  # noqa: E402
import export_clip  # noqa: E402
import make_test_bundle  # noqa: E402
import make_tiny_merges  # noqa: E402
import reference_embed  # noqa: E402

SHARED = os.environ.get("CLIPZS_SHARED_DIR", os.path.join(os.path.dirname(ROOT), "shared"))
TMP = tempfile.TemporaryDirectory(prefix="clipzs-test-export-")
MERGES = os.path.join(TMP.name, "tiny_merges.txt")
BUNDLES = {}
SEED = 7


def quiet(*_args, **_kwargs) -> None:
    pass


def setup() -> None:
    make_tiny_merges.main(["--out", MERGES, "--num-merges", "300"])
    for arch in ("vit-tiny", "rn-tiny"):
        out = os.path.join(TMP.name, arch)
        make_test_bundle.make_bundle(arch, SEED, MERGES, out, log=quiet)
        BUNDLES[arch] = out


def bundle_json(arch: str) -> dict:
    with open(os.path.join(BUNDLES[arch], "bundle.json")) as f:
        return json.load(f)


def load(arch: str, which: str):
    return torch.jit.load(os.path.join(BUNDLES[arch], which + "_encoder.pt"))


def random_tokens(bundle: dict, n: int = 5, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    t = bundle["text"]
    tokens = torch.zeros(n, t["context_length"], dtype=torch.long)
    for row in range(n):
        length = int(torch.randint(0, t["context_length"] - 1, (1,), generator=g))
        tokens[row, 0] = t["sot_id"]
        tokens[row, 1:1 + length] = torch.randint(1, t["sot_id"], (length,), generator=g)
        tokens[row, 1 + length] = t["eot_id"]
    return tokens


def rel_diff(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a.float() - b.float()).abs().max() / b.float().abs().max())


# ----------------------------------------------------------------------------------------------------
# An independent functional CLIP forward (torch's own multi-head attention), from the state dict.


def _ln(sd, prefix, x):
    return F.layer_norm(x, x.shape[-1:], sd[prefix + ".weight"], sd[prefix + ".bias"], 1e-5)


def _transformer(sd, prefix, x, heads, quick_gelu, mask):
    """x: [N, B, W] (sequence first, as F.multi_head_attention_forward wants)."""
    width = x.shape[-1]
    i = 0
    while "%s.resblocks.%d.ln_1.weight" % (prefix, i) in sd:
        p = "%s.resblocks.%d." % (prefix, i)
        y = _ln(sd, p + "ln_1", x)
        a, _ = F.multi_head_attention_forward(
            y, y, y, width, heads, sd[p + "attn.in_proj_weight"], sd[p + "attn.in_proj_bias"], None, None, False,
            0.0, sd[p + "attn.out_proj.weight"], sd[p + "attn.out_proj.bias"], training=False,
            need_weights=False, attn_mask=mask)
        x = x + a
        h = F.linear(_ln(sd, p + "ln_2", x), sd[p + "mlp.c_fc.weight"], sd[p + "mlp.c_fc.bias"])
        h = h * torch.sigmoid(1.702 * h) if quick_gelu else F.gelu(h)
        x = x + F.linear(h, sd[p + "mlp.c_proj.weight"], sd[p + "mlp.c_proj.bias"])
        i += 1
    return x


def ref_vit(sd, images, heads, quick_gelu):
    w = sd["visual.conv1.weight"]
    x = F.conv2d(images, w, stride=w.shape[-1])
    b, width = x.shape[:2]
    x = x.reshape(b, width, -1).permute(2, 0, 1)
    x = torch.cat([sd["visual.class_embedding"].reshape(1, 1, width).expand(1, b, width), x], 0)
    x = _ln(sd, "visual.ln_pre", x + sd["visual.positional_embedding"][:, None, :])
    x = _transformer(sd, "visual.transformer", x, heads, quick_gelu, None)
    return _ln(sd, "visual.ln_post", x[0]) @ sd["visual.proj"]


def ref_resnet(sd, images, heads):
    def bn(p, x):
        return F.batch_norm(x, sd[p + ".running_mean"], sd[p + ".running_var"], sd[p + ".weight"],
                            sd[p + ".bias"], False, 0.0, 1e-5)
    x = images
    for i, stride in ((1, 2), (2, 1), (3, 1)):
        x = F.relu(bn("visual.bn%d" % i, F.conv2d(x, sd["visual.conv%d.weight" % i], stride=stride, padding=1)))
    x = F.avg_pool2d(x, 2)
    for stage in range(1, 5):
        block = 0
        while "visual.layer%d.%d.conv1.weight" % (stage, block) in sd:
            p = "visual.layer%d.%d." % (stage, block)
            stride = 2 if stage > 1 and block == 0 else 1
            y = F.relu(bn(p + "bn1", F.conv2d(x, sd[p + "conv1.weight"])))
            y = F.relu(bn(p + "bn2", F.conv2d(y, sd[p + "conv2.weight"], padding=1)))
            if stride > 1:
                y = F.avg_pool2d(y, stride)
            y = bn(p + "bn3", F.conv2d(y, sd[p + "conv3.weight"]))
            if p + "downsample.0.weight" in sd:
                skip = F.avg_pool2d(x, stride) if stride > 1 else x
                skip = bn(p + "downsample.1", F.conv2d(skip, sd[p + "downsample.0.weight"]))
            else:
                skip = x
            x = F.relu(y + skip)
            block += 1
    b, c = x.shape[:2]
    x = x.reshape(b, c, -1).permute(2, 0, 1)
    x = torch.cat([x.mean(0, keepdim=True), x], 0) + sd["visual.attnpool.positional_embedding"][:, None, :]
    a = "visual.attnpool."
    out, _ = F.multi_head_attention_forward(
        x[:1], x, x, c, heads, None,
        torch.cat([sd[a + "q_proj.bias"], sd[a + "k_proj.bias"], sd[a + "v_proj.bias"]]), None, None, False, 0.0,
        sd[a + "c_proj.weight"], sd[a + "c_proj.bias"], training=False, need_weights=False,
        use_separate_proj_weight=True, q_proj_weight=sd[a + "q_proj.weight"],
        k_proj_weight=sd[a + "k_proj.weight"], v_proj_weight=sd[a + "v_proj.weight"])
    return out[0]


def ref_text(sd, tokens, heads, quick_gelu):
    n = tokens.shape[1]
    x = sd["token_embedding.weight"][tokens] + sd["positional_embedding"][:n]
    mask = torch.full((n, n), float("-inf")).triu(1)
    x = _transformer(sd, "transformer", x.permute(1, 0, 2), heads, quick_gelu, mask).permute(1, 0, 2)
    x = _ln(sd, "ln_final", x)
    return x[torch.arange(x.shape[0]), tokens.argmax(-1)] @ sd["text_projection"]


def reference_outputs(arch, sd, images, tokens):
    spec = make_test_bundle.ARCHES[arch]
    v, t = spec["vision"], spec["text"]
    with torch.no_grad():
        if v["kind"] == "vit":
            img = ref_vit(sd, images, v["heads"], v["quick_gelu"])
        else:
            img = ref_resnet(sd, images, v["heads"])
        return img, ref_text(sd, tokens, t["heads"], t["quick_gelu"])


class OpenAIStyleArchive(nn.Module):
    """Holds a state dict under its own names, to be scripted and saved like OpenAI's .pt files."""

    def __init__(self, sd):
        super().__init__()
        for key, value in sd.items():
            parts = key.split(".")
            module = self
            for part in parts[:-1]:
                if not hasattr(module, part):
                    module.add_module(part, nn.Module())
                module = getattr(module, part)
            if value.is_floating_point():
                module.register_parameter(parts[-1], nn.Parameter(value, requires_grad=False))
            else:
                module.register_buffer(parts[-1], value)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x


# ----------------------------------------------------------------------------------------------------
# Tests


def test_committed_fixtures():
    """tests/fixtures/bundles/tiny-{vit,rn}: hashes hold and the weights are make_test_bundle's, seed 0."""
    found = 0
    for arch, name in (("vit-tiny", "tiny-vit"), ("rn-tiny", "tiny-rn")):
        root = os.path.join(ROOT, "tests", "fixtures", "bundles", name)
        if not os.path.exists(os.path.join(root, "bundle.json")):
            continue
        found += 1
        with open(os.path.join(root, "bundle.json")) as f:
            b = json.load(f)
        for file_name, digest in b["files"].items():
            with open(os.path.join(root, file_name), "rb") as f:
                assert hashlib.sha256(f.read()).hexdigest() == digest, (name, file_name)
        assert b["text"]["vocab_file"] == "tiny_merges.txt" and b["text"]["vocab_size"] == 914
        assert sum(os.path.getsize(os.path.join(root, n)) for n in os.listdir(root)) < 2 * 1024 * 1024
        sd = make_test_bundle.random_state_dict(arch, 914, 0)
        modules = {"image": torch.jit.load(os.path.join(root, "image_encoder.pt")),
                   "text": torch.jit.load(os.path.join(root, "text_encoder.pt"))}
        compared = set()
        for module in modules.values():
            for key, value in module.state_dict().items():
                if key in sd:
                    assert torch.equal(value, sd[key]), (name, key)
                    compared.add(key)
        assert compared == set(sd) - {"logit_scale"}, set(sd) - compared
    if not found:
        raise Skip("no fixture bundles under tests/fixtures/bundles")


def test_tiny_merges_format():
    with open(MERGES, encoding="utf-8") as f:
        text = f.read()
    lines = text.split("\n")
    assert lines[0].startswith("#version"), lines[0]
    assert not text.endswith("\n"), "no trailing newline (CLIP's Python tokenizer would read an empty merge)"
    merges = [tuple(line.split(" ")) for line in lines[1:]]
    assert len(merges) == 300 and all(len(m) == 2 for m in merges)
    vocab = make_tiny_merges.base_vocab() + ["".join(m) for m in merges]
    assert len(set(vocab)) == len(vocab) == 512 + 300, "vocabulary entries must be distinct"
    seen = set(make_tiny_merges.base_vocab())
    for a, b in merges:               # every merge joins symbols that exist by then
        assert a in seen and b in seen, (a, b)
        seen.add(a + b)
    assert clipzs_export.count_merges(MERGES) == 300
    ids = make_tiny_merges.encode("a photo of a dog.", [tuple(m) for m in merges])
    assert len(ids) < len("a photo of a dog."), ids


def test_bundle_sha256_match():
    for arch in BUNDLES:
        b = bundle_json(arch)
        present = sorted(n for n in os.listdir(BUNDLES[arch]) if n != "bundle.json")
        assert sorted(b["files"]) == present, (b["files"], present)
        for name, digest in b["files"].items():
            with open(os.path.join(BUNDLES[arch], name), "rb") as f:
                assert hashlib.sha256(f.read()).hexdigest() == digest, name


def test_bundle_json_contract():
    for arch in BUNDLES:
        b = bundle_json(arch)
        assert b["schema_version"] == 1
        assert b["model"]["architecture"] == ("vit" if arch == "vit-tiny" else "resnet")
        t, im = b["text"], b["image"]
        assert t["tokenizer"] == "clip_bpe" and t["vocab_file"] == "tiny_merges.txt"
        assert t["num_merges"] == 300 and t["vocab_size"] == 514 + 300
        assert (t["sot_id"], t["eot_id"]) == (t["vocab_size"] - 2, t["vocab_size"] - 1)
        assert t["context_length"] == 77 and t["width"] == 64
        assert im["size"] == 64 and im["interpolation"] == "bicubic" and im["resize_mode"] == "shortest"
        assert len(im["mean"]) == 3 and len(im["std"]) == 3
        assert abs(b["logit_scale"] - 100.0) < 1e-3
        text = load(arch, "text")
        assert tuple(text.token_embedding_weight().shape) == (t["vocab_size"], t["width"])
        emb = load(arch, "image")(torch.randn(3, 3, im["size"], im["size"]))
        assert tuple(emb.shape) == (3, b["model"]["embed_dim"]) and emb.dtype == torch.float32
        assert bool(torch.isfinite(emb).all()) and float(emb.std()) > 1e-3
        tokens = random_tokens(b)
        out = text(tokens)
        assert tuple(out.shape) == (tokens.shape[0], b["model"]["embed_dim"])


def test_forward_equals_token_embedding_path():
    for arch in BUNDLES:
        b = bundle_json(arch)
        text = load(arch, "text")
        tokens = random_tokens(b, n=8, seed=3)
        with torch.no_grad():
            a = text(tokens)
            c = text.encode_token_embeddings(text.token_embedding_weight()[tokens], tokens.argmax(-1))
        assert float((a - c).abs().max()) <= 1e-5, float((a - c).abs().max())


def test_token_embedding_path_shorter_context():
    """encode_token_embeddings on [B, L < context, W] equals the full-length result (causal mask)."""
    b = bundle_json("vit-tiny")
    text = load("vit-tiny", "text")
    tokens = torch.zeros(2, 77, dtype=torch.long)
    tokens[:, 0] = b["text"]["sot_id"]
    tokens[0, 1:4] = torch.tensor([5, 6, 7])
    tokens[0, 4] = b["text"]["eot_id"]
    tokens[1, 1] = b["text"]["eot_id"]
    with torch.no_grad():
        full = text(tokens)
        emb = text.token_embedding_weight()[tokens[:, :16]]
        short = text.encode_token_embeddings(emb, tokens[:, :16].argmax(-1))
    assert float((full - short).abs().max()) <= 1e-5


def test_export_diff_recorded():
    for arch in BUNDLES:
        ex = bundle_json(arch)["export"]
        for key in ("max_abs_diff_image", "max_abs_diff_text", "max_abs_diff_token_path"):
            assert isinstance(ex[key], float) and math.isfinite(ex[key]) and 0 <= ex[key] <= 1e-4, (key, ex[key])
        assert ex["tool"] == "scripts/make_test_bundle.py" and ex["torch_version"] == torch.__version__
        assert ex["attention"] == "manual" and ex["created"].endswith("Z")


def test_matches_independent_reference():
    """The bundles agree with a functional CLIP forward built on torch's multi-head attention."""
    for arch in BUNDLES:
        b = bundle_json(arch)
        sd = make_test_bundle.random_state_dict(arch, b["text"]["vocab_size"], SEED)
        s = b["image"]["size"]
        images = torch.randn(3, 3, s, s, generator=torch.Generator().manual_seed(1))
        tokens = random_tokens(b, n=6, seed=5)
        ref_img, ref_txt = reference_outputs(arch, sd, images, tokens)
        with torch.no_grad():
            img, txt = load(arch, "image")(images), load(arch, "text")(tokens)
        assert rel_diff(img, ref_img) < 1e-5, (arch, rel_diff(img, ref_img))
        assert rel_diff(txt, ref_txt) < 1e-5, (arch, rel_diff(txt, ref_txt))


def test_deterministic_weights():
    out = os.path.join(TMP.name, "again")
    for arch in BUNDLES:
        make_test_bundle.make_bundle(arch, SEED, MERGES, out, overwrite=True, log=quiet)
        again, first = json.load(open(os.path.join(out, "bundle.json"))), bundle_json(arch)
        assert again["files"] == first["files"], arch
    make_test_bundle.make_bundle("vit-tiny", SEED + 1, MERGES, out, overwrite=True, log=quiet)
    other = json.load(open(os.path.join(out, "bundle.json")))
    assert other["files"]["image_encoder.pt"] != bundle_json("vit-tiny")["files"]["image_encoder.pt"]


def test_refuses_non_empty_out_dir():
    try:
        make_test_bundle.make_bundle("vit-tiny", SEED, MERGES, BUNDLES["vit-tiny"], log=quiet)
    except clipzs_export.ExportError as e:
        assert "--overwrite" in str(e)
    else:
        raise AssertionError("exported over an existing bundle without overwrite")


def test_export_clip_openai_files():
    """export_clip.py --format openai on a fp16 plain state dict and on a TorchScript archive."""
    arch = "vit-tiny"
    sd = make_test_bundle.random_state_dict(arch, 814, 11)
    half = {k: (v.half() if v.is_floating_point() else v) for k, v in sd.items()}
    plain = os.path.join(TMP.name, "plain.pt")
    torch.save({"state_dict": {"module." + k: v for k, v in half.items()}}, plain)
    archive = os.path.join(TMP.name, "archive.pt")
    extra = dict(half, input_resolution=torch.tensor(64), context_length=torch.tensor(77))
    torch.jit.save(torch.jit.script(OpenAIStyleArchive(extra)), archive)
    rounded = {k: (v.float() if v.is_floating_point() else v) for k, v in half.items()}
    for ckpt in (plain, archive):
        out = os.path.join(TMP.name, "export-" + os.path.basename(ckpt))
        rc = export_clip.main(["--format", "openai", "--checkpoint", ckpt, "--vocab", MERGES, "--out", out,
                               "--head-width", "32", "--name", "tiny"])
        assert rc == 0, ckpt
        b = json.load(open(os.path.join(out, "bundle.json")))
        assert b["model"]["name"] == "tiny" and b["model"]["source"].startswith("openai:")
        assert b["export"]["max_abs_diff_image"] <= 1e-4 and b["export"]["max_abs_diff_text"] <= 1e-4
        images = torch.randn(2, 3, 64, 64)
        tokens = random_tokens(b)
        ref_img, ref_txt = reference_outputs(arch, rounded, images, tokens)
        with torch.no_grad():
            img = torch.jit.load(os.path.join(out, "image_encoder.pt"))(images)
            txt = torch.jit.load(os.path.join(out, "text_encoder.pt"))(tokens)
        assert rel_diff(img, ref_img) < 1e-5 and rel_diff(txt, ref_txt) < 1e-5


def test_export_failures():
    # A vocabulary with fewer merges than the model's token ids.
    sd = make_test_bundle.random_state_dict("vit-tiny", 514 + 301, 0)
    plain = os.path.join(TMP.name, "too-big-vocab.pt")
    torch.save(sd, plain)
    rc = export_clip.main(["--format", "openai", "--checkpoint", plain, "--vocab", MERGES,
                           "--out", os.path.join(TMP.name, "fail1")])
    assert rc == 1
    # Weights that do not fit the model definition.
    sd2 = dict(make_test_bundle.random_state_dict("vit-tiny", 814, 0), **{"visual.extra.weight": torch.ones(2)})
    torch.save(sd2, plain)
    rc = export_clip.main(["--format", "openai", "--checkpoint", plain, "--vocab", MERGES,
                           "--out", os.path.join(TMP.name, "fail2")])
    assert rc == 1
    # A source model that disagrees: no bundle.json.
    sd = make_test_bundle.random_state_dict("vit-tiny", 814, 0)
    cfg = clipzs_model.infer_config(sd, head_width=32)
    image, text, _ = clipzs_model.build_encoders(sd, cfg)
    bad = clipzs_export.Reference("perturbed", lambda x: image(x) * 1.01, text)
    out = os.path.join(TMP.name, "fail3")
    try:
        clipzs_export.export_bundle(sd, out, cfg=cfg, vocab=clipzs_export.clip_bpe_vocab(MERGES, 814),
                                    preprocess=clipzs_export.default_preprocess(64), name="x", source="x",
                                    reference=bad, log=quiet)
    except clipzs_export.ExportError as e:
        assert "image tower differs" in str(e), e
    else:
        raise AssertionError("a 1% difference was accepted")
    assert not os.path.exists(os.path.join(out, "bundle.json"))


def _hf_names(sd):
    """OpenAI names -> Hugging Face CLIPModel names (written out independently of clipzs_export)."""
    hf = {"text_model.embeddings.position_ids": torch.arange(sd["positional_embedding"].shape[0])[None]}
    block = {"ln_1": "layer_norm1", "ln_2": "layer_norm2", "mlp.c_fc": "mlp.fc1", "mlp.c_proj": "mlp.fc2",
             "attn.out_proj": "self_attn.out_proj"}
    simple = {"visual.conv1.weight": "vision_model.embeddings.patch_embedding.weight",
              "visual.class_embedding": "vision_model.embeddings.class_embedding",
              "visual.positional_embedding": "vision_model.embeddings.position_embedding.weight",
              "token_embedding.weight": "text_model.embeddings.token_embedding.weight",
              "positional_embedding": "text_model.embeddings.position_embedding.weight",
              "logit_scale": "logit_scale"}
    norms = {"visual.ln_pre": "vision_model.pre_layrnorm", "visual.ln_post": "vision_model.post_layernorm",
             "ln_final": "text_model.final_layer_norm"}
    for k, v in sd.items():
        if k in simple:
            hf[simple[k]] = v
        elif k in ("visual.proj", "text_projection"):
            hf[("visual_projection" if k == "visual.proj" else "text_projection") + ".weight"] = v.t()
        elif k.rsplit(".", 1)[0] in norms:
            name, param = k.rsplit(".", 1)
            hf[norms[name] + "." + param] = v
        else:
            tower = "vision_model" if k.startswith("visual.") else "text_model"
            index, rest = k.split("resblocks.", 1)[1].split(".", 1)
            prefix = "%s.encoder.layers.%s." % (tower, index)
            if rest.startswith("attn.in_proj_"):
                param = rest.rsplit("_", 1)[1]
                for part, chunk in zip("qkv", v.chunk(3, dim=0)):
                    hf[prefix + "self_attn.%s_proj.%s" % (part, param)] = chunk
            else:
                name, param = rest.rsplit(".", 1)
                hf[prefix + block[name] + "." + param] = v
    return hf


def test_hf_name_mapping():
    """OpenAI names -> Hugging Face names -> hf_to_openai_state_dict round trip."""
    sd = make_test_bundle.random_state_dict("vit-tiny", 814, 2)
    back = clipzs_export.hf_to_openai_state_dict(_hf_names(sd))
    assert sorted(back) == sorted(sd), set(back) ^ set(sd)
    for k in sd:
        assert torch.equal(back[k], sd[k]), k


def test_loaders_with_stub_libraries():
    """export_clip.py's open_clip / transformers / clip glue, run against minimal stand-ins for those
    packages (their real versions are not installed here; this checks the glue, not the libraries)."""
    import types
    sd = make_test_bundle.random_state_dict("vit-tiny", 814, 9)
    cfg = clipzs_model.infer_config(sd, head_width=32)
    image, text, _ = clipzs_model.build_encoders(sd, cfg)

    class Model(nn.Module):       # open_clip's CLIP: same attribute names as OpenAI's
        def __init__(self):
            super().__init__()
            self.visual = image.visual
            self.token_embedding, self.transformer = text.token_embedding, text.transformer
            self.positional_embedding, self.ln_final = text.positional_embedding, text.ln_final
            self.text_projection = text.text_projection
            self.logit_scale = nn.Parameter(sd["logit_scale"].clone())
            self.register_buffer("attn_mask", torch.zeros(77, 77), persistent=False)
            for block in list(self.visual.transformer.resblocks) + list(self.transformer.resblocks):
                block.attn.num_heads = block.attn.heads
            self.visual.preprocess_cfg = {"size": (64, 64), "mean": (0.5, 0.5, 0.5), "std": (0.25, 0.25, 0.25),
                                          "interpolation": "bilinear", "resize_mode": "squash"}

        def encode_image(self, x):
            return image(x)

        def encode_text(self, tokens):
            return text(tokens)

    class SimpleTokenizer:
        pass

    open_clip = types.ModuleType("open_clip")
    open_clip.create_model_and_transforms = lambda arch, pretrained=None, **kw: (Model(), None, None)
    open_clip.get_tokenizer = lambda arch: SimpleTokenizer()
    open_clip.tokenizer = types.ModuleType("open_clip.tokenizer")
    open_clip.tokenizer.default_bpe = lambda: MERGES

    vocab = make_tiny_merges.base_vocab()
    with open(MERGES, encoding="utf-8") as f:
        merges_lines = f.read().split("\n")
    vocab += ["".join(line.split(" ")) for line in merges_lines[1:]] + ["<|startoftext|>", "<|endoftext|>"]

    class HFModel:
        config = types.SimpleNamespace(
            vision_config=types.SimpleNamespace(hidden_act="quick_gelu", num_attention_heads=2, layer_norm_eps=1e-5),
            text_config=types.SimpleNamespace(hidden_act="quick_gelu", num_attention_heads=2, layer_norm_eps=1e-5))

        def eval(self):
            return self

        def state_dict(self):
            return _hf_names(sd)

        def get_image_features(self, pixel_values):
            return image(pixel_values)

        def get_text_features(self, input_ids):
            return types.SimpleNamespace(text_embeds=text(input_ids))

    class HFTokenizer:
        def save_vocabulary(self, directory):
            paths = (os.path.join(directory, "vocab.json"), os.path.join(directory, "merges.txt"))
            with open(paths[0], "w") as f:
                json.dump({tok: i for i, tok in enumerate(vocab)}, f)
            with open(paths[1], "w") as f:
                f.write("\n".join(merges_lines))
            return paths

    processor = types.SimpleNamespace(size={"shortest_edge": 64}, crop_size={"height": 64, "width": 64},
                                      do_center_crop=True, resample=3, image_mean=[0.4, 0.4, 0.4],
                                      image_std=[0.3, 0.3, 0.3])
    transformers = types.ModuleType("transformers")
    transformers.__version__ = "stub"
    transformers.CLIPModel = types.SimpleNamespace(from_pretrained=lambda ckpt, **kw: HFModel())
    transformers.CLIPTokenizer = types.SimpleNamespace(from_pretrained=lambda ckpt: HFTokenizer())
    transformers.CLIPImageProcessor = types.SimpleNamespace(from_pretrained=lambda ckpt: processor)

    clip = types.ModuleType("clip")
    clip.__file__ = os.path.join(TMP.name, "clip", "__init__.py")
    clip.load = lambda name, device="cpu", jit=False: (Model(), None)

    stubs = {"open_clip": open_clip, "open_clip.tokenizer": open_clip.tokenizer, "transformers": transformers,
             "clip": clip}
    saved = {k: sys.modules.get(k) for k in stubs}
    sys.modules.update(stubs)
    try:
        out = os.path.join(TMP.name, "stub-open_clip")
        assert export_clip.main(["--format", "open_clip", "--checkpoint", "ViT-Tiny:stub", "--out", out]) == 0
        b = json.load(open(os.path.join(out, "bundle.json")))
        assert b["image"]["resize_mode"] == "squash" and b["image"]["interpolation"] == "bilinear"
        assert b["image"]["mean"] == [0.5] * 3 and b["text"]["vocab_file"] == "tiny_merges.txt"
        assert b["model"]["config"]["vision"]["heads"] == 2 and b["export"]["reference"].startswith("open_clip")
        out = os.path.join(TMP.name, "stub-hf")
        assert export_clip.main(["--format", "hf", "--checkpoint", "org/stub-clip", "--out", out]) == 0
        b = json.load(open(os.path.join(out, "bundle.json")))
        assert b["text"]["tokenizer"] == "hf_bpe" and b["text"]["vocab_file"] == "vocab.json"
        assert b["text"]["merges_file"] == "merges.txt" and b["text"]["eot_id"] == 813
        assert b["image"]["std"] == [0.3] * 3 and b["model"]["name"] == "stub-clip"
        assert sorted(b["files"]) == ["image_encoder.pt", "merges.txt", "text_encoder.pt", "vocab.json"]
        out = os.path.join(TMP.name, "stub-clip")
        assert export_clip.main(["--format", "openai", "--checkpoint", "ViT-Tiny/16", "--out", out,
                                 "--vocab", MERGES, "--head-width", "32"]) == 0
        b = json.load(open(os.path.join(out, "bundle.json")))
        assert b["model"]["source"] == "openai:ViT-Tiny/16" and "clip package" in b["export"]["reference"]
    finally:
        for k, v in saved.items():
            if v is None:
                sys.modules.pop(k, None)
            else:
                sys.modules[k] = v


def test_sdpa_mode():
    if not hasattr(F, "scaled_dot_product_attention"):
        try:
            clipzs_model.make_attention_core("sdpa", 32)
        except RuntimeError as e:
            assert "torch >= 2.0" in str(e)
        else:
            raise AssertionError("sdpa accepted on torch %s" % torch.__version__)
        return
    sd = make_test_bundle.random_state_dict("vit-tiny", 814, 4)
    cfg = clipzs_model.infer_config(sd, head_width=32)
    outs = []
    for mode in ("manual", "sdpa"):
        image, text, _ = clipzs_model.build_encoders(sd, cfg, mode)
        image, text = torch.jit.script(image), torch.jit.script(text)
        with torch.no_grad():
            outs.append((image(torch.ones(1, 3, 64, 64)), text(torch.tensor([[812] + [5] * 10 + [813]]))))
    assert rel_diff(outs[0][0], outs[1][0]) < 1e-5 and rel_diff(outs[0][1], outs[1][1]) < 1e-5


def _run_reference(args):
    proc = subprocess.run([sys.executable, os.path.join(SCRIPTS, "reference_embed.py")] + args,
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_reference_embed():
    from PIL import Image
    bundle = BUNDLES["rn-tiny"]
    b = bundle_json("rn-tiny")
    img_dir = os.path.join(TMP.name, "images")
    os.makedirs(os.path.join(img_dir, "sub"), exist_ok=True)
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 255, (90, 120, 3), dtype=np.uint8)).save(os.path.join(img_dir, "b.png"))
    Image.fromarray(rng.integers(0, 255, (50, 40), dtype=np.uint8)).save(os.path.join(img_dir, "a.jpg"))
    Image.fromarray(rng.integers(0, 255, (70, 70, 4), dtype=np.uint8)).save(os.path.join(img_dir, "sub", "c.png"))
    paths = reference_embed.list_images(img_dir)
    assert [os.path.relpath(p, img_dir) for p in paths] == ["a.jpg", "b.png", os.path.join("sub", "c.png")]
    out = os.path.join(TMP.name, "emb.npy")
    info = _run_reference(["--bundle", bundle, "--images", img_dir, "--out", out, "--batch-size", "2",
                           "--threads", "1", "--workers", "1"])
    assert info["mode"] == "pipeline" and info["images"] == 3 and info["images_per_s"] > 0
    emb = np.load(out)
    assert emb.shape == (3, b["model"]["embed_dim"]) and emb.dtype == np.float32
    assert np.allclose(np.linalg.norm(emb, axis=1), 1, atol=1e-5)
    # The same images preprocessed here, then forward only: identical rows.
    transform = reference_embed.tensor_transform(b["image"])
    pre = np.stack([transform(Image.open(p)).numpy() for p in paths]).astype(np.float32)
    np.save(os.path.join(TMP.name, "pre.npy"), pre)
    out2 = os.path.join(TMP.name, "emb2.npy")
    _run_reference(["--bundle", bundle, "--preprocessed", os.path.join(TMP.name, "pre.npy"), "--out", out2])
    assert np.abs(np.load(out2) - emb).max() < 1e-6
    with torch.no_grad():
        direct = load("rn-tiny", "image")(torch.from_numpy(pre))
    direct = (direct / direct.norm(dim=-1, keepdim=True)).numpy()
    assert np.abs(direct - emb).max() < 1e-6
    # A list file, bf16, and model-bound mode.
    listing = os.path.join(TMP.name, "list.txt")
    with open(listing, "w") as f:
        f.write("# comment\n%s\n\n%s\n" % (paths[2], paths[0]))
    out3 = os.path.join(TMP.name, "emb3.npy")
    _run_reference(["--bundle", bundle, "--images", listing, "--out", out3, "--dtype", "bf16", "--workers", "0"])
    cos = (np.load(out3) * emb[[2, 0]]).sum(1)
    assert cos.min() > 0.98, cos
    info = _run_reference(["--bundle", bundle, "--mode", "model-bound", "--num-images", "10", "--batch-size", "4"])
    assert info["mode"] == "model-bound" and info["images"] == 10
    # Texts.
    tokens = random_tokens(b, n=5).numpy()
    np.save(os.path.join(TMP.name, "tokens.npy"), tokens)
    out4 = os.path.join(TMP.name, "txt.npy")
    info = _run_reference(["texts", "--bundle", bundle, "--tokens", os.path.join(TMP.name, "tokens.npy"),
                           "--out", out4, "--batch-size", "2"])
    assert info["texts"] == 5
    with torch.no_grad():
        t = load("rn-tiny", "text")(torch.from_numpy(tokens))
    assert np.abs((t / t.norm(dim=-1, keepdim=True)).numpy() - np.load(out4)).max() < 1e-6


def test_reference_preprocess_matches_shared_expected():
    """reference_embed's PIL pipeline reproduces ../shared/reference/preprocess/expected (224 px)."""
    root = os.path.join(SHARED, "reference", "preprocess")
    if not os.path.isdir(root):
        raise Skip("%s is absent" % root)
    from PIL import Image
    with open(os.path.join(root, "manifest.json")) as f:
        manifest = json.load(f)
    transform = reference_embed.pil_transform({"size": 224, "interpolation": "bicubic", "resize_mode": "shortest"})
    checked = 0
    for entry in manifest["images"]:
        expected = entry.get("outputs", {}).get("224")
        if not expected:
            continue
        with Image.open(os.path.join(root, "images", entry["file"])) as image:
            got = np.asarray(transform(image))
        want = np.load(os.path.join(root, "expected", expected))
        assert got.shape == want.shape and np.array_equal(got, want), entry["file"]
        checked += 1
    assert checked >= 10, checked


def main(argv) -> int:
    torch.manual_seed(0)
    torch.set_num_threads(2)
    setup()
    return run_tests(globals(), argv)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
