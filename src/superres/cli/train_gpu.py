"""``superres train-gpu``: SRResNet then SRGAN on one GPU within a time budget, from a training pack."""

from __future__ import annotations

import argparse

HELP = "train SRResNet then SRGAN on one GPU within a wall-clock budget, from a 'superres data pack' file"
EPILOG = """\
what it does:
  reads the pack (checking its SHA-256s), holds the photos on the GPU, cuts crops and makes their
  MATLAB-bicubic LR inputs on the GPU, and runs the project's training loop twice, each stage fitted
  to its share of --minutes: SRResNet (continuing from the shipped srresnet-x4 unless --srresnet-init
  says otherwise), then SRGAN from its EMA generator with srgan-x4's losses. bf16 autocast and
  channels-last; no network is used (VGG16 and LPIPS weights come from the pack).

what it writes to OUT:
  srresnet-x4-gpu.safetensors (+ .json card)   srgan-x4-gpu.safetensors (+ .json card)
  metrics.jsonl (both stages' training and validation rows)   summary.json   val-slice/ (the
  validation crops the cards are measured on)   runs/srresnet, runs/srgan (run folders: curves.png,
  samples, snapshots of the EMA generator at each validation; ckpt.pt only with --keep-checkpoints)

examples:
  superres train-gpu --pack gpu/train.pack --out gpu-run --minutes 8
  superres train-gpu --pack gpu/train.pack --out gpu-run --minutes 8 --split 0.5 --srgan-set batch_size=32
  superres train-gpu --pack tiny.pack --out /tmp/dry --minutes 0.5 --device cpu --srresnet-init scratch \\
      --srresnet-set channels=8 n_blocks=2 batch_size=4 hr_crop=32 --srgan-set batch_size=4 hr_crop=32
"""


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("train-gpu", help=HELP, description=HELP, epilog=EPILOG,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--pack", required=True, metavar="FILE", help="training pack written by 'superres data pack'")
    p.add_argument("--out", required=True, metavar="DIR", help="folder for the weights, cards and logs")
    p.add_argument("--minutes", required=True, type=float, metavar="M",
                   help="wall-clock budget for the whole command, setup and exports included")
    p.add_argument("--split", type=float, default=0.4, metavar="F",
                   help="the SRResNet stage's share of the training time (default 0.4; SRGAN gets the rest)")
    p.add_argument("--device", default="auto", help="auto (a CUDA GPU, else an error), cuda, cuda:N or cpu")
    p.add_argument("--srresnet-init", default="srresnet-x4", metavar="MODEL|FILE|scratch",
                   help="generator the SRResNet stage continues from (default: the shipped srresnet-x4)")
    p.add_argument("--srresnet-set", nargs="+", default=[], metavar="KEY=VALUE",
                   help="change the SRResNet stage's config (see 'superres train --show-config srresnet')")
    p.add_argument("--srgan-set", nargs="+", default=[], metavar="KEY=VALUE",
                   help="change the SRGAN stage's config (see 'superres train --show-config srgan')")
    p.add_argument("--eval", nargs="*", default=[], metavar="DIR",
                   help="test folders (e.g. Set5, Set14) measured once, at export, for the cards; never used "
                        "for validation or selection")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--keep-checkpoints", action="store_true",
                   help="keep runs/*/ckpt.pt (optimiser and discriminator state, a few hundred MB for SRGAN; "
                        "deleted after each stage's export by default)")
    p.add_argument("--overwrite", action="store_true", help="replace a previous run in --out")
    p.add_argument("--no-progress", action="store_true", help="no progress bars (logs still written)")
    p.set_defaults(_handler=run)


def run(ns: argparse.Namespace) -> int:
    import json
    import sys

    from ..errors import SuperResError
    from ..training.config import ConfigError
    from ..training.gpu import train_gpu

    say = lambda m: print(m, file=sys.stderr)  # noqa: E731
    try:
        result = train_gpu(ns.pack, ns.out, minutes=ns.minutes, split=ns.split, device=ns.device,
                           srresnet_set=ns.srresnet_set, srgan_set=ns.srgan_set, srresnet_init=ns.srresnet_init,
                           eval_dirs=ns.eval, seed=ns.seed, progress=not ns.no_progress,
                           overwrite=ns.overwrite, keep_checkpoints=ns.keep_checkpoints, say=say)
    except (FileNotFoundError, FileExistsError, ValueError, ConfigError) as e:
        raise SuperResError(str(e)) from None
    print(json.dumps({k: {"weights": v["weights"], "steps": v["steps"], "metrics": v["metrics"]}
                      for k, v in result.summary["stages"].items()}, indent=2))
    say(f"wrote {result.srresnet.name}, {result.srgan.name}, {result.metrics.name} and summary.json to {result.out} "
        f"in {result.summary['wall_s']:.0f} s")
    return 0
