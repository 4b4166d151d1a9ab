#!/usr/bin/env python3
"""The faiss (and hnswlib) side of the kernel comparisons in performance-anchors.md, on
the same data as simctl's own measurements. Not a crate dependency and not run in CI:

    pip install faiss-cpu numpy hnswlib        # hnswlib optional
    cargo run --release --example anchor_data -- /tmp/anchor
    python3 benches/faiss_compare.py /tmp/anchor

Everything runs on one thread. simctl's side of the same cases:

    cargo bench --bench kernels -- topk          # flat top-10, 1M x 128, nq=1 and nq=100
    cargo test --release --lib -- --ignored measure_against_the_anchors --nocapture

Flat: 1M x 128 filled as benches/kernels.rs fills it (a multiplicative hash of the index,
bit for bit), top-10 with nq=1 and nq=100, faiss's default and with BLAS forced
(distance_compute_blas_threshold = 1). HNSW: M 16, efConstruction 40, efSearch 16..128
on the anchors' low-rank 200k x 128 set written by the anchor_data example.
"""

import sys
import time

import numpy as np

import faiss


def hashed(n):
    """benches/kernels.rs `filled`: (i * 2654435761 mod 2^32) as f32 / 2^32."""
    i = np.arange(n, dtype=np.uint32) * np.uint32(2_654_435_761)
    return i.astype(np.float32) * np.float32(1.0 / 4_294_967_296.0)


def read_fvecs(path):
    raw = np.fromfile(path, dtype=np.int32)
    dim = raw[0]
    return raw.reshape(-1, dim + 1)[:, 1:].copy().view(np.float32)


def per_second(fn, count, min_seconds=1.0):
    runs, start = 0, time.perf_counter()
    while True:
        fn()
        runs += 1
        elapsed = time.perf_counter() - start
        if elapsed >= min_seconds:
            return runs * count / elapsed


def flat(rows=1_000_000, dim=128, k=10):
    data = hashed(rows * dim).reshape(rows, dim)
    queries = hashed((rows + 100) * dim)[rows * dim:].reshape(100, dim)
    index = faiss.IndexFlatL2(dim)
    index.add(data)
    for blas, label in [(faiss.cvar.distance_compute_blas_threshold, "default"), (1, "BLAS forced")]:
        faiss.cvar.distance_compute_blas_threshold = blas
        for nq in [1, 100]:
            qps = per_second(lambda: index.search(queries[:nq], k), nq)
            print(f"flat {rows} x {dim} top-{k} nq={nq:<3} faiss {label:<11}: {qps:9.1f} q/s")


def recall(found, truth, k=10):
    return np.mean([len(set(f[:k]) & set(t[:k])) / k for f, t in zip(found, truth)])


def hnsw(directory, m=16, ef_construction=40, k=10):
    base = read_fvecs(f"{directory}/base.fvecs")
    queries = read_fvecs(f"{directory}/query.fvecs")
    rows, dim = base.shape
    exact = faiss.IndexFlatL2(dim)
    exact.add(base)
    _, truth = exact.search(queries, k)

    index = faiss.IndexHNSWFlat(dim, m)
    index.hnsw.efConstruction = ef_construction
    start = time.perf_counter()
    index.add(base)
    build_us = (time.perf_counter() - start) * 1e6 / rows
    print(f"HNSW {rows} x {dim} M{m} efC{ef_construction}: faiss build {build_us:.1f} us/insert")
    for ef in [16, 32, 64, 128]:
        index.hnsw.efSearch = ef
        _, found = index.search(queries, k)
        qps = per_second(lambda: index.search(queries, k), len(queries))
        print(f"  faiss   ef {ef:<3}: {qps:8.0f} q/s, recall@{k} {recall(found, truth, k):.4f}")

    try:
        import hnswlib
    except ImportError:
        print("  hnswlib not installed; skipped")
        return
    graph = hnswlib.Index(space="l2", dim=dim)
    graph.init_index(max_elements=rows, M=m, ef_construction=ef_construction, random_seed=42)
    graph.set_num_threads(1)
    start = time.perf_counter()
    graph.add_items(base, np.arange(rows))
    build_us = (time.perf_counter() - start) * 1e6 / rows
    print(f"  hnswlib build {build_us:.1f} us/insert")
    for ef in [16, 32, 64, 128]:
        graph.set_ef(max(ef, k))
        found, _ = graph.knn_query(queries, k=k)
        qps = per_second(lambda: graph.knn_query(queries, k=k), len(queries))
        print(f"  hnswlib ef {ef:<3}: {qps:8.0f} q/s, recall@{k} {recall(found, truth, k):.4f}")


def main():
    faiss.omp_set_num_threads(1)
    flat()
    if len(sys.argv) > 1:
        hnsw(sys.argv[1])
    else:
        print("give the anchor_data directory to compare HNSW too")


if __name__ == "__main__":
    main()
