"""How busy the machine is, from /proc: CPU used by the Milvus server, by the harness, and by
every other process, so each figure can say whether it was taken on a quiet machine.
"""

import os
import time

CLK_TCK = os.sysconf("SC_CLK_TCK")
# /proc/stat cpu columns that count as busy: user nice system idle iowait irq softirq steal.
BUSY_COLUMNS = (0, 1, 2, 5, 6, 7)


STEAL_COLUMN = 7


def _machine_busy_ticks():
    """(busy ticks, of which steal) of the whole machine."""
    with open("/proc/stat") as f:
        fields = f.readline().split()[1:]
    busy = sum(int(fields[i]) for i in BUSY_COLUMNS if i < len(fields))
    steal = int(fields[STEAL_COLUMN]) if STEAL_COLUMN < len(fields) else 0
    return busy, steal


def _pid_stat(pid):
    """(ppid, utime + stime ticks) of one process, all its threads included; None if gone."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            data = f.read()
    except OSError:
        return None
    # The command name may hold spaces or parentheses; fields resume after the last ')'.
    rest = data[data.rindex(")") + 2 :].split()
    return int(rest[1]), int(rest[11]) + int(rest[12])


def _all_pid_stats():
    stats = {}
    for name in os.listdir("/proc"):
        if name.isdigit():
            stat = _pid_stat(int(name))
            if stat is not None:
                stats[int(name)] = stat
    return stats


def _descendants(stats, root):
    children = {}
    for pid, (ppid, _) in stats.items():
        children.setdefault(ppid, []).append(pid)
    found, todo = set(), [root]
    while todo:
        pid = todo.pop()
        if pid in stats and pid not in found:
            found.add(pid)
            todo.extend(children.get(pid, ()))
    return found


PROBE_LOOP = 100_000
PROBE_BYTES = 64 << 20
PROBE_REPEATS = 5
_probe_array = None


def speed_probe():
    """How fast this machine runs fixed work now, in ms (the fastest of a few tries): a loop of the
    interpreter (the CPU) and a sum over 64 MiB (memory bandwidth).

    A virtual machine's speed varies with its neighbours on the physical host, and /proc does not
    show it (steal time stays near 0): on the quiet 2-core Xeon the harness's own client work for
    the same search took 1.0-2.2 times its figure at the start of a run, and the server's Search
    RPC time moved with it. The probe runs on the harness's thread with no request in flight, just
    before and after each measurement, so each record says how fast the machine was."""
    import numpy as np

    global _probe_array
    if _probe_array is None:
        _probe_array = np.ones(PROBE_BYTES // 8)
    cpu, memory = [], []
    for _ in range(PROBE_REPEATS):
        t0 = time.perf_counter_ns()
        x = 0
        for i in range(PROBE_LOOP):
            x += i * i % 7
        t1 = time.perf_counter_ns()
        _probe_array.sum()
        t2 = time.perf_counter_ns()
        cpu.append(t1 - t0)
        memory.append(t2 - t1)
    return {"cpu_ms": round(min(cpu) / 1e6, 3), "memory_ms": round(min(memory) / 1e6, 3)}


class Snapshot:
    def __init__(self, server_pid):
        self.time_s = time.monotonic()
        self.machine_ticks, self.steal_ticks = _machine_busy_ticks()
        stats = _all_pid_stats()
        server = _descendants(stats, server_pid) if server_pid else set()
        harness = _descendants(stats, os.getpid()) - server
        self.server_ticks = sum(stats[p][1] for p in server)
        self.harness_ticks = sum(stats[p][1] for p in harness)


def usage_between(before, after):
    """CPU seconds used between two snapshots, split by who used them."""
    wall_s = max(after.time_s - before.time_s, 1e-9)
    machine_s = (after.machine_ticks - before.machine_ticks) / CLK_TCK
    server_s = (after.server_ticks - before.server_ticks) / CLK_TCK
    harness_s = (after.harness_ticks - before.harness_ticks) / CLK_TCK
    # Steal: the hypervisor ran something else on a core this VM wanted (a neighbour on the
    # physical host). It counts among the others (the cores were taken all the same), and
    # is recorded apart so that a record can tell it from another process.
    steal_s = (after.steal_ticks - before.steal_ticks) / CLK_TCK
    # Tick accounting of /proc/stat and /proc/<pid>/stat is sampled separately; never below 0.
    others_s = max(machine_s - server_s - harness_s, 0.0)
    return {
        "wall_s": round(wall_s, 3),
        "server_cpu_s": round(server_s, 3),
        "harness_cpu_s": round(harness_s, 3),
        "others_cpu_s": round(others_s, 3),
        "others_cores_mean": round(others_s / wall_s, 3),
        "steal_cpu_s": round(steal_s, 3),
    }


class Monitor:
    """Waits for a quiet machine and measures what others used during a measurement."""

    def __init__(self, server_pid, threshold_cores, window_s, max_wait_s):
        self.server_pid = server_pid
        self.threshold_cores = threshold_cores
        self.window_s = window_s
        self.max_wait_s = max_wait_s

    def wait_quiet(self):
        """Returns how long it waited and whether it gave up; waits in windows of window_s."""
        t0 = time.monotonic()
        while True:
            before = Snapshot(self.server_pid)
            time.sleep(self.window_s)
            usage = usage_between(before, Snapshot(self.server_pid))
            waited_s = time.monotonic() - t0
            if usage["others_cores_mean"] <= self.threshold_cores:
                return {"waited_s": round(waited_s, 2), "gave_up": False, "last_window": usage}
            if waited_s >= self.max_wait_s:
                return {"waited_s": round(waited_s, 2), "gave_up": True, "last_window": usage}

    def measure(self):
        return _Measurement(self)


class _Measurement:
    """`with monitor.measure() as m:` ... then m.result holds the contention record."""

    def __init__(self, monitor):
        self.monitor = monitor
        self.result = None
        self._quiet = None
        self._probe_before = None
        self._before = None

    def __enter__(self):
        self._quiet = self.monitor.wait_quiet()
        self._probe_before = speed_probe()
        self._before = Snapshot(self.monitor.server_pid)
        return self

    def restart_window(self):
        """Measure from now on (e.g. after a warm-up), keeping the quiet-wait record."""
        self._before = Snapshot(self.monitor.server_pid)

    def __exit__(self, exc_type, exc, tb):
        usage = usage_between(self._before, Snapshot(self.monitor.server_pid))
        probe_after = speed_probe()
        self.result = dict(
            usage,
            quiet_wait_s=self._quiet["waited_s"],
            quiet_wait_gave_up=self._quiet["gave_up"],
            others_cores_before=self._quiet["last_window"]["others_cores_mean"],
            # The server's own background work (time ticks, compaction checks) with no requests.
            server_cores_before=round(
                self._quiet["last_window"]["server_cpu_s"] / self._quiet["last_window"]["wall_s"], 3),
            contended=usage["others_cores_mean"] > self.monitor.threshold_cores,
            # speed_probe() just before and just after: compare with the run's fastest probe.
            probe_before=self._probe_before,
            probe_after=probe_after,
        )
        return False
