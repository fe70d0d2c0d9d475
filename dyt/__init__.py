"""dyt: a reproduction suite for "Transformers without Normalization" (Zhu et al., CVPR 2025).

Three tiers, one package each (ARCHITECTURE.md): ``dyt.nn`` (the layer library, usable alone),
``dyt.run`` (one training run, from the Hydra config to its run dir) and ``dyt.reports`` (run dirs
to ``results/``). ``from dyt import DyT, DyT2d, convert_norms, count_norms`` loads the layer library
on first use, so the config layer (``dyt.run.alpha``, ``dyt.run.identity``) imports without torch.
"""

__all__ = ["DyT", "DyT2d", "convert_norms", "count_norms"]
__version__ = "0.1.0"


def __getattr__(name: str):
    if name in __all__:
        import dyt.nn

        return getattr(dyt.nn, name)
    raise AttributeError(f"module 'dyt' has no attribute {name!r}")
