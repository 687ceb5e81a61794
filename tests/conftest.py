import json
import sys
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def pytest_collection_modifyitems(config, items):
    """Tests marked ``cuda`` are skipped where there is no CUDA GPU (CI: always)."""
    if torch.cuda.is_available():
        return
    skip = pytest.mark.skip(reason="needs a CUDA GPU (bench/gpu_check.py runs these on one)")
    for item in items:
        if item.get_closest_marker("cuda"):
            item.add_marker(skip)


def pytest_terminal_summary(terminalreporter):
    """Say why tests were skipped, in words, at the end of even a quiet (-q) run: a missing chromium or GPU
    must not pass unnoticed as a few 's' in a line of dots."""
    reasons = {}
    for report in terminalreporter.stats.get("skipped", []):
        if isinstance(report.longrepr, tuple):
            reason = report.longrepr[2].removeprefix("Skipped: ")
            reasons[reason] = reasons.get(reason, 0) + 1
    for reason, n in sorted(reasons.items()):
        terminalreporter.write_line(f"skipped {n} test{'s' * (n != 1)}: {reason}")


@pytest.fixture(scope="session")
def tiny_lm():
    """The bundled model and tokenizer, loaded once (tests must not change the model: copy it first)."""
    from training.engine.modeling import load_model

    return load_model("tiny", device="cpu")


@pytest.fixture(scope="session")
def tiny(tiny_lm):
    return tiny_lm.model


@pytest.fixture(scope="session")
def random_model():
    """Builds a small random Qwen2 (tied embeddings) or Llama (linear-scaled RoPE) model, grouped-query
    attention, in eval mode: ``random_model("qwen2")``."""
    def build(kind: str):
        from transformers import LlamaConfig, LlamaForCausalLM, Qwen2Config, Qwen2ForCausalLM

        torch.manual_seed(0)
        common = dict(vocab_size=97, hidden_size=64, intermediate_size=96, num_hidden_layers=2,
                      num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=128)
        if kind == "qwen2":
            return Qwen2ForCausalLM(Qwen2Config(**common, tie_word_embeddings=True)).eval()
        return LlamaForCausalLM(LlamaConfig(**common, rope_scaling={"rope_type": "linear", "factor": 2.0})).eval()

    return build


@pytest.fixture(scope="session")
def tokenizer():
    from lab.analysis import bundled_tokenizer

    return bundled_tokenizer()


@pytest.fixture(scope="session")
def metaspace_tokenizer():
    """A SentencePiece-style tokenizer (Metaspace, byte fallback), built in memory.

    Small on purpose: it only has to split words into pieces with U+2581
    markers and fall back to byte tokens for characters it does not know.
    """
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, trainers

    tok = Tokenizer(models.BPE(byte_fallback=True, unk_token="<unk>"))
    tok.normalizer = normalizers.Sequence([normalizers.Prepend("\u2581"), normalizers.Replace(" ", "\u2581")])
    tok.pre_tokenizer = pre_tokenizers.Metaspace(replacement="\u2581", prepend_scheme="never", split=False)
    tok.decoder = decoders.Sequence([decoders.Replace("\u2581", " "), decoders.ByteFallback(),
                                     decoders.Fuse(), decoders.Strip(" ", 1, 0)])
    trainer = trainers.BpeTrainer(vocab_size=300, special_tokens=["<unk>", "</s>"], show_progress=False)
    corpus = ["let's check if the answer is right", "note that we can try another approach",
              "so the total is 12 and then we check"] * 20
    tok.train_from_iterator(corpus, trainer=trainer)
    # Byte-fallback pieces <0x00>..<0xFF> are ordinary vocabulary entries in
    # SentencePiece models; the trainer cannot add them, so edit the JSON.
    spec = json.loads(tok.to_str())
    vocab = spec["model"]["vocab"]
    for b in range(256):
        vocab.setdefault(f"<0x{b:02X}>", len(vocab))
    return Tokenizer.from_str(json.dumps(spec))


def _serve(data: Path, **env):
    """`python app.py` started as a user would, on a free port, with ``data`` as its data folder and extra
    environment variables; yields its URL and stops it afterwards."""
    import os
    import socket
    import subprocess
    import time
    import urllib.request

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    log = data / "app.log"
    env = {**os.environ, "GRADIO_SERVER_PORT": str(port), "GRADIO_SERVER_NAME": "127.0.0.1",
           "HICRA_LAB_DATA": str(data), **env}
    with open(log, "wb") as out:
        proc = subprocess.Popen([sys.executable, "app.py"], cwd=ROOT, env=env, stdout=out,
                                stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}/"
    deadline = time.time() + 300  # a loaded 2-core machine can take minutes to import and build the app
    try:
        while True:
            try:
                urllib.request.urlopen(url, timeout=2)
                break
            except OSError:
                if proc.poll() is not None or time.time() > deadline:
                    raise RuntimeError(f"app did not start:\n{log.read_text()}")
                time.sleep(0.3)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
        _end_runs(data / "runs")


def _end_runs(runs):
    """Kill the training processes a test's app left running (runs outlive the app by design)."""
    import json
    import os
    import signal

    for status in runs.glob("*/status.json"):
        try:
            pid = json.loads(status.read_text()).get("pid")
            cmdline = open(f"/proc/{pid}/cmdline", "rb").read() if pid else b""
        except (OSError, ValueError):
            continue
        if str(status.parent).encode() in cmdline:  # still the run's own process
            os.kill(pid, signal.SIGKILL)


@pytest.fixture(scope="session")
def app_data(tmp_path_factory):
    """The data folder of the app that ``app_url`` starts: ``runs/`` and its log, ``app.log``."""
    return tmp_path_factory.mktemp("app")


@pytest.fixture(scope="session")
def app_url(app_data):
    """The app as a user starts it; yields its URL."""
    yield from _serve(app_data)


@pytest.fixture(scope="module")
def public_app_url(tmp_path_factory):
    """The app in public mode (HICRA_LAB_PUBLIC=1) with a queue of one waiting run; yields its URL. Every test
    client calls from 127.0.0.1, so the per-network share is raised above what the tests queue (the share
    itself: tests/test_hardening_api.py)."""
    yield from _serve(tmp_path_factory.mktemp("public-app"), HICRA_LAB_PUBLIC="1", HICRA_LAB_MAX_QUEUE="1",
                      HICRA_LAB_MAX_RUNS_PER_NETWORK="10")
