"""Training configuration: typed defaults per recipe, file overrides, ``--set`` overrides.

Every default is the paper's, with a comment saying where it comes from. A
config file (TOML or JSON) lists only the fields it changes; ``--set key=value``
overrides on top. Unknown keys are errors (a typo must never be silently
ignored), and values are converted to the field's type.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import SuperResError

__all__ = ["PAPER_VGG_SCALE", "IMAGENET_STD", "RECIPES", "TrainConfig", "ConfigError", "make_config", "parse_overrides",
           "parse_layer_weights"]

RECIPES = ("srresnet", "srgan", "srcnn")
IMAGENET_STD = (0.229, 0.224, 0.225)  # torchvision's input normalisation (the VGG and AlexNet here)

# The content loss's scale, derived for the VGG convention used here.
#
# The paper rescales VGG19 feature maps by 1/12.75. Its VGG is the Caffe (and Keras) one: input
# x_caffe = 255 * (x - mean), x in [0, 1], BGR, the mean subtracted and *not* divided by the std.
# Here VGG is torchvision's: x_tv = (x - mean) / std. The same image therefore enters here
# 255 * std ~= 57.6 times smaller: x_caffe = 255 * std * x_tv (per channel; std ~= 0.226).
# A conv/ReLU/max-pool trunk is positively homogeneous, phi(k * x) = k * phi(x) (biases aside,
# which are small beside ImageNet-scale activations), so a network trained in one convention
# computes, in its own units, what the other computes scaled by that factor:
#     phi_caffe(x_caffe) / 12.75  ~=  phi_tv(x_tv) * (255 * std / 12.75)  =  phi_tv(x_tv) * 4.52
# The paper's loss is the MSE of those rescaled maps, so the factor below reproduces the paper's
# content loss -- and its balance against the 1e-3 adversarial term -- with torchvision's VGG.
# Using 1/12.75 directly (as this project did before issue 21) made the content loss
# 57.6^2 ~= 3,300 times smaller than the paper's, so the adversarial term (and every patch
# added to the recipe) weighed ~3,300 times more than the paper intended.
# tests/test_training.py::test_content_scale_matches_caffe_convention checks the identity on a
# bias-free trunk, and the content / adversarial gradient ratio it implies.
PAPER_VGG_SCALE = 255.0 * (sum(IMAGENET_STD) / 3) / 12.75


class ConfigError(SuperResError):
    """A configuration value or key is invalid."""


@dataclass
class TrainConfig:
    recipe: str = "srresnet"  # srresnet | srgan | srcnn
    scale: int = 4  # the paper's x4

    # --- model -----------------------------------------------------------
    generator: str = "srresnet"  # srresnet (the paper) | compact (CompactSR, for srgan-x4-fast); srcnn recipe: SRCNN
    channels: int = 64  # SRResNet feature maps (paper: 64)
    n_blocks: int = 16  # SRResNet residual blocks (paper: 16)
    # The generator (SRResNet or CompactSR) ends with a bicubic back-projection onto the input
    # (resize.BicubicProjection): the
    # output's low frequencies are the input's, so colours cannot drift; parameter-free, so it can be
    # switched on for a generator trained without it. Paper: False. Issue 21: the GAN stage's EMA
    # shifted flat colours by 4.3 levels at step 3,000; one projection step took that to 0.1 and the
    # slice's LPIPS from 0.260 to 0.258.
    project: bool = False
    compact_feat: int = 48  # CompactSR feature maps
    compact_convs: int = 16  # CompactSR 3x3 conv + PReLU layers at low resolution
    srcnn_n1: int = 64  # SRCNN 9-5-5 with 64/32 filters (Dong et al. 2016, table 1)
    srcnn_n2: int = 32
    srcnn_f1: int = 9
    srcnn_f2: int = 5
    srcnn_f3: int = 5
    srcnn_residual: bool = False  # paper: plain network (True = learn bicubic residual, VDSR-style)
    init_from: str = ""  # generator weights to start from (srgan: a trained SRResNet, required)
    # srgan: discriminator weights to start from (a restart point's discriminator.safetensors, written by
    # training.export.write_restart_point); "" = a fresh discriminator
    init_disc_from: str = ""

    # --- data --------------------------------------------------------------
    hr_crop: int = 96  # SRGAN: 96x96 HR sub-images; SRCNN uses 33 (set by its recipe)
    batch_size: int = 16  # SRGAN paper: 16; SRCNN paper: 128
    augment: bool = True  # random flips and 90-degree rotations
    min_side: int = 0  # skip images whose short side is below this (0 = hr_crop)
    val_count: int = 8  # images held out for validation when no --val is given
    # folders (comma-separated) of training-only images, added after the held-out split so the validation
    # slice stays the photos' own: e.g. synthetic flat-colour graphics (scripts/flat_graphics.py), which
    # photos cannot stand in for (issue 21: a GAN objective drifted on flat colours no photo holds)
    extra_data: str = ""
    val_max_side: int = 512  # validation images are centre-cropped to this (keeps it quick)

    # --- optimisation ----------------------------------------------------
    max_steps: int = 1_000_000  # SRResNet: 1e6 updates; SRGAN: 1e5 + 1e5 (set by its recipe)
    lr: float = 1e-4  # Adam learning rate (SRGAN paper: 1e-4)
    lr_schedule: str = "constant"  # constant | step_half | cosine | cosine_restarts (srgan: step_half = 1e-4 then 1e-5)
    lr_min: float = 1e-6  # floor for cosine
    # cosine_restarts: the cosine cycle restarts at lr every this many steps (SGDR, Loshchilov & Hutter
    # 2017; BasicSR's MSRResNet uses 250k-step cycles). A restart lets a converged run leave a flat basin.
    restart_every: int = 0  # 0 = one cycle over max_steps (same as cosine)
    lr_step_factor: float = 0.1  # step_half: lr multiplier after lr_milestone (paper: 1e-4 -> 1e-5)
    # step_half: the step at which lr drops (paper: 1e5 updates at 1e-4, then 1e5 at 1e-5). A step
    # count, not half of max_steps: a short run must not drop to 1e-5 after a few hundred steps.
    lr_milestone: int = 100_000
    beta1: float = 0.9  # Adam betas (paper: 0.9, default 0.999)
    beta2: float = 0.999
    weight_decay: float = 0.0
    grad_clip: float = 0.0  # 0 = off
    # linear lr warm-up over this many steps (0 = off). A GAN stage starts a *fresh* Adam on a converged
    # network: its first steps, before the moment estimates settle, are lr-sized in every direction.
    warmup_steps: int = 0
    # exponential moving average of the generator's weights, validated, snapshotted and exported in
    # place of the raw weights (ESRGAN/Real-ESRGAN use 0.999). It smooths the step-to-step noise that
    # GAN training and high learning rates add, at no training cost. 0 = off (the paper).
    ema_decay: float = 0.0
    srcnn_last_layer_lr_mult: float = 0.1  # SRCNN: last layer lr 1e-5 vs 1e-4 (paper)

    # --- SRGAN losses ----------------------------------------------------
    vgg_net: str = "vgg19"  # paper: VGG19; falls back to vgg16 when VGG19 weights are unavailable
    vgg_layer: str = "conv5_4"  # paper's phi_5,4 (before ReLU? paper: after activation); vgg16 -> conv5_3
    vgg_weights: str = ""  # path to a torchvision-layout state dict; "" = fetch/cached official URL
    # paper: Caffe-convention feature maps rescaled by 1/12.75, which is 4.52 in torchvision's convention
    # (PAPER_VGG_SCALE above says why); before issue 21 this was 1/12.75, ~3,300x too weak a content loss
    vgg_scale: float = PAPER_VGG_SCALE
    adv_weight: float = 1e-3  # paper: 1e-3 x adversarial loss
    pixel_weight: float = 0.0  # optional pixel term in the generator loss (paper: 0)
    # the pixel loss of the srresnet recipe and of srgan's pixel term: mse (the paper) or l1, which
    # EDSR and BasicSR found converges to higher PSNR (it does not over-weight the few large errors)
    pixel_loss: str = "mse"
    # optional MSE between the SR output shrunk back by the same bicubic x1/scale and the LR
    # input (paper: 0). It pins colour and low frequencies, which the deep VGG layers barely
    # see, without penalising texture the GAN invents above the LR band.
    consistency_weight: float = 0.0
    # optional penalty on the part of the error that repeats with the scale x scale sub-pixel
    # grid (losses.grid_loss; paper: 0). GAN fine-tuning grows a checkerboard through the
    # PixelShuffle stages within a few hundred steps; this removes it without penalising texture.
    grid_weight: float = 0.0
    # optional L1 on the output's chroma against the reference's (losses.chroma_loss; paper: 0): luma,
    # where the GAN's detail is, stays free. Issue 21: the GAN stage's chroma fringes on the artefact
    # test's scenes grew from 1.2 to 3.1 levels over 3,000 steps; the perceptual loss's own push on
    # fine chroma is ~550x this loss's at weight 1 at the step-3,033 restart point (MODELS.md), so useful weights are 100s.
    chroma_weight: float = 0.0
    d_lr: float = 0.0  # discriminator lr (0 = same as lr)
    # content loss: "paper" = MSE on one VGG layer after its ReLU, scaled by vgg_scale (Ledig et al.);
    # "perceptual" = L1 on several VGG layers *before* ReLU, weighted by perceptual_layers (ESRGAN,
    # Real-ESRGAN): denser gradients, colour from the shallow layers, texture from the deep ones
    content: str = "paper"
    # perceptual: layer:weight list; Real-ESRGAN's VGG19 weights mapped to VGG16's layer names
    perceptual_layers: str = "conv1_2:0.1,conv2_2:0.1,conv3_3:1,conv4_3:1,conv5_3:1"
    content_weight: float = 1.0  # multiplies the content loss (Real-ESRGAN: 1)
    # adversarial loss: "standard" (the paper: -log D(G(LR))) or "ragan", ESRGAN's relativistic
    # average GAN, where D judges whether a real image is more realistic than the average fake; the
    # generator then learns from real images' logits too, and converges in fewer steps
    gan_loss: str = "standard"
    # discriminator: "srgan" (the paper's VGG-style classifier, one logit per crop) or "unet"
    # (Real-ESRGAN's U-Net with spectral norm: a logit per pixel, saying *where* the output looks fake)
    discriminator: str = "srgan"
    d_channels: int = 64  # discriminator width (both: 64); its cost grows with the square
    # LDL artefact loss (Liang et al. CVPR 2022): L1 weighted where the residual is locally irregular
    # and the generator does worse than its EMA. Needs ema_decay > 0. Paper weight: 1.0. 0 = off.
    ldl_weight: float = 0.0
    ldl_ksize: int = 7  # the local-variance window of the LDL weight map (paper: 7)
    # keep the generator's BatchNorm layers in inference mode while training: running statistics
    # (frozen) instead of each batch's, so the network trained is the one evaluated. ESRGAN
    # (Wang et al. 2018) traced GAN-stage artefacts and instability to BN's train/test gap.
    # Paper: False (SRGAN trains BN normally); meant for the SRGAN stage, after SRResNet has set them.
    freeze_bn: bool = False
    # losses see the generator's output clamped to [0, 1], as every picture a user gets is; without it the
    # SRGAN stage can spend its steps on values the output clamp throws away (the course model ends in tanh)
    clamp_output: bool = False

    # --- running -----------------------------------------------------------
    seed: int = 0
    device: str = "auto"  # auto | cpu | cuda | mps
    precision: str = "fp32"  # fp32 | bf16 (CPU/CUDA autocast) | fp16 (CUDA autocast + scaler)
    channels_last: bool = True  # faster convolutions on CPU and recent GPUs
    threads: int = 0  # torch intra-op threads (0 = PyTorch's default)
    log_every: int = 50  # steps between metrics-log lines
    val_every: int = 1000  # steps between validations (0 = never)
    ckpt_every: int = 500  # steps between checkpoints
    keep_snapshots: bool = True  # also write generator-only snapshots at each validation

    @property
    def amp_dtype(self):
        import torch

        return {"fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16}[self.precision]

    def validate(self) -> None:
        if self.recipe not in RECIPES:
            raise ConfigError(f"recipe must be one of {', '.join(RECIPES)}, got {self.recipe!r}")
        if self.scale not in (2, 4, 8):
            raise ConfigError(f"scale must be 2, 4 or 8, got {self.scale}")
        if self.recipe != "srcnn" and self.hr_crop % self.scale:
            raise ConfigError(f"hr_crop ({self.hr_crop}) must be a multiple of scale ({self.scale})")
        if self.recipe == "srgan" and self.hr_crop % 16:
            raise ConfigError(f"srgan needs hr_crop divisible by 16 (the discriminator), got {self.hr_crop}")
        if self.recipe == "srgan" and not self.init_from:
            raise ConfigError("srgan starts from a trained SRResNet: set init_from=PATH "
                              "(a .safetensors export or a srresnet run folder)")
        if self.content not in ("paper", "perceptual"):
            raise ConfigError(f"content must be paper or perceptual, got {self.content!r}")
        if self.gan_loss not in ("standard", "ragan"):
            raise ConfigError(f"gan_loss must be standard or ragan, got {self.gan_loss!r}")
        if self.discriminator not in ("srgan", "unet"):
            raise ConfigError(f"discriminator must be srgan or unet, got {self.discriminator!r}")
        if self.ldl_weight and not self.ema_decay:
            raise ConfigError("ldl_weight needs the EMA generator it compares against: set ema_decay (e.g. 0.999)")
        if self.d_channels <= 0 or self.ldl_ksize < 3 or self.ldl_ksize % 2 == 0:
            raise ConfigError("d_channels must be positive and ldl_ksize odd and >= 3")
        if self.recipe == "srgan" and self.content == "perceptual":
            try:
                parse_layer_weights(self.perceptual_layers)
            except ValueError as e:
                raise ConfigError(f"perceptual_layers: {e}") from None
        for k in ("adv_weight", "pixel_weight", "consistency_weight", "grid_weight", "vgg_scale", "content_weight",
                  "ldl_weight", "chroma_weight"):
            if getattr(self, k) < 0:
                raise ConfigError(f"{k} must be >= 0, got {getattr(self, k)}")
        if self.lr_schedule not in ("constant", "step_half", "cosine", "cosine_restarts"):
            raise ConfigError("lr_schedule must be constant, step_half, cosine or cosine_restarts, "
                              f"got {self.lr_schedule!r}")
        if self.pixel_loss not in ("mse", "l1"):
            raise ConfigError(f"pixel_loss must be mse or l1, got {self.pixel_loss!r}")
        if not 0.0 <= self.ema_decay < 1.0:
            raise ConfigError(f"ema_decay must be in [0, 1), got {self.ema_decay}")
        if self.warmup_steps < 0:
            raise ConfigError(f"warmup_steps must be >= 0, got {self.warmup_steps}")
        if self.restart_every < 0:
            raise ConfigError(f"restart_every must be >= 0, got {self.restart_every}")
        if self.precision not in ("fp32", "bf16", "fp16"):
            raise ConfigError(f"precision must be fp32, bf16 or fp16, got {self.precision!r}")
        if self.generator not in ("srresnet", "compact"):
            raise ConfigError(f"generator must be srresnet or compact, got {self.generator!r}")
        if self.project and self.recipe == "srcnn":
            raise ConfigError("project=true is an SRResNet and CompactSR option (recipe srresnet or srgan); "
                              "SRCNN has none")
        if self.vgg_net not in ("vgg16", "vgg19"):
            raise ConfigError(f"vgg_net must be vgg16 or vgg19, got {self.vgg_net!r}")
        for name in ("batch_size", "max_steps", "hr_crop", "log_every", "ckpt_every", "lr_milestone"):
            if getattr(self, name) <= 0:
                raise ConfigError(f"{name} must be positive, got {getattr(self, name)}")

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


# Recipe defaults that differ from the field defaults above (the papers' values).
RECIPE_DEFAULTS: dict[str, dict[str, Any]] = {
    "srresnet": {},
    "srgan": {
        "max_steps": 200_000,  # paper: 1e5 steps at 1e-4, then 1e5 at 1e-5
        "lr_schedule": "step_half",
    },
    "srcnn": {
        "hr_crop": 33,  # paper: 33x33 sub-images of the bicubic-enlarged image
        "batch_size": 128,  # paper: mini-batch 128
        "max_steps": 1_000_000,
        "lr": 1e-4,  # paper: 1e-4 for the first two layers, 1e-5 for the last
        "channels_last": False,  # small convolutions at batch 128: NCHW is as fast
    },
}


def parse_layer_weights(spec: str) -> dict[str, float]:
    """``"conv1_2:0.1,conv3_3:1"`` -> ``{"conv1_2": 0.1, "conv3_3": 1.0}``."""
    out: dict[str, float] = {}
    for item in filter(None, (t.strip() for t in spec.split(","))):
        name, sep, w = item.partition(":")
        try:
            out[name.strip()] = float(w) if sep else 1.0
        except ValueError:
            raise ValueError(f"perceptual layer weight {item!r}: expected convI_J:WEIGHT") from None
    if not out:
        raise ValueError("no perceptual layers given (expected e.g. 'conv1_2:0.1,conv5_3:1')")
    return out


def _convert(name: str, typ: Any, value: Any) -> Any:
    typ = {"int": int, "float": float, "str": str, "bool": bool}.get(typ, typ) if isinstance(typ, str) else typ
    if isinstance(value, str) and typ is not str:
        s = value.strip()
        if typ is bool:
            if s.lower() in ("1", "true", "yes", "on"):
                return True
            if s.lower() in ("0", "false", "no", "off"):
                return False
            raise ConfigError(f"{name}: expected true/false, got {value!r}")
        try:
            return typ(float(s)) if typ is int and ("e" in s.lower() or "." in s) else typ(s)
        except ValueError:
            raise ConfigError(f"{name}: expected {typ.__name__}, got {value!r}") from None
    if typ is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if typ is int and isinstance(value, float) and value.is_integer():
        return int(value)
    if not isinstance(value, typ) or (typ is int and isinstance(value, bool)):
        raise ConfigError(f"{name}: expected {typ.__name__}, got {value!r}")
    return value


def _apply(cfg: TrainConfig, changes: dict[str, Any], origin: str) -> None:
    fields = {f.name: f for f in dataclasses.fields(TrainConfig)}
    for key, value in changes.items():
        if key not in fields:
            import difflib

            close = difflib.get_close_matches(key, fields, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise ConfigError(f"{origin}: unknown config key {key!r}{hint}")
        setattr(cfg, key, _convert(key, fields[key].type, value))


def load_config_file(path: str | Path) -> dict[str, Any]:
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"config file {path} not found")
    text = path.read_text()
    if path.suffix == ".json":
        data = json.loads(text)
    else:
        try:
            import tomllib
        except ModuleNotFoundError:  # Python 3.10
            import tomli as tomllib  # type: ignore[no-redef]
        data = tomllib.loads(text)
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a table of key = value")
    return data


def parse_overrides(overrides: list[str] | dict[str, Any]) -> dict[str, Any]:
    """``--set key=value`` items as a dict (values stay text; :func:`make_config` converts them);
    a dict is returned as a copy."""
    if isinstance(overrides, dict):
        return dict(overrides)
    pairs = {}
    for item in overrides:
        if "=" not in item:
            raise ConfigError(f"--set expects key=value, got {item!r}")
        k, v = item.split("=", 1)
        pairs[k.strip()] = v
    return pairs


def make_config(recipe: str, config_file: str | Path | None = None,
                overrides: list[str] | dict[str, Any] | None = None) -> TrainConfig:
    """Resolve a config: recipe defaults < config file < overrides (``key=value``)."""
    if recipe not in RECIPES:
        raise ConfigError(f"recipe must be one of {', '.join(RECIPES)}, got {recipe!r}")
    cfg = TrainConfig(recipe=recipe)
    _apply(cfg, RECIPE_DEFAULTS[recipe], "recipe defaults")
    if config_file:
        data = load_config_file(config_file)
        if data.get("recipe", recipe) != recipe:
            raise ConfigError(f"{config_file} is for recipe {data['recipe']!r}, not {recipe!r}")
        _apply(cfg, data, str(config_file))
    if overrides:
        _apply(cfg, parse_overrides(overrides), "overrides" if isinstance(overrides, dict) else "--set")
    cfg.validate()
    return cfg
