"""``dyt.diagnose``: will DyT work in *my* model, with which alpha, answered in minutes.

A tool on top of ``dyt.nn`` and ``dyt.run`` (like ``dyt.bench``; ``dyt.reports`` never imports it):

    import dyt.diagnose
    result = dyt.diagnose(model, batches)            # the package is callable: dyt.diagnose.diagnose(...)
    result.prediction.verdict                        # "match" | "lag" | "collapse"

    python -m dyt.diagnose --timm vit_tiny_patch16_224 --model-kwargs img_size=28 patch_size=4
    python -m dyt.diagnose --experiment gpt norm=dyt --alpha calibrate
    python -m dyt.diagnose validate                  # the probe against every arm the suite trained in full

Static check, init statistics, a short side-by-side probe, then a prediction with a stated confidence
(``dyt.diagnose.predict`` holds the rule). Bad input raises ``DiagnoseError`` (the CLI: one line, exit 2).
The names below load on first use, so ``python -m dyt.diagnose --help`` answers without importing torch.
"""

import sys
import types

__all__ = ["diagnose", "Diagnosis", "DiagnoseError"]


def __getattr__(name: str):
    if name in ("diagnose", "Diagnosis"):
        from dyt.diagnose import api

        return getattr(api, name)
    if name == "DiagnoseError":
        from dyt.diagnose.inputs import DiagnoseError

        return DiagnoseError
    raise AttributeError(f"module 'dyt.diagnose' has no attribute {name!r}")


class CallableModule(types.ModuleType):
    """Makes ``dyt.diagnose(...)`` the same call as ``dyt.diagnose.diagnose(...)``."""

    def __call__(self, *args, **kwargs):
        from dyt.diagnose.api import diagnose

        return diagnose(*args, **kwargs)


sys.modules[__name__].__class__ = CallableModule
