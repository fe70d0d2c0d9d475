"""results/REPORT.md: rows come from run dirs; a claim without runs says "not run", never a number."""

import json

import yaml

from dyt.reports.claims import NOT_RUN, RESULTS_BEGIN, RESULTS_END, build_rows, main


def fake_run(root, folder, norm_name, tag, seed, acc, loss=1.0, status="completed", collapsed=False):
    """A run dir as dyt.train leaves it (config.yaml + summary.json): fixture data for the report generator."""
    run_dir = root / folder / tag / f"seed{seed}"
    run_dir.mkdir(parents=True)
    config = {"name": folder, "seed": seed, "norm": {"name": norm_name, "tag": tag, "alpha_init": 0.5},
              "model": {"family": "vit", "arch": "x", "kwargs": {}}}
    (run_dir / "config.yaml").write_text(yaml.safe_dump(config))
    summary = {"status": status, "step": 10}
    if status == "completed":
        summary.update({"final/val/acc1": acc, "final/val/loss": loss, "collapsed": collapsed})
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


def test_collapsed_runs_are_flagged_and_never_compared_as_if_they_trained(tmp_path):
    """A DyT seed at the chance level sinks "matches"; a collapsed baseline makes the comparison uninformative."""
    for seed, dyt in enumerate([86.1, 10.0, 86.0]):
        fake_run(tmp_path, "vit", "ln", "ln", seed, 86.0 + 0.1 * seed)
        fake_run(tmp_path, "vit", "dyt", "dyt-a0.5", seed, dyt, collapsed=dyt == 10.0)
        fake_run(tmp_path, "convnext", "ln", "ln", seed, 10.0, collapsed=True)
        fake_run(tmp_path, "convnext", "dyt", "dyt-a0.5", seed, 85.0 + 0.1 * seed)
    rows = {r.claim: r for r in build_rows(tmp_path, tmp_path / "no-analysis")}
    vit, convnext = rows["ViT: DyT matches LN"], rows["ConvNeXt: DyT matches LN"]
    assert "1 collapsed" in vit.ours and vit.verdict.startswith("**not reproduced**") and "collapsed" in vit.verdict
    assert "ln: 10 ± 0 (n = 3, collapsed)" in convnext.ours
    assert convnext.verdict.startswith("inconclusive") and "collapsed" in convnext.verdict


def test_cli_writes_the_table(tmp_path, capsys):
    out = tmp_path / "REPORT.md"
    main(["--runs", str(tmp_path / "runs"), "--analysis", str(tmp_path / "a"), "--out", str(out)])
    text = out.read_text()
    assert text.count("| not run |") >= 10 and "| claim | paper |" in text
    assert "0 with runs" in capsys.readouterr().out


def test_analysis_rows_read_what_dyt_analysis_writes(tmp_path):
    """Tables written by dyt.analysis.scurve's and dyt.analysis.alpha_std's own writers."""
    from dyt.reports.analysis import alpha_std, scurve
    from tests.test_analysis import _metrics_fixture

    out = tmp_path / "analysis"
    out.mkdir()
    # ViT: S-ness falls with depth (as our small ViT shows); 90%+ of points linear
    rows = [{"layer": f"blocks.{i}.norm1", "index": i, "points": 100, "input_std": 1.0, "input_absmax": 4.0 + i,
             "fit_a": 1.0, "fit_b": 1.0, "r2_tanh": 0.95 - 0.01 * i, "r2_line": 0.90, "frac_linear": 0.92 + 0.01 * i,
             "frac_transition": 0.05, "frac_squashed": 0.03 - 0.005 * i, "absmax_a_x": 4.0} for i in range(6)]
    scurve.write_table(rows, out / "scurves_vit.csv", out / "scurves_vit.md", "vit")
    runs = [tmp_path / "runs" / "dyt" / f"seed{i}" for i in range(2)]
    for run in runs:
        _metrics_fixture(run, alpha_of_std=lambda std: std)  # alpha grows with std: anti-correlated with 1/std
    alpha_std.alpha_vs_std(runs, out)
    rows = {r.claim: r for r in build_rows(tmp_path / "runs", out)}
    linear = rows["LN's mapping: ~99% of points in the linear middle"]
    assert linear.verdict == "reproduced" and "vit: 94.5% linear (layers 92–97%)" in linear.ours and "gpt" not in linear.ours
    extreme = rows["LN squashes a few extreme values"]
    assert extreme.verdict.startswith("inconclusive: no input beyond |x| = 50") and "max |x| 9" in extreme.ours
    depth = rows["LN: early layers linear, deeper layers tanh-like S-curves"]
    assert depth.verdict == "**not reproduced**" and "ρ = -1.00" in depth.ours
    alpha = rows["alpha tracks 1/std of its input"]
    assert alpha.verdict == "**not reproduced**: negative correlation in every run", alpha
    assert "(2 run(s))" in alpha.ours and "each p < 0.05: 2/2" in alpha.statistic


def test_report_has_one_section_per_experiment_and_escapes_pipes(tmp_path):
    for seed, (a, b) in enumerate([(76.0, 85.0), (77.5, 85.4), (75.8, 84.9)]):
        fake_run(tmp_path / "runs", "vit", "dyt", "dyt-a0.5", seed, a)
        fake_run(tmp_path / "runs", "vit", "dyt", "dyt-cal1", seed, b)
    rows = {r.claim: r for r in build_rows(tmp_path / "runs", tmp_path / "a")}
    better = rows["Calibrated alpha beats the paper's 0.5 in a ViT (ours)"]
    assert better.verdict == "reproduced: dyt-cal1 significantly better at the 5% level" and better.section == "calibrated_alpha"
    out = tmp_path / "REPORT.md"
    main(["--runs", str(tmp_path / "runs"), "--analysis", str(tmp_path / "a"), "--out", str(out)])
    text = out.read_text()
    headings = [line for line in text.splitlines() if line.startswith("## ")]
    assert headings == ["## vit", "## convnext", "## gpt", "## resnet", "## analysis", "## ablation", "## sweep_alpha",
                        "## calibrated_alpha", "## regime", "## speed"]
    assert "](../experiments/resnet/README.md)" in text
    assert "\\|x\\| > 50" in text  # the paper's "|x| > 50" inside a table cell
    for line in text.splitlines():
        if line.startswith("| ") and "claim" not in line:
            assert line.replace("\\|", "").count("|") == 7, line  # six cells per row


def test_a_toy_claim_added_to_the_registry_alone_appears_in_the_report(tmp_path, monkeypatch):
    """Adding a claim = one registry entry: its arms by config (resolved to run-dir labels), no other code."""
    from dyt.reports import registry
    from dyt.reports.registry import Arm, Claim

    for seed, (a, b) in enumerate([(80.0, 81.0), (80.2, 81.3), (79.9, 80.8)]):
        fake_run(tmp_path / "runs", "vit", "dyt", "dyt-a0.5", seed, a)
        fake_run(tmp_path / "runs", "vit", "dyt", "dyt-a2", seed, b)
    toy = Claim("Toy: alpha 2 beats alpha 0.5", "vit", "—", "python -m dyt.train -m norm=dyt norm.alpha_init=0.5,2",
                "vit", Arm("norm=dyt"), Arm("norm=dyt", "norm.alpha_init=2"), expect="better", headline=True)
    monkeypatch.setattr(registry, "CLAIMS", [*registry.CLAIMS, toy])
    out = tmp_path / "REPORT.md"
    main(["--runs", str(tmp_path / "runs"), "--analysis", str(tmp_path / "a"), "--out", str(out)])
    row = next(line for line in out.read_text().splitlines() if line.startswith("| Toy: alpha 2 beats alpha 0.5 |"))
    assert "dyt-a0.5: 80.03 ± 0.15 (n = 3); dyt-a2: 81.03 ± 0.25 (n = 3)" in row
    assert "reproduced: dyt-a2 significantly better at the 5% level" in row
    readme = tmp_path / "README.md"
    readme.write_text(f"intro\n{RESULTS_BEGIN}\nstale\n{RESULTS_END}\noutro\n")
    main(["--readme", str(readme), "--out", str(out)])
    text = readme.read_text()
    assert text.startswith("intro\n") and text.endswith("outro\n") and "stale" not in text
    assert "| Toy: alpha 2 beats alpha 0.5 |" in text and "([vit](experiments/vit/README.md))" in text


def test_rows_whose_runs_are_elsewhere_are_carried_over_marked(tmp_path, capsys):
    for seed, (ln, dyt) in enumerate([(86.0, 76.0), (86.2, 77.5), (85.9, 75.8)]):
        fake_run(tmp_path / "runs", "vit", "ln", "ln", seed, ln)
        fake_run(tmp_path / "runs", "vit", "dyt", "dyt-a0.5", seed, dyt)
    out = tmp_path / "REPORT.md"
    main(["--runs", str(tmp_path / "runs"), "--analysis", str(tmp_path / "a"), "--out", str(out)])
    first = next(ln for ln in out.read_text().splitlines() if ln.startswith("| ViT: DyT matches LN |"))
    main(["--runs", str(tmp_path / "elsewhere"), "--analysis", str(tmp_path / "a"), "--out", str(out)])
    text = out.read_text()
    carried = next(ln for ln in text.splitlines() if ln.startswith("| ViT: DyT matches LN |"))
    assert "| † ln: 86.03 ± 0.15 (n = 3)" in carried and carried.split(" | ")[3:] == first.split(" | ")[3:]
    assert "† Carried over from the previous REPORT.md" in text and "0 with runs here, 2 carried over" in capsys.readouterr().out
    main(["--runs", str(tmp_path / "elsewhere"), "--analysis", str(tmp_path / "a"), "--out", str(out)])
    assert "| † ln:" in out.read_text() and "| † † ln:" not in out.read_text()  # marked once, however often carried
    main(["--runs", str(tmp_path / "elsewhere"), "--analysis", str(tmp_path / "a"), "--out", str(out), "--fresh"])
    assert "†" not in out.read_text()
    main(["--runs", str(tmp_path / "runs"), "--analysis", str(tmp_path / "a"), "--out", str(out)])
    half = tmp_path / "half"  # only the LN arm trained again: the previous complete pair stands
    (half / "vit").mkdir(parents=True)
    (tmp_path / "runs" / "vit" / "ln").rename(half / "vit" / "ln")
    main(["--runs", str(half), "--analysis", str(tmp_path / "a"), "--out", str(out)])
    row = next(ln for ln in out.read_text().splitlines() if ln.startswith("| ViT: DyT matches LN |"))
    assert row.split(" | ")[2:] == ["† " + first.split(" | ")[2], *first.split(" | ")[3:]]
