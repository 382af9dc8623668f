#!/usr/bin/env bash
# One GPU run: SRResNet then SRGAN from a training pack, inside a wall-clock budget.
#
#   bash scripts/gpu_run.sh PACK OUT MINUTES [extra 'superres train-gpu' options...]
#   e.g. bash scripts/gpu_run.sh gpu/train.pack "$OUT" 8
#
# Made for a borrowed GPU machine that has only this repository, the carried pack and the image's
# PyTorch, and no network: it runs the project from src/ (no install) and never pip-installs
# anything. It checks the few Python packages superres needs first and says which are missing.
# The budget covers the whole command (reading the pack, both stages, both exports); Python's own
# start-up (a few seconds) comes on top.
#
# The full run folder goes to $SUPERRES_GPU_WORK (default: a new /tmp/superres-gpu-run.XXXXXX); OUT receives
# exactly 8 files, as many as the device tool brings back: both weights files and their cards,
# metrics.jsonl, summary.json, train-gpu.log and extras.tar.gz (curves and the last validation
# sample of each stage).
set -euo pipefail

if [ "$#" -lt 3 ]; then
    echo "usage: bash scripts/gpu_run.sh PACK OUT MINUTES [superres train-gpu options...]" >&2
    exit 2
fi
pack=$1; out=$2; minutes=$3; shift 3
here=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
py=${PYTHON:-python3}
if [ ! -f "$pack" ]; then
    echo "gpu_run.sh: no pack at $pack (build one with: superres data pack $pack --data DIR...)" >&2
    exit 2
fi

# superres needs torch, numpy, Pillow, safetensors, tqdm; none is installed here from the network
missing=$("$py" - <<'PY'
import importlib.util
need = {"torch": "torch", "numpy": "numpy", "PIL": "Pillow", "safetensors": "safetensors", "tqdm": "tqdm"}
print(" ".join(p for m, p in need.items() if importlib.util.find_spec(m) is None))
PY
)
if [ -n "$missing" ]; then
    echo "gpu_run.sh: missing Python packages: $missing. This script installs nothing from the network;" >&2
    echo "  carry wheels and install them offline first: pip install --no-index --find-links WHEELS $missing" >&2
    exit 3
fi
"$py" - <<'PY' >&2
import torch
ok = torch.cuda.is_available()
name = torch.cuda.get_device_name(0) if ok else "no CUDA device"
print(f"gpu_run.sh: torch {torch.__version__}, CUDA {torch.version.cuda}, {name}")
PY

mkdir -p "$out"
work=${SUPERRES_GPU_WORK:-$(mktemp -d /tmp/superres-gpu-run.XXXXXX)}
export PYTHONPATH="$here/src${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
set +e
"$py" -m superres train-gpu --pack "$pack" --out "$work" --minutes "$minutes" --no-progress "$@" \
    2>&1 | tee "$out/train-gpu.log"
rc=${PIPESTATUS[0]}
set -e

# bring back what there is, also after a failure
for f in srresnet-x4-gpu.safetensors srresnet-x4-gpu.json srgan-x4-gpu.safetensors srgan-x4-gpu.json \
         metrics.jsonl summary.json; do
    if [ -f "$work/$f" ]; then cp "$work/$f" "$out/"; fi
done
extras=()
for stage in srresnet srgan; do
    d="runs/$stage"
    if [ -f "$work/$d/curves.png" ]; then extras+=("$d/curves.png"); fi
    last=$(ls "$work/$d/samples" 2>/dev/null | sort | tail -n 1)
    if [ -n "$last" ]; then extras+=("$d/samples/$last"); fi
done
if [ "${#extras[@]}" -gt 0 ]; then tar -czf "$out/extras.tar.gz" -C "$work" "${extras[@]}"; fi
echo "gpu_run.sh: exit $rc; the full run folder is $work" >&2
exit "$rc"
