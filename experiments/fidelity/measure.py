"""One measurement each: ingest, a search case, the client overhead; each with its contention."""

import threading
import time

import numpy as np

from data import make_data
from milvus_client import POLL_S

# One insert request carries about this many bytes of vectors (the proxy accepts up to 64 MiB).
INSERT_BATCH_BYTES = 4 << 20


def percentile_ms(values_ns, q):
    return round(float(np.percentile(values_ns, q)) / 1e6, 3) if len(values_ns) else None


def ingest(client, monitor, name, dim, data):
    rows = len(data)
    batch_rows = max(1, INSERT_BATCH_BYTES // (4 * dim))
    schema = client.create_collection(name, dim)
    tolist, convert, rpc = [], [], []
    with monitor.measure() as m:
        t0 = time.monotonic()
        for start in range(0, rows, batch_rows):
            ids = np.arange(start, min(start + batch_rows, rows), dtype=np.int64)
            a, b, c = client.insert(name, schema, ids, data[start:start + len(ids)])
            tolist.append(a)
            convert.append(b)
            rpc.append(c)
        insert_wall_s = time.monotonic() - t0
    insert = {
        "batch_rows": batch_rows,
        "batches": len(rpc),
        "wall_s": round(insert_wall_s, 3),
        "tolist_s": round(sum(tolist) / 1e9, 3),
        "convert_s": round(sum(convert) / 1e9, 3),
        "rpc_s": round(sum(rpc) / 1e9, 3),
        "rows_per_s": round(rows / insert_wall_s, 1),
        "rows_per_s_rpc": round(rows / (sum(rpc) / 1e9), 1),
        "rpc_ms_p50": percentile_ms(rpc, 50),
        "rpc_ms_p99": percentile_ms(rpc, 99),
        "contention": m.result,
    }
    with monitor.measure() as m:
        flush = client.flush(name)
    flush["contention"] = m.result
    flush["segments_after"] = client.persistent_segments(name)
    return insert, flush


def run_search(client, monitor, name, queries, params, settings, nq, concurrency, consistency, min_requests):
    """Closed loop: `concurrency` threads, each issuing its next search when the last returns."""
    query_lists = queries.tolist()
    records = []  # (start_ns, prepare_ns, rpc_ns, parse_ns); list.append is atomic in CPython
    errors = []
    stop = threading.Event()

    def worker(k):
        i = (k * len(query_lists)) // max(concurrency, 1)
        while not stop.is_set():
            batch = [query_lists[(i + j) % len(query_lists)] for j in range(nq)]
            i += nq
            start = time.perf_counter_ns()
            try:
                records.append((start, *client.search_once(name, batch, params, settings["topk"], consistency)))
            except Exception as e:  # recorded in the case's figures, then the case goes on
                errors.append(repr(e))
                time.sleep(0.1)

    with monitor.measure() as m:
        threads = [threading.Thread(target=worker, args=(k,), daemon=True) for k in range(concurrency)]
        for t in threads:
            t.start()
        time.sleep(settings["warmup_s"])
        m.restart_window()
        window_start = time.perf_counter_ns()
        while True:
            time.sleep(POLL_S)
            elapsed_s = (time.perf_counter_ns() - window_start) / 1e9
            counted = sum(1 for r in records[-min_requests - concurrency:] if r[0] >= window_start)
            if elapsed_s >= settings["max_duration_s"]:
                break
            if elapsed_s >= settings["duration_s"] and counted >= min_requests:
                break
        window_end = time.perf_counter_ns()
        stop.set()
        for t in threads:
            t.join()
    window = [r for r in records if window_start <= r[0] < window_end]
    total = [p + r + s for _, p, r, s in window]
    rpc = [r for _, _, r, _ in window]
    window_s = (window_end - window_start) / 1e9
    figures = {
        "requests": len(window),
        "errors": len(errors),
        "window_s": round(window_s, 3),
        "qps": round(len(window) / window_s, 2),
        "latency_ms_p50": percentile_ms(total, 50),
        "latency_ms_p95": percentile_ms(total, 95),
        "latency_ms_p99": percentile_ms(total, 99),
        "latency_ms_mean": round(float(np.mean(total)) / 1e6, 3) if total else None,
        "latency_ms_min": percentile_ms(total, 0),
        "latency_ms_max": percentile_ms(total, 100),
        "rpc_ms_p50": percentile_ms(rpc, 50),
        "rpc_ms_p99": percentile_ms(rpc, 99),
        "client_prepare_ms_p50": percentile_ms([p for _, p, _, _ in window], 50),
        "client_parse_ms_p50": percentile_ms([s for _, _, _, s in window], 50),
    }
    # What one search costs the server in CPU, for calibrating the simulator's cost model.
    figures["server_cpu_ms_per_request"] = (
        round(1000 * m.result["server_cpu_s"] / len(window), 3) if window else None)
    if errors:
        figures["first_error"] = errors[0][:500]
    return figures, m.result


def client_overhead(client, monitor, settings, dims, seed):
    """Searches against a 100-row FLAT collection: what is left is SDK work plus loopback RPC."""
    records = []
    with monitor.measure() as m:
        version_ns = [client.version_rpc_ns() for _ in range(settings["overhead_requests"])]
    records.append({
        "kind": "get_version_rpc",
        "requests": len(version_ns),
        "latency_ms_p50": percentile_ms(version_ns, 50),
        "latency_ms_p99": percentile_ms(version_ns, 99),
        "contention": m.result,
    })
    for dim in dims:
        name = f"fidelity_tiny_d{dim}"
        data, queries = make_data(dim, 100, seed, "uniform")
        schema = client.create_collection(name, dim)
        client.insert(name, schema, np.arange(100, dtype=np.int64), data)
        client.flush(name)
        client.build_index(name, "FLAT", {})
        client.load(name)
        for nq in sorted(set(settings["nq"]) | {1}):
            tiny = dict(settings, warmup_s=0.2, duration_s=0.0, max_duration_s=60.0)
            figures, contention = run_search(client, monitor, name, queries, {}, tiny, nq, 1, "Eventually",
                                             settings["overhead_requests"])
            records.append({
                "kind": "search_tiny_collection",
                "dim": dim, "rows": 100, "index_type": "FLAT", "nq": nq, "topk": settings["topk"],
                "concurrency": 1, "consistency": "Eventually",
                "figures": figures, "contention": contention,
            })
        client.release(name)
        client.drop(name)
    return records


# A probe's Strong search that waits this long has met a stalled tick, not a late one.
PROBE_TIMEOUT_S = 10.0


def tick_age(client, monitor, name, query, params, topk, samples, closed_loop, interval_s=0.2):
    """How old a time tick is when it frees a Strong search: the server start's time-tick phase.

    A Strong search waits for the first tick whose timestamp is past its own. Searches issued at every
    phase of the tick interval (one each `interval_s + interval_s / samples`, so each lands
    `interval_s / samples` later in the interval than the one before) include one issued just before a
    tick's timestamp; it waits for that tick to arrive, so the shortest Strong latency, less the
    Eventually one (the same search without the wait), is the tick's age when it reaches the query node,
    within `interval_s / samples`. The phase of the server's loops (rootcoord's against the proxy's)
    sets it. Each search runs on its own thread at its planned moment, so a long wait does not push the
    next one; every search's moment and latency are kept (`open_loop`).

    With `closed_loop`, then one client in a closed loop, pausing `think` ms after each answer for a
    range of pauses (`closed_loop`): a closed-loop Strong search waits one tick while the tick that
    freed the last one is young enough for the pause and the search, two ticks past it."""
    eventually = [sum(client.search_once(name, [query], params, topk, "Eventually")) for _ in range(10)]
    step_s = interval_s / samples
    strong, errors = [], []

    def one(k):
        issued = time.perf_counter_ns()
        try:
            strong.append((k, issued, sum(client.search_once(name, [query], params, topk, "Strong",
                                                             timeout=PROBE_TIMEOUT_S))))
        except Exception as e:  # noqa: BLE001 - recorded beside the probe
            errors.append(repr(e))

    threads = []
    closed = {}
    with monitor.measure() as m:
        t0 = time.monotonic() + 0.05
        origin = time.perf_counter_ns()
        for k in range(samples):
            delay = t0 + k * (interval_s + step_s) - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            t = threading.Thread(target=one, args=(k,), daemon=True)
            t.start()
            threads.append(t)
        for t in threads:
            t.join()
        for think_ms in range(0, int(interval_s * 1000), 20) if closed_loop else ():
            client.search_once(name, [query], params, topk, "Strong")
            waits = []
            for _ in range(3):
                time.sleep(think_ms / 1000)
                waits.append(round(sum(client.search_once(name, [query], params, topk, "Strong")) / 1e6, 3))
            closed[str(think_ms)] = waits
    if not strong:
        return {"samples": samples, "errors": len(errors), "first_error": errors[0][:500] if errors else None}
    base_ms = float(np.median(eventually)) / 1e6
    latencies = [ns for _, _, ns in strong]
    return {
        "age_ms": round(min(latencies) / 1e6 - base_ms, 3),
        "step_ms": round(step_s * 1e3, 3),
        "strong_ms_min": round(min(latencies) / 1e6, 3),
        "strong_ms_max": round(max(latencies) / 1e6, 3),
        "strong_ms_mean": round(float(np.mean(latencies)) / 1e6, 3),
        "eventually_ms_p50": round(base_ms, 3),
        "samples": len(strong),
        "errors": len(errors),
        "first_error": errors[0][:500] if errors else None,
        "open_loop": [[round((issued - origin) / 1e6, 3), round(ns / 1e6, 3)] for _, issued, ns in sorted(strong)],
        "closed_loop": closed if closed_loop else None,
        "contention": m.result,
    }
