"""How a model samples and scores fast: loading, the shared backbone, rollouts,
the lean decoder and its CUDA graphs, teacher-forced scoring and the lean
forward with LoRA. The loop (``training/loop.py``) uses these; nothing here
knows about GRPO or HICRA."""
