"""The GPU check: one command that checks and measures the trainer's GPU path, offline.

    python bench/gpu_check.py                         # on a CUDA GPU: about 5 minutes on one H100 / H200
    python bench/gpu_check.py --device cpu --layers 1  # a dry run of the same path on a CPU

In order, each stage with its own time limit inside ``--budget`` seconds
(8 minutes by default), and one JSON file of everything (``--json``,
written after each stage, so a stage that fails or runs out of time keeps
what came before):

1. versions (Python, torch, CUDA, transformers, peft, TRL) and the GPU;
2. the CUDA tests (``pytest -m cuda tests/test_cuda.py``: the lean decoder
   and the lean forward in bf16 against transformers / peft, CUDA graphs
   against the plain step bit for bit, seeded sampling reproducible, a
   3-step run); skipped on a CPU;
3. a 3-step run of the bundled model (``python -m training run --preset
   tiny-smoke --steps 3``) on the device;
4. the benchmark against TRL (``bench/step_time.py --arch qwen2.5-0.5b
   --max-new 512 --steps 2 --warmup 1 --like-for-like``), with TRL
   skipped (and a message saying so) when it is not installed.

Nothing is downloaded (the benchmark builds the architecture with random
weights). TRL on a machine without a network: on one with a network,
``pip download "trl==1.16.*" --no-deps -d wheels/``, carry ``wheels/``
over, and pass ``--wheels wheels/`` (installed with ``pip install
--no-index --no-deps``; TRL's own dependencies, accelerate and datasets, are
in requirements.txt). The dry run on a CPU cuts the shapes down
(``--layers``, 16 new tokens, one step) and checks the plumbing only.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import json
import os
import platform
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def versions(device: str) -> dict:
    """Versions of what matters and a description of the device."""
    import torch

    found = {"python": platform.python_version(), "torch": torch.__version__, "cuda": torch.version.cuda,
             "cudnn": torch.backends.cudnn.version() if torch.cuda.is_available() else None}
    for name in ("transformers", "peft", "accelerate", "datasets", "trl"):
        try:
            found[name] = importlib.import_module(name).__version__
        except ImportError:
            found[name] = None
    if device.startswith("cuda"):
        from training.engine.decoder import float32_products

        props = torch.cuda.get_device_properties(0)
        found["gpu"] = {"name": props.name, "memory_gib": round(props.total_memory / 2**30, 1),
                        "capability": f"{props.major}.{props.minor}", "count": torch.cuda.device_count(),
                        "bf16": torch.cuda.is_bf16_supported(),
                        "bmm_bf16_into_float32": float32_products(torch.device("cuda", 0))}
    else:
        found["gpu"] = None
        found["cpu"] = f"{platform.machine()}, {os.cpu_count()} cores"
    return found


def run_stage(command: list[str], limit: float) -> dict:
    """Run ``command`` in the repository with a time limit; its exit code, time and output's tail."""
    t0 = time.time()
    try:
        done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=max(limit, 1))
        code, out = done.returncode, done.stdout + done.stderr
    except subprocess.TimeoutExpired as err:
        code = "timeout"
        out = (err.stdout or b"").decode(errors="replace") + (err.stderr or b"").decode(errors="replace")
    return {"command": " ".join(command), "exit": code, "seconds": round(time.time() - t0, 1), "output": out[-6000:]}


def install_trl(wheels: str) -> str:
    """Install TRL from a folder of wheels, offline; what happened, in words."""
    done = subprocess.run([sys.executable, "-m", "pip", "install", "--no-index", "--no-deps", "--find-links", wheels,
                           "trl"], capture_output=True, text=True)
    return "installed from " + wheels if done.returncode == 0 else f"not installed: {done.stderr.strip()[-300:]}"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--device", default="cuda", help="cuda (the check) or cpu (a dry run)")
    ap.add_argument("--arch", default="qwen2.5-0.5b", help="the benchmark's architecture (bench/archs.py)")
    ap.add_argument("--layers", type=int, default=None, help="cut the architecture to N layers (dry runs)")
    ap.add_argument("--max-new", type=int, default=None, help="benchmark response length (512; 16 on a CPU)")
    ap.add_argument("--steps", type=int, default=None, help="measured benchmark steps per system (2; 1 on a CPU)")
    ap.add_argument("--warmup", type=int, default=None, help="warm-up steps per system (1; 0 on a CPU)")
    ap.add_argument("--budget", type=float, default=480, help="seconds for the whole check")
    ap.add_argument("--wheels", default=None, help="a folder holding a TRL wheel, installed offline first")
    ap.add_argument("--json", default="gpu-check.json", help="where to write the results")
    args = ap.parse_args(argv)
    cuda = args.device.startswith("cuda")
    max_new = args.max_new or (512 if cuda else 16)
    steps = args.steps or (2 if cuda else 1)
    warmup = args.warmup if args.warmup is not None else (1 if cuda else 0)
    deadline = time.time() + args.budget
    out = Path(args.json)
    results: dict = {"settings": {k: v for k, v in vars(args).items() if k != "json"}}

    def save() -> None:
        out.write_text(json.dumps(results, indent=2) + "\n")

    def left(share: float) -> float:
        return share * (deadline - time.time())

    if args.wheels:
        results["trl_install"] = install_trl(args.wheels)
    import torch

    if cuda and not torch.cuda.is_available():
        print("no CUDA GPU here: run with --device cpu for a dry run", file=sys.stderr)
        return 2
    results["versions"] = versions(args.device)
    print(json.dumps(results["versions"], indent=2))
    save()

    print("1/3 CUDA tests ...", flush=True)
    tests = run_stage([sys.executable, "-m", "pytest", "-q", "-s", "-rs", "-p", "no:cacheprovider", "-m", "cuda",
                       "tests/test_cuda.py"], left(0.4))
    counts = dict((kind, int(n)) for n, kind in re.findall(r"(\d+) (passed|failed|skipped|error)", tests["output"]))
    results["cuda_tests"] = {**tests, "counts": counts}
    print(f"   {counts or tests['exit']} in {tests['seconds']} s")
    save()

    print("2/3 three steps of the bundled model ...", flush=True)
    run_dir = Path(tempfile.mkdtemp(prefix="gpu-check-run-"))
    dry = [] if cuda else ["--max-new-tokens", str(max_new), "--eval-every", "0"]
    run = run_stage([sys.executable, "-m", "training", "run", "--preset", "tiny-smoke", "--steps", "3",
                     "--device", args.device, "--out", str(run_dir / "run"), *dry], left(0.25))
    metrics = run_dir / "run" / "metrics.jsonl"
    records = [json.loads(line) for line in metrics.read_text().splitlines()] if metrics.exists() else []
    results["tiny_run"] = {**run, "graphs_fell_back": "decoding without CUDA graphs" in run["output"],
                           "steps": [{k: r.get(k) for k in ("step", "time/step_s", "time/rollout_s", "reward/mean",
                                                            "sampler/logp_gap")}
                                     for r in records if r.get("kind") == "step"]}
    print(f"   exit {run['exit']} in {run['seconds']} s; steps: "
          f"{[round(s['time/step_s'], 2) for s in results['tiny_run']['steps']]} s")
    save()

    print("3/3 benchmark against TRL ...", flush=True)
    bench_json = run_dir / "bench.json"
    has_trl = importlib.util.find_spec("trl") is not None
    if not has_trl:
        results["trl_skipped"] = ("TRL is not installed: the benchmark ran ours only. Offline: on a machine with "
                                  "a network, pip download 'trl==1.16.*' --no-deps -d wheels/, carry wheels/ over "
                                  "and rerun with --wheels wheels/")
        print("   " + results["trl_skipped"])
    bench = run_stage([sys.executable, "bench/step_time.py", "--arch", args.arch, "--max-new", str(max_new),
                       "--steps", str(steps), "--warmup", str(warmup), "--device", args.device, "--like-for-like",
                       "--json", str(bench_json), *(["--layers", str(args.layers)] if args.layers else []),
                       *([] if has_trl else ["--skip-trl"])], left(0.95))
    results["benchmark"] = {**bench, "figures": json.loads(bench_json.read_text()) if bench_json.exists() else None}
    print("\n".join("   " + line for line in bench["output"].splitlines() if line.startswith(("ours", "TRL"))))
    save()
    failed = [name for name, stage in (("cuda tests", tests), ("3-step run", run), ("benchmark", bench))
              if stage["exit"] != 0]
    results["ok"] = not failed
    save()
    print(f"{'all stages passed' if not failed else 'failed: ' + ', '.join(failed)}; results in {out}")
    return 0 if not failed else 1


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    sys.exit(main())
