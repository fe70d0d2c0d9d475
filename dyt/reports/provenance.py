"""The end of every experiment README: where the runs came from (device, code, versions), how alpha was
initialised and where it ended, and text samples of the language models."""

from __future__ import annotations

from dyt.reports.runs import Run
from dyt.run.rundir import RunDir


def final_alphas(groups: dict[str, dict[str, list[Run]]]) -> list[str]:
    """``"<arm> lo–hi"`` of every DyT layer's alpha in the last logged row of each run."""
    out = []
    for experiment, arms in groups.items():
        for arm, runs in arms.items():
            values = [v for r in runs for row in r.rows[-1:] for k, v in row.items() if k.startswith("alpha/")]
            if values:
                label = arm if len(groups) == 1 else f"{experiment}: {arm}"
                out.append(f"{label} {min(values):.2f}–{max(values):.2f}")
    return out


def provenance_lines(groups: dict[str, dict[str, list[Run]]]) -> list[str]:
    all_runs = [r for arms in groups.values() for rs in arms.values() for r in rs]
    s = all_runs[0].summary
    commits: dict[str, int] = {}
    for r in all_runs:
        key = f"{r.summary.get('git_sha')} (dirty: {r.summary.get('git_dirty')})"
        commits[key] = commits.get(key, 0) + 1
    lines = ["", "## Provenance", "",
             f"- device: {s.get('device')}; precision: {s.get('precision')}",
             "- code: " + "; ".join(f"{k} for {n} run(s)" for k, n in commits.items()),
             "- versions: " + ", ".join(f"{k} {v}" for k, v in s.get("versions", {}).items()),
             "- curves: `curves.png`; one row per run: `summary.csv`"]
    pinned = sorted({f"{r.config['name']}: {r.arm} ({r.config['trainer']['threads']})" for r in all_runs
                     if (r.config.get("trainer") or {}).get("threads")})
    if pinned:  # e.g. runs made beside other jobs: their samples/s and train time are not comparable
        lines.append("- runs with `trainer.threads` set (the rest use torch's default): " + ", ".join(pinned)
                     + "; compare their speed columns with care")
    notes = sorted({r.summary["alpha_init_note"] for r in all_runs if r.summary.get("alpha_init_note", "no DyT") != "no DyT"})
    if notes:
        lines.append("- DyT alpha init: " + "; ".join(notes))
    learned = final_alphas(groups)
    if learned:
        lines.append("- learned alpha at the end (min–max over layers and seeds): " + "; ".join(learned))
    return lines


def sample_lines(groups: dict[str, dict[str, list[Run]]]) -> list[str]:
    """The first 300 characters of ``sample.txt`` of each arm's lowest seed."""
    samples = [(r, text) for arms in groups.values() for rs in arms.values() for r in rs
               if (text := RunDir(r.path).sample()) is not None]
    if not samples:
        return []
    lines = ["", "## Samples (seed 0 of each arm, first 300 characters of `sample.txt`)", ""]
    for r, text in samples:
        if r.seed == min(x.seed for x, _ in samples if x.arm == r.arm and x.config["name"] == r.config["name"]):
            lines += [f"**{r.config['name']}: {r.arm}**", "", "```", text[:300].strip(), "```", ""]
    return lines
