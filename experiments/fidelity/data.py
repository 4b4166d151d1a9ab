"""Deterministic synthetic vectors for the fidelity measurements (described in README.md)."""

import numpy as np

QUERY_COUNT = 1000
CLUSTERS = 100
CLUSTER_SPREAD = 0.25


def make_data(dim, rows, seed, distribution):
    """Deterministic vectors (float32) and queries drawn from the same distribution."""
    rng = np.random.default_rng([seed, dim, rows])
    if distribution == "uniform":
        data = rng.random((rows, dim), dtype=np.float32)
        queries = rng.random((QUERY_COUNT, dim), dtype=np.float32)
        return data, queries
    centers = rng.standard_normal((CLUSTERS, dim), dtype=np.float32)

    def draw(n):
        labels = rng.integers(0, CLUSTERS, n)
        noise = rng.standard_normal((n, dim), dtype=np.float32)
        noise *= CLUSTER_SPREAD
        noise += centers[labels]
        return noise

    return draw(rows), draw(QUERY_COUNT)
