"""``python -m dyt.reports.regime commands <model> [override ...]`` | ``report [model ...] [--runs R] [--out O]``."""

from __future__ import annotations

import argparse
from pathlib import Path

from dyt.reports.regime.plan import CPU_MODELS, LADDERS, commands
from dyt.reports.regime.report import report


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(prog="python -m dyt.reports.regime", description=__doc__)
    sub = parser.add_subparsers(dest="what", required=True)
    cmd = sub.add_parser("commands", help="print the training commands of one model's study")
    cmd.add_argument("model", choices=list(LADDERS))
    cmd.add_argument("overrides", nargs="*", help="added to every command, e.g. launcher=joblib trainer.threads=1")
    rep = sub.add_parser("report", help="write results/regime/ from the run dirs")
    rep.add_argument("models", nargs="*", default=None, help="default: the CPU models, and GPU-size ones with runs")
    rep.add_argument("--runs", type=Path, default=Path("runs"))
    rep.add_argument("--out", type=Path, default=Path("results/regime"))
    args = parser.parse_args(argv)
    if args.what == "commands":
        print("\n".join(commands(args.model, tuple(args.overrides))))
    else:
        models = args.models or [*CPU_MODELS, *(m for m in LADDERS if m not in CPU_MODELS and (args.runs / m).is_dir())]
        print(report(models, args.runs, args.out))


if __name__ == "__main__":
    main()
