"""Pre-emption: SIGTERM / SIGUSR1 make the loop checkpoint and stop at the next step boundary."""

from __future__ import annotations

import os
import signal
import threading


class StopSignals:
    """SIGTERM / SIGUSR1 (what schedulers send before pre-empting) ask the loop to checkpoint and stop
    at the next step boundary. Installed only in the main thread; ``restore()`` puts the old handlers back.

    Inside a submitit job nothing is installed: submitit ignores SIGTERM and requeues the job on its own
    signal (SIGUSR2), and the requeued job resumes exactly from the run dir's last checkpoint."""

    SIGNALS = (signal.SIGTERM, signal.SIGUSR1)

    def __init__(self) -> None:
        self.received: str | None = None
        self._old = {}
        if threading.current_thread() is threading.main_thread() and not os.environ.get("SUBMITIT_EXECUTOR"):
            self._old = {sig: signal.signal(sig, self._handle) for sig in self.SIGNALS}

    def _handle(self, signum, frame) -> None:
        self.received = signal.Signals(signum).name

    def restore(self) -> None:
        for sig, handler in self._old.items():
            signal.signal(sig, handler)
        self._old = {}
