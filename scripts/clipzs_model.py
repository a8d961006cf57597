"""A self-contained CLIP model definition for clipzs bundles.

Parameter names follow OpenAI CLIP's state dict (``visual.conv1.weight``,
``visual.transformer.resblocks.N.attn.in_proj_weight``, ``token_embedding.weight``, ...), so OpenAI and
open_clip weights load directly and Hugging Face weights load after renaming (see clipzs_export.py).

Every module here compiles with ``torch.jit.script`` under torch 1.13. Attention comes in two modes:

- ``manual`` (default): matmul + softmax, only ops that LibTorch 1.13 and later all know;
- ``sdpa``: ``F.scaled_dot_product_attention`` (torch >= 2.0 only; bundles then need LibTorch >= 2.0).

The two exported wrappers are ``ImageEncoder`` and ``TextEncoder`` (see docs/bundle-format.md).
``infer_config`` reads the architecture from a state dict; ``build_encoders`` builds and loads both.
"""

import math
import re
from collections import OrderedDict
from dataclasses import asdict, dataclass
from typing import Dict, List, Optional, Tuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

OPENAI_MEAN = (0.48145466, 0.4578275, 0.40821073)
OPENAI_STD = (0.26862954, 0.26130258, 0.27577711)
ATTENTION_MODES = ("manual", "sdpa")


# ----------------------------------------------------------------------------------------------------
# Building blocks


class LayerNorm(nn.LayerNorm):
    """LayerNorm computed in float32 whatever the input dtype (keeps fp16/bf16 runs stable)."""

    def forward(self, x: Tensor) -> Tensor:
        y = F.layer_norm(x.float(), self.normalized_shape, self.weight.float(), self.bias.float(), self.eps)
        return y.to(x.dtype)


class QuickGELU(nn.Module):
    """x * sigmoid(1.702 x), the activation OpenAI's CLIP models were trained with."""

    def forward(self, x: Tensor) -> Tensor:
        return x * torch.sigmoid(1.702 * x)


class ManualAttentionCore(nn.Module):
    """softmax(q k^T / sqrt(d) + mask) v on [B, H, N, d] tensors, with plain matmuls."""

    def __init__(self, head_dim: int):
        super().__init__()
        self.scale = float(head_dim) ** -0.5

    def forward(self, q: Tensor, k: Tensor, v: Tensor, mask: Optional[Tensor]) -> Tensor:
        scores = torch.matmul(q * self.scale, k.transpose(-2, -1))
        if mask is not None:
            scores = scores + mask
        return torch.matmul(torch.softmax(scores, dim=-1), v)


class SdpaAttentionCore(nn.Module):
    """The same through torch's fused kernel (torch >= 2.0; the op is unknown to LibTorch 1.x)."""

    def forward(self, q: Tensor, k: Tensor, v: Tensor, mask: Optional[Tensor]) -> Tensor:
        return F.scaled_dot_product_attention(q, k, v, attn_mask=mask)


def make_attention_core(mode: str, head_dim: int) -> nn.Module:
    if mode == "manual":
        return ManualAttentionCore(head_dim)
    if mode == "sdpa":
        if not hasattr(F, "scaled_dot_product_attention"):
            raise RuntimeError(
                "attention mode 'sdpa' needs torch >= 2.0 (this is torch %s); use 'manual'" % torch.__version__)
        return SdpaAttentionCore()
    raise ValueError("unknown attention mode %r (expected one of %s)" % (mode, ", ".join(ATTENTION_MODES)))


class SelfAttention(nn.Module):
    """Multi-head self-attention on batch-first [B, N, W] input, weights laid out as in
    nn.MultiheadAttention (in_proj_weight/in_proj_bias packed q, k, v; out_proj)."""

    def __init__(self, width: int, heads: int, mode: str):
        super().__init__()
        if width % heads != 0:
            raise ValueError("width %d is not divisible by %d heads" % (width, heads))
        self.heads = heads
        self.head_dim = width // heads
        self.in_proj_weight = nn.Parameter(torch.zeros(3 * width, width))
        self.in_proj_bias = nn.Parameter(torch.zeros(3 * width))
        self.out_proj = nn.Linear(width, width)
        self.core = make_attention_core(mode, self.head_dim)

    def forward(self, x: Tensor, mask: Optional[Tensor]) -> Tensor:
        b = x.size(0)
        n = x.size(1)
        w = x.size(2)
        qkv = F.linear(x, self.in_proj_weight, self.in_proj_bias)
        qkv = qkv.reshape(b, n, 3, self.heads, self.head_dim).permute(2, 0, 3, 1, 4)
        out = self.core(qkv[0], qkv[1], qkv[2], mask)  # [B, H, N, d]
        out = out.transpose(1, 2).reshape(b, n, w)
        return self.out_proj(out)


class Mlp(nn.Module):
    def __init__(self, width: int, hidden: int, quick_gelu: bool):
        super().__init__()
        self.c_fc = nn.Linear(width, hidden)
        self.gelu = QuickGELU() if quick_gelu else nn.GELU()
        self.c_proj = nn.Linear(hidden, width)

    def forward(self, x: Tensor) -> Tensor:
        return self.c_proj(self.gelu(self.c_fc(x)))


class ResidualBlock(nn.Module):
    """Pre-LayerNorm transformer block: x + attn(ln_1(x)), then x + mlp(ln_2(x))."""

    def __init__(self, width: int, heads: int, mlp_dim: int, quick_gelu: bool, eps: float, mode: str):
        super().__init__()
        self.ln_1 = LayerNorm(width, eps=eps)
        self.attn = SelfAttention(width, heads, mode)
        self.ln_2 = LayerNorm(width, eps=eps)
        self.mlp = Mlp(width, mlp_dim, quick_gelu)

    def forward(self, x: Tensor, mask: Optional[Tensor]) -> Tensor:
        x = x + self.attn(self.ln_1(x), mask)
        return x + self.mlp(self.ln_2(x))


class Transformer(nn.Module):
    def __init__(self, width: int, layers: int, heads: int, mlp_dim: int, quick_gelu: bool, eps: float,
                 mode: str):
        super().__init__()
        self.resblocks = nn.ModuleList(
            [ResidualBlock(width, heads, mlp_dim, quick_gelu, eps, mode) for _ in range(layers)])

    def forward(self, x: Tensor, mask: Optional[Tensor]) -> Tensor:
        for block in self.resblocks:
            x = block(x, mask)
        return x


# ----------------------------------------------------------------------------------------------------
# Image towers


class VisionTransformer(nn.Module):
    def __init__(self, image_size: int, patch_size: int, width: int, layers: int, heads: int, mlp_dim: int,
                 output_dim: int, quick_gelu: bool, eps: float, mode: str):
        super().__init__()
        grid = image_size // patch_size
        self.conv1 = nn.Conv2d(3, width, kernel_size=patch_size, stride=patch_size, bias=False)
        self.class_embedding = nn.Parameter(torch.zeros(width))
        self.positional_embedding = nn.Parameter(torch.zeros(grid * grid + 1, width))
        self.ln_pre = LayerNorm(width, eps=eps)
        self.transformer = Transformer(width, layers, heads, mlp_dim, quick_gelu, eps, mode)
        self.ln_post = LayerNorm(width, eps=eps)
        self.proj = nn.Parameter(torch.zeros(width, output_dim))

    def forward(self, x: Tensor) -> Tensor:
        x = self.conv1(x.to(self.conv1.weight.dtype))      # [B, W, g, g]
        x = x.flatten(2).transpose(1, 2)                    # [B, g*g, W]
        cls = self.class_embedding.to(x.dtype).reshape(1, 1, -1).expand(x.size(0), 1, x.size(2))
        x = torch.cat([cls, x], dim=1)
        x = x + self.positional_embedding.to(x.dtype)
        x = self.ln_pre(x)
        x = self.transformer(x, None)
        x = self.ln_post(x[:, 0, :])
        return torch.matmul(x, self.proj)


class Bottleneck(nn.Module):
    """ResNet bottleneck whose stride is done by average pooling (as in CLIP's ModifiedResNet)."""

    def __init__(self, inplanes: int, planes: int, stride: int):
        super().__init__()
        out = planes * 4
        self.conv1 = nn.Conv2d(inplanes, planes, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.relu1 = nn.ReLU()
        self.conv2 = nn.Conv2d(planes, planes, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.relu2 = nn.ReLU()
        self.avgpool = nn.AvgPool2d(stride) if stride > 1 else nn.Identity()
        self.conv3 = nn.Conv2d(planes, out, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(out)
        self.relu3 = nn.ReLU()
        self.has_downsample = stride > 1 or inplanes != out
        if self.has_downsample:
            # Names "-1", "0", "1" are those of the OpenAI state dict (downsample.0.weight, downsample.1.*).
            self.downsample = nn.Sequential(OrderedDict([
                ("-1", nn.AvgPool2d(stride) if stride > 1 else nn.Identity()),
                ("0", nn.Conv2d(inplanes, out, 1, bias=False)),
                ("1", nn.BatchNorm2d(out)),
            ]))
        else:
            self.downsample = nn.Sequential()

    def forward(self, x: Tensor) -> Tensor:
        y = self.relu1(self.bn1(self.conv1(x)))
        y = self.relu2(self.bn2(self.conv2(y)))
        y = self.avgpool(y)
        y = self.bn3(self.conv3(y))
        if self.has_downsample:
            y = y + self.downsample(x)
        else:
            y = y + x
        return self.relu3(y)


class AttentionPool2d(nn.Module):
    """Attention pooling of a [B, C, H, W] map: the mean feature queries all positions."""

    def __init__(self, spatial: int, embed_dim: int, heads: int, output_dim: int, mode: str):
        super().__init__()
        if embed_dim % heads != 0:
            raise ValueError("attnpool width %d is not divisible by %d heads" % (embed_dim, heads))
        self.heads = heads
        self.head_dim = embed_dim // heads
        self.positional_embedding = nn.Parameter(torch.zeros(spatial * spatial + 1, embed_dim))
        self.k_proj = nn.Linear(embed_dim, embed_dim)
        self.q_proj = nn.Linear(embed_dim, embed_dim)
        self.v_proj = nn.Linear(embed_dim, embed_dim)
        self.c_proj = nn.Linear(embed_dim, output_dim)
        self.core = make_attention_core(mode, self.head_dim)

    def forward(self, x: Tensor) -> Tensor:
        b = x.size(0)
        c = x.size(1)
        x = x.flatten(2).transpose(1, 2)                    # [B, HW, C]
        x = torch.cat([x.mean(dim=1, keepdim=True), x], dim=1)
        x = x + self.positional_embedding.to(x.dtype)
        n = x.size(1)
        q = self.q_proj(x[:, :1, :]).reshape(b, 1, self.heads, self.head_dim).transpose(1, 2)
        k = self.k_proj(x).reshape(b, n, self.heads, self.head_dim).transpose(1, 2)
        v = self.v_proj(x).reshape(b, n, self.heads, self.head_dim).transpose(1, 2)
        out = self.core(q, k, v, None)                      # [B, H, 1, d]
        out = out.transpose(1, 2).reshape(b, c)
        return self.c_proj(out)


class ModifiedResNet(nn.Module):
    """CLIP's ResNet: 3-conv stem, avg-pool strides, attention pooling head. Output stride 32."""

    def __init__(self, layers: List[int], output_dim: int, heads: int, image_size: int, width: int, mode: str):
        super().__init__()
        if len(layers) != 4:
            raise ValueError("ModifiedResNet needs 4 stages, got %r" % (layers,))
        half = width // 2
        self.conv1 = nn.Conv2d(3, half, 3, stride=2, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(half)
        self.relu1 = nn.ReLU()
        self.conv2 = nn.Conv2d(half, half, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(half)
        self.relu2 = nn.ReLU()
        self.conv3 = nn.Conv2d(half, width, 3, padding=1, bias=False)
        self.bn3 = nn.BatchNorm2d(width)
        self.relu3 = nn.ReLU()
        self.avgpool = nn.AvgPool2d(2)
        inplanes = width
        stages = []
        for i, blocks in enumerate(layers):
            planes = width * (2 ** i)
            stride = 1 if i == 0 else 2
            stage = [Bottleneck(inplanes, planes, stride)]
            inplanes = planes * 4
            stage += [Bottleneck(inplanes, planes, 1) for _ in range(1, blocks)]
            stages.append(nn.Sequential(*stage))
        self.layer1, self.layer2, self.layer3, self.layer4 = stages
        self.attnpool = AttentionPool2d(image_size // 32, width * 32, heads, output_dim, mode)

    def forward(self, x: Tensor) -> Tensor:
        x = x.to(self.conv1.weight.dtype)
        x = self.relu1(self.bn1(self.conv1(x)))
        x = self.relu2(self.bn2(self.conv2(x)))
        x = self.relu3(self.bn3(self.conv3(x)))
        x = self.avgpool(x)
        x = self.layer1(x)
        x = self.layer2(x)
        x = self.layer3(x)
        x = self.layer4(x)
        return self.attnpool(x)


# ----------------------------------------------------------------------------------------------------
# The two exported encoders


class ImageEncoder(nn.Module):
    """forward(images [B, 3, S, S] float, normalised) -> [B, D], not L2-normalised."""

    def __init__(self, visual: nn.Module):
        super().__init__()
        self.visual = visual

    def forward(self, images: Tensor) -> Tensor:
        return self.visual(images)


class TextEncoder(nn.Module):
    """forward(tokens [B, L] int64) -> [B, D], pooled at tokens.argmax(-1), not L2-normalised."""

    def __init__(self, vocab_size: int, context_length: int, width: int, layers: int, heads: int,
                 mlp_dim: int, embed_dim: int, quick_gelu: bool, eps: float, mode: str):
        super().__init__()
        self.token_embedding = nn.Embedding(vocab_size, width)
        self.positional_embedding = nn.Parameter(torch.zeros(context_length, width))
        self.transformer = Transformer(width, layers, heads, mlp_dim, quick_gelu, eps, mode)
        self.ln_final = LayerNorm(width, eps=eps)
        self.text_projection = nn.Parameter(torch.zeros(width, embed_dim))

    def forward(self, tokens: Tensor) -> Tensor:
        return self.encode_token_embeddings(self.token_embedding(tokens), tokens.argmax(dim=-1))

    @torch.jit.export
    def encode_token_embeddings(self, x: Tensor, eot_positions: Tensor) -> Tensor:
        """x: [B, L, W] token embeddings (positional embedding is added here); pools at eot_positions."""
        n = x.size(1)
        x = x + self.positional_embedding[:n].to(x.dtype)
        mask = torch.full([n, n], float("-inf"), dtype=x.dtype, device=x.device).triu(1)
        x = self.transformer(x, mask)
        x = self.ln_final(x)
        rows = torch.arange(x.size(0), device=x.device)
        pooled = x[rows, eot_positions.to(torch.long)]
        return torch.matmul(pooled, self.text_projection)

    @torch.jit.export
    def token_embedding_weight(self) -> Tensor:
        return self.token_embedding.weight


# ----------------------------------------------------------------------------------------------------
# Architecture from a state dict


@dataclass
class VisionConfig:
    kind: str                       # "vit" | "resnet"
    image_size: int
    width: int
    layers: List[int]               # [n] for vit, 4 stage depths for resnet
    heads: int
    patch_size: int = 0             # vit only
    mlp_dim: int = 0                # vit only
    quick_gelu: bool = True         # vit only (the ResNet tower has no GELU)
    eps: float = 1e-5


@dataclass
class TextConfig:
    vocab_size: int
    context_length: int
    width: int
    layers: int
    heads: int
    mlp_dim: int
    quick_gelu: bool = True
    eps: float = 1e-5


@dataclass
class ClipConfig:
    embed_dim: int
    vision: VisionConfig
    text: TextConfig

    def to_dict(self) -> Dict:
        d = asdict(self)
        if self.vision.kind == "resnet":  # fields that only a ViT tower has
            for key in ("patch_size", "mlp_dim", "quick_gelu"):
                del d["vision"][key]
        return d


# Keys a state dict may hold that are not weights of either tower.
IGNORED_KEYS = ("input_resolution", "context_length", "vocab_size")


def _count_blocks(sd: Dict[str, Tensor], prefix: str) -> int:
    pattern = re.compile(re.escape(prefix) + r"(\d+)\.")
    found = {int(m.group(1)) for k in sd for m in [pattern.match(k)] if m}
    if found != set(range(len(found))):
        raise ValueError("non-contiguous block numbers under %s: %s" % (prefix, sorted(found)))
    return len(found)


def infer_config(sd: Dict[str, Tensor], *, head_width: int = 64, vision_heads: Optional[int] = None,
                 text_heads: Optional[int] = None, quick_gelu: bool = True,
                 vision_quick_gelu: Optional[bool] = None, text_quick_gelu: Optional[bool] = None,
                 vision_eps: float = 1e-5, text_eps: float = 1e-5) -> ClipConfig:
    """Reads the architecture from an OpenAI-layout CLIP state dict.

    Head counts cannot be seen in the weights; they default to width // head_width (CLIP uses 64-wide
    heads; for ResNets the attention pool is width*32 wide). The activation cannot be seen either.
    """
    def need(key: str) -> Tensor:
        if key not in sd:
            raise ValueError("state dict has no %r: not an OpenAI-layout CLIP model" % key)
        return sd[key]

    embed_dim = need("text_projection").shape[1]
    vq = quick_gelu if vision_quick_gelu is None else vision_quick_gelu
    tq = quick_gelu if text_quick_gelu is None else text_quick_gelu

    if "visual.proj" in sd:
        conv = need("visual.conv1.weight")
        width, patch = conv.shape[0], conv.shape[-1]
        tokens = need("visual.positional_embedding").shape[0] - 1
        grid = int(round(math.sqrt(tokens)))
        if grid * grid != tokens:
            raise ValueError("visual.positional_embedding has %d patch positions, not a square" % tokens)
        layers = _count_blocks(sd, "visual.transformer.resblocks.")
        mlp_dim = need("visual.transformer.resblocks.0.mlp.c_fc.weight").shape[0]
        if need("visual.proj").shape[1] != embed_dim:
            raise ValueError("visual.proj and text_projection disagree on the embedding width")
        vision = VisionConfig(kind="vit", image_size=patch * grid, width=width, layers=[layers],
                              heads=vision_heads or max(1, width // head_width), patch_size=patch,
                              mlp_dim=mlp_dim, quick_gelu=vq, eps=vision_eps)
    elif "visual.attnpool.c_proj.weight" in sd:
        width = need("visual.layer1.0.conv1.weight").shape[0]
        stages = [_count_blocks(sd, "visual.layer%d." % i) for i in range(1, 5)]
        tokens = need("visual.attnpool.positional_embedding").shape[0] - 1
        grid = int(round(math.sqrt(tokens)))
        if grid * grid != tokens:
            raise ValueError("visual.attnpool.positional_embedding has %d positions, not a square" % tokens)
        if need("visual.attnpool.c_proj.weight").shape[0] != embed_dim:
            raise ValueError("visual.attnpool.c_proj and text_projection disagree on the embedding width")
        vision = VisionConfig(kind="resnet", image_size=grid * 32, width=width, layers=stages,
                              heads=vision_heads or max(1, width * 32 // head_width), eps=vision_eps)
    else:
        raise ValueError("state dict has neither visual.proj (ViT) nor visual.attnpool (ResNet)")

    vocab, twidth = need("token_embedding.weight").shape
    text = TextConfig(vocab_size=vocab, context_length=need("positional_embedding").shape[0], width=twidth,
                      layers=_count_blocks(sd, "transformer.resblocks."),
                      heads=text_heads or max(1, twidth // head_width),
                      mlp_dim=need("transformer.resblocks.0.mlp.c_fc.weight").shape[0], quick_gelu=tq,
                      eps=text_eps)
    return ClipConfig(embed_dim=embed_dim, vision=vision, text=text)


def make_encoders(cfg: ClipConfig, attention: str = "manual") -> Tuple[ImageEncoder, TextEncoder]:
    """Both encoders with zero weights, for `cfg`."""
    v = cfg.vision
    if v.kind == "vit":
        visual: nn.Module = VisionTransformer(v.image_size, v.patch_size, v.width, v.layers[0], v.heads,
                                              v.mlp_dim, cfg.embed_dim, v.quick_gelu, v.eps, attention)
    elif v.kind == "resnet":
        visual = ModifiedResNet(list(v.layers), cfg.embed_dim, v.heads, v.image_size, v.width, attention)
    else:
        raise ValueError("unknown vision kind %r" % v.kind)
    t = cfg.text
    text = TextEncoder(t.vocab_size, t.context_length, t.width, t.layers, t.heads, t.mlp_dim, cfg.embed_dim,
                       t.quick_gelu, t.eps, attention)
    return ImageEncoder(visual), text


def _load_strict(module: nn.Module, sd: Dict[str, Tensor], what: str) -> None:
    own = module.state_dict()
    missing = [k for k in own if k not in sd and not k.endswith("num_batches_tracked")]
    unexpected = [k for k in sd if k not in own]
    wrong = ["%s %s (expected %s)" % (k, tuple(sd[k].shape), tuple(own[k].shape))
             for k in own if k in sd and sd[k].shape != own[k].shape]
    if missing or unexpected or wrong:
        def cut(keys: List[str]) -> str:
            return ", ".join(keys[:8]) + (" ... (%d in all)" % len(keys) if len(keys) > 8 else "")
        parts = []
        if missing:
            parts.append("missing: " + cut(missing))
        if unexpected:
            parts.append("unsupported: " + cut(unexpected))
        if wrong:
            parts.append("wrong shape: " + cut(wrong))
        raise ValueError("%s weights do not match the clipzs model; %s" % (what, "; ".join(parts)))
    full = {k: (sd[k] if k in sd else own[k]) for k in own}
    with torch.no_grad():
        module.load_state_dict({k: v.to(own[k].dtype) for k, v in full.items()}, strict=True)


def build_encoders(sd: Dict[str, Tensor], cfg: ClipConfig,
                   attention: str = "manual") -> Tuple[ImageEncoder, TextEncoder, float]:
    """Builds both encoders for `cfg`, loads `sd` (OpenAI names; every key must be used), eval mode.
    Returns (image encoder, text encoder, exp(logit_scale))."""
    image, text = make_encoders(cfg, attention)
    vis = {k: v for k, v in sd.items() if k.startswith("visual.")}
    txt = {k: v for k, v in sd.items()
           if not k.startswith("visual.") and k != "logit_scale" and k not in IGNORED_KEYS
           and not k.endswith("attn_mask")}
    _load_strict(image, vis, "image tower")
    _load_strict(text, txt, "text tower")
    logit_scale = float(sd["logit_scale"].float().exp()) if "logit_scale" in sd else 100.0
    return image.eval(), text.eval(), logit_scale
