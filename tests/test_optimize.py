import numpy as np
import pytest
import torch

from superres.inference import Upscaler
from superres.inference.optimize import fold_batchnorm, fuse_shuffle_tail, optimize_for_inference
from superres.inference.upscaler import resolve_precision
from superres.models import SRResNet
from superres.weights import ModelCard


def _busy_bn(model):
    g = torch.Generator().manual_seed(1)
    for m in model.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.copy_(torch.rand(m.num_features, generator=g) * 0.4 - 0.2)
            m.running_var.copy_(torch.rand(m.num_features, generator=g) * 1.5 + 0.5)
            m.weight.data.copy_(torch.rand(m.num_features, generator=g) + 0.5)
            m.bias.data.copy_(torch.rand(m.num_features, generator=g) * 0.2 - 0.1)
    return model.eval()


def test_fold_batchnorm_is_exact_and_removes_every_bn():
    m = _busy_bn(SRResNet(channels=16, n_blocks=3))
    f = fold_batchnorm(m)
    assert not any(isinstance(x, torch.nn.BatchNorm2d) for x in f.modules())
    assert any(isinstance(x, torch.nn.BatchNorm2d) for x in m.modules())  # original untouched
    x = torch.rand(2, 3, 12, 9)
    with torch.no_grad():
        assert torch.allclose(m(x), f(x), atol=1e-5)


def _busy_prelu(model):
    g = torch.Generator().manual_seed(2)
    for m in model.modules():
        if isinstance(m, torch.nn.PReLU):
            m.weight.data.copy_(torch.rand(m.weight.shape, generator=g) * 0.5)
    return model


@pytest.mark.parametrize("scale", [2, 4, 8])
def test_output_conv_moved_before_the_last_shuffle_is_exact(scale):
    m = _busy_prelu(_busy_bn(SRResNet(scale=scale, channels=16, n_blocks=2)))
    f = optimize_for_inference(m, torch.device("cpu"), channels_last=False)
    assert f.tail.conv.kernel_size == (5, 5) and f.tail.conv.out_channels == 3 * 4  # 9x9 -> 5x5, phases as channels
    assert isinstance(m.tail, torch.nn.Conv2d)  # the caller's model is untouched
    x = torch.rand(2, 3, 11, 14)  # odd sizes: the zero border must match too
    with torch.no_grad():
        assert torch.allclose(m(x), f(x), atol=1e-5)


def test_shuffle_fusion_handles_per_channel_prelu_and_other_kernels():
    from superres.models.keras_srgan import KerasSRResNet

    for tail_kernel in (3, 9):
        m = _busy_prelu(_busy_bn(KerasSRResNet(channels=8, n_blocks=1, tail_kernel=tail_kernel)))
        f = fuse_shuffle_tail(fold_batchnorm(m))
        assert f.upsample[-1].act.weight.numel() == 8 * 4  # per-channel slopes, one per phase
        x = torch.rand(1, 3, 9, 10)
        with torch.no_grad():
            assert torch.allclose(m(x), f(x), atol=1e-5)


def test_shuffle_fusion_leaves_other_models_alone():
    from superres.models import SRCNN, CompactSR

    for m in (SRCNN(), CompactSR(num_feat=8, num_conv=2)):
        assert fuse_shuffle_tail(m) is m


def test_fast_prelu_gives_the_same_values_in_bf16_and_keeps_out_of_range_slopes():
    from superres.inference.optimize import _MaxPReLU, fast_prelu
    from superres.models import CompactSR

    m = _busy_prelu(CompactSR(num_feat=8, num_conv=3)).eval()
    m.body[3].weight.data[0] = -0.5  # a negative slope: max(x, w x) would be wrong, keep PReLU there
    f = fast_prelu(fold_batchnorm(m))
    kinds = [type(x).__name__ for x in f.body]
    assert kinds.count("_MaxPReLU") == 2 and kinds.count("PReLU") == 1
    x = torch.randn(1, 8, 7, 9, dtype=torch.bfloat16).contiguous(memory_format=torch.channels_last)
    act = next(a for a in f.body if isinstance(a, _MaxPReLU))
    ref = torch.nn.functional.prelu(x, act.weight.to(torch.bfloat16))
    assert torch.equal(act(x), ref)
    y = torch.rand(1, 3, 10, 12)
    with torch.no_grad():
        assert torch.allclose(m(y), f(y), atol=1e-6)


@pytest.mark.parametrize("project", [False, True])
@pytest.mark.parametrize("scale", [2, 3, 4])
@pytest.mark.parametrize("size", [(1, 1), (1, 6), (2, 2), (3, 7), (13, 10)])
def test_bicubic_skip_folded_to_low_resolution_is_exact(scale, size, project):
    """The LR 5x5 conv + symmetric padding gives MATLAB bicubic, borders and tiny inputs included;
    the output projection (project=True) follows it in the folded network too."""
    from superres.inference.optimize import fold_bicubic_skip
    from superres.models import CompactSR

    m = _busy_prelu(CompactSR(scale=scale, num_feat=8, num_conv=2, project=project)).eval()
    f = fold_bicubic_skip(m)
    assert f is not m and m.forward.__func__ is CompactSR.forward  # caller's model untouched
    x = torch.rand(2, 3, *size)
    with torch.no_grad():
        a = m(x)
        for inp in (x, x.contiguous(memory_format=torch.channels_last)):
            b = f(inp)
            assert b.shape == a.shape and torch.allclose(a, b, atol=1e-6)


def test_bicubic_skip_alone_equals_imresize():
    """With the body's output zeroed the folded network is exactly the bicubic enlargement."""
    from superres.inference.optimize import fold_bicubic_skip
    from superres.resize import bicubic_phase_taps
    from superres.models import CompactSR
    from superres.resize import imresize

    m = CompactSR(scale=4, num_feat=4, num_conv=1).eval()
    last = m.body[-1]
    last.weight.data.zero_()
    last.bias.data.zero_()
    x = torch.rand(1, 3, 9, 12)
    with torch.no_grad():
        assert torch.allclose(fold_bicubic_skip(m)(x), imresize(x, scale=4).clamp(0, 1), atol=1e-6)
    taps = bicubic_phase_taps(4)
    assert taps.shape == (4, 5) and torch.allclose(taps.sum(1), torch.ones(4, dtype=taps.dtype))
    assert torch.allclose(taps, taps.flip(0).flip(1))  # phases mirror each other


def test_folded_skip_in_bf16_is_closer_to_fp32_than_a_bf16_skip():
    from superres.models import CompactSR

    m = _busy_prelu(CompactSR(num_feat=8, num_conv=2)).eval()
    x = torch.rand(1, 3, 24, 24)
    with torch.no_grad():
        ref = m(x)
        fast = Upscaler(m, tile=0, precision="bf16", pre_pad=0)(x)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            plain = m(x).float()  # the unfolded network: bicubic matmuls in bf16
    err_fast, err_plain = (fast - ref).abs().mean(), (plain - ref).abs().mean()
    assert err_fast < err_plain


def test_optimized_engine_matches_plain_engine():
    m = _busy_bn(SRResNet(channels=16, n_blocks=2))
    arr = (np.random.default_rng(0).random((20, 17, 3)) * 255).astype(np.uint8)
    fast = Upscaler(m, tile=8, precision="fp32").upscale_array(arr)
    plain = Upscaler(m, tile=8, precision="fp32", optimize=False).upscale_array(arr)
    assert np.abs(fast.astype(int) - plain).max() <= 1


def test_bf16_path_runs_and_stays_close():
    m = _busy_bn(SRResNet(channels=16, n_blocks=2))
    x = torch.rand(1, 3, 16, 16)
    a = Upscaler(m, tile=0, precision="fp32")(x)
    b = Upscaler(m, tile=0, precision="bf16")(x)
    assert (a - b).abs().mean() < 0.02


def test_auto_precision_needs_a_card_that_allows_it():
    m = SRResNet(channels=8, n_blocks=1)
    cpu = torch.device("cpu")
    assert resolve_precision("auto", m, cpu) == "fp32"  # no card: exact path
    assert resolve_precision("bf16", m, cpu) == "bf16"  # explicit choice wins
    m.card = ModelCard(name="x", arch="srresnet", args={}, scale=4, extra={"reduced_precision_ok": True})
    from superres.inference.optimize import cpu_has_bf16

    assert resolve_precision("auto", m, cpu) == ("bf16" if cpu_has_bf16() else "fp32")


def test_auto_tile_respects_a_model_speed_hint_and_srcnn_memory():
    from superres.models import SRCNN, CompactSR

    fast = Upscaler(CompactSR(), device="cpu")
    assert fast.tile_size_for(1096, 1936) == 384  # the model's faster tile, below the memory budget's
    assert fast.tile_size_for(200, 300) == 0  # small enough to run whole
    srcnn = Upscaler(SRCNN(), device="cpu", memory_budget_mb=1024)
    side = srcnn.tile_size_for(3000, 4000) + 2 * srcnn.tile_pad
    # SRCNN runs at the output resolution (~8.5 KB per LR pixel measured): a window must fit the budget
    assert side * side * 8500 <= 1024 * 2**20
