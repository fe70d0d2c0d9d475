"""Run records outlive the machine: ``results/records/`` keeps finished runs' small files; restoring them makes
the trainer skip those runs and the reports read them as if trained here."""

from __future__ import annotations

import gzip
import json

from dyt.run.archive import restore, save
from dyt.run.job import run
from tests.conftest import THREADS, compose
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
    cfg = compose("trainer=smoke", "logger=none", f"out_dir={moved / 'run'}", f"trainer.threads={THREADS}",
                  "data.val_limit=4096", "experiment=gpt", "norm=ln", "trainer.max_steps=2")
    again = run(cfg)
    assert "already completed" in capsys.readouterr().out
    assert again["step"] == first["step"] == 2 and again["final/val/loss"] == first["final/val/loss"]
    after = {p.name: p.read_bytes() for p in (moved / "run").iterdir() if p.name != ".lock"}
    assert after == before  # nothing trained, nothing rewritten


def test_one_alpha_one_run_dir_and_old_spellings_still_report(tmp_path, capsys):
    """``norm.alpha_init=1``, ``1.0`` and ``1e0`` are one run (``dyt-a1``); a run made when the tag kept the
    spelling (``dyt-a1.0``) reads as ``dyt-a1``, is renamed by ``migrate`` and not trained again."""
    import yaml

    from dyt.reports.registry import Arm
    from dyt.reports.runs import load_runs
    from dyt.run.archive import migrate

    dirs = {str(compose("experiment=vit", "norm=dyt", f"norm.alpha_init={v}").out_dir) for v in ("1", "1.0", "1e0")}
    assert dirs == {"runs/vit/dyt-a1/seed0"}
    assert compose("experiment=gpt", "norm=dyt", "norm.alpha_attn=1.0").arm == "dyt-aauto-attn1"
    assert Arm("norm=dyt", "norm.alpha_init=1.0").label("vit") == "dyt-a1"
    common = ("trainer=smoke", "logger=none", f"trainer.threads={THREADS}", "data.val_limit=512", "model.kwargs.depth=1",
              f"runs_root={tmp_path / 'runs'}", "norm=dyt", "norm.alpha_init=1.0")
    run(compose(*common))
    new = next((tmp_path / "runs" / "vit").glob("dyt-a1+*/seed0"))
    old = new.parent.parent / new.parent.name.replace("dyt-a1+", "dyt-a1.0+") / "seed0"
    old.parent.mkdir(parents=True)
    new.rename(old)  # as an older version named it, config included
    config = yaml.safe_load((old / "config.yaml").read_text())
    config["arm"], config["norm"]["tag"] = old.parent.name, "dyt-a1.0"
    (old / "config.yaml").write_text(yaml.safe_dump(config))
    assert [r.arm for r in load_runs(tmp_path / "runs" / "vit")] == [new.parent.name]  # reports see today's name
    records = tmp_path / "records"
    save(tmp_path / "runs", records)
    assert migrate(tmp_path / "runs") == 1 and new.exists() and not old.exists()
    capsys.readouterr()
    again = run(compose(*common[:-1], "norm.alpha_init=1e0"))
    assert "already completed" in capsys.readouterr().out and again["status"] == "completed"
    fresh = tmp_path / "fresh"
    assert restore(records, fresh) == 1 and (fresh / new.relative_to(tmp_path / "runs") / "summary.json").exists()


def test_a_run_still_training_is_archived_when_it_ends_sample_included(tmp_path):
    """A queue archives its experiment each time one of its runs ends; the other run, still in its process, may
    hold a summary already and no sample yet: it is left alone while locked, and archived whole afterwards."""
    from dyt.run.rundir import RunDir

    runs, records = tmp_path / "runs", tmp_path / "records"
    live = runs / "gpt" / "ln" / "seed0"
    live.mkdir(parents=True)
    (live / "config.yaml").write_text("seed: 0\n")
    (live / "summary.json").write_text(json.dumps({"status": "completed", "step": 3}))
    with RunDir(live).lock():  # as a training process holds it
        assert RunDir(live).busy()
        assert save(runs, records) == 0 and not (records / "gpt").exists()
        (live / "sample.txt").write_text("ROMEO: what\n")
    assert not RunDir(live).busy()
    assert save(runs, records) == 1
    assert (records / "gpt" / "ln" / "seed0" / "sample.txt").read_text() == "ROMEO: what\n"

    (records / "gpt" / "ln" / "seed0" / "sample.txt").unlink()  # a record made before the sample existed (issue 22)
    assert save(runs, records) == 1 and (records / "gpt" / "ln" / "seed0" / "sample.txt").exists()
    assert save(runs, records) == 0
