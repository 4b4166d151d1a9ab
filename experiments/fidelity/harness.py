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
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from contention import Monitor, speed_probe  # noqa: E402
from data import CLUSTER_SPREAD, CLUSTERS, QUERY_COUNT, make_data  # noqa: E402
from measure import INSERT_BATCH_BYTES, client_overhead, ingest, run_search, tick_age  # noqa: E402
from milvus_client import METRIC, POLL_S, Client  # noqa: E402
from server import LOOPBACK, MilvusStandalone, _die_with_parent  # noqa: E402

SCHEMA = "simctl-fidelity-results/1"
NETNS_ENV = "FIDELITY_IN_PRIVATE_NETNS"

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
        "tick_probe_samples": 40,
        "tick_probe_closed_loop": True,
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
        "tick_probe_samples": 40,
        "tick_probe_closed_loop": False,
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
    p.add_argument("--consistency", nargs="+", choices=("Strong", "Eventually"), default=None,
                   help="measure only the search cases at these consistency levels (default: the mode's, both)")
    p.add_argument("--ingest-only", action="store_true",
                   help="only insert and flush each dataset of the mode (no index, no search, no client "
                        "overhead records): the insert rate on its own, for the insert knob")
    p.add_argument("--repeat", type=int, default=1, help="with --ingest-only: ingest each dataset this many times")
    p.add_argument("--restart-per-index", action="store_true",
                   help="restart the server process on its data before each data set's ingest and before each "
                        "index is built (default: one server process for the whole run)")
    p.add_argument("--workdir", default=None, help="parent folder of the server's temporary data folder")
    p.add_argument("--no-netns", action="store_true", help="do not enter a private network namespace")
    p.add_argument("--calibrate", metavar="SIMCTL", default=None,
                   help="calibrate the machine with `SIMCTL calibrate` just before the server starts and once it "
                        "stopped, into OUT's name with .before.toml and .after.toml beside OUT; the fidelity command "
                        "then predicts with the first and prints how far the machine's speed moved between the two")
    p.add_argument("--calibrate-runs", type=int, default=1,
                   help="with --calibrate: `simctl calibrate --runs N` (each figure's fastest of N runs)")
    return p.parse_args(argv)


def calibrate(simctl, out, which, runs, monitor):
    """`simctl calibrate` into OUT's name with .WHICH.toml, beside OUT, once the machine is quiet (as
    before a measurement; `monitor` without a server); the record of it for the results file.
    The machine's speed moves with its neighbours (README "A quiet machine is not a steady one"), so a
    profile measured just before the run describes the machine the run measured better than one measured
    another day; the one after says whether the machine stayed the same meanwhile."""
    stem = out[:-len(".json")] if out.endswith(".json") else out
    path = f"{stem}.{which}.toml"
    quiet = monitor.wait_quiet()
    started = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
    t0 = time.monotonic()
    log(f"calibrating {which} the run: {simctl} calibrate --runs {runs} --out {path}")
    # Dies with the harness, as the server does (a killed harness leaves no calibration running).
    subprocess.run([simctl, "calibrate", "--runs", str(runs), "--out", path], check=True,
                   stdout=subprocess.DEVNULL, preexec_fn=_die_with_parent)
    wall_s = round(time.monotonic() - t0, 1)
    log(f"calibrated {which} the run in {wall_s} s")
    return {"file": os.path.basename(path), "started_utc": started, "wall_s": wall_s,
            "quiet_wait_s": quiet["waited_s"], "quiet_wait_gave_up": quiet["gave_up"]}


def enter_private_netns(argv, script=__file__):
    """Re-exec `script` inside `unshare --net` with loopback up; returns why not, if not."""
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
    os.execvp("unshare", ["unshare", "--net", "--", sys.executable, os.path.abspath(script), *argv])
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
    # Whether the kernel shares the cores among sessions first (autogroup): then other
    # users' processes and the server compete as two groups, not thread by thread.
    try:
        with open("/proc/sys/kernel/sched_autogroup_enabled") as f:
            autogroup = int(f.read().strip())
    except (OSError, ValueError):
        autogroup = None
    return {
        "cpu_model": model,
        "cores_logical": os.cpu_count(),
        "cores_usable": len(os.sched_getaffinity(0)),
        "memory_bytes": mem_kib * 1024,
        "kernel": platform.release(),
        "sched_autogroup": autogroup,
        "python": platform.python_version(),
    }


def package_version(name):
    from importlib.metadata import version

    return version(name)


# ---------------------------------------------------------------- main


class Results:
    def __init__(self, path, doc):
        self.path = path
        self.doc = doc

    def write(self):
        self.doc["contended_cases"] = sum(1 for c in self.doc["cases"] if c["contention"]["contended"])
        tmp = self.path + ".partial"
        with open(tmp, "w") as f:
            json.dump(self.doc, f, indent=1)
            f.write("\n")
        os.replace(tmp, self.path)


def measure_ingest_only(args, settings, results, client, monitor):
    """Insert and flush each dataset `--repeat` times, a fresh collection each time."""
    doc = results.doc
    for ds in settings["datasets"]:
        dim, rows = ds["dim"], ds["rows"]
        data, _ = make_data(dim, rows, args.seed, args.distribution)
        for repeat in range(args.repeat):
            name = f"fidelity_d{dim}_n{rows}"
            insert, flush = ingest(client, monitor, name, dim, data)
            doc["datasets"].append({
                "name": name, "dim": dim, "rows": rows, "metric": METRIC, "shards_num": 1, "replicas": 1,
                "distribution": args.distribution, "seed": args.seed, "repeat": repeat,
                "insert": insert, "flush": flush, "indexes": [],
            })
            results.write()
            log(f"dataset {name} #{repeat}: insert {insert['rows_per_s']:.0f} rows/s "
                f"(rpc only {insert['rows_per_s_rpc']:.0f}){' (contended)' if insert['contention']['contended'] else ''}"
                f", flush {flush['flush_s']} s")
            client.drop(name)


class Session:
    """The server, the client connected to it, and the monitor that tells its CPU from the others'."""

    def __init__(self, server, doc, quiet_cores, quiet_window_s, max_wait_s):
        self.server = server
        self.doc = doc
        self.client = Client(server.proxy_port)
        self.monitor = Monitor(server.pid, quiet_cores, quiet_window_s, max_wait_s)

    def fresh_server(self, why):
        """Restart the server process on its data, so that what the last measurements left in it (heap,
        caches, background work on dropped collections) does not weigh on the next ones."""
        self.client.close()
        t0 = time.monotonic()
        self.server.restart()
        self.client = Client(self.server.proxy_port)
        self.monitor.server_pid = self.server.pid
        self.doc["server"].setdefault("restarts", []).append({
            "before": why, "restart_s": round(time.monotonic() - t0, 3), "start_s": round(self.server.start_s, 3),
            "previous_exit_code": self.server.exit_code})
        log(f"fresh server before {why} ({time.monotonic() - t0:.1f} s)")


def measure(args, settings, results, session):
    doc = results.doc
    client, monitor = session.client, session.monitor
    doc["client_overhead"] = client_overhead(client, monitor, settings, [d["dim"] for d in settings["datasets"]],
                                             args.seed)
    results.write()
    for ds in settings["datasets"]:
        dim, rows = ds["dim"], ds["rows"]
        name = f"fidelity_d{dim}_n{rows}"
        t0 = time.monotonic()
        data, queries = make_data(dim, rows, args.seed, args.distribution)
        log(f"dataset {name}: generated in {time.monotonic() - t0:.1f} s")
        if settings["server_per_index"]:
            session.fresh_server(f"{name} ingest")
            client, monitor = session.client, session.monitor
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
            if settings["server_per_index"]:
                session.fresh_server(f"{name} {index_type}")
                client, monitor = session.client, session.monitor
            with monitor.measure() as m:
                build_s = client.build_index(name, index_type, spec["build"])
            build_contention = m.result
            segments_built = client.persistent_segments(name)
            with monitor.measure() as m:
                load_s = client.load(name)
            load_contention = m.result
            # One Strong search, waited for: a server restarted on its data serves Strong only once
            # its shard delegator has caught up with the channel (up to 23 s here), which is recovery,
            # not the steady state the cases measure.
            t_strong = time.monotonic()
            client.search_once(name, queries[:1].tolist(), spec["search"][0], settings["topk"], "Strong")
            index = {
                "index_type": index_type, "build_params": spec["build"],
                "build_s": build_s, "build_contention": build_contention,
                "segments_after_build": segments_built,
                "load_s": load_s, "load_contention": load_contention,
                "first_strong_search_s": round(time.monotonic() - t_strong, 3),
                "segments_loaded": client.query_segments(name),
            }
            dataset["indexes"].append(index)
            results.write()
            log(f"  {index_type}: build {build_s} s, load {load_s} s, first Strong search "
                f"{index['first_strong_search_s']} s, {index['segments_loaded']['count']} segments loaded")
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
                            if consistency == "Strong":
                                # The server start's tick phase just before the case (measure.tick_age).
                                case["tick_probe"] = tick_age(
                                    client, monitor, name, queries[0].tolist(), search_params, settings["topk"],
                                    settings["tick_probe_samples"], settings["tick_probe_closed_loop"])
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


def record_header(schema, network_note):
    """The opening fields of a results file of the side scripts (segments.py, profile_load.py):
    schema, start time, machine, package versions and network isolation."""
    return {
        "schema": schema,
        "complete": False,
        "started_utc": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "machine": machine_facts(),
        "versions": {"milvus_package": package_version("milvus"), "pymilvus": package_version("pymilvus"),
                     "numpy": np.__version__},
        "network": {"addresses": LOOPBACK,
                    "isolation": "private network namespace" if network_note is None else "loopback addresses only",
                    "why_not_isolated": network_note},
    }


def log(msg):
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)



def stop_on_signals():
    """Turn SIGTERM and SIGHUP (a time limit, a kill) into an exception, so that the
    caller's finally block stops the server; Python leaves SIGINT ignored when it
    starts ignored (a background job), and Ctrl-C must stop us too."""

    def on_term(signum, frame):
        raise KeyboardInterrupt(f"signal {signum}")

    signal.signal(signal.SIGTERM, on_term)
    signal.signal(signal.SIGHUP, on_term)
    signal.signal(signal.SIGINT, signal.default_int_handler)


def start_side_script(argv, script, no_netns):
    """The start of a side script (segments.py, profile_load.py): re-exec `script` in a
    private network namespace unless `no_netns`, then turn signals into exceptions;
    returns the network note for record_header."""
    network_note = "--no-netns given" if no_netns else enter_private_netns(argv, script)
    stop_on_signals()
    return network_note

def main(argv):
    args = parse_args(argv)
    network_note = "--no-netns given" if args.no_netns else enter_private_netns(argv)
    mode = "quick" if args.quick else "full"
    settings = dict(MODES[mode])
    if args.repeat < 1 or (args.repeat > 1 and not args.ingest_only):
        raise SystemExit("harness.py: --repeat takes a count of 1 or more, and only with --ingest-only")
    if args.calibrate is not None:
        args.calibrate = shutil.which(args.calibrate) or args.calibrate
        if not (os.path.isfile(args.calibrate) and os.access(args.calibrate, os.X_OK)):
            raise SystemExit(f"harness.py: --calibrate {args.calibrate}: not an executable simctl; "
                             "build it first (cargo build --release) and give target/release/simctl")
        if args.calibrate_runs < 1:
            raise SystemExit("harness.py: --calibrate-runs takes a count of 1 or more")
    elif args.calibrate_runs != 1:
        raise SystemExit("harness.py: --calibrate-runs goes with --calibrate SIMCTL")
    settings["ingest_only"] = args.ingest_only
    settings["server_per_index"] = args.restart_per_index and not args.ingest_only
    settings["repeat"] = args.repeat
    if args.max_wait_s is not None:
        settings["max_wait_s"] = args.max_wait_s
    if args.consistency is not None:
        settings["consistency"] = [c for c in settings["consistency"] if c in args.consistency]
    if args.duration_s is not None:
        settings["duration_s"] = args.duration_s
        settings["max_duration_s"] = max(settings["max_duration_s"], args.duration_s)

    stop_on_signals()

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
        # No server yet: the quiet check counts everything but the harness as others.
        calibration_monitor = Monitor(None, args.quiet_cores, args.quiet_window_s, settings["max_wait_s"])
        if args.calibrate:
            doc["calibration"] = {"runs": args.calibrate_runs,
                                  "before": calibrate(args.calibrate, args.out, "before", args.calibrate_runs,
                                                      calibration_monitor)}
            results.write()
        server.start()
        doc["server"] = {"start_s": round(server.start_s, 3)}
        session = Session(server, doc, args.quiet_cores, args.quiet_window_s, settings["max_wait_s"])
        # How fast the machine runs fixed work at the start, the server idle (see speed_probe).
        session.monitor.wait_quiet()
        doc["machine"]["speed_probe"] = speed_probe()
        doc["versions"]["milvus_server"] = session.client.server_version()
        log(f"server {doc['versions']['milvus_server']} healthy after {server.start_s:.1f} s")
        if args.ingest_only:
            measure_ingest_only(args, settings, results, session.client, session.monitor)
        else:
            measure(args, settings, results, session)
        doc["complete"] = True
        if args.calibrate:
            # The second calibration with the server stopped, as the first; only after a whole run. The
            # measurements are complete whatever becomes of it: a failure or a stop is recorded beside it.
            server.stop()
            results.write()
            try:
                doc["calibration"]["after"] = calibrate(args.calibrate, args.out, "after", args.calibrate_runs,
                                                        calibration_monitor)
            except KeyboardInterrupt as e:
                doc["calibration"]["after_stopped_by"] = str(e) or "interrupt"
                log(f"calibration after the run stopped: {doc['calibration']['after_stopped_by']}")
            except (subprocess.CalledProcessError, OSError) as e:
                doc["calibration"]["after_error"] = repr(e)[:500]
                log(f"calibration after the run failed: {doc['calibration']['after_error']}")
    except KeyboardInterrupt as e:
        doc["stopped_by"] = str(e) or "interrupt"
        log(f"stopped: {doc['stopped_by']}")
    except Exception as e:
        doc["error"] = repr(e)[:2000]
        raise
    finally:
        # A second Ctrl-C must not cut the clean-up short.
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            signal.signal(sig, signal.SIG_IGN)
        server.stop()
        # SIGTERM, then SIGKILL after 10 s: exit_code -9 means the server ignored SIGTERM that long.
        doc.setdefault("server", {}).update(
            exit_code=server.exit_code, stop_s=None if server.stop_s is None else round(server.stop_s, 3))
        doc["wall_s"] = round(time.monotonic() - t_start, 1)
        results.write()
        log(f"wrote {args.out} ({len(doc['cases'])} cases, {doc['contended_cases']} contended) "
            f"in {doc['wall_s']} s")
    return 0 if doc["complete"] else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
