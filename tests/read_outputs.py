"""Reads a run's output directory with Python polars and checks the output contract.

Usage: python3 tests/read_outputs.py RUN_DIR
Exits non-zero if a file is missing or a column differs from the README's contract.
"""
import json
import sys
from pathlib import Path

import polars as pl

CONTRACT = {
    "requests.parquet": ["request_id", "kind", "start_s", "end_s", "latency_ms", "status", "error", "proxy"],
    "timeseries.parquet": [
        "t_s", "host", "service", "cpu_util", "mem_bytes", "net_tx_bytes", "net_rx_bytes",
        "disk_read_bytes", "disk_write_bytes", "queue_max", "requests", "p50_ms", "p99_ms",
    ],
    "events.parquet": ["t_s", "kind", "host", "service", "detail"],
}


def main(run_dir: Path) -> int:
    failures = []
    for name, columns in CONTRACT.items():
        df = pl.read_parquet(run_dir / name)
        if df.columns != columns:
            failures.append(f"{name}: columns {df.columns}, expected {columns}")
        print(f"{name}: {df.height} rows, columns {df.columns}")
    summary = json.loads((run_dir / "summary.json").read_text())
    search = summary["requests"]["search"]
    for key in ["count", "ok", "failed", "qps", "p50_ms", "p95_ms", "p99_ms"]:
        if not isinstance(search.get(key), (int, float)):
            failures.append(f"summary.json: requests.search.{key} missing")
    for key in ["acked_rows_lost", "peak_memory_bytes", "assertions", "events_processed", "sim_seconds"]:
        if key not in summary:
            failures.append(f"summary.json: {key} missing")
    warmup_s = summary["sim_seconds"] - summary["measured_seconds"]
    requests = pl.read_parquet(run_dir / "requests.parquet")
    measured_ok = requests.filter(
        (pl.col("kind") == "search") & (pl.col("status") == "ok") & (pl.col("start_s") >= warmup_s)
    )
    if measured_ok.height != search["ok"]:
        failures.append("requests.parquet and summary.json disagree on the number of ok searches")
    # Faults: each failed search the summary attributes to a fault is in
    # requests.parquet, and every fault shows up in events.parquet.
    events = pl.read_parquet(run_dir / "events.parquet")
    for i, fault in enumerate(summary.get("faults", [])):
        first, last = fault["first_error_s"], fault["last_error_s"]
        if first is not None:
            # Failures are dated by when the client got the error (end_s).
            n = requests.filter(
                (pl.col("status") == "error") & (pl.col("end_s") >= first) & (pl.col("end_s") <= last)
            ).height
            if n != fault["failed_requests"]:
                failures.append(f"faults[{i}]: {fault['failed_requests']} failed requests, requests.parquet has {n}")
        injected = events.filter((pl.col("kind") == "fault_injected") & (pl.col("t_s") == fault["at_s"]))
        if injected.height == 0:
            failures.append(f"faults[{i}]: no fault_injected event at {fault['at_s']} s")
    # The write path: its sections, and one request row per insert.
    if "ingest" in summary:
        for key in ["ingest.rows", "ingest.seconds", "ingest.time_to_searchable_s", "index.seconds",
                    "segments.sealed", "segments.final"]:
            section, field = key.split(".")
            if field not in summary.get(section, {}):
                failures.append(f"summary.json: {key} missing")
        inserts = requests.filter(pl.col("kind") == "insert").height
        if inserts != summary["requests"]["insert"]["count"]:
            failures.append("requests.parquet and summary.json disagree on the number of inserts")
    for name in ["manifest.json", "perf.json"]:
        json.loads((run_dir / name).read_text())
    for f in failures:
        print("FAIL:", f)
    checks = len(CONTRACT) + 3
    print(f"{checks - min(len(failures), checks)} passed, {len(failures)} failed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1])))
