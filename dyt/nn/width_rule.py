"""The paper's alpha-init rule for LLMs (Table 11): it depends on width, not depth.

width: (attention alpha, other alpha) — "other" is the MLP-input and final norms.
"""

from __future__ import annotations

import math

PAPER_TABLE = {1024: (1.0, 1.0), 2048: (1.0, 0.5), 4096: (0.8, 0.2), 8192: (0.2, 0.05)}


def paper_alpha_init(width: int) -> tuple[float, float, str]:
    """``(attn, other, how)``: the table's values at its widths, clamped outside them,
    geometric interpolation in log2(width) between them; ``how`` says which."""
    widths = sorted(PAPER_TABLE)
    if width in PAPER_TABLE:
        attn, other = PAPER_TABLE[width]
        return attn, other, f"paper table at width {width}"
    if width < widths[0] or width > widths[-1]:
        nearest = widths[0] if width < widths[0] else widths[-1]
        attn, other = PAPER_TABLE[nearest]
        return attn, other, f"width {width} outside the paper's table: nearest width {nearest}"
    lo = max(w for w in widths if w < width)
    hi = min(w for w in widths if w > width)
    t = (math.log2(width) - math.log2(lo)) / (math.log2(hi) - math.log2(lo))
    attn, other = (math.exp((1 - t) * math.log(a) + t * math.log(b)) for a, b in zip(PAPER_TABLE[lo], PAPER_TABLE[hi]))
    return attn, other, f"width {width}: interpolated between the paper's widths {lo} and {hi} (log scale)"
