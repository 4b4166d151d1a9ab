"""How fast the measured machine ran during each one-client search case of a results file.

    python3 experiments/fidelity/machine_speed.py RESULTS.json [--fidelity TABLE.json]

A virtual machine's speed varies with its neighbours on the physical host, and /proc does not
show it. Two signs of it are in a results file:

* `client`: the harness's own client work per search in the case (pymilvus building the request
  and parsing the reply, `client_prepare_ms_p50 + client_parse_ms_p50`) over the same work in the
  run's first records (`client_overhead`, the 100-row collection, same dim and nq). The Python is
  the same, so a ratio above 1 is a slower machine (or a colder cache). One-client cases only:
  with more clients their threads share Python's lock and the ratio means something else.
* `probe`: where the file has them (harness runs since `speed_probe` existed), the mean of the CPU
  probes just before and just after the case over the fastest probe of the run (the start
  figure, `machine.speed_probe`, can itself fall in one of the machine's slow spells).

With `--fidelity TABLE.json` (the table that simctl's fidelity command writes with `--out`) it prints each
case's predicted/measured median beside them, and the correlation of the logarithms: a model that
is right for a machine running at its calibrated speed predicts the cases measured on a slowed
machine too fast, in proportion. Standard library only.
"""

import argparse
import json
import math
import sys


def client_ms(figures):
    return figures["client_prepare_ms_p50"] + figures["client_parse_ms_p50"]


def correlation(xs, ys):
    n = len(xs)
    if n < 3:
        return None
    mx, my = sum(xs) / n, sum(ys) / n
    vx = sum((x - mx) ** 2 for x in xs)
    vy = sum((y - my) ** 2 for y in ys)
    if vx == 0 or vy == 0:
        return None
    return sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / math.sqrt(vx * vy)


def main(argv):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("results", help="a results file of harness.py")
    p.add_argument("--fidelity", help="the JSON table that simctl's fidelity command wrote for RESULTS with --out")
    args = p.parse_args(argv)
    with open(args.results) as f:
        results = json.load(f)
    start = {}
    for rec in results.get("client_overhead", []):
        if rec.get("kind") == "search_tiny_collection":
            start[(rec["dim"], rec["nq"])] = client_ms(rec["figures"])
    probes = [results.get("machine", {}).get("speed_probe")]
    for rec in results.get("client_overhead", []) + results["cases"]:
        probes += [rec["contention"].get("probe_before"), rec["contention"].get("probe_after")]
    fastest = min((p["cpu_ms"] for p in probes if p), default=None)
    ratios = {}
    if args.fidelity:
        with open(args.fidelity) as f:
            table = json.load(f)
        ratios = {r["case"]: r["ratio"] for r in table["rows"] if r["figure"] == "search_p50_ms"}
    print(f"{'case':62s} {'client':>6s} {'probe':>6s} {'p50 ms':>9s} {'pred/meas':>9s}")
    xs, ys = [], []
    for case in results["cases"]:
        fig = case["figures"]
        base = start.get((case["dim"], case["nq"]))
        if case["concurrency"] != 1 or not fig.get("requests") or base is None:
            continue
        client = client_ms(fig) / base
        before, after = case["contention"].get("probe_before"), case["contention"].get("probe_after")
        probe = (before["cpu_ms"] + after["cpu_ms"]) / 2 / fastest if before and after and fastest else None
        ratio = ratios.get(case["id"])
        mark = " contended" if case["contention"]["contended"] else ""
        print(f"{case['id']:62s} {client:6.2f} {'' if probe is None else f'{probe:6.2f}':>6s} "
              f"{fig['latency_ms_p50']:9.2f} {'' if ratio is None else f'{ratio:9.2f}':>9s}{mark}")
        if ratio is not None and not case["contention"]["contended"] and case["consistency"] == "Eventually":
            xs.append(math.log(client))
            ys.append(math.log(ratio))
    if args.fidelity:
        r = correlation(xs, ys)
        print(f"uncontended one-client Eventually cases: {len(xs)}; correlation of ln(client) and "
              f"ln(pred/meas p50): {'n/a' if r is None else f'{r:.2f}'}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
