"""Steady-state searches of one index on the real Milvus 2.3 standalone, with the server's
CPU per search and where it goes: a check of single harness cases, away from whatever
else the server was doing when the harness measured them.

    experiments/fidelity/.venv/bin/python experiments/fidelity/profile_search.py \\
        --dim 768 --rows 100000 --index IVF_FLAT --build nlist=1024 --search nprobe=16 --nq 1,100

Starts the server as harness.py does (loopback only; no private network namespace), with
`dataCoord.segment.maxSize` large enough (`--max-size-mb`, default 2048) that the rows
flush as one segment, as the harness's collections were by the time it searched them
(compaction had merged them). Inserts, flushes, builds the index, loads, then per nq
searches back to back from one client (Eventually, topk 10) for `--seconds`, after a
warm-up, with `perf record` sampling the server. Prints per nq: searches, the Search
RPC's p50 (the harness's client adds its own overhead to it), the server's CPU per
search, and the functions with the largest shares of the server's samples. Without
`perf` (Debian's linux-perf) it prints the figures without the functions.

With `--harness-loop` it then measures the same search as the harness does (a client
thread, the full mode's warm-up and window, `measure.run_search`) on the same server and
prints that beside it, which tells the harness's way of measuring from the time and the
server it measured on; neither loop then runs under `perf`, and nothing is profiled.
"""

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from contention import Monitor, _pid_stat  # noqa: E402
from data import make_data  # noqa: E402
from harness import MODES  # noqa: E402
from measure import ingest, run_search  # noqa: E402
from milvus_client import Client  # noqa: E402
from server import MilvusStandalone  # noqa: E402


def params(text):
    out = {}
    for part in filter(None, text.split(",")):
        key, value = part.split("=")
        out[key] = int(value)
    return out


def cpu_s(pid):
    """CPU seconds of one process so far, all its threads included."""
    return _pid_stat(pid)[1] / os.sysconf("SC_CLK_TCK")


def main(argv):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--dim", type=int, default=768)
    p.add_argument("--rows", type=int, default=100_000)
    p.add_argument("--index", default="IVF_FLAT")
    p.add_argument("--build", type=params, default={}, help="build parameters, e.g. nlist=1024")
    p.add_argument("--search", type=params, action="append", default=None,
                   help="search parameters, e.g. nprobe=16 (repeat for more)")
    p.add_argument("--nq", default="1,100")
    p.add_argument("--seconds", type=float, default=8.0)
    p.add_argument("--max-size-mb", type=int, default=2048)
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--harness-loop", action="store_true",
                   help="after each steady measurement, measure the same search the way the harness does "
                        "(measure.run_search: a client thread, one client, Eventually, the full mode's "
                        "warm-up and window) on the same server, and print both: whether the harness's own "
                        "way of measuring moves the figures")
    args = p.parse_args(argv)
    # --harness-loop compares two ways of timing: neither runs under perf's sampling.
    perf = None if args.harness_loop else shutil.which("perf")
    work = tempfile.mkdtemp(prefix="profile-search-")
    server = MilvusStandalone(work, config={"dataCoord.segment.maxSize": args.max_size_mb})
    try:
        server.start()
        client = Client(server.proxy_port)
        monitor = Monitor(server.pid, 0.3, 1.0, 30.0)
        name = "profile_search"
        data, queries = make_data(args.dim, args.rows, args.seed, "clustered")
        ingest(client, monitor, name, args.dim, data)
        build_s = client.build_index(name, args.index, args.build)
        client.load(name)
        print(f"{args.index} {args.build} over {args.rows} x {args.dim}: built in {build_s} s; "
              f"segments {client.query_segments(name)}", flush=True)
        qs = queries.tolist()
        for search in args.search or [{}]:
            for nq in [int(n) for n in args.nq.split(",")]:
                i = 0

                def once():
                    nonlocal i
                    j = i % (len(qs) - nq)
                    i += nq
                    return client.search_once(name, qs[j:j + nq], search, 10, "Eventually")[1]

                t_end = time.monotonic() + 2.0
                while time.monotonic() < t_end:
                    once()
                data_file = os.path.join(work, f"perf-{nq}.data")
                rec = None
                if perf:
                    rec = subprocess.Popen([perf, "record", "-F", "2000", "-p", str(server.pid), "-o", data_file],
                                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                    time.sleep(0.5)
                c0, t0, rpc = cpu_s(server.pid), time.monotonic(), []
                while time.monotonic() - t0 < args.seconds:
                    rpc.append(once())
                c1 = cpu_s(server.pid)
                rpc.sort()
                print(f"  {search} nq {nq}: {len(rpc)} searches, Search RPC p50 {rpc[len(rpc) // 2] / 1e6:.3f} ms, "
                      f"server CPU {(c1 - c0) / len(rpc) * 1e3:.3f} ms a search", flush=True)
                if rec is not None:
                    rec.send_signal(subprocess.signal.SIGINT)
                    rec.wait()
                    report = subprocess.run(
                        [perf, "report", "-i", data_file, "--sort", "dso,sym", "--stdio", "--percent-limit", "2"],
                        capture_output=True, text=True).stdout
                    for line in report.splitlines():
                        if line.strip() and not line.startswith("#"):
                            print("     " + " ".join(line.split()), flush=True)
                if args.harness_loop:
                    settings = MODES["full"]
                    figures, _ = run_search(client, monitor, name, queries, search, settings, nq, 1, "Eventually",
                                            settings["min_requests"])
                    if figures["rpc_ms_p50"] is None:
                        print(f"  {search} nq {nq} as the harness measures it: no search answered "
                              f"({figures.get('first_error', 'no error recorded')})", flush=True)
                    else:
                        print(f"  {search} nq {nq} as the harness measures it: {figures['requests']} searches, "
                              f"Search RPC p50 {figures['rpc_ms_p50']:.3f} ms, "
                              f"server CPU {figures['server_cpu_ms_per_request']:.3f} ms a search", flush=True)
    finally:
        server.stop()
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
