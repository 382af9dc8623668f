#!/usr/bin/env bash
# Run the issue-21 probes one after another (niced), resuming any that was interrupted.
#   nohup scripts/probe_queue.sh examples/training/probes-21/p1-*.toml ... > runs/probe_queue.log 2>&1 &
set -u
cd "$(dirname "$0")/.."
export TORCH_HOME=${TORCH_HOME:-../shared/weights}
for cfg in "$@"; do
  name=$(basename "$cfg" .toml)
  run=runs/probe-$name
  if [ -f "$run/generator.safetensors" ]; then echo "done: $run"; continue; fi
  if [ -f "$run/ckpt.pt" ]; then resume=(--resume "$run"); else resume=(--config "$cfg" --set init_from=src/superres/pretrained/srresnet-x4.safetensors); fi
  echo "$(date -u +%T) start $run"
  nice -n 10 superres train srgan "${resume[@]}" --data ../shared/data/train-hr ../shared/data/train-291 --run "$run" --no-progress || echo "failed: $run"
done
