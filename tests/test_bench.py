"""``make bench`` (dyt/reports/bench/): a smoke run with tiny shapes writes its tables, plot and raw numbers."""

from __future__ import annotations

import json

import pytest

from dyt.reports.bench import cli as bench
from dyt.reports.bench.ops import OPS
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
