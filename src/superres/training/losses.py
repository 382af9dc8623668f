"""SRGAN losses: VGG content loss and the adversarial terms.

Ledig et al. 2017, eq. (3)-(6): the perceptual loss is the VGG content loss
plus 1e-3 x the adversarial loss. The content loss is the MSE between VGG
feature maps phi_{i,j} (the j-th convolution, after its ReLU, before the i-th
max-pooling) of the SR and HR images, with feature maps scaled by 1/12.75.

VGG is written here in plain PyTorch (torchvision is not needed); weights are
torchvision's ImageNet weights in its ``vgg{16,19}().features`` layout, fetched
with ``torch.hub.load_state_dict_from_url`` from the official URL (cached under
``$TORCH_HOME/hub/checkpoints``) or read from a path.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import torch
from torch import nn
from torch.nn import functional as F

__all__ = ["VGG_URLS", "VGGFeatures", "ContentLoss", "generator_adversarial_loss",
           "discriminator_loss", "load_torchvision_features"]

VGG_URLS = {
    "vgg16": "https://download.pytorch.org/models/vgg16-397923af.pth",
    "vgg19": "https://download.pytorch.org/models/vgg19-dcbb9e9d.pth",
}
# conv channel plan per block ("M" = max-pool), as in Simonyan & Zisserman 2015
_PLANS = {
    "vgg16": [[64, 64], [128, 128], [256, 256, 256], [512, 512, 512], [512, 512, 512]],
    "vgg19": [[64, 64], [128, 128], [256] * 4, [512] * 4, [512] * 4],
}
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def load_torchvision_features(url_or_path: str, net: str) -> dict[str, torch.Tensor]:
    """``features.*`` tensors of a torchvision-layout state dict (safe loading only)."""
    if Path(url_or_path).is_file():
        state = torch.load(url_or_path, map_location="cpu", weights_only=True)
    else:
        state = torch.hub.load_state_dict_from_url(url_or_path, map_location="cpu",
                                                   check_hash=True, weights_only=True, progress=False)
    feats = {k: v.float() for k, v in state.items() if k.startswith("features.")}
    if not feats:
        raise ValueError(f"{url_or_path}: no 'features.*' tensors; expected torchvision {net} weights")
    return feats


class VGGFeatures(nn.Module):
    """VGG16/19 convolutional trunk up to (and including the ReLU of) ``layer``.

    ``layer`` is ``convI_J``, e.g. ``conv5_4`` (VGG19, the paper) or ``conv5_3``
    (VGG16). Input: RGB in [0, 1]; ImageNet normalisation is applied inside.
    """

    def __init__(self, net: str = "vgg19", layer: str = "conv5_4",
                 state: dict[str, torch.Tensor] | None = None) -> None:
        super().__init__()
        if net not in _PLANS:
            raise ValueError(f"net must be vgg16 or vgg19, got {net!r}")
        try:
            bi, ci = (int(s) for s in layer.removeprefix("conv").split("_"))
            _PLANS[net][bi - 1][ci - 1]
        except (ValueError, IndexError):
            raise ValueError(f"{net} has no layer {layer!r} (use convI_J, e.g. conv5_4)") from None
        layers: list[nn.Module] = []
        c_in = 3
        for b, block in enumerate(_PLANS[net], start=1):
            for c, c_out in enumerate(block, start=1):
                layers += [nn.Conv2d(c_in, c_out, 3, padding=1), nn.ReLU(inplace=False)]
                c_in = c_out
                if (b, c) == (bi, ci):
                    break
            else:
                layers.append(nn.MaxPool2d(2, 2))
                continue
            break
        self.features = nn.Sequential(*layers)
        self.net, self.layer = net, layer
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1), persistent=False)
        if state is not None:
            own = self.features.state_dict()
            sub = {k.removeprefix("features."): v for k, v in state.items()
                   if k.removeprefix("features.") in own}
            missing = set(own) - set(sub)
            if missing:
                raise ValueError(f"VGG weights lack {sorted(missing)[:4]} for {net} {layer}")
            self.features.load_state_dict(sub)
        for p in self.parameters():
            p.requires_grad_(False)
        self.eval()

    def train(self, mode: bool = True) -> "VGGFeatures":  # always frozen, always eval
        return super().train(False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.features((x - self.mean) / self.std)


def build_vgg(net: str, layer: str, weights: str = "") -> tuple[VGGFeatures, str]:
    """VGG trunk with ImageNet weights; falls back from VGG19 to VGG16 conv5_3.

    Returns the module and a description of what was used (for the run record).
    """
    tried = []
    candidates = [(net, layer, weights or VGG_URLS[net])]
    if net == "vgg19" and not weights:
        candidates.append(("vgg16", "conv5_3", VGG_URLS["vgg16"]))
    for n, l, src in candidates:
        try:
            state = load_torchvision_features(src, n)
            if n != net:
                warnings.warn(f"VGG19 weights unavailable ({tried[-1]}); using VGG16 {l} instead",
                              stacklevel=2)
            return VGGFeatures(n, l, state), f"{n} {l} from {src}"
        except Exception as e:  # noqa: BLE001 - network/cache failures: try the next candidate
            tried.append(f"{n}: {type(e).__name__}: {e}")
    raise RuntimeError("no VGG weights for the content loss: " + "; ".join(tried) +
                       ". Set TORCH_HOME to a cache holding them or pass vgg_weights=PATH.")


class ContentLoss(nn.Module):
    """MSE between scaled VGG feature maps of SR and HR (paper eq. 5)."""

    def __init__(self, vgg: VGGFeatures, scale: float = 1 / 12.75) -> None:
        super().__init__()
        self.vgg, self.scale = vgg, scale

    def forward(self, sr: torch.Tensor, hr: torch.Tensor) -> torch.Tensor:
        f_sr = self.vgg(sr) * self.scale
        with torch.no_grad():
            f_hr = self.vgg(hr) * self.scale
        return F.mse_loss(f_sr.float(), f_hr.float())


def generator_adversarial_loss(fake_logits: torch.Tensor) -> torch.Tensor:
    """-log D(G(LR)) averaged, in the stable form softplus(-logit) (paper eq. 6)."""
    return F.softplus(-fake_logits.float()).mean()


def discriminator_loss(real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
    """BCE with real HR as 1 and (detached) SR as 0: -log D(HR) - log(1 - D(SR))."""
    real = F.binary_cross_entropy_with_logits(real_logits.float(), torch.ones_like(real_logits.float()))
    fake = F.binary_cross_entropy_with_logits(fake_logits.float(), torch.zeros_like(fake_logits.float()))
    return real + fake


def grid_loss(sr: torch.Tensor, hr: torch.Tensor, scale: int) -> torch.Tensor:
    """How much of the error repeats with the ``scale`` x ``scale`` sub-pixel grid.

    A xs generator paints each LR pixel as an s x s block. The error (SR - HR) is
    averaged over all blocks of each image, separately for each of the s*s positions in
    the block and each channel; the loss is the mean squared deviation of those s*s
    means from their own average. A texture invented in the right places averages out
    over an image's blocks; a pattern tied to the block grid (the checkerboard GAN
    training grows through PixelShuffle) does not, and is what this penalises.
    """
    n, c, h, w = sr.shape
    h, w = h - h % scale, w - w % scale
    e = (sr[..., :h, :w].float() - hr[..., :h, :w].float())
    phases = F.pixel_unshuffle(e, scale).view(n, c, scale * scale, -1).mean(-1)  # (n, c, s*s)
    return (phases - phases.mean(-1, keepdim=True)).pow(2).mean()
