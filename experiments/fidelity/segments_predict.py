"""Sealed-segment sizes that segments.py measured, beside two rules and simctl's prediction.

    python3 experiments/fidelity/segments_predict.py experiments/fidelity/results-segments.json

* allocation rule: a segment is sealed as soon as the rows *allocated* to it reach
  sealProportion x max rows (max rows as the server's log states it), so every sealed segment
  holds exactly that many rows.
* currRows rule: the seal policy compares the rows the data node has *consumed* (its count,
  reported on its time tick) with sealProportion x max rows; rows keep being allocated to the
  segment meanwhile. A segment then holds the seal point plus rate x D, where D is the time from
  the allocation that reached the seal point to the seal, in whole batches, and at most as many
  whole batches as fit in max rows (datacoord allocates a request only to a segment whose free
  rows, max rows - rows - allocations not yet expired (2 s), hold all of it). D is one figure for
  every case: the median of the measured D over all of them.
* simctl: `simctl run` on topologies/standalone.toml with the case's maxSize, rate (or closed-loop
  clients), batch rows and clients; the sizes of its segment_sealed events sealed when full.

Standard library, plus pyarrow or polars to read simctl's events.parquet.
"""

import argparse
import json
import math
import os
import re
import statistics
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
SIM_ROWS_SEGMENTS = 14  # rows inserted in the simulation: enough for this many sealed segments


def read_events(path):
    try:
        import pyarrow.parquet as pq

        table = pq.read_table(path, columns=["t_s", "kind", "detail"]).to_pydict()
        return list(zip(table["t_s"], table["kind"], table["detail"]))
    except ImportError:
        import polars as pl

        df = pl.read_parquet(path, columns=["t_s", "kind", "detail"])
        return list(df.iter_rows())


def simulate(simctl, max_size_mb, case, seal_rows_guess, workdir):
    rate = case["target_rows_per_s"]
    arrivals = f"rate = {rate}" if rate else f"clients = {case['clients']}"
    rows = SIM_ROWS_SEGMENTS * max(seal_rows_guess, case["batch_rows"]) * 2
    text = f"""name = "segments-{case['id']}"
topology = {json.dumps(os.path.join(REPO, 'topologies', 'standalone.toml'))}
duration = "30m"
seed = 1

[collection]
rows = 0
dim = 128
metric = "L2"
index = "FLAT"

[workload]
search_params = {{}}

[workload.insert]
rows = {rows}
{arrivals}
batch_rows = {case['batch_rows']}
flush = true

[milvus]
"dataCoord.segment.maxSize" = {max_size_mb}
"""
    exp = os.path.join(workdir, f"{max_size_mb}-{case['id']}.toml")
    out = os.path.join(workdir, f"{max_size_mb}-{case['id']}")
    with open(exp, "w") as f:
        f.write(text)
    subprocess.run([simctl, "run", exp, "--out", out, "--quiet"], check=True, capture_output=True)
    sealed, flush_sealed, times = [], 0, []
    for t, kind, detail in read_events(os.path.join(out, "events.parquet")):
        if kind != "segment_sealed":
            continue
        m = re.search(r"rows (\d+): sealed \((.*)\)", detail)
        if m and m.group(2) == "full":
            sealed.append(int(m.group(1)))
            times.append(t)
        else:
            flush_sealed += 1
    with open(os.path.join(out, "summary.json")) as f:
        summary = json.load(f)
    rate_sim = (summary.get("ingest") or {}).get("rows_per_s")
    return {"sealed_rows": sealed, "flush_sealed": flush_sealed, "rows_per_s": rate_sim}


def current_rows_rule(seal_rows, max_rows, rate, batch, delay_s):
    """Seal point plus the rows allocated during delay_s, in whole batches, capped by max rows."""
    batches_to_seal_point = math.ceil(seal_rows / batch)
    batches_during_delay = math.floor(rate * delay_s / batch)
    cap = max(1, max_rows // batch)
    return min(batches_to_seal_point + batches_during_delay, cap) * batch


def main(argv):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("results", help="a results file of segments.py")
    p.add_argument("--simctl", default=os.path.join(REPO, "target", "release", "simctl"))
    p.add_argument("--no-simctl", action="store_true", help="leave out simctl's prediction")
    p.add_argument("--json", default=None, help="also write the table as JSON here")
    args = p.parse_args(argv)
    with open(args.results) as f:
        doc = json.load(f)

    delays = [s["seal_after_allocated_s"] for r in doc["servers"] for c in r["cases"] for s in c["segments"]
              if s["sealed_by"] == "policy" and s.get("seal_after_allocated_s") is not None]
    delay = statistics.median(delays) if delays else 0.0
    print(f"D (allocation reaching the seal point -> seal), all cases: median {delay:.3f} s, "
          f"range {min(delays):.3f}-{max(delays):.3f} s over {len(delays)} segments")
    rows_out = []
    with tempfile.TemporaryDirectory(prefix="segments-simctl-") as workdir:
        print(f"{'maxSize':>7} {'case':24} {'rows/s':>7} {'batch':>5} {'measured median':>15} {'min-max':>13} "
              f"{'alloc rule':>10} {'currRows rule':>13} {'D meas.':>7} {'simctl':>13} {'others':>6}")
        for r in doc["servers"]:
            for c in r["cases"]:
                policy = [s for s in c["segments"] if s["sealed_by"] == "policy"]
                if not policy:
                    continue
                max_rows = next(s["max_rows"] for s in policy if s.get("max_rows"))
                seal_rows = next(s["seal_rows"] for s in policy if s.get("seal_rows"))
                rate = c.get("rows_per_s_sealed") or c["rows_per_s"]
                measured = [s["rows"] for s in policy]
                case_delays = [s["seal_after_allocated_s"] for s in policy if s.get("seal_after_allocated_s")]
                predicted = current_rows_rule(seal_rows, max_rows, rate, c["batch_rows"], delay)
                sim = None
                if not args.no_simctl:
                    sim = simulate(args.simctl, r["max_size_mb"], c, seal_rows, workdir)
                row = {
                    "max_size_mb": r["max_size_mb"], "case": c["id"], "clients": c["clients"],
                    "rows_per_s": round(rate), "batch_rows": c["batch_rows"],
                    "max_rows": max_rows, "seal_rows": seal_rows,
                    "measured": {"count": len(measured), "median": statistics.median(measured),
                                 "min": min(measured), "max": max(measured)},
                    "allocation_rule": seal_rows,
                    "current_rows_rule": predicted,
                    "delay_s_median": round(statistics.median(case_delays), 3) if case_delays else None,
                    "simctl": None if sim is None else {
                        "median": statistics.median(sim["sealed_rows"]) if sim["sealed_rows"] else None,
                        "count": len(sim["sealed_rows"]), "rows_per_s": sim["rows_per_s"],
                        "distinct": sorted(set(sim["sealed_rows"]))},
                    "others_cores_mean": c["contention"]["others_cores_mean"],
                }
                rows_out.append(row)
                simtext = "-" if sim is None or not sim["sealed_rows"] else (
                    f"{row['simctl']['median']:.0f} ({len(sim['sealed_rows'])})")
                print(f"{r['max_size_mb']:>7} {c['id']:24} {rate:>7.0f} {c['batch_rows']:>5} "
                      f"{row['measured']['median']:>10.0f} ({len(measured):>2}) "
                      f"{row['measured']['min']:>6}-{row['measured']['max']:<6} {seal_rows:>10} {predicted:>13} "
                      f"{row['delay_s_median'] if row['delay_s_median'] is not None else '-':>7} {simtext:>13} "
                      f"{row['others_cores_mean']:>6.2f}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"delay_s": {"median": delay, "min": min(delays), "max": max(delays), "segments": len(delays)},
                       "rows": rows_out}, f, indent=1)
            f.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
