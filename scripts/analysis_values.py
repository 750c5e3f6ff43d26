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

# Edge likeness: the best |cosine| between a zero-mean filter and a first-derivative-of-Gaussian
# edge template (sigma = k/4) at 8 orientations.
def templates(k):
    c, sigma = (k - 1) / 2, k / 4
    y, x = np.mgrid[0:k, 0:k] - c
    out = []
    for step in range(8):
        a = step * np.pi / 8
        t = -(x * np.cos(a) + y * np.sin(a)) * np.exp(-(x * x + y * y) / (2 * sigma * sigma))
        t = t.ravel() - t.mean()
        out.append(t / np.linalg.norm(t))
    return out

def edge_likeness(filters):
    k = int(round(np.sqrt(filters.shape[1])))
    total = 0
    for f in filters:
        f = f - f.mean()
        f = f / np.linalg.norm(f)
        total += max(abs(t @ f) for t in templates(k))
    return total / len(filters)

sobel_x = np.array([[-1, 0, 1, -2, 0, 2, -1, 0, 1]], np.float64)
x_shape = np.array([[1, -1, 1, -1, 1, -1, 1, -1, 1]], np.float64)
print(f"edge likeness: Sobel x {edge_likeness(sobel_x):.12f}, X shape {edge_likeness(x_shape):.12f}, both {edge_likeness(np.vstack([sobel_x, x_shape])):.12f}")
