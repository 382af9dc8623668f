import math

import numpy as np
import pytest
import torch

from superres.metrics import psnr, rgb_to_y, ssim


def test_y_channel_bt601():
    white = np.full((1, 1, 3), 255.0)
    black = np.zeros((1, 1, 3))
    assert rgb_to_y(white)[0, 0] == pytest.approx(235.0)
    assert rgb_to_y(black)[0, 0] == pytest.approx(16.0)


def test_psnr_hand_computed():
    a = np.zeros((10, 10, 3), np.uint8)
    b = a.copy()
    b[4:6, 4:6] = 10  # 4 pixels differ by 10 in RGB -> Y differs by 10 * (65.481+128.553+24.966)/255
    dy = 10 * (65.481 + 128.553 + 24.966) / 255
    mse = 4 * dy**2 / 100
    assert psnr(a, b, shave=0) == pytest.approx(10 * math.log10(255**2 / mse))
    # shaving 2 px keeps the 6x6 centre (still holding the 4 pixels)
    assert psnr(a, b, shave=2) == pytest.approx(10 * math.log10(255**2 / (4 * dy**2 / 36)))
    assert psnr(a, a) == math.inf


def test_psnr_rgb_variant_and_tensor_inputs():
    a = np.zeros((8, 8, 3), np.uint8)
    b = a.copy()
    b[0, 0, 0] = 255
    assert psnr(a, b, shave=0, y_channel=False) == pytest.approx(10 * math.log10(255**2 / (255**2 / 192)))
    ta = torch.from_numpy(a).permute(2, 0, 1).float() / 255
    tb = torch.from_numpy(b).permute(2, 0, 1).float() / 255
    assert psnr(ta, tb, shave=0, y_channel=False) == pytest.approx(psnr(a, b, shave=0, y_channel=False))


def test_psnr_rounds_to_8_bits_first():
    a = np.full((8, 8, 3), 0.5)
    b = a + 0.5 / 255 * 0.9  # rounds to the same 8-bit value
    assert psnr(a, b, shave=0) == math.inf


def test_ssim_identical_and_constant_images():
    rng = np.random.default_rng(1)
    a = (rng.random((32, 32, 3)) * 255).astype(np.uint8)
    assert ssim(a, a, shave=0) == pytest.approx(1.0)
    # two constant images: mu differ, sigma 0 -> SSIM = (2 mx my + C1) / (mx^2 + my^2 + C1)
    x = np.full((16, 16, 1), 100, np.uint8)
    y = np.full((16, 16, 1), 120, np.uint8)
    c1 = (0.01 * 255) ** 2
    assert ssim(x, y, shave=0, y_channel=False) == pytest.approx((2 * 100 * 120 + c1) / (100**2 + 120**2 + c1))


def test_ssim_decreases_with_noise():
    rng = np.random.default_rng(2)
    a = (rng.random((40, 40, 3)) * 255).astype(np.uint8)
    n1 = np.clip(a + rng.normal(0, 5, a.shape), 0, 255).astype(np.uint8)
    n2 = np.clip(a + rng.normal(0, 25, a.shape), 0, 255).astype(np.uint8)
    assert 1 > ssim(a, n1) > ssim(a, n2)


def test_size_mismatch_is_an_error():
    with pytest.raises(ValueError, match="differ"):
        psnr(np.zeros((8, 8, 3)), np.zeros((8, 9, 3)))
