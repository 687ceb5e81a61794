"""Does the trainer today give Study 3's runs the numbers it gave them when the plan was committed?

    python bench/study3_same_numbers.py [--steps 4] [--commit PLAN_COMMIT]

The plan (``docs/study3-plan.md``) counts as a deviation any change to the trainer or the task after its
commit that changes a run's numbers. This trains one short HICRA run of the plan's preset twice, in a copy
of the tree at the plan's commit (``git archive``) and in this checkout, with the same seed and a small
evaluation, and compares every record field except times, speeds and fields the later code added. It prints
``same numbers`` or each difference, and exits 1 on a difference. About a minute on 2 cores.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PLAN = "docs/study3-plan.md"
SKIP = ("time", "speed/")  # wall-clock fields differ run to run


def plan_commit() -> str:
    log = subprocess.run(["git", "log", "--format=%H", "--", PLAN], cwd=ROOT, capture_output=True, text=True,
                         check=True).stdout.split()
    if not log:
        raise SystemExit(f"no commit of {PLAN} in this checkout's history")
    return log[-1]


def train(tree: Path, out: Path, steps: int) -> list[dict]:
    cmd = [sys.executable, "-m", "training", "run", "--preset", "tiny-execution", "--algo", "hicra", "--alpha",
           "0.2", "--seed", "7", "--steps", str(steps), "--eval-every", str(max(1, steps // 2)), "--eval-n", "30",
           "--eval-samples", "2", "--eval-seed", "0", "--threads", "1", "--out", str(out)]
    env = {**os.environ, "PYTHONPATH": str(tree), "HF_HUB_OFFLINE": "1"}
    done = subprocess.run(cmd, cwd=tree, env=env, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"the run in {tree} failed:\n{done.stdout[-2000:]}{done.stderr[-2000:]}")
    return [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines() if line.strip()]


def differences(old: list[dict], new: list[dict]) -> list[str]:
    """Fields of the old records whose values the new records changed (new fields are not differences)."""
    if len(old) != len(new):
        return [f"{len(old)} records then, {len(new)} now"]
    out = []
    for a, b in zip(old, new):
        for key, value in a.items():
            if key.startswith(SKIP):
                continue
            if b.get(key) != value:
                out.append(f"{a.get('kind')} step {a.get('step')}: {key} {value!r} then, {b.get(key)!r} now")
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--steps", type=int, default=4, help="training steps of the compared run")
    ap.add_argument("--commit", default=None, help="the commit to compare with (default: the plan's first)")
    args = ap.parse_args(argv)
    commit = args.commit or plan_commit()
    with tempfile.TemporaryDirectory() as tmp:
        then = Path(tmp) / "then"
        then.mkdir()
        archive = subprocess.run(["git", "archive", commit], cwd=ROOT, capture_output=True, check=True).stdout
        tar_path = Path(tmp) / "then.tar"
        tar_path.write_bytes(archive)
        with tarfile.open(tar_path) as tar:
            tar.extractall(then, filter="data")
        old = train(then, Path(tmp) / "run-then", args.steps)
        new = train(ROOT, Path(tmp) / "run-now", args.steps)
    diffs = differences(old, new)
    print(f"plan commit {commit[:10]} vs this checkout: {args.steps} HICRA steps of tiny-execution, seed 7")
    if diffs:
        print("\n".join(diffs[:40]))
        return 1
    print(f"same numbers: {len(old)} records, every field but times equal (fields added since: "
          f"{sorted(set(new[-1]) - set(old[-1])) or 'none'})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
