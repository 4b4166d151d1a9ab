#!/usr/bin/env python3
"""Derives simctl's measured server-overhead knobs from a fidelity results file.

    python3 experiments/fidelity/derive_overheads.py experiments/fidelity/results-full-example.json
    python3 experiments/fidelity/derive_overheads.py experiments/fidelity/results-ingest-quiet.json --ghz 3.089

Standard library only. Prints each figure and the records it comes from; the constants
in src/milvus/overheads.rs quote what it prints for results-full-example.json, and
tests/it/fidelity.rs checks the constants against the same records.

* Per-search server CPU. The harness searches a 100-row FLAT collection (concurrency 1,
  Eventually) per dim and nq: the kernel work is a few microseconds, so the server CPU
  per request (`server_cpu_ms_per_request`, less the server's idle background work
  where the record has `server_cores_before`) is the server's own work around the
  kernels: gRPC and protobuf on both hops, the proxy's task queue, plan and reduce, the
  delegator and the query node's scheduler, segcore's cgo calls and result
  marshalling. A least-squares line over nq gives a fixed part per request and a part
  per query vector. It is printed as the records measured it and, where they carry the
  client's figures, carried to the
  run's fastest client (each record's CPU over its client's speed: its client work per
  search, `client_prepare_ms_p50 + client_parse_ms_p50`, over the least any record or
  case of the run took at the same dim, nq and topk), the work the fidelity command
  multiplies by each uncontended case's own client speed.
* Critical-path share. Not all of that CPU delays the reply: the server's time on the
  request is the Search RPC's time (`rpc_ms_p50`) less the part of a round trip spent
  outside the server (GetVersion, the lightest RPC: its round trip less the server's
  CPU per call). Over all records, that time over the CPU is the share the client
  waits for; the rest runs beside the request (gRPC transport goroutines, the garbage
  collector's background marking).
* Insert server time per byte. The Insert RPCs' time (`rpc_s`, the SDK's conversion
  excluded) over the bytes inserted (8-byte primary key + 4 bytes per dimension, as
  simctl counts a row). Other processes' CPU stretches an RPC's time, so the knob is
  the mean of the uncontended records; with `--ghz G` (the measuring machine's clock,
  from its calibration profile) it is also printed at simctl's reference clock, the
  clock every server-work constant is quoted at. INSERT_NS_PER_BYTE quotes what it
  prints for results-ingest-quiet.json (`harness.py --ingest-only --repeat 5` on a
  quiet machine) with --ghz 3.089 (profiles/xeon-2.5ghz-2core.toml).

With `--fidelity TABLE.json` (TABLE.json: what the fidelity command wrote for the same
results file with `--out` and `--model-server-work`) it also sets the run's own
per-search work beside the one the table was predicted with (its `search_server_cpu`;
for a table written before tables carried it, give `--ghz G`, the clock of the profile
it predicted with, and the model's at that clock is taken), and redoes the one-client
Eventually medians with the difference added (its critical-path share): arithmetic on
the table, not a simulation, valid where one search runs at a time. It shows how far the
server's own work, which a slowed machine moves more than the clock, accounts for a
run's misses; the fidelity command itself now predicts with the run's own work, so this
is the check of that, case by case.

It also prints, as evidence rather than knobs, what the machine did during each index
build (the server's CPU and cores beside the other processes' cores; the fidelity command
replays the others' CPU of every measurement, and `simctl explain` prints the model's
build CPU to set beside the server's) and the server's CPU per query of the FLAT
search cases (knowhere's brute force: one pass over the segment per query).
"""

import argparse
import json
import os

# The clock simctl's measured server work is quoted at (MEASURED_ON_GHZ, src/milvus/overheads.rs).
REFERENCE_GHZ = 3.704
# The results file the model's per-search work was derived from, at REFERENCE_GHZ
# (SEARCH_SERVER_NS, SEARCH_SERVER_NS_PER_QUERY and SEARCH_CRITICAL_SHARE in
# src/milvus/overheads.rs quote what this script prints for it).
MODEL_RESULTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "results-full-example.json")
# The band the fidelity command counts a figure in.
BAND = (0.8, 1.25)


def background_ms(rec, requests, window_s):
    """Server CPU per request that is idle background work (time ticks and the like)."""
    cores = rec["contention"].get("server_cores_before")
    if cores is None or requests == 0:
        return 0.0
    return cores * window_s / requests * 1e3


def tiny_searches(results):
    """(record, server CPU ms per request less the idle background) of each 100-row
    search record that answered searches without errors."""
    out = []
    for rec in results.get("client_overhead", []):
        if rec.get("kind") != "search_tiny_collection":
            continue
        f = rec["figures"]
        if f.get("errors", 0) or not f.get("requests"):
            continue
        out.append((rec, f["server_cpu_ms_per_request"] - background_ms(rec, f["requests"], f["window_s"])))
    return out


def least_squares(points):
    """(fixed, slope) of a least-squares line through (nq, ms) points; slope 0 where
    every point has the same nq."""
    n = len(points)
    mean_x = sum(p[0] for p in points) / n
    mean_y = sum(p[1] for p in points) / n
    sxx = sum((p[0] - mean_x) ** 2 for p in points)
    slope = 0.0
    if sxx > 0:
        slope = sum((p[0] - mean_x) * (p[1] - mean_y) for p in points) / sxx
    return mean_y - slope * mean_x, slope


def search_cpu(results, outside_ms):
    """(fixed_ms, per_query_ms, critical_share, points): least squares of CPU per
    request over nq; the server's time on the request over its CPU, all records."""
    points = [(rec["dim"], rec["nq"], cpu, rec["figures"]["rpc_ms_p50"] - outside_ms)
              for rec, cpu in tiny_searches(results)]
    if not points:
        return None
    fixed, slope = least_squares([(p[1], p[2]) for p in points])
    share = sum(p[3] for p in points) / sum(p[2] for p in points)
    return fixed, slope, share, points


def client_ms(rec):
    """((dim, nq, topk), client work per search in ms) of a record that answered
    searches without errors and has the client's figures, else None."""
    f = rec.get("figures", {})
    if f.get("errors", 0) or not f.get("requests"):
        return None
    if "client_prepare_ms_p50" not in f or "client_parse_ms_p50" not in f:
        return None
    ms = f["client_prepare_ms_p50"] + f["client_parse_ms_p50"]
    return ((rec["dim"], rec["nq"], rec["topk"]), ms) if ms > 0 else None


def fastest_clients(results):
    """The least client work per search at each (dim, nq, topk), over the 100-row
    records and the cases: the machine at its best in this run."""
    fastest = {}
    records = [r for r in results.get("client_overhead", []) if r.get("kind") == "search_tiny_collection"]
    for rec in records + results.get("cases", []):
        got = client_ms(rec)
        if got:
            key, ms = got
            fastest[key] = min(ms, fastest.get(key, ms))
    return fastest


def search_cpu_at_fastest(results):
    """(fixed_ms, per_query_ms) of the 100-row records' CPU, each carried to the run's
    fastest client first (its CPU over its client work against the fastest at its dim,
    nq and topk); None where a record lacks the client's figures."""
    fastest = fastest_clients(results)
    points = []
    for rec, cpu in tiny_searches(results):
        got = client_ms(rec)
        if got is None:
            return None
        key, ms = got
        points.append((rec["nq"], cpu / (ms / fastest[key])))
    if len({p[0] for p in points}) < 2:
        return None
    return least_squares(points)


def get_version(results):
    """(round trip p50 ms, server CPU ms per call) of the GetVersion records."""
    for rec in results.get("client_overhead", []):
        if rec.get("kind") == "get_version_rpc" and rec.get("requests"):
            c = rec["contention"]
            cpu_s = c["server_cpu_s"] - c.get("server_cores_before", 0.0) * c["wall_s"]
            return rec["latency_ms_p50"], max(cpu_s, 0.0) / rec["requests"] * 1e3
    return None


def insert_ns_per_byte(results):
    out = []
    for ds in results.get("datasets", []):
        ins = ds.get("insert") or {}
        if not ins.get("rpc_s"):
            continue
        row_bytes = 8 + 4 * ds["dim"]
        contention = ins.get("contention") or {}
        label = ds["name"] + (f" #{ds['repeat']}" if "repeat" in ds else "")
        out.append((label, ins["rpc_s"] / (ds["rows"] * row_bytes) * 1e9,
                    contention.get("others_cores_mean", 0.0), bool(contention.get("contended"))))
    return out


def builds(results):
    """(name, index, build_s, server CPU s less idle background, others' cores, cores)."""
    cores = results.get("machine", {}).get("cores_usable")
    out = []
    for ds in results.get("datasets", []):
        for ix in ds.get("indexes", []):
            c = ix.get("build_contention") or {}
            if ix.get("index_type") == "FLAT" or not ix.get("build_s") or not c.get("wall_s"):
                continue
            cpu = c["server_cpu_s"] - c.get("server_cores_before", 0.0) * c["wall_s"]
            out.append((ds["name"], ix["index_type"], ix["build_s"], cpu,
                        c.get("others_cores_mean", 0.0), cores))
    return out


def flat_cpu_per_query(results, fixed_ms, per_query_ms):
    """(case id, nq, concurrency, others' cores, server CPU ms per query of the scan):
    the FLAT search cases (Eventually), less the per-search server work."""
    out = []
    for case in results.get("cases", []):
        f = case.get("figures") or {}
        if (case.get("index_type") != "FLAT" or case.get("consistency") != "Eventually"
                or f.get("errors", 0) or not f.get("requests")):
            continue
        nq = case["nq"]
        cpu = f["server_cpu_ms_per_request"] - background_ms(case, f["requests"], f["window_s"])
        scan = (cpu - fixed_ms - nq * per_query_ms) / nq
        out.append((case["id"], nq, case["concurrency"],
                    case["contention"].get("others_cores_mean", 0.0), scan))
    return out


def outside_server_ms(results):
    """The part of a round trip spent outside the server (GetVersion), or 0."""
    gv = get_version(results)
    return 0.0 if gv is None else gv[0] - gv[1]


def model_search_work():
    """(fixed_ms, per_query_ms, critical_share) of the model's per-search work at
    REFERENCE_GHZ: derived from the records its constants come from."""
    with open(MODEL_RESULTS) as f:
        anchor = json.load(f)
    fixed, per_query, share, _ = search_cpu(anchor, outside_server_ms(anchor))
    return fixed, per_query, share


def table_search_work(table, ghz):
    """(fixed_ms, per_query_ms, which) of the per-search work a fidelity table was
    predicted with: its own `search_server_cpu` where it has one (which: "run" or
    "model"), else (a table written before it carried one) the model's at `ghz`."""
    w = table.get("search_server_cpu")
    if w:
        return w["ms"], w["ms_per_query"], w["used"]
    if ghz is None:
        return None
    model_fixed, model_per_query, _ = model_search_work()
    return model_fixed * REFERENCE_GHZ / ghz, model_per_query * REFERENCE_GHZ / ghz, "model"


def with_run_server_work(table, fixed_ms, per_query_ms, used):
    """(case, measured, predicted, ratio, ratio with the run's own work) of the one-client
    Eventually p50 rows of a fidelity table: the prediction plus the critical-path share
    of this run's per-search work less `used` (fixed_ms, per_query_ms), the work the
    table was predicted with."""
    _, _, model_share = model_search_work()
    out = []
    for row in table.get("rows", []):
        case = row["case"]
        if row["figure"] != "search_p50_ms" or "/c1/Eventually" not in case:
            continue
        nq = int(case.split("/nq")[1].split("/")[0])
        used_ms = used[0] + nq * used[1]
        extra = (fixed_ms + nq * per_query_ms - used_ms) * model_share
        out.append((case, row["measured"], row["predicted"], row["ratio"],
                    (row["predicted"] + extra) / row["measured"]))
    return out


def main():
    p = argparse.ArgumentParser(description="Derive simctl's measured server-overhead knobs from a results file.")
    p.add_argument("results", help="a results file of harness.py")
    p.add_argument("--ghz", type=float, default=None,
                   help="clock of the machine that measured it (its calibration profile's machine.ghz): "
                        f"also print the insert knob at simctl's reference clock, {REFERENCE_GHZ} GHz")
    p.add_argument("--fidelity", default=None,
                   help="the JSON table that the fidelity command wrote for RESULTS with --out (and "
                        "--model-server-work): redo its one-client Eventually medians with this run's own "
                        "per-search server work (a table without search_server_cpu needs --ghz)")
    args = p.parse_args()
    table = None
    if args.fidelity:
        with open(args.fidelity) as f:
            table = json.load(f)
        if table_search_work(table, args.ghz) is None:
            p.error("--fidelity: the table has no search_server_cpu; give --ghz, the clock of the "
                    "profile it was predicted with")
    with open(args.results) as f:
        results = json.load(f)
    gv = get_version(results)
    outside_ms = 0.0
    if gv is not None:
        outside_ms = gv[0] - gv[1]
        print(f"GetVersion: round trip {gv[0]:.3f} ms, server CPU {gv[1]:.3f} ms per call; "
              f"outside the server {outside_ms:.3f} ms")
    s = search_cpu(results, outside_ms)
    if s is None:
        print("search: no search_tiny_collection records")
    else:
        fixed, per_query, share, points = s
        for dim, nq, cpu, on_request in points:
            print(f"search tiny collection dim {dim} nq {nq}: server CPU {cpu:.3f} ms/request, "
                  f"server time on the request {on_request:.3f} ms")
        print(f"search server CPU: {fixed:.3f} ms per request + {per_query * 1e3:.1f} us per query vector")
        at_fastest = search_cpu_at_fastest(results)
        if at_fastest is not None:
            print(f"search server CPU at the run's fastest client: {at_fastest[0]:.3f} ms per request + "
                  f"{at_fastest[1] * 1e3:.1f} us per query vector")
        print(f"search critical-path share: {share:.3f} of the server CPU")
        for cid, nq, conc, others, scan in flat_cpu_per_query(results, fixed, per_query):
            print(f"FLAT {cid}: {scan:.2f} ms of server CPU per query "
                  f"(others {others:.2f} cores)")
        if table is not None:
            used_fixed, used_per_query, which = table_search_work(table, args.ghz)
            print(f"the table was predicted with the {which}'s per-search work: "
                  f"{used_fixed:.3f} ms per request + {used_per_query * 1e3:.1f} us per query vector")
            if which == "run":
                print("  (the run's own already: write the table with --model-server-work to see "
                      "what the run's own work changes)")
            rows = with_run_server_work(table, fixed, per_query, (used_fixed, used_per_query))
            for case, measured, predicted, ratio, again in rows:
                print(f"  {case}: measured {measured:.2f} ms, predicted {predicted:.2f} "
                      f"({ratio:.2f}), with this run's work {again:.2f}")
            inside = sum(BAND[0] <= r[3] <= BAND[1] for r in rows)
            again = sum(BAND[0] <= r[4] <= BAND[1] for r in rows)
            print(f"one-client Eventually medians in band: {inside} of {len(rows)} as predicted, "
                  f"{again} with this run's own per-search work")
    for name, index, build_s, cpu, others, cores in builds(results):
        print(f"build {name} {index}: {build_s:.2f} s, server CPU {cpu:.2f} s "
              f"({cpu / build_s:.2f} cores) beside others' {others:.2f} cores "
              f"of {cores}")
    per_byte = insert_ns_per_byte(results)
    for name, ns, others, contended in per_byte:
        mark = ", contended" if contended else ""
        print(f"insert {name}: {ns:.1f} ns per byte (Insert RPC time; others {others:.2f} cores{mark})")
    if per_byte:
        print(f"insert server time: {sum(ns for _, ns, _, _ in per_byte) / len(per_byte):.1f} ns per byte (mean)")
        # Other processes' CPU stretches an RPC's time: the quiet records are the better
        # measure where there are any.
        quiet = [ns for _, ns, _, contended in per_byte if not contended]
        if quiet and len(quiet) < len(per_byte):
            print(f"insert server time, uncontended records only: "
                  f"{sum(quiet) / len(quiet):.1f} ns per byte (mean of {len(quiet)})")
        if quiet and args.ghz:
            knob = sum(quiet) / len(quiet) * args.ghz / REFERENCE_GHZ
            print(f"insert knob (uncontended mean at {REFERENCE_GHZ} GHz): {knob:.1f} ns per byte")


if __name__ == "__main__":
    main()
