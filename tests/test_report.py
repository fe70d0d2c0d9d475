import csv
import json

import pytest
import yaml
from scipy import stats

from dyt.reports.experiment import report
from dyt.reports.verdict import compare, verdict

ACC = {"ln": [86.0, 86.4, 85.8], "dyt-a0.5": [80.1, 79.5, 80.9]}


def _fake_run(root, tag, seed, acc, status="completed", name="vit", loss=0.1):
    run = root / name / tag / f"seed{seed}"
    run.mkdir(parents=True)
    norm = {"name": tag.split("-")[0], "tag": tag, "alpha_init": 0.5}
    (run / "config.yaml").write_text(yaml.safe_dump({"name": name, "seed": seed, "norm": norm}))
    rows = [{"step": s, "train/loss": 2.0 / s, "val/loss": 1.0 / s, "val/acc1": acc * s / 10} for s in range(1, 11)]
    if norm["name"] == "dyt":
        rows[-1].update({"alpha/blocks.0.norm1": 0.5 + seed / 10, "alpha/fc_norm": 0.7})
    (run / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    summary = {"status": status, "step": 10, "epochs": 1.0, "final/val/acc1": acc, "final/val/loss": loss,
               "final/train_loss": 0.2, "train_seconds": 5.0, "samples_per_second": 100.0, "device": "cpu",
               "versions": {"torch": "x"}}
    (run / "summary.json").write_text(json.dumps(summary))


@pytest.fixture
def runs(tmp_path):
    root = tmp_path / "runs"
    for tag, accs in ACC.items():
        for seed, acc in enumerate(accs):
            _fake_run(root, tag, seed, acc)
    return root


def test_report_writes_table_curves_and_verdict(runs, tmp_path):
    out = report("vit", runs, tmp_path / "results")
    assert (out / "curves.png").stat().st_size > 10_000
    rows = list(csv.DictReader(open(out / "summary.csv")))
    assert [(r["arm"], r["seed"]) for r in rows] == [("ln", "0"), ("ln", "1"), ("ln", "2"),
                                                       ("dyt-a0.5", "0"), ("dyt-a0.5", "1"), ("dyt-a0.5", "2")]
    assert float(rows[3]["val_acc1"]) == 80.1
    text = (out / "README.md").read_text()
    assert "| ln | 3 (3) | 0.1000 ± 0.0000 | 86.07 ± 0.31 |" in text
    t, p = stats.ttest_ind(ACC["dyt-a0.5"], ACC["ln"], equal_var=False)
    assert f"Welch's t = {t:.2f}, p = {p:.3g}" in text
    claim = next(ln for ln in text.splitlines() if ln.startswith("| ViT: DyT matches LN |"))  # the registry's claim
    assert "**not reproduced**: dyt-a0.5 significantly worse at the 5% level" in claim
    assert "- dyt-a0.5 vs ln: " in text and "n = 3 vs 3: dyt-a0.5 is significantly worse at the 5% level." in text
    assert "α = 0.05" not in text  # α is DyT's scalar here
    assert "| ViT-B | 82.3 | 82.5 |" in text  # the paper beside ours
    assert "learned alpha at the end (min–max over layers and seeds): dyt-a0.5 0.50–0.70" in text


def test_diverged_runs_are_marked_not_averaged(runs, tmp_path):
    _fake_run(runs, "dyt-a4.0", 0, 10.0, status="diverged")
    text = (report("vit", runs, tmp_path / "r") / "README.md").read_text()
    assert "| dyt-a4 | 1 (0) | nan ± nan | nan ± nan |" in text  # an old spelling reads as today's arm (dyt-a4)
    assert "**dyt-a4: 1 diverged run(s)**" in text


def test_one_verdict_function_words_every_expectation():
    same, gain = compare([80, 81, 82], [80.5, 81.2, 81.8], "val/acc1"), compare([80.0, 80.1, 80.2], [85.0, 85.1, 85.2], "val/acc1")
    loss = compare([80.0, 80.1, 80.2], [75.0, 75.1, 75.2], "val/acc1")
    assert verdict(same, "match").startswith("inconclusive: no significant difference at the 5% level, but equivalence "
                                             "within ±0.5 is not shown")  # n.s. is not a match
    tight = compare([80.0, 80.1, 80.2], [80.05, 80.1, 80.15], "val/acc1")
    assert verdict(tight, "match").startswith("reproduced: equivalent within ±0.5 (TOST p = ")
    assert verdict(gain, "match") == verdict(gain, "better") == "reproduced: the arm significantly better at the 5% level"
    assert verdict(loss, "match", "dyt") == verdict(loss, "better", "dyt") == \
        "**not reproduced**: dyt significantly worse at the 5% level"
    assert verdict(loss, "worse", "dyt") == "reproduced: dyt significantly worse at the 5% level"
    assert verdict(gain, "worse", "dyt") == "**not reproduced**: dyt significantly better at the 5% level"
    assert verdict(loss, "neutral", "dyt") == "dyt is significantly worse at the 5% level"
    # the right direction without significance is inconclusive for "better" and "worse" alike
    up, down = compare([80, 81, 82], [80.5, 81.2, 81.8], "val/acc1"), compare([80, 81, 82], [79.5, 80.2, 80.8], "val/acc1")
    assert verdict(up, "better") == "inconclusive: better but not significant at the 5% level"
    assert verdict(down, "worse") == "inconclusive: worse but not significant at the 5% level"
    assert verdict(down, "better", "dyt") == "**not reproduced**: dyt not better"
    assert verdict(up, "worse", "dyt") == "**not reproduced**: dyt not worse"
    wide = compare([80.0, 80.2], [60.0, 70.0], "val/acc1")  # not significant (1 df), but a gap of 4 pooled stds
    assert verdict(wide, "match").startswith("inconclusive: no significant difference at the 5% level, but equivalence")
    assert verdict(compare([80.0], [81.0], "val/acc1"), "match").startswith("inconclusive: fewer than 2")
    assert verdict(compare([80, 80], [80, 80], "val/acc1"), "match") == "inconclusive: no spread over seeds to test"
    assert verdict(compare([80, 81], [70, 71], "val/acc1", diverged=1), "match") == "**not reproduced**: 1 diverged run(s) of the arm"
    assert verdict(compare([80, 81], [], "val/acc1", diverged=3), "worse", "dyt") == "reproduced: dyt did not train (3 diverged run(s))"
    lower = compare([2.0, 2.01, 2.02], [2.5, 2.51, 2.52], "val/loss", higher_is_better=False)
    assert verdict(lower, "match").startswith("**not reproduced**: the arm significantly worse")  # higher loss is worse


def test_no_runs_is_an_error_naming_the_fix(tmp_path):
    with pytest.raises(FileNotFoundError, match="make reproduce-vit"):
        report("vit", tmp_path, tmp_path / "out")
    with pytest.raises(FileNotFoundError, match="unknown experiment 'vitt'"):
        report("vitt", tmp_path, tmp_path / "out")


def test_several_experiments_each_against_their_own_baseline_on_loss(tmp_path):
    for seed, (a, b, c, d) in enumerate([(2.0, 2.5, 2.1, 2.11), (2.02, 2.6, 2.12, 2.09), (2.01, 2.55, 2.08, 2.1)]):
        _fake_run(tmp_path, "ln", seed, 50, name="gpt", loss=a)
        _fake_run(tmp_path, "dyt-aauto", seed, 40, name="gpt", loss=b)
        _fake_run(tmp_path, "rmsnorm", seed, 50, name="llama", loss=c)
        _fake_run(tmp_path, "dyt-aauto", seed, 50, name="llama", loss=d)
    text = (report("gpt", tmp_path, tmp_path / "out") / "README.md").read_text()
    assert "| gpt: ln | 3 (3) | 2.0100 ± 0.0100 |" in text and "| llama: rmsnorm |" in text
    verdicts = [ln for ln in text.splitlines() if ln.startswith("- `")]
    assert verdicts[0].startswith("- `gpt`: dyt-aauto vs ln") and "significantly worse" in verdicts[0]
    assert verdicts[1].startswith("- `llama`: dyt-aauto vs rmsnorm") and "no significant difference" in verdicts[1]
    llama = next(ln for ln in text.splitlines() if ln.startswith("| LLaMA style LM: DyT matches RMSNorm |"))
    assert "inconclusive: no significant difference at the 5% level, but equivalence within ±0.02 is not shown" in llama
    assert "lower is better" in text


def test_init_scales_script_prints_the_quoted_scales():
    import subprocess
    import sys

    from tests.conftest import REPO

    out = subprocess.run([sys.executable, "scripts/init_scales.py", "experiment=vit", "norm=dyt"], cwd=REPO,
                         capture_output=True, text=True, timeout=1800)
    assert out.returncode == 0, out.stderr[-2000:]
    line = next(ln for ln in out.stdout.splitlines() if ln.strip().startswith("blocks.0.norm1"))
    inp, outp = float(line.split("input std ")[1].split()[0]), float(line.split("output std ")[1])
    assert 0.5 < inp < 0.7 and outp == pytest.approx(inp * 0.5, rel=0.15)  # tanh(0.5 x) ~ 0.5 x for small x
