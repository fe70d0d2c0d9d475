"""Run dirs as the reports see them: ``Run`` (config, summary, metric rows), read through ``RunDir`` only."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from dyt.run.data.chance import collapsed
from dyt.run.rundir import RunDir

BASELINE_NORMS = ("ln", "rmsnorm", "bn")  # the normalized baselines DyT is compared against


@dataclass
class Run:
    path: Path
    config: dict
    summary: dict
    rows: list = field(default_factory=list)

    @property
    def arm(self) -> str:
        return RunDir(self.path).arm(self.config)

    @property
    def seed(self) -> int:
        return int(self.config["seed"])

    @property
    def completed(self) -> bool:
        return self.summary.get("status") == "completed"

    @property
    def collapsed(self) -> bool:
        """At the chance level by today's rule (``dyt.run.data.chance.collapsed``), whatever the summary written
        when the run ended says (older runs were judged by an older rule)."""
        finals = {k: v for k, v in self.summary.items() if k.startswith("final/") and isinstance(v, (int, float))}
        judged = collapsed(finals, self.summary.get("chance"))
        return bool(self.summary.get("collapsed")) if judged is None else judged

    def series(self, key: str) -> tuple[np.ndarray, np.ndarray]:
        pts = [(r["step"], float(r[key])) for r in self.rows if key in r]
        if not pts:
            return np.array([]), np.array([])
        steps, values = zip(*pts)
        return np.array(steps), np.array(values)


def load_runs(runs_dir: Path) -> list[Run]:
    """Every run under ``runs_dir`` with a record: finished (summary.json), then multirun jobs that raised
    (failed.json, counted as ``failed``)."""
    finished, failed = [], []
    for run_dir in RunDir.find(runs_dir):
        config, summary = run_dir.config(), run_dir.summary()
        if summary is not None and config is not None:
            finished.append(Run(run_dir.path, config, summary, run_dir.metrics()))
        elif summary is None and "config" in (record := run_dir.failure() or {}):
            failed.append(Run(run_dir.path, record["config"], {"status": "failed", "error": record.get("error")},
                              run_dir.metrics()))
    _share_chance_accuracy(finished)
    return finished + failed


def _share_chance_accuracy(runs: list[Run]) -> None:
    """Runs recorded before the chance level carried the unigram argmax accuracy (``acc1``) get it from a run of
    the same level (same data and validation slice: the same loss level to 6 digits)."""
    known = {round(c["value"], 6): c["acc1"] for r in runs if "acc1" in (c := r.summary.get("chance") or {})}
    for r in runs:
        chance = r.summary.get("chance") or {}
        if chance.get("metric") == "val/loss" and "acc1" not in chance and round(chance["value"], 6) in known:
            r.summary = {**r.summary, "chance": {**chance, "acc1": known[round(chance["value"], 6)]}}


def group_runs(runs: list[Run]) -> dict[str, dict[str, list[Run]]]:
    """``{experiment: {arm: runs}}``; in each experiment the normalized baseline arm comes first."""
    def order(r: Run):
        return r.config["name"], r.config["norm"]["name"] not in BASELINE_NORMS, r.arm, r.seed

    groups: dict[str, dict[str, list[Run]]] = {}
    for run in sorted(runs, key=order):
        groups.setdefault(run.config["name"], {}).setdefault(run.arm, []).append(run)
    return groups


def baseline_arm(arms: dict[str, list[Run]]) -> str | None:
    return next((arm for arm, rs in arms.items() if rs[0].config["norm"]["name"] in BASELINE_NORMS), None)
