"""The shared trainer: ``fit`` (``loop``), built from ``TrainStep`` (``step``), ``LogWindow`` (``window``),
``evaluate``, the DyT diagnostics and the stop signals."""

from dyt.run.trainer.loop import DIVERGENCE_FACTOR, fit
from dyt.run.trainer.step import TrainStep, autocast_for, clip_gradients, loss_fn, resolve_device, total_steps

__all__ = ["fit", "TrainStep", "autocast_for", "clip_gradients", "loss_fn", "resolve_device", "total_steps",
           "DIVERGENCE_FACTOR"]
