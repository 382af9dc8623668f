"""The scale of every SRGAN loss term under this project's conventions (issue 21).

    TORCH_HOME=../shared/weights python benchmarks/loss_balance.py [MODEL ...] [--crop 64] [--batch 8]

For each generator (registry names or weights files; default srresnet-x4, the GAN stage's start, and
srgan-x4), on one fixed batch of training crops (seeded; the held-out slice is excluded), prints each
term's value and the norm of its gradient with respect to the SR image, per unit weight:

* ``content x4.52``: the paper's loss (MSE of VGG16 conv5_3 after ReLU) on the paper's scale for
  torchvision's VGG (training.config.PAPER_VGG_SCALE); ``content x1/12.75`` the scale used before;
* ``perceptual``: L1 on 5 pre-ReLU VGG16 layers (conv1_2, conv2_2 x0.1; conv3_3, conv4_3, conv5_3 x1);
* ``adversarial``: -log D(SR) of a fresh paper discriminator (seeded) and after 30 D steps;
* ``consistency``, ``grid``, ``pixel L1``, ``pixel MSE``;

and, against a uniform colour cast of +2 / 0 / -2 levels, the mean gradient per channel that each
colour-sensitive term adds (restoring = opposite in sign to the cast), to size the anchors.

``--restart DIR`` (a restart point, ``scripts/restart_point.py``) asks where a run's colour drift comes
from: on ``--batches`` training batches, at that generator's own output, each term of the run's
objective (as configured in ``restart.json``, with its trained discriminator) pushes the image's colour
by minus its gradient; the table gives that push per channel, less the mean over the channels (the
colour part; levels per unit of step), and scaled by the term's weight, so the terms add up to what the
objective asks of the colour. The next column is each term's push along the image's own chroma
(``x - grey(x)``, i.e. towards more saturation when positive): minus the gradient's dot product with it.
The last is its push along the output's *fine chroma excess*, the part of its chroma error (output - HR
in the artefact test's two chroma channels) above the input's band (minus its bicubic shrink and
enlargement): positive grows the colour fringes the artefact test's ``chroma`` counts, negative removes them.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def main(argv: list[str] | None = None) -> int:
    import torch
    from torch.nn import functional as F

    import superres
    from superres.models import Discriminator
    from superres.resize import imresize
    from superres.training.config import PAPER_VGG_SCALE, parse_layer_weights
    from superres.training.data import PairCache, PairSampler, find_images
    from superres.training.losses import (ContentLoss, PerceptualLoss, VGGTaps, build_vgg, discriminator_loss,
                                          generator_adversarial_loss, grid_loss)
    from superres.training.train import held_out_split

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("models", nargs="*", default=["srresnet-x4", "srgan-x4"])
    ap.add_argument("--data", nargs="+", default=[str(ROOT.parent / "shared/data/train-hr"),
                                                  str(ROOT.parent / "shared/data/train-291")])
    ap.add_argument("--crop", type=int, default=64)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--restart", type=Path, help="a restart point: which term of its objective pushes colour")
    ap.add_argument("--batches", type=int, default=8, help="batches averaged for --restart")
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                    help="--restart: change the restart point's objective (e.g. chroma_weight=300, project=true)")
    args = ap.parse_args(argv)
    if args.restart:
        return colour_push(args)
    torch.manual_seed(0)
    paths, _ = held_out_split(find_images(args.data), 8)
    cache = PairCache(paths, 4, Path.home() / ".cache" / "superres" / "pairs", min_side=args.crop, progress=False)
    sampler = PairSampler(cache, args.crop, args.batch, seed=1, augment=False)
    lr, hr = sampler.batch()
    lw = parse_layer_weights("conv1_2:0.1,conv2_2:0.1,conv3_3:1,conv4_3:1,conv5_3:1")
    vgg, _ = build_vgg("vgg16", "conv5_3")
    taps = VGGTaps("vgg16", list(lw), {"features." + k: v for k, v in vgg.features.state_dict().items()})
    perceptual = PerceptualLoss(taps, lw)
    torch.manual_seed(0)
    fresh = Discriminator(crop_size=args.crop)
    trained = Discriminator(crop_size=args.crop)
    trained.load_state_dict(fresh.state_dict())
    start = superres.load_model(args.models[0]).eval()
    opt = torch.optim.Adam(trained.parameters(), 1e-4)
    for _ in range(30):  # D learns to tell the first model's output from HR
        l2, h2 = sampler.batch()
        with torch.no_grad():
            s2 = start(l2)
        loss = discriminator_loss(trained(h2), trained(s2))
        opt.zero_grad()
        loss.backward()
        opt.step()
    terms = {
        f"content x{PAPER_VGG_SCALE:.2f}": lambda x: ContentLoss(vgg, PAPER_VGG_SCALE)(x, hr),
        "content x1/12.75": lambda x: ContentLoss(vgg, 1 / 12.75)(x, hr),
        "perceptual": lambda x: perceptual(x, hr),
        "adversarial (fresh D)": lambda x: generator_adversarial_loss(fresh(x)),
        "adversarial (D after 30 steps)": lambda x: generator_adversarial_loss(trained(x)),
        "consistency": lambda x: F.mse_loss(imresize(x, scale=0.25), lr),
        "grid": lambda x: grid_loss(x, hr, 4),
        "pixel L1": lambda x: F.l1_loss(x, hr),
        "pixel MSE": lambda x: F.mse_loss(x, hr),
    }
    cast = torch.tensor([2 / 255, 0.0, -2 / 255]).view(1, 3, 1, 1)
    print(f"batch {args.batch} x {args.crop} px training crops; gradients w.r.t. the SR image, per unit weight\n")
    for name in args.models:
        g = superres.load_model(name).eval()
        with torch.no_grad():
            sr0 = g(lr).clamp(0, 1)
        print(f"### {name}\n\n| term | value | gradient norm | restoring gradient vs a +2/0/-2 cast (R, B) |\n|---|---:|---:|---|")
        for t, f in terms.items():
            x = sr0.clone().requires_grad_(True)
            value = f(x)
            grad, = torch.autograd.grad(value, x)
            restore = ""
            if not t.startswith(("adversarial", "grid")):
                y = (sr0 + cast).requires_grad_(True)
                gy, = torch.autograd.grad(f(y), y)
                d = (gy - grad).mean((0, 2, 3))  # what the cast adds to the gradient
                restore = f"{d[0].item():+.2e}, {d[2].item():+.2e}"
            print(f"| {t} | {value.item():.4g} | {grad.norm().item():.3g} | {restore} |")
        print()
    return 0


def colour_push(args) -> int:
    """The --restart table: each weighted term's push on the colour of the generator's own output."""
    import json

    import torch
    from torch.nn import functional as F

    import superres
    from superres.resize import imresize
    from superres.training.config import make_config, parse_overrides
    from superres.training.data import PairCache, PairSampler, find_images
    from superres.artefacts import OPPONENT
    from superres.resize import BicubicProjection
    from superres.training.losses import build_content_loss, chroma_loss, generator_adversarial_loss, grid_loss
    from superres.training.train import held_out_split
    from superres.weights import load_weights

    info = json.loads((args.restart / "restart.json").read_text())
    cfg = make_config("srgan", None, {k: v for k, v in info["config"].items() if k != "recipe"})
    cfg = make_config("srgan", None, {**{k: v for k, v in cfg.to_dict().items() if k != "recipe"},
                                      **parse_overrides(args.set)})
    g = superres.load_model(str(args.restart / "generator.safetensors")).eval()
    if cfg.project and getattr(g, "project", None) is None:  # the same weights through the projection
        from superres.models import SRResNet

        g2 = SRResNet(**{**g.args, "project": True})
        g2.load_state_dict(g.state_dict())
        g = g2.eval()
    d = load_weights(args.restart / "discriminator.safetensors").float().eval()
    for p in d.parameters():
        p.requires_grad_(False)
    paths, _ = held_out_split(find_images(args.data), cfg.val_count)
    cache = PairCache(paths, 4, Path.home() / ".cache" / "superres" / "pairs", min_side=args.crop, progress=False)
    sampler = PairSampler(cache, args.crop, args.batch, seed=1, augment=False)
    content, _ = build_content_loss(cfg)  # the run's own content loss, as train() builds it
    terms = {"content": (cfg.content_weight, lambda x, lr, hr: content(x, hr)),
             "adversarial": (cfg.adv_weight, lambda x, lr, hr: generator_adversarial_loss(d(x), None, cfg.gan_loss)),
             "consistency": (cfg.consistency_weight, lambda x, lr, hr: F.mse_loss(imresize(x, scale=0.25), lr)),
             "grid": (cfg.grid_weight, lambda x, lr, hr: grid_loss(x, hr, 4)),
             "pixel": (cfg.pixel_weight, lambda x, lr, hr: (F.l1_loss if cfg.pixel_loss == "l1" else F.mse_loss)(x, hr)),
             "chroma": (cfg.chroma_weight, lambda x, lr, hr: chroma_loss(x, hr))}
    terms = {k: v for k, v in terms.items() if v[0]}
    push = {k: torch.zeros(3, dtype=torch.float64) for k in terms}
    sat = {k: 0.0 for k in terms}
    fine = {k: 0.0 for k in terms}
    opp = torch.as_tensor(OPPONENT, dtype=torch.float32)
    band = BicubicProjection(4, channels=2)

    def fine_chroma_excess(sr: torch.Tensor, hr: torch.Tensor) -> torch.Tensor:
        """The chroma part of sr - hr above the input's band, back in RGB."""
        o = torch.einsum("ij,bjhw->bihw", opp, sr - hr)
        c = o[:, 1:] - band.enlarge(band.shrink(o[:, 1:]))
        o = torch.cat([torch.zeros_like(o[:, :1]), c], 1)
        return torch.einsum("ij,bjhw->bihw", torch.linalg.inv(opp), o)
    err = torch.zeros(3, dtype=torch.float64)
    gain = [0.0, 0.0]  # <chroma(SR), chroma(HR)>, <chroma(HR), chroma(HR)>: the output's saturation gain
    for _ in range(args.batches):
        lr, hr = sampler.batch()
        with torch.no_grad():
            sr0 = g(lr)
        err += ((sr0.clamp(0, 1) - hr).mean((0, 2, 3)) * 255).double() / args.batches
        chroma = sr0 - sr0.mean(1, keepdim=True)
        hr_chroma = hr - hr.mean(1, keepdim=True)
        excess = fine_chroma_excess(sr0, hr)
        gain[0] += (chroma * hr_chroma).sum().item()
        gain[1] += (hr_chroma * hr_chroma).sum().item()
        for k, (w, f) in terms.items():
            x = sr0.clone().requires_grad_(True)
            grad, = torch.autograd.grad(f(x, lr, hr), x)
            m = -(w * grad).sum((0, 2, 3)).double()  # the push on each channel's mean, summed over pixels
            push[k] += (m - m.mean()) / args.batches
            sat[k] += -(w * grad * chroma).sum().item() / args.batches
            fine[k] += -(w * grad * excess).sum().item() / args.batches
    e = err - err.mean()
    print(f"{args.restart} ({info['run']}, step {info['step']}); {args.batches} batches of {args.batch} x "
          f"{args.crop} px training crops\n")
    print(f"its colour error on them (output - HR, per channel less the mean): R {e[0]:+.2f}, G {e[1]:+.2f}, "
          f"B {e[2]:+.2f} levels; saturation gain against HR {gain[0] / gain[1]:.3f}\n")
    print("| term (x weight) | push on R | push on G | push on B | push on saturation | push on fine chroma excess |\n"
          "|---|---:|---:|---:|---:|---:|")
    total = torch.zeros(3, dtype=torch.float64)
    for k, v in push.items():
        total += v
        print(f"| {k} (x{terms[k][0]:g}) | {v[0]:+.3e} | {v[1]:+.3e} | {v[2]:+.3e} | {sat[k]:+.3e} | {fine[k]:+.3e} |")
    print(f"| all | {total[0]:+.3e} | {total[1]:+.3e} | {total[2]:+.3e} | {sum(sat.values()):+.3e} | "
          f"{sum(fine.values()):+.3e} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
