"""The one verdict function: two arms' final metrics over seeds -> the statistic and what it says.

``compare`` computes the difference of means and Welch's t-test; ``verdict`` turns it into words for an
expectation: ``match`` (the paper says the arm matches the baseline), ``better``, ``worse`` (a claimed
difference), or ``neutral`` (no claim: what we see). Every report, REPORT.md and each
``results/<experiment>/README.md``, words its verdicts here, at one significance level.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from dyt.reports.stats import ALPHA, welch

LEVEL = f"at the {ALPHA:.0%} level"  # "at the 5% level"; α is DyT's scalar in this suite
NOT_RUN = "not run"
EXPECTATIONS = ("match", "better", "worse", "neutral")


@dataclass(frozen=True)
class Comparison:
    """Final ``metric`` of the completed runs of two arms; ``bad``: the other arm's runs that diverged or failed."""

    base: tuple[float, ...]
    other: tuple[float, ...]
    metric: str
    higher_is_better: bool = True
    diverged: int = 0
    failed: int = 0
    collapsed: tuple[int, int] = (0, 0)  # completed runs at the chance level (dyt.run.data.chance): base, other

    @property
    def diff(self) -> float:
        return float(np.mean(self.other) - np.mean(self.base)) if self.base and self.other else math.nan

    @property
    def welch(self) -> tuple[float, float]:
        return welch(self.base, self.other)

    @property
    def bad(self) -> int:
        return self.diverged + self.failed

    @property
    def testable(self) -> bool:
        return math.isfinite(self.welch[1])

    @property
    def significant(self) -> bool:
        return self.testable and self.welch[1] < ALPHA

    @property
    def better(self) -> bool:
        return self.diff != 0 and (self.diff > 0) == self.higher_is_better

    @property
    def within_noise(self) -> bool:
        """The gap is at most twice the pooled std over seeds: small enough to call a match."""
        if len(self.base) < 2 or len(self.other) < 2:
            return False
        pooled = math.sqrt((np.var(self.base, ddof=1) + np.var(self.other, ddof=1)) / 2)
        return abs(self.diff) <= 2 * pooled

    def statistic(self, long: bool = False) -> str:
        """``Δ val/acc1 = -9.27, Welch t = -13.00, p = 0.0047`` (``long``: 4 digits and the seed counts)."""
        t, p = self.welch
        if long:
            return (f"Δ {self.metric} = {self.diff:+.4g}, Welch's t = {t:.2f}, p = {p:.3g}, "
                    f"n = {len(self.base)} vs {len(self.other)}")
        return f"Δ {self.metric} = {self.diff:+.3g}, Welch t = {t:.2f}, p = {p:.2g}"


def compare(base, other, metric: str, higher_is_better: bool = True, diverged: int = 0, failed: int = 0,
            collapsed: tuple[int, int] = (0, 0)) -> Comparison:
    return Comparison(tuple(float(v) for v in base), tuple(float(v) for v in other), metric, higher_is_better,
                      diverged, failed, collapsed)


def _collapse_verdict(c: Comparison, expect: str, other: str) -> str | None:
    """Arms that learned nothing but label frequencies are not compared: a match or a gain between them says
    nothing about the claim."""
    base_all = c.base and c.collapsed[0] == len(c.base)
    other_all = c.other and c.collapsed[1] == len(c.other)
    if base_all and other_all:
        return "inconclusive: both arms collapsed to the chance level (nothing learned beyond label frequencies)"
    if other_all and expect == "neutral":
        return f"**{other} collapsed to the chance level**"
    if other_all and expect in ("match", "better"):
        return f"**not reproduced**: {other} collapsed to the chance level"
    if base_all and expect in ("better", "worse"):
        return "inconclusive: the baseline collapsed to the chance level"
    return None


def verdict(c: Comparison, expect: str, other: str = "the arm") -> str:
    """What ``c`` says about a claim that the other arm ``expect``s (match | better | worse) the base, or, for
    ``neutral``, what it shows. Bold marks a claim that does not hold."""
    if expect not in EXPECTATIONS:
        raise ValueError(f"unknown expectation {expect!r}: choose one of {', '.join(EXPECTATIONS)}")
    if c.bad and expect != "worse":  # a claimed match or gain does not hold if the arm cannot even train
        what = " and ".join(f"{n} {w}" for n, w in ((c.diverged, "diverged"), (c.failed, "failed")) if n)
        return f"**{other}: {what} run(s)**" if expect == "neutral" else f"**not reproduced**: {what} run(s) of {other}"
    said = _collapse_verdict(c, expect, other)
    if said is not None:
        return said
    if not c.testable:
        return "inconclusive: fewer than 2 completed seeds per arm"
    direction = "better" if c.better else "worse"
    if expect == "neutral":
        return f"{other} is significantly {direction} {LEVEL}" if c.significant else f"no significant difference {LEVEL}"
    if expect == "match":
        if c.significant:
            return f"reproduced: significantly better {LEVEL}" if c.better else f"**not reproduced**: significantly worse {LEVEL}"
        return (f"reproduced: no significant difference {LEVEL}" if c.within_noise
                else "inconclusive: a large gap that these seeds cannot resolve")
    if expect == "better":
        if c.significant:
            return f"reproduced: significantly better {LEVEL}" if c.better else f"**not reproduced**: significantly worse {LEVEL}"
        return f"**not reproduced**: no significant difference {LEVEL}"
    # worse: the paper's negative result
    if c.significant and not c.better:
        return f"reproduced: {other} significantly worse {LEVEL}"
    return f"**not reproduced**: {other} not worse" if c.better or c.diff == 0 else f"inconclusive: worse but not significant {LEVEL}"
