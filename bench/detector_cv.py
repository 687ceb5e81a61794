"""Grouped cross-validation of the planning detector's options on the dev halves only.

    python bench/detector_cv.py [--options a,b,...]

Why: a rule chosen because it helps the traces it was tuned on may not help
others (1.0: dev recall 0.72, held-out 0.53). Here every candidate option of
:class:`training.hierarchy.detector.PlanningDetector` (``OPTION_NAMES``) is
scored on the genuine dev half grouped by source repository, and the choice
of options is itself cross-validated: for each repository, the set of
options is chosen on the *other* repositories (the highest recall with
pooled precision >= 0.85, else the highest precision) and scored on the one
left out. The pooled out-of-fold figure estimates how the selection
generalises to a repository it has not seen. The held-out halves are never
read. The self-written dev half is scored alongside (not used to choose).
"""

from __future__ import annotations

import argparse
import itertools
import sys
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from lab.analysis import bundled_tokenizer  # noqa: E402
from training.hierarchy.detector import OPTION_NAMES, PlanningDetector  # noqa: E402
from training.hierarchy.grams import load_preset  # noqa: E402
from training.hierarchy.planning_eval import EVAL_DIR, Counts, load_traces, score  # noqa: E402

MIN_PRECISION = 0.85


def pooled(counts: list[Counts]) -> Counts:
    out = Counts()
    for c in counts:
        out.found += c.found
        out.missed += c.missed
        out.marked_in += c.marked_in
        out.marked_out += c.marked_out
    return out


def choose(by_config: dict, repos: list[str]) -> tuple:
    """The options with the highest pooled recall at precision >= MIN_PRECISION on ``repos`` (ties: fewer)."""
    def key(config):
        c = pooled([by_config[config][r] for r in repos])
        ok = c.precision >= MIN_PRECISION
        return (ok, round(c.recall, 3) if ok else c.precision, c.precision, -len(config), config)
    return max(by_config, key=key)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--options", default=",".join(OPTION_NAMES), help="candidate options, comma-separated")
    ap.add_argument("--fixed", default="", help="options always on (a later stage of a forward selection)")
    args = ap.parse_args(argv)
    names = [o for o in args.options.split(",") if o]
    fixed = tuple(o for o in args.fixed.split(",") if o)
    tok, sg = bundled_tokenizer(), load_preset("reasoning")
    groups: dict[str, list] = defaultdict(list)
    for t in load_traces(EVAL_DIR / "genuine" / "dev.txt"):
        groups[t.meta.get("repo", t.id)].append(t)
    repos = sorted(groups)
    self_dev = load_traces(EVAL_DIR / "dev.txt")
    by_config, self_scores = {}, {}
    configs = [c for k in range(len(names) + 1) for c in itertools.combinations(names, k)]
    for config in configs:
        d = PlanningDetector(sg, fixed + config)
        by_config[config] = {r: score(d, groups[r], tok).all for r in repos}
        self_scores[config] = score(d, self_dev, tok).all
    print(f"genuine dev: {sum(map(len, groups.values()))} traces in {len(repos)} repositories; "
          f"candidate options: {', '.join(names)}" + (f"; always on: {', '.join(fixed)}" if fixed else "") + "\n")
    print("| options | " + " | ".join(r.split("/")[-1] for r in repos) + " | pooled | self-written dev |")
    print("|---" * (len(repos) + 3) + "|")
    for config in configs:
        cells = [f"{c.precision:.2f} / {c.recall:.2f}" for c in (by_config[config][r] for r in repos)]
        c, s = pooled(list(by_config[config].values())), self_scores[config]
        print(f"| {'+'.join(config) or ('(none)' if fixed else '(1.0)')} | " + " | ".join(cells) +
              f" | {c.precision:.3f} / {c.recall:.3f} | {s.precision:.3f} / {s.recall:.3f} |")
    print("\nLeave one repository out: options chosen on the others, scored on it")
    held = []
    for r in repos:
        chosen = choose(by_config, [x for x in repos if x != r])
        c = by_config[chosen][r]
        held.append(c)
        print(f"  {r}: chose {'+'.join(chosen) or '(none)'}; P={c.precision:.3f} R={c.recall:.3f}")
    c = pooled(held)
    print(f"out-of-fold pooled: P={c.precision:.3f} R={c.recall:.3f}")
    base = pooled(list(by_config[()].values()))
    name = "no further options" if fixed else "1.0 (no options)"
    print(f"{name} pooled: P={base.precision:.3f} R={base.recall:.3f}")
    final = choose(by_config, repos)
    c = pooled(list(by_config[final].values()))
    print(f"chosen on all of dev: {'+'.join(final) or '(none)'}; in-sample P={c.precision:.3f} R={c.recall:.3f}")


if __name__ == "__main__":
    main()
