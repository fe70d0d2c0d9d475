"""results/REPORT.md: rows come from run dirs; a claim without runs says "not run", never a number."""

import json

import yaml

from dyt.claims import NOT_RUN, build_rows, main


def fake_run(root, folder, norm_name, tag, seed, acc, loss=1.0, status="completed"):
    """A run dir as dyt.train leaves it (config.yaml + summary.json): fixture data for the report generator."""
    run_dir = root / folder / tag / f"seed{seed}"
    run_dir.mkdir(parents=True)
    config = {"name": folder, "seed": seed, "norm": {"name": norm_name, "tag": tag, "alpha_init": 0.5},
              "model": {"family": "vit", "arch": "x", "kwargs": {}}}
    (run_dir / "config.yaml").write_text(yaml.safe_dump(config))
    summary = {"status": status, "step": 10}
    if status == "completed":
        summary.update({"final/val/acc1": acc, "final/val/loss": loss})
    (run_dir / "summary.json").write_text(json.dumps(summary))


def test_rows_come_from_run_dirs_and_missing_claims_say_not_run(tmp_path):
    for seed, (ln, dyt) in enumerate([(86.0, 76.0), (86.2, 77.5), (85.9, 75.8)]):
        fake_run(tmp_path, "vit", "ln", "ln", seed, ln)
        fake_run(tmp_path, "vit", "dyt", "dyt-a0.5", seed, dyt)
        fake_run(tmp_path, "resnet", "bn", "bn", seed, 90.0 + seed * 0.1)
        fake_run(tmp_path, "resnet", "dyt", "dyt-a0.5", seed, 90.05 + seed * 0.1)
    fake_run(tmp_path, "ablation", "identity", "identity-a0.5", 0, None, status="diverged")
    fake_run(tmp_path, "ablation", "identity", "identity-a0.5", 1, None, status="diverged")
    rows = {r.claim: r for r in build_rows(tmp_path, tmp_path / "no-analysis")}
    vit = rows["ViT: DyT matches LN"]
    assert "86.03 ± 0.15 (n = 3)" in vit.ours and vit.verdict.startswith("**not reproduced**")
    assert "p = " in vit.statistic
    resnet = rows["ResNet: DyT replacing BatchNorm loses"]
    assert "not reproduced" in resnet.verdict  # DyT is not worse in these fixture runs
    assert rows["Without squashing (identity) training diverges"].verdict == "reproduced"
    for claim in ("ConvNeXt: DyT matches LN", "GPT-2 style LM: DyT matches LN", "Squashing: sigmoid instead of tanh is worse"):
        assert rows[claim].ours == NOT_RUN and rows[claim].verdict == NOT_RUN
    assert rows["alpha tracks 1/std of its input"].verdict == NOT_RUN


def test_cli_writes_the_table(tmp_path, capsys):
    out = tmp_path / "REPORT.md"
    main(["--runs", str(tmp_path / "runs"), "--analysis", str(tmp_path / "a"), "--out", str(out)])
    text = out.read_text()
    assert text.count("| not run |") >= 10 and "| claim | paper |" in text
    assert "0 with runs" in capsys.readouterr().out
