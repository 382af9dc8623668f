"""``superres train-gpu``: SRResNet, then SRGAN, on one GPU, inside a wall-clock budget, from a pack.

The command is made for a borrowed GPU machine that has this repository, a PyTorch, a
training pack (:mod:`superres.training.pack`) and no network:

1. the pack is read (every SHA-256 checked), its photos decoded once and held on the device as
   uint8; its VGG16 (and LPIPS) weights are written to a private cache for the losses and metrics;
2. :class:`DeviceSampler` cuts random crops on the device, flips/rotates them and makes the LR
   input with MATLAB bicubic (:func:`superres.resize.imresize`) on the device: no data loader;
3. the project's own :func:`superres.training.train.train` runs the SRResNet stage, then the
   SRGAN stage from its (EMA) generator, each fitted to its share of the budget
   (:class:`superres.training.budget.StepBudget`), with bf16 autocast and channels-last;
4. each stage is exported with :func:`superres.training.export.export_run`: weights (float16
   unless that costs PSNR) and a card with the run's data, recipe, steps, wall time and the
   metrics measured on the pack's validation slice (and on ``eval_dirs``, when given).

The validation slice is the pack's held-out photos; Set5/Set14 are never used for validation
or selection (give them as ``eval_dirs`` to have them measured once, at export, for the card).
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch

from ..errors import InputError, ModelError, OutputError, SuperResError
from ..fileio import atomic_write_bytes
from ..resize import imresize
from .config import parse_overrides

__all__ = ["GPU_SRRESNET", "GPU_SRGAN", "DeviceSampler", "GpuRun", "train_gpu", "stage_overrides", "decode_to_device",
           "write_pack_weights"]

# The SRResNet stage: examples/training/srresnet-x4.toml (bf16, Adam 2e-4 with cosine decay), and
# what a GPU changes. max_steps is only a cap: the time budget sets the length.
GPU_SRRESNET: dict[str, Any] = {
    "precision": "bf16",  # as srresnet-x4.toml; on CUDA bf16 autocast runs convolutions on tensor cores
    "lr": 2e-4,
    "lr_schedule": "cosine",
    "lr_min": 1e-6,
    "batch_size": 64,  # a GPU needs large batches to be busy (the paper's 16 leaves most of it idle)
    "hr_crop": 128,  # BasicSR's MSRResNet crop: more context per sample at the same step count
    "ema_decay": 0.999,  # the EMA generator is validated and exported (ESRGAN / Real-ESRGAN)
    "max_steps": 10_000_000,
}

# The SRGAN stage: examples/training/srgan-x4.toml's objective (tests/test_gpu_training.py keeps it
# in step with that file) with a GPU's batch, crop and precision; max_steps is a cap, as above.
GPU_SRGAN: dict[str, Any] = {
    "content": "perceptual",
    "vgg_net": "vgg16",
    "vgg_layer": "conv5_3",
    "discriminator": "unet",
    "d_channels": 32,
    "adv_weight": 0.1,
    "consistency_weight": 300.0,
    "grid_weight": 1e5,
    "project": True,
    "chroma_weight": 100.0,
    "lr_schedule": "constant",
    "precision": "bf16",  # tensor cores; the CPU recipe's fp32 is for a CPU without native bf16
    "ema_decay": 0.99,  # a ~100-step horizon, as srgan-x4.toml
    "batch_size": 64,  # a GPU needs large batches to be busy; the CPU recipe's 8 x 64 px is for 2 cores
    "hr_crop": 96,
    "max_steps": 10_000_000,
}

# model-shape keys the SRGAN stage inherits from the SRResNet stage (its generator starts from it)
_SHAPE_KEYS = ("scale", "generator", "channels", "n_blocks", "compact_feat", "compact_convs")


def stage_overrides(srresnet_set: list[str] | dict | None = None,
                    srgan_set: list[str] | dict | None = None) -> tuple[dict, dict]:
    """The two stages' config overrides: GPU defaults < the user's ``key=value`` changes.

    The SRGAN stage takes the SRResNet stage's model shape (it starts from that generator).
    """
    one = {**GPU_SRRESNET, **parse_overrides(srresnet_set or {})}
    two_user = parse_overrides(srgan_set or {})
    two = {**GPU_SRGAN, **two_user}
    for k in _SHAPE_KEYS:
        if k in one:
            if k in two_user and str(two_user[k]) != str(one[k]):
                raise SuperResError(f"{k} differs between the stages ({one[k]} vs {two_user[k]}); the SRGAN "
                                    "generator starts from the SRResNet one, so set it once with --srresnet-set")
            two[k] = one[k]
    return one, two


class DeviceSampler:
    """Random (LR, HR) training crops cut, augmented and downscaled on the device.

    ``images`` are (3, H, W) uint8 tensors already on the device. Each sample: an image drawn
    with probability proportional to its area, an ``hr_crop`` square at a position aligned to
    the scale grid, taken with a margin of ``3 x scale`` pixels (mirrored at the image border,
    as MATLAB does) so that the bicubic x1/scale of the crop equals the crop of the whole
    image's bicubic x1/scale, which is how benchmark LR images are made; random flips and
    transposition; the LR rounded to 8 bits like a stored LR image. Randomness comes from one
    CPU generator (its state is checkpointed), so no step waits on the device for it.
    """

    def __init__(self, images: list[torch.Tensor], hr_crop: int, batch_size: int, scale: int, seed: int,
                 augment: bool = True, skipped: list[str] | None = None, note: str = "") -> None:
        if not images:
            raise InputError("no training images large enough for the crop size")
        self.images, self.hr_crop, self.batch_size, self.scale = images, hr_crop, batch_size, scale
        self.augment, self.skipped, self.note = augment, list(skipped or []), note
        self.margin = 3 * scale  # > the radius of the antialiased bicubic x1/4 kernel (2 LR px)
        self.device = images[0].device
        areas = torch.tensor([float(im.shape[-2] * im.shape[-1]) for im in images], dtype=torch.float64)
        self.p = areas / areas.sum()
        self.gen = torch.Generator().manual_seed(seed)

    def describe(self) -> dict:
        return {"train_images": len(self.images), "skipped": self.skipped,
                "sampler": f"device-side crops and MATLAB bicubic x1/{self.scale} on {self.device}"
                           + (f"; {self.note}" if self.note else "")}

    def state(self) -> torch.Tensor:
        return self.gen.get_state()

    def set_state(self, state: torch.Tensor) -> None:
        self.gen.set_state(state)

    @staticmethod
    def _mirror(start: int, length: int, size: int) -> torch.Tensor:
        """Indices start..start+length-1 mirrored into [0, size) with the edge repeated (MATLAB's rule)."""
        i = torch.arange(start, start + length)
        period = 2 * size
        i = torch.remainder(i, period)
        return torch.where(i < size, i, period - 1 - i)

    def batch(self) -> tuple[torch.Tensor, torch.Tensor]:
        """(lr, hr) float32 tensors in [0, 1] on the device, shape (N, 3, h, w)."""
        n, c, s, m = self.batch_size, self.hr_crop, self.scale, self.margin
        idx = torch.multinomial(self.p, n, replacement=True, generator=self.gen).tolist()
        u = torch.rand(n, 2, generator=self.gen).tolist()
        boxes = []
        for i, (uy, ux) in zip(idx, u):
            im = self.images[i]
            h, w = im.shape[-2:]
            y = s * int(uy * ((h - c) // s + 1))
            x = s * int(ux * ((w - c) // s + 1))
            if y >= m and x >= m and y + c + m <= h and x + c + m <= w:
                boxes.append(im[:, y - m:y + c + m, x - m:x + c + m])
            else:  # near a border: mirror, as the whole-image resize does
                iy = self._mirror(y - m, c + 2 * m, h).to(self.device)
                ix = self._mirror(x - m, c + 2 * m, w).to(self.device)
                boxes.append(im.index_select(1, iy).index_select(2, ix))
        hr = torch.stack(boxes).float().div_(255.0)
        if self.augment:
            flips = (torch.rand(n, 3, generator=self.gen) < 0.5).to(self.device, non_blocking=True)
            hr = torch.where(flips[:, 0, None, None, None], hr.flip(-1), hr)
            hr = torch.where(flips[:, 1, None, None, None], hr.flip(-2), hr)
            hr = torch.where(flips[:, 2, None, None, None], hr.transpose(-1, -2), hr)
        lr = imresize(hr, scale=1.0 / s)
        lm = m // s
        lr = lr[..., lm:lm + c // s, lm:lm + c // s].mul(255.0).round_().clamp_(0, 255).div_(255.0)
        return lr.contiguous(), hr[..., m:m + c, m:m + c].contiguous()


def decode_to_device(pack, device: torch.device, min_side: int) -> tuple[list[torch.Tensor], list[str]]:
    """The pack's training photos as (3, H, W) uint8 tensors on ``device``, and the names of those
    smaller than ``min_side`` (left out: no crop fits)."""
    from concurrent.futures import ThreadPoolExecutor

    from .pack import decode

    with ThreadPoolExecutor(max_workers=min(8, os.cpu_count() or 1)) as pool:  # PIL decodes without the GIL
        arrays = list(pool.map(lambda nb: decode(nb[1]), pack.train))
    images, skipped = [], []
    for (name, _b), arr in zip(pack.train, arrays):
        if min(arr.shape[:2]) < min_side:
            skipped.append(f"{name}: {arr.shape[1]}x{arr.shape[0]} is smaller than the {min_side} px crop")
            continue
        images.append(torch.from_numpy(np.array(arr)).permute(2, 0, 1).contiguous().to(device))  # (a writable copy)
    return images, skipped


def _validation(pack, scale: int, folder: Path) -> list[tuple[str, torch.Tensor, torch.Tensor]]:
    """The pack's validation crops as (name, lr, hr) CPU tensors; also written to ``folder`` as PNGs
    (the export measures them there, as any benchmark folder)."""
    from .data import degrade
    from .pack import decode

    folder.mkdir(parents=True, exist_ok=True)
    out = []
    for name, blob in pack.val:
        hr = decode(blob)
        h, w = (hr.shape[0] // scale) * scale, (hr.shape[1] // scale) * scale
        hr = np.ascontiguousarray(hr[:h, :w])
        flat = name.replace("/", "__").rsplit(".", 1)[0] + ".png"
        (folder / flat).write_bytes(blob)
        to_t = lambda a: torch.from_numpy(np.array(a, copy=True)).permute(2, 0, 1)[None].float() / 255.0  # noqa: E731
        out.append((flat[:-4], to_t(degrade(hr, scale)), to_t(hr)))
    return out


def write_pack_weights(pack, where: Path) -> Path:
    """Write the pack's VGG16 weights (returns the file, for ``vgg_weights``) and its LPIPS weights
    under ``where/hub/checkpoints``, where LPIPS finds them with ``TORCH_HOME=where``."""
    from .pack import LPIPS_BACKBONE_FILE

    ck = where / "hub" / "checkpoints"
    ck.mkdir(parents=True, exist_ok=True)
    vgg = where / f"vgg16-{pack.vgg_layer}-from-{pack.path.name}.pth"  # the name the run record keeps
    torch.save(dict(pack.vgg), vgg)
    if pack.lpips_backbone:
        torch.save(dict(pack.lpips_backbone), ck / LPIPS_BACKBONE_FILE)
        torch.save(dict(pack.lpips_head), ck / "lpips_v0.1_alex.pth")
    return vgg


@dataclass
class GpuRun:
    """What :func:`train_gpu` wrote: the two weights files (with ``.json`` cards beside) and the log."""

    out: Path
    srresnet: Path
    srgan: Path
    metrics: Path
    summary: dict


def vgg_layers_needed(cfg) -> list[str]:
    """The VGG16 layers an SRGAN config's content loss reads: ``vgg_layer`` for the paper's loss,
    every layer of ``perceptual_layers`` for the multi-layer perceptual loss."""
    if cfg.content == "perceptual":
        from .config import parse_layer_weights

        return list(parse_layer_weights(cfg.perceptual_layers))
    return [cfg.vgg_layer]


def default_pack_vgg_layer() -> str:
    """The deepest VGG16 layer the default SRGAN stage needs: what ``superres data pack`` packs."""
    from .config import make_config
    from .pack import vgg_layer_index

    cfg = make_config("srgan", None, {**GPU_SRGAN, "init_from": "(any)"})
    return max(vgg_layers_needed(cfg), key=vgg_layer_index)


def train_gpu(pack_path: str | Path, out: str | Path, *, minutes: float, split: float = 0.4,
              device: str = "auto", srresnet_set: list[str] | dict | None = None,
              srgan_set: list[str] | dict | None = None, srresnet_init: str = "srresnet-x4",
              eval_dirs: list[str | Path] = (), seed: int = 0, progress: bool = True, overwrite: bool = False,
              keep_checkpoints: bool = False, say: Callable[[str], None] | None = None) -> GpuRun:
    """Train SRResNet then SRGAN from a pack within ``minutes`` of wall time; see the module doc.

    ``split`` is the SRResNet stage's share of the training time. ``srresnet_init`` is the
    generator the SRResNet stage continues from: a model name, a ``.safetensors`` file, or
    ``"scratch"``. ``srresnet_set`` / ``srgan_set`` change the stages' configs (``key=value``).
    ``keep_checkpoints`` keeps each run folder's ``ckpt.pt`` (optimiser and discriminator state: a
    few hundred MB for SRGAN, and tied to this device); by default it is deleted once the stage is
    exported, so the folder is small enough to carry back.
    """
    t_begin = time.time()
    say = say or (lambda _m: None)
    if minutes <= 0:
        raise SuperResError(f"--minutes must be positive, got {minutes}")
    if not 0.05 <= split <= 0.95:
        raise SuperResError(f"--split is the SRResNet stage's share of the time, in [0.05, 0.95]; got {split}")
    end = t_begin + minutes * 60
    out = Path(out)
    names = ("srresnet-x4-gpu.safetensors", "srgan-x4-gpu.safetensors", "metrics.jsonl", "runs")
    if out.exists() and any((out / n).exists() for n in names) and not overwrite:
        raise OutputError(f"{out} already holds a GPU run; pass --overwrite or another folder")

    from ..registry import get_entry
    from .config import make_config
    from .export import export_run
    from .pack import read_pack, vgg_layer_index
    from ..inference.upscaler import pick_device
    from .train import train

    one, two = stage_overrides(srresnet_set, srgan_set)
    one["seed"] = two["seed"] = seed
    # resolve the SRResNet stage's starting point (recorded in its card)
    if srresnet_init and srresnet_init != "scratch":
        p = Path(srresnet_init)
        if not p.is_file():
            try:
                entry = get_entry(srresnet_init)
            except ModelError as e:
                raise InputError(f"--srresnet-init: {srresnet_init!r} is neither a file nor 'scratch'; {e}") from None
            if entry.weights is None or not entry.weights.path.is_file():
                raise InputError(f"--srresnet-init: {srresnet_init} has no weights file installed")
            p = entry.weights.path
        one["init_from"] = str(p)
    cfg1 = make_config("srresnet", None, one)
    cfg2 = make_config("srgan", None, {**two, "init_from": "(set after the SRResNet stage)"})

    dev = pick_device(device)
    if device == "auto" and dev.type != "cuda":
        raise SuperResError("no CUDA GPU found; pass --device cpu to run anyway (slow: for tests and dry runs)")
    if dev.type == "cuda":
        torch.backends.cudnn.benchmark = True  # fixed crop sizes: let cuDNN pick the fastest kernels
        torch.backends.cuda.matmul.allow_tf32 = True  # the float32 bicubic matmuls
        torch.backends.cudnn.allow_tf32 = True
    one["device"] = two["device"] = str(dev)

    pack = read_pack(pack_path)
    if cfg2.vgg_net != pack.manifest["vgg"]["net"]:
        raise SuperResError(f"the SRGAN stage uses {cfg2.vgg_net}, but packs hold {pack.manifest['vgg']['net']}: "
                            f"--srgan-set vgg_net={pack.manifest['vgg']['net']}")
    have = vgg_layer_index(pack.vgg_layer)
    deepest = max(vgg_layers_needed(cfg2), key=vgg_layer_index)
    if vgg_layer_index(deepest) > have:
        raise SuperResError(f"the SRGAN stage uses VGG16 {deepest}, but {pack_path} holds VGG16 only up to "
                            f"{pack.vgg_layer}; rebuild it with 'superres data pack --vgg-layer {deepest}'")
    if int(pack.manifest.get("scale", 4)) != cfg1.scale:
        raise SuperResError(f"{pack_path} was packed for x{pack.manifest['scale']}, the run is x{cfg1.scale}")
    out.mkdir(parents=True, exist_ok=True)
    runs = out / "runs"
    if runs.exists() and overwrite:
        import shutil

        shutil.rmtree(runs)
    cache = out / ".cache"
    vgg_path = write_pack_weights(pack, cache)
    two["vgg_weights"] = str(vgg_path)
    val_dir = out / "val-slice"
    val = _validation(pack, cfg1.scale, val_dir)
    min_crop = max(cfg1.hr_crop, cfg2.hr_crop)
    images, skipped = decode_to_device(pack, dev, min_crop)
    enc = pack.manifest["train"]["encoding"]
    data_text = (f"training pack {Path(pack_path).name} ({pack.manifest['created']}): {len(images)} photos from "
                 f"{', '.join(pack.manifest['data'])} ({enc['what']}); validation: {len(val)} held-out photos of "
                 "the same folders (pack's val slice), never trained on")
    hardware = (torch.cuda.get_device_name(dev) if dev.type == "cuda"
                else f"{dev.type}, {torch.get_num_threads()} threads")
    setup_s = time.time() - t_begin
    say(f"pack read: {len(images)} photos on {dev} ({hardware}), {len(val)} validation crops; {setup_s:.1f} s")

    events: list[dict] = [{"event": "start", "pack": str(pack_path), "pack_bytes": Path(pack_path).stat().st_size,
                           "minutes": minutes, "split": split, "device": str(dev), "hardware": hardware,
                           "train_images": len(images), "skipped": skipped, "val_images": [n for n, _, _ in val],
                           "setup_s": round(setup_s, 2), "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}]
    old_home = os.environ.get("TORCH_HOME")
    os.environ["TORCH_HOME"] = str(cache)  # LPIPS (validation and cards) from the pack, never the network
    stages: dict[str, dict] = {}
    try:
        export_guess = max(3.0, 0.05 * (end - time.time()))
        plan = [("srresnet", "srresnet-x4-gpu", one), ("srgan", "srgan-x4-gpu", two)]
        exported: dict[str, Path] = {}
        export_s = export_guess
        for k, (recipe, name, over) in enumerate(plan):
            now = time.time()
            if k == 0:
                stage_end = now + split * max(0.0, end - now - 2 * export_guess)
            else:
                over = {**over, "init_from": str(runs / "srresnet" / "generator.safetensors")}
                stage_end = end - 1.2 * export_s - 1.0
            # keep a little time for the final validation and checkpoint inside the stage's share
            deadline = stage_end - max(0.5, 0.04 * (stage_end - now))
            cfg = make_config(recipe, None, over)
            sampler = DeviceSampler(images, cfg.hr_crop, cfg.batch_size, cfg.scale, seed=seed + 1000 * (k + 1),
                                    augment=cfg.augment, skipped=skipped,
                                    note=f"pack {Path(pack_path).name}")
            say(f"{recipe}: {max(0.0, deadline - now):.0f} s of training")
            t0 = time.time()
            result = train(recipe, [str(pack_path)], runs / recipe, overrides=cfg.to_dict(), progress=progress,
                           sampler=sampler, val_images=val, deadline=deadline)
            t_train = time.time() - t0
            t1 = time.time()
            path, card = export_run(result.run_dir, out / f"{name}.safetensors", name=name,
                                    eval_dirs=[val_dir, *eval_dirs], training_data=data_text,
                                    description=f"{recipe} trained by 'superres train-gpu' on {hardware}",
                                    overwrite=True, device=str(dev))
            export_s = time.time() - t1
            exported[recipe] = path
            if not keep_checkpoints:
                (result.run_dir / "ckpt.pt").unlink(missing_ok=True)
            stages[recipe] = {"weights": str(path), "card": str(path.with_suffix(".json")), "steps": result.step,
                              "train_s": round(t_train, 1), "export_s": round(export_s, 1),
                              "budget_s": round(deadline - now, 1), "metrics": card.metrics,
                              "interrupted": result.interrupted}
            events.append({"event": "stage_done", "stage": recipe, **stages[recipe]})
            say(f"{recipe}: {result.step} steps in {t_train:.0f} s; exported {path.name} in {export_s:.0f} s; "
                f"{json.dumps(card.metrics.get(val_dir.name, {}))}")
            if result.interrupted:
                break
    finally:
        if old_home is None:
            os.environ.pop("TORCH_HOME", None)
        else:
            os.environ["TORCH_HOME"] = old_home
        import shutil

        shutil.rmtree(cache, ignore_errors=True)

    # one metrics log: the command's events and both stages' rows, each row tagged with its stage
    total_s = time.time() - t_begin
    events.append({"event": "end", "wall_s": round(total_s, 1), "budget_s": minutes * 60})
    rows = [events[0]]
    for recipe in stages:
        log = runs / recipe / "metrics.jsonl"
        rows += [{"stage": recipe, **json.loads(line)} for line in log.read_text().splitlines() if line.strip()]
        rows += [e for e in events if e.get("stage") == recipe]
    rows.append(events[-1])
    summary = {"pack": str(pack_path), "device": str(dev), "hardware": hardware, "minutes": minutes, "split": split,
               "wall_s": round(total_s, 1), "setup_s": round(setup_s, 1), "stages": stages,
               "validation": "the pack's held-out slice (val-slice/); Set5/Set14 not used for validation or selection",
               "configs": {"srresnet": cfg1.to_dict() | {"max_steps": "fitted to the budget"},
                           "srgan": {**cfg2.to_dict(), "init_from": "the srresnet stage's EMA generator",
                                     "max_steps": "fitted to the budget"}}}
    atomic_write_bytes(out / "metrics.jsonl", "".join(json.dumps(r) + "\n" for r in rows).encode())
    atomic_write_bytes(out / "summary.json", (json.dumps(summary, indent=2) + "\n").encode())
    if "srgan" not in exported:
        raise SuperResError(f"stopped after the {', '.join(stages) or 'setup'} stage; see {out / 'metrics.jsonl'}")
    return GpuRun(out, exported["srresnet"], exported["srgan"], out / "metrics.jsonl", summary)
