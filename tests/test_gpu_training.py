"""Training packs and the GPU command (``superres data pack``, ``superres train-gpu``), run on the CPU."""

import json
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from superres.resize import imresize
from superres.training.budget import StepBudget
from superres.training.config import make_config
from superres.training.data import degrade, find_images
from superres.training.gpu import GPU_SRGAN, DeviceSampler, stage_overrides
from superres.training.pack import PackError, build_pack, read_pack
from superres.training.train import held_out_split

ROOT = Path(__file__).resolve().parents[1]


def _photo(rng, h, w):
    base = rng.random((h // 8, w // 8, 3))
    img = imresize(torch.from_numpy(base).permute(2, 0, 1), size=(h, w)).clamp(0, 1)
    img = (img + 0.08 * torch.from_numpy(rng.random((3, h, w)))).clamp(0, 1)  # some texture
    return (img.permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)


@pytest.fixture(scope="module")
def photos(tmp_path_factory):
    """Twelve small 'photos' in two folders (one corrupt file, skipped and named)."""
    root = tmp_path_factory.mktemp("photos")
    rng = np.random.default_rng(0)
    for i in range(12):
        d = root / ("a" if i < 7 else "b")
        d.mkdir(exist_ok=True)
        Image.fromarray(_photo(rng, 96 + 8 * (i % 4), 128 + 8 * i)).save(d / f"p{i:02d}.png")
    (root / "a" / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 not a jpeg")
    return [root / "a", root / "b"]


@pytest.fixture(scope="module")
def vgg_file(tmp_path_factory):
    """Random VGG16 weights up to conv2_2 in torchvision's layout (the property tested does not need ImageNet)."""
    from superres.training.losses import VGGFeatures

    torch.manual_seed(0)
    feats = VGGFeatures("vgg16", "conv2_2").features.state_dict()
    path = tmp_path_factory.mktemp("vgg") / "vgg16.pth"
    torch.save({f"features.{k}": v for k, v in feats.items()}, path)
    return path


@pytest.fixture(scope="module")
def pack(photos, vgg_file, tmp_path_factory):
    out = tmp_path_factory.mktemp("pack") / "tiny.pack"
    with pytest.warns(UserWarning, match="broken.jpg"):
        build_pack(out, photos, max_mb=0.72, vgg_weights=vgg_file, vgg_layer="conv2_2", lpips=False, min_side=32)
    return out


# --- the pack --------------------------------------------------------------------------------------

def test_pack_fits_its_budget_and_records_what_was_done(pack, photos):
    assert pack.stat().st_size < 0.72e6
    p = read_pack(pack)
    m = p.manifest
    paths = find_images(photos)
    _, held = held_out_split(paths, 8)
    # the validation slice is the fixed held-out rule, never trained on
    assert [e["source"] for e in m["val"]["images"]] == [str(h) for h in held]
    assert not {e["source"] for e in m["train"]["images"]} & {str(h) for h in held}
    assert [s["source"] for s in m["train"]["skipped"]] == [str(photos[0] / "broken.jpg")]
    assert len(p.train) == len(paths) - len(held) - 1
    # the budget forced resizing, and the manifest says so
    enc = m["train"]["encoding"]
    assert enc["codec"] == "jpeg" and enc["chroma"] == "4:4:4" and enc["long_side_cap"] < 216
    assert enc["resized_images"] > 0 and "resized to" in enc["what"]
    for e, (name, blob) in zip(m["train"]["images"], p.train):
        w, h = Image.open(__import__("io").BytesIO(blob)).size
        assert [w, h] == e["size"] and max(w, h) <= enc["long_side_cap"] and e["name"] == name
    # VGG up to the layer asked for, in float16; LPIPS left out when asked
    assert m["vgg"]["layer"] == "conv2_2" and all(t.dtype == torch.float16 for t in p.vgg.values())
    assert sorted(p.vgg) == sorted(f"features.{i}.{k}" for i in (0, 2, 5, 7) for k in ("weight", "bias"))
    assert not p.lpips_backbone and "note" in m["lpips"]
    # the validation crops are lossless crops of the original photo
    name, blob = p.val[0]
    crop = np.asarray(Image.open(__import__("io").BytesIO(blob)))
    orig = np.asarray(Image.open(held[0]))
    h, w = crop.shape[:2]
    y0, x0 = ((orig.shape[0] // 4 * 4 - h) // 2 // 4) * 4, ((orig.shape[1] // 4 * 4 - w) // 2 // 4) * 4
    np.testing.assert_array_equal(crop, orig[y0:y0 + h, x0:x0 + w])


def test_pack_detects_corruption_and_refuses_to_overwrite(pack, photos, vgg_file, tmp_path):
    from superres.errors import OutputError

    bad = tmp_path / "bad.pack"
    data = bytearray(pack.read_bytes())
    data[-100] ^= 0xFF  # a byte inside the last stored item
    bad.write_bytes(bytes(data))
    with pytest.raises(PackError, match="corrupt"):
        read_pack(bad)
    with pytest.raises(OutputError, match="exists"):
        build_pack(pack, photos, vgg_weights=vgg_file, vgg_layer="conv2_2", lpips=False)
    with pytest.raises(PackError, match="left for training photos"):
        build_pack(tmp_path / "small.pack", photos, max_mb=0.5, vgg_weights=vgg_file, vgg_layer="conv2_2",
                   lpips=False)
    assert not (tmp_path / "small.pack").exists() and not list(tmp_path.glob(".*tmp"))
    with pytest.raises(PackError, match="not a superres training pack"):
        (tmp_path / "w.safetensors").write_bytes(b"")
        from safetensors.torch import save_file

        save_file({"x": torch.zeros(2)}, str(tmp_path / "w.safetensors"))
        read_pack(tmp_path / "w.safetensors")


def test_cli_data_pack(photos, vgg_file, tmp_path, capsys):
    from superres.cli import main

    out = tmp_path / "p.pack"
    args = ["data", "pack", str(out), "--data", *map(str, photos), "--max-mb", "0.72", "--vgg-weights", str(vgg_file),
            "--vgg-layer", "conv2_2", "--no-lpips", "-q", "--min-side", "32"]
    with pytest.warns(UserWarning):
        assert main(args) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["bytes"] == out.stat().st_size and report["vgg"] == "vgg16 up to conv2_2"
    assert main(args) == 2  # exists: one line, no overwrite
    assert "exists" in capsys.readouterr().err


# --- the device sampler and the time budget --------------------------------------------------------

def test_device_sampler_lr_is_the_whole_image_bicubic_crop():
    """Crops anywhere, including at the borders, give the LR that the whole image's downscale has there."""
    rng = np.random.default_rng(1)
    img = _photo(rng, 72, 88)
    lr_whole = degrade(img, 4)
    t = torch.from_numpy(img).permute(2, 0, 1).contiguous()
    s = DeviceSampler([t], hr_crop=32, batch_size=16, scale=4, seed=3, augment=False)
    lr, hr = s.batch()
    assert lr.shape == (16, 3, 8, 8) and hr.shape == (16, 3, 32, 32)
    seen = set()
    for k in range(16):
        h8 = (hr[k] * 255).round().to(torch.uint8).permute(1, 2, 0).numpy()
        pos = [(y, x) for y in range(0, 72 - 31, 4) for x in range(0, 88 - 31, 4)
               if np.array_equal(img[y:y + 32, x:x + 32], h8)]
        assert len(pos) == 1
        y, x = pos[0]
        seen.add((y == 0 or y == 40, x == 0 or x == 56))
        want = lr_whole[y // 4:y // 4 + 8, x // 4:x // 4 + 8].astype(np.float32)
        got = (lr[k] * 255).permute(1, 2, 0).numpy()
        assert np.abs(got - want).max() <= 1.0  # float vs float64 rounding of the same filter
    assert (True, True) in seen or (True, False) in seen or (False, True) in seen  # borders were drawn


def test_device_sampler_augments_pairs_consistently_and_resumes():
    rng = np.random.default_rng(2)
    t = torch.from_numpy(_photo(rng, 64, 64)).permute(2, 0, 1).contiguous()
    s = DeviceSampler([t], hr_crop=32, batch_size=8, scale=4, seed=5, augment=True)
    state = s.state()
    lr, hr = s.batch()
    # every LR is the bicubic x1/4 of its HR's region (augmentation happened before the downscale)
    back = imresize(hr, scale=0.25)
    assert (back - lr).abs().mean() < 0.02
    s.set_state(state)
    lr2, hr2 = s.batch()
    assert torch.equal(lr, lr2) and torch.equal(hr, hr2)


def test_step_budget_fits_the_run_to_the_deadline():
    cfg = make_config("srresnet", overrides={"max_steps": 100_000, "log_every": 50})
    clock = {"t": 0.0}
    b = StepBudget(deadline=100.0, warmup=2, measure=4, evals=4, clock=lambda: clock["t"])
    rows = []
    step = 0
    while step < cfg.max_steps:
        row = b.fit(cfg, step)
        if row:
            rows.append((step, row))
        clock["t"] += 5.0 if step < 2 else 0.5  # slow first steps (autotuning), then 0.5 s
        step += 1
    assert rows[0][1]["reason"] == "first estimate" and rows[0][1]["s_per_step"] == pytest.approx(0.5)
    assert 178 <= step <= 183 and 98 <= clock["t"] <= 100.5  # 2 x 5 s + 180 x 0.5 s
    assert cfg.val_every == cfg.ckpt_every and 40 <= cfg.val_every <= 46
    # a cap is kept
    cfg = make_config("srresnet", overrides={"max_steps": 20})
    clock["t"] = 0.0
    b = StepBudget(deadline=100.0, warmup=2, measure=4, clock=lambda: clock["t"])
    for step in range(20):
        b.fit(cfg, step)
        clock["t"] += 0.5
    assert cfg.max_steps == 20


# --- the command ------------------------------------------------------------------------------------

def test_gpu_srgan_stage_follows_srgan_x4_toml():
    """The GPU SRGAN stage's objective is the shipped srgan-x4 recipe's (batch, crop, precision and
    training-only data are the machine's and the pack's)."""
    import tomllib

    toml = tomllib.loads((ROOT / "examples" / "training" / "srgan-x4.toml").read_text())
    schedule = {"init_from", "max_steps", "lr_milestone", "val_every", "ckpt_every", "log_every", "threads",
                "batch_size", "hr_crop", "precision", "extra_data"}
    for k, v in toml.items():
        if k not in schedule:
            assert GPU_SRGAN.get(k, make_config("srgan", overrides={"init_from": "x"}).to_dict()[k]) == v, k
    assert GPU_SRGAN["ema_decay"] > 0
    one, two = stage_overrides(["channels=8", "n_blocks=2"], ["batch_size=4"])
    assert [str(two[k]) for k in ("channels", "n_blocks", "batch_size")] == ["8", "2", "4"]
    with pytest.raises(Exception, match="differs between the stages"):
        stage_overrides(["channels=8"], ["channels=16"])


def test_train_gpu_on_cpu_in_half_a_minute_ends_with_usable_exports(pack, tmp_path, capsys):
    import superres
    from superres.cli import main

    out = tmp_path / "run"
    t0 = time.time()
    rc = main(["train-gpu", "--pack", str(pack), "--out", str(out), "--minutes", "0.5", "--device", "cpu",
               "--srresnet-init", "scratch", "--no-progress",
               "--srresnet-set", "channels=8", "n_blocks=2", "batch_size=4", "hr_crop=32",
               "--srgan-set", "batch_size=4", "hr_crop=32", "vgg_layer=conv2_2", "perceptual_layers=conv1_2:0.1,conv2_2:1",
               "d_channels=8"])
    wall = time.time() - t0
    assert rc == 0, capsys.readouterr().err
    assert wall < 90  # the budget is 30 s; a run that ignored its deadline would take hours
    summary = json.loads((out / "summary.json").read_text())
    rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    for stage, name in (("srresnet", "srresnet-x4-gpu"), ("srgan", "srgan-x4-gpu")):
        card = json.loads((out / f"{name}.json").read_text())
        st = summary["stages"][stage]
        assert st["steps"] > 0 and card["steps"] == st["steps"] and card["metrics"]["val-slice"]["psnr"] > 10
        assert "training pack tiny.pack" in card["training_data"] and card["extra"]["weights"].startswith("EMA")
        assert card["extra"]["config"]["max_steps"] == st["steps"]  # the length the budget fitted
        assert any(r.get("stage") == stage and r.get("event") == "time_budget" for r in rows)
        assert any(r.get("stage") == stage and "val_psnr" in r for r in rows)
        assert not (out / "runs" / stage / "ckpt.pt").exists()
        model = superres.load_model(out / f"{name}.safetensors")
        lr = np.asarray(Image.open(next((out / "val-slice").iterdir())))[:24, :24]
        sr = superres.make_upscaler(model, device="cpu").upscale_array(np.ascontiguousarray(lr))
        assert sr.shape == (96, 96, 3) and sr.dtype == np.uint8
    srgan_card = json.loads((out / "srgan-x4-gpu.json").read_text())
    assert srgan_card["extra"]["init_from"].endswith("runs/srresnet/generator.safetensors")
    assert rows[0]["event"] == "start" and rows[-1]["event"] == "end"
    # a second run into the same folder must not overwrite the first
    assert main(["train-gpu", "--pack", str(pack), "--out", str(out), "--minutes", "0.5", "--device", "cpu"]) == 2
    assert "already holds a GPU run" in capsys.readouterr().err


@pytest.mark.parametrize("srgan_set,layer", [([], "conv5_3"), (["content=paper", "vgg_layer=conv3_3"], "conv3_3")])
def test_train_gpu_refuses_a_pack_without_the_vgg_layer_it_needs(pack, tmp_path, capsys, srgan_set, layer):
    from superres.cli import main

    rc = main(["train-gpu", "--pack", str(pack), "--out", str(tmp_path / "r"), "--minutes", "0.5", "--device",
               "cpu", "--srresnet-init", "scratch", "--srresnet-set", "channels=8", "n_blocks=2",
               *(["--srgan-set", *srgan_set] if srgan_set else [])])
    err = capsys.readouterr().err
    assert rc == 2 and f"uses VGG16 {layer}" in err and "--vgg-layer" in err
    assert not (tmp_path / "r" / "runs").exists()  # refused before anything was written


def test_export_ships_the_ema_generator(tmp_path):
    from superres.training.export import export_run
    from superres.training.train import load_checkpoint, train
    from superres.weights import load_weights

    d = tmp_path / "photos"
    d.mkdir()
    rng = np.random.default_rng(4)
    for i in range(3):
        Image.fromarray(_photo(rng, 64, 64)).save(d / f"{i}.png")
    over = {"channels": 8, "n_blocks": 1, "batch_size": 2, "hr_crop": 32, "max_steps": 3, "val_every": 0,
            "ema_decay": 0.5, "lr": 1e-2}
    run = train("srresnet", [d], tmp_path / "r", overrides=over, cache_dir=tmp_path / "c", progress=False).run_dir
    ck = load_checkpoint(run)
    out, card = export_run(run, tmp_path / "m.safetensors", name="m", lpips=False)
    got = load_weights(out).state_dict()
    k = "head.0.weight" if "head.0.weight" in ck["ema"] else next(iter(ck["ema"]))
    assert torch.allclose(got[k].float(), ck["ema"][k].float(), atol=1e-3)
    assert not torch.allclose(ck["ema"][k].float(), ck["model"]["state"][k].float(), atol=1e-3)
    assert card.extra["weights"].startswith("EMA")


def test_gpu_run_script_says_what_is_wrong(tmp_path):
    import subprocess

    script = ROOT / "scripts" / "gpu_run.sh"
    r = subprocess.run(["bash", str(script)], capture_output=True, text=True)
    assert r.returncode == 2 and "usage:" in r.stderr
    r = subprocess.run(["bash", str(script), str(tmp_path / "none.pack"), str(tmp_path / "out"), "1"],
                       capture_output=True, text=True)
    assert r.returncode == 2 and "no pack at" in r.stderr and not (tmp_path / "out").exists()
    assert "pip install" not in script.read_text().replace("pip install --no-index", "")  # never from the network
