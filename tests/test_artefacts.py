"""The artefact measure (superres.artefacts) on inputs with known answers."""

import numpy as np
import pytest
import torch

from superres.artefacts import (THRESHOLDS, add_grid_pattern, artefact_map, colour_shift, measure, opponent,
                                synthetic_scenes)


@pytest.fixture(scope="module")
def scenes():
    return synthetic_scenes(128, seed=1)


@pytest.fixture(scope="module")
def clean(scenes):
    """Bicubic x4 upscales of the scenes' x4-smaller versions: a clean output for each."""
    return {k: bicubic_x4(v) for k, v in scenes.items()}


def bicubic_x4(hr):
    """The clean reference upscale: x4 down, then x4 up, with the project's bicubic."""
    from superres.resize import imresize

    t = torch.from_numpy(hr).permute(2, 0, 1).float()
    lr = imresize(t, scale=0.25).round().clamp(0, 255)
    return imresize(lr, scale=4).round().clamp(0, 255).byte().permute(1, 2, 0).numpy()


def test_scenes_are_deterministic_uint8_rgb():
    a, b = synthetic_scenes(64, seed=3), synthetic_scenes(64, seed=3)
    assert set(a) == {"bark", "water", "fur", "edges", "flat", "text"}
    for k in a:
        assert a[k].shape == (64, 64, 3) and a[k].dtype == np.uint8
        assert np.array_equal(a[k], b[k])
    assert (a["text"][..., 0] == a["text"][..., 1]).all()  # grey text on grey: no colour anywhere


def test_reference_against_itself_reads_zero(scenes):
    r = measure([(v, v) for v in scenes.values()])
    assert r.grid == 0 and r.chroma == 0 and r.colour == 0 and not r.failures()


def test_clean_upscales_pass(scenes, clean):
    r = measure([(clean[k], v) for k, v in scenes.items()])
    assert not r.failures(), r.failures()


def test_texture_not_tied_to_the_grid_is_not_an_artefact(scenes, clean):
    """Grey (luma-only) broadband noise, like invented GAN texture, is neither grid nor chroma."""
    rng = np.random.default_rng(0)
    pairs = []
    for k, v in scenes.items():
        noise = rng.normal(0, 6, v.shape[:2])[..., None]
        pairs.append((np.clip(np.rint(clean[k] + noise), 0, 255).astype(np.uint8), v))
    r = measure(pairs)
    assert r.grid < THRESHOLDS.grid and r.chroma < THRESHOLDS.chroma, r


@pytest.mark.parametrize("kind,period,colour", [
    ("stripes", 4, (1, 1, 1)),        # vertical luma stripes, period 4 px
    ("hatching", 2, (1, 1, 1)),       # horizontal lines every other row
    ("checker", 4, (1, 1, 1)),        # a 4x4 dot grid
    ("stripes", 4, (-1, 1, -1)),      # green-magenta fringes
])
def test_a_faint_grid_pattern_fails(scenes, clean, kind, period, colour):
    base = measure([(clean[k], v) for k, v in scenes.items()])
    # 2 levels peak: hard to see in one pixel, plain as a regular pattern over a region
    bad = measure([(add_grid_pattern(clean[k], 2.0, kind=kind, period=period, colour=colour), v)
                   for k, v in scenes.items()])
    assert bad.grid > THRESHOLDS.grid > base.grid, (base, bad)
    assert bad.failures()


def test_a_pattern_on_part_of_one_image_is_not_averaged_away(scenes, clean):
    """Stripes over a quarter of one picture among clean ones still fail (windows, not means)."""
    names = list(scenes)
    pairs = [(clean[n], v) for n, v in scenes.items()]
    k = names.index("edges")
    sr, ref = pairs[k]
    striped = sr.copy()
    striped[:64, :64] = add_grid_pattern(sr[:64, :64], 3.0, kind="stripes", period=4)
    pairs[k] = (striped, ref)
    r = measure(pairs)
    assert r.grid > THRESHOLDS.grid
    m = r.maps[k]
    i, j = np.unravel_index(m.grid.max(axis=2).argmax(), m.grid.shape[:2])
    y, x = m.origin(int(i), int(j))
    assert y < 64 and x < 64  # the worst window is in the striped corner


def test_chroma_dots_fail_and_are_seen_in_the_chroma_figure(scenes, clean):
    """Pink/green dots whose strength follows the picture (not a fixed phase) show as chroma."""
    rng = np.random.default_rng(2)
    pairs = []
    for k, v in scenes.items():
        sr = clean[k].astype(np.float64)
        y, x = np.mgrid[0:v.shape[0], 0:v.shape[1]]
        dots = np.cos(np.pi * x / 2) * np.cos(np.pi * y / 2) * rng.normal(0, 1, (v.shape[0] // 16, v.shape[1] // 16)
                                                                          ).repeat(16, 0).repeat(16, 1)
        sr += 4 * dots[..., None] * np.array([1.0, -1.0, 1.0])
        pairs.append((np.clip(np.rint(sr), 0, 255).astype(np.uint8), v))
    r = measure(pairs)
    assert r.chroma > THRESHOLDS.chroma and r.failures()


def test_colour_shift_on_grey_fails(scenes, clean):
    text = scenes["text"]
    sr = clean["text"].astype(np.int16)
    assert colour_shift(sr, text) < 1.0
    green = np.clip(sr + np.array([-5, 14, 0]), 0, 255).astype(np.uint8)  # 137/137/137 -> 132/151/137
    assert colour_shift(green, text) == pytest.approx(11.0, abs=0.6)
    assert measure((green, text)).failures()
    # a neutral brightness change is not a colour shift
    assert colour_shift(np.clip(sr + 6, 0, 255).astype(np.uint8), text) < 1.0


def test_colour_shift_on_flat_colour_fails(scenes):
    flat = scenes["flat"]
    shifted = np.clip(flat.astype(np.int16) + np.array([4, 0, -4]), 0, 255).astype(np.uint8)
    assert colour_shift(shifted, flat) == pytest.approx(4.0, abs=0.01)
    assert any("colour" in f for f in measure((shifted, flat)).failures())


def test_opponent_channels_and_bad_input():
    px = np.array([[[10, 20, 30]]], dtype=np.uint8)
    np.testing.assert_allclose(opponent(px)[0, 0], [20.0, 0.0, -20.0])
    a = np.zeros((64, 64, 3), np.uint8)
    with pytest.raises(ValueError, match="differ in size"):
        artefact_map(a, a[:32])
    with pytest.raises(ValueError, match="multiple of the scale"):
        artefact_map(a, a, window=30)
    with pytest.raises(ValueError, match="too small"):
        artefact_map(a[:20, :20], a[:20, :20])
    with pytest.raises(ValueError, match="RGB"):
        opponent(a[..., 0])
    with pytest.raises(ValueError, match="no images"):
        measure([])


def test_benchmark_table_json_and_crop_mosaic(tmp_path, capsys, load_script):
    """benchmarks/artefacts.py on the synthetic set: table, JSON and the labelled mosaic."""
    import json

    from PIL import Image

    bench = load_script("benchmarks/artefacts.py")
    crops, js = tmp_path / "crops", tmp_path / "figures.json"
    assert bench.main(["nearest", "--photos", "", "--crops", str(crops), "--rows", "3", "--json", str(js)]) == 0
    out = capsys.readouterr().out
    assert "| bicubic |" in out and "| nearest |" in out
    figures = json.loads(js.read_text())["sets"]["synthetic"]
    assert not figures["bicubic"]["failures"]
    assert figures["nearest"]["grid"] > THRESHOLDS.grid  # nearest's 4x4 blocks are a grid pattern
    with Image.open(crops / "artefact_crops_synthetic.png") as im:
        assert im.width == 3 * (48 * 4 + 6)  # bicubic | nearest | reference, 48 px windows at 4x
    with pytest.raises(SystemExit):  # an existing mosaic is kept unless --overwrite
        bench.main(["nearest", "--photos", "", "--crops", str(crops)])
    capsys.readouterr()


def test_texture_mosaic_shows_the_most_textured_windows(tmp_path, load_script):
    """--pick textured: the mosaic's windows come from the textured half of the reference, never
    the flat half, whatever the models did (here: a copy of the reference)."""
    from PIL import Image

    bench = load_script("benchmarks/artefacts.py")
    rng = np.random.default_rng(0)
    ref = np.full((256, 256, 3), 120, np.uint8)
    ref[:, 128:] = rng.integers(0, 256, (256, 128, 3), dtype=np.uint8)  # noise on the right half only
    refs = {"half": ref}
    rep = measure([(ref, ref)])
    reports = {"bicubic": {"report": rep, "maps": {"half": rep.maps[0]}}}
    tex = bench.texture(ref, rep.maps[0])
    assert tex[:, 0].max() == 0 and tex[:, -1].min() > 50  # flat left column of windows, busy right one
    out = tmp_path / "texture_crops_x.png"
    bench.mosaic(out, ["bicubic"], {"bicubic": refs}, refs, reports, rows=2, pick="textured")
    with Image.open(out) as im:
        sheet = np.asarray(im.convert("RGB")).astype(np.float32)
    side = (rep.maps[0].window + 2 * 8) * 4
    for r in range(2):  # the reference panel (second column) of each row is noise, not flat grey
        top = r * (side + 40 + 6) + 40
        panel = sheet[top:top + side, side + 6:2 * side + 6]
        assert panel.std() > 40
    with pytest.raises(ValueError, match="pick"):
        bench.mosaic(out, ["bicubic"], {"bicubic": refs}, refs, reports, pick="best")
