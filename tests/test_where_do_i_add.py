"""ARCHITECTURE.md's "Where do I add ..." is a test: a toy norm variant (softsign) and a toy claim, added to a
copy of the repo through exactly the files the docs list, train, and report."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys

import pytest

from tests.conftest import REPO, THREADS

SOFTSIGN = '''

class SoftsignDyT(DyT):
    """``weight * softsign(alpha * x) + bias``: a toy variant (tests/test_where_do_i_add.py)."""

    def squash(self, z: torch.Tensor) -> torch.Tensor:
        return z / (1 + z.abs())
'''
TOY_CLAIM = '''
CLAIMS.append(Claim("Toy: softsign matches DyT", "ablation", "—", "python -m dyt.train -m norm=dyt,softsign",
                    "vit", Arm("norm=dyt", "trainer=smoke", "model.kwargs.depth=1", "data.val_limit=512"),
                    Arm("norm=softsign", "trainer=smoke", "model.kwargs.depth=1", "data.val_limit=512")))
'''


def _docs_list(kind: str) -> str:
    text = (REPO / "ARCHITECTURE.md").read_text()
    return re.search(rf"- \*\*{kind}\*\*:(.*?)(?=\n- \*\*|\Z)", text, re.S).group(1)


def test_the_docs_name_every_file_a_variant_and_a_claim_touch():
    variant, claim = _docs_list("a norm variant"), _docs_list("a claim")
    for needle in ("dyt/nn/variants.py", "_CHANNELS_LAST", "conf/norm/<name>.yaml", "SQUASH", "tests/test_variants.py",
                   "ABLATION_NORMS"):
        assert needle in variant, needle
    for needle in ("conf/experiment/", "dyt/reports/registry.py", "make report-claims", "DYT_UPDATE_GOLDEN=1"):
        assert needle in claim, needle


@pytest.mark.slow
def test_a_toy_variant_and_a_toy_claim_through_the_documented_files(tmp_path):
    repo = tmp_path / "repo"
    shutil.copytree(REPO / "dyt", repo / "dyt", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(REPO / "conf", repo / "conf")
    (repo / "data").symlink_to(REPO / "data")
    # a norm variant: its class and its line in _CHANNELS_LAST (dyt/nn/variants.py), conf/norm/<name>.yaml
    variants = repo / "dyt" / "nn" / "variants.py"
    text = variants.read_text().replace("\n\nclass FixedAlpha:", SOFTSIGN + "\n\nclass FixedAlpha:", 1)
    variants.write_text(text.replace('    "dyisru": DyISRU,\n', '    "dyisru": DyISRU,\n    "softsign": SoftsignDyT,\n', 1))
    derf = (REPO / "conf" / "norm" / "derf.yaml").read_text().splitlines()
    (repo / "conf" / "norm" / "softsign.yaml").write_text(
        "\n".join(["# softsign: a toy variant", "name: softsign", derf[2], derf[3].replace("derf-", "softsign-")]) + "\n")
    # a claim: one Claim(...) in dyt/reports/registry.py
    registry = repo / "dyt" / "reports" / "registry.py"
    registry.write_text(registry.read_text() + TOY_CLAIM)
    env_python = [sys.executable]
    common = ["experiment=vit", "trainer=smoke", "model.kwargs.depth=1", "data.val_limit=512", "logger=none",
              f"trainer.threads={THREADS}"]
    for norm in ("dyt", "softsign"):
        proc = subprocess.run([*env_python, "-m", "dyt.train", *common, f"norm={norm}"], cwd=repo, capture_output=True,
                              text=True, timeout=1800)
        assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    check = ("from dyt.run.schema import compose; from dyt.run.spec import build_spec; from dyt.run.builders import "
             "build_model; from dyt import count_norms; from dyt.run.norms import NORMS; "
             "m = build_model(build_spec(compose('experiment=vit', 'norm=softsign', 'model.kwargs.depth=1'))).model; "
             "print(count_norms(m), 'softsign' in NORMS)")
    proc = subprocess.run([*env_python, "-c", check], cwd=repo, capture_output=True, text=True, timeout=600)
    assert proc.stdout.strip() == "{'SoftsignDyT': 3} True", proc.stdout + proc.stderr
    report = repo / "REPORT.md"
    proc = subprocess.run([*env_python, "-m", "dyt.reports.claims", "--runs", "runs", "--analysis", "results/analysis",
                           "--out", str(report), "--fresh"], cwd=repo, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    row = next(line for line in report.read_text().splitlines() if line.startswith("| Toy: softsign matches DyT"))
    assert "softsign-a0.5+val_limit-512+depth-1+trainer-smoke:" in row and "not run" not in row, row
