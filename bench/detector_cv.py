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

    python bench/detector_cv.py --pool [--three]

Version 1.2 (issue 24, once dev, held-out and held-out-2 had all been seen):
the three genuine sets pooled, grouped by source repository, leave one
repository out. For each repository, the step-clause classifier is trained
on the units of every other repository's traces and scored on it, with
versions 1.0 and 1.1 (no training) beside it; the pooled out-of-fold figures
estimate how 1.2 does on a repository it has not seen. Also per model family
(out-of-fold) and for each threshold of the grid, so the choice of the
threshold (the one with the highest out-of-fold recall whose precision is
within 0.01 of 1.1's) can be seen; that one scalar is chosen on the same
out-of-fold figures, so it is slightly optimistic.

Version 1.3 (once held-out-3 had been seen too): the four genuine sets pooled
(``--three``: the three of 1.2's choice). 1.3 is 1.1 with clause-end rules
(:mod:`training.hierarchy.clause_end`) and nothing learned, so its per-fold
figures are its pooled figures split by repository; the choice of *which*
rules is cross-validated (chosen on the other repositories, the highest recall
at precision no lower than 1.1's there, scored on the one left out). The
rules were written after reading traces of every set, so no figure here is
out-of-sample for their wording.
"""

from __future__ import annotations

import argparse
import itertools
import sys
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from lab.analysis import bundled_tokenizer  # noqa: E402
from training.hierarchy import clause_end  # noqa: E402
from training.hierarchy.detector import OPTION_NAMES, PlanningDetector  # noqa: E402
from training.hierarchy.grams import load_preset  # noqa: E402
from training.hierarchy.planning_eval import EVAL_DIR, Counts, load_traces, score  # noqa: E402
from training.hierarchy.step_classifier import StepClassifier  # noqa: E402
from train_step_classifier import L2, THRESHOLD, genuine_traces, labelled_units  # noqa: E402
from training.hierarchy.step_classifier import fit  # noqa: E402

GRID = (0.4, 0.5, 0.6, 0.7, 0.8)

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


class Tally:
    """Token counts and phrases touched, summed over traces."""

    def __init__(self):
        self.c, self.phrases, self.touched = Counts(), 0, 0

    def add(self, s) -> None:
        self.c = pooled([self.c, s.all])
        self.phrases += s.phrases
        self.touched += s.touched

    def add_tally(self, other: "Tally") -> None:
        self.c = pooled([self.c, other.c])
        self.phrases += other.phrases
        self.touched += other.touched

    def __str__(self) -> str:
        return (f"P={self.c.precision:.3f} R={self.c.recall:.3f} "
                f"touched={self.touched / self.phrases if self.phrases else float('nan'):.3f}")


POOL = ("dev", "held-out", "held-out-2", "held-out-3")  # every genuine set (held-out-3 since version 1.3)
RULE_SETS = [c for k in range(len(clause_end.RULES) + 1) for c in itertools.combinations(clause_end.RULES, k)]


def choose_rules(by_rules: dict, repos: list[str]) -> tuple:
    """Version 1.3's clause-end rules chosen on ``repos``: the highest pooled recall whose pooled precision is
    at least 1.1's (no rules) on the same repositories, ties to fewer rules."""
    floor = pooled([by_rules[()][r].c for r in repos]).precision

    def key(rules):
        c = pooled([by_rules[rules][r].c for r in repos])
        return (c.precision >= floor, round(c.recall, 4), -len(rules), rules)
    return max(by_rules, key=key)


def pooled_cv(tok, sg, splits: tuple[str, ...] = POOL) -> None:
    """Leave one repository out over the genuine sets: 1.0, 1.1, 1.2 (its classifier trained per fold), 1.3
    (1.1 and the shipped clause-end rules), 1.2 with 1.3's rules, and the choice of 1.3's rules made per fold."""
    traces = genuine_traces(splits)
    repos = sorted({t.meta.get("repo", t.id) for t in traces})
    families = sorted({t.meta.get("family", "unknown") for t in traces})
    fixed = {"1.0": PlanningDetector(sg, version="1.0"), "1.1": PlanningDetector(sg, version="1.1"),
             "1.3": PlanningDetector(sg, version="1.3")}
    names = ["1.0", "1.1"] + [f"1.2@{t}" for t in GRID] + ["1.3", "1.2+1.3"]
    shown = ("1.0", "1.1", f"1.2@{THRESHOLD}", "1.3")
    total = {n: Tally() for n in names}
    by_repo = {n: {} for n in names}
    by_family = {n: {f: Tally() for f in families} for n in names}
    rule_dets = {rules: PlanningDetector(sg, version="1.1", clause_rules=rules) for rules in RULE_SETS if rules}
    rule_dets[()] = fixed["1.1"]
    by_rules = {rules: {} for rules in RULE_SETS}
    for r in repos:
        test = [t for t in traces if t.meta.get("repo", t.id) == r]
        units, labels = labelled_units([t for t in traces if t.meta.get("repo", t.id) != r])
        model = fit(units, labels, THRESHOLD, l2=L2)
        dets = dict(fixed)
        for th in GRID:
            dets[f"1.2@{th}"] = PlanningDetector(sg, version="1.2", classifier=StepClassifier(
                model.bias, model.weights, th))
        dets["1.2+1.3"] = PlanningDetector(sg, version="1.2", clause_rules=clause_end.KEPT, classifier=StepClassifier(
            model.bias, model.weights, THRESHOLD))
        for n in names:
            by_repo[n][r] = Tally()
            for t in test:
                s = score(dets[n], [t], tok)
                for tally in (total[n], by_repo[n][r], by_family[n][t.meta.get("family", "unknown")]):
                    tally.add(s)
        for rules in RULE_SETS:
            by_rules[rules][r] = Tally()
            by_rules[rules][r].add(score(rule_dets[rules], test, tok))
    print(f"genuine {' + '.join(splits)}: {len(traces)} traces, {len(repos)} repositories; "
          f"leave one repository out (1.2's classifier trained on the other {len(repos) - 1})\n")
    head = " | ".join(shown[:2]) + f" | 1.2 (threshold {THRESHOLD}) | 1.3 |"
    print(f"| repository | traces | {head}\n|---|---|---|---|---|---|")
    for r in repos:
        n = sum(t.meta.get("repo", t.id) == r for t in traces)
        print(f"| {r.split(':')[-1]} | {n} | " + " | ".join(str(by_repo[x][r]) for x in shown) + " |")
    print(f"\n| model family | traces | {head}\n|---|---|---|---|---|---|")
    for f in families:
        n = sum(t.meta.get("family", "unknown") == f for t in traces)
        print(f"| {f} | {n} | " + " | ".join(str(by_family[x][f]) for x in shown) + " |")
    by_set = {n: {x: Tally() for x in splits} for n in ("1.1", "1.3")}
    for x in splits:
        for n in by_set:
            by_set[n][x].add(score(fixed[n], load_traces(EVAL_DIR / "genuine" / f"{x}.txt"), tok))
    print("\n| set | 1.1 | 1.3 |\n|---|---|---|")
    for x in splits:
        print(f"| {x} | {by_set['1.1'][x]} | {by_set['1.3'][x]} |")
    print("\nOut-of-fold pooled, token level (1.2 at each threshold of the grid; 1.2+1.3: 1.2 at "
          f"{THRESHOLD} with 1.3's clause-end rules):")
    for n in names:
        print(f"  {n}: {total[n]}")
    base = total["1.1"].c.precision
    ok = [th for th in GRID if total[f"1.2@{th}"].c.precision >= base - 0.01]
    best = max(ok, key=lambda th: (round(total[f"1.2@{th}"].c.recall, 3), th)) if ok else None
    print(f"threshold with the highest out-of-fold recall at precision >= 1.1's - 0.01: {best} "
          f"(shipped: {THRESHOLD})")
    print("\n1.3's clause-end rules, pooled over every repository (in-sample for the choice):")
    for rules in RULE_SETS:
        c = Tally()
        for r in repos:
            c.add_tally(by_rules[rules][r])
        print(f"  {'+'.join(rules) or '(none: 1.1)'}: {c}")
    print("Leave one repository out: the rules chosen on the others (highest recall at precision >= 1.1's "
          "there), scored on it")
    held = Tally()
    for r in repos:
        chosen = choose_rules(by_rules, [x for x in repos if x != r])
        held.add_tally(by_rules[chosen][r])
        print(f"  {r.split(':')[-1]}: {'+'.join(chosen) or '(none)'}; {by_rules[chosen][r]}")
    print(f"out-of-fold pooled (the choice of rules cross-validated): {held}")
    final = choose_rules(by_rules, repos)
    print(f"chosen on every repository: {'+'.join(final) or '(none)'} (shipped: {'+'.join(clause_end.KEPT)})")


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--options", default=",".join(OPTION_NAMES), help="candidate options, comma-separated")
    ap.add_argument("--fixed", default="", help="options always on (a later stage of a forward selection)")
    ap.add_argument("--pool", action="store_true", help="1.0 / 1.1 / 1.2 / 1.3 by leave-one-repository-out over "
                    "the four genuine sets (version 1.2's step-clause classifier trained per fold)")
    ap.add_argument("--three", action="store_true", help="with --pool: dev + held-out + held-out-2 only, the "
                    "pool version 1.2 was chosen on (before held-out-3 was read)")
    args = ap.parse_args(argv)
    if args.pool:
        pooled_cv(bundled_tokenizer(), load_preset("reasoning"), POOL[:3] if args.three else POOL)
        return
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
