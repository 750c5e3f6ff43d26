#!/usr/bin/env python3
"""The reference values of Tests/ConvKitTests/RandomFilterStudyTests.swift's statistics tests:
Welch's t and degrees of freedom (scipy.stats.ttest_ind with equal_var=False) and the
least-squares slope with its standard error (scipy.stats.linregress), and the pooled standard
deviation of several groups (from scipy.stats.ttest_ind with equal_var=True, which pools two).

Run: python3 scripts/statistics_values.py
"""
import numpy as np
from scipy import stats

for a, b in [([0.93, 0.935, 0.94], [0.92, 0.925, 0.93]), ([0.90, 0.95, 0.80, 0.85], [0.91, 0.99, 0.70])]:
    result = stats.ttest_ind(a, b, equal_var=False)
    va, vb = np.var(a, ddof=1) / len(a), np.var(b, ddof=1) / len(b)
    df = (va + vb) ** 2 / (va ** 2 / (len(a) - 1) + vb ** 2 / (len(b) - 1))
    print(f"welch {a} {b}: t = {result.statistic!r}, df = {df!r}, t(0.975, df) = {stats.t.ppf(0.975, np.floor(df))!r}")
fit = stats.linregress([0, 1, 2, 3], [0.1, 0.3, 0.2, 0.5])
print(f"slope: {fit.slope!r}, stderr {fit.stderr!r}, t = {fit.slope / fit.stderr!r}, t(0.975, 2) = {stats.t.ppf(0.975, 2)!r}")
g1, g2 = [0.93, 0.935, 0.94], [0.92, 0.925, 0.93, 0.91]
pooled_t = stats.ttest_ind(g1, g2, equal_var=True).statistic
sp = (np.mean(g1) - np.mean(g2)) / (pooled_t * np.sqrt(1 / 3 + 1 / 4))
print(f"pooled sd of {g1} and {g2}: {sp!r}, df 5; one run 0.95 against {g1}: "
      f"difference {0.95 - np.mean(g1)!r}, standard error {sp * np.sqrt(1 + 1 / 3)!r}, t(0.975, 5) = {stats.t.ppf(0.975, 5)!r}")
