"""Decoding steps replayed as one CUDA graph.

A decoding step of a small model on a fast GPU is mostly launch overhead:
a few dozen small kernels a layer, each launched from Python. The
issue that set our GPU targets measured 24 ms a step for Qwen2.5-0.5B
through transformers on an H100, almost all of it launch overhead. A CUDA
graph records the step's kernels once and replays them with one launch.

:class:`GraphedDecoder` wraps a :class:`training.decoder.LeanDecoder`: the
prefill runs as it is; each decoding step copies its tokens, positions and
cache column into fixed input tensors and replays a graph of
:meth:`LeanDecoder.step_at`. The cache is allocated whole up front (a graph
reads fixed addresses), so attention reads every column, masked; finished
rows stay in the batch (dropping them would need a graph per batch size).
A graph is recorded for each batch (after :meth:`keep`) at its first step.

The first replay of every graph is checked against the same step run
without the graph (writing a step's keys and values twice writes the same
numbers); if recording fails or the two disagree, the decoder warns once
and runs the rest of the rollout without graphs. The bookkeeping around
the graph (inputs, outputs, cache columns, the check, the fallback) is
tested on a CPU with a stand-in recorder (tests/test_graphs.py); the CUDA
recording itself runs only on a GPU.
"""

from __future__ import annotations

import warnings
from typing import Callable

import torch

from training.decoder import LeanDecoder

# A recorder takes the step (a function of no arguments returning logits) and returns its replay.
Recorder = Callable[[Callable[[], torch.Tensor]], Callable[[], torch.Tensor]]


def cuda_recorder(step: Callable[[], torch.Tensor]) -> Callable[[], torch.Tensor]:
    """Record ``step`` as a CUDA graph (after a warm-up run on a side stream, as CUDA requires)."""
    side = torch.cuda.Stream()
    side.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(side):
        step()
    torch.cuda.current_stream().wait_stream(side)
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph):
        out = step()

    def replay() -> torch.Tensor:
        graph.replay()
        return out

    return replay


class GraphedDecoder:
    """A :class:`LeanDecoder` whose decoding steps replay as recorded graphs (see the module docstring)."""

    def __init__(self, decoder: LeanDecoder, recorder: Recorder | None = None):
        self.decoder, self.recorder = decoder, recorder or cuda_recorder
        decoder._reserve(decoder.max_len)  # the whole cache now: a graph reads fixed addresses
        self.replay: Callable[[], torch.Tensor] | None = None
        self.enabled = True
        self.steps_replayed = 0

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
        dec.length += 1
        self.steps_replayed += 1
        return logits

    def _record(self, tokens: torch.Tensor, positions: torch.Tensor) -> torch.Tensor:
        """Record this batch's graph at this step and check its first replay against the plain step."""
        dec = self.decoder
        self.tokens, self.positions = tokens.clone(), positions.clone()
        self.column = torch.full((1,), dec.length, dtype=torch.long, device=tokens.device)
        want = dec.step_at(self.tokens, self.positions, self.column).clone()  # the plain step
        try:
            replay = self.recorder(lambda: dec.step_at(self.tokens, self.positions, self.column))
            got = replay()
            same = torch.allclose(got.float(), want.float(), rtol=1e-2, atol=1e-2 * float(want.abs().max()))
        except Exception as err:  # noqa: BLE001 (any failure to record means: no graphs here)
            replay, same = None, False
            reason = f"recording failed ({type(err).__name__}: {err})"
        else:
            reason = "its first replay differs from the plain step"
        if not same:
            warnings.warn(f"decoding without CUDA graphs: {reason}", RuntimeWarning, stacklevel=3)
            self.enabled = False
            # the plain step above already wrote this step's keys and values
        self.replay = replay if same else None
        dec.length += 1
        return want
