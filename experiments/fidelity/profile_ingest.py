"""Where the real Milvus 2.3 standalone spends its CPU while it ingests: the measurement
behind simctl's insert-path CPU constants (src/milvus/overheads.rs).

    experiments/fidelity/.venv/bin/python experiments/fidelity/profile_ingest.py --dim 768 --rows 100000

Starts the server as harness.py does (loopback only; no private network namespace),
inserts the rows in the harness's 4 MiB batches and flushes, with `perf record -g`
sampling the server's threads (Go keeps frame pointers, so the call graphs name the
Go functions each sample ran under). Prints the server's CPU per inserted byte, in
all and under each part of the insert path below, from the samples' inclusive
("children") counts. Needs `perf` (Debian's linux-perf) and permission to sample
another process (root, or kernel.perf_event_paranoid <= 1). A machine with others
busy gives the same CPU (work, not time), but a quiet one gives cleaner samples.
"""

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from contention import Monitor  # noqa: E402
from data import make_data  # noqa: E402
from measure import ingest  # noqa: E402
from milvus_client import Client  # noqa: E402
from server import MilvusStandalone  # noqa: E402

# The parts of the insert path, by the function every sample of that part runs under.
PARTS = [
    ("Insert RPC: gRPC receive and request decode", r"grpc\.\(\*Server\)\.handleStream$"),
    ("Insert RPC: proxy insert task (checks, hashing, produce to RocksMQ)",
     r"internal/proxy\.\(\*taskScheduler\)\.processTask$"),
    ("data node: reading and decoding the channel's messages",
     r"msgstream\.\(\*MqTtMsgStream\)\.consumeToTtMsg$"),
    ("data node: insert buffer (flow graph node)", r"internal/datanode\.\(\*insertBufferNode\)\.Operate$"),
    ("data node: binlog serialisation (within the insert buffer)",
     r"internal/storage\.\(\*InsertCodec\)\.Serialize$"),
    ("Go garbage collector, background marking", r"runtime\.gcBgMarkWorker(\.func\d+)?$"),
]
HZ = 2000


def main(argv):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--dim", type=int, default=768)
    p.add_argument("--rows", type=int, default=100_000)
    p.add_argument("--seed", type=int, default=42)
    args = p.parse_args(argv)
    if shutil.which("perf") is None:
        sys.exit("profile_ingest.py: `perf` is not installed (Debian: apt-get install linux-perf)")
    work = tempfile.mkdtemp(prefix="profile-ingest-")
    perf_data = os.path.join(work, "perf.data")
    server = MilvusStandalone(work)
    try:
        server.start()
        client = Client(server.proxy_port)
        monitor = Monitor(server.pid, 0.3, 1.0, 30.0)
        data, _ = make_data(args.dim, args.rows, args.seed, "clustered")
        perf = subprocess.Popen(
            ["perf", "record", "-g", "-F", str(HZ), "-p", str(server.pid), "-o", perf_data],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        time.sleep(1.0)
        insert, flush = ingest(client, monitor, "profile_ingest", args.dim, data)
        # The data node serialises the last buffers after the flush call returns.
        time.sleep(3.0)
        perf.send_signal(subprocess.signal.SIGINT)
        _, err = perf.communicate()
        if perf.returncode not in (0, -2):
            sys.exit(f"profile_ingest.py: perf record failed: {err.decode(errors='replace')[-500:]}")
        # perf needs the server's libraries for the report: before the server stops.
        report = subprocess.run(
            ["perf", "report", "-i", perf_data, "--children", "--sort", "sym", "--stdio", "-g", "none",
             "--percent-limit", "0.5"],
            capture_output=True, text=True, check=True).stdout
    finally:
        server.stop()
        shutil.rmtree(work, ignore_errors=True)
    total_ns = None
    m = re.search(r"Event count \(approx\.\): (\d+)", report)
    if m:
        total_ns = int(m.group(1))
    row_bytes = 8 + 4 * args.dim
    nbytes = args.rows * row_bytes
    print(f"dim {args.dim}, {args.rows} rows, {nbytes / 1e6:.0f} MB (8-byte key + 4 bytes a dimension): "
          f"Insert RPCs {insert['rpc_s']} s ({insert['rpc_s'] / nbytes * 1e9:.1f} ns per byte), "
          f"flush {flush['flush_s']} s, others' cores {insert['contention']['others_cores_mean']}")
    if total_ns is None:
        sys.exit("profile_ingest.py: perf report printed no event count")
    print(f"server CPU sampled: {total_ns / 1e9:.2f} s, {total_ns / nbytes:.1f} ns per byte inserted")
    for label, pattern in PARTS:
        share = 0.0
        for line in report.splitlines():
            cols = line.split()
            if len(cols) >= 4 and cols[0].endswith("%") and re.search(pattern, cols[-1]):
                share = float(cols[0].rstrip("%")) / 100
                break
        print(f"  {share * 100:5.1f} %  {share * total_ns / nbytes:5.1f} ns per byte  {label}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
