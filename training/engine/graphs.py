"""Decoding steps replayed as one CUDA graph.

A decoding step of a small model on a fast GPU is mostly launch overhead:
a few dozen small kernels a layer, each launched from Python. The issue
that set our GPU targets measured 24 ms a step for Qwen2.5-0.5B through
transformers on an H100, almost all of it launch overhead. A CUDA graph
records the step's kernels once and replays them with one launch.

:class:`GraphedDecoder` wraps a :class:`training.engine.decoder.LeanDecoder`: the
prefill runs as it is; each decoding step copies its tokens, positions and
cache column into fixed input tensors and replays a graph of
:meth:`LeanDecoder.step_at`. The cache is allocated whole up front (a graph
reads fixed addresses), so attention reads every column, masked; finished
rows stay in the batch (dropping them would need a graph per batch size).
A graph is recorded for each batch (after :meth:`keep`) at its first step,
which runs as a plain step.

The first replay of every graph (at the step after the recording, with new
inputs) is checked against the plain step. If they disagree, the recording
step and this one run again, plain: a graph writes the cache where a step
writes, at its column or (inputs baked in) at the recording step's, and the
plain steps write the right keys and values there. If recording fails or a
graph disagrees, a warning says so and graphs stay off for the rest of the
process. The bookkeeping around
the graph (inputs, outputs, cache columns, the check, the fallback) is
tested on a CPU with a stand-in recorder (tests/test_graphs.py); the CUDA
recording itself runs only on a GPU.
"""

from __future__ import annotations

import warnings
from typing import Callable

import torch

from training.engine.decoder import LeanDecoder

# A recorder takes the step (no arguments, returns logits) and the device, and returns the step's replay.
Recorder = Callable[[Callable[[], torch.Tensor], torch.device], Callable[[], torch.Tensor]]

# Why graphs are off for this process (a recording failed or a graph disagreed), or None.
_broken: str | None = None


def usable() -> bool:
    """Whether graphs are on for this process (no recording has failed, no graph has disagreed)."""
    return _broken is None


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
    """A :class:`LeanDecoder` whose decoding steps replay as recorded graphs (see the module docstring)."""

    def __init__(self, decoder: LeanDecoder, recorder: Recorder | None = None):
        self.decoder, self.recorder = decoder, recorder or cuda_recorder
        decoder.reserve(decoder.max_len)  # the whole cache now: a graph reads fixed addresses
        self.replay: Callable[[], torch.Tensor] | None = None
        self.checked = False  # whether the current graph's first replay has been checked
        self.steps_replayed = 0

    @property
    def enabled(self) -> bool:
        return usable()

    def prefill(self, ids: torch.Tensor, prompt_mask: torch.Tensor, positions: torch.Tensor) -> torch.Tensor:
        return self.decoder.prefill(ids, prompt_mask, positions)

    def keep(self, rows: torch.Tensor) -> None:
        self.decoder.keep(rows)
        self.replay = None  # new tensors: record again at the next step

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
            want = dec.step_at(self.tokens, self.positions, self.column)
            # the same kernels give the same numbers; allow a few roundings of the logits' dtype
            tolerance = 8 * torch.finfo(want.dtype).eps * float(want.abs().max())
            if not torch.allclose(logits.float(), want.float(), rtol=0.0, atol=tolerance):
                self._give_up("its first replay differs from the plain step")
                # A wrong graph writes where a step writes: this column, or (inputs baked in) the
                # recording step's. Both steps again, plain, in order (this column masked out again
                # first: the recording step must not see it), put the right numbers there.
                dec.unsee(self.column)
                dec.step_at(*self.recorded)
                logits = dec.step_at(self.tokens, self.positions, self.column)
            self.checked = True
        dec.length += 1
        if self.enabled:
            self.steps_replayed += 1
        return logits

    def _record(self, tokens: torch.Tensor, positions: torch.Tensor) -> torch.Tensor:
        """Record this batch's graph; the step itself runs plain (after the recording)."""
        dec = self.decoder
        self.tokens, self.positions = tokens.clone(), positions.clone()
        self.column = torch.full((1,), dec.length, dtype=torch.long, device=tokens.device)
        self.recorded = (tokens.clone(), positions.clone(), self.column.clone())  # this step's inputs
        try:
            self.replay = self.recorder(lambda: dec.step_at(self.tokens, self.positions, self.column),
                                        tokens.device)
            self.checked = False
        except Exception as err:  # noqa: BLE001 (any failure to record means: no graphs here)
            self._give_up(f"recording failed ({type(err).__name__}: {err})")
        logits = dec.step_at(self.tokens, self.positions, self.column)
        dec.length += 1
        return logits

    def _give_up(self, reason: str) -> None:
        global _broken
        _broken = reason
        self.replay = None
        warnings.warn(f"decoding without CUDA graphs from now on: {reason}", RuntimeWarning, stacklevel=4)
