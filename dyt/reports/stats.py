"""The statistics every report uses: mean ± std over seeds, Welch's t-test, the significance level."""

from __future__ import annotations

import math

import numpy as np

ALPHA = 0.05  # significance level of every verdict


def mean_std(values) -> tuple[float, float]:
    values = np.asarray([v for v in values if v is not None and math.isfinite(v)], dtype=float)
    if len(values) == 0:
        return math.nan, math.nan
    return float(values.mean()), float(values.std(ddof=1)) if len(values) > 1 else 0.0


def welch(a, b) -> tuple[float, float]:
    """Welch's t statistic and two-sided p-value of mean(b) - mean(a)."""
    from scipy import stats

    a, b = np.asarray(a, float), np.asarray(b, float)
    if len(a) < 2 or len(b) < 2:
        return math.nan, math.nan
    res = stats.ttest_ind(b, a, equal_var=False)
    return float(res.statistic), float(res.pvalue)
