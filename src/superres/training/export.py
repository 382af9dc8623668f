"""Turn a training run into a shipped weights file + model card.

The generator is taken from the run's checkpoint, evaluated with our own
metrics on the given benchmark folders, and stored as float16 when that costs
less than ``fp16_tolerance_db`` of PSNR on every folder (float32 otherwise).
The card records data, recipe, steps, wall time, hardware and the measured
numbers, so a shipped model says exactly how it was made.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import torch

from .._version import __version__
from ..weights import ModelCard, load_weights, save_weights
from .config import make_config
from .train import build_discriminator, load_checkpoint

__all__ = ["export_run", "model_from_run", "recipe_text", "write_restart_point"]


def _num(v: float) -> str:
    """A weight as people write it: 1e-3, 0.5, 2, 1000."""
    v = float(v)
    if v == int(v) and abs(v) < 1e5:
        return str(int(v))
    return f"{v:.0e}".replace("e-0", "e-").replace("e+0", "e") if abs(v) < 1e-2 else f"{v:g}"


def recipe_text(cfg: dict, vgg_used: str = "") -> str:
    """How a run trained its generator, in one paragraph, from the run's own config.

    ``cfg`` is the resolved :class:`~superres.training.config.TrainConfig` as a dict (the
    checkpoint's ``config``); ``vgg_used`` is what the run actually loaded for the content loss
    (it may fall back from the configured network). Only the terms that were on are named.
    """
    g = cfg.get
    recipe = g("recipe", "srresnet")
    scale = int(g("scale", 4))
    pixel = (g("pixel_loss") or "mse").upper()
    if recipe == "srcnn":
        net = (f"SRCNN {g('srcnn_f1', 9)}-{g('srcnn_f2', 5)}-{g('srcnn_f3', 5)} (Dong et al. 2016), "
               f"{g('srcnn_n1', 64)}/{g('srcnn_n2', 32)} filters"
               + (", learning the residual over bicubic" if g("srcnn_residual") else ""))
        data = (f"{g('hr_crop', 33)}x{g('hr_crop', 33)} sub-images of the bicubic-enlarged LR image "
                "(loss on the valid centre)")
        loss = f"{pixel} loss"
    else:
        if g("generator", "srresnet") == "compact":
            net = f"CompactSR ({g('compact_convs', 16)} conv+PReLU layers x {g('compact_feat', 48)} features)"
        else:
            net = f"SRResNet (Ledig et al. 2017; {g('n_blocks', 16)} residual blocks x {g('channels', 64)} channels)"
        data = (f"random {g('hr_crop', 96)}x{g('hr_crop', 96)} HR crops and their MATLAB-bicubic x1/{scale} "
                "LR crops" + (", flips/rotations" if g("augment", True) else ""))
        if recipe == "srgan":
            terms = []
            cw = float(g("content_weight", 1.0))
            cw_text = "" if cw == 1 else f"{_num(cw)} x "
            if g("content", "paper") == "perceptual":
                net_name = (vgg_used or g("vgg_net", "vgg19")).split(" ")[0]
                terms.append(f"{cw_text}L1 perceptual loss on {net_name} layers before ReLU "
                             f"({g('perceptual_layers', '')})")
            else:
                vgg = (vgg_used or f"{g('vgg_net', 'vgg19')} {g('vgg_layer', 'conv5_4')}").split(" from ")[0]
                vs = float(g("vgg_scale", 1 / 12.75))
                feats = f"features / {1 / vs:.4g}" if 0 < vs < 1 else f"features x {vs:.4g}"
                terms.append(f"{cw_text}VGG content loss ({vgg}, {feats})")
            adv = "relativistic average (RaGAN) adversarial loss" if g("gan_loss") == "ragan" else "adversarial loss"
            terms.append(f"{_num(g('adv_weight', 1e-3))} x {adv}")
            if g("pixel_weight"):
                terms.append(f"{_num(g('pixel_weight'))} x {pixel} pixel loss")
            if g("consistency_weight"):
                terms.append(f"{_num(g('consistency_weight'))} x LR-consistency MSE")
            if g("grid_weight"):
                terms.append(f"{_num(g('grid_weight'))} x sub-pixel grid loss")
            if g("ldl_weight"):
                terms.append(f"{_num(g('ldl_weight'))} x LDL artefact loss")
            disc = ("a U-Net discriminator with spectral norm" if g("discriminator") == "unet"
                    else "the paper's VGG-style discriminator")
            width = g("d_channels", 64)
            loss = ("loss = " + " + ".join(terms) + f"; {disc}" + (f" ({width} channels)" if width != 64 else "")
                    + ", one discriminator step per generator step")
            if g("freeze_bn"):
                loss += "; generator BatchNorm frozen"
        else:
            loss = f"{pixel} loss"
        net = ("SRGAN: generator " if recipe == "srgan" else "") + net
    sched = g("lr_schedule", "constant")
    if sched == "cosine_restarts" and g("restart_every"):
        sched = f"cosine_restarts every {g('restart_every')} steps"
    opt = f"Adam lr {_num(g('lr', 1e-4))} ({sched}), batch {g('batch_size', 16)}"
    text = f"{net}, trained on {data}; {loss}; {opt}"
    if recipe == "srgan" and g("init_from"):
        text += f"; initialised from {g('init_from')}"
    if g("ema_decay"):
        text += f"; weights = exponential moving average (decay {g('ema_decay')})"
    return text


def model_from_run(run_dir: str | Path) -> torch.nn.Module:
    """The generator of a run's latest checkpoint, rebuilt from the arguments it records, in eval mode."""
    from ..models import ARCHITECTURES

    ck = load_checkpoint(run_dir)
    model = ARCHITECTURES[ck["model"]["arch"]](**ck["model"]["args"])
    model.load_state_dict(_generator_state(ck))
    return model.eval()


def write_restart_point(run_dir: str | Path, out_dir: str | Path) -> dict:
    """A small restart point of a GAN run, for continuing it on another machine (issue 21).

    ``out_dir/generator.safetensors`` (the EMA generator when the run keeps one) and
    ``out_dir/discriminator.safetensors``, both float16 in the superres weights format, plus
    ``out_dir/restart.json`` (step, wall time, the resolved config and the last validation).
    Continue with ``--set init_from=out_dir/generator.safetensors
    --set init_disc_from=out_dir/discriminator.safetensors`` and the same config: the optimisers
    start afresh (their moments are 2x the weights' size and not worth carrying).
    """
    import json

    from ..fileio import atomic_write_bytes
    from ..models import ARCHITECTURES

    run_dir, out_dir = Path(run_dir), Path(out_dir)
    ck = load_checkpoint(run_dir)
    if ck.get("disc") is None:
        raise ValueError(f"{run_dir} is not a GAN run (its checkpoint has no discriminator)")
    out_dir.mkdir(parents=True, exist_ok=True)
    gen = ARCHITECTURES[ck["model"]["arch"]](**ck["model"]["args"])
    gen.load_state_dict(_generator_state(ck))
    cfg = ck["config"]
    disc = build_discriminator(make_config(cfg["recipe"], None, {k: v for k, v in cfg.items() if k != "recipe"}))
    disc.load_state_dict(ck["disc"]["state"])  # the config's discriminator is the one the run trained
    save_weights(gen, out_dir / "generator.safetensors", dtype=torch.float16)
    save_weights(disc, out_dir / "discriminator.safetensors", dtype=torch.float16)
    rows = [json.loads(x) for x in (run_dir / "metrics.jsonl").read_text().splitlines() if x.strip()] \
        if (run_dir / "metrics.jsonl").is_file() else []
    last_val = next((r for r in reversed(rows) if "val_psnr" in r), None)
    info = {"run": run_dir.name, "step": int(ck["step"]), "elapsed_s": float(ck.get("elapsed_s", 0.0)),
            "ema": ck.get("ema") is not None, "init_from": ck.get("init_from", ""), "last_validation": last_val,
            "config": cfg}
    atomic_write_bytes(out_dir / "restart.json", (json.dumps(info, indent=2) + "\n").encode())
    return info


def _generator_state(ck: dict) -> dict:
    """The weights a run validates and ships: the EMA generator's when the run keeps one."""
    return ck["ema"] if ck.get("ema") is not None else ck["model"]["state"]


def choose_border(model, folder, device: str = "cpu") -> dict:
    """Measure both border treatments on ``folder`` (PSNR-Y) and set the better one on ``model.info``.

    The architecture's default stays unless the other gains more than 0.01 dB. Returns the card
    record: ``{"treatment", "pad", "dataset", "psnr": {"reflect": .., "zero": ..}}``.
    """
    import dataclasses

    from ..evaluate import evaluate_model
    from ..models.base import Border

    default = model.info
    psnr = {}
    for b in (Border.REFLECT, Border.ZERO):
        model.info = dataclasses.replace(default, border=b, border_pad=8 if b is Border.REFLECT else 0)
        psnr[b.value] = evaluate_model(model, folder, lpips=False, device=device, tile=0).summary()["psnr"]
    other = Border.ZERO if default.border is Border.REFLECT else Border.REFLECT
    best = other if psnr[other.value] > psnr[default.border.value] + 0.01 else default.border
    pad = 0 if best is Border.ZERO else (default.border_pad if default.border is Border.REFLECT else 8)
    model.info = dataclasses.replace(default, border=best, border_pad=pad)
    return {"treatment": best.value, "pad": pad, "dataset": Path(folder).name, "psnr": psnr}


def export_run(run_dir: str | Path, out: str | Path, *, name: str, eval_dirs: list[str | Path] = (),
               license: str = "MIT", description: str = "", training_data: str = "",
               fp16_tolerance_db: float = 0.01, overwrite: bool = False, device: str = "auto",
               lpips: bool = True, snapshot: int | None = None) -> tuple[Path, ModelCard]:
    """Evaluate a run's generator and write it with its card.

    ``snapshot=N`` exports the generator saved at validation step N
    (``snapshots/step_000000N.safetensors``) instead of the latest checkpoint; the card
    records that step, the wall time up to it pro rata (marked as an estimate) and
    which snapshot was chosen.
    """
    from ..errors import OutputError
    from ..evaluate import evaluate_model
    from ..models import ARCHITECTURES

    out = Path(out)
    if out.exists() and not overwrite:
        raise OutputError(f"{out} exists; pass overwrite=True (--overwrite) to replace it")
    ck = load_checkpoint(run_dir)
    cfg = ck["config"]
    arch, args = ck["model"]["arch"], ck["model"]["args"]
    model = ARCHITECTURES[arch](**args)
    steps, wall_h, note = int(ck["step"]), float(ck.get("elapsed_s", 0.0)) / 3600, ""
    if snapshot is None:
        model.load_state_dict(_generator_state(ck))
    else:
        snap = Path(run_dir) / "snapshots" / f"step_{int(snapshot):07d}.safetensors"
        if not snap.is_file():
            have = sorted(p.stem.removeprefix("step_").lstrip("0") for p in (Path(run_dir) / "snapshots").glob("step_*"))
            raise FileNotFoundError(f"{run_dir} has no snapshot at step {snapshot} (have: {', '.join(have) or 'none'})")
        model.load_state_dict(load_weights(snap).state_dict())
        wall_h = wall_h * int(snapshot) / max(1, steps)
        steps, note = int(snapshot), f"snapshot at step {snapshot} of {ck['step']}; wall time pro rata (estimate)"
    model.eval()

    # our own models keep the border treatment that measures best (recorded in the card, which the
    # engine follows): the architecture's default unless the other is better by > 0.01 dB PSNR
    border = choose_border(model, eval_dirs[0], device) if eval_dirs else {}

    metrics: dict = {}
    results32 = {}
    for d in eval_dirs:
        r = evaluate_model(model, d, model_name=name, device=device, lpips=lpips)
        results32[Path(d).name] = r
        summ = r.summary()
        metrics[Path(d).name] = {k: summ[k] for k in ("psnr", "ssim", "lpips", "images")}
        if summ["lpips_note"]:
            metrics[Path(d).name]["lpips_note"] = summ["lpips_note"]

    dtype = torch.float16
    fp16_loss = {}
    if eval_dirs:
        with tempfile.TemporaryDirectory() as tmp:
            p = save_weights(model, Path(tmp) / "m.safetensors", dtype=torch.float16)
            m16 = load_weights(p)
            m16.info = model.info  # the chosen border treatment
            for d in eval_dirs:
                r16 = evaluate_model(m16, d, lpips=False, device=device)
                fp16_loss[Path(d).name] = results32[Path(d).name].mean("psnr") - r16.mean("psnr")
        if any(abs(v) >= fp16_tolerance_db for v in fp16_loss.values()):
            dtype = torch.float32

    # may `--precision auto` use bfloat16 for this model? Only if it costs < 0.05 dB PSNR and
    # < 0.005 LPIPS on the first evaluation set (measured here, recorded in the card).
    reduced = {}
    if eval_dirs:
        from ..inference.optimize import cpu_has_bf16

        first = Path(eval_dirs[0]).name
        if cpu_has_bf16():
            rb = evaluate_model(model, eval_dirs[0], precision="bf16", device="cpu", lpips=lpips).summary()
            r32 = results32[first].summary()
            dp = r32["psnr"] - rb["psnr"]
            dl = (rb["lpips"] - r32["lpips"]) if (rb["lpips"] is not None and r32["lpips"] is not None) else None
            reduced = {"dataset": first, "bf16_psnr_loss_db": dp, "bf16_lpips_change": dl,
                       "ok": abs(dp) < 0.05 and (dl is None or abs(dl) < 0.005)}

    card = ModelCard(
        name=name, arch=arch, args=args, scale=int(args.get("scale", cfg.get("scale", 4))),
        description=description,
        training_data=training_data or ", ".join(ck.get("data", [])),
        recipe=recipe_text(cfg, ck.get("vgg_used", "")),
        steps=steps, wall_time_hours=round(wall_h, 2),
        hardware=ck.get("hardware", ""), metrics=metrics, license=license,
        source=f"trained with superres {__version__} (run {Path(run_dir).name})",
        extra={"config": cfg, "init_from": ck.get("init_from", ""), "vgg": ck.get("vgg_used", ""),
               "weights": (f"EMA of the generator (decay {cfg.get('ema_decay')})" if ck.get("ema") is not None
                           else "the generator's final weights"),
               **({"snapshot": note} if note else {}),
               "world_size": ck.get("world_size", 1),
               "fp16_psnr_loss_db": fp16_loss,
               "bf16_check": reduced, "reduced_precision_ok": bool(reduced.get("ok", False)),
               **({"border": border} if border else {}),
               "metric_conventions": "PSNR/SSIM on Y (BT.601) after rounding to 8 bits and shaving `scale` px; "
                                     "LPIPS AlexNet v0.1 on the same shaved RGB images; LR = provided "
                                     "LR_bicubic_x4 when present"},
    )
    save_weights(model, out, card, dtype=dtype)
    return out, card
