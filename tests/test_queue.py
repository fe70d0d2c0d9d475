"""``python -m dyt.run.queue`` (``make regime``): runs from a list, two at a time, archived as they end, skipped
when already finished, a bad line failing alone."""

from __future__ import annotations

import json
import subprocess
import sys

from tests.conftest import REPO


def _queue(lines: list[str], *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "dyt.run.queue", *args], input="\n".join(lines), cwd=REPO,
                          capture_output=True, text=True, timeout=1800)


def test_the_queue_trains_archives_and_skips_what_is_done(tmp_path):
    common = f"trainer=smoke logger=none data.val_limit=4096 runs_root={tmp_path / 'runs'}"
    lines = [f"experiment=gpt norm=ln seed=0 {common}", f"experiment=gpt norm=dyt seed=0 {common}",
             "# a comment", f"experiment=gpt norm=nonsense seed=0 {common}"]
    proc = _queue(lines, "--jobs", "2", "--archive", str(tmp_path / "records"))
    assert proc.returncode == 1, proc.stdout + proc.stderr  # the bad line failed, the others ran
    assert "2 trained, 0 already done, 1 failed" in proc.stdout
    for arm in ("ln+val_limit-4096+trainer-smoke", "dyt-aauto+val_limit-4096+trainer-smoke"):
        summary = json.loads((tmp_path / "runs" / "gpt" / arm / "seed0" / "summary.json").read_text())
        assert summary["status"] == "completed" and "1 threads" in summary["device"]  # --threads 1
        assert (tmp_path / "records" / "gpt" / arm / "seed0" / "summary.json").exists()
        assert "final/train_eval/loss" in summary  # the train-val gap's other half
        assert (tmp_path / "runs" / "_queue" / f"gpt-{arm}-s0.log").exists()
    again = _queue(lines[:2])
    assert again.returncode == 0 and "0 trained, 2 already done, 0 failed" in again.stdout, again.stdout
