"""``diagnose(model, batches)``: will DyT work in this model, and with which alpha? The four steps in order.

1. ``static``: the norms that would be swapped, the kind of model, the paper's alpha per layer, recipe notes;
2. ``init_stats``: one batch through the original model: each norm's input std, saturation, calibrated alpha;
3. ``probe``: the model as it is and its DyT copies train side by side for ``steps`` steps;
4. ``predict``: match / lag / collapse with a confidence, and the recommended alpha init.

Bad input raises ``DiagnoseError`` (one line naming the fix) before anything trains or is written.
"""

from __future__ import annotations

import copy
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
from torch import nn
from tqdm import tqdm

from dyt.diagnose.arms import AlphaChoice, Arm, Settings, user_arms
from dyt.diagnose.chance import chance_level
from dyt.diagnose.init_stats import InitStats, LayerStat, init_stats
from dyt.diagnose.inputs import Batches, default_loss, first_loss
from dyt.diagnose.predict import Prediction, predict, recommend
from dyt.diagnose.probe import ArmResult, train_arm
from dyt.diagnose.static import StaticReport, static_report


@dataclass
class Diagnosis:
    name: str
    static: StaticReport
    init: InitStats
    arms: list[ArmResult]
    chance: dict | None
    predictions: list[Prediction]
    recommendation: dict
    settings: dict
    seconds: float
    notes: list[str] = field(default_factory=list)
    out: str | None = None  # where save() wrote the report

    @classmethod
    def from_dict(cls, r: dict) -> "Diagnosis":
        """A diagnosis read back from its ``report.json``, predicted again with the current rule."""
        nan = float("nan")
        arms = [ArmResult(**{**a, "losses": [nan if v is None else v for v in a["losses"]]}) for a in r["arms"]]
        init = InitStats([LayerStat(**x) for x in r["init"]["layers"]], r["init"]["target"])
        d = cls(r["name"], StaticReport(**r["static"]), init, arms, r["chance"], [], {}, r["settings"], r["seconds"],
                r["notes"])
        d.predict()
        return d

    def predict(self) -> None:
        """Step 4 on the probe's results: the predictions and the recommendation."""
        self.predictions = [predict(self.arms[0], a, self.chance) for a in self.arms[1:]]
        lr = self.settings["optim"][self.arms[0].name]["lr"]
        self.recommendation = recommend(self.predictions, self.init, self.static.kind, lr,
                                        any("BatchNorm" in c for c in self.static.norms))

    @property
    def prediction(self) -> Prediction:
        """The prediction for the first DyT arm (the paper's alpha, or the one given)."""
        return self.predictions[0]

    def to_dict(self) -> dict:
        return {"name": self.name, "static": asdict(self.static), "init": self.init.to_dict(),
                "arms": [a.to_dict() for a in self.arms], "chance": self.chance,
                "predictions": [p.to_dict() for p in self.predictions], "recommendation": self.recommendation,
                "settings": self.settings, "seconds": self.seconds, "notes": self.notes}

    def summary(self) -> str:
        from dyt.diagnose.report import terminal_summary

        return terminal_summary(self)

    def save(self, out, wandb: bool = False) -> Path:
        """Write report.md, report.json and diagnose.png to ``out`` (all or nothing); returns ``out``."""
        from dyt.diagnose.output import save

        self.out = str(out)
        return save(self, Path(out), wandb=wandb)


def run_arms(name: str, arms: list[Arm], batches: Batches, loss_fn, static: StaticReport, init: InitStats,
             seed: int = 0, progress: bool = True, notes: list[str] | None = None,
             baseline: ArmResult | None = None) -> Diagnosis:
    """Steps 3 and 4 for arms already built (the first one the baseline; ``baseline``: its result from an
    earlier probe of the same model, batches and seed, which is then not trained again)."""
    began = time.perf_counter()
    todo = arms[1:] if baseline is not None else arms
    bar = tqdm(total=batches.steps * len(todo), desc=f"diagnose {name}", unit="step", disable=not progress,
               dynamic_ncols=True, mininterval=1.0, file=sys.stderr)
    results = [baseline] if baseline is not None else []
    try:
        for arm in todo:
            bar.set_postfix_str(arm.name)
            results.append(train_arm(arm, batches, loss_fn, seed, static.alphas, bar))
    finally:
        bar.close()
    y0 = batches[0][1]
    lm = static.kind == "lm" or (y0.dim() == 2 and not y0.is_floating_point())  # next-token targets (B, T)
    chance = chance_level(batches, lm)
    notes = list(notes or [])
    if batches.cycled:
        notes.append(f"the batches ran out after {len(batches.cache)}: reused in a cycle, so the held-out "
                     "evaluation saw training batches")
    x0 = batches[0][0]
    settings = {"steps": batches.steps, "eval_batches": batches.eval_count, "seed": seed,
                "batch_size": int(x0.shape[0]) if isinstance(x0, torch.Tensor) and x0.dim() else None,
                "optim": {a.name: asdict(a.settings) for a in arms}}
    d = Diagnosis(name, static, init, results, chance, [], {}, settings, time.perf_counter() - began, notes)
    d.predict()
    return d


def diagnose(model: nn.Module, batches, loss_fn=None, steps: int = 150, alpha=None, *, lr: float = 1e-3,
             weight_decay: float = 0.05, kind: str = "auto", seed: int = 0, eval_batches: int = 4,
             clip_grad: float | None = None, name: str = "model", out=None, progress: bool = True,
             wandb: bool = False) -> Diagnosis:
    """Diagnose ``model`` (any ``nn.Module`` with LayerNorm / RMSNorm / BatchNorm layers; it is not modified).

    ``batches``: an iterable or iterator of ``(x, y)``, or a callable ``step -> (x, y)``; ``loss_fn(output, y)``
    (default: cross-entropy over the last dim); ``alpha``: None (the paper's: 0.5, or the width rule for a
    language model), a number, or ``"calibrate"`` (also probe DyT with alpha = 1 / std per layer);
    ``kind``: auto | vision | lm | diffusion. With ``out`` the report, its JSON and figure are written there
    (and a W&B run with ``wandb=True``). Prints the summary unless ``progress=False``."""
    began = time.perf_counter()
    choice = AlphaChoice.parse(alpha)
    loss_fn = loss_fn or default_loss
    source = Batches(batches, steps, eval_batches)
    output, _ = first_loss(copy.deepcopy(model).train(), source[0], loss_fn)
    size = output.shape[-1] if isinstance(output, torch.Tensor) and output.dim() else None
    static = static_report(model, size, kind, choice.value)
    init = init_stats(model, source[0][0], static.alphas, choice.calibrate or 1.0)
    settings = Settings(lr=lr, weight_decay=weight_decay, clip_grad=clip_grad)
    arms = user_arms(model, static.alphas, choice, settings, static.norms)
    result = run_arms(name, arms, source, loss_fn, static, init, seed, progress)
    result.seconds = time.perf_counter() - began
    if out is not None:
        result.save(out, wandb=wandb)
    if progress:
        print(result.summary())
    return result
