import numpy as np
import pytest
import torch

from superres.inference import Upscaler, plan_tiles
from superres.inference.tiling import axis_spans
from superres.models import SRResNet


@pytest.mark.parametrize("length,tile,pad", [(100, 32, 8), (64, 64, 10), (5, 2, 3), (301, 64, 24), (7, 100, 4)])
def test_cores_cover_each_pixel_once_and_windows_are_equal(length, tile, pad):
    spans = axis_spans(length, tile, pad)
    covered = np.zeros(length, int)
    sizes = set()
    for (w0, w1), (c0, c1) in spans:
        covered[c0:c1] += 1
        assert 0 <= w0 <= c0 and c1 <= w1 <= length  # window contains core, inside the image
        assert c0 - w0 >= min(pad, c0) or w1 == length  # context on the left unless at a border
        sizes.add(w1 - w0)
    assert (covered == 1).all()
    assert len(sizes) == 1  # equal windows: tiles can be batched


def test_plan_tiles_grid():
    tiles = plan_tiles(100, 150, 64, 8)
    assert len(tiles) == 2 * 3
    assert {t.window_shape for t in tiles} == {(66, 66)}


def test_bad_tiling_arguments():
    with pytest.raises(ValueError):
        axis_spans(10, 0, 2)


@pytest.fixture(scope="module")
def tiled_vs_untiled():
    """SRResNet (full size, random weights) on a 300x200 image, tile 64 vs untiled."""
    torch.manual_seed(0)
    model = SRResNet().eval()
    with torch.no_grad():  # a livelier output (random init is nearly flat) makes the test sharper
        model.tail.weight.mul_(10)
    x = torch.rand(1, 3, 200, 300)
    full = Upscaler(model, tile=0)(x)
    tiled = Upscaler(model, tile=64)(x)
    return full, tiled, Upscaler(model, tile=64)


def test_tiled_equals_untiled_within_2_levels(tiled_vs_untiled):
    full, tiled, _ = tiled_vs_untiled
    assert full.std() > 0.05 and ((full == 0) | (full == 1)).float().mean() < 0.5  # not a trivial output
    diff = (full - tiled).abs() * 255
    assert diff.max() <= 2.0


def test_no_seam_along_tile_boundaries(tiled_vs_untiled):
    full, tiled, up = tiled_vs_untiled
    diff = ((full - tiled).abs() * 255)[0].amax(0)  # (H, W)
    s, p = up.scale, up.pre_pad
    tiles = up.plan(200, 300)
    rows = sorted({(t.core_y[1] - p) * s for t in tiles if 0 < t.core_y[1] - p < 200})
    cols = sorted({(t.core_x[1] - p) * s for t in tiles if 0 < t.core_x[1] - p < 300})
    assert rows and cols
    seam = torch.zeros_like(diff, dtype=torch.bool)
    for r in rows:
        seam[max(0, r - 2):r + 2] = True
    for c in cols:
        seam[:, max(0, c - 2):c + 2] = True
    at_seams = diff[seam].max()
    elsewhere = diff[~seam].max()
    assert at_seams <= max(elsewhere, 1e-3) * 1.0 + 1e-4
    # and the image's own step across a boundary is no larger than steps nearby
    t = tiled[0].mean(0)
    for r in rows:
        step = (t[r] - t[r - 1]).abs().mean()
        near = (t[r - 3] - t[r - 4]).abs().mean()
        assert step < 3 * near + 1e-3


def test_array_path_matches_tensor_path(tiny_srresnet):
    rng = np.random.default_rng(0)
    arr = (rng.random((23, 31, 3)) * 255).astype(np.uint8)
    up = Upscaler(tiny_srresnet, tile=8, batch_tiles=3)
    out = up.upscale_array(arr)
    assert out.shape == (92, 124, 3) and out.dtype == np.uint8
    ref = Upscaler(tiny_srresnet, tile=0)(torch.from_numpy(arr).permute(2, 0, 1)[None].float() / 255)
    ref = (ref[0].permute(1, 2, 0) * 255).round().numpy()
    assert np.abs(out.astype(float) - ref).max() <= 1


def test_array_path_keeps_uint16_and_grayscale(tiny_srresnet):
    arr16 = (np.random.default_rng(0).random((10, 12, 1)) * 65535).astype(np.uint16)
    out = Upscaler(tiny_srresnet, tile=0).upscale_array(arr16)
    assert out.dtype == np.uint16 and out.shape == (40, 48, 1)
    assert out.max() > 255  # full 16-bit range used, not squeezed to 8 bits


def test_auto_tile_respects_memory_budget(tiny_srresnet):
    small = Upscaler(tiny_srresnet, memory_budget_mb=1)
    assert small.tile_size_for(2000, 2000) > 0
    big = Upscaler(tiny_srresnet, memory_budget_mb=10_000)
    assert big.tile_size_for(200, 200) == 0
    assert Upscaler(tiny_srresnet, tile=48).tile_size_for(10, 10) == 48


def test_tiny_images_work(tiny_srresnet):
    out = Upscaler(tiny_srresnet).upscale_array(np.zeros((2, 2, 3), np.uint8))
    assert out.shape == (8, 8, 3)
