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
    assert "1/3 done (0 already), 0 running: 2 to train" in proc.stdout  # counted before anything starts
    for arm in ("ln+val_limit-4096+trainer-smoke", "dyt-aauto+val_limit-4096+trainer-smoke"):
        summary = json.loads((tmp_path / "runs" / "gpt" / arm / "seed0" / "summary.json").read_text())
        assert summary["status"] == "completed" and "1 threads" in summary["device"]  # --threads 1
        assert (tmp_path / "records" / "gpt" / arm / "seed0" / "summary.json").exists()
        assert "final/train_eval/loss" in summary  # the train-val gap's other half
        assert (tmp_path / "runs" / "_queue" / f"gpt-{arm}-s0.log").exists()
    again = _queue(lines[:2])
    assert again.returncode == 0 and "0 trained, 2 already done, 0 failed" in again.stdout, again.stdout
    assert again.stdout.splitlines()[0].endswith("2/2 done (2 already), 0 running: 0 to train")


def test_ctrl_c_stops_the_queue_and_each_run_checkpoints_at_its_step(tmp_path):
    import os
    import signal
    import time

    runs = tmp_path / "runs"
    line = (f"experiment=vit trainer=smoke logger=none trainer.max_steps=5000 trainer.log_every=1 "
            f"trainer.eval_every=5000 trainer.ckpt_every=5000 model.kwargs.depth=1 data.batch_size=16 "
            f"data.val_limit=256 runs_root={runs}")
    (tmp_path / "runs.txt").write_text(line + "\n")
    proc = subprocess.Popen([sys.executable, "-m", "dyt.run.queue", "--jobs", "1", str(tmp_path / "runs.txt")],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=REPO,
                            start_new_session=True)  # its own process group, as a terminal gives it
    deadline = time.time() + 1800  # a hang guard, not a speed check
    metrics = list(runs.glob("vit/*/seed0/metrics.jsonl"))
    while time.time() < deadline and not (metrics and len(metrics[0].read_text().splitlines()) >= 3):
        time.sleep(0.05)
        metrics = list(runs.glob("vit/*/seed0/metrics.jsonl"))
    os.killpg(proc.pid, signal.SIGINT)  # Ctrl-C: the whole group, the queue and its run
    out, _ = proc.communicate(timeout=1800)
    assert proc.returncode == 75 and "stopped (rerun to resume)" in out, out
    summary = json.loads((metrics[0].parent / "summary.json").read_text())
    assert summary["status"] == "interrupted" and 3 <= summary["step"] < 5000  # checkpointed, not killed
    assert (metrics[0].parent / "last.pt").exists()


def test_a_run_the_stop_reaches_before_its_handler_counts_as_stopped_not_failed(tmp_path):
    """The stop can land in the second between a run's start and its own SIGTERM handler: the run then dies of
    the signal (exit -15), which is the stop working, not a failure."""
    import signal
    import time

    from dyt.run.queue import STOPPED_EXIT, Queue

    queue = Queue([], 1, 1, None)
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
    queue.running.append((proc, "gpt", "ln", tmp_path / "gpt" / "ln" / "seed0", time.monotonic()))
    queue.stop(signal.SIGTERM, None)
    assert proc.wait(timeout=60) == -signal.SIGTERM
    assert queue.run() == STOPPED_EXIT and queue.failed == 0 and queue.done == 0 and not queue.running
