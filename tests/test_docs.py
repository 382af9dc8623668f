"""The docs match the product: every measured figure and table comes from the shipped weights.

``python docs/build.py`` regenerates them and records, per figure, the SHA-256 of each weights
file it used (docs/figures.json). When the shipped weights change and the docs are not rebuilt,
these tests fail and say which command fixes it.
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
REBUILD = "run `python docs/build.py` (see its --help) to regenerate the docs from the shipped weights"

#: Every generated figure/table the docs show; each must be in the manifest.
DOC_FIGURES = ("docs/images/compare_chelsea.png", "examples/synthetic_compare.gif", "docs/eval_x4.md",
               "docs/eval_x4.json", "docs/animation_x4.md", "docs/animation_x4.json",
               "examples/srgan_walkthrough.ipynb", "README.md#measured", "MODELS.md#measured",
               "docs/images/artefacts/artefact_crops_photos.png", "docs/images/artefacts/artefact_crops_synthetic.png",
               "docs/images/texture/texture_crops_photos.png", "docs/images/texture/texture_crops_synthetic.png",
               "MODELS.md#artefact-table")


def _build():
    spec = importlib.util.spec_from_file_location("docs_build", ROOT / "docs" / "build.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.fixture(scope="module")
def build():
    return _build()


@pytest.fixture(scope="module")
def manifest() -> dict:
    return json.loads((ROOT / "docs" / "figures.json").read_text())["figures"]


@pytest.fixture(scope="module")
def shipped(build) -> dict[str, str]:
    return {p.stem: build.sha256(p) for p in (ROOT / "src" / "superres" / "pretrained").glob("*.safetensors")}


def test_every_doc_figure_is_recorded(manifest) -> None:
    missing = [f for f in DOC_FIGURES if f not in manifest]
    assert not missing, f"not made by docs/build.py: {missing}; {REBUILD}"


@pytest.mark.parametrize("figure", DOC_FIGURES)
def test_recorded_weights_hash_matches_a_shipped_file(figure, manifest, shipped) -> None:
    rec = manifest.get(figure)
    assert rec is not None, f"{figure} is not recorded in docs/figures.json; {REBUILD}"
    assert rec["weights_sha256"], f"{figure}: no weights recorded"
    assert "mixed_weights" not in rec, f"{figure}: rows made with different weights {rec['mixed_weights']}; {REBUILD}"
    for name, digest in rec["weights_sha256"].items():
        assert name in shipped, f"{figure} was made with {name}, which is not shipped; {REBUILD}"
        assert digest == shipped[name], (f"{figure} was made with other {name} weights "
                                         f"({digest[:12]}, shipped {shipped[name][:12]}); {REBUILD}")


@pytest.mark.parametrize("figure", [f for f in DOC_FIGURES if "#" not in f])
def test_figure_file_is_the_one_recorded(figure, manifest, build) -> None:
    assert figure in manifest, f"{figure} is not recorded in docs/figures.json; {REBUILD}"
    assert build.sha256(ROOT / figure) == manifest[figure]["sha256"], \
        f"{figure} changed after docs/build.py recorded it; {REBUILD}"


def test_artefact_table_follows_its_figures(build) -> None:
    """MODELS.md's artefact table is exactly what the artefacts step measured (figures.json)."""
    figures = json.loads((ROOT / "docs" / "images" / "artefacts" / "figures.json").read_text())
    table = build.read_block((ROOT / "MODELS.md").read_text(), "artefact-table")
    assert table == build.render_artefact_table(figures), f"MODELS.md's artefact table is stale; {REBUILD}"
    assert set(figures["models"]) >= {"bicubic", *build.ARTEFACT_MODELS}


def test_generated_text_follows_the_measured_numbers(build) -> None:
    """README/MODELS.md tables and the "Which model?" text are exactly what the eval JSON gives."""
    results = json.loads((ROOT / "benchmarks" / "results.json").read_text())
    blocks = build.render_blocks(build.load_summary(), results)
    for name, body in blocks.items():
        fname = build.BLOCK_FILES[name]
        assert build.read_block((ROOT / fname).read_text(), name) == body, \
            f"{fname}: the {name!r} block does not match docs/eval_x4.json; {REBUILD}"


def _summary(lpips: dict[str, float], psnr: dict[str, float]) -> dict:
    return {(s, m): {"psnr": psnr[m] - (2 if s == "Set14" else 0), "ssim": 0.8,
                     "lpips": lpips[m] + (0.1 if s == "Set14" else 0)}
            for s in ("Set5", "Set14") for m in lpips}


def test_which_model_text_recommends_what_the_numbers_say(build) -> None:
    psnr = {"srgan-x4": 28.9, "srgan-x4-fast": 28.9, "srresnet-x4": 30.6, "srcnn-x4": 29.9, "bicubic": 28.4}
    default_best = build.render_blocks(_summary(
        {"srgan-x4": 0.14, "srgan-x4-fast": 0.16, "srresnet-x4": 0.22, "srcnn-x4": 0.26, "bicubic": 0.34}, psnr), None)
    assert default_best["which-model"].split("(the default)")[0].endswith("`srgan-x4` ")
    fast_best = build.render_blocks(_summary(
        {"srgan-x4": 0.17, "srgan-x4-fast": 0.157, "srresnet-x4": 0.22, "srcnn-x4": 0.26, "bicubic": 0.34}, psnr), None)
    text = fast_best["which-model"]
    assert "`srgan-x4-fast` measures the best LPIPS" in text and "does not beat" in text
    assert "`srresnet-x4` when you want the measurably closest pixels" in default_best["which-model"]


def test_status_counts_the_models_short_of_their_bars(build) -> None:
    psnr = {"srgan-x4": 28.9, "srgan-x4-fast": 28.9, "srresnet-x4": 30.6, "srcnn-x4": 29.9, "bicubic": 28.4}
    lp = {"srgan-x4": 0.14, "srgan-x4-fast": 0.15, "srresnet-x4": 0.22, "srcnn-x4": 0.26, "bicubic": 0.34}
    speed_met = {"targets": [{"target": "srgan-x4-fast >= 8x srgan-x4 output MP/s (x)", "measured": "8 / 1 = 8.00x",
                              "met": True}]}
    assert build.render_blocks(_summary(lp, psnr), speed_met)["status"].startswith("All of them meet")
    psnr["srcnn-x4"] = 29.5
    status = build.render_blocks(_summary(lp, psnr), speed_met)["status"]
    assert status.startswith("One of them is") and "srcnn-x4: PSNR" in status
    speed_no = {"targets": [dict(speed_met["targets"][0], met=False, measured="5 / 1 = 5.49x")]}
    status = build.render_blocks(_summary(lp, psnr), speed_no)["status"]
    assert status.startswith("Two of them are") and "srgan-x4-fast" in status


def test_readme_training_lines_parse_and_their_recipes_load(capsys) -> None:
    """Each `superres train RECIPE ...` line of the README is accepted as written (flags, config file,
    --set keys); --show-config stops before any data or weights are needed."""
    import shlex

    from superres.cli import main

    text = (ROOT / "README.md").read_text().replace("\\\n", " ")
    lines = [ln.split("  #")[0].strip() for ln in text.splitlines()
             if ln.startswith("superres train ") and "--resume" not in ln and "..." not in ln]
    assert any("--config examples/training/srgan-x4.toml" in ln for ln in lines), "README must show the recipe"
    for line in lines:
        args = shlex.split(line)[1:]
        assert main(args + ["--show-config"]) == 0, line
        cfg = json.loads(capsys.readouterr().out)
        if "srgan-x4.toml" in line:
            assert cfg["project"] and cfg["chroma_weight"] > 0 and cfg["content"] == "perceptual"  # the recipe, not the paper


def test_speed_block_reads_the_benchmark_results(build) -> None:
    """README's speed table and srgan-x4-fast's ratio come from benchmarks/results.json, not from prose."""
    assert "Not measured yet" in build.render_speed(None)
    assert "Not measured yet" in build.render_speed({"targets": []})

    def row(name: str, mp: float, gflop: float) -> dict:
        return {"model": name, "plain_mp_s": mp / 2, "fp32_mp_s": mp, "fp32_speedup": 2.0, "bf16_mp_s": 2 * mp,
                "bf16_speedup": 4.0, "tiled_1080p_mp_s": 1.5 * mp, "tiled_1080p_precision": "bf16",
                "gflop_per_256px_input": gflop}

    results = {"machine": {"cpu": "CPU", "logical_cores": 4, "torch": "t", "torch_threads": 4,
                           "cpu_features": ["avx2", "avx512_bf16"]},
               "command": "benchmarks/run.py --out x.md", "date": "2027-01-02 03:04",
               "models": [row("srgan-x4", 1.0, 300.0), row("srgan-x4-fast", 8.0, 30.0)],
               "gif": [{"model": "srgan-x4", "frames_per_s": 2.0}, {"model": "srgan-x4-fast", "frames_per_s": 12.0}]}
    text = build.render_speed(results)
    assert "on 2027-01-02" in text and "(`auto` here)" in text
    assert "| srgan-x4-fast | 4.00 | 8.00 (2.00x) | 16.00 (4.00x) | 12.00 (bf16) | 12.00 |" in text
    assert "6.0-8.0x faster than srgan-x4 (8.0x at 256x256, 8.0x tiled at 1080p, 6.0x on the GIF)" in text
    assert "10.0x fewer multiply-adds" in text
    results["machine"]["cpu_features"] = ["avx2"]
    assert "(`auto` here)" not in build.render_speed(results)
