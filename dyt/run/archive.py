"""Run records that outlive a machine: ``results/records/`` holds the small files of every finished run
(config, summary, metrics, calibration, failure, sample; no checkpoints, no W&B files), committed with the
results they produced, so that a study spanning several sessions or machines keeps its finished runs.

    python -m dyt.run.archive save [experiment ...]      runs/ -> results/records/ (finished runs only)
    python -m dyt.run.archive restore [experiment ...]   results/records/ -> runs/ (only where runs/ has no run)
    python -m dyt.run.archive migrate [experiment ...]   rename run dirs to today's arm spelling (dyt-a1.0 -> dyt-a1)

``restore`` puts the record back where the trainer looks: a restored completed run is skipped by
``python -m dyt.train`` (``already completed``) and read by every report, exactly as if it had been trained
here. It never touches a run dir that holds a config (a live, interrupted or finished run: the dir wins).
metrics.jsonl is stored gzipped (metrics.jsonl.gz); everything else as it is.
"""

from __future__ import annotations

import argparse
import gzip
import shutil
from pathlib import Path

from dyt.run.alpha import canonical_arm
from dyt.run.rundir import CALIBRATION, CONFIG, FAILED, METRICS, SAMPLE, SUMMARY, RunDir

RECORDS = Path("results/records")
PLAIN = (CONFIG, SUMMARY, FAILED, CALIBRATION, SAMPLE)
PACKED = METRICS + ".gz"


def _experiments(root: Path, names) -> list[Path]:
    if names:
        return [root / n for n in names if (root / n).is_dir()]
    return sorted(p for p in root.iterdir() if p.is_dir()) if root.is_dir() else []


def _same(a: Path, b: Path) -> bool:
    """Both absent, or both present with the same bytes."""
    return a.exists() == b.exists() and (not a.exists() or a.read_bytes() == b.read_bytes())


def save(runs_root: Path = Path("runs"), records: Path = RECORDS, experiments=()) -> int:
    """Copy every finished run's record (completed, diverged, failed; not interrupted) under ``runs_root`` to
    ``records``; returns how many runs were written.
    A record is rewritten only when one of its files changed (a rerun, a longer budget, a sample written after
    the record was made); a run dir whose lock a process holds is still training and is left for later."""
    written = 0
    for folder in _experiments(runs_root, experiments):
        for run in RunDir.find(folder):
            if (run.summary() or {}).get("status") == "interrupted":  # not finished: its checkpoint is not archived
                continue
            if run.busy():  # still training (its summary can precede its sample): archived when its process ends
                continue
            dest = records / run.path.relative_to(runs_root)
            if all(_same(run.path / n, dest / n) for n in PLAIN):
                continue
            dest.mkdir(parents=True, exist_ok=True)
            for name in PLAIN:
                (dest / name).unlink(missing_ok=True)
                if (run.path / name).exists():
                    shutil.copyfile(run.path / name, dest / name)
            if run.metrics_path.exists():
                with open(run.metrics_path, "rb") as src, gzip.GzipFile(dest / PACKED, "wb", mtime=0) as out:
                    shutil.copyfileobj(src, out)
            written += 1
    return written


def canonical_path(run: Path, root: Path) -> Path:
    """Where the run dir ``run`` (``root/<experiment>/<arm>/seed<k>``) lives under today's arm spelling."""
    parts = run.relative_to(root).parts
    if len(parts) < 3:  # not <experiment>/<arm>/<seed>: a run dir of its own making (out_dir=...)
        return run
    return root.joinpath(parts[0], canonical_arm(parts[1]), *parts[2:])


def migrate(runs_root: Path = Path("runs"), experiments=()) -> int:
    """Rename every run dir whose arm is spelled the old way (``dyt-a1.0``) to today's (``dyt-a1``), where that
    name is free: the trainer then resumes it and the reports find it; returns how many were moved."""
    moved = 0
    for folder in _experiments(runs_root, experiments):
        for config in sorted(folder.rglob(CONFIG)):
            run = config.parent
            dest = canonical_path(run, runs_root)
            if dest != run and not dest.exists():
                dest.parent.mkdir(parents=True, exist_ok=True)
                run.rename(dest)
                moved += 1
    return moved


def restore(records: Path = RECORDS, runs_root: Path = Path("runs"), experiments=()) -> int:
    """Put back every archived run whose run dir under ``runs_root`` holds no config (under today's arm spelling:
    a record made as ``dyt-a1.0`` comes back as ``dyt-a1``); returns how many."""
    restored = 0
    for folder in _experiments(records, experiments):
        for config in sorted(folder.rglob(CONFIG)):
            src = config.parent
            dest = canonical_path(runs_root / src.relative_to(records), runs_root)
            if (dest / CONFIG).exists() or (dest / FAILED).exists():
                continue
            dest.mkdir(parents=True, exist_ok=True)
            for name in PLAIN:
                if (src / name).exists():
                    shutil.copyfile(src / name, dest / name)
            if (src / PACKED).exists():
                with gzip.open(src / PACKED, "rb") as packed, open(dest / METRICS, "wb") as out:
                    shutil.copyfileobj(packed, out)
            restored += 1
    return restored


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(prog="python -m dyt.run.archive", description=__doc__.split("\n\n")[0])
    parser.add_argument("what", choices=("save", "restore", "migrate"))
    parser.add_argument("experiments", nargs="*", help="experiment folders (runs/<name>); default: all")
    parser.add_argument("--runs", type=Path, default=Path("runs"), help="the run tree (default runs/)")
    parser.add_argument("--records", type=Path, default=RECORDS, help=f"the archive (default {RECORDS}/)")
    args = parser.parse_args(argv)
    if args.what == "save":
        n = save(args.runs, args.records, args.experiments)
        print(f"{n} run record(s) written to {args.records}/")
    elif args.what == "restore":
        n = restore(args.records, args.runs, args.experiments)
        print(f"{n} run record(s) restored into {args.runs}/")
    else:
        n = migrate(args.runs, args.experiments)
        print(f"{n} run dir(s) renamed to today's arm spelling under {args.runs}/")


if __name__ == "__main__":
    main()
