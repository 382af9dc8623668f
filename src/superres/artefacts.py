"""Artefacts a viewer sees in a x4 upscale, measured against the reference image.

Three figures, all in 8-bit levels (0-255), all computed from the *difference between the
output and the reference*, so that real texture (present in the reference) is not counted:

``grid``
    Periodic energy tied to the x4 pixel grid. A x4 network paints every low-resolution pixel
    as a 4x4 block; when the 16 positions of the block are treated differently the output
    carries stripes (period 2 or 4 px across), hatching (the same along the other axis) or a
    dot grid, i.e. spectral peaks at the multiples of 1/4 cycle/px. In every window
    (32x32 px, Hann taper, half overlap) and every channel we take the output's power spectrum
    minus the reference's, bin by bin, and around each of the 15 non-zero grid frequencies
    (3x3 bins, +-1/32 cycle/px) keep what stands above 1.5 times the level beside it (the same
    3x3 shape 3 bins away on both sides, along whichever of four directions is highest).
    Texture the reference has cancels in the difference; texture the output invents without a
    tie to the grid (a GAN's detail, noise) raises the level beside a grid frequency as much as
    on it; the error along an edge runs through a grid frequency as a ridge and is as high
    on the two sides along the ridge. A pattern tied to the grid is a peak above all of them.
    The figure is the square root of the summed peaks: rms levels of periodic pattern.

``chroma``
    Colour detail the reference does not have. Upsampling puts copies ("images") of the
    low-resolution spectrum around the multiples of 1/4 cycle/px; a grid pattern whose
    strength follows the picture (beaded dots along edges, fringes on bark) spreads into
    these 15 imaging bands rather than onto the exact grid frequencies. Natural photographs
    hold little colour at such fine scales, so in the two chroma channels any excess over the
    reference in a band is an artefact a viewer sees as pink/green or red/blue fringes. Per
    window: square root of the summed per-band excess (rms levels). Luma is left out here on
    purpose: extra luma detail is what a GAN is for (and MSE models' ringing lands there too).

``colour``
    Colour fidelity on flat colours and on grey (grey text on grey ground): in every 16x16
    patch where the reference is flat or grey (and 8 px around it), the mean error of each RGB
    channel minus the mean over the three channels (a neutral brightness change is not a colour
    shift); the figure is the largest absolute value, levels. Grey 137/137/137 becoming
    132/151/137 reads 11.

Channels: luma ``(R+G+B)/3``, green-magenta ``G-(R+B)/2`` and red-blue ``R-B``; the three
are a fixed invertible transform of RGB, so a fringe in any RGB channel is seen, and the two
chroma channels isolate colour from the much stronger luma texture.

Windows make the figures local: each window's spectra are averaged with its 5x5 neighbours'
(Welch; a 96x96 px region) so that one noisy spectrum does not read as a pattern, and an
image's figure is a high percentile (``q``, default 95) over its windows, so a striped region
covering 5% of a clean picture still sets it. The
per-window maps are returned too (see :class:`ArtefactMap`) for finding and cropping the worst
windows.

Everything here is NumPy; no model or weights are needed. See ``benchmarks/artefacts.py`` for
the figures of the shipped models and ``tests/test_pretrained.py`` for the test that runs
them on images it makes (:func:`synthetic_scenes`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

__all__ = ["ArtefactMap", "ArtefactReport", "Thresholds", "THRESHOLDS", "CHANNELS", "OPPONENT", "opponent", "artefact_map",
           "colour_shift", "measure", "synthetic_scenes", "add_grid_pattern"]

#: names of the three analysis channels (see the module docstring)
CHANNELS = ("luma", "green-magenta", "red-blue")

#: rows give luma, green-magenta and red-blue from R, G, B (the training's chroma loss uses it too)
OPPONENT = np.array([[1 / 3, 1 / 3, 1 / 3], [-0.5, 1.0, -0.5], [1.0, 0.0, -1.0]])


@dataclass(frozen=True)
class Thresholds:
    """Largest figures (levels) a clean x4 upscale shows.

    Set with about 2x room over the worst clean upscaler (bicubic, srresnet-x4, srcnn-x4) on the
    two sets of ``benchmarks/artefacts.py``: 18 texture-rich 384x384 crops of the training
    photos and :func:`synthetic_scenes`. Clean worst: grid 0.35 (bicubic), chroma 1.03
    (srresnet-x4), colour 1.13 levels (srresnet-x4). The shipped GANs of 2026-11-29 (srgan-x4 /
    srgan-x4-fast), whose green-magenta fringes and pink/green dots are plain at 4x nearest, read
    chroma 5.96 / 14.79 on the photos and 2.71 / 6.11 on the synthetic scenes. Not tuned on
    Set5/Set14.
    """

    grid: float = 0.7
    chroma: float = 2.0
    colour: float = 3.0

    def failures(self, r: "ArtefactReport") -> list[str]:
        """One line per figure over its threshold (empty when clean)."""
        out = []
        if r.grid > self.grid:
            out.append(f"grid pattern {r.grid:.2f} > {self.grid} levels (worst in {r.grid_channel})")
        if r.chroma > self.chroma:
            out.append(f"chroma excess {r.chroma:.2f} > {self.chroma} levels")
        if r.colour > self.colour:
            out.append(f"colour shift {r.colour:.2f} > {self.colour} levels on flat areas")
        return out


THRESHOLDS = Thresholds()


def opponent(rgb: np.ndarray) -> np.ndarray:
    """(H, W, 3) RGB (any numeric dtype, levels) -> float64 luma, green-magenta, red-blue."""
    a = np.asarray(rgb, dtype=np.float64)
    if a.ndim != 3 or a.shape[2] != 3:
        raise ValueError(f"expected an (H, W, 3) RGB array, got shape {a.shape}")
    return a @ OPPONENT.T


@dataclass
class ArtefactMap:
    """Per-window figures of one output against its reference.

    ``grid``: (ny, nx, 3) rms levels per window and channel (:data:`CHANNELS`);
    ``chroma``: (ny, nx) rms levels per window (both chroma channels together);
    window ``i, j`` covers rows
    ``border + i*stride ...`` + ``window`` and columns likewise.
    """

    grid: np.ndarray
    chroma: np.ndarray
    window: int
    stride: int
    border: int

    def origin(self, i: int, j: int) -> tuple[int, int]:
        """Top-left (row, column) of window (i, j) in the full image."""
        return self.border + i * self.stride, self.border + j * self.stride

    def score(self) -> np.ndarray:
        """(ny, nx) one number per window: the larger of its grid and chroma figures, each
        relative to its threshold (> 1 is over)."""
        return np.maximum(self.grid.max(axis=2) / THRESHOLDS.grid, self.chroma / THRESHOLDS.chroma)


def _bands(window: int, scale: int) -> np.ndarray:
    """Band index (w, w) of every bin of a ``window``-px spectrum: 0 for the low-resolution
    passband, k > 0 for the bins nearest to the k-th non-zero multiple of 1/scale cycle/px."""
    k = np.rint(np.fft.fftfreq(window) * scale).astype(int) % scale
    return k[:, None] * scale + k[None, :]


def _peaks(window: int, scale: int, reach: int = 3) -> tuple[np.ndarray, np.ndarray]:
    """Flat bin indices of the 3x3 bins around each non-zero grid frequency, (P, 9), and of the
    same 3x3 shape moved ``reach`` bins away on both sides along four directions (P, 4, 2, 9)."""
    step = window // scale
    off = np.array([(dy, dx) for dy in (-1, 0, 1) for dx in (-1, 0, 1)])
    centres = [(ky * step, kx * step) for ky in range(scale) for kx in range(scale) if ky or kx]
    dirs = [(1, 0), (0, 1), (1, 1), (1, -1)]

    def flat(cy, cx):
        return ((cy + off[:, 0]) % window) * window + (cx + off[:, 1]) % window

    peak = np.array([flat(cy, cx) for cy, cx in centres])
    side = np.array([[[flat(cy + sg * reach * dy, cx + sg * reach * dx) for sg in (-1, 1)] for dy, dx in dirs]
                     for cy, cx in centres])
    return peak, side


def artefact_map(sr: np.ndarray, ref: np.ndarray, *, scale: int = 4, window: int = 32, stride: int | None = None,
                 border: int | None = None, pool: int = 5) -> ArtefactMap:
    """Window-by-window grid and chroma figures of ``sr`` against ``ref`` (both (H, W, 3), levels).

    ``window`` must be a multiple of ``scale`` and at least 8 * ``scale``; ``stride`` defaults to
    half a window; ``border`` (default 2 * ``scale``) px are left out on every side, where
    networks see zero padding; ``pool``: each window's spectra are averaged with its
    ``pool`` x ``pool`` neighbours' (5: a 96x96 px region for the defaults), which keeps random
    texture from reading as a pattern by chance.
    """
    sr, ref = np.asarray(sr), np.asarray(ref)
    if sr.shape != ref.shape:
        raise ValueError(f"output and reference differ in size: {sr.shape} vs {ref.shape}")
    if window % scale or window < 8 * scale:
        raise ValueError(f"window ({window}) must be a multiple of the scale ({scale}) and at least {8 * scale}")
    stride = stride or window // 2
    border = 2 * scale if border is None else border
    inner = (slice(border, sr.shape[0] - border), slice(border, sr.shape[1] - border))
    a, b = opponent(sr)[inner], opponent(ref)[inner]
    h, w = a.shape[:2]
    if h < window or w < window:
        raise ValueError(f"image too small for one {window}x{window} window after a {border}px border: {sr.shape[:2]}")
    ny, nx = (h - window) // stride + 1, (w - window) // stride + 1
    taper = np.outer(np.hanning(window), np.hanning(window))
    norm = (taper ** 2).sum() * window * window  # power spectrum summing to the window's mean square
    band = _bands(window, scale)
    bands = [band == k for k in range(1, scale * scale)]
    peak, side = _peaks(window, scale)
    d_peak = np.zeros((ny, nx, 3, len(peak)))  # output's power beyond the reference's around each grid frequency
    d_side = np.zeros((ny, nx, 3, len(peak), 4))  # ... beside it: mean of the two sides, per direction
    d_band = np.zeros((ny, nx, 2, len(bands)))  # output's chroma power beyond the reference's, per band
    view = np.lib.stride_tricks.sliding_window_view
    for i in range(ny):  # one row of windows at a time bounds memory on big images
        rows = slice(i * stride, i * stride + window)
        pa = _power(view(a[rows], (window, window), axis=(0, 1))[0, ::stride][:nx], taper, norm)  # (nx, 3, w, w)
        pb = _power(view(b[rows], (window, window), axis=(0, 1))[0, ::stride][:nx], taper, norm)
        d = pa - pb  # the output's power beyond the reference's, bin by bin
        df = d.reshape(d.shape[0], 3, -1)
        d_peak[i] = df[..., peak].sum(-1)
        d_side[i] = df[..., side].sum(-1).mean(-1)
        d_band[i] = np.stack([d[:, 1:, m].sum(-1) for m in bands], -1)
    # Welch: average the (linear) power differences over each window's pool x pool neighbours
    # before the non-linear steps, so one noisy spectrum does not read as a pattern
    d_peak, d_side, d_band = (_pool(x, pool) for x in (d_peak, d_side, d_band))
    # a peak is what stands above the level on both sides of it in every direction (1.5x: the
    # pooled estimates still vary by about a third): an edge's error runs through a grid
    # frequency as a ridge (high on the two sides along it), invented texture is level all round
    grid = np.sqrt(np.maximum(d_peak - 1.5 * np.maximum(d_side.max(-1), 0.0), 0.0).sum(-1))
    chroma = np.sqrt(np.maximum(d_band, 0.0).sum(axis=(-2, -1)))
    return ArtefactMap(grid, chroma, window, stride, border)


def _pool(x: np.ndarray, k: int) -> np.ndarray:
    """Mean over the k x k neighbourhood in the first two axes (shrinking at the edges)."""
    if k <= 1:
        return x
    r = k // 2
    c = np.cumsum(np.cumsum(np.pad(x, [(1, 0), (1, 0)] + [(0, 0)] * (x.ndim - 2)), 0), 1)
    ny, nx = x.shape[:2]
    y0, y1 = np.clip(np.arange(ny) - r, 0, ny), np.clip(np.arange(ny) + r + 1, 0, ny)
    x0, x1 = np.clip(np.arange(nx) - r, 0, nx), np.clip(np.arange(nx) + r + 1, 0, nx)
    s = c[y1][:, x1] - c[y0][:, x1] - c[y1][:, x0] + c[y0][:, x0]
    n = ((y1 - y0)[:, None] * (x1 - x0)[None, :]).reshape((ny, nx) + (1,) * (x.ndim - 2))
    return s / n


def _power(v: np.ndarray, taper: np.ndarray, norm: float) -> np.ndarray:
    """Tapered power spectra of windows (..., C, w, w), mean removed, normalised to mean square."""
    v = v - v.mean(axis=(-2, -1), keepdims=True)
    return np.abs(np.fft.fft2(v * taper)) ** 2 / norm


def colour_shift(sr: np.ndarray, ref: np.ndarray, *, patch: int = 16, margin: int = 8, flat: float = 2.0,
                 border: int = 8) -> float:
    """Largest colour shift (levels) on flat areas of ``ref``: see the module docstring.

    A ``patch`` x ``patch`` patch counts when the reference is flat there and ``margin`` px around
    it (every RGB channel's standard deviation at most ``flat`` levels), so that the blur of a
    nearby coloured edge is not taken for a shift, or when the reference is grey there and
    around it (every pixel's channels within ``flat`` levels of each other: grey text on a grey
    ground must stay grey however sharp it is); 0.0 when the reference has no such patch."""
    sr, ref = np.asarray(sr, dtype=np.float64), np.asarray(ref, dtype=np.float64)
    if sr.shape != ref.shape:
        raise ValueError(f"output and reference differ in size: {sr.shape} vs {ref.shape}")
    h, w = sr.shape[:2]
    worst = 0.0
    span = patch + 2 * margin
    for y in range(border, h - border - span + 1, patch):
        for x in range(border, w - border - span + 1, patch):
            r = ref[y:y + span, x:x + span]
            r = r.reshape(-1, r.shape[-1])
            if r.std(axis=0).max() > flat and (r.max(axis=1) - r.min(axis=1)).max() > flat:
                continue
            inner = (slice(y + margin, y + margin + patch), slice(x + margin, x + margin + patch))
            m = (sr[inner] - ref[inner]).reshape(-1, sr.shape[-1]).mean(axis=0)  # mean error per channel
            worst = max(worst, float(np.abs(m - m.mean()).max()))
    return worst


@dataclass
class ArtefactReport:
    """Figures of one output (or a set of outputs pooled) against the reference(s)."""

    grid: float  # levels, q-th percentile over windows of the worst channel's grid figure
    grid_channel: str  # the channel where the grid figure is largest
    chroma: float  # levels, q-th percentile over windows
    colour: float  # levels, largest flat-area colour shift
    windows: int  # how many windows the percentiles are over
    maps: list[ArtefactMap] = field(default_factory=list, repr=False)

    def failures(self, thresholds: Thresholds = THRESHOLDS) -> list[str]:
        return thresholds.failures(self)

    def as_dict(self) -> dict:
        return {"grid": self.grid, "grid_channel": self.grid_channel, "chroma": self.chroma,
                "colour": self.colour, "windows": self.windows}


def measure(pairs, *, scale: int = 4, q: float = 95.0, window: int = 32) -> ArtefactReport:
    """Pool ``(output, reference)`` pairs (one pair or an iterable of them) into one report.

    Percentiles are over all windows of all pairs, so a pattern that covers a part of one
    picture still counts; ``colour`` is the largest over the pairs."""
    if isinstance(pairs, tuple) and len(pairs) == 2 and isinstance(pairs[0], np.ndarray):
        pairs = [pairs]
    maps, colours = [], []
    for sr, ref in pairs:
        maps.append(artefact_map(sr, ref, scale=scale, window=window))
        colours.append(colour_shift(sr, ref))
    if not maps:
        raise ValueError("no images to measure")
    grid = np.concatenate([m.grid.reshape(-1, 3) for m in maps])
    chroma = np.concatenate([m.chroma.ravel() for m in maps])
    per_channel = np.percentile(grid, q, axis=0)
    return ArtefactReport(grid=float(np.percentile(grid.max(axis=1), q)),
                          grid_channel=CHANNELS[int(per_channel.argmax())], chroma=float(np.percentile(chroma, q)),
                          colour=float(max(colours)), windows=len(chroma), maps=maps)


# --- images to test with ----------------------------------------------------------------------

def _noise_texture(rng: np.random.Generator, size: int, slope: float, aniso: tuple[float, float] = (1.0, 1.0),
                   angle: float = 0.0) -> np.ndarray:
    """Random-phase texture with a 1/f^slope spectrum (optionally stretched and rotated), zero mean,
    unit standard deviation."""
    fy, fx = np.meshgrid(np.fft.fftfreq(size), np.fft.fftfreq(size), indexing="ij")
    c, s = np.cos(angle), np.sin(angle)
    u, v = (c * fx + s * fy) * aniso[0], (-s * fx + c * fy) * aniso[1]
    r = np.sqrt(u * u + v * v)
    amp = np.where(r > 0, (r + 1.0 / size) ** -slope, 0.0)
    t = np.fft.ifft2(amp * np.exp(2j * np.pi * rng.random((size, size)))).real
    return (t - t.mean()) / (t.std() + 1e-12)


def synthetic_scenes(size: int = 192, seed: int = 0) -> dict[str, np.ndarray]:
    """Reference images (uint8 RGB, ``size`` px square) a clean x4 upscale must not spoil.

    * ``bark``: strongly oriented, coloured 1/f texture with hard ridges (bark, wood grain);
    * ``water``: horizontal ripples with bright glints on a blue-green ground;
    * ``fur``: fine directional strands over a brown gradient;
    * ``edges``: coloured disks and bars on a graded background (sharp edges in every direction);
    * ``flat``: flat colour patches, including mid grey;
    * ``text``: grey (137, 137, 137) text and lines on a light flat ground, like the GIF whose grey
      turned green.

    The same ``seed`` gives the same images on every machine (NumPy's PCG64)."""
    from PIL import Image, ImageDraw

    rng = np.random.default_rng(seed)
    n = size
    yy, xx = np.mgrid[0:n, 0:n] / n
    out: dict[str, np.ndarray] = {}

    t = _noise_texture(rng, n, 1.2, (1.0, 6.0), 0.3)
    ridges = np.tanh(2.5 * t)
    base = np.stack([110 + 35 * ridges, 85 + 30 * ridges, 60 + 25 * ridges], -1)
    base += 12 * _noise_texture(rng, n, 1.6)[..., None]
    out["bark"] = base

    t = _noise_texture(rng, n, 1.4, (3.0, 0.25), 0.0)
    glint = np.clip(t - 1.6, 0, None) * 90
    out["water"] = np.stack([40 + 18 * t + glint, 95 + 22 * t + glint, 120 + 25 * t + glint], -1)

    t = _noise_texture(rng, n, 0.9, (1.0, 10.0), 1.1)
    g = 0.6 + 0.4 * yy
    out["fur"] = np.stack([(150 + 40 * t) * g, (105 + 32 * t) * g, (70 + 22 * t) * g], -1)

    px = np.stack([60 + 120 * xx, 90 + 60 * yy, 160 - 80 * xx], -1)
    im = Image.fromarray(px.clip(0, 255).astype(np.uint8))
    d = ImageDraw.Draw(im)
    for _ in range(7):
        x0, y0 = (int(v) for v in rng.integers(0, n - 30, 2))
        r = int(rng.integers(10, 40))
        colour = tuple(int(c) for c in rng.integers(20, 236, 3))
        if rng.random() < 0.5:
            d.ellipse([x0, y0, x0 + r, y0 + r], fill=colour)
        else:
            d.polygon([(x0, y0), (x0 + r, y0 + r // 3), (x0 + r // 2, y0 + r)], fill=colour)
    out["edges"] = np.asarray(im, dtype=np.float64)

    flat = np.zeros((n, n, 3))
    colours = [(137, 137, 137), (200, 60, 50), (40, 150, 70), (50, 80, 190), (230, 220, 200), (90, 90, 90)]
    k = n // 3
    for i, c in enumerate(colours + colours[:3]):
        flat[(i // 3) * k:(i // 3 + 1) * k, (i % 3) * k:(i % 3 + 1) * k] = c
    flat[3 * k:, :] = colours[0]
    flat[:, 3 * k:] = colours[0]
    out["flat"] = flat

    im = Image.new("RGB", (n, n), (236, 236, 236))
    d = ImageDraw.Draw(im)
    grey = (137, 137, 137)
    for row in range(6):
        y = 8 + row * (n // 6)
        d.text((6, y), "Grey text 137 ~ SRGAN x4", fill=grey)
        d.line([(6, y + 14), (n - 6, y + 14)], fill=grey, width=1 + row % 2)
    out["text"] = np.asarray(im, dtype=np.float64)

    return {k: np.clip(np.rint(v), 0, 255).astype(np.uint8) for k, v in out.items()}


def add_grid_pattern(img: np.ndarray, amplitude: float, *, kind: str = "stripes", period: int = 4,
                     colour: tuple[float, float, float] = (1.0, 1.0, 1.0)) -> np.ndarray:
    """``img`` (uint8 RGB) plus a pattern tied to the pixel grid, for testing the measure.

    ``kind``: ``"stripes"`` (vertical, varying along x), ``"hatching"`` (horizontal) or
    ``"checker"`` (both); ``period`` 2 or 4 px; ``amplitude`` in levels; ``colour`` weights per RGB
    channel (e.g. (-1, 1, -1) for a green-magenta pattern)."""
    h, w = img.shape[:2]
    y, x = np.mgrid[0:h, 0:w]
    sx = np.cos(2 * np.pi * x / period)
    sy = np.cos(2 * np.pi * y / period)
    p = {"stripes": sx, "hatching": sy, "checker": sx * sy}.get(kind)
    if p is None:
        raise ValueError(f"kind must be stripes, hatching or checker, got {kind!r}")
    out = img.astype(np.float64) + amplitude * p[..., None] * np.asarray(colour, dtype=np.float64)
    return np.clip(np.rint(out), 0, 255).astype(np.uint8)
