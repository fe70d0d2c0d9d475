"""The paper's analyses, regenerated from our own run dirs (``python -m dyt.reports.analysis``, ``make analysis``).

- ``scurve``: LayerNorm's input -> normalized-output mapping per layer (the paper's Figure 2), with a
  fitted ``b * tanh(a * x)`` and the share of points in its linear middle vs its squashed tails.
- ``alpha_std``: DyT's learned alpha against 1/std of its input, across layers and over training.
- ``compare``: the squashing ablation (and Derf / DyISRU) against a reference arm, beside the paper.
"""
