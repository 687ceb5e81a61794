"""Watching a run (Train tab): its status and progress, the training-dynamics panels of every arm, the
latest evaluation samples side by side, and the panels' data as CSV. Plain functions, no gradio.

Everything is read from the run directory (:mod:`lab.ui.records`), so a
run started from the command line, a run of another browser session and a
shipped record look the same.
"""

from __future__ import annotations

import html
import logging
import tempfile
from pathlib import Path

from lab import colours as C
from lab import shipped
from lab.charts import PANELS, TRAIN_PANELS, figures, file_stem, panel_csv
from lab.compare_table import fmt_value
from lab.render import legend_html, tokens_html
from lab.ui import records
from training.hierarchy.stats import mean_ci, wilson
from training.progress import ACTIVE, Progress, duration, eta_text

log = logging.getLogger(__name__)
SAMPLE_PROBLEMS = 6


def _window(value) -> int:
    try:
        return max(1, min(100, int(float(value))))
    except (TypeError, ValueError):
        return 10


def status(name: str) -> tuple[str, str]:
    """``(status markdown, progress html)`` of a run: cheap, for every refresh."""
    if not name:
        return "Launch a run, pick one, or open the demo A/B (no training needed).", ""
    try:
        info = records.info(name)
        p = records.progress(name)
    except Exception as err:  # noqa: BLE001 - a deleted run, a bad name: a message
        return f"⚠️ {err}", ""
    return status_markdown(info, p, records.arm_records(name), records.warnings(name)), progress_html(p)


def status_markdown(info: dict, p: Progress, groups: dict, warnings: list | None = None) -> str:
    state = info.get("state", "?")
    head = f"**{info['name']}**"
    if info.get("shipped"):
        head += " (shipped record, read-only)"
    parts = [head, state, f"step {p.step} of {p.steps} ({p.fraction:.0%})"]
    if p.phase == "evaluating":
        parts[-1] += ", evaluating"
    if p.elapsed_s is not None:
        parts.append(("elapsed " if state in ACTIVE else "took ") + duration(p.elapsed_s))
    if state in ACTIVE:
        parts.append(f"ETA {eta_text(p)}")
    text = " · ".join(parts)
    text += accuracy_line(groups)
    text += planning_line(groups, warnings or [])
    if state == "failed" and info.get("error"):
        text += f"\n\n⚠️ {info['error']}"
    return text


def accuracy_line(groups: dict) -> str:
    """Each arm's latest held-out accuracy with its 95% interval and n: across seeds (t interval, cut at
    [0, 1]) when there are several, else over the evaluated samples (Wilson). Arms with one seed each are
    "too small to compare": one seed's difference is mostly seed noise."""
    parts, single = [], False
    for group, by_seed in groups.items():
        firsts, lasts, at, samples = [], [], [], []
        for recs in by_seed.values():
            evals = [r for r in recs if r.get("kind") == "eval" and r.get("eval/accuracy") is not None]
            if evals:
                firsts.append(evals[0]["eval/accuracy"])
                lasts.append(evals[-1]["eval/accuracy"])
                at.append(evals[-1]["step"])
                samples.append(sum(v for k, v in evals[-1].items() if k.startswith("eval/errors/")
                                   and isinstance(v, (int, float))))
        if not lasts:
            continue
        if len(lasts) > 1:
            now = fmt_value(mean_ci(lasts), share=True).replace(f" (n={len(lasts)})", f", {len(lasts)} seeds")
        elif samples[0]:
            w = wilson(lasts[0] * samples[0], int(samples[0]))
            now = f"{100 * w.mean:.1f}% [{100 * w.low:.1f}%, {100 * w.high:.1f}%], {int(samples[0])} samples, 1 seed"
            single = True
        else:
            now, single = f"{100 * lasts[0]:.1f}% (1 seed)", True
        start = 100 * sum(firsts) / len(firsts)
        parts.append(f"{C.arm_label(group)} {now} at step {min(at)} (from {start:.1f}%)")
    if not parts:
        return ""
    text = "\n\nHeld-out accuracy, 95% intervals: " + "; ".join(parts)
    if single and len(parts) > 1:
        text += ("\n\nOne seed per arm is too small to compare arms: seeds alone move accuracy by several "
                 "points. Run 3 or more seeds and read Compare's paired intervals.")
    return text


def planning_line(groups: dict, warnings: list) -> str:
    """The planning-token ratio of each arm's latest step (mean over seeds) and any coverage warning
    (:mod:`training.hierarchy.coverage`): a HICRA run whose SG set marks almost nothing is GRPO in disguise."""
    ratios = []
    for group, by_seed in groups.items():
        last = [next((r["planning/ratio"] for r in reversed(recs) if r.get("kind") == "step"
                      and r.get("planning/ratio") is not None), None) for recs in by_seed.values()]
        last = [x for x in last if x is not None]
        if last:
            ratios.append(f"{C.arm_label(group)} {sum(last) / len(last):.1%}")
    text = ("\n\nPlanning tokens (latest step): " + "; ".join(ratios) + " of response tokens") if ratios else ""
    seen = set()
    for arm, step, warning in warnings:
        if warning not in seen:
            seen.add(warning)
            at = f" (from step {step}" + (f", {arm}" if len(warnings) > 1 else "") + ")" if step is not None else ""
            text += f"\n\n⚠️ {warning}{at}"
    return text


def progress_html(p: Progress) -> str:
    """One bar per arm: step x of N, and what it is doing."""
    rows = []
    for arm in p.arms:
        pct = 100 * arm.fraction
        doing = {"evaluating": "evaluating", "loading": "loading the model"}.get(arm.phase or "", "") \
            if arm.state == "running" else arm.state
        rows.append(
            f'<div class="arm-progress" style="display:flex;align-items:center;gap:8px;margin:2px 0;'
            f'font-size:13px"><span style="min-width:84px"><code>{html.escape(arm.name)}</code></span>'
            f'<span style="flex:1;min-width:80px;height:10px;background:#e5e7eb;border-radius:5px;overflow:hidden">'
            f'<span style="display:block;height:100%;width:{pct:.1f}%;background:{C.ACCURACY}"></span></span>'
            f'<span class="arm-step" style="white-space:nowrap">step {arm.step} of {arm.steps}'
            f'{" · " + doing if doing else ""}</span></div>')
    return f'<div class="run-progress">{"".join(rows)}</div>'


def panels(name: str, window=10, log_scale: bool = False) -> list:
    """The figures of :data:`lab.charts.TRAIN_PANELS` for a run (every arm, seeds pooled per group)."""
    groups = records.arm_records(name) if name else {}
    return figures(TRAIN_PANELS, groups, _window(window), bool(log_scale), name or "")


def samples_html(name: str, limit: int = SAMPLE_PROBLEMS) -> str:
    """The latest evaluation's samples of every arm, side by side on the same problems, planning tokens
    highlighted, each marked correct or with its error type."""
    from lab.analysis import analyse_text
    from lab.ui.handlers import resolve_sg
    from training.hierarchy.detector import planning_matcher

    try:
        step, by_arm = records.latest_samples(name)
    except Exception:  # noqa: BLE001 - a run without samples yet
        return ""
    if step is None:
        return ""
    cfg = records._read(records.arms(name)[0][2] / "config.json")
    try:
        sg = resolve_sg(cfg.get("sg_set", "ground-truth"), cfg.get("task", "multiply"))
        sg = planning_matcher(cfg.get("detector", "sg"), sg)  # what the run's masks used
    except Exception:  # noqa: BLE001 - a removed SG file: plain text
        sg = None
    problems = sorted({s.get("problem", i) for _, samples in by_arm for i, s in enumerate(samples)})[:limit]
    where = ", ".join(html.escape(label) for label, _ in by_arm)
    parts = [f'<div class="samples-head"><b>Held-out samples at step {step}</b>: the same problems for each arm '
             f'({where}); {len(problems)} of the samples kept per evaluation.</div>', legend_html(("planning",))]
    for problem in problems:
        cells = []
        prompt = ""
        for label, samples in by_arm:
            sample = next((s for s in samples if s.get("problem") == problem and s.get("sample", 0) == 0), None)
            if sample is None:
                sample = next((s for i, s in enumerate(samples) if s.get("problem", i) == problem), None)
            if sample is None:
                cells.append(f'<div class="sample-cell"><i>{html.escape(label)}: no sample</i></div>')
                continue
            prompt = sample.get("prompt", prompt)
            text = sample.get("text", "")
            if sg is not None and text.strip():
                a = analyse_text(text, sg)
                body = tokens_html(a.text, a.offsets, a.planning)
            else:
                body = f"<pre style='white-space:pre-wrap'>{html.escape(text)}</pre>"
            cells.append(f'<div class="sample-cell" style="border:1px solid #e5e7eb;border-radius:6px;padding:6px">'
                         f'<div style="margin-bottom:4px"><code>{html.escape(label)}</code> {verdict(sample)}</div>'
                         f'{body}</div>')
        parts.append(f'<div class="sample-row" style="margin-top:10px"><div><code>{html.escape(prompt)}</code></div>'
                     f'<div style="display:grid;grid-template-columns:repeat(auto-fit,minmax(280px,1fr));gap:8px">'
                     f'{"".join(cells)}</div></div>')
    return "".join(parts)


def verdict(sample: dict) -> str:
    """A badge: correct, or the error type."""
    if sample.get("correct"):
        return '<span class="verdict correct" style="color:#15803d;font-weight:600">✓ correct</span>'
    error = sample.get("error") or "error"
    kind = f"{error} error" if error not in ("error", "incorrect") else "wrong"
    return f'<span class="verdict wrong" style="color:#b91c1c;font-weight:600">✗ {html.escape(kind)}</span>'


def refresh(name: str, window=10, log_scale: bool = False):
    """Everything the Train tab shows for a run: ``(status, progress, *panel figures, samples)``."""
    text, bars = status(name)
    if not name or text.startswith("⚠️"):
        return (text, bars, *panels("", window, log_scale), "")
    try:
        figs = panels(name, window, log_scale)
        samples = samples_html(name)
    except Exception as err:  # noqa: BLE001 - the page must keep serving
        log.exception("refresh failed")
        return (text + f"\n\n⚠️ Could not draw the charts ({type(err).__name__}: {err}).", bars,
                *panels("", window, log_scale), "")
    return (text, bars, *figs, samples)


def export_csv(name: str, window=10, panel_ids: tuple[str, ...] = TRAIN_PANELS) -> tuple[list[str], str]:
    """One CSV per panel (what it draws): ``(file paths, message)``."""
    if not name:
        return [], "⚠️ Pick a run first."
    try:
        groups = records.arm_records(name)
    except Exception as err:  # noqa: BLE001
        return [], f"⚠️ {err}"
    return write_csvs(name, groups, _window(window), panel_ids)


def write_csvs(name: str, groups: dict, window: int, panel_ids) -> tuple[list[str], str]:
    folder = Path(tempfile.mkdtemp(prefix="hicra-lab-csv-"))
    paths = []
    for pid in panel_ids:
        path = folder / f"{file_stem(name, pid)}.csv"
        path.write_text(panel_csv(PANELS[pid], groups, window))
        paths.append(str(path))
    rows = sum(max(0, p.read_text().count("\n") - 1) for p in map(Path, paths))
    return paths, f"{len(paths)} CSV files ({rows:,} rows): one per chart, the values it draws."


def open_demo() -> str:
    """The shipped A/B sweep the Train tab opens with one click ('' when none ships)."""
    return shipped.default_study() or (shipped.EXAMPLE_RUN if shipped.EXAMPLE_RUN in shipped.shipped_runs() else "")
