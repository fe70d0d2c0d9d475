"""W&B saved views that put an experiment's arms side by side: ``make dashboard-online EXP=vit``.

One saved workspace view per experiment (the runs of W&B group ``<experiment>``, grouped by the ``arm``
config key, mean ± std bands over seeds, x = the optimizer step): a section of loss and accuracy curves, one
of DyT's internals (alpha, input std, saturation per layer, the residual stream), one of the optimization
(lr, throughput, grad norm), and for sweeps the final metric against the swept alpha init. With ``--report``
also a W&B Report: the experiment's claims table of ``results/REPORT.md`` above the same panels.

Built with ``wandb-workspaces`` (pinned: the offline checks use its private ``_to_model``). Building needs no
server; saving needs a W&B server and an API key: without a key the command says so in one line and exits 2.
A view is saved under a name derived from the experiment, so running it again updates that view; a Report
is published anew each time.

    python -m dyt.reports.wandb_views vit --dry-run      # build and describe, no server
    python -m dyt.reports.wandb_views vit --entity me --report
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import warnings
from pathlib import Path

from dyt.run.metric_keys import PER_LAYER

with warnings.catch_warnings():  # the library still uses pydantic-1 style validators
    warnings.simplefilter("ignore")
    import wandb_workspaces.reports.v2 as wr
    import wandb_workspaces.workspaces as ws

GROUP_KEY = "arm"  # the run config key that names an arm (dyt.run.identity): LN, DyT, calibrated, + overrides
CURVES = ("train/loss", "val/loss", "val/acc1")
OPTIMIZATION = ("lr", "throughput", "grad_norm")
SWEEP_KEYS = {"sweep_alpha_vit": "norm.alpha_init", "optuna_alpha_vit": "norm.alpha_init",
              "sweep_alpha_gpt": "norm.alpha_attn"}
SWEEP_METRIC = "final/val/loss"  # a summary key every completed run has (summary.json, logged as the run summary)


NOT_PLOTTED = ("epoch", "val_ema/loss", "val_ema/acc1", "train_eval/loss", "train_eval/acc1")  # logged (in the runs
# table), no panel of their own: the train_eval/* are one point at the end


def panel_keys() -> set[str]:
    """Every metric key a panel references (regex panels by their prefix); with ``NOT_PLOTTED`` these are exactly
    the trainer's keys (``dyt.run.trainer.diagnostics``), which a test holds them to."""
    return set(CURVES) | set(OPTIMIZATION) | set(PER_LAYER)


def _curve(metric: str, title: str | None = None, regex: str | None = None):
    kwargs = dict(metric_regex=regex) if regex else dict(y=[metric])
    return wr.LinePlot(title=title or metric, x="Step", groupby=wr.Config(GROUP_KEY), groupby_aggfunc="mean",
                       groupby_rangefunc="stddev", **kwargs)


def sections(experiment: str) -> list[tuple[str, list]]:
    """``[(section name, panels)]`` of one experiment's view."""
    out = [("loss and accuracy (mean ± std over seeds, by arm)", [_curve(m) for m in CURVES]),
           ("DyT internals per layer: alpha, input std, saturated share (|alpha·x| > 2), residual stream std",
            [_curve(p, f"{p}<layer>", regex=f"^{re.escape(p)}.*") for p in PER_LAYER]),
           ("optimization", [_curve(m) for m in OPTIMIZATION])]
    sweep_key = SWEEP_KEYS.get(experiment)
    if sweep_key:
        out.append((f"{SWEEP_METRIC} vs {sweep_key}", [
            wr.ScatterPlot(title=f"{SWEEP_METRIC} vs {sweep_key}", x=wr.Config(sweep_key), y=wr.SummaryMetric(SWEEP_METRIC)),
            wr.ParallelCoordinatesPlot(title=f"{sweep_key} -> {SWEEP_METRIC}", columns=[
                wr.ParallelCoordinatesPlotColumn(metric=wr.Config(sweep_key)),
                wr.ParallelCoordinatesPlotColumn(metric=wr.SummaryMetric(SWEEP_METRIC))])]))
    return out


def run_filter(experiment: str) -> str:
    if not re.fullmatch(r"[A-Za-z0-9_.\-]+", experiment):
        raise ValueError(f"experiment name {experiment!r} needs quoting in a W&B filter expression")
    return f"Metric('Group') == '{experiment}'"


def view_name(experiment: str) -> str:
    """The internal name the view is saved under: the same for every save, so a save updates it."""
    return "nw-dyt" + re.sub(r"[^A-Za-z0-9]", "", experiment) + "-v"


def workspace(experiment: str, entity: str, project: str) -> ws.Workspace:
    view = ws.Workspace(entity=entity, project=project, name=f"dyt {experiment}: LN vs DyT",
                        sections=[ws.Section(name=name, panels=panels, is_open=True) for name, panels in sections(experiment)],
                        settings=ws.WorkspaceSettings(x_axis="Step", max_runs=200),  # the default shows 10 runs
                        runset_settings=ws.RunsetSettings(filters=run_filter(experiment), groupby=[ws.Config(GROUP_KEY)]))
    view._internal_name = view_name(experiment)
    return view


def claims_markdown(report_md: Path, experiment: str) -> str:
    """The rows of ``results/REPORT.md`` whose claim concerns ``experiment`` (its section, or its runs folder)."""
    from dyt.reports.claims import TABLE_HEAD, read_report, table_lines
    from dyt.reports.registry import CLAIMS

    titles = {c.title for c in CLAIMS if c.experiment == experiment or c.section == experiment}
    rows = [r for r in read_report(report_md).values() if r.claim in titles] if report_md.exists() else []
    return "\n".join(table_lines(rows)) if rows else "\n".join(TABLE_HEAD) + "\n| (no claim rows yet: `make report-claims`) |"


def report(experiment: str, entity: str, project: str, report_md: Path) -> wr.Report:
    """A Report: the claims table, then the view's panels. Runsets are left without entity and project (the
    report's own; with both set, building it would query the server), and filled in just before saving."""
    blocks = [wr.H1(text=f"{experiment}: LayerNorm vs DyT"), wr.MarkdownBlock(text=claims_markdown(report_md, experiment))]
    for name, panels in sections(experiment):
        blocks += [wr.H2(text=name), wr.PanelGrid(runsets=[wr.Runset(name=experiment, filters=run_filter(experiment),
                                                                     groupby=[f"config.{GROUP_KEY}"])], panels=panels)]
    return wr.Report(entity=entity, project=project, title=f"dyt {experiment}: LN vs DyT",
                     description=f"The runs of W&B group {experiment!r}, by arm", blocks=blocks)


def describe(view: ws.Workspace) -> dict:
    """What the server would get, read offline from the wire model: filter, grouping, sections and panels."""
    spec = view._to_model().model_dump(by_alias=True, exclude_none=True)["spec"]["section"]
    return {"filters": spec["runSets"][0]["filters"], "grouping": spec["runSets"][0]["grouping"],
            "x_axis": spec["settings"]["xAxis"],
            "sections": {s["name"]: [(p["viewType"], p["config"].get("metrics") or p["config"].get("metricRegex"),
                                      p["config"].get("groupBy")) for p in s["panels"]]
                         for s in spec["panelBankConfig"]["sections"]}}


def save(experiment: str, entity: str, project: str, with_report: bool, report_md: Path) -> list[str]:
    """Save the view (and publish the report); needs a key and a server. Returns their URLs."""
    os.environ.setdefault("WANDB_HTTP_TIMEOUT", "10")  # wandb.Api() waits 19 s by default on a closed network
    urls = [workspace(experiment, entity, project).save().url]
    if with_report:
        built = report(experiment, entity, project, report_md)
        for block in built.blocks:
            for runset in getattr(block, "runsets", []):
                runset.entity, runset.project = entity, project
        urls.append(built.save().url)
    return urls


def main(argv=None) -> None:
    from dyt.run.log import api_key_configured, base_url

    parser = argparse.ArgumentParser(prog="python -m dyt.reports.wandb_views", description=__doc__.splitlines()[0])
    parser.add_argument("experiments", nargs="*", help="W&B groups (experiment names: vit, gpt, sweep_alpha_vit, ...)")
    parser.add_argument("--check", action="store_true", help="only check that a key is configured (exit 2 if not)")
    parser.add_argument("--entity", default=os.environ.get("WANDB_ENTITY"), help="W&B entity (default: WANDB_ENTITY)")
    parser.add_argument("--project", default=os.environ.get("WANDB_PROJECT", "dyt"))
    parser.add_argument("--report", action="store_true", help="also publish a W&B Report with the claims table")
    parser.add_argument("--report-md", type=Path, default=Path("results/REPORT.md"))
    parser.add_argument("--dry-run", action="store_true", help="build and describe the views; no server")
    args = parser.parse_args(argv)
    if args.dry_run:
        for exp in args.experiments:
            print(exp, describe(workspace(exp, args.entity or "<entity>", args.project)))
        return
    if not api_key_configured():
        fail(f"no W&B API key for {base_url()}: run `wandb login` (or set WANDB_API_KEY), then `make sync`")
    if args.check:
        return
    if not args.entity:
        fail("saved views need the W&B entity they belong to: --entity <name> (or WANDB_ENTITY=<name>)")
    for exp in args.experiments:
        try:
            urls = save(exp, args.entity, args.project, args.report, args.report_md)
        except Exception as err:  # noqa: BLE001 - network and auth errors of every kind: one line
            fail(f"saving the views of {exp!r} to {base_url()} failed: {type(err).__name__}: "
                 f"{str(err).splitlines()[0] if str(err) else ''}")
        print(f"{exp}: " + " ".join(urls))


def fail(message: str) -> None:
    print(f"error: {message}", file=sys.stderr)
    sys.exit(2)


if __name__ == "__main__":
    main()
