"""Progress of a run or a sweep, read from its run directory: step x of N per arm, elapsed, ETA.

The trainer (:func:`training.arms.train_arms`) rewrites each arm's
``status.json`` after every step and around every evaluation, so whoever
reads the folder - the app's Train and Runs tabs, the CLI's progress line,
a script - sees the same numbers, at most one step old:

* ``step`` of ``steps``; ``start_step``, where this process began (a
  resumed run);
* ``phase``: loading, evaluating or training;
* ``step_s``: the mean of the arm's last ten step times; ``eval_s``: its
  last evaluation's seconds.

The time left is worked out, not extrapolated from the elapsed time (which
holds the model load and the step-0 evaluations): for each arm, the steps
left times ``step_s`` plus the evaluations left times ``eval_s``. Arms of a
sweep run one after the other in one process, so their times add up.
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import dataclass
from pathlib import Path

ACTIVE = ("running", "queued")


def _read(path: Path) -> dict:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _number(value) -> float | None:
    return float(value) if isinstance(value, (int, float)) and math.isfinite(value) else None


@dataclass(frozen=True)
class ArmProgress:
    """One arm (a run directory): where it is and how long it still needs."""

    name: str
    step: int
    steps: int
    state: str
    phase: str | None = None
    step_s: float | None = None
    eval_s: float | None = None
    eval_every: int = 0

    @property
    def fraction(self) -> float:
        return min(1.0, self.step / self.steps) if self.steps else 0.0

    def evals_left(self) -> int:
        """Evaluations still to come: every ``eval_every`` steps and at the last step (an evaluation under
        way counts as one left)."""
        if not self.eval_every or self.step >= self.steps and self.phase != "evaluating":
            return 0
        todo = {k for k in range(self.step + 1, self.steps + 1) if k % self.eval_every == 0} | {self.steps}
        return len(todo - {self.step}) + (self.phase == "evaluating")

    def seconds_left(self, step_s: float | None = None, eval_s: float | None = None) -> float | None:
        """Seconds this arm still needs (0 when it is not running; None before any timed step).

        ``step_s`` / ``eval_s`` stand in for this arm's own pace until it has
        one (the arms of a sweep share a model, so they run at about the same
        pace).
        """
        if self.state not in ACTIVE:
            return 0.0
        if self.step >= self.steps and self.phase != "evaluating":
            return 0.0
        step_s = self.step_s if self.step_s is not None else step_s
        eval_s = self.eval_s if self.eval_s is not None else eval_s
        if step_s is None:
            return None
        return (self.steps - self.step) * step_s + self.evals_left() * (eval_s or 0.0)


@dataclass(frozen=True)
class Progress:
    """A run (one arm) or a sweep (several), as its folder says."""

    state: str
    arms: tuple[ArmProgress, ...]
    started: float | None = None
    ended: float | None = None
    now: float = 0.0

    @property
    def step(self) -> int:
        """Steps every arm has done."""
        return min((a.step for a in self.arms), default=0)

    @property
    def steps(self) -> int:
        return max((a.steps for a in self.arms), default=0)

    @property
    def fraction(self) -> float:
        total = sum(a.steps for a in self.arms)
        return min(1.0, sum(a.step for a in self.arms) / total) if total else 0.0

    @property
    def elapsed_s(self) -> float | None:
        if not self.started:
            return None
        return max(0.0, (self.ended if self.ended and self.state not in ACTIVE else self.now) - self.started)

    @property
    def eta_s(self) -> float | None:
        """Seconds left (0 when the run is not active; None while it is still unknown)."""
        if self.state not in ACTIVE:
            return 0.0
        paces = [a.step_s for a in self.arms if a.step_s is not None]
        evals = [a.eval_s for a in self.arms if a.eval_s is not None]
        step_s = sum(paces) / len(paces) if paces else None
        eval_s = sum(evals) / len(evals) if evals else None
        left = [a.seconds_left(step_s, eval_s) for a in self.arms]
        if not left or any(x is None for x in left):
            return None
        return float(sum(left))

    @property
    def phase(self) -> str | None:
        phases = {a.phase for a in self.arms if a.state == "running"}
        return "evaluating" if "evaluating" in phases else "loading" if phases == {"loading"} else \
            "training" if phases else None


def _steps_recorded(folder: Path) -> int:
    """Steps a run directory without a status file has recorded (a copied or hand-made record)."""
    from training.runs import read_jsonl

    steps = [r["step"] for r in read_jsonl(folder / "metrics.jsonl") if r.get("kind") == "step"]
    return max(steps) + 1 if steps else 0


def _arm(folder: Path, name: str, state_default: str, steps_default: int, eval_default: int) -> ArmProgress:
    status = _read(folder / "status.json")
    cfg = _read(folder / "config.json")
    steps = int(status.get("steps") or cfg.get("steps") or steps_default or 0)
    step = int(status["step"] or 0) if "step" in status else _steps_recorded(folder)
    return ArmProgress(name=name, step=step, steps=steps,
                       state=str(status.get("state") or state_default), phase=status.get("phase"),
                       step_s=_number(status.get("step_s")), eval_s=_number(status.get("eval_s")),
                       eval_every=int(cfg.get("eval_every", eval_default) or 0))


def arm_folders(path: Path) -> list[Path]:
    """The run directories of a sweep (sub-folders with a config.json), or ``[path]`` for a single run."""
    path = Path(path)
    try:
        subs = [p for p in sorted(path.iterdir()) if p.is_dir() and (p / "config.json").exists()]
    except OSError:
        subs = []
    return subs or [path]


def read_progress(path: str | Path, state: str | None = None, now: float | None = None) -> Progress:
    """The progress of the run or sweep in ``path``.

    ``state`` overrides the folder's own (the job manager knows when a
    process died without saying so). A sweep that has not started its arms
    yet lists them from ``job.json`` (algorithms x seeds) at step 0.
    """
    path = Path(path)
    now = time.time() if now is None else now
    status = _read(path / "status.json")
    cfg = _read(path / "config.json")
    job = _read(path / "job.json")
    top_state = state or str(status.get("state") or ("finished" if (path / "metrics.jsonl").exists() and
                                                     not status else "unknown"))
    steps, eval_every = int(cfg.get("steps") or 0), int(cfg.get("eval_every") or 0)
    folders = arm_folders(path)
    if folders == [path] and job.get("kind") == "compare":
        names = [f"{a}-s{s}" for s in job.get("seeds", []) for a in job.get("algos", [])]
        arms = tuple(_arm(path / n, n, top_state, steps, eval_every) for n in names)
    else:
        arms = tuple(_arm(f, f.name, top_state, steps, eval_every) for f in folders)
    if state and state not in ACTIVE:  # a dead process leaves its arms saying "running"
        arms = tuple(a if a.state not in ACTIVE else ArmProgress(a.name, a.step, a.steps, state, None, a.step_s,
                                                                 a.eval_s, a.eval_every) for a in arms)
    starts = [s for s in [_number(status.get("started"))] if s] or \
        [s for f in folders if (s := _number(_read(f / "status.json").get("started")))]
    ends = [e for e in [_number(status.get("ended"))] if e] or \
        [e for f in folders if (e := _number(_read(f / "status.json").get("ended")))]
    return Progress(state=top_state, arms=arms, started=min(starts) if starts else None,
                    ended=max(ends) if ends else None, now=now)


# ---------------------------------------------------------------- formatting


def duration(seconds: float | None) -> str:
    """``"42 s"``, ``"3:07"`` (min:s) or ``"1:02:07"`` (h:min:s); ``"-"`` when unknown."""
    if seconds is None or not math.isfinite(seconds):
        return "-"
    s = int(round(seconds))
    if s < 60:
        return f"{s} s"
    h, rest = divmod(s, 3600)
    m, s = divmod(rest, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


def bar(fraction: float, width: int = 20) -> str:
    """A text progress bar: ``"█████░░░░░"``."""
    filled = int(round(max(0.0, min(1.0, fraction)) * width))
    return "█" * filled + "░" * (width - filled)


def eta_text(p: Progress) -> str:
    if p.state not in ACTIVE:
        return "-"
    if p.state == "queued":
        return "queued"
    eta = p.eta_s
    return "estimating…" if eta is None else duration(eta)


def summary(p: Progress) -> str:
    """One line: ``step 12 of 60 (20%) · elapsed 1:23 · ETA 4:56`` (per arm for a sweep: the slowest)."""
    text = f"step {p.step} of {p.steps} ({p.fraction:.0%})"
    if p.phase == "evaluating":
        text += ", evaluating"
    text += f" · elapsed {duration(p.elapsed_s)}"
    if p.state in ACTIVE:
        text += f" · ETA {eta_text(p)}"
    return text


def record_line(record: dict, p: Progress, arm: str = "") -> str:
    """The CLI's line for one record: a step (progress and a few figures) or an evaluation."""
    who = f"{arm}  " if arm else ""
    if record.get("kind") == "eval":
        acc = record.get("eval/accuracy")
        return (f"{who}eval at step {record['step']}: held-out accuracy "
                f"{'-' if acc is None else f'{acc:.3f}'}, pass@k {record.get('eval/pass_at_k') or 0:.3f}"
                + (f" ({record['time/eval_s']:.0f} s)" if record.get("time/eval_s") is not None else ""))
    arm_p = next((a for a in p.arms if a.name == arm), None) if arm else None
    step, steps = (arm_p.step, arm_p.steps) if arm_p else (record.get("step", 0) + 1, p.steps)
    figures = [f"reward {record['reward/mean']:.3f}" if record.get("reward/mean") is not None else "",
               f"{record['time/step_s']:.2f} s/step" if record.get("time/step_s") is not None else ""]
    return (f"{who}step {step}/{steps} ({p.fraction:.0%}) · elapsed {duration(p.elapsed_s)} · "
            f"ETA {eta_text(p)} · " + " · ".join(f for f in figures if f))
