"""``superres train``: SRResNet -> SRGAN and SRCNN training runs."""

from __future__ import annotations

import argparse

HELP = "train srresnet, srgan or srcnn on folders of HR photos"
EPILOG = """\
recipes (defaults are the papers'; change any field with --set key=value or a config file):
  srresnet  MSE pre-training of the SRGAN generator (Adam 1e-4, batch 16, 96x96 HR crops)
  srgan     perceptual training: VGG content loss + 1e-3 x adversarial loss, from a trained
            SRResNet (--set init_from=RUN_DIR_or_weights.safetensors)
  srcnn     SRCNN 9-5-5 with MSE on 33x33 sub-images of the bicubic-enlarged input

examples:
  superres data div2k --to data/
  superres train srresnet --data data/DIV2K_train_HR --val data/DIV2K_valid_HR --run runs/srresnet
  superres train srgan --data ~/photos --run runs/srgan --set init_from=runs/srresnet --set max_steps=20000
  superres train --resume runs/srresnet                 (continues exactly where it stopped)
  superres train srgan --data ~/photos --set init_from=runs/srresnet --minutes 30   (fitted to 30 minutes)
  superres export runs/srgan -o my-srgan.safetensors --eval Set5 Set14
  torchrun --nproc-per-node 4 -m superres -- train srresnet --data ... --run ...   (multi-GPU)
  torchrun --nnodes 2 --nproc-per-node 8 --rdzv-backend c10d --rdzv-endpoint node1:29400 --rdzv-id run1 \\
      -m superres -- train srresnet --data /shared/photos --run /shared/runs/a --cache /shared/cache
  (multi-node: the same command on every machine; '--' stops torchrun reading --run as its --run-path)

Every field of the config and its default: 'superres train --show-config RECIPE'.
Ctrl-C (SIGINT) or SIGTERM saves a checkpoint before stopping.
"""


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("train", help=HELP, description=HELP, epilog=EPILOG,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("recipe", nargs="?", choices=["srresnet", "srgan", "srcnn"], help="what to train")
    p.add_argument("--data", nargs="+", metavar="DIR", help="folders of HR images (searched recursively)")
    p.add_argument("--val", nargs="+", metavar="DIR",
                   help="validation folders (HR/ + LR_bicubic_x4/ layout, or plain images) or set names "
                        "(Set5: see 'superres data bench'); "
                        "default: a fixed held-out slice of --data")
    p.add_argument("--run", metavar="DIR", help="run folder (default: runs/RECIPE)")
    p.add_argument("--config", metavar="FILE", help="TOML/JSON file with config changes")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override one config field (repeatable)")
    p.add_argument("--resume", metavar="RUN_DIR", help="continue a run from its checkpoint")
    p.add_argument("--cache", metavar="DIR", help="decoded-image cache (default ~/.cache/superres/pairs)")
    p.add_argument("--export", metavar="FILE", help="after training, write the generator as FILE.safetensors + card")
    p.add_argument("--show-config", action="store_true", help="print the resolved config and exit")
    p.add_argument("--no-progress", action="store_true", help="no progress bar (logs still written)")
    p.add_argument("--minutes", type=float, metavar="M",
                   help="stop after M minutes of wall time (max_steps, validations and checkpoints are fitted to "
                        "it after the first steps; max_steps stays a cap); with --resume, M more minutes")
    p.set_defaults(_handler=run)


def run(ns: argparse.Namespace) -> int:
    import json
    import sys
    import time

    from ..errors import SuperResError
    from ..training.config import make_config

    if ns.show_config:
        cfg = make_config(ns.recipe or "srresnet", ns.config, ns.overrides or None) if ns.recipe != "srgan" else \
            make_config("srgan", ns.config, (ns.overrides or []) + ["init_from=(required)"])
        print(json.dumps(cfg.to_dict(), indent=2))
        return 0
    if not ns.resume:
        if not ns.recipe:
            raise SuperResError("name a recipe (srresnet, srgan, srcnn) or give --resume RUN_DIR")
        if not ns.data:
            raise SuperResError("--data DIR is required: folders of high-resolution photos to train on")
    from ..datasets import resolve_bench_dir
    from ..training.train import train

    if ns.val:  # "--val Set5": the set 'superres data bench' downloaded
        ns.val = [str(resolve_bench_dir(v)) for v in ns.val]
    run_dir = ns.resume or ns.run or f"runs/{ns.recipe}"
    if ns.minutes is not None and not ns.minutes > 0:
        raise SuperResError(f"--minutes must be a positive number of minutes, got {ns.minutes:g}")
    deadline = None if ns.minutes is None else time.time() + 60 * ns.minutes
    try:  # on --resume, the run's recorded data and validation folders are used unless given
        result = train(ns.recipe, ns.data or [], run_dir, config_file=ns.config, overrides=ns.overrides or None,
                       val=ns.val, resume=bool(ns.resume), cache_dir=ns.cache, progress=not ns.no_progress,
                       deadline=deadline)
    except (FileNotFoundError, FileExistsError, ValueError) as e:
        raise SuperResError(str(e)) from None
    state = "interrupted at" if result.interrupted else "finished at"
    print(f"{state} step {result.step}; run folder {result.run_dir}", file=sys.stderr)
    if ns.export:
        from pathlib import Path

        from ..training.export import export_run

        out, _ = export_run(result.run_dir, ns.export, name=Path(ns.export).stem)
        print(f"exported {out}", file=sys.stderr)
    return 130 if result.interrupted else 0
