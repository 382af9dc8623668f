"""LPIPS perceptual distance, version 0.1, in plain PyTorch.

Reference: R. Zhang, P. Isola, A. A. Efros, E. Shechtman, O. Wang, "The
Unreasonable Effectiveness of Deep Features as a Perceptual Metric", CVPR 2018,
arXiv:1801.03924 (official code: https://github.com/richzhang/PerceptualSimilarity,
the ``lpips`` package).

This module reproduces ``lpips.LPIPS(net="alex" | "vgg", version="0.1")`` with
``normalize=True`` (inputs RGB in [0, 1]) without depending on torchvision:

1. inputs are mapped to [-1, 1], then ``(x - shift) / scale`` with
   ``shift = (-.030, -.088, -.188)`` and ``scale = (.458, .448, .450)``;
2. features are taken after the ReLUs of conv1..conv5 (AlexNet) or at
   relu1_2, relu2_2, relu3_3, relu4_3, relu5_3 (VGG16), with the ImageNet
   weights of torchvision's ``alexnet().features`` / ``vgg16().features``;
3. each feature map is unit-normalised over channels,
   ``f / (sqrt(sum_c f^2) + 1e-10)``;
4. the squared difference of the two normalised maps is weighted per channel by
   the learned linear head (a bias-free 1x1 convolution, ``lin{k}.model.1.weight``;
   preceded by dropout, active in train mode only, as in the official code),
   averaged over space, and summed over the five layers.

Lower is more similar; identical images give exactly 0.

Weights are not bundled. By default they are fetched through the torch hub
cache (``$TORCH_HOME/hub/checkpoints``; the official URLs below, so a cache
that already holds the files needs no network). The heads are looked up as
``$TORCH_HOME/lpips-v0.1/{net}.pth`` first, then downloaded to
``$TORCH_HOME/hub/checkpoints/lpips_v0.1_{net}.pth``. Explicit file paths may be
given instead. When the weights cannot be obtained, :class:`LPIPSUnavailable`
is raised: callers must report the metric as unavailable, never as 0.

Everything is loaded with ``torch.load(..., weights_only=True)``.
"""

from __future__ import annotations

import os
import pickle
from pathlib import Path
from urllib.error import URLError

import numpy as np
import torch
from torch import nn

from .errors import FETCH_WEIGHTS_COMMAND, InputError, ModelError, WeightsUnavailable, torch_home

__all__ = [
    "LPIPS",
    "LPIPSUnavailable",
    "BACKBONE_URLS",
    "HEAD_URLS",
    "lpips_distance",
    "normalize_tensor",
    "clear_cache",
]

#: Official torchvision ImageNet weights (only their ``features.*`` tensors are used).
BACKBONE_URLS: dict[str, str] = {
    "alex": "https://download.pytorch.org/models/alexnet-owt-7be5be79.pth",
    "vgg": "https://download.pytorch.org/models/vgg16-397923af.pth",
}

#: Official LPIPS v0.1 linear heads.
HEAD_URLS: dict[str, str] = {
    "alex": "https://raw.githubusercontent.com/richzhang/PerceptualSimilarity/master/lpips/weights/v0.1/alex.pth",
    "vgg": "https://raw.githubusercontent.com/richzhang/PerceptualSimilarity/master/lpips/weights/v0.1/vgg.pth",
}

_ALIASES = {"alex": "alex", "alexnet": "alex", "vgg": "vgg", "vgg16": "vgg"}

# Channels of the five tapped layers, and the [start, stop) index ranges of
# torchvision's ``features`` Sequential that lead to each tap.
_CHANNELS = {"alex": (64, 192, 384, 256, 256), "vgg": (64, 128, 256, 512, 512)}
_SLICES = {
    "alex": ((0, 2), (2, 5), (5, 8), (8, 10), (10, 12)),
    "vgg": ((0, 4), (4, 9), (9, 16), (16, 23), (23, 30)),
}
# Smallest input side for which every tapped layer is non-empty.
_MIN_SIZE = {"alex": 31, "vgg": 16}

_EPS = 1e-10

_LOAD_ERRORS = (OSError, RuntimeError, EOFError, ValueError, pickle.UnpicklingError, URLError)


class LPIPSUnavailable(WeightsUnavailable):
    """LPIPS weights (backbone or linear heads) cannot be obtained or are invalid.

    Report the metric as unavailable; do not substitute a number.
    """


def _canonical_net(net: str) -> str:
    key = str(net).lower()
    if key not in _ALIASES:
        raise ModelError(f"unknown LPIPS network {net!r}: choose 'alex' (default) or 'vgg'")
    return _ALIASES[key]


def _alexnet_features() -> nn.Sequential:
    """torchvision ``alexnet().features`` (same indices, so the same state-dict keys)."""
    return nn.Sequential(
        nn.Conv2d(3, 64, kernel_size=11, stride=4, padding=2),  # 0
        nn.ReLU(),  # 1  -> tap 1
        nn.MaxPool2d(kernel_size=3, stride=2),  # 2
        nn.Conv2d(64, 192, kernel_size=5, padding=2),  # 3
        nn.ReLU(),  # 4  -> tap 2
        nn.MaxPool2d(kernel_size=3, stride=2),  # 5
        nn.Conv2d(192, 384, kernel_size=3, padding=1),  # 6
        nn.ReLU(),  # 7  -> tap 3
        nn.Conv2d(384, 256, kernel_size=3, padding=1),  # 8
        nn.ReLU(),  # 9  -> tap 4
        nn.Conv2d(256, 256, kernel_size=3, padding=1),  # 10
        nn.ReLU(),  # 11 -> tap 5
        nn.MaxPool2d(kernel_size=3, stride=2),  # 12 (unused)
    )


def _vgg16_features() -> nn.Sequential:
    """torchvision ``vgg16().features`` (same indices, so the same state-dict keys)."""
    cfg = (64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M")
    layers: list[nn.Module] = []
    cin = 3
    for v in cfg:
        if v == "M":
            layers.append(nn.MaxPool2d(kernel_size=2, stride=2))
        else:
            layers += [nn.Conv2d(cin, int(v), kernel_size=3, padding=1), nn.ReLU()]
            cin = int(v)
    return nn.Sequential(*layers)


class _Backbone(nn.Module):
    """The convolutional trunk; returns the five tapped feature maps."""

    def __init__(self, net: str) -> None:
        super().__init__()
        self.features = _alexnet_features() if net == "alex" else _vgg16_features()
        self._slices = _SLICES[net]

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        outs: list[torch.Tensor] = []
        h = x
        for start, stop in self._slices:
            for i in range(start, stop):
                h = self.features[i](h)
            outs.append(h)
        return outs


class _NetLin(nn.Module):
    """Official ``NetLinLayer``: dropout then a bias-free 1x1 conv to one channel."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.model = nn.Sequential(nn.Dropout(), nn.Conv2d(channels, 1, kernel_size=1, stride=1, padding=0, bias=False))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)


def normalize_tensor(feat: torch.Tensor, eps: float = _EPS) -> torch.Tensor:
    """Unit-normalise ``feat`` (N, C, H, W) over channels: ``f / (||f||_2 + eps)``."""
    norm = torch.sqrt(torch.sum(feat * feat, dim=1, keepdim=True))
    return feat / (norm + eps)


def _torch_home() -> Path:
    # Same rule as torch.hub: $TORCH_HOME, else $XDG_CACHE_HOME/torch, else ~/.cache/torch.
    return Path(torch_home())


def _fix_hint(net: str) -> str:
    bb = os.path.basename(BACKBONE_URLS[net])
    return (
        f"Fix: run `{FETCH_WEIGHTS_COMMAND}` (downloads and checks them), or set TORCH_HOME to a folder "
        f"holding hub/checkpoints/{bb} and lpips-v0.1/{net}.pth (TORCH_HOME is now {_torch_home()})."
    )


def _load_file(path: str | os.PathLike, what: str, net: str) -> dict[str, torch.Tensor]:
    p = Path(path).expanduser()
    if not p.is_file():
        raise LPIPSUnavailable(f"LPIPS({net}) unavailable: {what} file {str(p)!r} does not exist. {_fix_hint(net)}")
    try:
        sd = torch.load(p, map_location="cpu", weights_only=True)
    except _LOAD_ERRORS as e:
        raise LPIPSUnavailable(
            f"LPIPS({net}) unavailable: cannot read {what} file {str(p)!r} ({type(e).__name__}: {e}). {_fix_hint(net)}"
        ) from e
    if not isinstance(sd, dict):
        raise LPIPSUnavailable(
            f"LPIPS({net}) unavailable: {what} file {str(p)!r} is not a state dict. {_fix_hint(net)}"
        )
    return sd


# A failed fetch is remembered for the process, so a command that scores many images says it once
# and does not try the network again for every image.
_FAILED: dict[tuple[str, str], "LPIPSUnavailable"] = {}


def _download(url: str, dst: Path, what: str, net: str) -> None:
    """Download ``url`` to ``dst`` quietly (checking the hash prefix in its name, as torch.hub does)."""
    _refuse_offline(net, dst)
    key = (url, str(dst))
    if key in _FAILED:
        raise _FAILED[key]
    m = torch.hub.HASH_REGEX.search(os.path.basename(url))
    try:
        dst.parent.mkdir(parents=True, exist_ok=True)
        torch.hub.download_url_to_file(url, str(dst), hash_prefix=m.group(1) if m else None, progress=False)
    except _LOAD_ERRORS as e:
        reason = getattr(e, "reason", None) or e
        err = LPIPSUnavailable(
            f"LPIPS({net}) unavailable: its {what} weights are missing: {dst.name} is not in {dst.parent} "
            f"and could not be downloaded from {url} ({reason}). {_fix_hint(net)}"
        )
        _FAILED[key] = err
        raise err from e
    import sys

    print(f"fetched {url} into {dst}", file=sys.stderr)


def _refuse_offline(net: str, missing: Path) -> None:
    """Offline mode (--offline / SUPERRES_OFFLINE=1) never downloads: say what fetches the file."""
    from .catalogue import is_offline

    if is_offline() and not missing.is_file():
        raise LPIPSUnavailable(f"LPIPS({net}) unavailable: {missing} is not in the cache and offline mode is on; "
                               f"fetch it where there is network: {FETCH_WEIGHTS_COMMAND}")


def _fetch_backbone(net: str) -> dict[str, torch.Tensor]:
    url = BACKBONE_URLS[net]
    cached = Path(torch.hub.get_dir()) / "checkpoints" / os.path.basename(url)
    if not cached.is_file():
        _download(url, cached, "ImageNet backbone", net)
    return _load_file(cached, "backbone", net)


def _fetch_head(net: str) -> dict[str, torch.Tensor]:
    local = _torch_home() / "lpips-v0.1" / f"{net}.pth"
    if local.is_file():
        return _load_file(local, "LPIPS head", net)
    cached = Path(torch.hub.get_dir()) / "checkpoints" / f"lpips_v0.1_{net}.pth"
    if not cached.is_file():
        _download(HEAD_URLS[net], cached, f"linear-head (looked for {local} first)", net)
    return _load_file(cached, "LPIPS head", net)


def cached_lpips(net: str = "alex") -> "LPIPS | None":
    """An LPIPS model built only from weights already on disk (never downloads).

    For callers that must not touch the network, such as a training loop's
    validation: returns None when the backbone or head weights are not cached.
    """
    net = _canonical_net(net)
    backbone = Path(torch.hub.get_dir()) / "checkpoints" / os.path.basename(BACKBONE_URLS[net])
    heads = [_torch_home() / "lpips-v0.1" / f"{net}.pth",
             Path(torch.hub.get_dir()) / "checkpoints" / f"lpips_v0.1_{net}.pth"]
    head = next((h for h in heads if h.is_file()), None)
    if not backbone.is_file() or head is None:
        return None
    return LPIPS(net, backbone_weights=backbone, head_weights=head)


class LPIPS(nn.Module):
    """LPIPS v0.1 distance between batches of RGB images in [0, 1].

    Args:
        net: ``"alex"`` (default, the variant usually reported) or ``"vgg"``.
        backbone_weights: path to a torchvision-layout state dict of the backbone
            (``features.*`` keys; other keys are ignored). None: the official
            URL through the torch hub cache.
        head_weights: path to the LPIPS v0.1 linear heads (``lin{k}.model.1.weight``).
            None: ``$TORCH_HOME/lpips-v0.1/{net}.pth``, else the hub cache / URL.

    Raises:
        LPIPSUnavailable: the weights cannot be found, downloaded, or loaded.

    The module is created in eval mode with frozen parameters; gradients still
    flow to the inputs, so it can serve as a loss.
    """

    def __init__(
        self,
        net: str = "alex",
        backbone_weights: str | os.PathLike | None = None,
        head_weights: str | os.PathLike | None = None,
    ) -> None:
        super().__init__()
        net = _canonical_net(net)
        self.net_name = net
        self.register_buffer("shift", torch.tensor([-0.030, -0.088, -0.188]).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("scale", torch.tensor([0.458, 0.448, 0.450]).view(1, 3, 1, 1), persistent=False)
        self.net = _Backbone(net)
        chans = _CHANNELS[net]
        self.lin0 = _NetLin(chans[0])
        self.lin1 = _NetLin(chans[1])
        self.lin2 = _NetLin(chans[2])
        self.lin3 = _NetLin(chans[3])
        self.lin4 = _NetLin(chans[4])

        bb = (
            _load_file(backbone_weights, "backbone", net) if backbone_weights is not None else _fetch_backbone(net)
        )
        hd = _load_file(head_weights, "LPIPS head", net) if head_weights is not None else _fetch_head(net)
        self._load_backbone(bb, backbone_weights)
        self._load_heads(hd, head_weights)

        for p in self.parameters():
            p.requires_grad_(False)
        self.eval()

    @property
    def lins(self) -> list[_NetLin]:
        return [self.lin0, self.lin1, self.lin2, self.lin3, self.lin4]

    def _source(self, path: str | os.PathLike | None, url: str) -> str:
        return str(path) if path is not None else url

    def _load_state(self, module: nn.Module, sd: dict[str, torch.Tensor], what: str, source: str) -> None:
        target = module.state_dict()
        missing = sorted(set(target) - set(sd))
        if missing:
            raise LPIPSUnavailable(
                f"LPIPS({self.net_name}) unavailable: {what} weights from {source} lack "
                f"{len(missing)} tensors (e.g. {missing[0]!r}); is this the {self.net_name} file? "
                f"{_fix_hint(self.net_name)}"
            )
        for k, ref in target.items():
            t = sd[k]
            if not isinstance(t, torch.Tensor) or tuple(t.shape) != tuple(ref.shape):
                shape = tuple(t.shape) if isinstance(t, torch.Tensor) else type(t).__name__
                raise LPIPSUnavailable(
                    f"LPIPS({self.net_name}) unavailable: {what} tensor {k!r} from {source} has shape "
                    f"{shape}, expected {tuple(ref.shape)}; is this the {self.net_name} file? "
                    f"{_fix_hint(self.net_name)}"
                )
        module.load_state_dict({k: sd[k].float() for k in target}, strict=True)

    def _load_backbone(self, sd: dict[str, torch.Tensor], path: str | os.PathLike | None) -> None:
        feats = {k: v for k, v in sd.items() if isinstance(k, str) and k.startswith("features.")}
        self._load_state(self.net, feats, "backbone", self._source(path, BACKBONE_URLS[self.net_name]))

    def _load_heads(self, sd: dict[str, torch.Tensor], path: str | os.PathLike | None) -> None:
        heads = {k: v for k, v in sd.items() if isinstance(k, str) and k.startswith("lin")}
        holder = nn.Module()
        for i, lin in enumerate(self.lins):
            holder.add_module(f"lin{i}", lin)
        self._load_state(holder, heads, "LPIPS head", self._source(path, HEAD_URLS[self.net_name]))

    @property
    def min_size(self) -> int:
        """Smallest image side (pixels) the backbone accepts."""
        return _MIN_SIZE[self.net_name]

    def _check(self, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        for name, t in (("x", x), ("y", y)):
            if not isinstance(t, torch.Tensor):
                raise InputError(f"LPIPS input {name} must be a torch.Tensor, got {type(t).__name__}")
        if x.ndim == 3:
            x = x.unsqueeze(0)
        if y.ndim == 3:
            y = y.unsqueeze(0)
        if x.ndim != 4 or x.shape[1] != 3:
            raise InputError(f"LPIPS expects RGB tensors (N, 3, H, W) or (3, H, W) in [0, 1], got {tuple(x.shape)}")
        if x.shape != y.shape:
            raise InputError(f"LPIPS inputs differ in shape: {tuple(x.shape)} vs {tuple(y.shape)}")
        if min(x.shape[2], x.shape[3]) < self.min_size:
            raise InputError(
                f"LPIPS({self.net_name}) needs images at least {self.min_size}x{self.min_size} px, "
                f"got {x.shape[3]}x{x.shape[2]}"
            )
        dtype = self.shift.dtype
        return x.to(dtype), y.to(dtype)

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """LPIPS distance per image: tensor of shape (N,). Inputs RGB in [0, 1]."""
        x, y = self._check(x, y)
        fx = self.net((2 * x - 1 - self.shift) / self.scale)
        fy = self.net((2 * y - 1 - self.shift) / self.scale)
        total = x.new_zeros(x.shape[0])
        for lin, a, b in zip(self.lins, fx, fy):
            d = (normalize_tensor(a) - normalize_tensor(b)) ** 2
            total = total + lin(d).mean(dim=(1, 2, 3))
        return total


_MODELS: dict[tuple[str, str, str], LPIPS] = {}


def clear_cache() -> None:
    """Forget the models built by :func:`lpips_distance`, and failed downloads."""
    _MODELS.clear()
    _FAILED.clear()


def _get_model(net: str) -> LPIPS:
    key = (net, str(_torch_home()), str(torch.hub.get_dir()))
    model = _MODELS.get(key)
    if model is None:
        model = LPIPS(net)
        _MODELS[key] = model
    return model


def _to_tensor(img: torch.Tensor | np.ndarray, name: str) -> torch.Tensor:
    if isinstance(img, torch.Tensor):
        t = img.detach()
        if t.ndim == 4:
            if t.shape[0] != 1:
                raise InputError(f"lpips_distance takes one image, not a batch of {t.shape[0]} ({name})")
            t = t[0]
        if t.ndim != 3 or t.shape[0] != 3:
            raise InputError(
                f"lpips_distance expects a (3, H, W) or (1, 3, H, W) tensor, got {tuple(img.shape)} ({name})"
            )
        return t.float().unsqueeze(0)
    arr = np.asarray(img)
    if arr.ndim != 3 or arr.shape[2] != 3:
        raise InputError(f"lpips_distance expects an H x W x 3 RGB array, got shape {arr.shape} ({name})")
    if arr.dtype == np.uint8:
        f = arr.astype(np.float32) / 255.0
    elif np.issubdtype(arr.dtype, np.floating):
        f = arr.astype(np.float32)
    else:
        raise InputError(f"lpips_distance expects uint8 (0..255) or float (0..1) arrays, got {arr.dtype} ({name})")
    return torch.from_numpy(np.ascontiguousarray(f)).permute(2, 0, 1).unsqueeze(0)


def lpips_distance(a: torch.Tensor | np.ndarray, b: torch.Tensor | np.ndarray, net: str = "alex") -> float:
    """LPIPS v0.1 between two RGB images (lower is more similar).

    ``a`` and ``b`` are (3, H, W) / (1, 3, H, W) tensors in [0, 1], or H x W x 3
    arrays (uint8, or float in [0, 1]). The model is built once per network
    (and weights location) and cached.

    Raises:
        LPIPSUnavailable: the weights cannot be obtained (report "unavailable").
        InputError: the images are unusable (shape, size mismatch, too small).
    """
    net = _canonical_net(net)
    ta, tb = _to_tensor(a, "a"), _to_tensor(b, "b")
    model = _get_model(net)
    device = ta.device
    if model.shift.device != device:
        model.to(device)
    with torch.no_grad():
        return float(model(ta, tb.to(device))[0])
