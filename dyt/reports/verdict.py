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

from dyt.reports.stats import ALPHA, EQUIVALENCE_MARGIN, tost, welch

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
    def margin(self) -> float | None:
        """The equivalence margin of the metric (``stats.EQUIVALENCE_MARGIN``); None: no match can be shown."""
        return EQUIVALENCE_MARGIN.get(self.metric)

    @property
    def tost_p(self) -> float:
        return tost(self.base, self.other, self.margin) if self.margin is not None else math.nan

    @property
    def equivalent(self) -> bool:
        """Equivalent within the margin by TOST at ``ALPHA``: what "matches" needs (not a non-significant t-test)."""
        return math.isfinite(self.tost_p) and self.tost_p < ALPHA

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


def _collapse_verdict(c: Comparison, expect: str, other: str, base: str = "the baseline") -> str | None:
    """Runs that learned nothing but label frequencies are not compared: a match or a gain with one of them in
    it says nothing about the claim. Counted over completed runs; any collapsed run of the claimed arm sinks a
    match or a gain (as a diverged one does), any collapsed run of the baseline makes the test uninformative."""
    n_base, n_other = c.collapsed
    if not (n_base or n_other):
        return None
    if n_base == len(c.base) and n_other == len(c.other):
        return "inconclusive: both arms collapsed to the chance level (nothing learned beyond label frequencies)"
    if expect == "neutral":
        return (f"**{other}: {n_other} of {len(c.other)} runs collapsed to the chance level**" if n_other
                else f"{base} collapsed to the chance level in {n_base} of {len(c.base)} runs")
    if n_base:
        return f"inconclusive: {n_base} of {len(c.base)} runs of {base} collapsed to the chance level"
    if n_other and expect in ("match", "better"):
        return f"**not reproduced**: {n_other} of {len(c.other)} runs of {other} collapsed to the chance level"
    return None  # a claimed loss with collapsed runs of the claimed arm: the numbers say how much worse


def verdict(c: Comparison, expect: str, other: str = "the arm", base: str = "the baseline") -> str:
    """What ``c`` says about a claim that the other arm ``expect``s (match | better | worse) the base, or, for
    ``neutral``, what it shows. Bold marks a claim that does not hold, or (neutral) an arm that did not train."""
    if expect not in EXPECTATIONS:
        raise ValueError(f"unknown expectation {expect!r}: choose one of {', '.join(EXPECTATIONS)}")
    what = " and ".join(f"{n} {w}" for n, w in ((c.diverged, "diverged"), (c.failed, "failed")) if n)
    if c.bad and expect == "worse" and not c.other:
        return f"reproduced: {other} did not train ({what} run(s))"  # the strongest form of worse
    if c.bad and expect != "worse":  # a claimed match or gain does not hold if the arm cannot even train
        return f"**{other}: {what} run(s)**" if expect == "neutral" else f"**not reproduced**: {what} run(s) of {other}"
    said = _collapse_verdict(c, expect, other, base)
    if said is not None:
        return said
    if not c.testable:
        few = len(c.base) < 2 or len(c.other) < 2
        return "inconclusive: fewer than 2 completed seeds per arm" if few else "inconclusive: no spread over seeds to test"
    direction = "better" if c.better else "worse"
    if expect == "neutral":
        return f"{other} is significantly {direction} {LEVEL}" if c.significant else f"no significant difference {LEVEL}"
    if expect == "match" and c.equivalent:
        return f"reproduced: equivalent within ±{c.margin:g} (TOST p = {c.tost_p:.2g})"
    if c.significant:
        claimed = expect == "match" or (expect == "better") == c.better
        held = {"match": "better" if c.better else None, "better": "better", "worse": "worse"}[expect]
        if claimed and held:
            return f"reproduced: {other} significantly {held} {LEVEL}"
        return f"**not reproduced**: {other} significantly {direction} {LEVEL}"
    if expect == "match":
        margin = f"±{c.margin:g}" if c.margin is not None else "a margin (none set for this metric)"
        return (f"inconclusive: no significant difference {LEVEL}, but equivalence within {margin} is not shown"
                + (f" (TOST p = {c.tost_p:.2g})" if math.isfinite(c.tost_p) else ""))
    wanted = c.better if expect == "better" else (not c.better and c.diff != 0)
    if wanted:
        return f"inconclusive: {expect} but not significant {LEVEL}"
    return f"**not reproduced**: {other} not {expect}"
