"""The hierarchy core: Strategic Gram sets and matching, planning masks, token
statistics, semantic entropy, the planning-coverage guard, the detector's
evaluation and the statistics across seeds.

It imports nothing else of the project (``tests/test_layers.py``), so it can be
read and reused alone: ``training`` uses it, ``lab`` and ``app.py`` sit above.
"""
