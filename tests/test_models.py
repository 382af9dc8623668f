import pytest
import torch

from superres.models import SRCNN, Discriminator, Interpolation, SRResNet


def n_params(m):
    return sum(p.numel() for p in m.parameters())


def test_srresnet_matches_paper_size_and_layout():
    g = SRResNet()
    # conv9x9+PReLU, 16 x (conv-BN-PReLU-conv-BN), conv-BN, 2 x (conv 64->256, shuffle, PReLU), conv9x9
    assert n_params(g) == 1_549_462
    assert len(g.body) == 16
    assert g.head[0].kernel_size == (9, 9) and g.tail.kernel_size == (9, 9)
    assert [type(m).__name__ for m in g.body[0].children()] == ["Conv2d", "BatchNorm2d", "PReLU", "Conv2d", "BatchNorm2d"]
    assert len(g.upsample) == 2 and g.upsample[0].conv.out_channels == 256
    assert isinstance(g.upsample[0].shuffle, torch.nn.PixelShuffle)


@pytest.mark.parametrize("scale", [2, 4, 8])
def test_srresnet_scales(scale):
    g = SRResNet(scale=scale, channels=8, n_blocks=1).eval()
    y = g(torch.rand(2, 3, 7, 5))
    assert y.shape == (2, 3, 7 * scale, 5 * scale)
    assert y.min() >= 0 and y.max() <= 1  # clamped in eval mode


def test_srresnet_training_output_not_clamped():
    g = SRResNet(channels=8, n_blocks=1)
    with torch.no_grad():
        g.tail.bias.fill_(5.0)  # pushes the output far above 1
    assert g.train()(torch.rand(1, 3, 6, 6)).max() > 1.5
    assert g.eval()(torch.rand(1, 3, 6, 6)).max() <= 1.0


def test_srresnet_rejects_bad_scale():
    with pytest.raises(ValueError, match="scale"):
        SRResNet(scale=3)


@pytest.mark.parametrize("crop", [96, 128, 48])
def test_discriminator_any_fixed_crop(crop):
    d = Discriminator(crop_size=crop)
    logits = d(torch.rand(3, 3, crop, crop))
    assert logits.shape == (3,)
    p = d.probability(torch.rand(2, 3, crop, crop))
    assert ((p > 0) & (p < 1)).all()
    convs = [m for m in d.features if isinstance(m, torch.nn.Conv2d)]
    assert len(convs) == 8
    assert [c.out_channels for c in convs] == [64, 64, 128, 128, 256, 256, 512, 512]
    assert [c.stride[0] for c in convs] == [1, 2, 1, 2, 1, 2, 1, 2]
    assert d.classifier[1].out_features == 1024
    assert all(m.negative_slope == 0.2 for m in d.modules() if isinstance(m, torch.nn.LeakyReLU))


def test_discriminator_wrong_size_is_a_clear_error():
    with pytest.raises(ValueError, match="crop"):
        Discriminator(crop_size=96)(torch.rand(1, 3, 64, 64))
    with pytest.raises(ValueError):
        Discriminator(crop_size=50)


def test_srcnn_955_layout_and_enlarged_input():
    m = SRCNN().eval()
    assert [c.kernel_size[0] for c in (m.conv1, m.conv2, m.conv3)] == [9, 5, 5]
    assert (m.conv1.out_channels, m.conv2.out_channels) == (64, 32)
    x = torch.rand(1, 3, 10, 12)
    assert m(x).shape == (1, 3, 40, 48)
    up = m.enlarge(x)
    assert torch.allclose(m(x), m(up, enlarged=True))


def test_srcnn_residual_identity_when_last_layer_zero():
    m = SRCNN(residual=True).eval()
    torch.nn.init.zeros_(m.conv3.weight)
    torch.nn.init.zeros_(m.conv3.bias)
    x = torch.rand(1, 3, 8, 8)
    assert torch.allclose(m(x), m.enlarge(x).clamp(0, 1), atol=1e-6)


@pytest.mark.parametrize("mode", ["nearest", "bilinear", "bicubic", "lanczos"])
def test_interpolation_models(mode):
    m = Interpolation(mode)
    x = torch.rand(1, 3, 5, 7)
    y = m(x)
    assert y.shape == (1, 3, 20, 28) and y.min() >= 0 and y.max() <= 1
    assert n_params(m) == 0
    # a constant image stays constant
    c = m(torch.full((1, 3, 4, 4), 0.3))
    assert torch.allclose(c, torch.full_like(c, 0.3), atol=1e-6)


def test_nearest_repeats_pixels():
    x = torch.rand(1, 1, 3, 3)
    y = Interpolation("nearest", channels=1)(x)
    assert torch.equal(y, x.repeat_interleave(4, 2).repeat_interleave(4, 3))


def test_compact_is_bicubic_plus_a_learned_residual():
    from superres.models import CompactSR

    m = CompactSR(num_feat=8, num_conv=3).eval()
    x = torch.rand(1, 3, 6, 7)
    assert m(x).shape == (1, 3, 24, 28)
    torch.nn.init.zeros_(m.body[-1].weight)
    torch.nn.init.zeros_(m.body[-1].bias)
    assert torch.allclose(m(x), Interpolation("bicubic")(x), atol=1e-6)
    assert not any(isinstance(l, torch.nn.BatchNorm2d) for l in m.modules())


def test_srresnet_project_pins_flat_colour_and_round_trips(tmp_path):
    """project=True: whatever the (here untrained) network draws, a flat input keeps its colour;
    the option is parameter-free (weights load either way) and the weights file carries it."""
    from superres.weights import load_weights, save_weights

    torch.manual_seed(0)
    g = SRResNet(channels=8, n_blocks=1, project=True).eval()
    x = torch.tensor([0.8, 0.3, 0.2]).reshape(1, 3, 1, 1).expand(1, 3, 16, 16).contiguous()
    with torch.no_grad():
        plain = SRResNet(channels=8, n_blocks=1).eval()
        plain.load_state_dict(g.state_dict())  # the same weights without the projection
        y, y0 = g(x), plain(x)
    centre = (slice(None), slice(None), slice(16, 48), slice(16, 48))
    assert float((y0[centre].mean((2, 3)) - x.mean((2, 3))).abs().max()) > 0.02  # it drifts on its own
    assert float((y[centre].mean((2, 3)) - x.mean((2, 3))).abs().max()) < 2e-3
    assert g.args["project"] is True and "project" not in plain.args
    assert g.info.receptive_pad > plain.info.receptive_pad
    save_weights(g, tmp_path / "p.safetensors")
    back = load_weights(tmp_path / "p.safetensors").eval()
    with torch.no_grad():
        assert torch.allclose(back(x), y, atol=5e-3)  # the file may hold float16
    with pytest.raises(ValueError, match="output channels"):
        SRResNet(out_channels=1, project=True)


def test_compact_project_pins_flat_colour_and_round_trips(tmp_path):
    """CompactSR(project=True) (issue 21, for srgan-x4-fast's GAN stage): a residual that drifts the
    colour (here a last bias set by hand) is projected back; the weights file carries the option."""
    from superres.models.compact import CompactSR
    from superres.weights import load_weights, save_weights

    torch.manual_seed(0)
    g = CompactSR(num_feat=8, num_conv=2, project=True).eval()
    plain = CompactSR(num_feat=8, num_conv=2).eval()
    with torch.no_grad():
        g.body[-1].bias.fill_(0.05)  # +0.05 on every sub-pixel of every channel: a 13-level shift
        plain.load_state_dict(g.state_dict())
    x = torch.tensor([0.6, 0.3, 0.2]).reshape(1, 3, 1, 1).expand(1, 3, 16, 16).contiguous()
    with torch.no_grad():
        y, y0 = g(x), plain(x)
    centre = (slice(None), slice(None), slice(16, 48), slice(16, 48))
    assert float((y0[centre].mean((2, 3)) - x.mean((2, 3))).abs().max()) > 0.04
    assert float((y[centre].mean((2, 3)) - x.mean((2, 3))).abs().max()) < 2e-3
    assert g.args["project"] is True and "project" not in plain.args
    assert g.info.receptive_pad > plain.info.receptive_pad
    save_weights(g, tmp_path / "c.safetensors")
    back = load_weights(tmp_path / "c.safetensors").eval()
    assert back.project is not None
    with torch.no_grad():
        assert torch.allclose(back(x), y, atol=5e-3)
    with pytest.raises(ValueError, match="output channels"):
        CompactSR(out_channels=1, project=True)


@pytest.mark.parametrize("arch", ["srresnet", "compact"])
def test_project_needs_matching_channels(arch):
    """The projection pulls the output toward the input: one check, the same message, for both."""
    from superres.models import CompactSR

    cls = SRResNet if arch == "srresnet" else CompactSR
    with pytest.raises(ValueError, match="as many output channels as input channels"):
        cls(scale=4, in_channels=1, out_channels=3, project=True)
    assert cls(scale=4, in_channels=1, out_channels=3).project is None
