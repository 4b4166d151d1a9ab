#!/usr/bin/env python3
"""Executes the notebooks in this folder headless, as CI does.

Usage: python3 notebooks/run_notebooks.py [NOTEBOOK.ipynb ...]

Every notebook (default: notebooks/*.ipynb) is run top to bottom with nbclient on the
`python3` kernel, with SIMCTL_SHORT=1 (short simulated runs), from the notebooks folder.
SIMCTL_BIN and SIMCTL_NOTEBOOK_OUT pass through from the environment; the PNGs land in
SIMCTL_NOTEBOOK_OUT (default: notebook-output/ in the temp directory).

Nothing is written back into the .ipynb files: they are kept in git without outputs,
and a notebook stored with outputs or execution counts counts as failed.

Exits non-zero if any notebook failed; the last line is `N passed, M failed`.
Needs: python3 -m pip install -r notebooks/requirements.txt, and a built simctl.
"""
import os
import sys
import tempfile
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError

HERE = Path(__file__).resolve().parent
CELL_TIMEOUT_S = 600


def stored_outputs(nb) -> list[str]:
    """Code cells that carry outputs or an execution count (they should be cleared)."""
    found = []
    for i, cell in enumerate(nb.cells):
        if cell.cell_type == "code" and (cell.get("outputs") or cell.get("execution_count") is not None):
            found.append(str(i))
    return found


def run(path: Path) -> str | None:
    """Executes one notebook in memory; returns None on success or a message."""
    nb = nbformat.read(path, as_version=4)
    dirty = stored_outputs(nb)
    if dirty:
        return (f"stored with outputs or execution counts in code cells {', '.join(dirty)}: "
                "clear all outputs before committing")
    client = NotebookClient(
        nb,
        timeout=CELL_TIMEOUT_S,
        kernel_name="python3",
        resources={"metadata": {"path": str(path.parent)}},
    )
    try:
        client.execute()
    except CellExecutionError as e:
        return str(e)[-4000:]
    except Exception as e:  # dead kernel, cell timeout, kernel that would not start
        return f"{type(e).__name__}: {e}"[-4000:]
    return None


def main(argv: list[str]) -> int:
    os.environ["SIMCTL_SHORT"] = "1"  # the kernels inherit the environment
    notebooks = [Path(a).resolve() for a in argv] or sorted(HERE.glob("*.ipynb"))
    out = os.environ.get("SIMCTL_NOTEBOOK_OUT") or str(Path(tempfile.gettempdir()) / "notebook-output")
    print(f"running {len(notebooks)} notebook(s), SIMCTL_SHORT=1, PNGs in {out}", flush=True)
    passed = failed = 0
    t_all = time.perf_counter()
    for path in notebooks:
        t0 = time.perf_counter()
        error = run(path)
        dt = time.perf_counter() - t0
        if error is None:
            passed += 1
            print(f"PASS {path.name} ({dt:.1f} s)", flush=True)
        else:
            failed += 1
            print(f"FAIL {path.name} ({dt:.1f} s)\n{error}", flush=True)
    print(f"wall time {time.perf_counter() - t_all:.1f} s")
    if not notebooks:
        print("no notebooks found")
        failed += 1
    print(f"{passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
