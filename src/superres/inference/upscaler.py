"""The one upscaler every command uses.

:class:`Upscaler` wraps a network (eval mode, BatchNorm frozen) with the device,
precision and tiling policy, and has no per-image state. Two entry points:

* ``upscaler(x)``: a float tensor (N, C, H, W) in [0, 1] in, the clamped
  (N, C, sH, sW) tensor out; tiled when large.
* ``upscaler.upscale_array(arr)``: an (H, W, C) uint8 / uint16 / float array in,
  the same dtype out, assembled tile by tile directly into the output array so
  a huge image never exists as a float tensor (a 4000x3000 input makes a
  16000x12000 output: 2.3 GB as float32, 576 MB as uint8).

The border treatment is the descriptor's typed field (``info.border``,
:class:`~superres.models.base.Border`; for our own models the loader sets it
from the treatment their card records as measured better):
``REFLECT`` reflect-pads the image by ``border_pad`` LR pixels before running
the network and crops afterwards (the default of our architectures); ``ZERO``
runs the plain forward pass the authors of foreign models use, so untiled
outputs equal their original code's. Tiled and untiled paths pad identically, windows at
the image border start at the border (so the network's own zero padding sees
the same edge), and windows of models with ``tile_multiple > 1`` (pixel
unshuffle) start on that grid, so tiled output equals untiled up to the
context ``tile_pad`` gives.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from ..models.base import Border, ModelDescriptor, ModelInfo, describe
from .tiling import Tile, plan_tiles

__all__ = ["Upscaler", "pick_device", "resolve_precision", "border_pre_pad", "DEFAULT_MEMORY_BUDGET_MB",
           "DEFAULT_PRECISION", "MAX_FRAMES_PER_BATCH", "PRECISIONS", "BACKENDS", "int8_offered"]

#: the engines that run the network: eager PyTorch, or its ONNX export in ONNX Runtime / OpenVINO (CPU, float32)
BACKENDS = ("torch", "onnxruntime", "openvino")

#: every precision the engine knows (int8: the CPU-only quantised network of inference/quantize.py)
PRECISIONS = ("fp32", "bf16", "fp16", "int8", "auto")

#: working-memory budget for activations when choosing a tile size automatically
DEFAULT_MEMORY_BUDGET_MB = 1024

#: the precision every upscaling entry point uses unless told otherwise (Upscaler, make_upscaler,
#: upscale(), the upscale and animate commands): bf16 on CPUs with native bfloat16 (fp16 on CUDA),
#: but only for models whose card records that it passed the exporter's quality check; fp32 otherwise.
#: Measurements (evaluate_model, compare) default to "fp32" instead, so a score never depends on the CPU.
DEFAULT_PRECISION = "auto"

#: at most this many whole frames go through the network in one call (Upscaler.frames_per_batch)
MAX_FRAMES_PER_BATCH = 8


def pick_device(device: str | torch.device | None = "auto", local_rank: int | None = None) -> torch.device:
    """``auto`` = CUDA if available, else Apple MPS, else CPU.

    ``local_rank`` (distributed training: one process per GPU) picks ``cuda:local_rank``
    for ``auto``. Unknown names and CUDA without a CUDA build raise :class:`SuperResError`.
    """
    if device is None or str(device) == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda", local_rank) if local_rank is not None else torch.device("cuda")
        mps = getattr(torch.backends, "mps", None)
        if mps is not None and mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    try:
        dev = torch.device(device)
    except RuntimeError as e:
        from ..errors import SuperResError

        raise SuperResError(f"unknown device {device!r} (use auto, cpu, cuda, cuda:N or mps)") from e
    if dev.type == "cuda" and not torch.cuda.is_available():
        from ..errors import SuperResError

        raise SuperResError("device cuda requested but PyTorch sees no CUDA GPU (install a CUDA build of "
                            "PyTorch, or use --device cpu)")
    return dev


def border_pre_pad(model: nn.Module | ModelDescriptor) -> int:
    """LR pixels of reflection padding the model's border treatment asks for (0 = plain forward pass).

    Read from the typed ``info.border`` / ``info.border_pad`` only; the loader
    (:func:`superres.models.describe`) has already put a card's measured choice there.
    """
    info = describe(model).info
    return 0 if info.border is Border.ZERO else int(info.border_pad)


def int8_offered(model: nn.Module | ModelDescriptor) -> tuple[bool, str]:
    """(offered, reason): int8 needs the card's calibration and a passed quality gate
    (:mod:`superres.inference.quantize`)."""
    card = describe(model).card
    entry = (card.extra if card is not None else {}).get("int8")
    if not entry:
        return False, "its card records no int8 calibration (benchmarks/int8_gate.py makes one)"
    if not entry.get("ok"):
        return False, "it failed the int8 quality gate (MODELS.md)"
    return True, "passed the int8 quality gate"


def resolve_precision(precision: str, model: nn.Module | ModelDescriptor, device: torch.device) -> str:
    """The precision ``auto`` stands for on this device, for this model (see :data:`DEFAULT_PRECISION`)."""
    if precision != "auto":
        return precision
    desc = describe(model)
    if device.type == "cpu" and int8_offered(desc)[0]:
        from .optimize import cpu_has_vnni

        if cpu_has_vnni():  # without VNNI int8 runs on saturating AVX2 kernels: not picked by itself
            return "int8"
    if not desc.reduced_precision_ok:
        return "fp32"
    if device.type == "cuda":
        return "fp16"
    if device.type == "cpu":
        from .optimize import cpu_has_bf16

        return "bf16" if cpu_has_bf16() else "fp32"
    return "fp32"


class Upscaler:
    """Run ``model`` over images of any size.

    Args:
        model: a :class:`~superres.models.ModelDescriptor` (what :func:`superres.load_model`
            returns) or a network mapping (N, C, H, W) in [0, 1] to (N, C, sH, sW) with a
            :class:`~superres.models.ModelInfo` as ``.info`` (every superres model has one),
            or any network together with ``scale=``. The engine reads the descriptor's typed
            fields only: ``info.scale``, ``in_channels``, ``receptive_pad``, ``tile_multiple``,
            ``bytes_per_lr_pixel``, ``tile_hint`` and ``reduced_precision_ok``.
        device: ``auto``, ``cpu``, ``cuda``, ``mps`` ...
        tile: LR tile size; None = choose from ``memory_budget_mb``; 0 = never tile.
        tile_pad: LR context around each tile (default: the model's receptive hint).
        pre_pad: reflection padding around the whole image, in LR pixels; None (default): the
            model's border treatment (:func:`border_pre_pad`: ``info.border`` / ``info.border_pad``,
            which for our own models the card's measured choice sets).
        precision: ``fp32``, ``bf16``, ``fp16`` (autocast), ``int8`` (CPU: the quantised network
            of :mod:`superres.inference.quantize`, for models whose card records a passed int8
            gate) or ``auto`` (the default,
            :data:`DEFAULT_PRECISION`): bf16 on CPUs with native bfloat16 / fp16 on CUDA, but only
            for models whose card records that reduced precision passed our quality check
            (``reduced_precision_ok``); fp32 otherwise. On CPUs with VNNI, ``auto`` picks int8 for
            models that passed the int8 gate.
        batch_tiles: how many equal-size tiles to run at once.
        optimize: fold BatchNorm into convolutions and use channels-last (exact; on by default).
        backend: ``torch`` (default), ``onnxruntime`` or ``openvino``: the network exported to ONNX
            and run by ONNX Runtime / OpenVINO on the CPU (float32 only; ``pip install
            "superres[onnx]"`` / ``"superres[openvino]"``).
    """

    def __init__(self, model: nn.Module | ModelDescriptor, device: str | torch.device | None = "auto",
                 tile: int | None = None, tile_pad: int | None = None, pre_pad: int | None = None,
                 precision: str = DEFAULT_PRECISION, memory_budget_mb: float = DEFAULT_MEMORY_BUDGET_MB,
                 batch_tiles: int = 1, scale: int | None = None, optimize: bool = True,
                 backend: str = "torch") -> None:
        if isinstance(model, ModelDescriptor) or isinstance(getattr(model, "info", None), ModelInfo):
            desc = describe(model)
        elif scale:  # a foreign network: only the scale is known
            desc = ModelDescriptor(model, ModelInfo(arch=type(model).__name__, scale=int(scale)),
                                   type(model).__name__)
        else:
            raise ValueError("the model has no .info.scale; pass scale=")
        self.descriptor = desc
        info = desc.info
        self.scale = int(scale or info.scale)
        if self.scale < 1:
            raise ValueError("the model has no .info.scale; pass scale=")
        if tile is not None and tile < 0:
            raise ValueError(f"tile must be >= 0, got {tile}")
        if precision not in PRECISIONS:
            raise ValueError(f"precision must be fp32, bf16, fp16, int8 or auto, got {precision!r}")
        if backend not in BACKENDS:
            raise ValueError(f"backend must be one of {', '.join(BACKENDS)}, got {backend!r}")
        self.backend = backend
        self.device = pick_device(device)
        self._ort = None  # the ONNX graph's runner (ONNX Runtime or OpenVINO), when not torch
        if backend != "torch":
            if self.device.type != "cpu":
                raise ValueError(f"the {backend} backend runs on the CPU; use --device cpu or the torch backend")
            if precision not in ("fp32", "auto"):
                raise ValueError(f"the {backend} backend runs float32 only, not {precision}")
            from .onnx import OrtRunner, OvRunner

            self._ort = (OrtRunner if backend == "onnxruntime" else OvRunner)(desc.module)
            precision = "fp32"
        self.precision = resolve_precision(precision, desc, self.device)
        self.channels_last = optimize and self.device.type in ("cpu", "cuda") and backend == "torch"
        if self.precision == "int8":
            self.channels_last = False
            self.model = self._int8_model(desc)
        elif optimize and self._ort is None:  # the ONNX export folds BatchNorm itself
            from .optimize import optimize_for_inference

            self.model = optimize_for_inference(desc.module, self.device, self.channels_last)
        else:
            self.model = desc.module.eval().to(self.device)
        self.multiple = max(1, int(info.tile_multiple))
        m = self.multiple
        self.tile = tile
        # pads are whole multiples of tile_multiple, so every tile sees the whole image's pixel grid
        self.tile_pad = -(-int(tile_pad if tile_pad is not None else info.receptive_pad) // m) * m
        self.pre_pad = -(-int(pre_pad if pre_pad is not None else border_pre_pad(desc)) // m) * m
        self.memory_budget_mb = float(memory_budget_mb)
        self.batch_tiles = max(1, int(batch_tiles))
        self.in_channels = int(info.in_channels)

    def _int8_model(self, desc: ModelDescriptor) -> nn.Module:
        from ..errors import UsageError

        if self.device.type != "cpu" or self._ort is not None:
            raise UsageError("int8 runs on the CPU with the torch backend; use --device cpu --backend torch")
        ok, why = int8_offered(desc)
        if not ok:
            raise UsageError(f"{desc.name or desc.info.arch} does not offer int8: {why}; use --precision auto")
        from .optimize import optimize_for_inference
        from .quantize import quantize_int8

        base = optimize_for_inference(desc.module, self.device, channels_last=False, prelu=False)
        return quantize_int8(base, desc.card.extra["int8"])

    @property
    def name(self) -> str:
        return self.descriptor.name

    def bytes_per_lr_pixel(self) -> int:
        """Peak working memory per LR pixel (float32): the model's measured hint, else an estimate."""
        info = self.descriptor.info
        from ..models.base import estimate_bytes_per_lr_pixel

        return int(info.bytes_per_lr_pixel or estimate_bytes_per_lr_pixel(64, info.scale))

    # -- policy -------------------------------------------------------------
    def tile_size_for(self, height: int, width: int) -> int:
        """The LR tile size used for an image (after pre-padding); 0 = whole image."""
        if self.tile == 0:
            return 0
        if self.tile:
            return self.tile
        per_px = self.bytes_per_lr_pixel()
        budget_px = self.memory_budget_mb * 2**20 / per_px
        # a model may know a faster tile size than the largest that fits (its big tensors fall out
        # of cache): the smaller of the two
        hint = int(self.descriptor.info.tile_hint)
        if height * width <= budget_px and (not hint or max(height, width) <= hint + 2 * self.tile_pad):
            return 0
        side = int(math.sqrt(budget_px)) - 2 * self.tile_pad
        if hint:
            side = min(side, hint)
        return max(32, side)

    def plan(self, height: int, width: int) -> list[Tile]:
        """Tiles for an LR image of this size (pre-padding included)."""
        h, w = height + 2 * self.pre_pad, width + 2 * self.pre_pad
        t = self.tile_size_for(h, w)
        if t == 0:
            return plan_tiles(h, w, max(h, w), 0)
        return plan_tiles(h, w, t, self.tile_pad, self.multiple)

    def frames_per_batch(self, height: int, width: int, max_batch: int = MAX_FRAMES_PER_BATCH) -> int:
        """Whole frames of this LR size per network call: 0 when a frame needs tiling (one tiled
        frame at a time), else as many as fit the memory budget (activations + float output),
        at most ``max_batch``."""
        if len(self.plan(height, width)) > 1:
            return 0
        s, p = self.scale, self.pre_pad
        hp, wp = height + 2 * p, width + 2 * p
        per_frame = hp * wp * self.bytes_per_lr_pixel() + 2 * 3 * hp * wp * s * s * 4
        budget = self.memory_budget_mb * 2**20
        return int(max(1, min(max_batch, budget // max(1, per_frame))))

    # -- running ------------------------------------------------------------
    def _autocast(self):
        dtype = {"fp32": None, "int8": None, "bf16": torch.bfloat16, "fp16": torch.float16}[self.precision]
        return torch.autocast(self.device.type, dtype=dtype, enabled=dtype is not None)

    @torch.inference_mode()
    def _run(self, x: torch.Tensor) -> torch.Tensor:
        if self._ort is not None:
            return self._ort(x).clamp_(0.0, 1.0)
        x = x.to(self.device)
        if self.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        with self._autocast():
            y = self.model(x)
        return y.float().clamp_(0.0, 1.0)

    def _pre_pad(self, x: torch.Tensor) -> torch.Tensor:
        p = self.pre_pad
        if not p:
            return x
        mode = "reflect" if min(x.shape[-2:]) > p else "replicate"
        return F.pad(x, (p, p, p, p), mode=mode)

    def _fit_channels(self, x: torch.Tensor) -> tuple[torch.Tensor, int]:
        c = x.shape[1]
        if c == self.in_channels:
            return x, c
        if c == 1 and self.in_channels == 3:
            return x.expand(-1, 3, -1, -1), 1
        raise ValueError(f"model takes {self.in_channels} channels, image has {c}")

    @torch.inference_mode()
    def __call__(self, x: torch.Tensor, progress: Callable[[int, int], None] | None = None) -> torch.Tensor:
        """Upscale a float batch (N, C, H, W) in [0, 1]; returns float (N, C, sH, sW) on CPU."""
        if x.ndim != 4:
            raise ValueError(f"expected (N, C, H, W), got shape {tuple(x.shape)}")
        x, c_in = self._fit_channels(x.float())
        n, _, h, w = x.shape
        s, p = self.scale, self.pre_pad
        xp = self._pre_pad(x)
        tiles = self.plan(h, w)
        out = torch.empty(n, xp.shape[1], xp.shape[2] * s, xp.shape[3] * s)
        done = 0
        for t in tiles:
            win = xp[:, :, t.win_y[0]:t.win_y[1], t.win_x[0]:t.win_x[1]]
            y = self._run(win).cpu()
            cy, cx = t.crop(s)
            py, px = t.paste(s)
            out[:, :, py, px] = y[:, :, cy, cx]
            done += 1
            if progress:
                progress(done, len(tiles))
        out = out[:, :, p * s:(p + h) * s, p * s:(p + w) * s]
        if c_in == 1:
            out = out.mean(dim=1, keepdim=True)
        return out

    @torch.inference_mode()
    def upscale_array(self, arr: np.ndarray, progress: Callable[[int, int], None] | None = None) -> np.ndarray:
        """Upscale an (H, W, C) array (C = 1 or 3); returns the same dtype, (sH, sW, C).

        uint8 / uint16 are scaled to [0, 1] per tile and written back rounded;
        float arrays are taken as [0, 1].
        """
        if arr.ndim == 2:
            arr = arr[:, :, None]
        if arr.ndim != 3 or arr.shape[2] not in (1, 3):
            raise ValueError(f"expected (H, W, 1|3) array, got shape {arr.shape}")
        dtype = arr.dtype
        maxval = {np.dtype(np.uint8): 255.0, np.dtype(np.uint16): 65535.0}.get(np.dtype(dtype))
        if maxval is None and not np.issubdtype(dtype, np.floating):
            raise ValueError(f"unsupported array dtype {dtype}; use uint8, uint16 or float")
        h, w, c = arr.shape
        s, p = self.scale, self.pre_pad
        if p:
            mode = "reflect" if min(h, w) > p else "edge"
            padded = np.pad(arr, ((p, p), (p, p), (0, 0)), mode=mode)
        else:
            padded = arr
        tiles = self.plan(h, w)
        out = np.empty((h * s, w * s, c), dtype=dtype)
        # group equal-size windows into batches
        done = 0
        for i in range(0, len(tiles), self.batch_tiles):
            group = tiles[i:i + self.batch_tiles]
            if len({t.window_shape for t in group}) > 1:
                group = group[:1]  # never happens with balanced tiles, but stay safe
            wins = np.stack([padded[t.win_y[0]:t.win_y[1], t.win_x[0]:t.win_x[1]] for t in group])
            x = torch.from_numpy(np.ascontiguousarray(wins)).permute(0, 3, 1, 2).float()
            if maxval:
                x = x / maxval
            x, c_in = self._fit_channels(x)
            y = self._run(x).cpu()
            if c_in == 1:
                y = y.mean(dim=1, keepdim=True)
            for t, yt in zip(group, y):
                cy, cx = t.crop(s)
                py, px = t.paste(s)
                # paste coordinates are in the pre-padded output; shift to the real one
                oy0, oy1 = py.start - p * s, py.stop - p * s
                ox0, ox1 = px.start - p * s, px.stop - p * s
                ky0, kx0 = max(0, -oy0), max(0, -ox0)
                ky1 = (cy.stop - cy.start) - max(0, oy1 - h * s)
                kx1 = (cx.stop - cx.start) - max(0, ox1 - w * s)
                if ky1 <= ky0 or kx1 <= kx0:
                    continue
                block = yt[:, cy.start + ky0:cy.start + ky1, cx.start + kx0:cx.start + kx1].permute(1, 2, 0)
                if maxval:
                    block = (block * maxval).round_()
                out[max(0, oy0):min(h * s, oy1), max(0, ox0):min(w * s, ox1)] = block.numpy().astype(dtype)
            done += len(group)
            if progress:
                progress(done, len(tiles))
        return out

    @torch.inference_mode()
    def upscale_batch(self, arrays: list[np.ndarray], batch: int | None = None) -> list[np.ndarray]:
        """Upscale equal-size (H, W, 3) uint8 arrays (e.g. animation frames); returns uint8 (sH, sW, 3) arrays.

        ``batch`` frames are stacked into one network call (default :meth:`frames_per_batch`);
        0 runs them one at a time through the tiled :meth:`upscale_array`. Either way the result
        is the same as :meth:`upscale_array` on each frame, up to float rounding.
        """
        if not arrays:
            return []
        h, w = arrays[0].shape[:2]
        for a in arrays:
            if a.shape != arrays[0].shape or a.dtype != np.uint8:
                raise ValueError(f"upscale_batch takes equal-size uint8 arrays; got {a.shape} {a.dtype} "
                                 f"and {arrays[0].shape} {arrays[0].dtype}")
        n = self.frames_per_batch(h, w) if batch is None else int(batch)
        if n <= 0:
            return [self.upscale_array(a) for a in arrays]
        out: list[np.ndarray] = []
        for i in range(0, len(arrays), n):
            x = torch.from_numpy(np.stack(arrays[i:i + n])).permute(0, 3, 1, 2).float().div_(255.0)
            y = self(x)
            del x
            y = y.mul_(255.0).round_().clamp_(0, 255).to(torch.uint8).permute(0, 2, 3, 1)
            out += [np.ascontiguousarray(t.numpy()) for t in y]
        return out
