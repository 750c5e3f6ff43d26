#!/usr/bin/env python3
"""Reference values for Tests/ConvKitTests/AnalysisTests.swift, computed with NumPy.

Filter-variance entropy (Gavrikov & Keuper, CNN Filter DB): the filters of a layer as rows of
an n × k² matrix, its singular values s, p = s / sum(s), entropy -sum(p ln p) / ln(k²).

Run: python3 scripts/analysis_values.py
"""
import numpy as np

filters = np.array([[1, 2, 0, -1, 0, 0, 3, 1, 0], [0, 1, 1, 1, 0, -2, 0, 0, 1],
                    [2, 0, 0, 0, 1, 0, 0, -1, -1], [1, 1, 1, 1, 1, 1, 1, 1, 1]], np.float64)
s = np.linalg.svd(filters, compute_uv=False)
p = s / s.sum()
p = p[p > 0]
print(f"variance entropy: {-(p * np.log(p)).sum() / np.log(filters.shape[1]):.13f}")
