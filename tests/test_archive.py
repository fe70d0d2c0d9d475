"""Run records outlive the machine: ``results/records/`` keeps finished runs' small files; restoring them makes
the trainer skip those runs and the reports read them as if trained here."""

from __future__ import annotations

import gzip
import json

from dyt.run.archive import restore, save
from dyt.run.job import run
from tests.conftest import compose
from tests.test_regime import _regime_fixture


def test_save_and_restore_round_trip_without_clobbering(tmp_path):
    runs, records = tmp_path / "runs", tmp_path / "records"
    _regime_fixture(runs, {1: 9.0, 3: 6.0, 10: 3.0})
    one = next(runs.rglob("summary.json")).parent
    (one / "metrics.jsonl").write_text('{"step": 1, "train/loss": 2.5}\n')
    (one / "last.pt").write_bytes(b"checkpoint")
    (runs / "vit" / "ln" / "seed7").mkdir()  # a dir without a record (a run that never wrote one)
    total = len(list(runs.rglob("summary.json")))
    stopped = runs / "vit" / "ln" / "seed8"  # interrupted: it resumes from a checkpoint that is not archived
    stopped.mkdir()
    (stopped / "config.yaml").write_text("seed: 8\n")
    (stopped / "summary.json").write_text(json.dumps({"status": "interrupted", "step": 3}))
    assert save(runs, records) == total and save(runs, records) == 0  # unchanged records are not rewritten
    assert not (records / "vit" / "ln" / "seed8").exists()
    kept = records / one.relative_to(runs)
    assert sorted(p.name for p in kept.iterdir()) == ["config.yaml", "metrics.jsonl.gz", "summary.json"]
    assert gzip.decompress((kept / "metrics.jsonl.gz").read_bytes()) == b'{"step": 1, "train/loss": 2.5}\n'

    fresh = tmp_path / "fresh"
    live = fresh / one.relative_to(runs)
    live.mkdir(parents=True)
    (live / "config.yaml").write_text("a live run\n")
    assert restore(records, fresh) == total - 1  # the live dir wins
    assert (live / "config.yaml").read_text() == "a live run\n" and not (live / "summary.json").exists()
    other = next(p for p in fresh.rglob("summary.json"))
    assert other.read_bytes() == (records / other.parent.relative_to(fresh) / "summary.json").read_bytes()
    assert restore(records, fresh) == 0

    (one / "summary.json").write_text(json.dumps({"status": "completed", "step": 9}))  # a rerun: written again
    assert save(runs, records) == 1 and json.loads((kept / "summary.json").read_text())["step"] == 9


def test_a_restored_run_is_not_trained_again(smoke_cfg, tmp_path, capsys):
    first = run(smoke_cfg("experiment=gpt", "norm=ln", "trainer.max_steps=2"))
    records = tmp_path / "records"
    assert save(tmp_path, records, ["run"]) == 1
    moved = tmp_path / "elsewhere"
    assert restore(records, moved) == 1
    before = {p.name: p.read_bytes() for p in (moved / "run").iterdir()}
    cfg = compose("trainer=smoke", "logger=none", f"out_dir={moved / 'run'}", "trainer.threads=2",
                  "data.val_limit=4096", "experiment=gpt", "norm=ln", "trainer.max_steps=2")
    again = run(cfg)
    assert "already completed" in capsys.readouterr().out
    assert again["step"] == first["step"] == 2 and again["final/val/loss"] == first["final/val/loss"]
    after = {p.name: p.read_bytes() for p in (moved / "run").iterdir() if p.name != ".lock"}
    assert after == before  # nothing trained, nothing rewritten
