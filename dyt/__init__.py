"""dyt: a reproduction suite for "Transformers without Normalization" (Zhu et al., CVPR 2025)."""

from dyt.convert import convert_norms, count_norms
from dyt.layers import DyT, DyT2d

__all__ = ["DyT", "DyT2d", "convert_norms", "count_norms"]
__version__ = "0.1.0"
