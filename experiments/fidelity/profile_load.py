"""What a load() of the real Milvus 2.3 standalone spends its time on, step by step, from its own log.

For each data set of `--datasets` (dim:rows) it starts a fresh server as harness.py does (same
isolation, same clean-up), inserts the rows as the harness does (batches of about 4 MiB), flushes,
and for each index of FLAT, IVF_FLAT (nlist 1024) and HNSW (M 16, efConstruction 200): builds it,
calls load() and waits for 100 % as the harness does (`load_s`), then releases the collection and
drops the index. Afterwards it reads the server's INFO log and records, for each load, relative to
the load() call:

* the query coordinator's steps: the channel task created (the channel checker), each segment task
  created (the segment checker), and each load-progress report of the collection observer, up to
  100 %;
* the query node's segment loader, per segment: its files' start and its load done, its rows, and
  the loader's memory estimate of it (MiB; for an indexed segment the index files and the other
  fields), and the bytes loaded: the estimate for an indexed segment, rows x (4 x dim + 24) raw
  (vector, key, row id and timestamp) for FLAT, which has no index files;
* the server's CPU during the load (`contention.server_cpu_s`).

    experiments/fidelity/.venv/bin/python experiments/fidelity/profile_load.py --out experiments/fidelity/results-load.json

The output format is described in README.md (the paragraph on profile_load.py).
"""

import argparse
import datetime
import json
import os
import re
import signal
import sys
import time


sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from contention import Monitor  # noqa: E402
from data import make_data  # noqa: E402
from harness import log, record_header, start_side_script  # noqa: E402
from measure import ingest  # noqa: E402
from milvus_client import Client  # noqa: E402
from server import MilvusStandalone  # noqa: E402

SCHEMA = "simctl-fidelity-load/1"
INDEXES = (("FLAT", {}), ("IVF_FLAT", {"nlist": 1024}), ("HNSW", {"M": 16, "efConstruction": 200}))
# Bytes a raw row holds besides its vector: the int64 key, row id and timestamp.
RAW_ROW_EXTRA_BYTES = 24

# The server's INFO log lines this script reads (Milvus 2.3.5).
LOG_LINE = re.compile(r"^\[(\d{4}/\d\d/\d\d \d\d:\d\d:\d\d\.\d+) ([+-]\d\d):(\d\d)\] \[\w+\] \[[^\]]+\] (.*)$")
LOG_CHANNEL_TASK = re.compile(r'^\["create channel task"\]')
LOG_SEGMENT_TASK = re.compile(r'^\["create segment task"\].*\[segmentID=(\d+)\]')
LOG_PROGRESS = re.compile(r'^\["load status updated"\].*\[collectionLoadPercentage=(\d+)\]')
LOG_ESTIMATE = re.compile(r'^\["request resource for loading segments \(unit in MiB\)"\].*\[segmentIDs="\[(\d+)\]"\] '
                          r'\[memory=([\d.]+)\]')
LOG_FILES_START = re.compile(r'^\["start loading segment files"\].*\[segmentID=(\d+)\] \[rowNum=(\d+)\]')
LOG_SEGMENT_DONE = re.compile(r'^\["load segment done"\].*\[segmentID=(\d+)\]')


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--out", required=True, help="results file (JSON)")
    p.add_argument("--datasets", default="128:200000,768:100000", help="dim:rows, comma-separated")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--workdir", default=None, help="where the server's data goes (default: a temporary folder)")
    p.add_argument("--pause-s", type=float, default=2.0, help="pause after each build and release")
    p.add_argument("--quiet-cores", type=float, default=0.3)
    p.add_argument("--quiet-window-s", type=float, default=2.0)
    p.add_argument("--max-wait-s", type=float, default=60.0)
    p.add_argument("--no-netns", action="store_true", help="do not enter a private network namespace")
    return p.parse_args(argv)


def log_time(m):
    stamp = datetime.datetime.strptime(m.group(1), "%Y/%m/%d %H:%M:%S.%f")
    sign = 1 if m.group(2)[0] == "+" else -1
    offset = datetime.timedelta(hours=int(m.group(2)), minutes=sign * int(m.group(3)))
    return (stamp - offset).replace(tzinfo=datetime.timezone.utc).timestamp()


def read_log(logs_dir):
    """(epoch seconds, message) of every line of the server's own log file."""
    names = sorted(n for n in os.listdir(logs_dir) if n.startswith("standalone-") and n.endswith(".log"))
    if not names:
        names = ["milvus-stdout.log"]
    lines = []
    for name in names:
        with open(os.path.join(logs_dir, name), errors="replace") as f:
            for line in f:
                m = LOG_LINE.match(line)
                if m:
                    lines.append((log_time(m), m.group(4)))
    lines.sort(key=lambda x: x[0])
    return lines


def load_steps(lines, t0, t1, dim, raw):
    """The steps of one load between t0 and t1 (epoch seconds), relative to t0."""
    rel = lambda t: round(t - t0, 3)  # noqa: E731
    steps = {"channel_tasks_s": [], "segment_tasks_s": [], "progress": [], "segments": {}}
    estimate = {}
    for t, msg in lines:
        if t < t0 or t > t1 + 0.5:
            continue
        if LOG_CHANNEL_TASK.match(msg):
            steps["channel_tasks_s"].append(rel(t))
        elif m := LOG_SEGMENT_TASK.match(msg):
            steps["segment_tasks_s"].append([rel(t), m.group(1)])
        elif m := LOG_PROGRESS.match(msg):
            steps["progress"].append([rel(t), int(m.group(1))])
        elif m := LOG_ESTIMATE.match(msg):
            estimate[m.group(1)] = float(m.group(2))
        elif m := LOG_FILES_START.match(msg):
            seg = steps["segments"].setdefault(m.group(1), {})
            seg.update(start_s=rel(t), rows=int(m.group(2)), estimate_mib=estimate.get(m.group(1)))
        elif m := LOG_SEGMENT_DONE.match(msg):
            steps["segments"].setdefault(m.group(1), {})["done_s"] = rel(t)
    total_bytes = 0
    for seg in steps["segments"].values():
        if "rows" not in seg:
            continue
        if raw:
            seg["bytes"] = seg["rows"] * (4 * dim + RAW_ROW_EXTRA_BYTES)
        elif seg.get("estimate_mib") is not None:
            seg["bytes"] = round(seg["estimate_mib"] * 1024 * 1024)
        if seg.get("bytes") and "done_s" in seg:
            seg["seconds"] = round(seg["done_s"] - seg["start_s"], 3)
            seg["ns_per_byte"] = round(seg["seconds"] * 1e9 / seg["bytes"], 2)
            total_bytes += seg["bytes"]
    segs = [s for s in steps["segments"].values() if "seconds" in s]
    if segs and total_bytes:
        first, last = min(s["start_s"] for s in segs), max(s["done_s"] for s in segs)
        steps["loader"] = {"segments": len(segs), "bytes": total_bytes, "first_start_s": first, "last_done_s": last,
                           "wall_s": round(last - first, 3),
                           "ns_per_byte_wall": round((last - first) * 1e9 / total_bytes, 2)}
    steps["segments"] = [dict(id=k, **v) for k, v in sorted(steps["segments"].items())]
    return steps


def run_dataset(dim, rows, args, doc):
    run = {"dim": dim, "rows": rows, "loads": []}
    doc["datasets"].append(run)
    server = MilvusStandalone(args.workdir)
    marks = []
    client = None
    try:
        server.start()
        client = Client(server.proxy_port)
        doc["versions"]["milvus_server"] = client.server_version()
        monitor = Monitor(server.pid, args.quiet_cores, args.quiet_window_s, args.max_wait_s)
        data, _ = make_data(dim, rows, args.seed, "clustered")
        name = f"load_d{dim}_n{rows}"
        insert, flush = ingest(client, monitor, name, dim, data)
        run["insert_rows_per_s_rpc"] = insert["rows_per_s_rpc"]
        run["segments_after_flush"] = flush["segments_after"]
        log(f"dim {dim}: {rows} rows at {insert['rows_per_s_rpc']:.0f} rows/s, segments "
            f"{flush['segments_after']['rows']}")
        for index, params in INDEXES:
            build_s = client.build_index(name, index, params)
            time.sleep(args.pause_s)
            monitor.wait_quiet()
            with monitor.measure() as m:
                t0 = time.time()
                load_s = client.load(name)
                t1 = time.time()
            record = {"index_type": index, "build_params": params, "build_s": build_s, "load_s": load_s,
                      "contention": m.result, "segments_loaded": client.query_segments(name)}
            run["loads"].append(record)
            marks.append((record, t0, t1))
            log(f"dim {dim} {index}: build {build_s} s, load {load_s} s, "
                f"server CPU {m.result['server_cpu_s']} s")
            client.release(name)
            client.drop_index(name)
            time.sleep(args.pause_s)
    finally:
        if client is not None:
            client.close()
        try:
            lines = read_log(server.logs_dir) if server.logs_dir and os.path.isdir(server.logs_dir) else []
            for record, t0, t1 in marks:
                record["steps"] = load_steps(lines, t0, t1, dim, record["index_type"] == "FLAT")
        finally:
            server.stop()


def main(argv):
    args = parse_args(argv)
    network_note = start_side_script(argv, __file__, args.no_netns)
    t_start = time.monotonic()
    doc = {
        **record_header(SCHEMA, network_note),
        "settings": {"datasets": args.datasets, "seed": args.seed, "settle_s": args.pause_s},
        "datasets": [],
    }
    try:
        for spec in args.datasets.split(","):
            dim, rows = (int(x) for x in spec.split(":"))
            run_dataset(dim, rows, args, doc)
        doc["complete"] = True
    except KeyboardInterrupt as e:
        doc["stopped_by"] = str(e) or "interrupt"
        log(f"stopped: {doc['stopped_by']}")
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            signal.signal(sig, signal.SIG_IGN)
        doc["wall_s"] = round(time.monotonic() - t_start, 1)
        with open(args.out + ".tmp", "w") as f:
            json.dump(doc, f, indent=1)
        os.replace(args.out + ".tmp", args.out)
        print_table(doc)
        log(f"wrote {args.out} in {doc['wall_s']} s")
    return 0 if doc["complete"] else 1


def print_table(doc):
    print("dim  index     load_s  channel task  segment tasks  100 %   loader: segments  MB      wall s  ns/byte (per segment)")
    for run in doc["datasets"]:
        for rec in run["loads"]:
            st = rec.get("steps", {})
            ld = st.get("loader", {})
            full = [t for t, p in st.get("progress", []) if p == 100]
            per = ", ".join(str(s.get("ns_per_byte")) for s in st.get("segments", []))
            seg_tasks = sorted({t for t, _ in st.get("segment_tasks_s", [])})
            print(f"{run['dim']:<4} {rec['index_type']:<9} {rec['load_s']:6.2f}  "
                  f"{(st.get('channel_tasks_s') or [None])[0]!s:>12}  {seg_tasks[:1]!s:>13}  "
                  f"{(full or [None])[0]!s:>5}   {ld.get('segments', 0):>16}  {ld.get('bytes', 0) / 1e6:6.1f}  "
                  f"{ld.get('wall_s')!s:>6}  {per}")


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
