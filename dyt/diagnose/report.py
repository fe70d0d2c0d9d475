"""A diagnosis for people: the terminal summary and ``report.md`` (``report.json`` is ``Diagnosis.to_dict()``)."""

from __future__ import annotations

import math
from collections import Counter


def fmt(value, spec: str = ".3g", none: str = "-") -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return none
    return format(value, spec)


def pct(value) -> str:
    return none_or(value, lambda v: f"{100 * v:.1f}%")


def none_or(value, show) -> str:
    return "-" if value is None else show(value)


def swaps_line(static) -> str:
    counts = Counter(static.swaps.values())
    return ", ".join(f"{swap} x{n}" for swap, n in counts.items())


def init_lines(init) -> list[str]:
    if not init.layers:
        return ["no norm layer was reached by the forward pass"]
    stds = [s.std for s in init.layers]
    sat = [s.sat for s in init.layers]
    cal = [s.alpha_cal for s in init.layers]
    return [f"input std {min(stds):.3g} .. {max(stds):.3g} over {len(stds)} layers (spread {init.spread:.1f}x)",
            f"|alpha x| > 2 at the init alpha: mean {pct(sum(sat) / len(sat))}, max {pct(max(sat))}; at the calibrated "
            f"alpha: mean {pct(sum(s.sat_cal for s in init.layers) / len(sat))}",
            f"calibrated alpha ({init.target:g} / std) per layer: {min(cal):.3g} .. {max(cal):.3g} "
            f"(geometric mean {init.geomean_alpha_cal():.3g})"]


def resid_growth(arm) -> float | None:
    values = list(arm.last("resid_std/").values())
    return values[-1] / values[0] if len(values) > 1 and values[0] > 0 else None


def arm_rows(d) -> list[list[str]]:
    rows = []
    for a in d.arms:
        sat = list(a.last("sat/").values())
        alphas = [v for k, v in a.watched.items() if k.startswith("alpha/") and v]
        motion = max((abs(v[-1] - v[0]) for v in alphas), default=None) if alphas else None
        rows.append([a.name, a.label, f"{a.start['loss']:.3f} -> {a.end['loss']:.3f}", fmt(a.end.get("acc1"), ".1f"),
                     pct(sum(sat) / len(sat)) if sat else "-", fmt(motion, ".3f"), fmt(resid_growth(a), ".2f"),
                     "diverged" if a.diverged_at is not None else f"{a.seconds:.1f}"])
    return rows


ARM_HEADER = ["arm", "", "held-out loss start -> end", "acc1 %", "sat end", "alpha moved", "resid growth", "train s"]


def chance_text(chance) -> str:
    if chance is None:
        return "chance level: not defined for these targets"
    if chance["metric"] == "val/loss":
        return f"chance level: unigram loss {chance['value']:.3f} (argmax accuracy {chance['acc1']:.1f}%)"
    return f"chance level: majority class {chance['value']:.1f}% (label-prior loss {chance['loss']:.3f})"


def terminal_summary(d) -> str:
    s, width = d.static, max(len(a.name) for a in d.arms)
    lines = [f"dyt diagnose: {d.name} ({s.kind}; {sum(s.norms.values())} norms: {swaps_line(s)})",
             f"  alpha init  {s.alpha_rule}"]
    lines += [f"  note        {n}" for n in s.notes]
    lines += [f"  at init     {line}" for line in init_lines(d.init)]
    st = d.settings
    lines.append(f"  probe       {st['steps']} steps, lr {lr_of(d)}, seed "
                 f"{st['seed']}, {d.seconds:.0f} s; {chance_text(d.chance)}")
    for row in arm_rows(d):
        lines.append(f"    {row[0]:<{width}}  loss {row[2]:<16} acc1 {row[3]:>5}  sat {row[4]:>6}  alpha moved "
                     f"{row[5]:>6}  resid growth {row[6]:>5}  {row[7]}{'' if row[7] == 'diverged' else ' s'}")
    for p in d.predictions:
        lines.append(f"  predict     {p.sentence()}: {p.reasons[0]}")
    r = d.recommendation
    lines.append(f"  recommend   alpha init: {r['alpha']}" + "".join(f"; {w}" for w in r["why"]))
    lines += [f"  our study   {sw}" for sw in r["switches"]]
    lines += [f"  note        {n}" for n in d.notes]
    if d.out:
        lines.append(f"  wrote       {d.out}/report.md, report.json, diagnose.png")
    return "\n".join(lines)


def lr_of(d) -> str:
    return f"{d.settings['optim'][d.arms[0].name]['lr']:g}"


def table(header: list[str], rows: list[list[str]]) -> str:
    out = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return "\n".join(out + ["| " + " | ".join(str(c) for c in row) + " |" for row in rows])


def markdown(d) -> str:
    s = d.static
    parts = [f"# Will DyT work in {d.name}?", "",
             f"Written by `python -m dyt.diagnose` (dyt/diagnose/). Kind: **{s.kind}**. "
             f"Probe: {d.settings['steps']} steps per arm, seed {d.settings['seed']}, lr {lr_of(d)}, "
             f"{d.seconds:.0f} s in all.", "", "## Prediction", ""]
    parts += [f"- **{p.sentence()}**. " + " ".join(r.rstrip(".") + "." for r in p.reasons) for p in d.predictions]
    r = d.recommendation
    parts += ["", f"**Recommended alpha init: {r['alpha']}**" + "".join(f"; {w}" for w in r["why"]) + ".", "",
              "What our study found for the switches people try:", ""] + [f"- {sw}" for sw in r["switches"]]
    parts += ["", "## Static: what would be swapped", "", f"Norms: {swaps_line(s)}. Alpha init: {s.alpha_rule}.", ""]
    parts += [f"- {n}" for n in s.notes]
    parts += ["", "## At init, one batch", ""] + [f"- {line}" for line in init_lines(d.init)] + [""]
    parts.append(table(["layer", "input std", "init alpha", "sat at init alpha", "calibrated alpha", "sat calibrated"],
                       [[x.name, f"{x.std:.4g}", f"{x.alpha:g}", pct(x.sat), f"{x.alpha_cal:.4g}", pct(x.sat_cal)]
                        for x in d.init.layers]))
    parts += ["", "## The probe", "", chance_text(d.chance) + ".", "", table(ARM_HEADER, arm_rows(d)), "",
              "`sat end`: the share of |alpha x| > 2 over the DyT layers at the last watched step (for the baseline: "
              "its norm inputs at the init alpha); `resid growth`: the std of the stream after the last residual "
              "block over that after the first.", "", "![diagnosis](diagnose.png)", ""]
    parts += [f"- {n}" for n in d.notes]
    return "\n".join(parts) + "\n"
