"""``diagnose.png``: per-layer input std and saturation (at init and after the probe), and the loss curves."""

from __future__ import annotations

from pathlib import Path


def smooth(values: list[float], window: int) -> list[float]:
    out, total = [], 0.0
    for i, v in enumerate(values):
        total += v
        if i >= window:
            total -= values[i - window]
        out.append(total / min(i + 1, window))
    return out


def plot(d, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax_std, ax_sat, ax_loss) = plt.subplots(1, 3, figsize=(16, 4.6))
    layers = d.init.layers
    idx = list(range(len(layers)))
    ax_std.plot(idx, [s.std for s in layers], "o-", color="k", label="at init (original model)")
    for i, a in enumerate(d.arms):
        end = a.last("input_std/")
        ax_std.plot(idx, [end.get(s.name, float("nan")) for s in layers], ".--", color=f"C{i}",
                    label=f"{a.name}: after the probe")
    ax_std.set_yscale("log")
    ax_std.set_title("norm input std per layer")
    ax_sat.plot(idx, [100 * s.sat for s in layers], "o-", color="k", label="at init, init alpha")
    ax_sat.plot(idx, [100 * s.sat_cal for s in layers], "s-", color="grey", label="at init, calibrated alpha")
    for i, a in enumerate(d.arms):
        end = a.last("sat/")
        what = "after the probe, at the init alpha" if a.baseline else "after the probe"
        ax_sat.plot(idx, [100 * end.get(s.name, float("nan")) for s in layers], ".--", color=f"C{i}",
                    label=f"{a.name}: {what}")
    ax_sat.set_title("saturation: % of |alpha x| > 2")
    for ax in (ax_std, ax_sat):
        ax.set_xlabel("norm layer (forward order)")
        ax.xaxis.get_major_locator().set_params(integer=True)
        ax.legend(fontsize=7)
    window = max(1, d.settings["steps"] // 20)
    for i, a in enumerate(d.arms):
        ax_loss.plot(smooth(a.losses, window), color=f"C{i}", label=f"{a.name} ({a.label})")
    if d.chance is not None and d.chance["metric"] == "val/loss":
        ax_loss.axhline(d.chance["value"], color="grey", ls=":", label="unigram (chance) loss")
    ax_loss.set_xlabel("probe step")
    ax_loss.set_title(f"training loss (mean over {window} steps)")
    ax_loss.legend(fontsize=7)
    verdicts = "; ".join(p.sentence() for p in d.predictions)
    fig.suptitle(f"{d.name}: {verdicts}", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
