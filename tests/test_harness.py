"""The test harness itself: under pytest-xdist each worker (and every subprocess it starts) trains on its share
of the cores, so `make test`'s two workers do not run four threads on 2 cores."""

import os
import subprocess
import sys

import torch

from tests.conftest import THREADS


def test_each_worker_and_its_subprocesses_use_its_share_of_the_cores():
    workers = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "0")) if os.environ.get("PYTEST_XDIST_WORKER") else 0
    sub = subprocess.run([sys.executable, "-c", "import torch; print(torch.get_num_threads())"], capture_output=True,
                         text=True, timeout=600, check=True).stdout
    if workers:
        assert THREADS == max(1, (os.cpu_count() or 1) // workers)
    assert THREADS == torch.get_num_threads() == int(sub) == int(os.environ["OMP_NUM_THREADS"])
