"""How big does the real Milvus 2.3 standalone make a sealed segment while rows arrive at a steady rate?

Starts the server of the PyPI package `milvus` as harness.py does (same isolation, same clean-up),
with a small `dataCoord.segment.maxSize` so that segments seal within seconds, and auto-compaction
off so that no segment is merged before it is counted. For each case (target rate, clients) it
creates a fresh dim-128 collection (one shard), inserts at that rate until at least
`--min-sealed` segments have been sealed by the server, calls flush(), and records every segment:
its final rows, its state when the inserts stopped, and the row counts the data coordinator
reported for it while it grew (polled every `--poll-s`). Segments still growing when the
inserts stopped are sealed by flush(); only the others count as sealed by the seal policy.

    python segments.py --out results-segments.json

The output format is described in README.md ("Segment sizes").
"""

import argparse
import datetime
import json
import os
import re
import shutil
import signal
import statistics
import sys
import threading
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from contention import Monitor  # noqa: E402
from harness import log, record_header, start_side_script  # noqa: E402
from measure import INSERT_BATCH_BYTES, percentile_ms  # noqa: E402
from milvus_client import FIELD_ID, Client, _enum_name  # noqa: E402
from server import MilvusStandalone  # noqa: E402

SCHEMA = "simctl-fidelity-segments/1"
DIM = 128
# Server keys this script reads back from the config file the server ran with.
RECORDED_KEYS = (
    "dataCoord.segment.maxSize",
    "dataCoord.segment.sealProportion",
    "dataCoord.segment.assignmentExpiration",
    "dataCoord.segment.maxIdleTime",
    "dataCoord.segment.maxBinlogFileNumber",
    "dataCoord.compaction.enableAutoCompaction",
    "proxy.timeTickInterval",
    "dataNode.segment.insertBufSize",
    "dataNode.timetick.byRPC",
)
# The server's INFO log lines this script reads (Milvus 2.3.5): datacoord's max rows of a new
# segment, its allocations to the proxy, its seals; the data node's row count per segment, updated
# as it consumes the channel.
LOG_TIME = re.compile(r"^\[(\d{4}/\d\d/\d\d \d\d:\d\d:\d\d\.\d+) ([+-]\d\d):(\d\d)\]")
LOG_MAX_ROWS = re.compile(r'estimateTotalRows.*\[SegmentID=(\d+)\] \[Rows=(\d+)\]')
LOG_ASSIGNED = re.compile(r'"success to assign segments".*\[collectionID=(\d+)\] \[assignments="(.*)"\]')
LOG_ASSIGNMENT = re.compile(r'\\"SegmentID\\":(\d+),\\"NumOfRows\\":(\d+)')
LOG_SEALED = re.compile(r'"meta update: setting segment state - complete"\] \[segmentID=(\d+)\] \["target state"=Sealed\]')
LOG_DATANODE_ROWS = re.compile(r'"updated segment num row"\] \[segmentID=(\d+)\] \[addedNumRows=\d+\] \[numRowsSum=(\d+)\]')


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", default="results-segments.json", help="results JSON (rewritten after every case)")
    p.add_argument("--max-size-mb", default="16,64",
                   help="the server's dataCoord.segment.maxSize; comma-separated: one server after another")
    p.add_argument("--cases", default="2000x1,5000x1,10000x1,20000x1,maxx1,10000x2,maxx2",
                   help="comma-separated RATExCLIENTS; RATE is rows/s over all clients or `max` (closed loop)")
    p.add_argument("--min-sealed", type=int, default=10, help="segments the server must seal before flush()")
    p.add_argument("--max-case-s", type=float, default=240.0, help="longest insert phase of one case")
    p.add_argument("--interval-s", type=float, default=0.1,
                   help="paced cases: each client sends rate/clients x interval rows every interval")
    p.add_argument("--poll-s", type=float, default=0.1, help="how often the segments are read while inserting")
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--max-wait-s", type=float, default=15.0, help="longest wait for a quiet machine per case")
    p.add_argument("--quiet-cores", type=float, default=0.3)
    p.add_argument("--quiet-window-s", type=float, default=1.0)
    p.add_argument("--keep-logs", default=None, help="copy the server's log folder here before it is removed")
    p.add_argument("--workdir", default=None, help="parent folder of the server's temporary data folder")
    p.add_argument("--no-netns", action="store_true", help="do not enter a private network namespace")
    return p.parse_args(argv)


def parse_cases(text):
    cases = []
    for item in text.split(","):
        rate, _, clients = item.strip().rpartition("x")
        cases.append((None if rate == "max" else int(rate), int(clients or 1)))
    return cases


def yaml_values(path, keys):
    """Values of dotted keys in a milvus.yaml, read by indentation as the `milvus` package writes it."""
    found, current = {}, []
    with open(path) as f:
        for line in f:
            m = re.match(r"^( *)([A-Za-z0-9_]+):([^#]*)", line.rstrip())
            if not m or line.strip().startswith("#"):
                continue
            level = len(m.group(1)) // 2
            current = current[:level] + [m.group(2)]
            key = ".".join(current)
            if key in keys:
                found[key] = m.group(3).strip()
    return found


class Poller:
    """Reads the collection's persistent segments every poll_s; keeps each change of rows or state."""

    def __init__(self, client, name, poll_s, t0):
        self.client, self.name, self.poll_s, self.t0 = client, name, poll_s, t0
        self.segments = {}  # id -> {"history": [[t, state, rows]], ...}
        self.polls = 0
        self.errors = 0
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)

    def sealed_count(self):
        return sum(1 for s in list(self.segments.values()) if s["history"][-1][1] != "Growing")

    def read(self):
        now = round(time.monotonic() - self.t0, 3)
        infos = self.client.handler.get_persistent_segment_infos(self.name)
        self.polls += 1
        for i in infos:
            state = _enum_name(i.state)
            seg = self.segments.setdefault(i.segmentID, {"history": []})
            if not seg["history"] or seg["history"][-1][1:] != [state, i.num_rows]:
                seg["history"].append([now, state, i.num_rows])
        return infos

    def run(self):
        while not self.stop.is_set():
            try:
                self.read()
            except Exception:  # a busy server may time out one poll; the next one catches up
                self.errors += 1
            self.stop.wait(self.poll_s)


def run_case(client, monitor, rate, clients, args, index):
    name = f"segments_{index}_r{rate or 'max'}_c{clients}"
    schema, fields = client.create_collection(name, DIM)
    from pymilvus.client.prepare import Prepare
    from pymilvus.client.utils import check_status
    from pymilvus.orm.prepare import Prepare as OrmPrepare

    if rate is None:
        batch_rows, interval = INSERT_BATCH_BYTES // (4 * DIM), None
    else:
        batch_rows = max(1, round(rate / clients * args.interval_s))
        interval = args.interval_s
    rng = np.random.default_rng([args.seed, DIM, index])
    # One request per client, built once by pymilvus; each batch only rewrites the primary keys, so
    # the client's own work does not limit the rate (the vectors repeat, which segment sizes ignore).
    requests = []
    for _ in range(clients):
        vectors = rng.random((batch_rows, DIM), dtype=np.float32).tolist()
        entities = OrmPrepare.prepare_insert_data([list(range(batch_rows)), vectors], schema)
        request = Prepare.batch_insert_param(name, entities, None, fields)
        (id_field,) = [f for f in request.fields_data if f.field_name == FIELD_ID]
        requests.append((request, id_field.scalars.long_data.data))
    records = []  # (client, start_s, rows, rpc_ns)
    errors = []
    stop = threading.Event()
    next_id = [0]
    id_lock = threading.Lock()
    collection_id = client.handler.describe_collection(name)["collection_id"]
    t0 = time.monotonic()
    poller = Poller(client, name, args.poll_s, t0)

    def worker(k):
        request, ids = requests[k]
        # Clients start spread over one interval.
        due = time.monotonic() + (interval or 0) * k / clients
        while not stop.is_set():
            if interval is not None:
                wait = due - time.monotonic()
                if wait > 0:
                    time.sleep(wait)
                due += interval
            with id_lock:
                first = next_id[0]
                next_id[0] += batch_rows
            del ids[:]
            ids.extend(range(first, first + batch_rows))
            start = time.monotonic()
            t = time.perf_counter_ns()
            try:
                response = client.handler._stub.Insert(request)
                check_status(response.status)
                records.append((k, start - t0, batch_rows, time.perf_counter_ns() - t))
            except Exception as e:
                errors.append(repr(e)[:300])
                time.sleep(0.1)

    with monitor.measure() as m:
        t0 = time.monotonic()
        started_epoch_s = time.time()
        poller.t0 = t0
        poller.thread.start()
        threads = [threading.Thread(target=worker, args=(k,), daemon=True) for k in range(clients)]
        for t in threads:
            t.start()
        while poller.sealed_count() < args.min_sealed and time.monotonic() - t0 < args.max_case_s:
            time.sleep(args.poll_s)
        stop.set()
        for t in threads:
            t.join()
        insert_s = time.monotonic() - t0
    insert_contention = m.result
    poller.stop.set()
    poller.thread.join()
    poller.read()  # the states as the inserts stopped
    state_at_stop = {sid: s["history"][-1][1] for sid, s in poller.segments.items()}
    flush = client.flush(name)
    flush_t = round(time.monotonic() - t0, 3)
    final = poller.read()
    rows_total = sum(r for _, _, r, _ in records)
    segments = []
    for i in sorted(final, key=lambda i: i.segmentID):
        seg = poller.segments[i.segmentID]
        history = seg["history"]
        stopped = state_at_stop.get(i.segmentID, "Growing")
        first_not_growing = next((h for h in history if h[1] != "Growing"), None)
        last_growing = [h for h in history if h[1] == "Growing"]
        segments.append({
            "id": i.segmentID,
            "state": _enum_name(i.state),
            "rows": i.num_rows,
            "state_at_stop": stopped,
            "sealed_by": "flush" if stopped == "Growing" else "policy",
            "first_seen_s": history[0][0],
            "sealed_seen_s": first_not_growing[0] if first_not_growing else None,
            "rows_seen_growing_max": max((h[2] for h in last_growing), default=None),
            "history": history,
        })
    sealed = [s["rows"] for s in segments if s["sealed_by"] == "policy"]
    rpc = [r for _, _, _, r in records]
    case = {
        "id": name,
        "collection_id": collection_id,
        "started_epoch_s": round(started_epoch_s, 3),
        "target_rows_per_s": rate,
        "clients": clients,
        "batch_rows": batch_rows,
        "interval_s": interval,
        "insert_s": round(insert_s, 3),
        "requests": len(records),
        "errors": len(errors),
        "first_error": errors[0] if errors else None,
        "rows": rows_total,
        "rows_per_s": round(rows_total / insert_s, 1),
        # Over the sealed segments only: from the first allocation to the last seal (set from the log).
        "rows_per_s_sealed": None,
        "rpc_ms_p50": percentile_ms(rpc, 50),
        "rpc_ms_p99": percentile_ms(rpc, 99),
        "polls": poller.polls,
        "poll_errors": poller.errors,
        "flush": flush,
        "flush_done_s": flush_t,
        "rows_in_segments": sum(s["rows"] for s in segments),
        "sealed_by_policy": len(sealed),
        "sealed_rows": sealed,
        "sealed_rows_summary": summary(sealed),
        "segments": segments,
        "contention": insert_contention,
    }
    client.drop(name)
    return case


def summary(values):
    if not values:
        return None
    return {
        "count": len(values),
        "min": min(values),
        "median": statistics.median(values),
        "mean": round(statistics.mean(values), 1),
        "max": max(values),
        "stdev": round(statistics.pstdev(values), 1),
    }


def read_server_log(logs_dir):
    """Per segment, from the server's log: max rows, allocations, seal time, the data node's counts.

    Times are seconds since the epoch. The server writes the same lines to standalone-*.log and to
    its stdout; the first are read when present."""
    segs = {}

    def seg(sid):
        return segs.setdefault(int(sid), {"collection_id": None, "max_rows": None, "allocations": [],
                                          "sealed_at": None, "datanode_rows": []})

    if not logs_dir or not os.path.isdir(logs_dir):
        return segs
    names = sorted(n for n in os.listdir(logs_dir) if n.startswith("standalone") and n.endswith(".log"))
    names = names or ["milvus-stdout.log"]
    for name in names:
        path = os.path.join(logs_dir, name)
        if not os.path.exists(path):
            continue
        with open(path, errors="replace") as f:
            for line in f:
                m = LOG_TIME.match(line)
                if not m:
                    continue
                if "estimateTotalRows" in line and (x := LOG_MAX_ROWS.search(line)):
                    seg(x.group(1))["max_rows"] = int(x.group(2))
                elif "success to assign segments" in line and (x := LOG_ASSIGNED.search(line)):
                    t = log_time(m)
                    for sid, rows in LOG_ASSIGNMENT.findall(x.group(2)):
                        s = seg(sid)
                        s["collection_id"] = int(x.group(1))
                        s["allocations"].append((t, int(rows)))
                elif "target state" in line and (x := LOG_SEALED.search(line)):
                    s = seg(x.group(1))
                    s["sealed_at"] = s["sealed_at"] or log_time(m)
                elif "updated segment num row" in line and (x := LOG_DATANODE_ROWS.search(line)):
                    seg(x.group(1))["datanode_rows"].append((log_time(m), int(x.group(2))))
    return segs


def log_time(m):
    stamp = datetime.datetime.strptime(m.group(1), "%Y/%m/%d %H:%M:%S.%f")
    offset = datetime.timedelta(hours=int(m.group(2)), minutes=int(m.group(3)) * (1 if m.group(2)[0] == "+" else -1))
    return (stamp - offset).replace(tzinfo=datetime.timezone.utc).timestamp()


def add_log_figures(case, log_segs, seal_proportion):
    """What the log says about each segment of a case; times relative to the case's start."""
    t0 = case["started_epoch_s"]
    rel = lambda t: None if t is None else round(t - t0, 3)  # noqa: E731
    for s in case["segments"]:
        info = log_segs.get(s["id"])
        if not info:
            continue
        allocs = sorted(info["allocations"])
        seal_rows = int(seal_proportion * info["max_rows"]) if info["max_rows"] else None
        sealed_at = info["sealed_at"]
        cum, crossing_alloc = 0, None
        for t, rows in allocs:
            cum += rows
            if seal_rows is not None and crossing_alloc is None and cum >= seal_rows:
                crossing_alloc = t
        crossing_dn = next((t for t, n in info["datanode_rows"] if seal_rows is not None and n >= seal_rows), None)
        s.update({
            "max_rows": info["max_rows"],
            "seal_rows": seal_rows,
            "allocations": len(allocs),
            "rows_allocated": sum(r for _, r in allocs),
            "rows_allocated_before_seal": sum(r for t, r in allocs if sealed_at is None or t <= sealed_at),
            "first_allocation_s": rel(allocs[0][0]) if allocs else None,
            "last_allocation_s": rel(allocs[-1][0]) if allocs else None,
            "sealed_s": rel(sealed_at),
            # The allocation that took the segment to the seal point, and when the data node's count
            # reached it: the seal comes after both.
            "seal_point_allocated_s": rel(crossing_alloc),
            "seal_point_at_datanode_s": rel(crossing_dn),
            "seal_after_allocated_s": (round(sealed_at - crossing_alloc, 3)
                                       if sealed_at and crossing_alloc else None),
            "seal_after_datanode_s": round(sealed_at - crossing_dn, 3) if sealed_at and crossing_dn else None,
            "datanode_rows": [[rel(t), n] for t, n in info["datanode_rows"]],
        })
    policy = [s for s in case["segments"] if s["sealed_by"] == "policy"]
    firsts = [s["first_allocation_s"] for s in policy if s.get("first_allocation_s") is not None]
    seals = [s["sealed_s"] for s in policy if s.get("sealed_s") is not None]
    if firsts and seals and max(seals) > min(firsts):
        rows = sum(s["rows_allocated_before_seal"] for s in policy)
        case["rows_per_s_sealed"] = round(rows / (max(seals) - min(firsts)), 1)
    case["seal_after_allocated_s"] = summary([s["seal_after_allocated_s"] for s in policy
                                              if s.get("seal_after_allocated_s") is not None])
    case["seal_after_datanode_s"] = summary([s["seal_after_datanode_s"] for s in policy
                                             if s.get("seal_after_datanode_s") is not None])


def write(path, doc):
    doc["contended_cases"] = sum(1 for r in doc["servers"] for c in r["cases"] if c["contention"]["contended"])
    tmp = path + ".partial"
    with open(tmp, "w") as f:
        json.dump(doc, f, indent=1)
        f.write("\n")
    os.replace(tmp, path)


def print_table(doc):
    print(f"{'maxSize':>7} {'case':24} {'rows/s':>7} {'seal pt':>7} {'sealed':>6} {'min':>6} {'median':>7} "
          f"{'max':>6} {'delay':>11} {'others':>6}")
    for r in doc["servers"]:
        for c in r["cases"]:
            s = c["sealed_rows_summary"] or {}
            d = c.get("seal_after_allocated_s") or {}
            seal = next((x.get("seal_rows") for x in c["segments"] if x.get("seal_rows")), None)
            delay = f"{d.get('min', '-')}-{d.get('max', '-')}"
            print(f"{r['max_size_mb']:>7} {c['id']:24} {c['rows_per_s']:>7.0f} {seal or '-':>7} "
                  f"{c['sealed_by_policy']:>6} {s.get('min', '-'):>6} {s.get('median', '-'):>7} "
                  f"{s.get('max', '-'):>6} {delay:>11} {c['contention']['others_cores_mean']:>6.2f}")


def run_server(max_size_mb, args, doc):
    """One server with this maxSize: every case, then its log read before it stops."""
    overrides = {
        "dataCoord.segment.maxSize": max_size_mb,
        # No merge may change a segment before it is counted.
        "dataCoord.compaction.enableAutoCompaction": "false",
    }
    run = {"max_size_mb": max_size_mb, "server_overrides": overrides, "server_config": {}, "cases": []}
    doc["servers"].append(run)
    server = MilvusStandalone(args.workdir, config=overrides)
    t0 = time.monotonic()
    try:
        server.start()
        run["server"] = {"start_s": round(server.start_s, 3)}
        run["server_config"] = yaml_values(server.config_path, RECORDED_KEYS)
        client = Client(server.proxy_port)
        doc["versions"]["milvus_server"] = client.server_version()
        log(f"server {doc['versions']['milvus_server']} healthy after {server.start_s:.1f} s; "
            f"config {run['server_config']}")
        monitor = Monitor(server.pid, args.quiet_cores, args.quiet_window_s, args.max_wait_s)
        for index, (rate, clients) in enumerate(parse_cases(args.cases)):
            case = run_case(client, monitor, rate, clients, args, index)
            run["cases"].append(case)
            write(args.out, doc)
            log(f"maxSize {max_size_mb}: {case['id']}: {case['rows_per_s']:.0f} rows/s, "
                f"{case['sealed_by_policy']} sealed {case['sealed_rows']}, "
                f"others {case['contention']['others_cores_mean']} cores")
    finally:
        try:
            log_segs = read_server_log(server.logs_dir)
            seal_proportion = float(run["server_config"].get("dataCoord.segment.sealProportion", 0.23))
            for case in run["cases"]:
                add_log_figures(case, log_segs, seal_proportion)
            if args.keep_logs and server.logs_dir and os.path.isdir(server.logs_dir):
                shutil.copytree(server.logs_dir, os.path.join(args.keep_logs, f"maxsize-{max_size_mb}"),
                                dirs_exist_ok=True)
        finally:
            server.stop()
            run.setdefault("server", {}).update(
                exit_code=server.exit_code, stop_s=None if server.stop_s is None else round(server.stop_s, 3))
            run["wall_s"] = round(time.monotonic() - t0, 1)


def main(argv):
    args = parse_args(argv)
    network_note = start_side_script(argv, __file__, args.no_netns)

    t_start = time.monotonic()
    doc = {
        **record_header(SCHEMA, network_note),
        "quiet": {"threshold_cores": args.quiet_cores, "window_s": args.quiet_window_s,
                  "max_wait_s": args.max_wait_s},
        "settings": {"dim": DIM, "shards_num": 1, "cases": args.cases, "min_sealed": args.min_sealed,
                     "max_case_s": args.max_case_s, "interval_s": args.interval_s, "poll_s": args.poll_s,
                     "seed": args.seed, "max_batch_rows": INSERT_BATCH_BYTES // (4 * DIM)},
        "servers": [],
    }
    try:
        for max_size_mb in (int(x) for x in args.max_size_mb.split(",")):
            run_server(max_size_mb, args, doc)
        doc["complete"] = True
    except KeyboardInterrupt as e:
        doc["stopped_by"] = str(e) or "interrupt"
        log(f"stopped: {doc['stopped_by']}")
    except Exception as e:
        doc["error"] = repr(e)[:2000]
        raise
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            signal.signal(sig, signal.SIG_IGN)
        doc["wall_s"] = round(time.monotonic() - t_start, 1)
        write(args.out, doc)
        print_table(doc)
        log(f"wrote {args.out} in {doc['wall_s']} s")
    return 0 if doc["complete"] else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
