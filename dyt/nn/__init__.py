"""The layer library: DyT, its variants, the fused kernels, ``convert_norms``, and the models built with them.

Knows nothing of Hydra, configs or run dirs: usable alone (``from dyt import DyT, convert_norms``).
"""

from dyt.nn.convert import UnsupportedNormError, convert_norms, count_norms, is_norm_like
from dyt.nn.layers import DyT, DyT2d, check_alpha_init, dyt_layers
from dyt.nn.variants import DYT_FAMILY, VARIANTS, is_dyt_family
from dyt.nn.width_rule import paper_alpha_init

__all__ = ["DyT", "DyT2d", "check_alpha_init", "dyt_layers", "DYT_FAMILY", "VARIANTS", "is_dyt_family",
           "convert_norms", "count_norms", "is_norm_like", "UnsupportedNormError", "paper_alpha_init"]
