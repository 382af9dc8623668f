"""``superres upscale SRC -o DST --ray [ADDRESS]``: the same per-file work, on a Ray cluster.

Registration is cheap (argparse only); :func:`run` imports Ray lazily, so
``superres --help`` and the local command never need it.
"""

from __future__ import annotations

import argparse
import re

from .common import positive_float, positive_int

EPILOG = """\
distributed (Ray, needs: pip install 'superres[ray]'):
  superres upscale photos/ -o photos_x4/ --ray                  local Ray instance, one worker per core
  superres upscale s3://bucket/raw -o s3://bucket/x4 --ray auto --workers 8
  superres upscale photos/ -o out/ --ray ray://head:10001 -r --manifest run.jsonl

With --ray, SRC is a folder, files, a glob pattern, or a URI pyarrow understands
(s3://, gs://, hdfs://, file://) and -o is a folder or URI prefix. Outputs that
already exist are skipped, so an interrupted run is finished by running the same
command again (--overwrite redoes everything). A file that fails is reported and
the rest go on; every file gets one line in DST/superres-manifest.jsonl. GIFs
are upscaled as animations (all frames, as 'superres animate' does).
"""

_ADDRESS = re.compile(r"^(local|auto|ray://\S+|[A-Za-z0-9.\-]+:\d+)$")


def add_options(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("distributed (Ray)")
    g.add_argument("--ray", nargs="?", const="local", default=None, metavar="ADDRESS",
                   help="run on Ray: no address starts a local instance; 'auto' or ray://host:port joins a "
                        "cluster (put --ray after the inputs, or write --ray=ADDRESS)")
    g.add_argument("--workers", type=positive_int, default=None, metavar="N",
                   help="Ray actors, each loading the model once (default: as many as the cluster fits)")
    g.add_argument("--cpus-per-worker", type=positive_float, default=1.0, metavar="N",
                   help="CPUs reserved by each actor, also its torch threads (default 1)")
    g.add_argument("--gpus-per-worker", type=float, default=None, metavar="N",
                   help="GPUs per actor (default: 1 when the cluster has GPUs and --device is auto/cuda, else 0)")
    g.add_argument("--manifest", metavar="PATH", default=None,
                   help="JSONL record of every file (default: DST/superres-manifest.jsonl; 'none' for no file)")


def check_ray_options(p: argparse.ArgumentParser, ns: argparse.Namespace) -> None:
    """Options of the Ray group given without --ray, or a bad address: one usage line (exit 2)."""
    if ns.ray is None:
        given = [f for f, v in (("--workers", ns.workers), ("--manifest", ns.manifest),
                                ("--gpus-per-worker", ns.gpus_per_worker)) if v is not None]
        if ns.cpus_per_worker != 1.0:
            given.append("--cpus-per-worker")
        if given:
            p.error(f"{', '.join(given)} only apply with --ray")
    elif not _ADDRESS.match(ns.ray):
        p.error(f"--ray {ns.ray}: not a Ray address (use no address, 'auto', ray://host:port or host:port); "
                "put --ray after the inputs or write --ray=ADDRESS")


def run(ns: argparse.Namespace) -> int:
    import sys
    import warnings

    from ..distributed import BatchOptions, summarize, upscale_dataset
    from ..errors import SuperResError
    from ..io.images import DEFAULT_MAX_PIXELS
    from ..registry import default_model
    from .common import progress_enabled, route_warnings

    usage = None
    if not ns.output:
        usage = "--ray needs -o DST, a folder or URI prefix for the outputs"
    elif ns.format == "keep":
        usage = "--format keep is not supported with --ray; give one format (png, jpg, webp, tif, bmp)"
    elif ns.gpus_per_worker is not None and ns.gpus_per_worker < 0:
        usage = f"--gpus-per-worker must be 0 or more, got {ns.gpus_per_worker}"
    if usage:
        raise SuperResError(usage)  # a usage error: exit code 2
    opts = BatchOptions(
        model=ns.model, tile=ns.tile, tile_pad=ns.tile_pad, device=ns.device, precision=ns.precision,
        backend=ns.backend, suffix=ns.suffix, out_format=ns.format, outscale=ns.outscale, alpha=ns.alpha,
        quality=ns.quality, keep_metadata=ns.keep_metadata,
        max_pixels=DEFAULT_MAX_PIXELS if ns.max_pixels is None else ns.max_pixels, overwrite=ns.overwrite,
        color_fix=ns.color_fix)
    show = progress_enabled(ns.quiet)

    def report(rec: dict) -> None:  # without a bar, failures are printed as they arrive
        if rec["status"] == "failed" and not show:
            print(f"superres upscale: error: {rec['error']}", file=sys.stderr)

    stats: dict = {}
    manifest = True if ns.manifest is None else (False if ns.manifest.lower() == "none" else ns.manifest)
    with warnings.catch_warnings():
        route_warnings(ns.quiet)
        warnings.filterwarnings("ignore", module=r"ray(\.|$)")  # Ray's own deprecation notices are not the user's
        records = upscale_dataset(ns.inputs if len(ns.inputs) > 1 else ns.inputs[0], ns.output,
                                  workers=ns.workers, address=None if ns.ray == "local" else ns.ray,
                                  recursive=ns.recursive, manifest=manifest,
                                  cpus_per_worker=ns.cpus_per_worker, gpus_per_worker=ns.gpus_per_worker,
                                  progress=show, options=opts, on_record=report, stats=stats)
    s = summarize(records, stats.get("seconds", 0.0), stats.get("startup_seconds", 0.0), stats.get("workers", 0))
    if not ns.quiet:
        if stats.get("removed_parts"):
            print(f"superres: note: removed {stats['removed_parts']} partial file(s) left by an interrupted run",
                  file=sys.stderr)
        print(s.line(opts.model or default_model()), file=sys.stderr)
    return 1 if s.failed else 0
