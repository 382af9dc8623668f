"""``superres models``: list the named models, their weights and cards."""

from __future__ import annotations

import argparse

HELP = "list available models (scale, parameters, weights, measured quality)"


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("models", help=HELP, description=HELP)
    p.add_argument("name", nargs="?", help="show one model's full model card")
    p.add_argument("--json", action="store_true", help="machine-readable output")
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


def run(ns: argparse.Namespace) -> int:
    import json

    from ..registry import default_model, get_entry, list_models
    from ..weights import weights_summary

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
                     "description": e.description, "card": card})
    if ns.json:  # a list of models, or one object for 'superres models NAME --json'
        print(json.dumps(rows[0] if ns.name else rows, indent=2))
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
        if summ:
            print(f"{'':<56}{summ}")
    print("\n* = default model. 'superres models NAME' shows a model card.")
    return 0
