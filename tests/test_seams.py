"""The seams between the layers (docs/architecture.md): frame batches through the Upscaler, the typed
model descriptor, tiling with tile_multiple, one animation pipeline for the API and the command,
one scorer, generated recipe text, model listing from weights headers, exit codes on errors."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from test_animate_cli import moving_gif, square_frames

import superres
from superres.cli import main
from superres.inference import Upscaler, plan_tiles
from superres.models import SRCNN, CompactSR, ModelDescriptor, ModelInfo, SRResNet, describe
from superres.weights import ModelCard, save_weights


@pytest.fixture(autouse=True)
def _isolated(tmp_path_factory, monkeypatch):
    """No shipped weights, no cached model, one thread (tiny inputs)."""
    import superres.api

    monkeypatch.setenv("SUPERRES_WEIGHTS_DIR", str(tmp_path_factory.mktemp("no_weights")))
    superres.api._CACHE.clear()
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)
    superres.api._CACHE.clear()


# --- Upscaler.upscale_batch / frames_per_batch -------------------------------------------------------

def test_upscale_batch_matches_frame_by_frame(tiny_srresnet):
    up = Upscaler(tiny_srresnet, device="cpu", tile=0)
    frames = square_frames(5)
    one_by_one = [up.upscale_array(f) for f in frames]
    for batch in (None, 1, 2, 5):
        out = up.upscale_batch(frames, batch)
        assert len(out) == 5
        for a, b in zip(out, one_by_one):
            assert a.shape == (32, 40, 3) and a.dtype == np.uint8
            assert np.abs(a.astype(int) - b).max() <= 1  # float rounding of a batched convolution at most
    # batch=0: one tiled frame at a time, exactly upscale_array
    assert all(np.array_equal(a, b) for a, b in zip(up.upscale_batch(frames, 0), one_by_one))
    # chunks do not change the result
    two = up.upscale_batch(frames, 2)
    assert all(np.array_equal(a, b) for a, b in zip(two, up.upscale_batch(frames[:2], 2) +
                                                     up.upscale_batch(frames[2:4], 2) + up.upscale_batch(frames[4:], 2)))
    assert up.upscale_batch([]) == []


def test_upscale_batch_rejects_mixed_frames(tiny_srresnet):
    up = Upscaler(tiny_srresnet, device="cpu")
    with pytest.raises(ValueError, match="equal-size uint8"):
        up.upscale_batch([np.zeros((4, 4, 3), np.uint8), np.zeros((5, 4, 3), np.uint8)])
    with pytest.raises(ValueError, match="equal-size uint8"):
        up.upscale_batch([np.zeros((4, 4, 3), np.float32)])


def test_frames_per_batch_follows_tiling_and_budget(tiny_srresnet):
    whole = Upscaler(tiny_srresnet, device="cpu", tile=0)
    assert 1 <= whole.frames_per_batch(10, 12) <= 8
    assert whole.frames_per_batch(10, 12, max_batch=3) <= 3
    tiled = Upscaler(tiny_srresnet, device="cpu", tile=8, tile_pad=4)
    assert tiled.frames_per_batch(40, 40) == 0  # a frame that needs tiles goes alone
    small_budget = Upscaler(tiny_srresnet, device="cpu", tile=0, memory_budget_mb=0.5)
    assert small_budget.frames_per_batch(64, 64) == 1


# --- the typed descriptor ------------------------------------------------------------------------------

def test_load_model_returns_a_typed_descriptor(tmp_path):
    m = SRResNet(channels=8, n_blocks=1).eval()
    card = ModelCard(name="t", arch="srresnet", args=m.args, scale=4, steps=7,
                     extra={"reduced_precision_ok": True})
    p = save_weights(m, tmp_path / "tiny.safetensors", card)
    d = superres.load_model(p)
    assert isinstance(d, ModelDescriptor)
    assert isinstance(d.module, SRResNet) and not d.module.training
    assert isinstance(d.info, ModelInfo) and d.info.arch == "srresnet" and d.info.scale == 4 == d.scale
    assert d.name == "tiny" and d.card.steps == 7 and d.reduced_precision_ok
    assert d.info.bytes_per_lr_pixel > 0 and d.info.extra["bytes_per_lr_pixel"] == d.info.bytes_per_lr_pixel
    x = torch.rand(1, 3, 6, 6)
    assert torch.equal(d(x), d.module(x))  # calling the descriptor runs the module
    named = superres.load_model("bicubic")
    assert named.name == "bicubic" and named.card is None and not named.reduced_precision_ok
    assert describe(d) is d
    with pytest.raises(TypeError, match="ModelInfo"):
        describe(torch.nn.Identity())


def test_the_loader_puts_the_cards_border_into_the_typed_field(tmp_path):
    """Our own models record the border treatment that measured best in their card; the loader turns
    it into ``info.border`` / ``info.border_pad``, which is what the engine reads."""
    from superres.models import Border

    m = SRResNet(channels=8, n_blocks=1).eval()
    assert m.info.border is Border.REFLECT and m.info.border_pad == 8
    for record, want in (({"treatment": "zero", "pad": 0}, (Border.ZERO, 0)),
                         ({"treatment": "reflect", "pad": 6}, (Border.REFLECT, 6))):
        card = ModelCard(name="t", arch="srresnet", args=m.args, scale=4, extra={"border": record})
        d = superres.load_model(save_weights(m, tmp_path / f"{record['treatment']}.safetensors", card))
        assert (d.info.border, d.info.border_pad) == want
        up = Upscaler(d, device="cpu")
        assert up.pre_pad == want[1]
        # the engine follows the typed field, not the card: a descriptor changed there wins
        up0 = Upscaler(ModelDescriptor(d.module, ModelInfo("srresnet", 4, border=Border.ZERO, border_pad=0),
                                       "z", d.card), device="cpu")
        assert up0.pre_pad == 0


def test_the_engine_reads_typed_fields_only():
    module = SRCNN().eval()
    fast = ModelDescriptor(module, ModelInfo("srcnn", 4, bytes_per_lr_pixel=100, tile_hint=48), "hinted")
    up = Upscaler(fast, device="cpu")
    assert up.name == "hinted" and up.bytes_per_lr_pixel() == 100
    assert up.tile_size_for(400, 400) == 48  # the hint, although the budget would allow far more
    plain = Upscaler(ModelDescriptor(module, ModelInfo("srcnn", 4), "plain"), device="cpu")
    assert plain.tile_size_for(100, 100) == 0 and up.tile_size_for(100, 100) == 48
    assert plain.bytes_per_lr_pixel() > 100  # no measured figure: the 64-channel estimate
    # reduced precision comes from the card through the descriptor, not from attributes
    ok = ModelDescriptor(module, module.info, "ok", ModelCard("ok", "srcnn", {}, 4, extra={"reduced_precision_ok": True}))
    from superres.inference.optimize import cpu_has_bf16

    assert Upscaler(ok, device="cpu").precision == ("bf16" if cpu_has_bf16() else "fp32")
    assert Upscaler(ModelDescriptor(module, module.info, "no"), device="cpu").precision == "fp32"


# --- tiling with tile_multiple -------------------------------------------------------------------------

def test_plan_tiles_aligns_windows_to_the_multiple():
    for h, w, tile, pad, m in [(37, 53, 10, 3, 2), (64, 40, 16, 5, 4), (9, 30, 7, 2, 4), (100, 3, 25, 0, 2)]:
        tiles = plan_tiles(h, w, tile, pad, m)
        cover = np.zeros((h, w), int)
        for t in tiles:
            assert t.win_y[0] % m == 0 and t.win_x[0] % m == 0
            assert t.core_y[0] % m == 0 and t.core_x[0] % m == 0
            assert t.win_y[0] <= t.core_y[0] < t.core_y[1] <= t.win_y[1] <= h
            assert t.win_x[0] <= t.core_x[0] < t.core_x[1] <= t.win_x[1] <= w
            cover[t.core_y[0]:t.core_y[1], t.core_x[0]:t.core_x[1]] += 1
        assert (cover == 1).all()
    assert plan_tiles(37, 53, 10, 3) == plan_tiles(37, 53, 10, 3, 1)  # multiple 1: the old plan


def test_tiling_is_exact_for_a_pixel_unshuffle_network():
    from superres.models.rrdbnet import RRDBNet

    torch.manual_seed(0)
    net = RRDBNet(scale=2, num_feat=8, num_block=1, num_grow_ch=4).eval()  # unshuffles by 2
    assert net.info.tile_multiple == 2
    arr = np.random.default_rng(1).integers(0, 256, (27, 31, 3), dtype=np.uint8)
    whole = Upscaler(net, device="cpu", tile=0, optimize=False).upscale_array(arr.astype(np.float32) / 255)
    tiled_up = Upscaler(net, device="cpu", tile=9, tile_pad=11, optimize=False)
    assert tiled_up.pre_pad % 2 == 0 and tiled_up.tile_pad % 2 == 0 and len(tiled_up.plan(27, 31)) > 1
    tiled = tiled_up.upscale_array(arr.astype(np.float32) / 255)
    assert np.abs(tiled - whole).max() < 1e-4
    # the same tiles without the alignment (what tiling did before) are visibly off
    blind = ModelDescriptor(net, ModelInfo("rrdbnet", 2, receptive_pad=24), "blind")
    misaligned = Upscaler(blind, device="cpu", tile=9, tile_pad=11, pre_pad=7, optimize=False)
    assert np.abs(misaligned.upscale_array(arr.astype(np.float32) / 255) - whole).max() > 1e-3


# --- one animation pipeline -------------------------------------------------------------------------

def test_api_and_cli_write_identical_gifs(tmp_path, tiny_weights_file):
    src = moving_gif(tmp_path / "m.gif", n=5, w=10, h=8)
    api_out = tmp_path / "api.gif"
    r = superres.upscale_animation(src, str(tiny_weights_file), device="cpu", stabilize=True, output=api_out,
                                   bicubic=True, keep_frames=True)
    rc = main(["animate", str(src), "-o", str(tmp_path / "cli.gif"), "-m", str(tiny_weights_file), "--device",
               "cpu", "--stabilize", "--also-bicubic", "-q"])
    assert rc == 0
    assert api_out.read_bytes() == (tmp_path / "cli.gif").read_bytes()
    # the bicubic baseline is the same too
    superres.write_animation(r.bicubic, tmp_path / "api_bicubic.gif", loop=r.loop)
    assert (tmp_path / "api_bicubic.gif").read_bytes() == (tmp_path / "cli_bicubic.gif").read_bytes()


def test_pipeline_measures_and_stabilises(tiny_srresnet):
    from superres.animate import AnimationPipeline, Stabilizer, bicubic_upscaler
    from superres.io.animation import frames_from_objects

    frames, _ = frames_from_objects(square_frames(4))
    up = Upscaler(tiny_srresnet, device="cpu")
    pipe = AnimationPipeline(up, bicubic=bicubic_upscaler(4, "cpu"), stabilizer=Stabilizer(4, 0, 1))
    out = list(pipe.run(frames))
    assert [lr.index for lr, _, _ in out] == [0, 1, 2, 3]
    assert all(hb is not None and hb.rgb.shape == hr.rgb.shape == (32, 40, 3) for _, hr, hb in out)
    assert pipe.stats.frames == 4 and pipe.flicker is not None and pipe.flicker_bicubic is not None
    same = AnimationPipeline(up, model_is_bicubic=True)
    assert all(hb is hr for _, hr, hb in same.run(frames))


# --- one scorer -----------------------------------------------------------------------------------------

def test_score_is_the_literature_convention():
    from superres.metrics import psnr, score, ssim

    rng = np.random.default_rng(0)
    hr = rng.integers(0, 256, (40, 36, 3), dtype=np.uint8)
    sr = np.clip(hr.astype(int) + rng.integers(-9, 10, hr.shape), 0, 255).astype(np.uint8)
    seen = []

    def fake_lpips(a, b):
        seen.append((a.shape, a.dtype, b.shape))
        return 0.5

    s = score(sr, hr, 4, lpips=fake_lpips)
    assert s.psnr == psnr(sr, hr, shave=4) and s.ssim == ssim(sr, hr, shave=4) and s.lpips == 0.5
    assert seen == [((32, 28, 3), np.dtype(np.uint8), (32, 28, 3))]  # shaved, 8-bit, SR first
    tiny = score(sr[:12, :12], hr[:12, :12], 4)
    assert tiny.ssim is None and "11x11" in tiny.errors["ssim"] and tiny.psnr is not None
    # a float tensor is rounded to 8 bits first, as evaluate does with its uint8 output
    t = torch.from_numpy(sr).permute(2, 0, 1)[None].float() / 255
    assert score(t, hr, 4).psnr == s.psnr


# --- model cards, model listing ---------------------------------------------------------------------------

def test_recipe_text_comes_from_the_runs_config():
    from superres.training.config import make_config
    from superres.training.export import recipe_text

    paper = make_config("srgan", None, {"init_from": "runs/srresnet"}).to_dict()
    text = recipe_text(paper, "vgg19 conv5_4 from https://example/vgg19.pth")
    assert "vgg19 conv5_4" in text and "1e-3 x adversarial" in text and "features x 4.52" in text
    assert "features / 12.75" in recipe_text(dict(paper, vgg_scale=1 / 12.75))  # as the shipped runs recorded it
    assert "pixel" not in text and "grid" not in text and "https" not in text
    tuned = make_config("srgan", None, {"init_from": "r", "pixel_weight": "2", "grid_weight": "1000",
                                        "consistency_weight": "10", "vgg_layer": "conv3_3", "vgg_net": "vgg16",
                                        "ema_decay": "0.999"}).to_dict()
    t2 = recipe_text(tuned)
    assert "2 x MSE pixel loss" in t2 and "1000 x sub-pixel grid loss" in t2 and "10 x LR-consistency" in t2
    assert "vgg16 conv3_3" in t2 and "moving average (decay 0.999)" in t2
    real = make_config("srgan", None, {"init_from": "r", "content": "perceptual", "gan_loss": "ragan",
                                       "discriminator": "unet", "ema_decay": "0.999", "ldl_weight": "1"}).to_dict()
    t3 = recipe_text(real, "vgg16 conv5_3 from x")
    assert "L1 perceptual loss on vgg16" in t3 and "RaGAN" in t3 and "U-Net discriminator" in t3
    assert "1 x LDL artefact loss" in t3 and "VGG content loss" not in t3
    assert "VGG-style discriminator" in text
    assert "SRCNN 9-5-5" in recipe_text(make_config("srcnn").to_dict())
    assert "L1 loss" in recipe_text(make_config("srresnet", None, {"pixel_loss": "l1"}).to_dict())


@pytest.fixture
def tiny_weights_file(tmp_path) -> Path:
    return save_weights(SRResNet(scale=4, channels=8, n_blocks=1), tmp_path / "weights" / "tiny.safetensors")


def test_models_lists_from_weights_headers_without_torch(tmp_path):
    wdir = tmp_path / "w"
    nets = {"srgan-x4": SRResNet(channels=8, n_blocks=1), "srresnet-x4": SRResNet(channels=8, n_blocks=2),
            "srgan-x4-fast": CompactSR(num_feat=8, num_conv=2), "srcnn-x4": SRCNN(n1=8, n2=4)}
    for name, net in nets.items():
        save_weights(net, wdir / f"{name}.safetensors")
    code = ("import sys, json, io, contextlib; from superres.cli import main\n"
            "buf = io.StringIO()\n"
            "with contextlib.redirect_stdout(buf): rc = main(['models', '--json'])\n"
            "print(json.dumps({'rc': rc, 'torch': 'torch' in sys.modules, 'rows': json.loads(buf.getvalue())}))")
    env = {**__import__("os").environ, "SUPERRES_WEIGHTS_DIR": str(wdir)}
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120, check=True)
    out = json.loads(r.stdout.strip().splitlines()[-1])
    assert out["rc"] == 0 and out["torch"] is False
    rows = {row["name"]: row for row in out["rows"]}
    for name, net in nets.items():
        assert rows[name]["params"] == sum(p.numel() for p in net.parameters()), name
        assert rows[name]["scale"] == 4
    assert rows["bicubic"]["params"] == 0


def test_weights_summary_of_an_old_file_skips_batchnorm_statistics(tmp_path):
    from safetensors.torch import save_file

    from superres.weights import read_header, weights_summary

    net = SRResNet(channels=8, n_blocks=2)
    p = save_weights(net, tmp_path / "new.safetensors")
    assert int(read_header(p)["params"]) == sum(q.numel() for q in net.parameters())
    meta = {k: v for k, v in read_header(p).items() if k != "params"}  # as written before the field existed
    save_file({k: v.contiguous() for k, v in net.state_dict().items()}, str(tmp_path / "old.safetensors"), metadata=meta)
    s = weights_summary(tmp_path / "old.safetensors")
    assert s.arch == "srresnet" and s.scale == 4 and s.params == sum(q.numel() for q in net.parameters())


def test_declared_registry_facts_match_the_built_networks():
    from superres.registry import list_models

    for e in list_models():
        if e.params is not None:
            net = e.builder()
            assert (e.scale, e.params) == (net.info.scale, sum(p.numel() for p in net.parameters())), e.name


# --- errors, notes ------------------------------------------------------------------------------------------

def test_errors_carry_their_exit_codes():
    from superres.errors import ExitCode, InputError, ModelError, OutputError, SuperResError, UsageError

    assert SuperResError("x").exit_code == ModelError("x").exit_code == OutputError("x").exit_code == ExitCode.USAGE
    assert UsageError("x").exit_code == ExitCode.USAGE and InputError("x").exit_code == ExitCode.INPUT == 1
    assert str(ModelError("no such model")) == "no such model"


def test_one_fallback_note_for_every_command():
    from superres.registry import DEFAULT_MODEL, fallback_note

    assert fallback_note(DEFAULT_MODEL) is None
    assert fallback_note("bicubic") == f"{DEFAULT_MODEL} weights are not installed; using bicubic"


def test_animate_file_reports_progress_and_notes_through_callbacks(tmp_path):
    from superres.animate import AnimateOptions, animate_file

    calls, notes = [], []
    rep = animate_file(moving_gif(tmp_path / "m.gif"), tmp_path / "o.gif", AnimateOptions(),
                       note=notes.append, progress=lambda done, total: calls.append((done, total)))
    assert calls == [(0, 4), (1, 4), (2, 4), (3, 4), (4, 4)] and rep.frames == 4
    assert notes == ["srgan-x4 weights are not installed; using bicubic"]  # no weights installed here
