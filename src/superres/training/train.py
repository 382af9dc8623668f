"""The training loop for all three recipes, readable top to bottom.

    srresnet  SRResNet with MSE (Ledig et al. 2017, section 3.2 "SRResNet")
    srgan     SRGAN: generator initialised from a trained SRResNet; loss = VGG
              content loss + 1e-3 x adversarial loss; one D step, then one G step
    srcnn     SRCNN with MSE on bicubic-enlarged 33x33 sub-images (Dong et al.)

A run folder holds ``config.json`` (the resolved config), ``ckpt.pt`` (the
latest checkpoint: generator, optimiser, discriminator, step, RNG states, config),
``metrics.jsonl`` (one JSON line per log step / validation, each with ``elapsed_s``, the run's wall
time over all its sessions, and ``train_cpu_s``, its CPU time without validations), ``curves.png``,
``samples/`` (side-by-side validation images) and ``snapshots/`` (generator-only
safetensors at each validation). ``resume=True`` continues a run exactly.

Distributed data parallel: launch with ``torchrun --nproc_per_node N`` (gloo on
CPU, NCCL on CUDA); every rank draws its own crops, gradients are averaged, and
rank 0 writes the run folder.
"""

from __future__ import annotations

import json
import math
import os
import signal
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from ..fileio import atomic_write
from ..inference.upscaler import pick_device
from ..metrics import score
from ..models import SRCNN, CompactSR, Discriminator, SRResNet, UNetDiscriminatorSN
from ..resize import imresize
from .config import TrainConfig, make_config, parse_overrides
from .data import PairCache, PairSampler, find_images, load_validation

__all__ = ["train", "TrainResult", "load_checkpoint", "build_generator", "held_out_split", "validate", "CKPT_NAME"]

CKPT_NAME = "ckpt.pt"
CKPT_VERSION = 1


@dataclass
class TrainResult:
    """What :func:`train` returns: the run folder, the trained generator and its step."""

    run_dir: Path
    generator: nn.Module
    step: int
    interrupted: bool


# ---------------------------------------------------------------------------
# helpers (small, so that train() below reads as the recipe)
# ---------------------------------------------------------------------------

def build_generator(cfg: TrainConfig) -> nn.Module:
    if cfg.recipe == "srcnn":
        return SRCNN(scale=cfg.scale, n1=cfg.srcnn_n1, n2=cfg.srcnn_n2, f1=cfg.srcnn_f1,
                     f2=cfg.srcnn_f2, f3=cfg.srcnn_f3, residual=cfg.srcnn_residual)
    if cfg.generator == "compact":
        return CompactSR(scale=cfg.scale, num_feat=cfg.compact_feat, num_conv=cfg.compact_convs, project=cfg.project)
    return SRResNet(scale=cfg.scale, channels=cfg.channels, n_blocks=cfg.n_blocks, project=cfg.project)


def build_discriminator(cfg: TrainConfig) -> nn.Module:
    if cfg.discriminator == "unet":
        return UNetDiscriminatorSN(channels=cfg.d_channels)
    return Discriminator(crop_size=cfg.hr_crop, channels=cfg.d_channels)


def held_out_split(paths: list[Path], count: int) -> tuple[list[Path], list[Path]]:
    """(training, held-out): a fixed validation slice of the sorted training images, every k-th one,
    the same on every run with the same folders. Runs are validated and selected on it only."""
    if len(paths) < 2:
        return list(paths), []
    n_val = min(count, max(1, len(paths) // 10))
    held_out = paths[len(paths) // (2 * n_val)::max(1, len(paths) // n_val)][:n_val]
    return [p for p in paths if p not in held_out], held_out


def learning_rate(cfg: TrainConfig, step: int) -> float:
    """The schedule's lr at ``step``, times the linear warm-up ramp (``warmup_steps``)."""
    ramp = min(1.0, (step + 1) / cfg.warmup_steps) if cfg.warmup_steps else 1.0
    return ramp * _scheduled_lr(cfg, step)


def _scheduled_lr(cfg: TrainConfig, step: int) -> float:
    if cfg.lr_schedule == "step_half":  # a step-count milestone, as the paper's (not a fraction of max_steps)
        return cfg.lr * (cfg.lr_step_factor if step >= cfg.lr_milestone else 1.0)
    if cfg.lr_schedule == "cosine":
        return cfg.lr_min + 0.5 * (cfg.lr - cfg.lr_min) * (1 + math.cos(math.pi * min(step, cfg.max_steps) / cfg.max_steps))
    if cfg.lr_schedule == "cosine_restarts":
        period = cfg.restart_every or cfg.max_steps
        t = (min(step, cfg.max_steps) % period) / period
        return cfg.lr_min + 0.5 * (cfg.lr - cfg.lr_min) * (1 + math.cos(math.pi * t))
    return cfg.lr


def pixel_loss(sr: torch.Tensor, hr: torch.Tensor, kind: str) -> torch.Tensor:
    """The configured pixel loss (``mse`` or ``l1``) in float32."""
    return F.l1_loss(sr.float(), hr) if kind == "l1" else F.mse_loss(sr.float(), hr)


@torch.no_grad()
def ema_update(ema: nn.Module, model: nn.Module, decay: float) -> None:
    """ema <- decay * ema + (1 - decay) * model, for parameters *and* floating-point buffers.

    BatchNorm's running mean/variance are averaged like the weights they normalise: copying the
    live model's statistics (as this did before) pairs averaged weights with the statistics of
    the latest weights, a network that was never trained. Integer buffers (``num_batches_tracked``)
    are copied.
    """
    for e, p in zip(ema.parameters(), model.parameters()):
        e.lerp_(p.detach(), 1.0 - decay)
    for e, b in zip(ema.buffers(), model.buffers()):
        if e.is_floating_point():
            e.lerp_(b, 1.0 - decay)
        else:
            e.copy_(b)


# what a resumed run may not change: the model's shape, the data it sees, the loss it optimises
# (schedule, length, logging and threads may change; the change is logged in metrics.jsonl)
_FIXED_ON_RESUME = {"scale", "generator", "channels", "n_blocks", "project", "compact_feat", "compact_convs", "srcnn_n1",
                    "srcnn_n2", "srcnn_f1", "srcnn_f2", "srcnn_f3", "srcnn_residual", "hr_crop", "batch_size",
                    "augment", "vgg_net", "vgg_layer", "vgg_weights", "device", "seed", "pixel_loss",
                    "pixel_weight", "adv_weight", "consistency_weight", "grid_weight", "chroma_weight", "vgg_scale", "freeze_bn",
                    "ema_decay", "content", "perceptual_layers", "content_weight", "gan_loss",
                    "discriminator", "d_channels", "ldl_weight", "ldl_ksize"}


# benchmark test sets: measured once at export, never used to validate or select
_TEST_SETS = {"Set5", "Set14", "BSD100", "B100", "Urban100", "Manga109"}


def load_checkpoint(run_dir: str | Path) -> dict[str, Any]:
    path = Path(run_dir) / CKPT_NAME
    if not path.is_file():
        raise FileNotFoundError(f"{run_dir} has no {CKPT_NAME}; is it a superres run folder?")
    return torch.load(path, map_location="cpu", weights_only=True)


def _unwrap(m: nn.Module) -> nn.Module:
    return m.module if isinstance(m, nn.parallel.DistributedDataParallel) else m


def _init_generator(gen: nn.Module, source: str) -> str:
    """Load generator weights from a superres .safetensors file or a run folder."""
    p = Path(source)
    if p.is_dir():
        state = load_checkpoint(p)["model"]["state"]
    else:
        from ..errors import SuperResError
        from ..weights import load_weights

        loaded = load_weights(p)
        card = getattr(loaded, "card", None)
        if card is not None and card.extra.get("foreign"):
            # superres models must stay our own work, reproducible from our recipe
            raise SuperResError(f"{p} holds converted foreign weights; superres never trains from, "
                                "initialises from or distils third-party weights")
        state = loaded.state_dict()
    try:
        gen.load_state_dict(state)
    except RuntimeError as e:
        raise ValueError(f"{source}: weights do not fit the configured generator "
                         f"({str(e).splitlines()[0]})") from None
    return str(p)


def _init_discriminator(disc: nn.Module, source: str) -> None:
    """Load discriminator weights from a restart point (superres weights of the same architecture)."""
    from ..weights import load_weights

    loaded = load_weights(source)
    if loaded.info.arch != disc.info.arch or loaded.args != disc.args:
        raise ValueError(f"{source}: a {loaded.info.arch} discriminator {loaded.args} does not fit the configured "
                         f"{disc.info.arch} {disc.args} (set discriminator / d_channels / hr_crop as the run that "
                         "wrote it)")
    disc.load_state_dict({k: v.float() for k, v in loaded.state_dict().items()})


def _hardware(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    from ..inference.optimize import cpu_name

    return f"{cpu_name()}, {torch.get_num_threads()} threads"


def _atomic_save(obj: Any, path: Path) -> None:
    atomic_write(path, lambda f: torch.save(obj, f))


class _StopFlag:
    """Set by SIGINT/SIGTERM: the loop finishes its step, checkpoints and returns."""

    def __init__(self) -> None:
        self.stop = False
        self._old: dict[int, Any] = {}

    def __enter__(self) -> "_StopFlag":
        for sig in (signal.SIGINT, signal.SIGTERM):
            try:
                self._old[sig] = signal.signal(sig, self._handle)
            except ValueError:  # not the main thread
                pass
        return self

    def _handle(self, signum, frame) -> None:  # noqa: ANN001
        if self.stop:  # second signal: give up immediately
            raise KeyboardInterrupt
        self.stop = True

    def __exit__(self, *exc) -> None:
        for sig, old in self._old.items():
            signal.signal(sig, old)


def _train_mode(gen: nn.Module, cfg: TrainConfig) -> None:
    """Training mode, with BatchNorm kept in inference mode when ``cfg.freeze_bn``."""
    gen.train()
    if cfg.freeze_bn:
        for m in gen.modules():
            if isinstance(m, nn.modules.batchnorm._BatchNorm):
                m.eval()


@torch.inference_mode()
def validate(gen: nn.Module, val: list, cfg: TrainConfig, device: torch.device,
             lpips: nn.Module | None = None) -> tuple[float, float, Any, float | None]:
    """Mean PSNR-Y / SSIM-Y (shave = scale), a [bicubic | SR | HR] sample image, and mean
    LPIPS (on the 8-bit-rounded, shaved RGB images, as `superres eval` measures it) when an
    LPIPS model is given (None otherwise)."""
    from PIL import Image

    was_training = gen.training
    gen.eval()
    ps, ss, ls, sample = [], [], [], None
    sh = cfg.scale
    for i, (_name, lr, hr) in enumerate(val):
        lr = lr.to(device)
        sr = gen(lr).float().clamp(0, 1).cpu()
        sc = score(sr, hr, sh, lpips=lpips)  # as `superres eval` measures: 8-bit, shaved, Y (LPIPS: RGB)
        ps.append(sc.psnr)
        ss.append(sc.ssim)
        if sc.lpips is not None:
            ls.append(sc.lpips)
        if i == 0:
            bic = imresize(lr.cpu(), scale=cfg.scale).clamp(0, 1)
            row = torch.cat([bic, sr, hr], dim=3)[0]
            sample = Image.fromarray((row.permute(1, 2, 0).numpy() * 255).round().astype(np.uint8))
    if was_training:
        _train_mode(gen, cfg)
    return float(np.mean(ps)), float(np.mean(ss)), sample, (float(np.mean(ls)) if ls else None)


def _write_curves(run_dir: Path) -> None:
    from ..plot import line_chart

    rows = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines() if line.strip()]
    train_rows = [r for r in rows if "loss" in r]
    val_rows = [r for r in rows if "val_psnr" in r]
    keys = [k for k in ("loss", "g_content", "g_adv", "g_pixel", "g_consist", "g_grid", "g_ldl", "d_loss") if any(k in r for r in train_rows)]
    a = line_chart({k: [(r["step"], r.get(k)) for r in train_rows] for k in keys},
                   title="training losses", log_y=True)
    charts = [a, line_chart({"val PSNR-Y (dB)": [(r["step"], r["val_psnr"]) for r in val_rows]},
                            title="validation PSNR-Y")]
    if any(r.get("val_lpips") is not None for r in val_rows):
        charts.append(line_chart({"val LPIPS (alex)": [(r["step"], r.get("val_lpips")) for r in val_rows]},
                                 title="validation LPIPS (lower is better)"))
    from PIL import Image

    im = Image.new("RGB", (a.width, sum(c.height for c in charts)), "white")
    y = 0
    for c in charts:
        im.paste(c, (0, y))
        y += c.height
    atomic_write(run_dir / "curves.png", lambda f: im.save(f, format="PNG"))


# ---------------------------------------------------------------------------
# the loop
# ---------------------------------------------------------------------------

def train(recipe: str, data: list[str | Path], run_dir: str | Path, *, config_file: str | Path | None = None,
          overrides: list[str] | dict | None = None, val: list[str | Path] | None = None,
          resume: bool = False, cache_dir: str | Path | None = None, progress: bool = True,
          stop_after: int | None = None, sampler: Any = None, val_images: list | None = None,
          deadline: float | None = None) -> TrainResult:
    """Train ``recipe`` on the images below ``data``; returns a :class:`TrainResult`.

    ``stop_after`` behaves like a SIGINT after that many steps (used by tests).
    ``sampler`` replaces the folder pipeline with a ready batch source (``batch()``, ``state()``,
    ``set_state()``, ``describe()``; e.g. :class:`superres.training.gpu.DeviceSampler`), and
    ``val_images`` the validation set (``(name, lr, hr)`` tensors); ``data`` is then only recorded.
    ``deadline`` (a ``time.time()`` value) fits the run's length to the wall clock: ``max_steps``
    becomes the most it may do (see :class:`superres.training.budget.StepBudget`).
    """
    run_dir = Path(run_dir)

    # -- distributed set-up (torchrun sets WORLD_SIZE / RANK / LOCAL_RANK) --
    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    if world > 1 and not torch.distributed.is_initialized():
        backend = "nccl" if torch.cuda.is_available() else "gloo"
        torch.distributed.init_process_group(backend)
    is_main = rank == 0

    # -- configuration: a resumed run keeps its saved config (plus overrides) --
    ckpt = None
    changed: dict[str, Any] = {}
    if resume:
        ckpt = load_checkpoint(run_dir)
        data = list(data) or list(ckpt.get("data") or [])  # a run remembers its folders
        val = val or ckpt.get("val") or None
        if not data:
            raise ValueError(f"{run_dir} does not record its data folders; pass them again (--data)")
        saved = dict(ckpt["config"])
        recipe = saved.pop("recipe")
        cfg = make_config(recipe, None, saved)
        before = cfg.to_dict()  # the saved config, with defaults for fields newer than the checkpoint
        if overrides:
            cfg = make_config(recipe, None, {**before, **parse_overrides(overrides)})
        changed = {k: v for k, v in cfg.to_dict().items() if before.get(k) != v and k != "recipe"}
        fixed = sorted(set(changed) & _FIXED_ON_RESUME)
        if fixed:
            raise ValueError(f"{', '.join(fixed)} cannot change when resuming (the checkpoint's model and data "
                             "depend on them); start a new run with init_from instead")
    else:
        cfg = make_config(recipe, config_file, overrides)
        if (run_dir / CKPT_NAME).exists():
            raise FileExistsError(f"{run_dir} already holds a run; use --resume or another folder")
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    device = pick_device(cfg.device, local_rank=int(os.environ.get("LOCAL_RANK", 0)))
    if is_main:
        run_dir.mkdir(parents=True, exist_ok=True)
        (run_dir / "samples").mkdir(exist_ok=True)
        (run_dir / "snapshots").mkdir(exist_ok=True)
        (run_dir / "config.json").write_text(json.dumps(cfg.to_dict(), indent=2) + "\n")
    torch.manual_seed(cfg.seed)

    # -- data: decode once into the cache, then sample aligned crops --
    held_out: list[Path] = []
    if sampler is None:
        paths = find_images(data)
        if not paths:
            raise FileNotFoundError(f"no images (png/jpg/webp/bmp/tif) found below {', '.join(map(str, data))}")
        if not val:
            paths, held_out = held_out_split(paths, cfg.val_count)
        if cfg.extra_data:  # training-only folders: never in the held-out slice
            extra = find_images([d.strip() for d in cfg.extra_data.split(",") if d.strip()])
            if not extra:
                raise FileNotFoundError(f"extra_data: no images found below {cfg.extra_data}")
            have = set(paths)
            paths = paths + [p for p in extra if p not in have]
        cache_dir = Path(cache_dir or os.environ.get("SUPERRES_CACHE", Path.home() / ".cache" / "superres" / "pairs"))
        if world > 1 and not is_main:
            # on a shared filesystem rank 0 decodes each image once and the others map its files; a node
            # with its own cache folder fills it after this (the files are keyed, written atomically)
            torch.distributed.barrier()
        cache = PairCache(paths, cfg.scale, cache_dir, min_side=cfg.min_side or cfg.hr_crop,
                          with_enlarged=cfg.recipe == "srcnn", progress=progress and is_main)
        if world > 1 and is_main:
            torch.distributed.barrier()
        sampler = PairSampler(cache, cfg.hr_crop, cfg.batch_size, seed=cfg.seed + 1000 * rank,
                              augment=cfg.augment, lr_input=cfg.recipe != "srcnn")
        data_note = {"train_images": len(cache.images), "skipped": [str(p) for p, _ in cache.skipped]}
    else:  # a ready batch source describes its own data
        data_note = sampler.describe()
    test_sets = [str(v) for v in (val or []) if any(t in Path(v).parts for t in _TEST_SETS)]
    if test_sets and is_main:
        warnings.warn(f"validating on {', '.join(test_sets)}: a benchmark test set steers this run (snapshot and "
                      "recipe choices), so its scores there stop being test scores. Leave out --val to validate "
                      "on a held-out slice of the training photos.", stacklevel=2)
    if val_images is not None:
        val_set = list(val_images) if is_main else []
    else:
        val_set = load_validation(val, cfg.scale, cfg.val_max_side, fallback=held_out) if is_main else []
    # LPIPS at validation, only from weights already cached (a run never downloads mid-way);
    # PSNR alone cannot tell whether the GAN stage is doing its job
    val_lpips = None
    if is_main and val_set:
        from ..lpips import LPIPSUnavailable, cached_lpips

        try:
            val_lpips = cached_lpips("alex")
        except LPIPSUnavailable as e:
            warnings.warn(f"validation without LPIPS: {e}", stacklevel=2)

    # -- models --
    gen = build_generator(cfg).to(device)
    init_note = ""
    if cfg.init_from and ckpt is None:
        init_note = _init_generator(gen, cfg.init_from)
    disc = content_loss = None
    vgg_used = ""
    if cfg.recipe == "srgan":
        from .losses import build_content_loss, chroma_loss, discriminator_loss, generator_adversarial_loss, grid_loss, ldl_loss

        disc = build_discriminator(cfg).to(device)
        if cfg.init_disc_from and ckpt is None:
            _init_discriminator(disc, cfg.init_disc_from)
        content_loss, vgg_used = build_content_loss(cfg)
        content_loss = content_loss.to(device)
    fmt = torch.channels_last if cfg.channels_last else torch.contiguous_format
    gen = gen.to(memory_format=fmt)
    if disc is not None:
        disc = disc.to(memory_format=fmt)
    if content_loss is not None:
        content_loss = content_loss.to(memory_format=fmt)

    # -- optimisers (SRCNN: the last layer learns 10x slower, as in the paper) --
    betas = (cfg.beta1, cfg.beta2)
    if cfg.recipe == "srcnn":
        last = list(gen.conv3.parameters())
        rest = [p for p in gen.parameters() if all(p is not q for q in last)]
        groups = [{"params": rest, "lr_mult": 1.0}, {"params": last, "lr_mult": cfg.srcnn_last_layer_lr_mult}]
    else:
        groups = [{"params": list(gen.parameters()), "lr_mult": 1.0}]
    opt_g = torch.optim.Adam(groups, lr=cfg.lr, betas=betas, weight_decay=cfg.weight_decay)
    opt_d = None
    if disc is not None:
        opt_d = torch.optim.Adam(disc.parameters(), lr=cfg.d_lr or cfg.lr, betas=betas)

    # -- resume: weights, optimisers, step, RNG streams --
    # elapsed: wall seconds of all sessions of this run; cpu: this process's CPU seconds (all threads) spent
    # training, without validation, so runs that share a machine or differ in threads compare per CPU-hour
    step, elapsed, cpu_before = 0, 0.0, 0.0
    if ckpt is not None:
        gen.load_state_dict(ckpt["model"]["state"])
        opt_g.load_state_dict(ckpt["optimizer"])
        if disc is not None:
            disc.load_state_dict(ckpt["disc"]["state"])
            opt_d.load_state_dict(ckpt["d_optimizer"])
        step, elapsed = int(ckpt["step"]), float(ckpt.get("elapsed_s", 0.0))
        cpu_before = float(ckpt.get("train_cpu_s", 0.0))
        torch.set_rng_state(ckpt["rng"]["torch"])
        saved_samplers = ckpt["rng"]["samplers"]
        if len(saved_samplers) == world:
            sampler.set_state(saved_samplers[rank])
        elif is_main:  # e.g. resumed on more GPUs: weights and optimiser continue, crops are drawn afresh
            warnings.warn(f"the checkpoint was written by {len(saved_samplers)} process(es) and this run has "
                          f"{world}; the crop streams start afresh (weights, optimiser and step continue)",
                          stacklevel=2)
        init_note = ckpt.get("init_from", "")
        vgg_used = ckpt.get("vgg_used", vgg_used)
    # the EMA generator (cfg.ema_decay): what is validated, snapshotted and exported when enabled
    ema = None
    if cfg.ema_decay:
        import copy

        ema = copy.deepcopy(gen).eval()
        for p in ema.parameters():
            p.requires_grad_(False)
        if ckpt is not None and "ema" in ckpt:
            ema.load_state_dict(ckpt["ema"])

    if world > 1:
        ddp = lambda m: nn.parallel.DistributedDataParallel(  # noqa: E731
            m, device_ids=[device.index] if device.type == "cuda" else None)
        gen = ddp(gen)
        if disc is not None:
            disc = ddp(disc)
    _train_mode(gen, cfg)
    if disc is not None:
        disc.train()

    amp = cfg.amp_dtype
    use_amp = amp is not None and device.type in ("cpu", "cuda")
    # fp16: one loss scaler per optimiser, each updated once per iteration. (One scaler shared by the D
    # and G steps was updated twice per iteration, so each network's overflow check moved the other's scale.)
    use_scaler = amp == torch.float16 and device.type == "cuda"
    scalers = {id(opt): torch.amp.GradScaler("cuda") for opt in (opt_g, opt_d) if opt is not None} if use_scaler else {}
    autocast = lambda: torch.autocast(device.type, dtype=amp, enabled=use_amp)  # noqa: E731
    shave = (cfg.srcnn_f1 + cfg.srcnn_f2 + cfg.srcnn_f3 - 3) // 2 if cfg.recipe == "srcnn" else 0

    def backward_step(loss: torch.Tensor, opt: torch.optim.Optimizer, params) -> None:
        scaler = scalers.get(id(opt))
        opt.zero_grad(set_to_none=True)
        if scaler is not None:
            scaler.scale(loss).backward()
            scaler.unscale_(opt)
        else:
            loss.backward()
        if cfg.grad_clip:
            torch.nn.utils.clip_grad_norm_(params, cfg.grad_clip)
        if scaler is not None:
            scaler.step(opt)
            scaler.update()
        else:
            opt.step()

    def save_checkpoint() -> None:
        samplers = [sampler.state()]
        if world > 1:
            samplers = [None] * world
            torch.distributed.all_gather_object(samplers, sampler.state())
        if not is_main:
            return
        g = _unwrap(gen)
        state = {
            "format_version": CKPT_VERSION, "step": step, "elapsed_s": elapsed + (time.time() - t_start),
            "train_cpu_s": train_cpu_s(),
            "config": cfg.to_dict(), "model": {"arch": g.info.arch, "args": g.args, "state": g.state_dict()},
            "optimizer": opt_g.state_dict(), "rng": {"torch": torch.get_rng_state(), "samplers": samplers},
            "init_from": init_note, "vgg_used": vgg_used, "hardware": _hardware(device), "world_size": world,
            "data": [str(d) for d in data], "val": [str(v) for v in (val or [])],
        }
        if ema is not None:
            state["ema"] = ema.state_dict()
        if disc is not None:
            state["disc"] = {"args": _unwrap(disc).args, "state": _unwrap(disc).state_dict()}
            state["d_optimizer"] = opt_d.state_dict()
        _atomic_save(state, run_dir / CKPT_NAME)

    tb = None
    if is_main:
        try:  # TensorBoard when installed; the JSONL log and curves.png are always written
            from torch.utils.tensorboard import SummaryWriter

            tb = SummaryWriter(str(run_dir / "tensorboard"))
        except ImportError:
            tb = None

    def log(row: dict) -> None:
        if is_main:
            with open(run_dir / "metrics.jsonl", "a") as f:
                f.write(json.dumps(row) + "\n")
            if tb is not None:
                for k, v in row.items():
                    if k != "step" and isinstance(v, (int, float)):
                        tb.add_scalar(k, v, row["step"])

    bar = None
    if progress and is_main:
        from tqdm import tqdm

        bar = tqdm(total=cfg.max_steps, initial=step, desc=cfg.recipe, unit="step", dynamic_ncols=True)
    if is_main and step == 0:
        log({"step": 0, "event": "start", **data_note,
             "val_images": [n for n, _, _ in val_set], "init_from": init_note, "vgg": vgg_used,
             "device": str(device), "hardware": _hardware(device), "world_size": world})
    elif is_main and changed:
        log({"step": step, "event": "resume", "changed": changed, **data_note})

    t_start = time.time()
    cpu_start, val_cpu = time.process_time(), 0.0
    train_cpu_s = lambda: cpu_before + time.process_time() - cpu_start - val_cpu  # noqa: E731
    clock = lambda: {"elapsed_s": round(elapsed + time.time() - t_start, 3),  # noqa: E731
                     "train_cpu_s": round(train_cpu_s(), 3)}
    t_data = 0.0
    running: dict[str, float] = {}
    budget = None
    if deadline is not None:
        from .budget import StepBudget

        budget = StepBudget(deadline, start_step=step)
    with _StopFlag() as flag:
        while step < cfg.max_steps:
            if budget is not None and (fitted := budget.fit(cfg, step)) is not None:  # the deadline sets the length
                log({"step": step, "event": "time_budget", **fitted})
                if bar is not None:
                    bar.total = cfg.max_steps
                    bar.refresh()
            lr_now = learning_rate(cfg, step)
            for grp in opt_g.param_groups:
                grp["lr"] = lr_now * grp["lr_mult"]
            if opt_d is not None:
                for grp in opt_d.param_groups:
                    grp["lr"] = (cfg.d_lr or cfg.lr) * lr_now / cfg.lr

            t0 = time.perf_counter()
            lr_img, hr_img = sampler.batch()
            lr_img = lr_img.to(device, non_blocking=True).contiguous(memory_format=fmt)
            hr_img = hr_img.to(device, non_blocking=True).contiguous(memory_format=fmt)
            t_data += time.perf_counter() - t0
            stats: dict[str, float] = {}

            if cfg.recipe == "srcnn":
                with autocast():
                    sr = gen(lr_img, enlarged=True)
                c = slice(shave, cfg.hr_crop - shave) if shave else slice(None)
                loss = F.mse_loss(sr.float()[..., c, c], hr_img[..., c, c])
                backward_step(loss, opt_g, gen.parameters())
                stats["loss"] = loss.item()
            elif cfg.recipe == "srresnet":
                with autocast():
                    sr = gen(lr_img)
                loss = pixel_loss(sr, hr_img, cfg.pixel_loss)
                backward_step(loss, opt_g, gen.parameters())
                stats["loss"] = loss.item()
            else:  # srgan
                with autocast():
                    sr = gen(lr_img)
                if cfg.clamp_output:  # the losses judge the picture a user gets
                    sr = sr.clamp(0, 1)
                # (1) discriminator step on real HR vs detached SR
                with autocast():
                    real_logits = disc(hr_img)
                    fake_logits = disc(sr.detach())
                d_loss = discriminator_loss(real_logits, fake_logits, cfg.gan_loss)
                backward_step(d_loss, opt_d, disc.parameters())
                # (2) generator step; D is frozen (no grads to its weights)
                for p in disc.parameters():
                    p.requires_grad_(False)
                with autocast():
                    g_content = content_loss(sr, hr_img)
                    real_now = None
                    if cfg.gan_loss == "ragan":  # real logits from the D just updated, no grads
                        with torch.no_grad():
                            real_now = disc(hr_img)
                    g_adv = generator_adversarial_loss(disc(sr), real_now, cfg.gan_loss)
                g_pixel = pixel_loss(sr, hr_img, cfg.pixel_loss) if cfg.pixel_weight else torch.zeros(())
                g_consist = (F.mse_loss(imresize(sr.float(), scale=1 / cfg.scale), lr_img)
                             if cfg.consistency_weight else torch.zeros(()))
                g_grid = grid_loss(sr, hr_img, cfg.scale) if cfg.grid_weight else torch.zeros(())
                g_chroma = chroma_loss(sr, hr_img) if cfg.chroma_weight else torch.zeros(())
                g_ldl = torch.zeros(())
                if cfg.ldl_weight:
                    with torch.no_grad(), autocast():
                        sr_ema = ema(lr_img)
                    g_ldl = ldl_loss(sr, hr_img, sr_ema, cfg.ldl_ksize)
                loss = (cfg.content_weight * g_content + cfg.adv_weight * g_adv + cfg.pixel_weight * g_pixel
                        + cfg.consistency_weight * g_consist + cfg.grid_weight * g_grid + cfg.ldl_weight * g_ldl
                        + cfg.chroma_weight * g_chroma)
                backward_step(loss, opt_g, gen.parameters())
                for p in disc.parameters():
                    p.requires_grad_(True)
                stats.update(loss=loss.item(), g_content=g_content.item(), g_adv=g_adv.item(),
                             d_loss=d_loss.item(), d_real=torch.sigmoid(real_logits.float()).mean().item(),
                             d_fake=torch.sigmoid(fake_logits.float()).mean().item())
                if cfg.pixel_weight:
                    stats["g_pixel"] = g_pixel.item()
                if cfg.consistency_weight:
                    stats["g_consist"] = g_consist.item()
                if cfg.grid_weight:
                    stats["g_grid"] = g_grid.item()
                if cfg.chroma_weight:
                    stats["g_chroma"] = g_chroma.item()
                if cfg.ldl_weight:
                    stats["g_ldl"] = g_ldl.item()
            if ema is not None:
                ema_update(ema, _unwrap(gen), cfg.ema_decay)
            step += 1
            for k, v in stats.items():
                running[k] = running.get(k, 0.0) + v
            running["_n"] = running.get("_n", 0) + 1

            if bar is not None:
                bar.update(1)
                bar.set_postfix({k: f"{v:.4g}" for k, v in stats.items() if k in ("loss", "d_real", "d_fake")})
            if step % cfg.log_every == 0 or step == cfg.max_steps:
                n = running.pop("_n")
                row = {"step": step, "lr": lr_now, **{k: v / n for k, v in running.items()},
                       "s_per_step": (time.time() - t_start) / max(1, step - (int(ckpt["step"]) if ckpt else 0)),
                       "data_s_per_step": t_data / max(1, n), **clock()}
                t_data, running = 0.0, {}
                log(row)
            if is_main and cfg.val_every and val_set and (step % cfg.val_every == 0 or step == cfg.max_steps):
                row = {"step": step, **clock()}  # the time up to this step, before the validation's own
                c0 = time.process_time()
                vp, vs, sample, vl = validate(ema if ema is not None else _unwrap(gen), val_set, cfg, device,
                                              lpips=val_lpips)
                row.update(val_psnr=vp, val_ssim=vs, **({"val_lpips": vl} if vl is not None else {}))
                if ema is not None:  # the raw weights too, so the EMA's gain is on record
                    rp, _, _, rl = validate(_unwrap(gen), val_set, cfg, device, lpips=val_lpips)
                    row.update(val_raw_psnr=rp, **({"val_raw_lpips": rl} if rl is not None else {}))
                val_cpu += time.process_time() - c0
                log(row)
                if sample is not None:
                    sample.save(run_dir / "samples" / f"step_{step:07d}.png")
                if cfg.keep_snapshots:
                    from ..weights import save_weights

                    save_weights(ema if ema is not None else _unwrap(gen),
                                 run_dir / "snapshots" / f"step_{step:07d}.safetensors", dtype=torch.float32)
                _write_curves(run_dir)
                if bar is not None:
                    bar.write(f"step {step}: val PSNR-Y {vp:.2f} dB, SSIM-Y {vs:.4f}"
                              + (f", LPIPS {vl:.4f}" if vl is not None else ""))
            if stop_after is not None and step >= stop_after:
                flag.stop = True
            if step % cfg.ckpt_every == 0 or step == cfg.max_steps or flag.stop:
                save_checkpoint()
            if flag.stop:
                break
    if bar is not None:
        bar.close()
    if tb is not None:
        tb.close()
    if is_main:
        if (run_dir / "metrics.jsonl").exists():
            _write_curves(run_dir)
        from ..weights import save_weights

        save_weights(ema if ema is not None else _unwrap(gen), run_dir / "generator.safetensors",
                     dtype=torch.float32)
    if world > 1:
        torch.distributed.barrier()
    return TrainResult(run_dir, (ema if ema is not None else _unwrap(gen)).eval(), step, flag.stop)
