import math

import numpy as np
import torch

from superres.resize import imresize, resize_matrix


def keys_cubic(x, a=-0.5):
    x = abs(x)
    if x <= 1:
        return (a + 2) * x**3 - (a + 3) * x**2 + 1
    if x < 2:
        return a * x**3 - 5 * a * x**2 + 8 * a * x - 4 * a
    return 0.0


def test_matrix_rows_sum_to_one():
    for n_in, n_out in [(16, 4), (7, 28), (10, 10), (33, 9)]:
        m = resize_matrix(n_in, n_out)
        assert torch.allclose(m.sum(1), torch.ones(n_out, dtype=m.dtype), atol=1e-6)


def test_downscale_interior_matches_hand_computed_antialiased_kernel():
    # MATLAB imresize(x, 1/4): output i (1-based) is centred at u = 4i - 1.5; the kernel is
    # stretched 4x (antialiasing): weight(j) = cubic((u - j) / 4) / 4, normalised.
    rng = np.random.default_rng(0)
    x = rng.random(64)
    y = imresize(torch.from_numpy(x)[None], scale=0.25)[0].numpy()
    for i in (5, 8, 10):  # interior outputs, away from the mirrored borders
        u = 4 * i - 1.5
        js = np.arange(1, 65)
        w = np.array([keys_cubic((u - j) / 4) for j in js])
        expect = (w * x).sum() / w.sum()
        assert math.isclose(y[i - 1], expect, rel_tol=1e-9, abs_tol=1e-12)


def test_upscale_reproduces_linear_ramps_in_interior():
    x = torch.arange(12, dtype=torch.float64)[None].repeat(3, 1)  # rows of a ramp
    y = imresize(x, scale=4)
    u = (torch.arange(1, 49, dtype=torch.float64) / 4 + 0.5 * (1 - 1 / 4)) - 1  # 0-based source position
    assert torch.allclose(y[0, 8:-8], u[8:-8], atol=1e-9)


def test_symmetric_border_handling():
    # a constant image is unchanged by any resize, borders included (mirror padding)
    x = torch.full((2, 9, 13), 0.7, dtype=torch.float64)
    for s in (0.25, 0.5, 2, 4):
        assert torch.allclose(imresize(x, scale=s), torch.full_like(imresize(x, scale=s), 0.7))


def test_sizes_follow_matlab_ceil():
    x = torch.rand(3, 10, 7)
    assert imresize(x, scale=0.25).shape == (3, 3, 2)
    assert imresize(x, size=(5, 6)).shape == (3, 5, 6)


def test_convolution_resizes_equal_imresize_border_included():
    """BicubicProjection's shrink and enlarge are imresize as convolutions, at every size it takes."""
    from superres.resize import BicubicProjection

    g = torch.Generator().manual_seed(0)
    for s in (2, 4, 8):
        p = BicubicProjection(s)
        for h, w in [(2, 3), (5, 7), (16, 9)]:
            lr, sr = torch.rand(2, 3, h, w, generator=g), torch.rand(2, 3, h * s, w * s, generator=g)
            assert torch.allclose(p.shrink(sr), imresize(sr, scale=1 / s), atol=1e-6)
            assert torch.allclose(p.enlarge(lr), imresize(lr, scale=s), atol=1e-6)


def test_projection_restores_the_inputs_colour_and_keeps_detail():
    from superres.resize import BicubicProjection

    p = BicubicProjection(4)
    lr = torch.tensor([0.8, 0.25, 0.2]).reshape(1, 3, 1, 1).expand(1, 3, 12, 12)
    g = torch.Generator().manual_seed(1)
    detail = 0.05 * torch.randn(1, 3, 48, 48, generator=g)
    drifted = imresize(lr, scale=4) + torch.tensor([0.02, -0.015, 0.01]).reshape(1, 3, 1, 1) + detail
    out = p(drifted, lr)
    assert float((out.mean((2, 3)) - lr.mean((2, 3))).abs().max()) < 2e-3  # the cast is gone (was 0.02)
    # what shrink averages away stays: the output's fine detail is the one given, not smoothed
    hp = lambda t: t - p.enlarge(p.shrink(t))  # noqa: E731
    assert float((hp(out) - hp(drifted)).abs().mean()) < 0.3 * float(hp(drifted).abs().mean())
    # an output already consistent with the input is left as it is
    same = p.enlarge(lr)
    assert torch.allclose(p(same, lr), same, atol=1e-5)
    # tiny inputs take imresize
    assert p(torch.rand(1, 3, 4, 8), torch.rand(1, 3, 1, 2)).shape == (1, 3, 4, 8)


def test_symmetric_pad_mirrors_with_the_edge_and_refuses_too_wide():
    import pytest

    from superres.resize import symmetric_pad

    x = torch.arange(3.0).reshape(1, 3)
    assert symmetric_pad(x, 2, 3, 0, 0).tolist() == [[1, 0, 0, 1, 2, 2, 1, 0]]
    assert symmetric_pad(x.T, 0, 0, 1, 2).ravel().tolist() == [0, 0, 1, 2, 2, 1]
    with pytest.raises(ValueError, match="symmetric pad"):
        symmetric_pad(x, 4, 0, 0, 0)
