"""SRGAN losses: VGG content loss and the adversarial terms.

Ledig et al. 2017, eq. (3)-(6): the perceptual loss is the VGG content loss
plus 1e-3 x the adversarial loss. The content loss is the MSE between VGG
feature maps phi_{i,j} (the j-th convolution, after its ReLU, before the i-th
max-pooling) of the SR and HR images, with feature maps scaled by 1/12.75 -- for Caffe's VGG
convention; :data:`superres.training.config.PAPER_VGG_SCALE` is the same scale for torchvision's.

VGG is written here in plain PyTorch (torchvision is not needed); weights are
torchvision's ImageNet weights in its ``vgg{16,19}().features`` layout, fetched
with ``torch.hub.load_state_dict_from_url`` from the official URL (cached under
``$TORCH_HOME/hub/checkpoints``) or read from a path.
"""

from __future__ import annotations

import pickle
import warnings
from pathlib import Path

import torch
from torch import nn
from torch.nn import functional as F

from .config import IMAGENET_STD, PAPER_VGG_SCALE, parse_layer_weights

__all__ = ["VGG_URLS", "VGGFeatures", "VGGTaps", "ContentLoss", "PerceptualLoss", "build_content_loss",
           "generator_adversarial_loss", "discriminator_loss", "ldl_loss", "load_torchvision_features"]

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



def _is_url(text: str) -> bool:
    return text.split("://", 1)[0].lower() in ("http", "https", "file") and "://" in text


def _hub_file(url: str) -> Path:
    """Fetch ``url`` into the torch hub cache (once; hash prefix checked) and return the cached path."""
    cached = Path(torch.hub.get_dir()) / "checkpoints" / Path(url).name
    if not cached.is_file():
        m = torch.hub.HASH_REGEX.search(cached.name)
        cached.parent.mkdir(parents=True, exist_ok=True)
        # no "Downloading:" line first: offline, the only output is the error that says what to do
        torch.hub.download_url_to_file(url, str(cached), hash_prefix=m.group(1) if m else None, progress=True)
    return cached


def load_torchvision_features(url_or_path: str, net: str) -> dict[str, torch.Tensor]:
    """``features.*`` tensors of a torchvision-layout state dict (safe loading only).

    An http(s):// or file:// URL goes through the torch hub cache; anything else is a local file.
    """
    from ..errors import WeightsUnavailable

    if _is_url(url_or_path):
        path = _hub_file(url_or_path)
    else:
        path = Path(url_or_path).expanduser()
        if not path.is_file():
            raise WeightsUnavailable(
                f"vgg_weights={url_or_path}: no such file (give the path of a torchvision {net} state dict "
                f"such as {Path(VGG_URLS.get(net, VGG_URLS['vgg19'])).name}, or leave vgg_weights empty to "
                "use the cache under TORCH_HOME)")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except (OSError, RuntimeError, EOFError, ValueError, pickle.UnpicklingError) as e:
        raise WeightsUnavailable(f"{path}: not a readable {net} state dict ({type(e).__name__}: {e})") from e
    feats = {k: v.float() for k, v in state.items() if k.startswith("features.")} if isinstance(state, dict) else {}
    if not feats:
        raise WeightsUnavailable(f"{path}: no 'features.*' tensors; expected torchvision {net} weights")
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


def _parse_layer(net: str, layer: str) -> tuple[int, int]:
    try:
        bi, ci = (int(s) for s in layer.removeprefix("conv").split("_"))
        _PLANS[net][bi - 1][ci - 1]
        if bi < 1 or ci < 1:
            raise IndexError
    except (ValueError, IndexError):
        raise ValueError(f"{net} has no layer {layer!r} (use convI_J, e.g. conv5_4)") from None
    return bi, ci


class VGGTaps(nn.Module):
    """VGG16/19 trunk returning the feature maps of several ``convI_J`` layers *before* their ReLU.

    ESRGAN (Wang et al. 2018, section 3.3) takes features before activation: after the ReLU most
    deep activations are zero, so the loss is sparse and gives weak, colour-blind gradients.
    """

    def __init__(self, net: str, layers: list[str], state: dict[str, torch.Tensor] | None = None) -> None:
        super().__init__()
        if net not in _PLANS:
            raise ValueError(f"net must be vgg16 or vgg19, got {net!r}")
        wanted = {_parse_layer(net, name): name for name in layers}
        last = max(wanted)
        mods: list[nn.Module] = []
        self._taps: dict[int, str] = {}  # index in self.features of the conv whose output is tapped
        c_in, own_idx = 3, []
        for b, block in enumerate(_PLANS[net], start=1):
            if (b, 1) > last:
                break
            for c, c_out in enumerate(block, start=1):
                if (b, c) > last:
                    break
                own_idx.append(len(mods))
                if (b, c) in wanted:
                    self._taps[len(mods)] = wanted[(b, c)]
                mods += [nn.Conv2d(c_in, c_out, 3, padding=1), nn.ReLU(inplace=False)]
                c_in = c_out
            else:
                mods.append(nn.MaxPool2d(2, 2))
        self.features = nn.Sequential(*mods)
        self.net, self.layers = net, list(layers)
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1), persistent=False)
        if state is not None:
            # torchvision numbers the same Sequential the same way (conv, relu, ..., pool)
            own = self.features.state_dict()
            sub = {k.removeprefix("features."): v for k, v in state.items() if k.removeprefix("features.") in own}
            missing = set(own) - set(sub)
            if missing:
                raise ValueError(f"VGG weights lack {sorted(missing)[:4]} for {net} {layers}")
            self.features.load_state_dict(sub)
        for p in self.parameters():
            p.requires_grad_(False)
        self.eval()

    def train(self, mode: bool = True) -> "VGGTaps":  # always frozen, always eval
        return super().train(False)

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        out: dict[str, torch.Tensor] = {}
        x = (x - self.mean) / self.std
        last = max(self._taps)
        for i, m in enumerate(self.features):
            x = m(x)
            if i in self._taps:
                out[self._taps[i]] = x
            if i == last:  # nothing after the deepest tap is needed
                break
        return out


class PerceptualLoss(nn.Module):
    """Weighted L1 between pre-ReLU VGG feature maps of SR and HR (ESRGAN / Real-ESRGAN).

    Real-ESRGAN weights conv1_2, conv2_2 by 0.1 and conv3_4, conv4_4, conv5_4 by 1 (VGG19); the
    shallow layers carry colour and edges, the deep ones texture.
    """

    def __init__(self, taps: VGGTaps, weights: dict[str, float]) -> None:
        super().__init__()
        self.taps, self.weights = taps, dict(weights)

    def forward(self, sr: torch.Tensor, hr: torch.Tensor) -> torch.Tensor:
        f_sr = self.taps(sr)
        with torch.no_grad():
            f_hr = self.taps(hr)
        return sum(w * F.l1_loss(f_sr[k].float(), f_hr[k].float()) for k, w in self.weights.items())


def build_vgg(net: str, layer: str, weights: str = "") -> tuple[VGGFeatures, str]:
    """VGG trunk with ImageNet weights; falls back from VGG19 to VGG16 conv5_3.

    Returns the module and a description of what was used (for the run record).
    ``weights`` (a path or URL) is used as given, without fallback. Raises
    :class:`~superres.errors.WeightsUnavailable` with one line that says what is
    missing, where it was looked for, and the command that fetches it.
    """
    from urllib.error import URLError

    from ..errors import FETCH_WEIGHTS_COMMAND, WeightsUnavailable

    if weights:
        state = load_torchvision_features(weights, net)
        return VGGFeatures(net, layer, state), f"{net} {layer} from {weights}"
    tried = []
    candidates = [(net, layer, VGG_URLS[net])]
    if net == "vgg19":
        candidates.append(("vgg16", "conv5_3", VGG_URLS["vgg16"]))
    for n, l, src in candidates:
        try:
            state = load_torchvision_features(src, n)
        except (URLError, OSError, RuntimeError, WeightsUnavailable) as e:  # offline, or a damaged cache
            tried.append((n, Path(src).name, getattr(e, "reason", None) or e))
            continue
        if n != net:
            warnings.warn(f"VGG19 weights unavailable ({tried[-1][2]}); using VGG16 {l} instead", stacklevel=2)
        return VGGFeatures(n, l, state), f"{n} {l} from {src}"
    files = " and ".join(name for _, name, _ in tried)
    raise WeightsUnavailable(
        f"no ImageNet VGG weights for the SRGAN content loss: {files} not in "
        f"{Path(torch.hub.get_dir()) / 'checkpoints'} (TORCH_HOME) and the download failed ({tried[-1][2]}). "
        f"Fix: run `{FETCH_WEIGHTS_COMMAND}`, set TORCH_HOME to a folder holding them, "
        "or --set vgg_weights=PATH")


class ContentLoss(nn.Module):
    """MSE between scaled VGG feature maps of SR and HR (paper eq. 5)."""

    def __init__(self, vgg: VGGFeatures, scale: float = PAPER_VGG_SCALE) -> None:
        super().__init__()
        self.vgg, self.scale = vgg, scale

    def forward(self, sr: torch.Tensor, hr: torch.Tensor) -> torch.Tensor:
        f_sr = self.vgg(sr) * self.scale
        with torch.no_grad():
            f_hr = self.vgg(hr) * self.scale
        return F.mse_loss(f_sr.float(), f_hr.float())


def build_content_loss(cfg) -> tuple[nn.Module, str]:
    """An SRGAN config's content loss (``content``: the paper's scaled VGG MSE or the multi-layer
    perceptual L1) with its VGG trunk cut at the deepest layer it reads, and a description of the VGG
    used (for the run record). On the CPU; the caller moves it."""
    if cfg.content == "perceptual":
        layer_w = parse_layer_weights(cfg.perceptual_layers)
        deepest = max(layer_w, key=lambda name: tuple(int(t) for t in name.removeprefix("conv").split("_")))
        vgg, vgg_used = build_vgg(cfg.vgg_net, deepest, cfg.vgg_weights)  # resolves and loads the weights once
        taps = VGGTaps(vgg.net, list(layer_w), {"features." + k: v for k, v in vgg.features.state_dict().items()})
        return PerceptualLoss(taps, layer_w), vgg_used + f" (pre-ReLU taps {cfg.perceptual_layers}, L1)"
    vgg, vgg_used = build_vgg(cfg.vgg_net, cfg.vgg_layer, cfg.vgg_weights)
    return ContentLoss(vgg, cfg.vgg_scale), vgg_used


def _bce(logits: torch.Tensor, target: float) -> torch.Tensor:
    logits = logits.float()
    return F.binary_cross_entropy_with_logits(logits, torch.full_like(logits, target))


def generator_adversarial_loss(fake_logits: torch.Tensor, real_logits: torch.Tensor | None = None,
                               kind: str = "standard") -> torch.Tensor:
    """The generator's adversarial loss.

    ``standard``: -log D(G(LR)) averaged, in the stable form softplus(-logit) (paper eq. 6).
    ``ragan``: the relativistic average loss of ESRGAN (eq. 2): the generator wants its output to
    look *more real than the average real image* and real images less real than the average fake,
    so it gets gradients from both (``real_logits`` must be given, detached).
    """
    if kind == "ragan":
        if real_logits is None:
            raise ValueError("the relativistic loss needs the real images' logits")
        real_logits = real_logits.detach().float()
        return (_bce(real_logits - fake_logits.float().mean(), 0.0)
                + _bce(fake_logits.float() - real_logits.mean(), 1.0)) / 2
    return F.softplus(-fake_logits.float()).mean()


def discriminator_loss(real_logits: torch.Tensor, fake_logits: torch.Tensor, kind: str = "standard") -> torch.Tensor:
    """``standard``: BCE with real HR as 1 and (detached) SR as 0: -log D(HR) - log(1 - D(SR)).
    ``ragan``: is real more real than the average fake, and fake less real than the average real."""
    if kind == "ragan":
        r, f = real_logits.float(), fake_logits.float()
        return (_bce(r - f.mean(), 1.0) + _bce(f - r.mean(), 0.0)) / 2
    return _bce(real_logits, 1.0) + _bce(fake_logits, 0.0)


def ldl_loss(sr: torch.Tensor, hr: torch.Tensor, sr_ema: torch.Tensor, ksize: int = 7) -> torch.Tensor:
    """LDL artefact loss (Liang et al., "Details or Artifacts", CVPR 2022, eq. 3-7).

    GAN artefacts are where the residual |HR - SR| is large *and* locally irregular. The weight map
    is the residual's local variance (``ksize`` window) times the patch's residual variance^(1/5),
    kept only where the training generator is worse than its EMA (the stable model): real texture
    that the EMA also produces is left alone, unstable high-frequency noise is penalised. The loss
    is L1 between the weighted SR and weighted HR.
    """
    sr32, hr32 = sr.float(), hr.float()
    with torch.no_grad():
        res_sr = (hr32 - sr32).abs().sum(1, keepdim=True)
        res_ema = (hr32 - sr_ema.float()).abs().sum(1, keepdim=True)
        patch_w = res_sr.var(dim=(-1, -2, -3), keepdim=True) ** 0.2
        pad = (ksize - 1) // 2
        unfolded = F.pad(res_sr, (pad, pad, pad, pad), mode="reflect").unfold(2, ksize, 1).unfold(3, ksize, 1)
        pixel_w = unfolded.var(dim=(-1, -2))  # (N, 1, H, W), unbiased as in the paper's code
        weight = patch_w * pixel_w
        weight = torch.where(res_sr < res_ema, torch.zeros_like(weight), weight)
    return F.l1_loss(weight * sr32, weight * hr32)


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


def chroma_loss(sr: torch.Tensor, hr: torch.Tensor) -> torch.Tensor:
    """L1 between the two chroma channels (green-magenta, red-blue: :data:`superres.artefacts.OPPONENT`)
    of the output and the reference, in [0, 1] units.

    Luma is left free (the detail the GAN adds is there); colour detail finer than the input's,
    which photographs hold little of and which a GAN paints as pink/green and red/blue fringes
    (the artefact test's ``chroma``), is pulled toward the reference's.
    """
    from ..artefacts import OPPONENT

    m = torch.as_tensor(OPPONENT[1:], dtype=torch.float32, device=sr.device)
    d = torch.einsum("ij,bjhw->bihw", m, sr.float() - hr.float())
    return d.abs().mean()
