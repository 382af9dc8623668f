"""Inference-time rewrites that keep results exact (up to float rounding).

* :func:`fold_batchnorm`: in eval mode a BatchNorm after a convolution is a
  per-channel affine map, so it folds into the convolution's weights and bias
  (``w' = w * g / sqrt(v + eps)``, ``b' = (b - m) * g / sqrt(v + eps) + beta``).
  SRResNet has 33 BatchNorms; folding removes 33 memory-bound passes.
* :func:`fuse_shuffle_tail`: SRResNet ends with ``conv -> PixelShuffle(2) -> PReLU
  -> 9x9 conv 64->3`` at the output resolution. A convolution after a pixel
  shuffle is a convolution before it, on the unshuffled channels, with a
  ceil-halved kernel and the output phases as channels: here a 5x5 conv 256->12
  at half resolution, then a shuffle of 12 channels instead of 64. Same sums,
  same zero padding at the border; the 3-output-channel conv that oneDNN runs
  at a fraction of its speed (a third of SRResNet's time) becomes a 12-channel
  one, and the 64-channel full-resolution tensor is never built.
* per-channel PReLU in bfloat16: PyTorch's channels-last bf16 kernel for it is
  about 8x slower than its float32 one (12 vs 1.5 ms per 48x256x256 map here);
  with every slope in [0, 1], ``prelu(x) = max(x, w * x)`` exactly, which runs at
  memory speed. CompactSR has 17 such layers.
* :func:`fold_bicubic_skip`: CompactSR adds a bicubic enlargement of its input
  at the output resolution. Bicubic x``s`` is linear and shift-invariant per
  output phase: output pixel ``(s*i + p, s*j + q)`` is a fixed 5x5-tap sum of the
  input around ``(i, j)`` (MATLAB's weights, symmetric padding at the border). So
  it is a 5x5 convolution ``C -> C*s*s`` on the *low-resolution* input, added to
  the last layer's output before the PixelShuffle: same values, ~1,200
  multiply-adds per input pixel instead of two dense resize matmuls and an add
  at 16x the pixel count (~10% of CompactSR's time). It runs in float32 even
  under autocast, so the skip is not rounded to bfloat16 weights.
* channels-last memory format: oneDNN's fastest convolution layout on CPU and
  the tensor-core layout on recent GPUs.

Both act on a *copy*, so the caller's model (e.g. one being trained) is untouched.
"""

from __future__ import annotations

import copy
import functools

import torch
import torch.nn.functional as F
from torch import nn

from ..resize import bicubic_phase_taps, symmetric_pad

__all__ = ["fold_batchnorm", "fuse_shuffle_tail", "fast_prelu", "fold_bicubic_skip", "optimize_for_inference",
           "cpu_has_bf16", "cpu_has_vnni"]


def _fold(conv: nn.Conv2d, bn: nn.BatchNorm2d) -> nn.Conv2d:
    fused = copy.deepcopy(conv)
    scale = bn.weight.detach() / torch.sqrt(bn.running_var + bn.eps)
    fused.weight.data = conv.weight.detach() * scale.view(-1, 1, 1, 1)
    bias = conv.bias.detach() if conv.bias is not None else torch.zeros_like(bn.running_mean)
    fused.bias = nn.Parameter((bias - bn.running_mean) * scale + bn.bias.detach())
    return fused


def fold_batchnorm(model: nn.Module) -> nn.Module:
    """A copy of ``model`` with every Conv2d -> BatchNorm2d pair folded (eval semantics).

    Handles BatchNorms that directly follow a convolution inside an ``nn.Sequential``
    and attribute pairs named ``convN`` / ``bnN`` (SRResNet's residual blocks).
    """
    model = copy.deepcopy(model).eval()
    for module in list(model.modules()):
        if isinstance(module, nn.Sequential):
            names = list(module._modules)
            for a, b in zip(names, names[1:]):
                conv, bn = module._modules[a], module._modules[b]
                if isinstance(conv, nn.Conv2d) and isinstance(bn, nn.BatchNorm2d) and bn.track_running_stats:
                    module._modules[a] = _fold(conv, bn)
                    module._modules[b] = nn.Identity()
        for name, child in list(module._modules.items()):
            if name.startswith("conv") and isinstance(child, nn.Conv2d):
                bn_name = "bn" + name[4:]
                bn = module._modules.get(bn_name)
                if isinstance(bn, nn.BatchNorm2d) and bn.track_running_stats:
                    module._modules[name] = _fold(child, bn)
                    module._modules[bn_name] = nn.Identity()
    return model


class _ConvAct(nn.Module):
    """The last upsampling block without its shuffle: conv, then the activation per unshuffled channel."""

    def __init__(self, conv: nn.Conv2d, act: nn.PReLU, r: int) -> None:
        super().__init__()
        self.conv = conv
        w = act.weight.detach()
        # PReLU after the shuffle = PReLU before it, with each slope repeated for its r*r phases
        self.act = nn.PReLU(1 if w.numel() == 1 else w.numel() * r * r)
        self.act.weight.data = w.clone() if w.numel() == 1 else w.repeat_interleave(r * r)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.conv(x))


class _ShuffledConv(nn.Module):
    """A stride-1 conv that ran after PixelShuffle(r), rewritten to run before it."""

    def __init__(self, conv: nn.Conv2d, r: int) -> None:
        super().__init__()
        k = conv.kernel_size[0]
        p = k // 2
        lo = -((p + r - 1) // r)  # LR offsets reached by HR offsets -p..p from any phase
        hi = (r - 1 + p) // r
        taps = hi - lo + 1
        cout, cin = conv.out_channels, conv.in_channels
        w = conv.weight.detach()
        new = torch.zeros(cout * r * r, cin * r * r, taps, taps, dtype=w.dtype, device=w.device)
        for a in range(r):  # output phase (row)
            for b in range(r):  # output phase (column)
                for dy in range(-p, p + 1):
                    ay, oy = (a + dy) % r, (a + dy) // r  # input phase and LR offset
                    for dx in range(-p, p + 1):
                        bx, ox = (b + dx) % r, (b + dx) // r
                        new[a * r + b::r * r, ay * r + bx::r * r, oy - lo, ox - lo] = w[:, :, dy + p, dx + p]
        self.conv = nn.Conv2d(cin * r * r, cout * r * r, taps, padding=-lo, bias=conv.bias is not None)
        self.conv.to(device=w.device, dtype=w.dtype)
        self.conv.weight.data = new
        if conv.bias is not None:
            self.conv.bias.data = conv.bias.detach().repeat_interleave(r * r)
        self.shuffle = nn.PixelShuffle(r)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.shuffle(self.conv(x))


class _MaxPReLU(nn.Module):
    """Per-channel PReLU with slopes in [0, 1]: ``max(x, w * x)`` in bfloat16 (same values)."""

    def __init__(self, act: nn.PReLU) -> None:
        super().__init__()
        self.weight = nn.Parameter(act.weight.detach().clone(), requires_grad=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dtype != torch.bfloat16 or x.dim() != 4:
            return F.prelu(x, self.weight.to(x.dtype))
        return torch.maximum(x, x * self.weight.to(x.dtype).view(1, -1, 1, 1))


def fast_prelu(model: nn.Module) -> nn.Module:
    """Replace per-channel PReLUs whose slopes all lie in [0, 1] by :class:`_MaxPReLU` (in place)."""
    for module in list(model.modules()):
        for name, child in list(module._modules.items()):
            if isinstance(child, nn.PReLU) and child.weight.numel() > 1:
                w = child.weight.detach()
                if bool(((w >= 0) & (w <= 1)).all()):
                    module._modules[name] = _MaxPReLU(child)
    return model


#: blocks known to compute act(shuffle(conv(x))) (SRResNet's, and the Keras-converted one's)
_UPSAMPLE_BLOCKS = ("UpsampleBlock", "_KerasUpsample")


def fuse_shuffle_tail(model: nn.Module) -> nn.Module:
    """Move SRResNet's output convolution before its last PixelShuffle (in place; see the module doc).

    Applies to models with ``upsample`` (a Sequential ending in a block with ``conv``,
    ``shuffle`` (PixelShuffle) and ``act`` (PReLU), in that order) and ``tail`` (a
    square, odd, stride-1, zero-padded 'same' Conv2d); others are returned unchanged.
    """
    up, tail = getattr(model, "upsample", None), getattr(model, "tail", None)
    if not isinstance(up, nn.Sequential) or not len(up) or not isinstance(tail, nn.Conv2d):
        return model
    last = up[-1]
    conv, shuffle, act = (getattr(last, n, None) for n in ("conv", "shuffle", "act"))
    k = tail.kernel_size
    if not (isinstance(conv, nn.Conv2d) and isinstance(shuffle, nn.PixelShuffle) and isinstance(act, nn.PReLU)
            and type(last).__name__ in _UPSAMPLE_BLOCKS
            and k[0] == k[1] and k[0] % 2 == 1 and tail.stride == (1, 1) and tail.dilation == (1, 1)
            and tail.groups == 1 and tail.padding == (k[0] // 2, k[1] // 2) and tail.padding_mode == "zeros"):
        return model
    r = shuffle.upscale_factor
    up[-1] = _ConvAct(conv, act, r)
    model.tail = _ShuffledConv(tail, r)
    return model


class _CompactFoldedSkip(nn.Module):
    """CompactSR with its bicubic skip computed as a low-resolution 5x5 convolution
    (see the module doc); inputs under 2 pixels on a side take the original path."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        s, c = int(model.scale), int(model.args["in_channels"])
        if int(model.args["out_channels"]) != c:
            raise ValueError("the bicubic skip needs as many output channels as input channels")
        self.scale, self.body, self.upsample = s, model.body, model.upsample
        self.project = getattr(model, "project", None)  # the output back-projection (project=True), shared
        taps = bicubic_phase_taps(s)  # (s, 5)
        k = taps[:, None, :, None] * taps[None, :, None, :]  # (p, q, 5, 5): outer product per phase
        # a dense C -> C*s*s conv (zero across colours): oneDNN runs it ~2x faster than the grouped one
        weight = torch.zeros(c * s * s, c, 5, 5, dtype=torch.float64)
        for ch in range(c):  # output channel ch*s*s + p*s + q, as PixelShuffle reads it
            weight[ch * s * s:(ch + 1) * s * s, ch] = k.reshape(s * s, 5, 5)
        self.skip = nn.Conv2d(c, c * s * s, 5, bias=False)
        self.skip.weight = nn.Parameter(weight.float(), requires_grad=False)
        self.skip.keep_float = True  # the bicubic base of the image: never quantised (inference/quantize.py)
        self.train(model.training)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h, w = int(x.shape[-2]), int(x.shape[-1])
        if h < 2 or w < 2:
            from ..resize import imresize

            y = self.upsample(self.body(x)) + imresize(x, scale=self.scale, kernel="bicubic")
        else:
            with torch.autocast(x.device.type, enabled=False):
                skip = self.skip(symmetric_pad(x.float(), 2, 2, 2, 2))
            y = self.body(x)
            y = (y.float() if y.dtype != torch.float32 else y).add_(skip)  # the sum in float32
            y = _shuffle_to_nchw(y, self.scale)
        if self.project is not None:
            y = self.project(y, x)
        return y if self.training else y.clamp_(0.0, 1.0)


def _shuffle_to_nchw(x: torch.Tensor, r: int) -> torch.Tensor:
    """``PixelShuffle(r)`` whose output is NCHW-contiguous even for a channels-last input.

    PyTorch's own keeps the channels-last layout, which for a 3-channel output makes
    this gather and every later pass over the image (clamp, paste, conversion to
    8-bit) strided; here the one copy writes the plain layout.
    """
    if not x.is_contiguous(memory_format=torch.channels_last) or x.is_contiguous():
        return F.pixel_shuffle(x, r)
    n, c, h, w = x.shape
    c //= r * r
    return x.permute(0, 2, 3, 1).reshape(n, h, w, c, r, r).permute(0, 3, 1, 4, 2, 5).reshape(n, c, h * r, w * r)


def fold_bicubic_skip(model: nn.Module) -> nn.Module:
    """CompactSR -> the same network with the bicubic skip at low resolution (shares the
    body's modules); any other model is returned unchanged."""
    from ..models.compact import CompactSR

    if type(model) is not CompactSR:
        return model
    return _CompactFoldedSkip(model)


def optimize_for_inference(model: nn.Module, device: torch.device, channels_last: bool = True,
                           prelu: bool = True) -> nn.Module:
    """Fold BatchNorm, fuse the output convolution into the last PixelShuffle, and choose
    the memory format; returns a new module in eval mode. ``prelu=False`` keeps ``nn.PReLU``
    (the int8 route quantises it; :func:`fast_prelu` only helps bfloat16)."""
    fast = fold_bicubic_skip(fuse_shuffle_tail(fold_batchnorm(model)))
    if prelu:
        fast = fast_prelu(fast)
    for attr in ("info", "args", "card", "name"):  # keep the descriptor the engine reads
        if hasattr(model, attr):
            setattr(fast, attr, getattr(model, attr))
    fast = fast.to(device)
    if channels_last and device.type in ("cpu", "cuda"):
        fast = fast.to(memory_format=torch.channels_last)
    for p in fast.parameters():
        p.requires_grad_(False)
    return fast.eval()


def cpu_name() -> str:
    """The CPU's model name (/proc/cpuinfo on Linux, else what ``platform`` knows)."""
    import platform

    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


@functools.lru_cache(maxsize=1)
def _cpu_flags() -> frozenset[str]:
    """The CPU's feature flags (Linux /proc/cpuinfo; empty elsewhere, so nothing is assumed). Read once
    per process: every Upscaler asks (precision "auto"), and the flags do not change."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("flags"):
                    return frozenset(line.split(":", 1)[1].split())
    except OSError:
        return frozenset()
    return frozenset()


def cpu_has_bf16() -> bool:
    """True when the CPU has native bfloat16 arithmetic (AVX-512 BF16 or AMX)."""
    flags = _cpu_flags()
    return "avx512_bf16" in flags or "amx_bf16" in flags


def cpu_has_vnni() -> bool:
    """True when the CPU has an int8 dot-product instruction (AVX-512 VNNI, AVX-VNNI or AMX int8):
    the int8 path's speed depends on it (inference/quantize.py)."""
    flags = _cpu_flags()
    return bool(flags & {"avx512_vnni", "avx_vnni", "amx_int8"})
