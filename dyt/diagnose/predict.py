"""Step 4, the prediction: will DyT at this alpha match the baseline, lag it, or collapse, over a full run?

The rule, applied to each DyT arm of the probe against the baseline arm:

1. **collapse** if the DyT arm diverged (a loss not finite, or 100x its first), or its held-out loss and
   accuracy sit at the chance level (``dyt.diagnose.chance``) while the baseline's do not.
2. Else the **gap**: ``(DyT's loss - baseline's loss) / (chance loss - baseline's loss)``, the share of what the
   baseline learned beyond the chance level (the label prior; for a language model the unigram solution)
   that DyT did not, with each loss the mean training loss over the last ``TAIL`` of the probe's steps (30
   batches at 150 steps: far less noisy than a few held-out batches). **match** if ``gap <= MATCH_GAP``,
   else **lag**.
3. Confidence (0.5 = a coin, 0.95 = the cap): for match/lag, ``0.5 + 0.45 * min(1, |gap - MATCH_GAP| /
   GAP_SCALE)``, the distance from the threshold in units of ``GAP_SCALE``; for a collapse 0.9 when the
   baseline's held-out loss is at least ``CLEAR_OF_CHANCE`` nats below the chance level (or the targets are
   classes), 0.7 otherwise. A baseline that never got below the chance loss gives lag at 0.5 (nothing to
   compare yet); one that learned less than ``MIN_DROP`` of the chance loss caps the confidence at 0.6.

``MATCH_GAP`` was chosen on the tuning arms of ``python -m dyt.diagnose validate`` (``dyt.diagnose.validate``,
``held_out=False``) before the held-out arms were scored: their gaps at 150 steps were 0.040 (ViT alpha 4,
a match by 0.96 points) against 0.047, 0.106, 0.115, 0.183 and 0.307 (the lags: ViT calibrated, ConvNeXt
alpha 0.5, GPT calibrated, ResNet, ViT alpha 0.5), so it sits between the first two: a thin margin, set by
two arms whose full-run outcomes differ by 0.06 points around the 1-point match margin. ``GAP_SCALE`` was set
beforehand, not fitted. The probe's final saturation share and alpha's motion are reported beside the
verdict as the mechanism, not used by the rule.

The recommendation picks, among the probed DyT arms, the best verdict (match > lag > collapse), then the
smallest gap; where only the paper's alpha was probed and it does not match, it points at the calibrated init
(``--alpha calibrate``), with the init statistics that show why (a spread of input stds across depth, or
a calibrated alpha far from the init that Adam, moving alpha by about lr per step, would need long to reach).
A calibrated recommendation whose layer inputs grew more than ``DRIFT``x during the probe carries a caution (the
alphas are fitted to the init's scale): in the validation arms only the language models' calibrated arms grew
that much (29x GPT-2 style, 43x LLaMA style; vision 3-8x), and their budget ladders went opposite ways, so it
is a thing to watch, not a verdict.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field

from dyt.diagnose.budget import budget_notes
from dyt.diagnose.chance import at_chance

MATCH_GAP = 0.045  # DyT misses at most this share of what the baseline learned beyond chance: match
TAIL = 0.2  # the share of the probe's last steps whose mean training loss the gap compares
GAP_SCALE = 0.15  # the gap distance from MATCH_GAP at which confidence reaches its cap
CLEAR_OF_CHANCE = 0.1  # nats: a baseline this far below the chance loss makes a collapse call clear
MIN_DROP = 0.05  # a baseline that learned less than this share of the chance loss: the probe is too short
DRIFT = 10.0  # a calibrated arm whose layer inputs grow more than this in the probe gets a caution (not a verdict)
RANK = {"match": 2, "lag": 1, "collapse": 0}

# what our study found for each switch (results/REPORT.md, experiments/regime/README.md)
STUDY = {
    "calibrate": "calibrated alpha (alpha = 1/std per layer) rescued the GPT-2 style LM from collapse at 300 steps "
                 "(val loss 3.255 -> 2.548, LN 2.416; by 3000 steps it falls behind, its alphas fixed while the inputs "
                 "grow 44-90x), beat LN in ConvNeXt (86.81 vs 85.71) and closed most of the ViT gap (85.03 vs 76.8 at "
                 "alpha 0.5, LN 86.06)",
    "alpha_lr": "a 100x learning rate for alpha did not help (GPT-2 style: still collapsed; LLaMA style 3.122 vs "
                "3.173, p = 0.25)",
    "gelu": "a GELU MLP instead of SwiGLU did not help the LLaMA style DyT (3.217 vs 3.173, p = 0.6)",
    "zero_init": "keep zero_init_last off for DyT in ResNets (zero-initialised DyT gains: 52.8 vs 72.0 top-1)",
}


@dataclass
class Prediction:
    arm: str
    label: str
    verdict: str  # match | lag | collapse
    confidence: float
    gap: float | None
    reasons: list[str] = field(default_factory=list)
    features: dict = field(default_factory=dict)

    def sentence(self) -> str:
        return f"DyT at {self.label.removeprefix('DyT ')}: likely to {self.verdict} (confidence {self.confidence:.2f})"

    def to_dict(self) -> dict:
        return asdict(self)


def tail(losses: list[float]) -> float:
    k = max(1, round(TAIL * len(losses)))
    return sum(losses[-k:]) / k if losses else math.nan


def input_growth(arm) -> float | None:
    """The largest growth of a DyT layer's input std over the probe (last log step / first), or None."""
    grown = [v[-1] / v[0] for k, v in arm.watched.items() if k.startswith("input_std/") and len(v) > 1 and v[0] > 0]
    return max(grown) if grown else None


def features(base, arm, chance: dict | None) -> dict:
    """What the rule reads (and what the report shows beside it), from two ``ArmResult``s."""
    level = base.start["loss"] if chance is None else chance["loss" if chance["metric"] == "val/acc1" else "value"]
    base_tail, dyt_tail = tail(base.losses), tail(arm.losses)
    drop = level - base_tail
    end = arm.end.get("loss", math.nan)
    sat = list(arm.last("sat/").values())
    alphas = {k: v for k, v in arm.watched.items() if k.startswith("alpha/") and v}
    eval_drop = base.start["loss"] - base.end["loss"]
    return {
        "level": level, "base_tail": base_tail, "dyt_tail": dyt_tail, "base_drop": drop,
        "gap": (dyt_tail - base_tail) / drop if drop > 0 and math.isfinite(dyt_tail) else math.inf,
        "base_start": base.start["loss"], "base_end": base.end["loss"], "dyt_end": end,
        "gap_eval": (end - base.end["loss"]) / eval_drop if eval_drop > 0 and math.isfinite(end) else None,
        "diverged": arm.diverged_at is not None or not math.isfinite(end),
        "collapsed": at_chance(arm.end, chance), "base_collapsed": at_chance(base.end, chance),
        "sat_end_mean": sum(sat) / len(sat) if sat else None, "sat_end_max": max(sat) if sat else None,
        "alpha_motion_max": max((abs(v[-1] - v[0]) for v in alphas.values()), default=0.0),
        "input_growth_max": input_growth(arm),
        "chance": chance["value"] if chance else None, "chance_metric": chance["metric"] if chance else None,
    }


def predict(base, arm, chance: dict | None) -> Prediction:
    f = features(base, arm, chance)
    reasons = []
    if f["diverged"]:
        verdict, conf = "collapse", 0.9
        reasons.append(f"the DyT loss diverged at step {arm.diverged_at} of the probe")
    elif f["collapsed"] and not f["base_collapsed"]:
        verdict = "collapse"
        clear = chance["metric"] == "val/loss" and chance["value"] - f["base_end"] >= CLEAR_OF_CHANCE
        conf = 0.9 if clear or (chance and chance["metric"] == "val/acc1") else 0.7
        reasons.append(f"DyT sits at the chance level ({chance['metric'].removeprefix('val/')} {chance['value']:.3f}) "
                       f"while {base.label} left it ({f['base_end']:.3f})")
    elif f["base_drop"] <= 0:
        verdict, conf = "lag", 0.5
        reasons.append(f"{base.label} did not get below the chance level in the probe ({f['base_tail']:.3f} vs "
                       f"{f['level']:.3f}): nothing to compare yet, run more steps (--steps)")
    else:
        verdict = "match" if f["gap"] <= MATCH_GAP else "lag"
        conf = 0.5 + 0.45 * min(1.0, abs(f["gap"] - MATCH_GAP) / GAP_SCALE)
        reasons.append(f"DyT missed {100 * f['gap']:.1f}% of what {base.label} learned beyond chance in the probe "
                       f"(loss {f['level']:.3f} -> {f['base_tail']:.3f}; DyT {f['dyt_tail']:.3f}; match threshold "
                       f"{100 * MATCH_GAP:.1f}%)")
    if f["base_drop"] < MIN_DROP * f["level"]:
        conf = min(conf, 0.6)
        reasons.append(f"{base.label} itself learned little in the probe: run more steps (--steps)")
    if f["sat_end_mean"] is not None:
        reasons.append(f"saturation at the end: {100 * f['sat_end_mean']:.1f}% of |alpha x| > 2 on average over "
                       f"DyT layers (max {100 * f['sat_end_max']:.1f}%); alpha moved at most "
                       f"{f['alpha_motion_max']:.3f}")
    return Prediction(arm.name, arm.label, verdict, round(conf, 3), None if math.isinf(f["gap"]) else f["gap"],
                      reasons, f)


def best(predictions: list[Prediction]) -> Prediction:
    return max(predictions, key=lambda p: (RANK[p.verdict], -(p.gap if p.gap is not None else math.inf)))


def recommend(predictions: list[Prediction], init, kind: str, lr: float, has_batchnorm: bool) -> dict:
    """The recommended alpha init, why, and the switches our study tried for this kind of model."""
    top = best(predictions)
    calibrated = [p for p in predictions if "calibrated" in p.label]
    cal = init.geomean_alpha_cal()
    paper = [s.alpha for s in init.layers]
    start = math.exp(sum(map(math.log, paper)) / len(paper)) if paper else math.nan
    why = []
    if "calibrated" in top.label:
        alpha = "calibrate"
    elif top.verdict == "match" or calibrated:
        alpha = top.label.removeprefix("DyT ")
    else:
        alpha = "calibrate (not probed: rerun with --alpha calibrate)"
    if math.isfinite(cal) and math.isfinite(start) and max(cal, start) / min(cal, start) > 2:
        why.append(f"the calibrated alphas (geometric mean {cal:.3g}) are far from the init ({start:.3g}): Adam moves "
                   f"alpha by about lr per step, so getting there takes ~{abs(cal - start) / lr:.0f} steps at "
                   f"lr {lr:g}")
    growth = top.features.get("input_growth_max") if "calibrated" in top.label else None
    if growth is not None and growth > DRIFT:
        why.append(f"a caution, not a prediction: the DyT inputs grew up to {growth:.0f}x during the probe while the "
                   f"calibrated alphas are set for their scale at init; in our GPT-2 style ladder the same growth "
                   f"went on (44-90x by 3000 steps), the fixed alphas saturated 97-99% of the inputs and the gap to "
                   f"LN grew with budget, while in the LLaMA style one (43x in the probe) it shrank: watch input_std/ "
                   f"and sat/ in a long run (experiments/regime/README.md)")
    if init.spread > 4:
        why.append(f"input std varies {init.spread:.1f}x across depth: no single alpha suits every layer")
    switches = [STUDY["calibrate"], STUDY["alpha_lr"]] + ([STUDY["gelu"]] if kind == "lm" else []) + \
        ([STUDY["zero_init"]] if has_batchnorm else []) + budget_notes(kind)
    return {"alpha": alpha, "arm": top.arm, "verdict": top.verdict, "why": why, "switches": switches}
