"""``make bench`` (dyt/bench/): a smoke run with tiny shapes writes its tables, plot and raw numbers."""

from __future__ import annotations

import json

import pytest

from dyt.bench import cli as bench
from dyt.bench.ops import OPS
from tests.conftest import DATA, needs_cxx


def _check(out, sections):
    results = json.loads((out / "results.json").read_text())
    readme = (out / "README.md").read_text()
    assert results["smoke"] and results["machine"]["cpu_count"]
    for heading in ("## Machine", "## Goals", "## Rerun"):
        assert heading in readme
    if "op" in sections:
        assert (out / "op_time_vs_C.png").stat().st_size > 1000
        assert "## Op level" in readme and "ratio to LayerNorm" in readme
        modes = {(r["label"], r["mode"]) for r in results["op"]}
        assert len(modes) == 2 * 3  # two token shapes and one NCHW shape, fwd and fwd+bwd
        for row in results["op"]:
            assert {"copy", "LayerNorm", "RMSNorm", "DyT reference", "DyT fused"} <= set(row["results"])
            assert all(s["median_ms"] > 0 and s["reps"] >= 1 for s in row["results"].values())
    if "model" in sections:
        assert {(r["experiment"], r["norm"]) for r in results["model"]} >= {("vit", "ln"), ("vit", "dyt"),
                                                                            ("gpt", "ln"), ("gpt", "dyt")}
        assert "## Model level" in readme
    return results, readme


def test_bench_smoke_ops_and_models(tmp_path):
    out = tmp_path / "bench"
    bench.main(["--smoke", "--no-compile", "--system-malloc", "--out", str(out), "--sections", "op,model", "--reps", "2"])
    _check(out, ["op", "model"])


@pytest.mark.skipif(not DATA.exists(), reason="no data: make data")
def test_bench_smoke_trainer(tmp_path):
    out = tmp_path / "bench"
    bench.main(["--smoke", "--system-malloc", "--out", str(out), "--sections", "trainer"])
    results, readme = _check(out, ["trainer"])
    assert [r["experiment"] for r in results["trainer"]] == ["vit", "gpt"]
    assert all(r.get("ratio", 0) > 0 or "skipped" in r for r in results["trainer"])
    assert "## Trainer level" in readme and "## Op level" not in readme


@pytest.mark.slow
@needs_cxx
def test_bench_smoke_with_torch_compile(tmp_path):
    out = tmp_path / "bench"
    bench.main(["--smoke", "--system-malloc", "--out", str(out), "--sections", "op", "--reps", "2"])
    results, _ = _check(out, ["op"])
    assert all({name for name in OPS if name.endswith("compiled")} <= set(row["results"]) for row in results["op"])


def test_benches_are_kept_per_cpu_capability_and_listed_side_by_side(tmp_path, monkeypatch):
    """``make bench`` writes results/bench/<capability>/ (a speed claim holds for the host it was measured on);
    the index lists each committed host with its ratios, and the tables name the host."""
    from dyt.bench.readme import index

    monkeypatch.chdir(tmp_path)
    results = bench.main(["--smoke", "--no-compile", "--system-malloc", "--sections", "op,model", "--reps", "2"])
    cap = results["machine"]["cpu_capability"]
    out = tmp_path / "results" / "bench" / cap
    assert (out / "results.json").exists() and not (out.parent / "README.md").exists()  # a smoke run is no host's record
    assert f"### fwd: time (ms), {cap} (" in (out / "README.md").read_text()
    assert results["machine"]["compiler_target"]
    for other in ("AVX512", "AVX2"):  # two hosts' full runs
        folder = out.parent / f"{other}-host"
        folder.mkdir(exist_ok=True)
        ops = [{**r, "C": 512} for r in results["op"]]  # as if measured at a width the claim covers
        data = {**results, "smoke": False, "op": ops, "machine": {**results["machine"], "cpu_capability": other}}
        (folder / "results.json").write_text(json.dumps(data))
    text = index(out.parent).read_text()
    rows = [line for line in text.splitlines() if line.startswith(("| AVX2 ", "| AVX512 "))]
    assert [r.split(" ")[1] for r in rows] == ["AVX2", "AVX512"] and "[AVX2-host/](AVX2-host/README.md)" in rows[0]
    assert all(r.count("×") >= 4 for r in rows)  # forward, fwd+bwd and both models' training step ratios
    assert len(rows) == 2  # the smoke run in <cap>/ is not listed


def test_a_compiled_model_drives_the_training_step():
    """``torch.compile``'s wrapper has no truth value for a timm ViT (it forwards ``len``): the step must not ask."""
    import torch

    from dyt.bench.models import make_step
    from dyt.run.builders import build_model
    from dyt.run.spec import build_spec
    from tests.conftest import compose

    spec = build_spec(compose("experiment=vit", "logger=none", "model.kwargs.depth=1"))
    model = build_model(spec, None).model
    step = make_step(spec, model, torch.device("cpu"), steps=10, compiled=True)
    assert step.model is model and step.train_model is not model and step.train_model._orig_mod is model
