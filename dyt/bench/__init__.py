"""``make bench``: DyT's speed against LayerNorm, RMSNorm and the copy floor (``python -m dyt.bench``)."""
