"""Train a list of runs, a few at a time, each its own ``python -m dyt.train`` process: ``make regime``.

    python -m dyt.run.queue [--jobs 2] [--threads 1] [--archive] [FILE]    (FILE or stdin: one run per line)

Each line is the overrides of one run (``experiment=gpt norm=ln trainer.max_steps=1000 seed=0``). Runs
start in the order given (put the longest first: two workers then finish together), ``--jobs`` at a time
with ``trainer.threads=--threads`` each (on 2 cores two 1-thread jobs beat one 2-thread job:
experiments/speed/README.md). A run whose dir already holds a finished summary is skipped without starting
a process. Each run's output goes to ``<runs_root>/_queue/<arm>-s<seed>.log``; with ``--archive`` every run
that ends is archived at once (``dyt.run.archive``: ``results/records/``), so a study stopped at any point
keeps what it finished. SIGINT/SIGTERM are passed on to the runs (each checkpoints and exits; the same
command resumes them) and the queue stops starting new ones. Exit status: 0 when every run finished (or was
done already), 1 when one failed (the others still ran), 75 when stopped.
"""

from __future__ import annotations

import argparse
import signal
import subprocess
import sys
import time
from pathlib import Path

from dyt.run.archive import RECORDS, save
from dyt.run.errors import INTERRUPTED_EXIT as STOPPED_EXIT  # a run stopped on a signal; the queue too


def _run_dir(overrides: list[str]) -> tuple[Path, str, str, Path]:
    """``(run dir, experiment name, label, runs root)`` that ``python -m dyt.train <overrides>`` uses."""
    from dyt.run.schema import compose

    cfg = compose(*overrides)
    return Path(cfg.out_dir), str(cfg.name), f"{cfg.arm}-s{cfg.seed}", Path(cfg.runs_root)


def finished(run_dir: Path) -> bool:
    from dyt.run.rundir import RunDir

    return (RunDir(run_dir).summary() or {}).get("status") in ("completed", "diverged")


def _ignore_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)


class Queue:
    def __init__(self, lines: list[list[str]], jobs: int, threads: int, archive_to: Path | None) -> None:
        self.pending, self.jobs, self.threads, self.archive_to = list(lines), jobs, threads, archive_to
        self.running: list[tuple[subprocess.Popen, str, str, Path, float]] = []
        self.done = self.failed = self.skipped = 0
        self.total, self.stopping = len(lines), False

    def stop(self, signum, frame) -> None:
        self.stopping = True
        for proc, *_ in self.running:
            proc.send_signal(signal.SIGTERM)

    def _resolve(self) -> None:
        """Compose every line once, before anything starts: a bad line fails alone (Hydra's own message) and the
        runs already finished are counted up front, so the first progress line says what is left to train."""
        todo = []
        for overrides in self.pending:
            try:
                resolved = _run_dir(overrides)
            except Exception as err:  # noqa: BLE001 - a bad line fails alone, with Hydra's own message
                self.failed += 1
                self._say(f"cannot compose {' '.join(overrides)}: {type(err).__name__}: {err}")
                continue
            if finished(resolved[0]):
                self.skipped += 1
            else:
                todo.append((overrides, resolved))
        self.pending = todo
        self._say(f"{len(todo)} to train")

    def _start(self, overrides: list[str], resolved: tuple[Path, str, str, Path]) -> None:
        run_dir, experiment, label, runs_root = resolved
        if finished(run_dir):  # finished meanwhile (another queue, a sweep sharing the run dir)
            self.skipped += 1
            return
        logs = runs_root / "_queue"
        logs.mkdir(parents=True, exist_ok=True)
        log = open(logs / f"{experiment}-{label}.log", "ab")
        cmd = [sys.executable, "-m", "dyt.train", *overrides, f"trainer.threads={self.threads}", "trainer.progress=false"]
        # the runs ignore SIGINT (a terminal's Ctrl-C reaches the whole process group): the queue catches it and
        # passes SIGTERM on, which each run meets by checkpointing at its step
        self.running.append((subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                              preexec_fn=_ignore_sigint),
                             experiment, label, run_dir, time.monotonic()))
        log.close()
        self._say(f"start {experiment} {label}")

    def _say(self, what: str) -> None:
        print(f"[{time.strftime('%H:%M:%S')}] {self.done + self.failed + self.skipped}/{self.total} done "
              f"({self.skipped} already), {len(self.running)} running: {what}", flush=True)

    def _reap(self) -> None:
        for entry in list(self.running):
            proc, experiment, label, run_dir, started = entry
            code = proc.poll()
            if code is None:
                continue
            self.running.remove(entry)
            if code == 0:
                self.done += 1
            elif code != STOPPED_EXIT and not (self.stopping and code == -signal.SIGTERM):
                # a run the stop reached before it set up its own handler dies of the signal: stopped, not failed
                self.failed += 1
            if self.archive_to is not None:
                save(run_dir.parents[2], self.archive_to, [experiment])
            self._say(f"{experiment} {label} exited {code} after {time.monotonic() - started:.0f} s")

    def run(self) -> int:
        self._resolve()
        while (self.pending and not self.stopping) or self.running:
            while self.pending and not self.stopping and len(self.running) < self.jobs:
                self._start(*self.pending.pop(0))
            self._reap()
            time.sleep(1.0)
        if self.stopping:
            return STOPPED_EXIT
        return 1 if self.failed else 0


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m dyt.run.queue", description=__doc__.split("\n\n")[0])
    p.add_argument("file", nargs="?", help="one run's overrides per line (default: stdin)")
    p.add_argument("--jobs", type=int, default=2, help="runs at once (default 2)")
    p.add_argument("--threads", type=int, default=1, help="torch threads per run (default 1)")
    p.add_argument("--archive", nargs="?", const=str(RECORDS), default=None, metavar="RECORDS",
                   help=f"archive each run when it ends (default folder {RECORDS}/)")
    args = p.parse_args(argv)
    text = Path(args.file).read_text() if args.file else sys.stdin.read()
    lines = [line.split() for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")]
    if args.jobs < 1 or args.threads < 1:
        print("error: --jobs and --threads must be >= 1", file=sys.stderr)
        return 2
    queue = Queue(lines, args.jobs, args.threads, Path(args.archive) if args.archive else None)
    signal.signal(signal.SIGTERM, queue.stop)
    signal.signal(signal.SIGINT, queue.stop)
    code = queue.run()
    print(f"queue: {queue.done} trained, {queue.skipped} already done, {queue.failed} failed"
          + (", stopped (rerun to resume)" if code == STOPPED_EXIT else ""))
    return code


if __name__ == "__main__":
    sys.exit(main())
