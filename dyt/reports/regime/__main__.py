"""``python -m dyt.reports.regime runs <model ...> [--extra override ...]`` (one run per line, the order the study
trains them: ``make regime`` pipes them into ``python -m dyt.run.queue``) | ``commands <model> [override ...]``
(the same runs as multirun lines, for a cluster) | ``report [model ...] [--runs R] [--out O]``."""

from __future__ import annotations

import argparse
from pathlib import Path

from dyt.reports.regime.plan import CPU_MODELS, LADDERS, commands, runs
from dyt.reports.regime.report import report


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(prog="python -m dyt.reports.regime", description=__doc__)
    sub = parser.add_subparsers(dest="what", required=True)
    lst = sub.add_parser("runs", help="print every planned run of these models, one line of overrides each")
    lst.add_argument("models", nargs="+", choices=list(LADDERS))
    lst.add_argument("--extra", nargs="*", default=[], help="added to every run, e.g. trainer.device=cuda")
    cmd = sub.add_parser("commands", help="print the training commands of one model's study")
    cmd.add_argument("model", choices=list(LADDERS))
    cmd.add_argument("overrides", nargs="*", help="added to every command, e.g. launcher=joblib trainer.threads=1")
    rep = sub.add_parser("report", help="write results/regime/ from the run dirs")
    rep.add_argument("models", nargs="*", default=None, help="default: the CPU models, and GPU-size ones with runs")
    rep.add_argument("--runs", type=Path, default=Path("runs"))
    rep.add_argument("--out", type=Path, default=Path("results/regime"))
    args = parser.parse_args(argv)
    if args.what == "runs":
        print("\n".join(r.line for r in runs(args.models, tuple(args.extra))))
    elif args.what == "commands":
        print("\n".join(commands(args.model, tuple(args.overrides))))
    else:
        models = args.models or [*CPU_MODELS, *(m for m in LADDERS if m not in CPU_MODELS and (args.runs / m).is_dir())]
        print(report(models, args.runs, args.out))


if __name__ == "__main__":
    main()
