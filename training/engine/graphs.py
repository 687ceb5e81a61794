"""Decoding steps replayed as one CUDA graph, kept across rollouts.

A decoding step of a small model on a fast GPU is mostly launch overhead:
a few dozen small kernels a layer, each launched from Python. The issue
that set our GPU targets measured 24 ms a step for Qwen2.5-0.5B through
transformers on an H100, almost all of it launch overhead. A CUDA graph
records the step's kernels once and replays them with one launch.

:func:`graphed_decoder` gives a :class:`GraphedDecoder` for a batch of N
rows and a cache of C columns (C: the rollout's length rounded up to
``COLUMNS``). It holds a :class:`training.engine.decoder.LeanDecoder` whose
tensors never move: the cache, allocated whole (so attention reads every
column, masked), the mask, the fused weights (rewritten in place before
each rollout: the sampler's weights or LoRA factors change between
rollouts) and the step's inputs. So the graph recorded at its first step is
replayed in every later rollout of the same shape, and recording (which
synchronises the GPU and empties PyTorch's cache of free memory) happens
once per shape and process, not once per rollout. The last ``KEEP`` shapes
are kept (each holds its cache and its graph's memory).

A rollout: the distinct prompts are prefilled by a plain decoder that
shares the weights, and their cache is copied to the N rows (:meth:`keep`);
then each step copies its tokens, positions and cache column into the
graph's inputs and replays it. **Finished rows are never dropped while
graphs are on**: the graph's batch is fixed, so a finished row's padding
is computed until the whole batch is done (without graphs, finished rows
leave the batch once they are a quarter of it).

The first replay of a graph (at the step after the recording, with new
inputs) is checked against the plain step on the same inputs: the same
kernels on the same numbers, so they must agree bit for bit. A difference
within a few roundings of the logits is logged (a warning, and
:data:`stats`) and graphs stay on; a larger one, or a failure to record,
turns graphs off for the process (a warning says why) after rewriting what
the graph wrote: a graph writes the cache where a step writes, at its
column or (inputs baked in) at the recording step's, and the recording
step and this one run again, plain. A graph recorded at the last step of a
rollout, so never checked, is dropped and recorded again. The bookkeeping
(inputs, outputs, cache columns, reuse, the check, the fallback) is tested
on a CPU with a stand-in recorder (tests/test_graphs.py); the CUDA
recording itself runs only on a GPU (tests/test_cuda.py).
"""

from __future__ import annotations

import warnings
import weakref
from collections import OrderedDict
from typing import Callable

import torch

from training.engine.decoder import LeanDecoder, base_model, covers, signature

# A recorder takes the step (no arguments, returns logits) and the device, and returns the step's replay.
Recorder = Callable[[Callable[[], torch.Tensor], torch.device], Callable[[], torch.Tensor]]

COLUMNS = 128  # cache columns are allocated in multiples of this: rollouts of similar lengths share a graph
KEEP = 4  # graphed decoders (shapes) kept per model

# Why graphs are off for this process (a recording failed or a graph disagreed), or None.
_broken: str | None = None
# What happened so far in this process (the benchmarks report it).
stats = {"recordings": 0, "replayed_steps": 0, "checked": 0, "replay_max_abs_diff": 0.0}
# Per model (weakly held): its graphed decoders by (rows, columns, weights' signature), oldest first.
_decoders: "weakref.WeakKeyDictionary[torch.nn.Module, OrderedDict]" = weakref.WeakKeyDictionary()


def usable() -> bool:
    """Whether graphs are on for this process (no recording has failed, no graph has disagreed)."""
    return _broken is None


def report() -> dict:
    """Graphs in this process so far: on or off (and why), recordings, replayed steps, checks."""
    return {"on": usable(), "off_because": _broken, **stats}


def forget() -> None:
    """Drop every kept graph (tests; or to free their memory)."""
    _decoders.clear()


def graphed_decoder(model, batch: int, max_len: int, recorder: Recorder | None = None) -> "GraphedDecoder | None":
    """A graphed decoder for ``batch`` rows and at least ``max_len`` columns, ready for a rollout
    (weights read again), or None where the lean decoder does not cover the model or graphs are off."""
    if not usable():
        return None
    base = base_model(model)
    limit = getattr(base.config, "max_position_embeddings", max_len)
    columns = min(-(-max_len // COLUMNS) * COLUMNS, max(limit, max_len))
    shape = signature(base)
    if shape is None or not covers(base, columns):
        return None
    kept = _decoders.setdefault(base, OrderedDict())
    key = (batch, columns, shape)
    if key in kept:
        kept.move_to_end(key)
        kept[key].begin()
        return kept[key]
    kept[key] = GraphedDecoder(LeanDecoder(base, batch, columns), recorder)
    while len(kept) > KEEP:
        kept.popitem(last=False)
    return kept[key]


def cuda_recorder(step: Callable[[], torch.Tensor], device: torch.device) -> Callable[[], torch.Tensor]:
    """Record ``step`` as a CUDA graph on ``device`` (after a warm-up run on a side stream, as CUDA requires)."""
    with torch.cuda.device(device):
        before = torch.cuda.current_stream()
        side = torch.cuda.Stream()
        side.wait_stream(before)
        with torch.cuda.stream(side):
            step()
        before.wait_stream(side)
        graph = torch.cuda.CUDAGraph()
        try:
            with torch.cuda.graph(graph, capture_error_mode="thread_local"):
                out = step()
        finally:  # a failed capture can leave its stream current: go back to ours
            torch.cuda.set_stream(before)

    def replay() -> torch.Tensor:
        graph.replay()
        return out

    return replay


class GraphedDecoder:
    """A :class:`LeanDecoder` whose decoding steps replay as one recorded graph (see the module docstring)."""

    def __init__(self, decoder: LeanDecoder, recorder: Recorder | None = None):
        self.decoder, self.recorder = decoder, recorder or cuda_recorder
        decoder.reserve(decoder.max_len)  # the whole cache now: a graph reads fixed addresses
        self.replay: Callable[[], torch.Tensor] | None = None
        self.checked = False  # whether the current graph's first replay has been checked
        self.steps_replayed = 0
        self.prefiller: LeanDecoder | None = None

    @property
    def enabled(self) -> bool:
        return usable()

    @property
    def attention(self) -> str:
        return self.decoder.attention

    def begin(self) -> None:
        """Ready for a new rollout: weights read again; a graph never checked is dropped."""
        self.decoder.weights.refresh()
        if not self.checked:
            self.replay = None

    def prefill(self, ids: torch.Tensor, prompt_mask: torch.Tensor, positions: torch.Tensor) -> torch.Tensor:
        """ids, prompt_mask, positions: (U, P) distinct prompts -> (U, V) logits; :meth:`keep` then
        copies their cache to the graph's N rows."""
        dec = self.decoder
        self.prefiller = LeanDecoder(None, len(ids), ids.shape[1], weights=dec.weights)
        return self.prefiller.prefill(ids, prompt_mask, positions)

    def keep(self, rows: torch.Tensor) -> None:
        """The batch := the prefilled prompts' rows ``rows`` (N,), once per rollout (the graph's batch
        is fixed: finished rows are never dropped)."""
        if self.prefiller is None:
            raise RuntimeError("a graphed decoder's batch is fixed: finished rows cannot be dropped")
        self.decoder.take(self.prefiller, rows)
        self.prefiller = None

    def step(self, tokens: torch.Tensor, positions: torch.Tensor) -> torch.Tensor:
        """tokens, positions: (N,) -> (N, V) logits of the next token; the returned tensor is
        rewritten by the next step (use it before then)."""
        dec = self.decoder
        if not self.enabled:
            return dec.step(tokens, positions)
        if self.replay is None:
            return self._record(tokens, positions)
        self.tokens.copy_(tokens)
        self.positions.copy_(positions)
        self.column.fill_(dec.length)
        logits = self.replay()
        if not self.checked:  # the plain step after it: its numbers, and its keys and values in the cache
            logits = self._check(logits, dec.step_at(self.tokens, self.positions, self.column))
        dec.length += 1
        if self.enabled:
            self.steps_replayed += 1
            stats["replayed_steps"] += 1
        return logits

    def _check(self, got: torch.Tensor, want: torch.Tensor) -> torch.Tensor:
        """The first replay ``got`` against the plain step ``want`` on the same inputs; returns ``want``."""
        dec = self.decoder
        self.checked = True
        stats["checked"] += 1
        if torch.equal(got, want):
            return want
        diff = float((got.float() - want.float()).abs().max())
        stats["replay_max_abs_diff"] = max(stats["replay_max_abs_diff"], diff)
        # Rounding noise would be a few roundings of the largest logit; anything more is a wrong graph.
        tolerance = 8 * torch.finfo(want.dtype).eps * float(want.abs().max())
        if diff <= tolerance:
            warnings.warn(f"a CUDA graph's replay differs from the plain step on the same inputs by {diff:.3g} "
                          "(expected: bit for bit); graphs stay on", RuntimeWarning, stacklevel=4)
            return want
        self._give_up(f"its first replay differs from the plain step by {diff:.3g}")
        # A wrong graph writes where a step writes: this column, or (inputs baked in) the recording
        # step's. Both steps again, plain, in order (this column masked out again first: the
        # recording step must not see it), put the right numbers there.
        dec.unsee(self.column)
        dec.step_at(*self.recorded)
        return dec.step_at(self.tokens, self.positions, self.column)

    def _record(self, tokens: torch.Tensor, positions: torch.Tensor) -> torch.Tensor:
        """Record this decoder's graph; the step itself runs plain (after the recording)."""
        dec = self.decoder
        self.tokens, self.positions = tokens.clone(), positions.clone()
        self.column = torch.full((1,), dec.length, dtype=torch.long, device=tokens.device)
        self.recorded = (tokens.clone(), positions.clone(), self.column.clone())  # this step's inputs
        try:
            self.replay = self.recorder(lambda: dec.step_at(self.tokens, self.positions, self.column),
                                        tokens.device)
            self.checked = False
            stats["recordings"] += 1
        except Exception as err:  # noqa: BLE001 (any failure to record means: no graphs here)
            self._give_up(f"recording failed ({type(err).__name__}: {err})")
        logits = dec.step_at(self.tokens, self.positions, self.column)
        dec.length += 1
        return logits

    def _give_up(self, reason: str) -> None:
        global _broken
        _broken = reason
        self.replay = None
        forget()
        warnings.warn(f"decoding without CUDA graphs from now on: {reason}", RuntimeWarning, stacklevel=4)
