"""What the output projection (SRResNet ``project=True``) does to a generator trained without it (issue 21).

    TORCH_HOME=../shared/weights python benchmarks/projection_effect.py \\
        runs/srgan-x4-long/snapshots/step_0003000.safetensors --steps 0 1 2

For each weights file and each number of back-projection steps (0 = the generator as trained; 1 = the
``project=True`` network with the same weights; 2 = one more step on top), scores the held-out slice of
the training photos as a run's validation does (PSNR-Y, LPIPS AlexNet), the largest flat-area colour shift
on the slice, and the artefact test's figures on the synthetic scenes (``superres.artefacts``; colour per
scene too). Set5/Set14 are not used.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def main(argv: list[str] | None = None) -> int:
    import torch

    import superres
    from superres.artefacts import colour_shift, measure
    from superres.lpips import cached_lpips
    from superres.resize import BicubicProjection
    from superres.training.train import validate

    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from probe_table import slice_and_scenes, to_uint8

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("models", nargs="+")
    ap.add_argument("--steps", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--data", nargs="+", default=[str(ROOT.parent / "shared/data/train-hr"),
                                                  str(ROOT.parent / "shared/data/train-291")])
    args = ap.parse_args(argv)

    class Projected(torch.nn.Module):
        def __init__(self, g: torch.nn.Module, n: int) -> None:
            super().__init__()
            self.g, self.n, self.p = g, n, BicubicProjection(int(g.info.scale))

        def forward(self, lr: torch.Tensor) -> torch.Tensor:
            sr = self.g(lr)
            for _ in range(self.n):
                sr = self.p(sr, lr)
            return sr.clamp(0, 1)

    cfg0, val, scenes, scene_lr = slice_and_scenes(args.data)
    lp = cached_lpips("alex")
    print("| model | projection steps | slice PSNR-Y | slice LPIPS | slice flat shift | synthetic grid / chroma / colour "
          "| colour per scene |\n|---|---:|---:|---:|---:|---|---|")
    for name in args.models:
        g = superres.load_model(name).eval()
        for n in args.steps:
            model = Projected(g, n).eval()
            with torch.inference_mode():
                p, _, _, lpips = validate(model, val, cfg0, torch.device("cpu"), lpips=lp)
                flats = [colour_shift(to_uint8(model(lr))[4:-4, 4:-4].astype(float), to_uint8(hr)[4:-4, 4:-4].astype(float))
                         for _, lr, hr in val]
                pairs = [(to_uint8(model(scene_lr[k])), scenes[k]) for k in scenes]
            rep = measure(pairs)
            per = ", ".join(f"{k} {colour_shift(a.astype(float), b.astype(float)):.2f}" for k, (a, b) in zip(scenes, pairs))
            verdict = "; ".join(rep.failures()) or "clean"
            print(f"| {Path(name).name} | {n} | {p:.2f} | {lpips:.3f} | {max(flats):.2f} | {rep.grid:.2f} / {rep.chroma:.2f} / "
                  f"{rep.colour:.2f} ({verdict}) | {per} |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
