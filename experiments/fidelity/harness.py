"""Measure the real Milvus 2.3 standalone on this machine, for simctl's fidelity checks.

Starts the server from the PyPI package `milvus` on 127.0.0.1 (inside a private network
namespace when it can), ingests deterministic synthetic vectors, builds each index, loads it, and
measures search latency and throughput over a grid of cases. Every figure carries how busy the
rest of the machine was while it was taken. The output format is documented in README.md.

    python harness.py --quick --out results.json
"""

import argparse
import datetime
import json
import os
import platform
import shutil
import signal
import subprocess
import sys
import threading
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

from contention import Monitor  # noqa: E402
from server import LOOPBACK, MilvusStandalone  # noqa: E402

SCHEMA = "simctl-fidelity-results/1"
NETNS_ENV = "FIDELITY_IN_PRIVATE_NETNS"
FIELD_ID = "id"
FIELD_VECTOR = "vec"
INDEX_NAME = "vec_idx"
METRIC = "L2"
POLL_S = 0.05
# One insert request carries about this many bytes of vectors (the proxy accepts up to 64 MiB).
INSERT_BATCH_BYTES = 4 << 20
QUERY_COUNT = 1000
CLUSTERS = 100
CLUSTER_SPREAD = 0.25
WAIT_S_MAX = 3600

INDEXES = {
    "FLAT": {"build": {}, "search": [{}]},
    "IVF_FLAT": {"build": {"nlist": 1024}, "search": [{"nprobe": 16}, {"nprobe": 64}]},
    "HNSW": {"build": {"M": 16, "efConstruction": 200}, "search": [{"ef": 64}]},
}

MODES = {
    "quick": {
        "datasets": [{"dim": 128, "rows": 20_000}],
        "indexes": ["FLAT", "HNSW"],
        "nq": [1],
        "topk": 10,
        "concurrency": [1, 4],
        "consistency": ["Strong", "Eventually"],
        "warmup_s": 0.5,
        "duration_s": 3.0,
        "min_requests": 20,
        "max_duration_s": 8.0,
        "max_wait_s": 10.0,
        "overhead_requests": 200,
    },
    "full": {
        "datasets": [{"dim": 128, "rows": 200_000}, {"dim": 768, "rows": 100_000}],
        "indexes": ["FLAT", "IVF_FLAT", "HNSW"],
        "nq": [1, 10, 100],
        "topk": 10,
        "concurrency": [1, 2, 4, 8],
        "consistency": ["Strong", "Eventually"],
        "warmup_s": 2.0,
        "duration_s": 8.0,
        "min_requests": 50,
        "max_duration_s": 20.0,
        "max_wait_s": 60.0,
        "overhead_requests": 500,
    },
}


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true", help="a small subset that finishes in a few minutes")
    p.add_argument("--out", default="results.json", help="results JSON (rewritten after every case)")
    p.add_argument("--seed", type=int, default=42, help="numpy seed of the synthetic data")
    p.add_argument("--distribution", choices=("clustered", "uniform"), default="clustered")
    p.add_argument("--quiet-cores", type=float, default=0.3,
                   help="others' CPU (in cores) at or below which the machine counts as quiet")
    p.add_argument("--quiet-window-s", type=float, default=1.0, help="length of one quiet check")
    p.add_argument("--max-wait-s", type=float, default=None,
                   help="longest wait for a quiet machine before measuring anyway (marked contended)")
    p.add_argument("--duration-s", type=float, default=None, help="measured window of one search case")
    p.add_argument("--workdir", default=None, help="parent folder of the server's temporary data folder")
    p.add_argument("--no-netns", action="store_true", help="do not enter a private network namespace")
    return p.parse_args(argv)


def enter_private_netns(argv):
    """Re-exec this script inside `unshare --net` with loopback up; returns why not, if not."""
    if os.environ.get(NETNS_ENV) == "1":
        subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
        return None
    if os.geteuid() != 0:
        return "not root: unshare --net needs root"
    if shutil.which("unshare") is None or shutil.which("ip") is None:
        return "unshare or ip not found"
    probe = subprocess.run(["unshare", "--net", "true"], capture_output=True)
    if probe.returncode != 0:
        return "unshare --net failed: " + probe.stderr.decode(errors="replace").strip()
    os.environ[NETNS_ENV] = "1"
    os.execvp("unshare", ["unshare", "--net", "--", sys.executable, os.path.abspath(__file__), *argv])
    return "exec failed"


def machine_facts():
    model = ""
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    with open("/proc/meminfo") as f:
        mem_kib = int(f.readline().split()[1])
    return {
        "cpu_model": model,
        "cores_logical": os.cpu_count(),
        "cores_usable": len(os.sched_getaffinity(0)),
        "memory_bytes": mem_kib * 1024,
        "kernel": platform.release(),
        "python": platform.python_version(),
    }


def package_version(name):
    from importlib.metadata import version

    return version(name)


def percentile_ms(values_ns, q):
    return round(float(np.percentile(values_ns, q)) / 1e6, 3) if len(values_ns) else None


# ---------------------------------------------------------------- data


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


# ---------------------------------------------------------------- milvus operations


class Client:
    """The pymilvus calls, split so the RPC can be timed apart from the SDK's own work."""

    def __init__(self, port):
        from pymilvus import connections

        connections.connect(alias="default", host=LOOPBACK, port=port)
        self.handler = connections._fetch_handler("default")

    def server_version(self):
        return self.handler.get_server_version()

    def create_collection(self, name, dim):
        from pymilvus import Collection, CollectionSchema, DataType, FieldSchema, utility

        if utility.has_collection(name):
            utility.drop_collection(name)
        schema = CollectionSchema([
            FieldSchema(FIELD_ID, DataType.INT64, is_primary=True, auto_id=False),
            FieldSchema(FIELD_VECTOR, DataType.FLOAT_VECTOR, dim=dim),
        ])
        Collection(name, schema, shards_num=1)
        # What Collection.insert hands to the handler: the schema and the server's field list.
        return schema, self.handler.describe_collection(name)["fields"]

    def insert(self, name, schema, ids, vectors):
        """(tolist_ns, convert_ns, rpc_ns): numpy to lists, pymilvus's request building, the RPC."""
        from pymilvus.client.prepare import Prepare
        from pymilvus.client.utils import check_status
        from pymilvus.orm.prepare import Prepare as OrmPrepare

        t0 = time.perf_counter_ns()
        columns = [ids.tolist(), vectors.tolist()]
        t1 = time.perf_counter_ns()
        # The steps of Collection.insert for column data, up to the RPC.
        entities = OrmPrepare.prepare_insert_data(columns, schema[0])
        request = Prepare.batch_insert_param(name, entities, None, schema[1])
        t2 = time.perf_counter_ns()
        response = self.handler._stub.Insert(request)
        t3 = time.perf_counter_ns()
        check_status(response.status)
        return t1 - t0, t2 - t1, t3 - t2

    def flush(self, name):
        from pymilvus.client.prepare import Prepare
        from pymilvus.client.utils import check_status

        t0 = time.monotonic()
        response = self.handler._stub.Flush(Prepare.flush_param([name]))
        rpc_s = time.monotonic() - t0
        check_status(response.status)
        segment_ids = list(response.coll_segIDs[name].data)
        flush_ts = response.coll_flush_ts[name]
        polls = wait_until(lambda: self.handler.get_flush_state(segment_ids, name, flush_ts))
        return {"flush_s": round(time.monotonic() - t0, 3), "rpc_s": round(rpc_s, 3),
                "segments_flushed": len(segment_ids), "polls": polls}

    def persistent_segments(self, name):
        infos = self.handler.get_persistent_segment_infos(name)
        return segment_summary(((i.num_rows, _enum_name(i.state), None) for i in infos), False)

    def query_segments(self, name):
        infos = self.handler.get_query_segment_info(name)
        return segment_summary(((i.num_rows, _enum_name(i.state), i.index_name or None) for i in infos), True)

    def build_index(self, name, index_type, build_params):
        from pymilvus.client.types import IndexState

        params = {"index_type": index_type, "metric_type": METRIC, "params": build_params}
        t0 = time.monotonic()
        self.handler.create_index(name, FIELD_VECTOR, params, index_name=INDEX_NAME, sync=False)

        def built():
            state, reason = self.handler.get_index_state(name, INDEX_NAME)
            if state == IndexState.Failed:
                raise RuntimeError(f"building {index_type} failed: {reason}")
            if state != IndexState.Finished:
                return False
            progress = self.handler.get_index_build_progress(name, INDEX_NAME)
            return progress["indexed_rows"] >= progress["total_rows"]

        wait_until(built)
        return round(time.monotonic() - t0, 3)

    def drop_index(self, name):
        self.handler.drop_index(name, FIELD_VECTOR, INDEX_NAME)

    def load(self, name):
        t0 = time.monotonic()
        self.handler.load_collection(name, replica_number=1, _async=True)
        wait_until(lambda: self.handler.get_loading_progress(name) >= 100)
        return round(time.monotonic() - t0, 3)

    def release(self, name):
        self.handler.release_collection(name)

    def drop(self, name):
        self.handler.drop_collection(name)

    def search_once(self, name, queries, search_params, topk, consistency):
        """(prepare_ns, rpc_ns, parse_ns) of one search, as Collection.search would do it."""
        from pymilvus.client.abstract import SearchResult
        from pymilvus.client.prepare import Prepare
        from pymilvus.client.utils import check_status

        t0 = time.perf_counter_ns()
        param = {"metric_type": METRIC, "params": search_params}
        request = Prepare.search_requests_with_expr(
            name, queries, FIELD_VECTOR, param, topk, consistency_level=consistency)
        t1 = time.perf_counter_ns()
        response = self.handler._stub.Search(request)
        t2 = time.perf_counter_ns()
        check_status(response.status)
        result = SearchResult(response.results)
        if len(result) != len(queries):
            raise RuntimeError(f"search returned {len(result)} result lists for nq={len(queries)}")
        t3 = time.perf_counter_ns()
        return t1 - t0, t2 - t1, t3 - t2

    def version_rpc_ns(self):
        """One round trip of the lightest RPC there is (GetVersion), in ns."""
        from pymilvus.grpc_gen import milvus_pb2

        t0 = time.perf_counter_ns()
        self.handler._stub.GetVersion(milvus_pb2.GetVersionRequest())
        return time.perf_counter_ns() - t0


def _enum_name(value):
    from pymilvus.grpc_gen import common_pb2

    try:
        return common_pb2.SegmentState.Name(value)
    except ValueError:
        return str(value)


def segment_summary(triples, with_index):
    rows = sorted(((r, s, i) for r, s, i in triples), reverse=True)
    return {
        "count": len(rows),
        "rows": [r for r, _, _ in rows],
        "states": sorted({s for _, s, _ in rows}),
    } | ({"indexed": sum(1 for _, _, i in rows if i)} if with_index else {})


def wait_until(predicate):
    """Polls every POLL_S (pymilvus itself polls every 0.5 s); returns the number of polls."""
    deadline = time.monotonic() + WAIT_S_MAX
    polls = 0
    while not predicate():
        polls += 1
        if time.monotonic() > deadline:
            raise TimeoutError(f"still waiting after {WAIT_S_MAX} s")
        time.sleep(POLL_S)
    return polls


# ---------------------------------------------------------------- measurements


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


# ---------------------------------------------------------------- main


class Results:
    def __init__(self, path, doc):
        self.path = path
        self.doc = doc

    def write(self):
        tmp = self.path + ".partial"
        with open(tmp, "w") as f:
            json.dump(self.doc, f, indent=1)
            f.write("\n")
        os.replace(tmp, self.path)


def measure(args, settings, results, client, monitor):
    doc = results.doc
    doc["client_overhead"] = client_overhead(client, monitor, settings, [d["dim"] for d in settings["datasets"]],
                                             args.seed)
    results.write()
    for ds in settings["datasets"]:
        dim, rows = ds["dim"], ds["rows"]
        name = f"fidelity_d{dim}_n{rows}"
        t0 = time.monotonic()
        data, queries = make_data(dim, rows, args.seed, args.distribution)
        log(f"dataset {name}: generated in {time.monotonic() - t0:.1f} s")
        insert, flush = ingest(client, monitor, name, dim, data)
        del data
        dataset = {
            "name": name, "dim": dim, "rows": rows, "metric": METRIC, "shards_num": 1, "replicas": 1,
            "distribution": args.distribution, "seed": args.seed,
            "insert": insert, "flush": flush, "indexes": [],
        }
        doc["datasets"].append(dataset)
        results.write()
        log(f"dataset {name}: insert {insert['rows_per_s']:.0f} rows/s "
            f"(rpc only {insert['rows_per_s_rpc']:.0f}), flush {flush['flush_s']} s, "
            f"segments {flush['segments_after']['count']}")
        for index_type in settings["indexes"]:
            spec = INDEXES[index_type]
            with monitor.measure() as m:
                build_s = client.build_index(name, index_type, spec["build"])
            build_contention = m.result
            segments_built = client.persistent_segments(name)
            with monitor.measure() as m:
                load_s = client.load(name)
            index = {
                "index_type": index_type, "build_params": spec["build"],
                "build_s": build_s, "build_contention": build_contention,
                "segments_after_build": segments_built,
                "load_s": load_s, "load_contention": m.result,
                "segments_loaded": client.query_segments(name),
            }
            dataset["indexes"].append(index)
            results.write()
            log(f"  {index_type}: build {build_s} s, load {load_s} s, "
                f"{index['segments_loaded']['count']} segments loaded")
            for search_params in spec["search"]:
                for nq in settings["nq"]:
                    for concurrency in settings["concurrency"]:
                        for consistency in settings["consistency"]:
                            case = {
                                "id": f"{name}/{index_type}{_params_tag(search_params)}/nq{nq}/c{concurrency}/"
                                      f"{consistency}",
                                "dataset": name, "dim": dim, "rows": rows, "metric": METRIC,
                                "distribution": args.distribution, "shards_num": 1, "replicas": 1,
                                "index_type": index_type, "build_params": spec["build"],
                                "search_params": search_params, "nq": nq, "topk": settings["topk"],
                                "concurrency": concurrency, "consistency": consistency,
                            }
                            figures, contention = run_search(
                                client, monitor, name, queries, search_params, settings,
                                nq, concurrency, consistency, settings["min_requests"])
                            case["figures"] = figures
                            case["contention"] = contention
                            doc["cases"].append(case)
                            results.write()
                            log(f"  {case['id']}: p50 {figures['latency_ms_p50']} ms "
                                f"p99 {figures['latency_ms_p99']} ms, {figures['qps']} qps"
                                f"{' (contended)' if contention['contended'] else ''}")
            index["segments_after_cases"] = client.persistent_segments(name)
            client.release(name)
            client.drop_index(name)
        client.drop(name)


def _params_tag(params):
    return "".join(f"-{k}{v}" for k, v in params.items())


def log(msg):
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


def main(argv):
    args = parse_args(argv)
    network_note = "--no-netns given" if args.no_netns else enter_private_netns(argv)
    mode = "quick" if args.quick else "full"
    settings = dict(MODES[mode])
    if args.max_wait_s is not None:
        settings["max_wait_s"] = args.max_wait_s
    if args.duration_s is not None:
        settings["duration_s"] = args.duration_s
        settings["max_duration_s"] = max(settings["max_duration_s"], args.duration_s)

    # Turn SIGTERM (a time limit, a kill) into an exception so the finally block below runs.
    def on_term(signum, frame):
        raise KeyboardInterrupt(f"signal {signum}")

    signal.signal(signal.SIGTERM, on_term)
    signal.signal(signal.SIGHUP, on_term)
    # Python leaves SIGINT ignored when it starts ignored (a background job); Ctrl-C must stop us.
    signal.signal(signal.SIGINT, signal.default_int_handler)

    t_start = time.monotonic()
    doc = {
        "schema": SCHEMA,
        "mode": mode,
        "complete": False,
        "started_utc": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "machine": machine_facts(),
        "versions": {
            "milvus_package": package_version("milvus"),
            "pymilvus": package_version("pymilvus"),
            "numpy": np.__version__,
            "grpcio": package_version("grpcio"),
        },
        "network": {
            "addresses": LOOPBACK,
            "isolation": "private network namespace" if network_note is None else "loopback addresses only",
            "why_not_isolated": network_note,
        },
        "quiet": {
            "threshold_cores": args.quiet_cores,
            "window_s": args.quiet_window_s,
            "max_wait_s": settings["max_wait_s"],
        },
        "settings": {**settings, "insert_batch_bytes": INSERT_BATCH_BYTES, "query_count": QUERY_COUNT,
                     "clusters": CLUSTERS, "cluster_spread": CLUSTER_SPREAD, "poll_s": POLL_S,
                     "indexes": {k: INDEXES[k] for k in settings["indexes"]}},
        "client_overhead": [],
        "datasets": [],
        "cases": [],
    }
    results = Results(args.out, doc)
    server = MilvusStandalone(args.workdir)
    try:
        log(f"mode {mode}; network: {doc['network']['isolation']}")
        server.start()
        doc["server"] = {"start_s": round(server.start_s, 3)}
        client = Client(server.proxy_port)
        doc["versions"]["milvus_server"] = client.server_version()
        log(f"server {doc['versions']['milvus_server']} healthy after {server.start_s:.1f} s")
        monitor = Monitor(server.pid, args.quiet_cores, args.quiet_window_s, settings["max_wait_s"])
        measure(args, settings, results, client, monitor)
        doc["complete"] = True
    except KeyboardInterrupt as e:
        doc["stopped_by"] = str(e) or "interrupt"
        log(f"stopped: {doc['stopped_by']}")
    finally:
        # A second Ctrl-C must not cut the clean-up short.
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            signal.signal(sig, signal.SIG_IGN)
        server.stop()
        # SIGTERM, then SIGKILL after 10 s: exit_code -9 means the server ignored SIGTERM that long.
        doc.setdefault("server", {}).update(
            exit_code=server.exit_code, stop_s=None if server.stop_s is None else round(server.stop_s, 3))
        doc["wall_s"] = round(time.monotonic() - t_start, 1)
        doc["contended_cases"] = sum(1 for c in doc["cases"] if c["contention"]["contended"])
        results.write()
        log(f"wrote {args.out} ({len(doc['cases'])} cases, {doc['contended_cases']} contended) "
            f"in {doc['wall_s']} s")
    return 0 if doc["complete"] else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
