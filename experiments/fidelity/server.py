"""Start and stop the real Milvus 2.3 standalone server shipped in the PyPI package `milvus`.

Everything listens on 127.0.0.1; everything the server writes goes to one temporary folder that
`stop()` removes, together with any pid file the server left under /run/milvus.
"""

import ctypes
import os
import shutil
import signal
import subprocess
import tempfile
import time
import urllib.error
import urllib.request

import milvus as milvus_package

PID_DIR = "/run/milvus"
# The server also records its id in /tmp/milvus/server_id_<pid>, wherever its data lives.
SERVER_ID_DIR = "/tmp/milvus"
LOOPBACK = "127.0.0.1"
# Every role of the standalone process binds to the address its `<role>.ip` names; left empty the
# server picks "the first unicastable address", which may be a public one.
ROLES_WITH_IP = ("rootCoord", "proxy", "queryCoord", "queryNode", "indexNode", "dataCoord", "dataNode")
HEALTH_WAIT_S_MAX = 180
STOP_WAIT_S_MAX = 10


def _die_with_parent():
    """Runs in the server's child process before exec: SIGTERM it if the harness dies."""
    PR_SET_PDEATHSIG = 1
    ctypes.CDLL("libc.so.6", use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
    # Own process group: a Ctrl-C in the terminal reaches the harness, which stops the server
    # in order, instead of killing both at once.
    os.setpgrp()


class MilvusStandalone:
    def __init__(self, workdir=None, config=None):
        """`config`: extra milvus.yaml keys, dotted (e.g. {"dataCoord.segment.maxSize": 16}); each must
        already be a line of the package's config template, which the package rewrites in place."""
        self.workdir = workdir
        self.config = dict(config or {})
        self.base_dir = None
        self.proc = None
        self.proxy_port = None
        self.metrics_port = None
        self.start_s = None
        self.exit_code = None
        self.stop_s = None
        self._pid_files_before = set()
        self._server_id_dir_existed = False
        self._logs = []

    @property
    def config_path(self):
        return os.path.join(self.base_dir, "configs", "milvus.yaml") if self.base_dir else None

    @property
    def logs_dir(self):
        return os.path.join(self.base_dir, "logs") if self.base_dir else None

    @property
    def pid(self):
        return self.proc.pid if self.proc else None

    def start(self):
        """Starts the server; on a data folder kept by `stop(keep_dir=True)`, with its data."""
        if self.base_dir is None:
            self.base_dir = tempfile.mkdtemp(prefix="milvus-fidelity-", dir=self.workdir)
        config = milvus_package.MilvusServerConfig(data_dir=self.base_dir)
        config.set("etcd_log_level", "warn")
        for role in ROLES_WITH_IP:
            config.set(f"{role}.ip", LOOPBACK)
        for key, value in self.config.items():
            config.set(key, value)
        config.resolve()
        self.proxy_port = int(config.get("proxy_port"))
        self.metrics_port, sock = config.resolve_port(9091)
        sock.close()
        # The package keeps its binaries compressed; it unpacks them next to the data.
        milvus_package._initialize_data_files(self.base_dir)
        bin_dir = os.path.join(self.base_dir, "bin")
        env = dict(os.environ)
        env.update(
            DEPLOY_MODE="STANDALONE",
            METRICS_PORT=str(self.metrics_port),
            MILVUS_RUN_DIR=os.path.join(self.base_dir, "run"),
            LD_LIBRARY_PATH=":".join(p for p in (bin_dir, os.environ.get("LD_LIBRARY_PATH")) if p),
        )
        self._pid_files_before = set(os.listdir(PID_DIR)) if os.path.isdir(PID_DIR) else set()
        self._server_id_dir_existed = os.path.isdir(SERVER_ID_DIR)
        logs_dir = os.path.join(self.base_dir, "logs")
        self._logs = [open(os.path.join(logs_dir, f"milvus-{n}.log"), "a") for n in ("stdout", "stderr")]
        t0 = time.monotonic()
        self.proc = subprocess.Popen(
            [os.path.join(bin_dir, "milvus"), "run", "standalone"],
            cwd=self.base_dir,
            env=env,
            stdout=self._logs[0],
            stderr=self._logs[1],
            preexec_fn=_die_with_parent,
        )
        self._wait_healthy()
        self.start_s = time.monotonic() - t0

    def restart(self):
        """A fresh server process on the same data: stops it (SIGTERM), starts it again."""
        self.stop(keep_dir=True)
        self.start()

    def _wait_healthy(self):
        url = f"http://{LOOPBACK}:{self.metrics_port}/healthz"
        deadline = time.monotonic() + HEALTH_WAIT_S_MAX
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(
                    f"the Milvus server exited with code {self.proc.returncode} while starting; "
                    f"see its logs under {self.base_dir}/logs"
                )
            try:
                with urllib.request.urlopen(url, timeout=2) as resp:
                    if b"OK" in resp.read():
                        return
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                pass
            time.sleep(0.2)
        raise TimeoutError(f"the Milvus server was not healthy after {HEALTH_WAIT_S_MAX} s")

    def stop(self, keep_dir=False):
        """Idempotent; safe to call from a finally block after any failure."""
        if self.proc is not None:
            t0 = time.monotonic()
            if self.proc.poll() is None:
                self.proc.terminate()
                try:
                    self.proc.wait(timeout=STOP_WAIT_S_MAX)
                except subprocess.TimeoutExpired:
                    self.proc.kill()
                    self.proc.wait(timeout=STOP_WAIT_S_MAX)
            # reference: on SIGTERM it may exit with -6 (a panic while closing etcd).
            self.exit_code = self.proc.returncode
            self.stop_s = time.monotonic() - t0
            _remove_quietly(os.path.join(SERVER_ID_DIR, f"server_id_{self.proc.pid}"))
            if not self._server_id_dir_existed:
                _rmdir_if_empty(SERVER_ID_DIR)
            self.proc = None
        for f in self._logs:
            f.close()
        self._logs = []
        if os.path.isdir(PID_DIR):
            for name in set(os.listdir(PID_DIR)) - self._pid_files_before:
                _remove_quietly(os.path.join(PID_DIR, name))
            if not self._pid_files_before:
                _rmdir_if_empty(PID_DIR)
        if self.base_dir and not keep_dir:
            shutil.rmtree(self.base_dir, ignore_errors=True)
            self.base_dir = None


def _remove_quietly(path):
    try:
        os.remove(path)
    except OSError:
        pass


def _rmdir_if_empty(path):
    try:
        os.rmdir(path)
    except OSError:
        pass
