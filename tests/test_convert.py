"""Foreign weights (superres.convert): Keras .h5 and BasicSR / Real-ESRGAN .pth / .safetensors.

Every test builds a small synthetic file with the real key layout and random
weights, and checks our module against a forward pass written by hand from the
original code (Keras: NumPy float64, NHWC, TF's depth_to_space; BasicSR:
functional PyTorch float64), to 1e-5.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from torch.nn import functional as F

from superres.convert import LAYOUTS, convert, detect, load_foreign
from superres.errors import ModelError

TOL = 1e-5
DIV2K_MEAN255 = np.array([0.4488, 0.4371, 0.4040]) * 255


def close(ours: torch.Tensor, ref: np.ndarray | torch.Tensor) -> float:
    ref = torch.as_tensor(ref, dtype=torch.float64)
    scale = max(1.0, float(ref.abs().max()))
    return float((ours.double() - ref).abs().max()) / scale


# === Keras HDF5 ===================================================================================

def _h5py():
    return pytest.importorskip("h5py", reason="h5py not installed (pip install superres[keras])")


def write_keras_h5(path: Path, layers: list[tuple[str, str, list[tuple[str, np.ndarray]], dict]],
                   full_model: bool = False) -> Path:
    """Write the legacy Keras HDF5 layout (tf.keras ``save_weights`` / ``save`` to .h5).

    ``layers``: (layer name, class name, [(weight name, array)], config) in model.layers order.
    """
    h5py = _h5py()
    with h5py.File(path, "w") as f:
        root = f.create_group("model_weights") if full_model else f
        root.attrs["layer_names"] = np.array([n.encode() for n, *_ in layers])
        root.attrs["backend"] = b"tensorflow"
        root.attrs["keras_version"] = b"2.2.4-tf"
        for name, _cls, weights, _cfg in layers:
            g = root.create_group(name)
            g.attrs["weight_names"] = np.array([w.encode() for w, _ in weights], dtype="S")
            for wname, arr in weights:
                g.create_dataset(wname, data=np.asarray(arr, dtype=np.float32) if arr.dtype != bool else arr)
        if full_model:
            cfg = {"class_name": "Model", "config": {"name": "model", "layers": [
                {"class_name": cls, "name": n, "config": dict(cfg, name=n)} for n, cls, _, cfg in layers]}}
            f.attrs["model_config"] = json.dumps(cfg).encode()
    return path


class KerasBuilder:
    """Layer names and weights the way tf.keras names them (conv2d, conv2d_1, ...)."""

    def __init__(self, seed: int = 0) -> None:
        self.rng = np.random.default_rng(seed)
        self.count: dict[str, int] = {}
        self.layers: list = []

    def _name(self, base: str) -> str:
        n = self.count.get(base, 0)
        self.count[base] = n + 1
        return base if n == 0 else f"{base}_{n}"

    def plain(self, base: str, cls: str) -> None:
        self.layers.append((self._name(base), cls, [], {}))

    def conv(self, k: int, cin: int, cout: int, std: float = 0.1, activation: str = "linear",
             name: str | None = None) -> str:
        name = name or self._name("conv2d")
        kernel = self.rng.normal(0, std / np.sqrt(k * k * cin / 9), (k, k, cin, cout))
        bias = self.rng.normal(0, 0.05, cout)
        self.layers.append((name, "Conv2D", [(f"{name}/kernel:0", kernel), (f"{name}/bias:0", bias)],
                            {"activation": activation, "filters": cout, "kernel_size": [k, k]}))
        return name

    def wnconv(self, k: int, cin: int, cout: int, inner: str | None = None) -> None:
        name = self._name("weight_normalization")
        inner = inner or self._name("conv2d")
        v = self.rng.normal(0, 1, (k, k, cin, cout))
        g = self.rng.uniform(0.3, 0.8, cout) / np.sqrt(3)
        self.layers.append((name, "WeightNormalization", [
            (f"{name}/g:0", g), (f"{name}/{inner}/kernel:0", v),
            (f"{name}/{inner}/bias:0", self.rng.normal(0, 0.05, cout)),
            (f"{name}/initialized:0", np.array(True))], {}))

    def bn(self, c: int, eps: float = 1e-3) -> None:
        name = self._name("batch_normalization_v1")
        r = self.rng
        self.layers.append((name, "BatchNormalization", [
            (f"{name}/gamma:0", r.uniform(0.5, 1.5, c)), (f"{name}/beta:0", r.normal(0, 0.1, c)),
            (f"{name}/moving_mean:0", r.normal(0, 0.1, c)), (f"{name}/moving_variance:0", r.uniform(0.001, 0.01, c))],
            {"epsilon": eps, "momentum": 0.8}))

    def prelu(self, c: int) -> None:
        name = self._name("p_re_lu")
        self.layers.append((name, "PReLU", [(f"{name}/alpha:0", self.rng.uniform(0.0, 0.3, (1, 1, c)))],
                            {"shared_axes": [1, 2]}))

    def weights(self) -> list[dict[str, np.ndarray]]:
        """Weighted layers in order, as {basename: array}."""
        out = []
        for _n, _c, ws, _cfg in self.layers:
            if ws:
                out.append({w.rsplit("/", 1)[-1].split(":")[0]: np.asarray(a, dtype=np.float64) for w, a in ws})
        return out


def krasserm_srresnet(c: int = 8, n_blocks: int = 2, n_up: int = 2, seed: int = 0, eps: float = 1e-3) -> KerasBuilder:
    """Layers of krasserm's model/srgan.py ``sr_resnet`` in model.layers order."""
    b = KerasBuilder(seed)
    b.plain("input", "InputLayer")
    b.plain("lambda", "Lambda")
    b.conv(9, 3, c)
    b.prelu(c)
    for _ in range(n_blocks):
        b.conv(3, c, c)
        b.bn(c, eps)
        b.prelu(c)
        b.conv(3, c, c)
        b.bn(c, eps)
        b.plain("add", "Add")
    b.conv(3, c, c)
    b.bn(c, eps)
    b.plain("add", "Add")
    for _ in range(n_up):
        b.conv(3, c, 4 * c)
        b.plain("lambda", "Lambda")
        b.prelu(c)
    b.conv(9, c, 3, activation="tanh")
    b.plain("lambda", "Lambda")
    return b


# --- the reference: Keras semantics in NumPy (NHWC, float64) ---------------------------------------

def k_conv(x: np.ndarray, w: dict) -> np.ndarray:
    """Conv2D(padding='same', stride 1) on (H, W, Cin) with a Keras (kh, kw, Cin, Cout) kernel."""
    k = w["kernel"]
    kh, kw = k.shape[:2]
    xp = np.pad(x, ((kh // 2, kh // 2), (kw // 2, kw // 2), (0, 0)))
    h, wd = x.shape[:2]
    out = np.zeros((h, wd, k.shape[3]))
    for i in range(kh):
        for j in range(kw):
            out += xp[i:i + h, j:j + wd, :] @ k[i, j]
    return out + w.get("bias", 0.0)


def depth_to_space(x: np.ndarray, r: int) -> np.ndarray:
    """tf.nn.depth_to_space (NHWC, DCR): out[h*r+i, w*r+j, c] = in[h, w, (i*r+j)*C + c]."""
    h, w, cc = x.shape
    c = cc // (r * r)
    return x.reshape(h, w, r, r, c).transpose(0, 2, 1, 3, 4).reshape(h * r, w * r, c)


def k_bn(x: np.ndarray, w: dict, eps: float) -> np.ndarray:
    return (x - w["moving_mean"]) / np.sqrt(w["moving_variance"] + eps) * w["gamma"] + w["beta"]


def k_prelu(x: np.ndarray, w: dict) -> np.ndarray:
    return np.maximum(x, 0) + w["alpha"].reshape(-1) * np.minimum(x, 0)


def ref_krasserm_srresnet(x255: np.ndarray, W: list[dict], n_blocks: int, n_up: int, eps: float = 1e-3) -> np.ndarray:
    it = iter(W)
    x = x255 / 255.0  # normalize_01
    x = x1 = k_prelu(k_conv(x, next(it)), next(it))
    for _ in range(n_blocks):
        c1, n1, a, c2, n2 = (next(it) for _ in range(5))
        x = x + k_bn(k_conv(k_prelu(k_bn(k_conv(x, c1), n1, eps), a), c2), n2, eps)
    c, n = next(it), next(it)
    x = x1 + k_bn(k_conv(x, c), n, eps)
    for _ in range(n_up):
        c, a = next(it), next(it)
        x = k_prelu(depth_to_space(k_conv(x, c), 2), a)
    x = np.tanh(k_conv(x, next(it)))
    return (x + 1) * 127.5  # denormalize_m11


def ours_on(model, x255: np.ndarray) -> torch.Tensor:
    """Run our module on an (H, W, 3) 0..255 image; (H', W', 3) output in 0..255."""
    t = torch.from_numpy(x255 / 255.0).float().permute(2, 0, 1)[None]
    with torch.no_grad():
        y = model(t)
    return y[0].permute(1, 2, 0) * 255.0


def test_reference_depth_to_space_matches_tf_docs():
    # the example of tf.nn.depth_to_space's documentation: [1, 1, 1, 12] -> [1, 2, 2, 3]
    x = np.arange(1, 13, dtype=np.float64).reshape(1, 1, 12)
    assert depth_to_space(x, 2).tolist() == [[[1, 2, 3], [4, 5, 6]], [[7, 8, 9], [10, 11, 12]]]


@pytest.mark.parametrize("full_model", [False, True])
def test_keras_srresnet_matches_reference(tmp_path, full_model):
    b = krasserm_srresnet(c=8, n_blocks=2, n_up=2, eps=1e-3)
    p = write_keras_h5(tmp_path / "srgan_G.h5", b.layers, full_model=full_model)
    fm = detect(p)
    assert fm.layout == "keras-srresnet"
    m = fm.model
    assert m.args["n_blocks"] == 2 and m.args["channels"] == 8 and m.info.scale == 4
    assert m.args["bn_eps"] == pytest.approx(1e-3) and m.args["tanh"] is True
    x = np.random.default_rng(1).uniform(0, 255, (7, 6, 3))
    ref = ref_krasserm_srresnet(x, b.weights(), 2, 2)
    ours = ours_on(m, x)
    assert ours.shape == (28, 24, 3)
    assert close(ours / 255, ref / 255) < TOL


def test_keras_bn_epsilon_is_read_from_model_config(tmp_path):
    b = krasserm_srresnet(c=4, n_blocks=1, n_up=1, eps=0.01)
    p = write_keras_h5(tmp_path / "g.h5", b.layers, full_model=True)
    m = load_foreign(p)
    assert m.args["bn_eps"] == pytest.approx(0.01) and m.info.scale == 2
    x = np.random.default_rng(2).uniform(0, 255, (5, 5, 3))
    assert close(ours_on(m, x) / 255, ref_krasserm_srresnet(x, b.weights(), 1, 1, eps=0.01) / 255) < TOL


def test_keras_pixel_order_and_epsilon_matter(tmp_path):
    """Sanity of the test itself: PyTorch's PixelShuffle order or eps would not match the reference."""
    b = krasserm_srresnet(c=8, n_blocks=1, n_up=1)
    W = b.weights()
    x = np.random.default_rng(3).uniform(0, 255, (5, 5, 3))
    ref = ref_krasserm_srresnet(x, W, 1, 1)
    assert np.abs(ref - ref_krasserm_srresnet(x, W, 1, 1, eps=1e-5)).max() > 1e-3
    m = load_foreign(write_keras_h5(tmp_path / "g.h5", b.layers))
    sd = m.state_dict()
    w = sd["upsample.0.conv.weight"]
    # undo our permutation: load TF-ordered weights straight into PixelShuffle -> different image
    r2, c = 4, w.shape[0] // 4
    t = torch.arange(w.shape[0])
    inv = torch.empty_like(t)
    inv[(t % r2) * c + t // r2] = t
    sd["upsample.0.conv.weight"] = w[inv]
    sd["upsample.0.conv.bias"] = sd["upsample.0.conv.bias"][inv]
    m.load_state_dict(sd)
    assert close(ours_on(m, x) / 255, ref / 255) > 1e-3


def krasserm_edsr(scale: int, c: int = 8, n_blocks: int = 2, seed: int = 0) -> KerasBuilder:
    b = KerasBuilder(seed)
    b.plain("input", "InputLayer")
    b.plain("lambda", "Lambda")
    b.conv(3, 3, c)
    for _ in range(n_blocks):
        b.conv(3, c, c, activation="relu")
        b.conv(3, c, c)
        b.plain("add", "Add")
    b.conv(3, c, c)
    b.plain("add", "Add")
    factors = {2: [2], 3: [3], 4: [2, 2]}[scale]
    for i, f in enumerate(factors):
        b.conv(3, c, c * f * f, name=f"conv2d_{i + 1}_scale_{f}")
        b.plain("lambda", "Lambda")
    b.conv(3, c, 3)
    b.plain("lambda", "Lambda")
    return b


def ref_krasserm_edsr(x255: np.ndarray, W: list[dict], scale: int, n_blocks: int) -> np.ndarray:
    it = iter(W)
    x = (x255 - DIV2K_MEAN255) / 127.5  # normalize
    x = b = k_conv(x, next(it))
    for _ in range(n_blocks):
        c1, c2 = next(it), next(it)
        b = b + k_conv(np.maximum(k_conv(b, c1), 0), c2)
    x = x + k_conv(b, next(it))
    for f in {2: [2], 3: [3], 4: [2, 2]}[scale]:
        x = depth_to_space(k_conv(x, next(it)), f)
    x = k_conv(x, next(it))
    return x * 127.5 + DIV2K_MEAN255  # denormalize


@pytest.mark.parametrize("scale", [2, 3, 4])
def test_keras_edsr_matches_reference(tmp_path, scale):
    b = krasserm_edsr(scale)
    m = detect(write_keras_h5(tmp_path / "edsr.h5", b.layers)).model
    assert m.info.arch == "keras_edsr" and m.info.scale == scale and m.args["n_blocks"] == 2
    x = np.random.default_rng(4).uniform(0, 255, (6, 5, 3))
    ref = ref_krasserm_edsr(x, b.weights(), scale, 2)
    m.train()  # no BatchNorm here; train mode only skips the final clamp so all values are compared
    assert close(ours_on(m, x) / 255, ref / 255) < TOL


def krasserm_wdsr(scale: int, block: str, c: int = 8, n_blocks: int = 2, expansion: int = 4) -> KerasBuilder:
    b = KerasBuilder(5)
    b.plain("input", "InputLayer")
    b.plain("lambda", "Lambda")
    b.wnconv(3, 3, c)
    for _ in range(n_blocks):
        if block == "a":
            b.wnconv(3, c, c * expansion)
            b.wnconv(3, c * expansion, c)
        else:
            b.wnconv(1, c, c * expansion)
            b.wnconv(1, c * expansion, int(c * 0.8))
            b.wnconv(3, int(c * 0.8), c)
        b.plain("add", "Add")
    b.wnconv(3, c, 3 * scale * scale, inner=f"conv2d_main_scale_{scale}")
    b.plain("lambda", "Lambda")
    b.wnconv(5, 3, 3 * scale * scale, inner=f"conv2d_skip_scale_{scale}")  # shallow branch: listed late
    b.plain("lambda", "Lambda")
    b.plain("add", "Add")
    b.plain("lambda", "Lambda")
    return b


def ref_krasserm_wdsr(x255: np.ndarray, W: list[dict], scale: int, block: str, n_blocks: int) -> np.ndarray:
    def wn(w):  # tfa WeightNormalization: kernel = l2_normalize(v, axis=[0, 1, 2]) * g
        v = w["kernel"]
        return {"kernel": v / np.sqrt((v ** 2).sum(axis=(0, 1, 2))) * w["g"], "bias": w["bias"]}

    it = iter([wn(w) for w in W])
    x = (x255 - DIV2K_MEAN255) / 127.5
    m = k_conv(x, next(it))
    for _ in range(n_blocks):
        if block == "a":
            c1, c2 = next(it), next(it)
            m = m + k_conv(np.maximum(k_conv(m, c1), 0), c2)
        else:
            c1, c2, c3 = next(it), next(it), next(it)
            m = m + k_conv(k_conv(np.maximum(k_conv(m, c1), 0), c2), c3)
    m = depth_to_space(k_conv(m, next(it)), scale)
    s = depth_to_space(k_conv(x, next(it)), scale)
    return (m + s) * 127.5 + DIV2K_MEAN255


@pytest.mark.parametrize("block,scale", [("a", 2), ("b", 4), ("b", 3)])
def test_keras_wdsr_matches_reference(tmp_path, block, scale):
    b = krasserm_wdsr(scale, block)
    m = detect(write_keras_h5(tmp_path / "wdsr.h5", b.layers)).model
    assert m.info.arch == "keras_wdsr" and m.args["block"] == block and m.info.scale == scale
    x = np.random.default_rng(6).uniform(0, 255, (5, 6, 3))
    ref = ref_krasserm_wdsr(x, b.weights(), scale, block, 2)
    m.train()
    assert close(ours_on(m, x) / 255, ref / 255) < TOL


def test_keras_wdsr_never_called_uses_g_equal_norm_v(tmp_path):
    """tfa WeightNormalization(data_init=False) sets g = ||v|| on its first call; an unused file has g = 1."""
    b = krasserm_wdsr(2, "a")
    for _n, _c, ws, _cfg in b.layers:
        for i, (wn, a) in enumerate(ws):
            if wn.endswith("/g:0"):
                ws[i] = (wn, np.ones_like(a))
            if wn.endswith("/initialized:0"):
                ws[i] = (wn, np.array(False))
    m = load_foreign(write_keras_h5(tmp_path / "wdsr.h5", b.layers))
    W = b.weights()
    for w in W:
        w["g"] = np.sqrt((w["kernel"] ** 2).sum(axis=(0, 1, 2)))
    x = np.random.default_rng(7).uniform(0, 255, (5, 5, 3))
    m.train()
    assert close(ours_on(m, x) / 255, ref_krasserm_wdsr(x, W, 2, "a", 2) / 255) < TOL


def test_keras_discriminator_is_refused_with_layouts(tmp_path):
    b = KerasBuilder()
    b.conv(3, 3, 8)
    b.conv(3, 8, 8)
    b.bn(8)
    name = "dense"
    b.layers.append((name, "Dense", [(f"{name}/kernel:0", np.ones((32, 1))), (f"{name}/bias:0", np.ones(1))], {}))
    with pytest.raises(ModelError) as e:
        load_foreign(write_keras_h5(tmp_path / "gan_discriminator.h5", b.layers))
    msg = str(e.value)
    assert "Dense" in msg and "discriminator" in msg
    for layout in LAYOUTS:
        assert layout in msg


def test_missing_h5py_gives_one_line_install_hint(tmp_path, monkeypatch):
    p = tmp_path / "g.h5"
    p.write_bytes(b"\x89HDF\r\n\x1a\n" + bytes(100))
    monkeypatch.setitem(sys.modules, "h5py", None)
    with pytest.raises(ModelError) as e:
        load_foreign(p)
    assert "pip install superres[keras]" in str(e.value) and "\n" not in str(e.value)


# === BasicSR / Real-ESRGAN state dicts ============================================================

def rand_state(shapes: dict[str, tuple], seed: int = 0, std: float = 0.05) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return {k: torch.randn(*s, generator=g) * (std if len(s) > 1 else 0.02) + (0.1 if k.endswith("prelu") else 0)
            for k, s in shapes.items()}


def conv_shapes(name: str, cin: int, cout: int, k: int = 3) -> dict:
    return {f"{name}.weight": (cout, cin, k, k), f"{name}.bias": (cout,)}


def rrdbnet_state(scale: int, nf: int = 8, nb: int = 2, gc: int = 4, seed: int = 0) -> dict:
    u = {1: 4, 2: 2}.get(scale, 1)
    n_up = {1: 2, 2: 2, 4: 2, 8: 3}[scale]
    s = conv_shapes("conv_first", 3 * u * u, nf)
    for i in range(nb):
        for r in (1, 2, 3):
            for j in range(1, 6):
                s |= conv_shapes(f"body.{i}.rdb{r}.conv{j}", nf + (j - 1) * gc, gc if j < 5 else nf)
    s |= conv_shapes("conv_body", nf, nf)
    for j in range(1, n_up + 1):
        s |= conv_shapes(f"conv_up{j}", nf, nf)
    s |= conv_shapes("conv_hr", nf, nf) | conv_shapes("conv_last", nf, 3)
    return rand_state(s, seed, std=0.1)


def ref_rrdbnet(x: torch.Tensor, sd: dict, scale: int, nb: int) -> torch.Tensor:
    """BasicSR rrdbnet_arch.RRDBNet.forward, functionally (with Real-ESRGAN's reflect mod-pad)."""
    sd = {k: v.double() for k, v in sd.items()}
    x = x.double()

    def conv(name, t):
        return F.conv2d(t, sd[f"{name}.weight"], sd[f"{name}.bias"], padding=1)

    def lrelu(t):
        return F.leaky_relu(t, 0.2)

    h, w = x.shape[-2:]
    u = {1: 4, 2: 2}.get(scale, 1)
    if u > 1:
        x = F.pad(x, (0, (-w) % u, 0, (-h) % u), mode="reflect")
        b, c, hh, ww = x.shape  # basicsr.archs.arch_util.pixel_unshuffle
        x = x.view(b, c, hh // u, u, ww // u, u).permute(0, 1, 3, 5, 2, 4).reshape(b, c * u * u, hh // u, ww // u)
    feat = conv("conv_first", x)
    body = feat
    for i in range(nb):
        rrdb_in = body
        for r in (1, 2, 3):
            p = f"body.{i}.rdb{r}"
            x0 = body
            x1 = lrelu(conv(f"{p}.conv1", x0))
            x2 = lrelu(conv(f"{p}.conv2", torch.cat((x0, x1), 1)))
            x3 = lrelu(conv(f"{p}.conv3", torch.cat((x0, x1, x2), 1)))
            x4 = lrelu(conv(f"{p}.conv4", torch.cat((x0, x1, x2, x3), 1)))
            x5 = conv(f"{p}.conv5", torch.cat((x0, x1, x2, x3, x4), 1))
            body = x5 * 0.2 + x0
        body = body * 0.2 + rrdb_in
    feat = feat + conv("conv_body", body)
    j = 1
    while f"conv_up{j}.weight" in sd:
        feat = lrelu(conv(f"conv_up{j}", F.interpolate(feat, scale_factor=2, mode="nearest")))
        j += 1
    out = conv("conv_last", lrelu(conv("conv_hr", feat)))
    return out[..., : h * scale, : w * scale]


def to_old_esrgan(sd: dict, nb: int) -> dict:
    """BasicSR RRDBNet keys -> the original ESRGAN repository's (RRDB_ESRGAN_x4.pth) key names."""
    import re

    n_up = sum(1 for k in sd if k.startswith("conv_up") and k.endswith(".weight"))
    top = {"conv_first": 0, "conv_body": None, "conv_hr": 3 * n_up + 2, "conv_last": 3 * n_up + 4}
    top |= {f"conv_up{j}": 3 * j for j in range(1, n_up + 1)}
    out = {}
    for k, v in sd.items():
        if m := re.match(r"body\.(\d+)\.rdb(\d)\.conv(\d)\.(weight|bias)", k):
            out[f"model.1.sub.{m[1]}.RDB{m[2]}.conv{m[3]}.0.{m[4]}"] = v
        else:
            name, kind = k.rsplit(".", 1)
            out[f"model.1.sub.{nb}.{kind}" if name == "conv_body" else f"model.{top[name]}.{kind}"] = v
    return out


def run_ours(model, x: torch.Tensor) -> torch.Tensor:
    model.train()  # no BatchNorm in these nets; train mode only skips the output clamp
    with torch.no_grad():
        return model(x)


@pytest.mark.parametrize("scale,size", [(4, (6, 7)), (2, (7, 9)), (1, (9, 6))])
def test_rrdbnet_matches_reference(tmp_path, scale, size):
    sd = rrdbnet_state(scale)
    p = tmp_path / "RealESRGAN.pth"
    torch.save({"params_ema": sd}, p)
    fm = detect(p)
    assert fm.layout == "basicsr-rrdbnet"
    m = fm.model
    assert m.info.scale == scale and m.args["num_block"] == 2 and m.args["num_feat"] == 8
    assert m.args["num_grow_ch"] == 4 and m.info.extra["bytes_per_lr_pixel"] > 0
    x = torch.rand(1, 3, *size)
    ours = run_ours(m, x)
    assert ours.shape[-2:] == (size[0] * scale, size[1] * scale)
    assert close(ours, ref_rrdbnet(x, sd, scale, 2)) < TOL


def test_rrdbnet_old_esrgan_keys(tmp_path):
    sd = rrdbnet_state(4, seed=3)
    p = tmp_path / "RRDB_ESRGAN_x4.pth"
    torch.save(to_old_esrgan(sd, 2), p)
    m = load_foreign(p)
    assert m.info.arch == "rrdbnet" and m.info.scale == 4
    x = torch.rand(1, 3, 5, 6)
    assert close(run_ours(m, x), ref_rrdbnet(x, sd, 4, 2)) < TOL


def srvgg_state(scale: int, nf: int = 8, num_conv: int = 3, seed: int = 0) -> dict:
    s = conv_shapes("body.0", 3, nf) | {"body.1.weight": (nf,)}
    for i in range(num_conv):
        s |= conv_shapes(f"body.{2 * i + 2}", nf, nf) | {f"body.{2 * i + 3}.weight": (nf,)}
    s |= conv_shapes(f"body.{2 * num_conv + 2}", nf, 3 * scale * scale)
    sd = rand_state(s, seed, std=0.2)
    for k in sd:
        if sd[k].ndim == 1 and int(k.split(".")[1]) % 2:
            sd[k] = sd[k].abs() + 0.1  # PReLU slopes
    return sd


def ref_srvgg(x: torch.Tensor, sd: dict, scale: int, num_conv: int) -> torch.Tensor:
    """Real-ESRGAN srvgg_arch.SRVGGNetCompact.forward (act_type='prelu'), functionally."""
    sd = {k: v.double() for k, v in sd.items()}
    x = x.double()
    out = x
    for i in range(num_conv + 1):
        out = F.conv2d(out, sd[f"body.{2 * i}.weight"], sd[f"body.{2 * i}.bias"], padding=1)
        out = F.prelu(out, sd[f"body.{2 * i + 1}.weight"])
    last = 2 * num_conv + 2
    out = F.conv2d(out, sd[f"body.{last}.weight"], sd[f"body.{last}.bias"], padding=1)
    return F.pixel_shuffle(out, scale) + F.interpolate(x, scale_factor=scale, mode="nearest")


@pytest.mark.parametrize("scale,fmt", [(4, "pth"), (2, "safetensors")])
def test_srvgg_matches_reference(tmp_path, scale, fmt):
    sd = srvgg_state(scale)
    if fmt == "pth":
        p = tmp_path / "realesr-general-x4v3.pth"
        torch.save({"params": sd}, p)
    else:
        from safetensors.torch import save_file

        p = tmp_path / "compact.safetensors"
        save_file(sd, str(p))
    fm = detect(p)
    assert fm.layout == "basicsr-srvgg" and fm.model.args["num_conv"] == 3 and fm.model.info.scale == scale
    x = torch.rand(1, 3, 6, 5)
    assert close(run_ours(fm.model, x), ref_srvgg(x, sd, scale, 3)) < TOL


def msrresnet_state(scale: int, nf: int = 8, nb: int = 2, seed: int = 0) -> dict:
    s = conv_shapes("conv_first", 3, nf)
    for i in range(nb):
        s |= conv_shapes(f"body.{i}.conv1", nf, nf) | conv_shapes(f"body.{i}.conv2", nf, nf)
    if scale == 4:
        s |= conv_shapes("upconv1", nf, nf * 4) | conv_shapes("upconv2", nf, nf * 4)
    else:
        s |= conv_shapes("upconv1", nf, nf * scale * scale)
    s |= conv_shapes("conv_hr", nf, nf) | conv_shapes("conv_last", nf, 3)
    return rand_state(s, seed, std=0.2)


def ref_msrresnet(x: torch.Tensor, sd: dict, scale: int, nb: int) -> torch.Tensor:
    """BasicSR srresnet_arch.MSRResNet.forward, functionally."""
    sd = {k: v.double() for k, v in sd.items()}
    x = x.double()

    def conv(name, t):
        return F.conv2d(t, sd[f"{name}.weight"], sd[f"{name}.bias"], padding=1)

    def lrelu(t):
        return F.leaky_relu(t, 0.1)

    out = lrelu(conv("conv_first", x))
    for i in range(nb):
        out = out + conv(f"body.{i}.conv2", F.relu(conv(f"body.{i}.conv1", out)))
    if scale == 4:
        out = lrelu(F.pixel_shuffle(conv("upconv1", out), 2))
        out = lrelu(F.pixel_shuffle(conv("upconv2", out), 2))
    else:
        out = lrelu(F.pixel_shuffle(conv("upconv1", out), scale))
    out = conv("conv_last", lrelu(conv("conv_hr", out)))
    return out + F.interpolate(x, scale_factor=scale, mode="bilinear", align_corners=False)


@pytest.mark.parametrize("scale", [4, 2, 3])
def test_msrresnet_matches_reference(tmp_path, scale):
    sd = msrresnet_state(scale)
    p = tmp_path / "MSRResNet.pth"
    torch.save({"params": {f"module.{k}": v for k, v in sd.items()}}, p)  # DataParallel prefix too
    fm = detect(p)
    assert fm.layout == "basicsr-msrresnet" and fm.model.info.scale == scale and fm.model.args["num_block"] == 2
    x = torch.rand(1, 3, 5, 6)
    assert close(run_ours(fm.model, x), ref_msrresnet(x, sd, scale, 2)) < TOL


def test_params_ema_preferred_over_params(tmp_path):
    ema, raw = srvgg_state(4, seed=1), srvgg_state(4, seed=2)
    p = tmp_path / "net_g.pth"
    torch.save({"params": raw, "params_ema": ema}, p)
    fm = detect(p)
    assert any("params_ema" in n for n in fm.notes)
    x = torch.rand(1, 3, 4, 4)
    assert close(run_ours(fm.model, x), ref_srvgg(x, ema, 4, 3)) < TOL


class _NotATensor:
    pass


def test_pickled_objects_are_refused(tmp_path):
    p = tmp_path / "evil.pth"
    torch.save({"params": srvgg_state(4), "extra": _NotATensor()}, p)
    with pytest.raises(ModelError, match="weights_only"):
        load_foreign(p)


def test_unrecognised_state_dict_lists_layouts(tmp_path):
    p = tmp_path / "other.pth"
    torch.save({"encoder.weight": torch.zeros(4, 3, 3, 3), "decoder.bias": torch.zeros(3)}, p)
    with pytest.raises(ModelError) as e:
        load_foreign(p)
    msg = str(e.value)
    assert "encoder.weight (4, 3, 3, 3)" in msg and "2 tensors" in msg
    for layout in LAYOUTS:
        assert layout in msg


def test_not_a_weights_file(tmp_path):
    p = tmp_path / "notes.pth"
    p.write_text("hello")
    with pytest.raises(ModelError, match="unrecognised weights layout"):
        load_foreign(p)


def test_shape_mismatch_names_the_layout(tmp_path):
    sd = msrresnet_state(4)
    sd["body.1.conv2.weight"] = torch.zeros(8, 8, 5, 5)
    p = tmp_path / "bad.pth"
    torch.save(sd, p)
    with pytest.raises(ModelError, match="basicsr-msrresnet"):
        load_foreign(p)


# === through the library and the CLI ==============================================================

@pytest.fixture
def foreign_files(tmp_path):
    torch.save({"params_ema": rrdbnet_state(2, nf=4, nb=1, gc=4)}, tmp_path / "RealESRGAN_x2plus.pth")
    torch.save({"params": srvgg_state(4, nf=4, num_conv=1)}, tmp_path / "realesr-general-x4v3.pth")
    torch.save(msrresnet_state(4, nf=4, nb=1), tmp_path / "MSRResNet_x4.pth")
    files = [tmp_path / n for n in ("RealESRGAN_x2plus.pth", "realesr-general-x4v3.pth", "MSRResNet_x4.pth")]
    try:
        import h5py  # noqa: F401

        files.append(write_keras_h5(tmp_path / "srgan_G.h5", krasserm_srresnet(c=4, n_blocks=1).layers))
    except ImportError:
        pass
    return files


@pytest.fixture(autouse=True)
def _no_model_cache():
    import superres.api

    superres.api._CACHE.clear()
    yield
    superres.api._CACHE.clear()


def test_load_model_and_upscaler_accept_foreign_files(foreign_files):
    import superres
    from superres.inference import Upscaler

    arr = np.random.default_rng(0).integers(0, 256, (11, 9, 3), dtype=np.uint8)
    for p in foreign_files:
        m = superres.load_model(p)
        assert m.name == p.stem and not m.training
        s = m.info.scale
        up = Upscaler(m, device="cpu", tile=0)
        out = up.upscale_array(arr)
        assert out.shape == (11 * s, 9 * s, 3) and out.dtype == np.uint8
        tiled = Upscaler(m, device="cpu", tile=5, tile_pad=4).upscale_array(arr)
        assert tiled.shape == out.shape


def test_evaluate_accepts_foreign_files(foreign_files, tmp_path):
    from superres.evaluate import evaluate_model

    bench = tmp_path / "bench" / "HR"
    bench.mkdir(parents=True)
    hr = np.random.default_rng(1).integers(0, 256, (24, 32, 3), dtype=np.uint8)
    Image.fromarray(hr).save(bench / "a.png")
    for p in foreign_files:
        r = evaluate_model(str(p), bench.parent, lpips=False, device="cpu")
        assert len(r.rows) == 1 and r.rows[0]["psnr"] > 0


def _cli(capsys, *args) -> tuple[int, str, str]:
    from superres.cli import main

    try:
        rc = main([str(a) for a in args])
    except SystemExit as e:
        rc = e.code if isinstance(e.code, int) else 1
    cap = capsys.readouterr()
    assert "Traceback" not in cap.err
    return rc, cap.out, cap.err


def test_cli_upscale_with_foreign_model(foreign_files, tmp_path, capsys):
    img = tmp_path / "x.png"
    Image.fromarray(np.random.default_rng(2).integers(0, 256, (10, 12, 3), dtype=np.uint8)).save(img)
    for p in foreign_files:
        out = tmp_path / f"out_{p.stem}.png"
        rc, _, err = _cli(capsys, "upscale", img, "--model", p, "-o", out, "--device", "cpu")
        assert rc == 0, err
        s = load_foreign(p).info.scale
        with Image.open(out) as im:
            assert im.size == (12 * s, 10 * s)


def test_cli_compare_eval_animate_with_foreign_model(foreign_files, tmp_path, capsys):
    from superres.cli import build_parser

    sub = next(a for a in build_parser()._actions if a.dest == "command")
    p = foreign_files[-1]
    img = tmp_path / "x.png"
    Image.fromarray(np.random.default_rng(3).integers(0, 256, (32, 32, 3), dtype=np.uint8)).save(img)
    ran = 0
    if "compare" in sub.choices:
        rc, _, err = _cli(capsys, "compare", img, "--lr", "--models", f"bicubic,{p}", "-o", tmp_path / "cmp.png",
                          "--device", "cpu", "--no-lpips")
        assert rc == 0, err
        ran += 1
    if "eval" in sub.choices:
        bench = tmp_path / "bench" / "HR"
        bench.mkdir(parents=True)
        Image.open(img).save(bench / "a.png")
        rc, _, err = _cli(capsys, "eval", "--models", str(p), "--data", bench.parent, "--no-lpips", "--device", "cpu",
                          "-q")
        assert rc == 0, err
        ran += 1
    if "animate" in sub.choices:
        rng = np.random.default_rng(4)
        frames = [Image.fromarray(rng.integers(0, 256, (12, 10, 3), dtype=np.uint8)) for _ in range(3)]
        gif = tmp_path / "anim.gif"
        frames[0].save(gif, save_all=True, append_images=frames[1:], duration=100, loop=0)
        out = tmp_path / "anim_x.gif"
        rc, _, err = _cli(capsys, "animate", gif, "-o", out, "--model", p, "--device", "cpu", "-q")
        assert rc == 0, err
        with Image.open(out) as im:
            s = load_foreign(p).info.scale
            assert im.size == (10 * s, 12 * s) and im.n_frames == 3
        ran += 1
    if not ran:
        pytest.skip("compare / eval / animate commands not present")


def test_cli_convert_writes_card_and_reloads(foreign_files, tmp_path, capsys):
    from superres.weights import load_weights, read_header

    for p in foreign_files:
        out = tmp_path / f"{p.stem}.safetensors"
        rc, stdout, err = _cli(capsys, "convert", p, out, "--license", "BSD-3-Clause",
                               "--source", "https://example.org/weights")
        assert rc == 0, err
        assert stdout.strip() == str(out)
        meta = read_header(out)
        assert meta["format"] == "superres"
        card = json.loads(out.with_suffix(".json").read_text())
        assert card["license"] == "BSD-3-Clause" and card["source"] == "https://example.org/weights"
        assert card["extra"]["foreign"] is True and card["extra"]["converted_from"]["file"] == p.name
        assert card["extra"]["layout"] in LAYOUTS
        a, b = load_foreign(p), load_weights(out)
        assert type(a) is type(b) and a.args == b.args
        x = torch.rand(1, 3, 6, 6)
        with torch.no_grad():
            assert torch.equal(a(x), b(x))
        # and the converted file is an ordinary --model for every command
        import superres

        assert superres.load_model(out).info.arch == a.info.arch


def test_cli_convert_refuses_overwrite_and_bad_suffix(foreign_files, tmp_path, capsys):
    p = foreign_files[0]
    out = tmp_path / "o.safetensors"
    assert _cli(capsys, "convert", p, out)[0] == 0
    rc, _, err = _cli(capsys, "convert", p, out)
    assert rc == 2 and "exists" in err and "--overwrite" in err
    assert _cli(capsys, "convert", p, out, "--overwrite")[0] == 0
    rc, _, err = _cli(capsys, "convert", p, tmp_path / "o.pth")
    assert rc == 2 and ".safetensors" in err
    card = json.loads(out.with_suffix(".json").read_text())
    assert card["license"] == "not stated"


def test_convert_float16(foreign_files, tmp_path):
    out, card, diff = convert(foreign_files[1], tmp_path / "half.safetensors", dtype=torch.float16,
                              license="BSD-3-Clause")
    assert card.dtype == "float16" and diff < 1e-2


def test_superres_file_is_not_foreign(tmp_path, tiny_srresnet):
    from superres.weights import save_weights

    p = save_weights(tiny_srresnet, tmp_path / "ours.safetensors")
    with pytest.raises(ModelError, match="already a superres weights file"):
        load_foreign(p)


def test_no_foreign_weights_inside_the_package():
    import superres

    root = Path(superres.__file__).parent
    for f in root.rglob("*"):
        assert f.suffix not in (".h5", ".pth", ".pt", ".hdf5"), f
        if f.suffix == ".json" and f.parent.name == "pretrained":
            assert not json.loads(f.read_text()).get("extra", {}).get("foreign"), f
