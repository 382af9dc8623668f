#!/usr/bin/env bash
# Run the issue-21 probes one after another (niced), resuming any that was interrupted.
#   nohup scripts/probe_queue.sh examples/training/probes-21/p1-*.toml ... > runs/probe_queue.log 2>&1 &
# MINUTES=30 gives each probe 30 minutes of wall time (superres train --minutes) instead of its max_steps;
# an interrupted probe resumes with MINUTES more (so an interrupted timed arm runs longer: its log says so).
# RESTART=DIR starts each probe from a restart point (scripts/restart_point.py: EMA generator + discriminator)
# instead of the shipped srresnet-x4. DATA="DIR ..." replaces the training folders.
set -u
cd "$(dirname "$0")/.."
export TORCH_HOME=${TORCH_HOME:-../shared/weights}
for cfg in "$@"; do
  name=$(basename "$cfg" .toml)
  run=runs/probe-$name
  if [ -f "$run/generator.safetensors" ]; then echo "done: $run"; continue; fi
  if [ -f "$run/ckpt.pt" ]; then resume=(--resume "$run"); elif [ -n "${RESTART:-}" ]; then
    resume=(--config "$cfg" --set "init_from=$RESTART/generator.safetensors" --set "init_disc_from=$RESTART/discriminator.safetensors")
  else resume=(--config "$cfg" --set init_from=src/superres/pretrained/srresnet-x4.safetensors); fi
  timed=(); if [ -n "${MINUTES:-}" ]; then timed=(--minutes "$MINUTES"); fi
  echo "$(date -u +%T) start $run"
  nice -n 10 superres train srgan "${resume[@]}" "${timed[@]}" --data ${DATA:-../shared/data/train-hr ../shared/data/train-291} --run "$run" --no-progress || echo "failed: $run"
done
