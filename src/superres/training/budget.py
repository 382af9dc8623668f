"""Fit a training run's length to a wall-clock deadline.

A run given a deadline does not know its step count in advance, but its learning-rate
schedule (cosine) is written in fractions of ``max_steps`` (step_half's drop is a step count). :class:`StepBudget`
measures the time per step once the first steps (CUDA autotuning, allocator warm-up) are
over, and sets ``max_steps`` to what fits before the deadline, then corrects it once more
a quarter of the way in, when the cost of validations and checkpoints is in the
measurement too. Later corrections are not made: the schedule would jump (a cosine run
could return to a higher learning rate). Past the deadline, the run ends after the current
step, with its final validation and checkpoint. The configured ``max_steps`` is a cap.
"""

from __future__ import annotations

import time

__all__ = ["StepBudget"]


class StepBudget:
    """Sets ``cfg.max_steps`` (and the validation / checkpoint intervals) from a deadline.

    ``warmup`` steps are excluded from the timing; ``measure`` steps after them give the
    first estimate. ``evals`` validations (and checkpoints) are spread over the fitted run.
    ``reserve_s`` is kept free before the deadline for the final validation and checkpoint.
    """

    def __init__(self, deadline: float, start_step: int = 0, warmup: int = 3, measure: int = 10,
                 evals: int = 4, reserve_s: float = 0.0, clock=time.time) -> None:
        self.deadline, self.start, self.warmup, self.measure = deadline, start_step, warmup, measure
        self.evals, self.reserve_s, self.clock = evals, reserve_s, clock
        self.cap: int | None = None
        self.t_warm: float | None = None
        self.fits = 0  # estimates made (at most two)
        self.next_fit: int | None = None

    def _apply(self, cfg, step: int, now: float, reason: str) -> dict:
        per_step = (now - self.t_warm) / max(1, step - self.start - self.warmup)
        left = self.deadline - self.reserve_s - now
        steps = max(step + 1, min(self.cap, step + int(left / per_step)))
        cfg.max_steps = steps
        cfg.val_every = cfg.ckpt_every = max(1, (steps - self.start) // max(1, self.evals))
        cfg.log_every = max(1, min(cfg.log_every, (steps - self.start) // 20 or 1))
        self.fits += 1
        self.next_fit = step + max(1, (steps - step) // 4) if self.fits == 1 else None
        return {"reason": reason, "s_per_step": per_step, "seconds_left": left, "max_steps": steps,
                "val_every": cfg.val_every}

    def fit(self, cfg, step: int) -> dict | None:
        """Call before each step; returns a log row when the run's length was (re)set."""
        now = self.clock()
        if self.cap is None:
            self.cap = cfg.max_steps
        if now >= self.deadline - self.reserve_s and cfg.max_steps > step + 1:
            cfg.max_steps = step + 1  # out of time: this step is the last
            return {"reason": "deadline reached", "max_steps": cfg.max_steps}
        done = step - self.start
        if done == self.warmup:
            self.t_warm = now
        elif self.fits == 0 and self.t_warm is not None and done >= self.warmup + self.measure:
            return self._apply(cfg, step, now, "first estimate")
        elif self.next_fit is not None and step >= self.next_fit:
            return self._apply(cfg, step, now, "corrected a quarter of the way in")
        return None
