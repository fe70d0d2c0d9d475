"""``python -m dyt.reports.analysis``: the paper's analyses from run dirs that exist, into ``results/analysis/``.

Trains nothing (``make analysis`` trains what is missing first); each part whose
runs are absent is reported as "not run" in ``README.md`` instead.

1. S-curves of the trained LN ViT and LN GPT (``scurves_vit.*``, ``scurves_gpt.*``).
2. alpha vs 1/std of DyT runs logged with ``input_std/`` (``alpha_std.*``; ``alpha_std_vit.*``
   too when the 3-epoch ``runs/vit/dyt-a0.5`` runs have those columns).
3. The squashing ablation: ``dyt.reports.experiment`` of ``runs/ablation`` into ``ablation/`` (each arm vs LN) and
   every arm vs tanh beside the paper (``ablation_vs_tanh.*``).
4. Derf and DyISRU in the GPT: the arms of ``runs/gpt`` vs DyT beside the Derf paper's GPT-2 numbers
   (``gpt_vs_dyt.*``); their per-arm report is ``results/gpt/`` (``make report-gpt``).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from dyt.reports.analysis import alpha_std, compare, scurve
from dyt.reports.registry import DYT, EXPERIMENTS, LN
from dyt.reports.stats import mean_std
from dyt.run.rundir import RunDir


def _completed(run_dir: Path) -> bool:
    return RunDir(run_dir).summary() is not None and RunDir(run_dir).checkpoint.exists()


def scurve_part(run_dir: Path, out: Path, name: str, lines: list[str]) -> None:
    lines += [f"### {name}: `{run_dir}`", ""]
    if not _completed(run_dir):
        lines += [f"not run (no trained run at `{run_dir}`)", ""]
        return
    rows = scurve.scurves(run_dir, out, name)
    first, last = rows[0], rows[-2] if len(rows) > 2 else rows[-1]  # the last block's norm (the final norm follows)
    lines += [f"![S-curves {name}](scurves_{name}.png)", "",
              f"{len(rows)} norms. Fit `b·tanh(a·x)`: R² {min(r['r2_tanh'] for r in rows):.3f}–{max(r['r2_tanh'] for r in rows):.3f} "
              f"(a straight line: {min(r['r2_line'] for r in rows):.3f}–{max(r['r2_line'] for r in rows):.3f}). "
              f"Points in the linear middle (|a·x| < {scurve.LINEAR_BELOW:g}): mean {100 * mean_std(r['frac_linear'] for r in rows)[0]:.1f}% "
              f"over layers ({100 * first['frac_linear']:.1f}% in `{first['layer']}`, {100 * last['frac_linear']:.1f}% in `{last['layer']}`); "
              f"in the squashed tails (|a·x| > {scurve.SQUASHED_ABOVE:g}): mean {100 * mean_std(r['frac_squashed'] for r in rows)[0]:.2f}%, "
              f"at most {100 * max(r['frac_squashed'] for r in rows):.2f}%. Largest |input|: {max(r['input_absmax'] for r in rows):.3g}. "
              f"Table: [`scurves_{name}.md`](scurves_{name}.md) ([csv](scurves_{name}.csv)).", ""]


def alpha_part(sources: list[tuple[str, Path]], out: Path, lines: list[str]) -> None:
    any_found = False
    for name, path in sources:
        runs = alpha_std.find_runs([path]) if path.exists() else []
        if not runs:
            continue
        any_found = True
        alpha_std.alpha_vs_std(runs, out, name)
        lines += [f"### `{path}` ({len(runs)} run(s))", "", f"![alpha vs 1/std]({name}.png)", "",
                  (out / f"{name}.md").read_text().split("\n", 2)[2].strip(), ""]
    if not any_found:
        lines += ["not run (no DyT run with `input_std/` columns: train one, e.g. `make analysis`)", ""]


def compare_part(runs_dir: Path, reference: str, out: Path, stem: str, lines: list[str], paper: str,
                 report_link: str, note: str = "", report_dir: str | None = None) -> None:
    """Every arm of ``runs_dir`` vs ``reference`` (``stem``.md/.csv); with ``report_dir`` also the experiment report
    (``dyt.reports.experiment``) of registry experiment ``paper`` into ``out/report_dir`` (no other target writes one)."""
    if not runs_dir.exists() or not any(r.summary() is not None for r in RunDir.find(runs_dir)):
        lines += [f"not run (no runs under `{runs_dir}`)", ""]
        return
    if report_dir:
        from dyt.reports.experiment import report

        report(paper, runs_dir.parent, out / report_dir)
    try:
        rows = compare.compare([runs_dir], reference, paper)
    except FileNotFoundError as err:
        lines += [f"no comparison: {err}", ""]
        return
    command = f"python -m dyt.reports.analysis.compare {runs_dir} --reference {rows[0]['arm']} --paper {paper} --out {out / stem}"
    metric = EXPERIMENTS[paper].metric
    compare.write(rows, out / stem, metric, f"`{runs_dir}`: every arm vs `{rows[0]['arm']}`", command, note)
    lines += [(out / f"{stem}.md").read_text().split("\n", 4)[4].strip(), "",
              f"Per-arm report (each arm vs the normalized baseline, curves, provenance): [`{report_link}`]({report_link}).", ""]


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("results/analysis"))
    parser.add_argument("--ln-vit", type=Path, default=Path("runs/vit") / LN.label("vit") / "seed0")
    parser.add_argument("--ln-gpt", type=Path, default=Path("runs/gpt") / LN.label("gpt") / "seed0")
    parser.add_argument("--ablation", type=Path, default=Path("runs/ablation"))
    parser.add_argument("--vit-dyt", type=Path, default=Path("runs/vit") / DYT.label("vit"))
    parser.add_argument("--gpt", type=Path, default=Path("runs/gpt"))
    parser.add_argument("--skip", nargs="*", default=[], choices=["scurves", "alpha", "ablation", "gpt"])
    args = parser.parse_args(argv)
    out = args.out
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    lines = ["# The paper's analyses, regenerated", "",
             "Generated by `python -m dyt.reports.analysis` (`make analysis`) from the run dirs; do not edit by hand. "
             "What the figures show, against the paper's claims: `experiments/analysis/README.md` and "
             "`experiments/ablation/README.md`.", ""]
    if "scurves" not in args.skip:
        lines += ["## LayerNorm input-output mappings (the paper's Figure 2)", "",
                  "Every LN of a trained LN model on one validation batch (256 images / sequences); x: LN input, "
                  "y: normalized output before the affine, 20k sampled elements per layer (6k drawn), shallow to deep.", ""]
        scurve_part(args.ln_vit, out, "vit", lines)
        scurve_part(args.ln_gpt, out, "gpt", lines)
    if "alpha" not in args.skip:
        lines += ["## alpha vs 1/std of the DyT input", ""]
        alpha_part([("alpha_std", args.ablation / DYT.label("ablation")), ("alpha_std_vit", args.vit_dyt)], out, lines)
    if "ablation" not in args.skip:
        lines += ["## Squashing ablation (ViT on Fashion-MNIST, `experiment=ablation`)", ""]
        compare_part(args.ablation, "dyt", out, "ablation_vs_tanh", lines, "ablation", "ablation/README.md",
                     note=" (ViT-B, ImageNet-1K)", report_dir="ablation")
    if "gpt" not in args.skip:
        lines += ["## Derf and DyISRU in the GPT (`experiment=gpt`, Shakespeare characters)", ""]
        compare_part(args.gpt, DYT.label("gpt"), out, "gpt_vs_dyt", lines, "gpt", "../gpt/README.md",
                     note=" (Derf paper: GPT-2 124M on OpenWebText, val loss; lower is better)")
    (out / "README.md").write_text("\n".join(lines) + "\n")
    print(f"analysis written to {out}/README.md ({time.perf_counter() - t0:.0f} s)")


if __name__ == "__main__":
    main()
