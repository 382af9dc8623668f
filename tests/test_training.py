import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from superres.resize import imresize
from superres.training.config import ConfigError, make_config
from superres.training.data import PairCache, PairSampler, find_images


@pytest.fixture
def photo_dir(tmp_path):
    """A few small smooth-ish 'photos' (plus a corrupt and a tiny file that must be skipped)."""
    d = tmp_path / "photos"
    (d / "sub").mkdir(parents=True)
    rng = np.random.default_rng(0)
    for i in range(3):
        base = rng.random((16, 20, 3))
        img = imresize(torch.from_numpy(base).permute(2, 0, 1), size=(64, 80)).clamp(0, 1)
        arr = (img.permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)
        Image.fromarray(arr).save(d / ("sub" if i == 2 else ".") / f"img{i}.png")
    (d / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(d / "tiny.png")
    return d


# --- config -------------------------------------------------------------------------------------

def test_config_defaults_are_the_papers():
    c = make_config("srgan", overrides={"init_from": "x.safetensors"})
    assert (c.lr, c.batch_size, c.hr_crop, c.adv_weight) == (1e-4, 16, 96, 1e-3)
    assert c.vgg_scale == pytest.approx(255 * 0.226 / 12.75) and c.lr_schedule == "step_half"
    s = make_config("srcnn")
    assert (s.hr_crop, s.batch_size, s.srcnn_f1, s.srcnn_f2, s.srcnn_f3) == (33, 128, 9, 5, 5)


def test_config_unknown_key_is_an_error_with_suggestion(tmp_path):
    with pytest.raises(ConfigError, match="batch_size"):
        make_config("srresnet", overrides=["batchsize=8"])
    f = tmp_path / "c.toml"
    f.write_text("lr = 2e-4\nmax_step = 10\n")
    with pytest.raises(ConfigError, match="max_steps"):
        make_config("srresnet", config_file=f)


def test_config_file_and_set_overrides(tmp_path):
    f = tmp_path / "c.toml"
    f.write_text("lr = 2e-4\nbatch_size = 4\n")
    c = make_config("srresnet", config_file=f, overrides=["batch_size=8", "augment=false"])
    assert (c.lr, c.batch_size, c.augment) == (2e-4, 8, False)
    with pytest.raises(ConfigError, match="expected int"):
        make_config("srresnet", overrides=["batch_size=many"])
    with pytest.raises(ConfigError, match="consistency_weight"):
        make_config("srresnet", overrides=["consistency_weight=-1"])
    with pytest.raises(ConfigError, match="init_from"):
        make_config("srgan")  # SRGAN must start from a trained SRResNet


def test_project_builds_the_projecting_generators_and_is_refused_for_srcnn():
    from superres.training.train import build_generator

    g = build_generator(make_config("srgan", overrides=["init_from=x", "project=true", "channels=8", "n_blocks=1"]))
    assert g.project is not None and g.args["project"] is True
    assert build_generator(make_config("srresnet", overrides=["channels=8", "n_blocks=1"])).project is None
    c = build_generator(make_config("srgan", overrides=["init_from=x", "project=true", "generator=compact",
                                                        "compact_feat=8", "compact_convs=2"]))
    assert c.project is not None and c.args["project"] is True
    with pytest.raises(ConfigError, match="SRCNN has none"):
        make_config("srcnn", overrides=["project=true"])


# --- data ---------------------------------------------------------------------------------------

def test_pairs_are_aligned_bicubic_downscales(photo_dir, tmp_path):
    paths = find_images([photo_dir])
    assert len(paths) == 5  # recursive
    with pytest.warns(UserWarning, match="skipping"):
        cache = PairCache(paths, 4, tmp_path / "cache", min_side=32, progress=False)
    assert len(cache.images) == 3
    assert {p.name for p, _ in cache.skipped} == {"broken.jpg", "tiny.png"}
    for im in cache.images:  # LR = MATLAB bicubic of the whole HR image
        hr = torch.from_numpy(np.array(im.hr)).permute(2, 0, 1).float()
        lr = imresize(hr, scale=0.25).round().clamp(0, 255)
        assert torch.equal(lr, torch.from_numpy(np.array(im.lr)).permute(2, 0, 1).float())
    sampler = PairSampler(cache, hr_crop=32, batch_size=6, seed=0, augment=True)
    lr, hr = sampler.batch()
    assert lr.shape == (6, 3, 8, 8) and hr.shape == (6, 3, 32, 32)
    # every crop pair is consistent: the LR crop is the HR crop's downscale, away from the border
    down = imresize(hr * 255, scale=0.25)
    assert (down[..., 2:-2, 2:-2] - lr[..., 2:-2, 2:-2] * 255).abs().mean() < 2.0


def test_sampler_is_reproducible_and_resumable(photo_dir, tmp_path):
    cache = PairCache(find_images([photo_dir / "sub"]), 4, tmp_path / "c", min_side=32, progress=False)
    a = PairSampler(cache, 32, 2, seed=3)
    a.batch()
    state = a.state()
    nxt = a.batch()
    b = PairSampler(cache, 32, 2, seed=99)
    b.set_state(state)
    assert torch.equal(b.batch()[1], nxt[1])


def test_srcnn_pairs_use_enlarged_input(photo_dir, tmp_path):
    cache = PairCache(find_images([photo_dir / "sub"]), 4, tmp_path / "c", min_side=32,
                      with_enlarged=True, progress=False)
    up, hr = PairSampler(cache, 33, 4, seed=0, lr_input=False).batch()
    assert up.shape == hr.shape == (4, 3, 33, 33)


# --- losses -------------------------------------------------------------------------------------

def test_vgg_content_loss_zero_on_identical_images():
    from superres.training.losses import ContentLoss, VGGFeatures

    vgg = VGGFeatures("vgg16", "conv2_2")  # random weights: the property does not depend on them
    loss = ContentLoss(vgg)
    x = torch.rand(2, 3, 32, 32)
    assert loss(x, x.clone()).item() == 0.0
    assert loss(x, torch.rand(2, 3, 32, 32)).item() > 0
    assert len([m for m in vgg.features if isinstance(m, torch.nn.Conv2d)]) == 4


def test_vgg_layers_and_torchvision_layout(tmp_path):
    from superres.training.losses import VGGFeatures, load_torchvision_features

    full = VGGFeatures("vgg19", "conv5_4")
    convs = [m for m in full.features if isinstance(m, torch.nn.Conv2d)]
    assert len(convs) == 16 and isinstance(full.features[-1], torch.nn.ReLU)
    # torchvision indices: vgg19 conv5_4 is features.34
    state = {f"features.{k}": v for k, v in full.features.state_dict().items()}
    assert "features.34.weight" in state
    torch.save(state, tmp_path / "vgg19.pth")
    again = VGGFeatures("vgg19", "conv5_4", load_torchvision_features(str(tmp_path / "vgg19.pth"), "vgg19"))
    x = torch.rand(1, 3, 32, 32)
    assert torch.allclose(again(x), full(x))
    with pytest.raises(ValueError, match="conv6_1"):
        VGGFeatures("vgg16", "conv6_1")


def test_chroma_loss_sees_colour_but_not_luma_detail():
    from superres.training.losses import chroma_loss

    g = torch.Generator().manual_seed(0)
    hr = torch.rand(2, 3, 16, 16, generator=g)
    grey_detail = 0.1 * torch.randn(2, 1, 16, 16, generator=g).expand(2, 3, 16, 16)  # the same in R, G and B
    assert float(chroma_loss(hr + grey_detail, hr)) < 1e-6
    fringe = hr + 0.1 * torch.randn(2, 3, 16, 16, generator=g)  # independent per channel: coloured
    assert float(chroma_loss(fringe, hr)) > 0.05
    with pytest.raises(ConfigError, match="chroma_weight"):
        make_config("srresnet", overrides=["chroma_weight=-1"])


def test_grid_loss_sees_a_block_pattern_but_not_texture_or_a_uniform_shift():
    from superres.training.losses import grid_loss

    g = torch.Generator().manual_seed(0)
    hr = torch.rand(2, 3, 32, 32, generator=g)
    assert grid_loss(hr, hr, 4) == 0
    assert grid_loss(hr + 0.1, hr, 4) < 1e-12  # a colour shift is the consistency term's business
    pattern = torch.zeros(4, 4)
    pattern[0, 0], pattern[2, 3] = 0.2, -0.1
    grid = hr + pattern.repeat(8, 8)  # the same 4x4 offsets in every block
    texture = hr + 0.15 * (torch.rand(2, 3, 32, 32, generator=g) - 0.5)  # noise of similar energy
    assert grid_loss(grid, hr, 4) > 50 * grid_loss(texture, hr, 4)
    assert grid_loss(grid[..., :30, :31], hr[..., :30, :31], 4) > 0  # ragged sizes are cropped


def test_adversarial_terms_have_the_right_sign():
    from superres.training.losses import discriminator_loss, generator_adversarial_loss

    confident_real = torch.tensor([8.0, 9.0])
    confident_fake = torch.tensor([-8.0, -9.0])
    # G's loss -log D(G(z)) is small when D believes the fakes are real, large otherwise
    assert generator_adversarial_loss(confident_real) < 0.01 < 5 < generator_adversarial_loss(confident_fake)
    # D's loss is small when it separates real (high logit) from fake (low logit)
    assert discriminator_loss(confident_real, confident_fake) < 0.01
    assert discriminator_loss(confident_fake, confident_real) > 10
    # equal to the textbook forms
    d = torch.tensor([0.3])
    assert generator_adversarial_loss(d).item() == pytest.approx(-np.log(torch.sigmoid(d).item()))
    # stable at extreme logits (no inf/nan)
    assert torch.isfinite(generator_adversarial_loss(torch.tensor([-1e4])))


# --- the loop -----------------------------------------------------------------------------------

TINY = {"channels": 8, "n_blocks": 1, "hr_crop": 32, "batch_size": 2, "val_every": 2, "log_every": 1,
        "ckpt_every": 100, "max_steps": 4, "val_max_side": 64, "threads": 1}


def _weights(run):
    from superres.training.train import load_checkpoint

    return load_checkpoint(run)["model"]["state"]


@pytest.mark.parametrize("recipe", ["srresnet", "srcnn"])
def test_resume_is_exact(recipe, photo_dir, tmp_path):
    from superres.training.train import train

    over = dict(TINY)
    if recipe == "srcnn":
        over.update(hr_crop=33, channels=64, n_blocks=16, srcnn_n1=8, srcnn_n2=4)
    kw = dict(cache_dir=tmp_path / "cache", progress=False)
    with pytest.warns(UserWarning):
        straight = train(recipe, [photo_dir], tmp_path / "a", overrides=over, **kw).run_dir
        part = train(recipe, [photo_dir], tmp_path / "b", overrides=over, stop_after=2, **kw).run_dir
    from superres.training.train import load_checkpoint

    assert load_checkpoint(part)["step"] == 2
    with pytest.warns(UserWarning):
        train(recipe, [photo_dir], part, resume=True, **kw)
    wa, wb = _weights(straight), _weights(part)
    assert load_checkpoint(part)["step"] == 4
    for k in wa:
        assert torch.allclose(wa[k].float(), wb[k].float(), atol=1e-6), k
    rows = [json.loads(x) for x in (straight / "metrics.jsonl").read_text().splitlines()]
    assert any("val_psnr" in r for r in rows) and any("loss" in r for r in rows)
    # every log and validation row carries the run's clocks, and they continue across the resume
    timed = [r for r in (json.loads(x) for x in (part / "metrics.jsonl").read_text().splitlines())
             if "loss" in r or "val_psnr" in r]
    assert timed and all(r["elapsed_s"] >= 0 and r["train_cpu_s"] >= 0 for r in timed)
    assert [r["step"] for r in timed] == sorted(r["step"] for r in timed)
    for before, after in zip(timed, timed[1:]):
        assert after["elapsed_s"] >= before["elapsed_s"] and after["train_cpu_s"] >= before["train_cpu_s"]
    assert timed[-1]["train_cpu_s"] > 0 and load_checkpoint(part)["train_cpu_s"] >= timed[-1]["train_cpu_s"] - 0.1
    assert (straight / "curves.png").exists() and (straight / "config.json").exists()
    assert list((straight / "samples").glob("*.png"))
    # the exported generator loads without naming the architecture
    import superres

    g = superres.load_model(straight / "generator.safetensors")
    assert g.info.arch == recipe


def test_srgan_steps_run_and_log_gan_stats(photo_dir, tmp_path, monkeypatch):
    from superres.models import SRResNet
    from superres.training import losses
    from superres.training.train import train
    from superres.weights import save_weights

    init = save_weights(SRResNet(channels=8, n_blocks=1), tmp_path / "init.safetensors", dtype=torch.float32)
    # no network, no cached weights in tests: a random VGG16 stands in for ImageNet weights
    monkeypatch.setattr(losses, "build_vgg", lambda net, layer, w: (losses.VGGFeatures("vgg16", "conv2_2"), "random vgg16"))
    over = dict(TINY, init_from=str(init), max_steps=2, hr_crop=32, pixel_weight=0.5, consistency_weight=2.0,
                grid_weight=3.0)
    with pytest.warns(UserWarning):
        run = train("srgan", [photo_dir], tmp_path / "g", overrides=over, cache_dir=tmp_path / "c",
                    progress=False).run_dir
    rows = [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines()]
    step = [r for r in rows if "d_loss" in r][-1]
    assert {"g_content", "g_adv", "d_real", "d_fake", "g_pixel", "g_consist", "g_grid"} <= set(step)
    assert step["g_consist"] > 0 and step["g_pixel"] > 0 and step["g_grid"] > 0
    weighted = (step["g_content"] + 1e-3 * step["g_adv"] + 0.5 * step["g_pixel"] + 2.0 * step["g_consist"]
                + 3.0 * step["g_grid"])
    assert step["loss"] == pytest.approx(weighted, rel=1e-4)
    assert 0 < step["d_real"] < 1 and 0 < step["d_fake"] < 1


@pytest.mark.parametrize("freeze", [False, True])
def test_freeze_bn_keeps_running_statistics_while_weights_train(photo_dir, tmp_path, freeze):
    from safetensors.torch import load_file

    from superres.models import SRResNet
    from superres.training.train import train
    from superres.weights import save_weights

    init = save_weights(SRResNet(channels=8, n_blocks=1), tmp_path / "init.safetensors", dtype=torch.float32)
    over = dict(TINY, init_from=str(init), max_steps=3, freeze_bn=freeze)
    with pytest.warns(UserWarning):
        run = train("srresnet", [photo_dir], tmp_path / "r", overrides=over, cache_dir=tmp_path / "c",
                    progress=False).run_dir
    before, after = load_file(str(init)), load_file(str(run / "generator.safetensors"))
    stats = [k for k in before if k.endswith("running_mean") or k.endswith("running_var")]
    weights = [k for k in before if k.endswith("conv.weight") or k.endswith("conv1.weight")]
    assert stats and weights
    same = all(torch.allclose(before[k].float(), after[k].float()) for k in stats)
    assert same is freeze  # BN statistics move only when they are not frozen
    assert any(not torch.allclose(before[k].float(), after[k].float()) for k in weights)


def test_interrupt_signal_checkpoints(photo_dir, tmp_path):
    """SIGINT during training: the loop finishes its step, checkpoints and returns."""
    import signal
    import threading

    from superres.training.train import load_checkpoint, train

    over = dict(TINY, max_steps=100000, val_every=0)
    timer = threading.Timer(3.0, lambda: os.kill(os.getpid(), signal.SIGINT))
    timer.start()
    try:
        with pytest.warns(UserWarning):
            result = train("srresnet", [photo_dir], tmp_path / "i", overrides=over, cache_dir=tmp_path / "c",
                           progress=False)
    finally:
        timer.cancel()
    assert result.interrupted
    step = load_checkpoint(result.run_dir)["step"]
    assert 0 < step < 100000 and step == result.step


def test_ddp_two_cpu_processes_end_identical(photo_dir, tmp_path):
    """Two CPU processes with gloo (what torchrun sets up): both ranks end with the same weights."""
    launcher = tmp_path / "launch.py"
    launcher.write_text(textwrap.dedent(f"""
        import os, sys, warnings, torch, torch.multiprocessing as mp
        def worker(rank):
            os.environ.update(RANK=str(rank), LOCAL_RANK=str(rank), WORLD_SIZE="2",
                              MASTER_ADDR="127.0.0.1", MASTER_PORT=sys.argv[1])
            warnings.simplefilter("ignore")
            import torch.distributed as dist
            from superres.training.train import train
            res = train("srresnet", [{str(photo_dir)!r}], {str(tmp_path / 'ddp')!r},
                        overrides={dict(TINY, max_steps=3, val_every=0)!r},
                        cache_dir={str(tmp_path / 'cache')!r} + str(rank), progress=False)
            vec = torch.cat([p.detach().flatten() for p in res.generator.parameters()])
            torch.save(vec, {str(tmp_path)!r} + f"/rank{{rank}}.pt")
            dist.destroy_process_group()
        if __name__ == "__main__":
            mp.spawn(worker, nprocs=2)
        """))
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONWARNINGS="ignore")
    r = subprocess.run([sys.executable, str(launcher), str(port)], env=env, capture_output=True, text=True,
                       timeout=300)
    assert r.returncode == 0, r.stderr[-3000:]
    w0 = torch.load(tmp_path / "rank0.pt", weights_only=True)
    w1 = torch.load(tmp_path / "rank1.pt", weights_only=True)
    assert torch.equal(w0, w1)
    from superres.training.train import load_checkpoint

    ck = load_checkpoint(tmp_path / "ddp")
    assert ck["world_size"] == 2 and ck["step"] == 3 and len(ck["rng"]["samplers"]) == 2
    # resumed on one process: weights, optimiser and step continue, the crop streams start afresh
    from superres.training.train import train

    with pytest.warns(UserWarning, match="crop streams start afresh"):
        res = train("srresnet", [], tmp_path / "ddp", resume=True, overrides={"max_steps": 4},
                    cache_dir=tmp_path / "cache0", progress=False)
    assert res.step == 4 and load_checkpoint(tmp_path / "ddp")["world_size"] == 1


def test_export_run_writes_weights_and_an_honest_card(photo_dir, tmp_path):
    import hashlib

    import superres
    from superres.training.export import export_run
    from superres.training.train import train

    with pytest.warns(UserWarning):
        run = train("srresnet", [photo_dir], tmp_path / "r", overrides=dict(TINY, max_steps=2, val_every=0),
                    cache_dir=tmp_path / "c", progress=False).run_dir
    bench = tmp_path / "Bench"
    (bench / "HR").mkdir(parents=True)
    for p in sorted((photo_dir / "sub").glob("*.png")) + sorted(photo_dir.glob("img*.png")):
        Image.open(p).save(bench / "HR" / p.name)
    out, card = export_run(run, tmp_path / "m.safetensors", name="tiny", eval_dirs=[bench], lpips=False)
    assert card.steps == 2 and card.arch == "srresnet" and card.recipe.startswith("SRResNet")
    assert card.metrics["Bench"]["psnr"] > 0 and card.metrics["Bench"]["images"] == 3
    assert card.sha256 == hashlib.sha256(out.read_bytes()).hexdigest()
    assert card.dtype in ("float16", "float32")  # float16 only when it loses < 0.01 dB
    assert "fp16_psnr_loss_db" in card.extra and "reduced_precision_ok" in card.extra
    border = card.extra["border"]  # both border treatments measured, the better one recorded and used
    assert set(border["psnr"]) == {"reflect", "zero"} and border["dataset"] == "Bench"
    best = max(border["psnr"], key=border["psnr"].get)
    assert border["treatment"] == ("reflect" if border["psnr"]["zero"] <= border["psnr"]["reflect"] + 0.01 else best)
    from superres.inference import Upscaler

    assert Upscaler(superres.load_model(out), device="cpu").pre_pad == (0 if border["treatment"] == "zero" else 8)
    assert superres.load_model(out).args == card.args
    with pytest.raises(superres.OutputError):
        export_run(run, out, name="tiny")  # never overwrites without being asked


# --- the command line ---------------------------------------------------------------------------

def test_cli_train_run_folder_and_default(photo_dir, tmp_path, monkeypatch):
    """`--run DIR` names the run folder (it once clashed with the command dispatch); without it,
    the run goes to runs/RECIPE under the current directory."""
    from superres.cli import main

    sets = [a for k, v in dict(TINY, max_steps=2).items() for a in ("--set", f"{k}={v}")]
    common = ["--data", str(photo_dir), "--cache", str(tmp_path / "c"), "--no-progress", *sets]
    assert main(["train", "srresnet", "--run", str(tmp_path / "named"), *common]) == 0
    assert (tmp_path / "named" / "generator.safetensors").is_file()
    monkeypatch.chdir(tmp_path)
    assert main(["train", "srresnet", *common]) == 0
    assert (tmp_path / "runs" / "srresnet" / "generator.safetensors").is_file()


def test_extra_data_trains_but_never_joins_the_validation_slice(photo_dir, tmp_path):
    """extra_data folders are added after the held-out split: more training images, the same slice."""
    from superres.training.train import train

    extra = tmp_path / "graphics"
    extra.mkdir()
    for i in range(4):
        Image.fromarray(np.full((64, 64, 3), 40 * i + 20, np.uint8)).save(extra / f"g{i}.png")
    kw = dict(cache_dir=tmp_path / "c", progress=False, stop_after=1)
    with pytest.warns(UserWarning):
        plain = train("srresnet", [photo_dir], tmp_path / "a", overrides=dict(TINY), **kw).run_dir
        mixed = train("srresnet", [photo_dir], tmp_path / "b", overrides=dict(TINY, extra_data=str(extra)), **kw).run_dir
    first = lambda run: json.loads((run / "metrics.jsonl").read_text().splitlines()[0])  # noqa: E731
    assert first(mixed)["val_images"] == first(plain)["val_images"] and first(plain)["val_images"]
    assert first(mixed)["train_images"] == first(plain)["train_images"] + 4
    with pytest.raises(FileNotFoundError, match="extra_data"):
        train("srresnet", [photo_dir], tmp_path / "z", overrides=dict(TINY, extra_data=str(tmp_path / "none")), **kw)


def test_cli_train_minutes_fits_the_run_to_the_clock(photo_dir, tmp_path, capsys):
    """`--minutes M` ends the run by the clock, well before a max_steps it could not reach, with its
    final validation; a non-positive M is one line and exit 2."""
    from superres.cli import main

    sets = [a for k, v in dict(TINY, max_steps=100_000).items() for a in ("--set", f"{k}={v}")]
    common = ["--data", str(photo_dir), "--cache", str(tmp_path / "c"), "--no-progress", *sets]
    assert main(["train", "srresnet", "--run", str(tmp_path / "r"), "--minutes", "0.03", *common]) == 0
    rows = [json.loads(x) for x in (tmp_path / "r" / "metrics.jsonl").read_text().splitlines()]
    last = max(r["step"] for r in rows)
    assert 13 <= last < 100_000 and any(r.get("event") == "time_budget" for r in rows)
    assert any("val_psnr" in r and r["step"] == last for r in rows)
    assert rows[-1]["elapsed_s"] < 60
    capsys.readouterr()
    assert main(["train", "srresnet", "--run", str(tmp_path / "z"), "--minutes", "0", *common]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--minutes" in err[0]


def test_validation_reports_lpips_from_cached_weights_only(photo_dir, tmp_path, monkeypatch):
    """With LPIPS weights in the local cache the validation rows carry val_lpips; with an empty
    cache they do not, and nothing is downloaded."""
    import json as _json

    from superres import lpips as lp
    from superres.training.train import train

    # tiny stand-in weights in the torchvision / LPIPS layouts, made here
    home = tmp_path / "torch_home"
    ck = home / "hub" / "checkpoints"
    ck.mkdir(parents=True)
    backbone = {f"features.{k}": v for k, v in lp._alexnet_features().state_dict().items()}
    torch.save(backbone, ck / Path(lp.BACKBONE_URLS["alex"]).name)
    (home / "lpips-v0.1").mkdir()
    torch.save({f"lin{i}.model.1.weight": torch.rand(1, c, 1, 1) for i, c in enumerate(lp._CHANNELS["alex"])},
               home / "lpips-v0.1" / "alex.pth")
    monkeypatch.setenv("TORCH_HOME", str(home))
    monkeypatch.setattr(torch.hub, "load_state_dict_from_url",
                        lambda *a, **k: pytest.fail("validation must not download"))
    over = dict(TINY, max_steps=2, val_max_side=64)
    run = train("srresnet", [photo_dir], tmp_path / "r", overrides=over, cache_dir=tmp_path / "c").run_dir
    rows = [_json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines()]
    vals = [r for r in rows if "val_psnr" in r]
    assert vals and all(r["val_lpips"] > 0 for r in vals)

    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "empty"))
    run = train("srresnet", [photo_dir], tmp_path / "r2", overrides=over, cache_dir=tmp_path / "c").run_dir
    rows = [_json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines()]
    assert [r for r in rows if "val_psnr" in r] and not any("val_lpips" in r for r in rows)


def test_resume_may_change_the_schedule_not_the_model(photo_dir, tmp_path):
    """A resumed run may train longer or change its schedule (logged), but not its architecture."""
    from superres.training.train import train

    over = dict(TINY, max_steps=2)
    run = train("srresnet", [photo_dir], tmp_path / "r", overrides=over, cache_dir=tmp_path / "c").run_dir
    with pytest.raises(ValueError, match="n_blocks"):
        train("srresnet", [], run, overrides={"n_blocks": 2}, resume=True, cache_dir=tmp_path / "c")
    res = train("srresnet", [], run, overrides={"max_steps": 3, "lr": 5e-5}, resume=True, cache_dir=tmp_path / "c")
    assert res.step == 3
    rows = [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines()]
    ev = [r for r in rows if r.get("event") == "resume"]
    assert ev and ev[0]["changed"] == {"max_steps": 3, "lr": 5e-5}
    # a field newer than the checkpoint counts as its default: setting it is a logged change
    from superres.training.train import CKPT_NAME, load_checkpoint

    ck = load_checkpoint(run)
    ck["config"].pop("extra_data")
    torch.save(ck, run / CKPT_NAME)
    extra = tmp_path / "graphics"
    extra.mkdir()
    Image.fromarray(np.full((64, 64, 3), 90, np.uint8)).save(extra / "g.png")
    train("srresnet", [], run, overrides={"max_steps": 4, "extra_data": str(extra)}, resume=True,
          cache_dir=tmp_path / "c")
    ev = [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines() if '"resume"' in x]
    assert ev[-1]["changed"] == {"max_steps": 4, "extra_data": str(extra)}
    assert ev[-1]["train_images"] == ev[0]["train_images"] + 1


def test_export_a_snapshot(photo_dir, tmp_path):
    """--snapshot N exports the generator saved at validation step N, and the card says so."""
    from superres.training.export import export_run
    from superres.training.train import train
    from superres.weights import load_weights

    run = train("srresnet", [photo_dir], tmp_path / "r", overrides=dict(TINY, max_steps=4, val_every=2),
                cache_dir=tmp_path / "c", progress=False).run_dir
    out, card = export_run(run, tmp_path / "s.safetensors", name="s", snapshot=2, lpips=False)
    assert card.steps == 2 and "snapshot at step 2 of 4" in card.extra["snapshot"]
    snap = load_weights(run / "snapshots" / "step_0000002.safetensors").state_dict()
    got = load_weights(out).state_dict()
    assert all(torch.allclose(got[k].float(), snap[k].float(), atol=1e-3) for k in snap)
    with pytest.raises(FileNotFoundError, match="have: 2, 4"):
        export_run(run, tmp_path / "t.safetensors", name="t", snapshot=3, lpips=False)


# --- the GAN-stage options of issue 13 (EMA, RaGAN, U-Net D, perceptual L1, LDL) and SRResNet's L1 ----------

def test_relativistic_terms_have_the_right_sign():
    from superres.training.losses import discriminator_loss, generator_adversarial_loss

    real, fake = torch.tensor([6.0, 7.0]), torch.tensor([-6.0, -7.0])
    # D separating real above the average fake is a small loss; the reverse is large
    assert discriminator_loss(real, fake, "ragan") < 0.01 < 5 < discriminator_loss(fake, real, "ragan")
    # G's loss is large while D separates real from fake, small once fakes look more real than reals
    assert generator_adversarial_loss(fake, real, "ragan") > 5 > 0.01 > generator_adversarial_loss(real, fake, "ragan")
    # per-pixel logit maps (U-Net D) work the same way
    assert discriminator_loss(real.view(2, 1, 1, 1).expand(2, 1, 4, 4), fake.view(2, 1, 1, 1).expand(2, 1, 4, 4),
                              "ragan") < 0.01
    with pytest.raises(ValueError, match="real"):
        generator_adversarial_loss(fake, None, "ragan")


def test_unet_discriminator_gives_a_logit_per_pixel():
    from superres.models import UNetDiscriminatorSN

    d = UNetDiscriminatorSN(channels=8)
    out = d(torch.rand(2, 3, 32, 48))
    assert out.shape == (2, 1, 32, 48)
    assert any("weight_orig" in k for k in d.state_dict())  # spectral norm is on
    with pytest.raises(ValueError, match="divisible by 8"):
        d(torch.rand(1, 3, 30, 32))


def test_perceptual_taps_are_pre_relu_and_loss_is_weighted_l1():
    from superres.training.config import parse_layer_weights
    from superres.training.losses import PerceptualLoss, VGGFeatures, VGGTaps

    torch.manual_seed(0)
    ref = VGGFeatures("vgg16", "conv2_2")
    state = {"features." + k: v for k, v in ref.features.state_dict().items()}
    taps = VGGTaps("vgg16", ["conv1_2", "conv2_2"], state)
    x = torch.rand(1, 3, 32, 32)
    f = taps(x)
    assert torch.allclose(torch.relu(f["conv2_2"]), ref(x), atol=1e-5)
    assert (f["conv2_2"] < 0).any()  # before the ReLU: negative responses are kept
    w = parse_layer_weights("conv1_2:0.1, conv2_2:1")
    assert w == {"conv1_2": 0.1, "conv2_2": 1.0}
    loss = PerceptualLoss(taps, w)
    assert loss(x, x) == 0
    y = x + 0.05 * torch.randn_like(x)
    fy = taps(y)
    expect = 0.1 * (f["conv1_2"] - fy["conv1_2"]).abs().mean() + (f["conv2_2"] - fy["conv2_2"]).abs().mean()
    assert loss(y, x).item() == pytest.approx(expect.item(), rel=1e-5)
    with pytest.raises(ValueError):
        parse_layer_weights("conv1_2:abc")
    with pytest.raises(ValueError, match="no layer"):
        VGGTaps("vgg16", ["conv6_1"])


def test_ldl_penalises_irregular_error_only_where_worse_than_the_ema():
    from superres.training.losses import ldl_loss

    g = torch.Generator().manual_seed(0)
    hr = torch.rand(2, 3, 32, 32, generator=g)
    noisy = (hr + 0.2 * (torch.rand(hr.shape, generator=g) - 0.5)).clamp(0, 1)
    assert ldl_loss(hr, hr, hr) == 0  # no residual, no loss
    assert ldl_loss(noisy, hr, hr) > 1e-6  # worse than a clean EMA, with an irregular residual
    assert ldl_loss(noisy, hr, hr + 0.5) == 0  # better than the EMA everywhere: left alone
    smooth = hr + 0.1  # a uniform offset has no local variance: not an artefact
    assert ldl_loss(smooth, hr, hr) < 0.05 * ldl_loss(noisy, hr, hr)


def test_ema_update_and_cosine_restarts():
    from superres.training.train import ema_update, learning_rate

    a, b = torch.nn.Linear(2, 2), torch.nn.Linear(2, 2)
    before = a.weight.detach().clone()
    ema_update(a, b, 0.9)
    assert torch.allclose(a.weight, 0.9 * before + 0.1 * b.weight)
    cfg = make_config("srresnet", overrides={"lr": 1e-3, "lr_min": 0.0, "lr_schedule": "cosine_restarts",
                                             "restart_every": 100, "max_steps": 300})
    assert learning_rate(cfg, 0) == pytest.approx(1e-3)
    assert learning_rate(cfg, 50) == pytest.approx(5e-4)
    assert learning_rate(cfg, 99) < 1e-5 and learning_rate(cfg, 100) == pytest.approx(1e-3)  # the warm restart
    with pytest.raises(ConfigError, match="ema_decay"):
        make_config("srgan", overrides={"init_from": "x", "ldl_weight": 1.0})
    with pytest.raises(ConfigError, match="gan_loss"):
        make_config("srgan", overrides={"init_from": "x", "gan_loss": "wgan"})


def test_srresnet_l1_with_ema_exports_the_ema(photo_dir, tmp_path):
    from superres.training.train import load_checkpoint, train

    over = dict(TINY, pixel_loss="l1", ema_decay=0.5, max_steps=3, lr=1e-2)
    with pytest.warns(UserWarning):
        res = train("srresnet", [photo_dir], tmp_path / "r", overrides=over, cache_dir=tmp_path / "c",
                    progress=False)
    ck = load_checkpoint(res.run_dir)
    raw, ema = ck["model"]["state"], ck["ema"]
    import superres

    exported = superres.load_model(res.run_dir / "generator.safetensors").state_dict()
    k = "head.0.weight" if "head.0.weight" in raw else next(iter(raw))
    assert not torch.allclose(raw[k].float(), ema[k].float())  # the EMA lags the raw weights
    assert torch.allclose(exported[k].float(), ema[k].float())  # and is what is exported
    rows = [json.loads(x) for x in (res.run_dir / "metrics.jsonl").read_text().splitlines()]
    assert any("val_raw_psnr" in r for r in rows)


def test_srgan_esrgan_style_step_runs_and_sums_its_terms(photo_dir, tmp_path, monkeypatch):
    from superres.models import SRResNet
    from superres.training import losses
    from superres.training.train import train
    from superres.weights import save_weights

    init = save_weights(SRResNet(channels=8, n_blocks=1), tmp_path / "init.safetensors", dtype=torch.float32)
    monkeypatch.setattr(losses, "build_vgg", lambda net, layer, w: (losses.VGGFeatures("vgg16", "conv2_2"), "random"))
    over = dict(TINY, init_from=str(init), max_steps=2, content="perceptual", perceptual_layers="conv1_2:0.1,conv2_2:1",
                content_weight=0.5, gan_loss="ragan", discriminator="unet", d_channels=8, ema_decay=0.9,
                ldl_weight=2.0, adv_weight=0.1, pixel_weight=1.0, pixel_loss="l1")
    with pytest.warns(UserWarning):
        run = train("srgan", [photo_dir], tmp_path / "g", overrides=over, cache_dir=tmp_path / "c",
                    progress=False).run_dir
    rows = [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines()]
    step = [r for r in rows if "d_loss" in r][-1]
    assert {"g_content", "g_adv", "g_pixel", "g_ldl"} <= set(step)
    weighted = 0.5 * step["g_content"] + 0.1 * step["g_adv"] + step["g_pixel"] + 2.0 * step["g_ldl"]
    assert step["loss"] == pytest.approx(weighted, rel=1e-4)
    from superres.training.train import load_checkpoint

    assert load_checkpoint(run)["disc"]["args"]["channels"] == 8


def test_validating_on_a_benchmark_test_set_warns(photo_dir, tmp_path):
    import shutil

    from superres.training.train import train

    val = tmp_path / "bench" / "Set5"
    val.mkdir(parents=True)
    shutil.copy(photo_dir / "img0.png", val / "img0.png")
    with pytest.warns(UserWarning, match="test set steers this run"):
        train("srresnet", [photo_dir], tmp_path / "r", overrides=dict(TINY, max_steps=1), val=[val],
              cache_dir=tmp_path / "c", progress=False)


# --- issue 21: the content loss's scale and the defects of the GAN stage ---------------------------

def test_content_scale_matches_caffe_convention():
    """PAPER_VGG_SCALE reproduces the paper's Caffe-convention content loss (features / 12.75 of a VGG
    fed 255 * (x - mean)), and with it the paper's content / adversarial gradient ratio.

    The Caffe twin of a torchvision-convention trunk has the same weights, except that its first layer
    takes 0..255 mean-subtracted input: each input channel's weights are multiplied by mean(std) / std_c.
    Bias-free, the twin's features are then exactly 255 * mean(std) times ours (positive homogeneity),
    which is the derivation in training/config.py."""
    from superres.models import Discriminator
    from superres.training.config import IMAGENET_STD, PAPER_VGG_SCALE
    from superres.training.losses import IMAGENET_MEAN, ContentLoss, VGGFeatures, generator_adversarial_loss

    torch.manual_seed(0)
    vgg = VGGFeatures("vgg16", "conv3_3")  # random weights stand in for ImageNet's
    for m in vgg.features:
        if isinstance(m, torch.nn.Conv2d):
            m.bias.data.zero_()
    twin = VGGFeatures("vgg16", "conv3_3")
    twin.load_state_dict(vgg.state_dict())
    std = torch.tensor(IMAGENET_STD).view(1, 3, 1, 1)
    twin.features[0].weight.data *= std.mean() / std
    mean = torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1)

    def caffe_features(x):  # 0..255, mean subtracted, not divided by std (the channel order is the weights')
        return twin.features(255 * (x - mean))

    hr = torch.rand(2, 3, 32, 32)
    sr = (hr + 0.05 * torch.randn_like(hr)).clamp(0, 1)
    paper = torch.nn.functional.mse_loss(caffe_features(sr) / 12.75, caffe_features(hr) / 12.75)
    ours = ContentLoss(vgg, PAPER_VGG_SCALE)(sr, hr)
    assert ours.item() == pytest.approx(paper.item(), rel=1e-4)

    disc = Discriminator(crop_size=32, channels=8)

    def ratio(loss_fn):
        x = sr.clone().requires_grad_(True)
        g_content, = torch.autograd.grad(loss_fn(x), x)
        x = sr.clone().requires_grad_(True)
        g_adv, = torch.autograd.grad(1e-3 * generator_adversarial_loss(disc(x)), x)
        return (g_content.norm() / g_adv.norm()).item()

    r_paper = ratio(lambda x: torch.nn.functional.mse_loss(caffe_features(x) / 12.75, caffe_features(hr) / 12.75))
    assert ratio(lambda x: ContentLoss(vgg, PAPER_VGG_SCALE)(x, hr)) == pytest.approx(r_paper, rel=1e-3)
    # the old 1/12.75 on torchvision's convention: (255 * 0.226)^2 ~= 3,300 times weaker than the paper's
    old = ratio(lambda x: ContentLoss(vgg, 1 / 12.75)(x, hr))
    assert old * (255 * std.mean().item()) ** 2 == pytest.approx(r_paper, rel=1e-3)
    assert make_config("srgan", overrides={"init_from": "x"}).vgg_scale == pytest.approx(4.52, abs=0.01)


def test_ema_averages_batchnorm_statistics():
    from superres.training.train import ema_update

    a, b = torch.nn.BatchNorm2d(3), torch.nn.BatchNorm2d(3)
    b.running_mean.fill_(1.0)
    b.running_var.fill_(3.0)
    b.num_batches_tracked.fill_(7)
    ema_update(a, b, 0.9)
    assert torch.allclose(a.running_mean, torch.full((3,), 0.1))  # averaged like the weights, not copied
    assert torch.allclose(a.running_var, torch.full((3,), 0.9 * 1 + 0.1 * 3))
    assert int(a.num_batches_tracked) == 7


def test_step_schedule_drops_at_a_step_count_and_warmup_ramps():
    from superres.training.train import learning_rate

    cfg = make_config("srgan", overrides={"init_from": "x", "max_steps": 1000})
    assert cfg.lr_milestone == 100_000  # the paper's 1e5, whatever max_steps says
    assert learning_rate(cfg, 999) == pytest.approx(1e-4)
    cfg = make_config("srgan", overrides={"init_from": "x", "lr_milestone": 300})
    assert learning_rate(cfg, 299) == pytest.approx(1e-4) and learning_rate(cfg, 300) == pytest.approx(1e-5)
    cfg = make_config("srgan", overrides={"init_from": "x", "warmup_steps": 10})
    assert learning_rate(cfg, 0) == pytest.approx(1e-5) and learning_rate(cfg, 4) == pytest.approx(5e-5)
    assert learning_rate(cfg, 9) == pytest.approx(1e-4) and learning_rate(cfg, 500) == pytest.approx(1e-4)
    with pytest.raises(ConfigError, match="warmup_steps"):
        make_config("srgan", overrides={"init_from": "x", "warmup_steps": -1})


def test_srgan_with_clamped_output_and_warmup_trains(photo_dir, tmp_path, monkeypatch):
    """clamp_output: the losses see what a user gets, so a run with it still trains and logs."""
    from superres.models import SRResNet
    from superres.training import losses
    from superres.training.train import train
    from superres.weights import save_weights

    init = save_weights(SRResNet(channels=8, n_blocks=1), tmp_path / "init.safetensors", dtype=torch.float32)
    monkeypatch.setattr(losses, "build_vgg", lambda net, layer, w: (losses.VGGFeatures("vgg16", "conv2_2"), "random"))
    over = dict(TINY, init_from=str(init), max_steps=2, hr_crop=32, clamp_output=True, warmup_steps=5,
                consistency_weight=1.0)
    with pytest.warns(UserWarning):
        run = train("srgan", [photo_dir], tmp_path / "g", overrides=over, cache_dir=tmp_path / "c",
                    progress=False).run_dir
    rows = [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines()]
    last = [r for r in rows if "d_loss" in r][-1]
    assert last["step"] == 2 and last["lr"] == pytest.approx(4e-5)  # the 2nd step of a 5-step warm-up: 2/5 of lr
    assert last["g_consist"] >= 0 and np.isfinite(last["loss"])


def test_restart_point_continues_generator_and_discriminator(photo_dir, tmp_path, monkeypatch):
    """write_restart_point: the EMA generator and D in float16 at a fixed folder; a new run continues from it."""
    from superres.models import SRResNet
    from superres.training import losses
    from superres.training.export import write_restart_point
    from superres.training.train import load_checkpoint, train
    from superres.weights import load_weights, save_weights

    init = save_weights(SRResNet(channels=8, n_blocks=1), tmp_path / "init.safetensors", dtype=torch.float32)
    monkeypatch.setattr(losses, "build_vgg", lambda net, layer, w: (losses.VGGFeatures("vgg16", "conv2_2"), "random"))
    over = dict(TINY, init_from=str(init), max_steps=2, hr_crop=32, d_channels=8, ema_decay=0.9)
    with pytest.warns(UserWarning):
        run = train("srgan", [photo_dir], tmp_path / "g", overrides=over, cache_dir=tmp_path / "c",
                    progress=False).run_dir
    info = write_restart_point(run, tmp_path / "restart")
    assert info["step"] == 2 and info["ema"] and info["config"]["d_channels"] == 8
    g, d = load_weights(tmp_path / "restart" / "generator.safetensors"), load_weights(tmp_path / "restart" / "discriminator.safetensors")
    ck = load_checkpoint(run)
    from safetensors.torch import load_file

    stored = load_file(str(tmp_path / "restart" / "discriminator.safetensors"))
    assert all(v.dtype == torch.float16 for v in stored.values() if v.is_floating_point())
    for k, v in ck["ema"].items():  # the EMA, not the raw weights
        assert torch.allclose(g.state_dict()[k].float(), v.float(), atol=1e-2, rtol=1e-2), k
    with pytest.warns(UserWarning):
        two = train("srgan", [photo_dir], tmp_path / "g2", cache_dir=tmp_path / "c", progress=False, stop_after=0,
                    overrides=dict(over, init_from=str(tmp_path / "restart" / "generator.safetensors"),
                                   init_disc_from=str(tmp_path / "restart" / "discriminator.safetensors"),
                                   max_steps=1)).run_dir
    d2 = load_checkpoint(two)["disc"]["state"]
    moved = [k for k in d2 if d2[k].is_floating_point() and not torch.allclose(d2[k], d.state_dict()[k].float(), atol=1e-3)]
    assert len(moved) < len(d2)  # started from the restart point's D (one step moves it a little)
    with pytest.raises(ValueError, match="does not fit"):
        train("srgan", [photo_dir], tmp_path / "g3", cache_dir=tmp_path / "c", progress=False,
              overrides=dict(over, d_channels=16, init_disc_from=str(tmp_path / "restart" / "discriminator.safetensors")))


@pytest.mark.parametrize("toml", sorted((Path(__file__).resolve().parents[1] / "examples" / "training").glob("*.toml")),
                         ids=lambda p: p.name)
def test_every_example_recipe_loads_and_builds(toml):
    """The shipped recipes (and the earlier ones and probes kept beside them) are valid configs whose
    generator builds: a typo in a key or a refused combination fails here, not hours into a run."""
    from superres.training.train import build_generator

    recipe = "srcnn" if toml.name.startswith("srcnn") else "srresnet" if toml.name.startswith("srresnet") else "srgan"
    cfg = make_config(recipe, toml)
    g = build_generator(cfg)
    assert sum(p.numel() for p in g.parameters()) > 0
    if cfg.project:
        assert g.project is not None
