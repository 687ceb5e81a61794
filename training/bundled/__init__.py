"""Builds the bundled models in ``assets/``: the tokenizer, pretraining on a
task regime's base-policy traces, and the model card with measured figures."""
