"""Activation memory of the update: what its autograd graph keeps, per token and per layer.

    python bench/update_memory.py [--arch qwen2.5-0.5b] [--rows 16] [--row-tokens 532]

The update's forward pass (prompt + response, with gradients to the LoRA
weights) keeps activations for the backward pass; on a GPU they are most of
the update's memory. This script measures them on a CPU, with no GPU and no
download: the architecture is built from its configuration with random
weights in bf16, with LoRA r=16 on every projection in float32 (peft's
default on a bf16 model), and every tensor the graph saves is counted once
(by storage; parameters not counted). Models of 1 and 2 layers give the
bytes per token of one layer; the output layer runs in checkpointed chunks
of 32 positions (see training/engine/scoring.py), as a real batch of a large
vocabulary does.

Reported for the lean forward and for transformers + peft, with activation
checkpointing off and on: bytes per token per layer, and what a micro-batch
of ``--rows`` x ``--row-tokens`` keeps at the architecture's full depth
(the default: the GPU benchmark's micro-batch, 2 groups of 8 responses of
a ~20-token prompt and 512 tokens). Not counted: weights, optimizer state,
the one layer (or output-layer chunk) being recomputed in the backward
pass, and the allocator's slack. An estimate of the graph, not a GPU's
peak: ``bench/step_time.py --arch`` measures that on a GPU.
"""

from __future__ import annotations

import argparse
import copy
import functools
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import torch  # noqa: E402

from archs import ARCHS, LORA, build  # noqa: E402

import training.engine.scoring as scoring  # noqa: E402
from training.engine.modeling import enable_activation_checkpointing  # noqa: E402


@functools.lru_cache(maxsize=None)
def _built(arch: str, layers: int):
    return build(arch, layers)  # each size once: every mode wraps its own copy


def kept_bytes(arch: str, layers: int, rows: int, prompt: int, response: int, lean: bool, recompute: bool) -> int:
    """Bytes of activations the graph of one scoring pass keeps (each storage once, no parameters)."""
    from peft import LoraConfig, get_peft_model

    base = copy.deepcopy(_built(arch, layers))
    if recompute:
        enable_activation_checkpointing(base)
    model = get_peft_model(base, LoraConfig(**LORA))
    model.train()
    gen = torch.Generator().manual_seed(0)
    vocab = ARCHS[arch]["vocab_size"]
    prompts = [torch.randint(2, vocab, (prompt,), generator=gen).tolist()] * rows  # a group shares its prompt
    ids = torch.randint(2, vocab, (rows, response), generator=gen)
    mask = torch.ones_like(ids, dtype=torch.bool)
    params = {p.untyped_storage().data_ptr() for p in model.parameters()}
    storages: dict[int, int] = {}

    def pack(t: torch.Tensor) -> torch.Tensor:
        storage = t.untyped_storage()
        if storage.data_ptr() not in params:
            storages[storage.data_ptr()] = storage.nbytes()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        # output-layer chunks of 32 positions, as a real batch of a large vocabulary gets them
        scoring.score(model, prompts, ids, mask, pad_id=0, with_entropy=True, chunk_tokens=32, lean=lean)
    return sum(storages.values())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--arch", choices=sorted(ARCHS), default="qwen2.5-0.5b")
    ap.add_argument("--rows", type=int, default=16, help="responses in one micro-batch (default 2 groups of 8)")
    ap.add_argument("--row-tokens", type=int, default=532, help="prompt + response tokens per row")
    ap.add_argument("--sample-tokens", type=int, default=96, help="response tokens per row of the measured batch")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--json", default=None, help="also write the figures to this JSON file")
    args = ap.parse_args()
    if min(args.rows, args.row_tokens, args.sample_tokens) < 1:
        ap.error("--rows, --row-tokens and --sample-tokens must be at least 1")
    torch.set_num_threads(args.threads)
    spec = ARCHS[args.arch]
    rows, prompt, response = 2, 16, args.sample_tokens
    tokens = prompt + rows * response  # the packed tokens: the shared prompt once, each response
    depth, total = spec["num_hidden_layers"], args.rows * args.row_tokens
    print(f"{args.arch}: {depth} layers, hidden {spec['hidden_size']}, MLP {spec['intermediate_size']}, vocabulary "
          f"{spec['vocab_size']:,}; bf16, LoRA r=16 in float32 on all projections; measured on {rows} rows x "
          f"({prompt} + {response}) tokens; micro-batch {args.rows} x {args.row_tokens} = {total:,} tokens")
    report = {"arch": args.arch, "micro_batch_tokens": total, "modes": {}}
    for lean in (True, False):
        for recompute in (False, True):
            one, two = (kept_bytes(args.arch, n, rows, prompt, response, lean, recompute) for n in (1, 2))
            per_layer = (two - one) / tokens  # bytes per token, one layer
            rest = max(one - per_layer * tokens, 0) / tokens  # embedding, final norm, output-layer chunk inputs
            graph = (per_layer * depth + rest) * total
            name = f"{'lean' if lean else 'transformers + peft'}, checkpointing {'on' if recompute else 'off'}"
            report["modes"][name] = {"bytes_per_token_per_layer": per_layer, "other_bytes_per_token": rest,
                                     "graph_gib": graph / 2**30}
            print(f"{name:42s} {per_layer / 1024:7.1f} KiB per token per layer, "
                  f"{rest / 1024:6.1f} KiB per token besides; micro-batch graph {graph / 2**30:6.2f} GiB")
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()
