"""Mine tab handlers: corpus in, clusters and an SG set file out."""

from __future__ import annotations

import json
import logging
import re
import tempfile
from pathlib import Path

import numpy as np

from lab.corpus import MAX_FILE_BYTES, CorpusError, read_corpus
from lab import shipped
from training.hierarchy.grams import SGSetError, save_sg_set
from training.paths import PathError, check_model, check_regular, load_sg_file, resolve_checkpoint, safe_stem
from lab.mine import MineConfig, MineError, MineResult, mine
from lab.ui.context import jobs, settings

log = logging.getLogger(__name__)
CLUSTER_COLUMNS = ["cluster", "CDF (solutions)", "kept", "n-grams", "examples"]
CDF_HELP = ("**CDF** (cluster document frequency) = how many distinct solutions contain at least one n-gram of "
            "the cluster. A strategic move recurs across many solutions (but rarely many times in one), so the "
            "clusters with the highest CDF are kept as Strategic Grams.")


def sample_sources() -> list[str]:
    """Corpora to mine: shipped corpora, then runs with evaluation samples (their samples.jsonl): the user's
    runs and the shipped records."""
    out = list(shipped.shipped_corpora())
    for j in jobs().list():
        path = Path(j["path"])
        if any(path.rglob("samples.jsonl")):
            out.append(j["name"])
    out += [name for name, path in shipped.shipped_runs().items() if any(path.rglob("samples.jsonl"))]
    return out


def default_corpus() -> str | None:
    """The shipped corpus the 'Use the sample corpus' button picks."""
    return next(iter(shipped.shipped_corpora()), None)


PUBLIC_MAX_CORPUS_BYTES = 20_000_000  # a corpus a visitor of a public lab may upload (read whole, in memory)


def _corpus_path(upload: str | None, run: str | None) -> Path:
    if upload:
        if not isinstance(upload, (str, Path)):
            raise CorpusError("the corpus upload must be a file (.jsonl or .txt)")
        path = Path(upload)
        limit = PUBLIC_MAX_CORPUS_BYTES if settings().public else MAX_FILE_BYTES
        try:
            check_regular(path, path.name, limit)
        except PathError as err:
            raise CorpusError(str(err)) from None
        return path
    if run is not None and not isinstance(run, str):
        raise CorpusError("the run or shipped corpus must be given by its name")
    if run and run.startswith(shipped.CORPUS_PREFIX):
        corpora = shipped.shipped_corpora()
        if run not in corpora:
            raise CorpusError(f"no shipped corpus named {run!r} (shipped: {', '.join(corpora) or 'none'})")
        return corpora[run]
    if run:
        folder = shipped.shipped_path(run) if shipped.is_shipped(run) else jobs().path_of(run)
        files = sorted(folder.rglob("samples.jsonl"))
        if not files:
            raise CorpusError(f"run {run!r} has no samples yet")
        if len(files) == 1:
            return files[0]
        merged = Path(tempfile.mkdtemp()) / f"{run}-samples.jsonl"
        merged.write_text("".join(f.read_text() for f in files))
        return merged
    raise CorpusError("upload a corpus (.jsonl or .txt) or pick a run's samples")


def run_mining(upload, run, n_min, n_max, k, percentile, progress=None):
    """``(message, cluster rows, scatter figure, SG file path)``; on failure only the message."""
    try:
        corpus = read_corpus(_corpus_path(upload, run))
        from lab.ui.train_handlers import number, whole

        cfg = MineConfig(n_min=whole(n_min, "shortest n-gram"), n_max=whole(n_max, "longest n-gram"),
                         k=whole(k, "clusters (k)"), percentile=number(percentile, "top % of clusters"))
        name = re.sub(r"[^A-Za-z0-9._-]+", "-", Path(corpus.source).stem)[:40] + "-mined"
        result = mine(corpus.texts, cfg, name=name, progress=progress)
    except (CorpusError, MineError, ValueError) as err:
        return f"⚠️ {err}", [], None, None
    except Exception as err:  # noqa: BLE001 - the page must keep serving
        log.exception("mining failed")
        return f"⚠️ Mining failed ({type(err).__name__}: {err}).", [], None, None
    out = Path(tempfile.mkdtemp()) / f"{result.sg_set.name}.json"
    save_sg_set(result.sg_set, out)
    kept = sum(c.selected for c in result.clusters)
    message = (f"{len(corpus.texts):,} solutions"
               + (f" ({corpus.dropped_incorrect:,} incorrect left out)" if corpus.dropped_incorrect else "")
               + f" → {len(result.ngrams):,} n-grams → {result.k} clusters → kept {kept} "
               f"({len(result.sg_set.grams)} Strategic Grams). " + " ".join(result.notes))
    return message, cluster_rows(result), scatter(result), str(out)


PUBLIC_MAX_SAMPLE = 512  # responses a visitor of a public lab may sample in one go (the page's own process)
SAMPLE_TASKS = ("multiply-planning", "multiply-intermediate", "multiply-execution", "multiply", "gsm8k", "math")


def checkpoint_folder(choice: str | None) -> Path | None:
    """``run/step-N`` or ``sweep/arm/step-N`` (the Inspect tab's checkpoint names) -> the checkpoint folder
    (training/paths.py: inside the runs folder, no ``..``, no symlink out)."""
    if not choice:
        return None
    return resolve_checkpoint(settings().runs, choice)


def sample_from_model(model, checkpoint, task, n, temperature, progress=None) -> tuple[Path, str]:
    """Sample ``n`` responses from a model on ``task``'s training split into a corpus file:
    ``(path of the .jsonl corpus, a sentence on what was sampled)``. Raises ValueError on bad input."""
    from lab.ui.train_handlers import number, whole
    from training.evaluate import sample_corpus

    from lab.ui.context import PUBLIC_MODELS

    model = check_model(model, settings().public, PUBLIC_MODELS, settings().roots, verb="samples from")
    task = task.strip() if isinstance(task, str) else ""
    if task not in SAMPLE_TASKS:
        raise ValueError(f"pick a task: {', '.join(SAMPLE_TASKS)}")
    n = whole(n, "number of responses")
    temperature = number(temperature, "temperature")
    if not 0 < temperature <= 2:
        raise ValueError(f"the temperature must be in (0, 2], got {temperature}")
    if settings().public:
        if n > PUBLIC_MAX_SAMPLE:
            raise ValueError(f"this public lab samples at most {PUBLIC_MAX_SAMPLE} responses at a time")
    records = sample_corpus(model, task, n, temperature, seed=0, checkpoint=checkpoint_folder(checkpoint),
                            progress=progress)
    out = Path(tempfile.mkdtemp()) / re.sub(r"[^A-Za-z0-9._-]+", "-", f"{model}-{task}-{n}.jsonl")
    out.write_text("".join(json.dumps(r) + "\n" for r in records))
    right = sum(r["correct"] for r in records)
    what = f"{model}" + (f" (checkpoint {checkpoint})" if checkpoint else "")
    return out, f"Sampled {len(records):,} responses from {what} on {task} at T = {temperature:g}: {right:,} correct."


def mine_from_model(model, checkpoint, task, n, temperature, n_min, n_max, k, percentile, progress=None):
    """Sample from a model, then mine the correct responses: :func:`run_mining`'s outputs plus the corpus
    file (to download, or to mine again with other settings)."""
    say = progress or (lambda f, m: None)
    try:
        corpus, note = sample_from_model(model, checkpoint, task, n, temperature,
                                         progress=lambda f, m: say(0.6 * f, m))
    except Exception as err:  # noqa: BLE001 - a bad name, no network, a bad checkpoint: a message
        if not isinstance(err, (ValueError, OSError)):
            log.exception("sampling failed")
        return f"⚠️ {err}", [], None, None, None
    message, rows, fig, sg = run_mining(str(corpus), None, n_min, n_max, k, percentile,
                                        progress=lambda f, m: say(0.6 + 0.4 * f, m))
    return f"{note} {message}", rows, fig, sg, str(corpus)


def cluster_rows(result: MineResult) -> list[list]:
    return [[c.id, c.cdf, "yes" if c.selected else "", len(c.phrases), "; ".join(c.phrases[:5])]
            for c in result.clusters]


def scatter(result: MineResult):
    """2-D view of the n-gram embeddings (PCA), kept clusters in colour."""
    import plotly.graph_objects as go

    emb = result.embeddings - result.embeddings.mean(axis=0)
    _, _, vt = np.linalg.svd(emb, full_matrices=False)
    xy = emb @ vt[:2].T if vt.shape[0] >= 2 else np.c_[emb[:, :1], np.zeros(len(emb))]
    kept = {c.id for c in result.clusters if c.selected}
    fig = go.Figure()
    other = [i for i, lab in enumerate(result.labels) if lab not in kept]
    fig.add_trace(go.Scattergl(x=xy[other, 0], y=xy[other, 1], mode="markers", name="other clusters",
                               marker={"color": "#d1d5db", "size": 5},
                               text=[result.ngrams[i] for i in other], hoverinfo="text"))
    for cid in sorted(kept):
        idx = [i for i, lab in enumerate(result.labels) if lab == cid]
        fig.add_trace(go.Scattergl(x=xy[idx, 0], y=xy[idx, 1], mode="markers", name=f"cluster {cid}",
                                   marker={"size": 7}, text=[result.ngrams[i] for i in idx], hoverinfo="text"))
    fig.update_layout(title={"text": "n-gram embeddings (2-D PCA); kept clusters in colour", "x": 0,
                             "font": {"size": 14}},
                      height=460, margin={"l": 30, "r": 10, "t": 40, "b": 30},
                      legend={"orientation": "h", "x": 0, "y": -0.08, "yanchor": "top"},
                      xaxis={"title": {"text": "first principal component"}},
                      yaxis={"title": {"text": "second principal component"}})
    return fig


def use_in_runs(sg_file: str | None, folder: Path | None = None, max_sets: int | None = None) -> str:
    """Save an SG set where the Train tab lists it: the lab's sg-sets folder, or ``folder`` (a public
    visitor's own, holding at most ``max_sets``).

    The upload is checked first (a regular file of at most ``MAX_SG_SET_BYTES``, valid SG set JSON, at most
    ``MAX_SG_PHRASES`` phrases) and written back as the lab writes SG sets, so nothing but a valid set
    lands in the folder. An existing set of another content is never overwritten (a queued run may be
    about to read it): the new one gets the next free name, ``name-2.json``.
    """
    if not sg_file:
        return "⚠️ Mine a corpus first."
    if not isinstance(sg_file, (str, Path)):
        return "⚠️ The SG set must be a file (a mined set, or an SG set JSON upload)."
    source = Path(sg_file)
    try:
        sg = load_sg_file(source, shown=source.name)
    except (SGSetError, PathError) as err:
        return f"⚠️ {err}"
    folder = folder or settings().sg_sets
    folder.mkdir(parents=True, exist_ok=True)
    if max_sets is not None and sum(1 for _ in folder.glob("*.json")) >= max_sets:
        return f"⚠️ You have {max_sets} saved SG sets, the most this lab keeps per visitor."
    stem = safe_stem(Path(source.name).stem)
    content = json.dumps(sg.to_json(), sort_keys=True)
    for i in range(1, 1000):
        target = folder / (f"{stem}.json" if i == 1 else f"{stem}-{i}.json")
        if not target.exists():
            break
        try:
            if json.dumps(load_sg_file(target, shown=target.name).to_json(), sort_keys=True) == content:
                return f"Already saved as {target.name}: pick it as the SG set in the Train tab."
        except (SGSetError, PathError):
            continue
    else:
        return f"⚠️ Too many sets named {stem}; rename the file."
    save_sg_set(sg, target)
    return f"Saved as {target.name}: pick it as the SG set in the Train tab."
