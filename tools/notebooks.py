"""Execute the tutorials (jupytext percent files) in a real Jupyter kernel; write them as .ipynb.

    python tools/notebooks.py                       # every docs/tutorials/*.py -> build/tutorials/*.ipynb
    python tools/notebooks.py docs/tutorials/02_backprop_checked.py --out /tmp/nb

The tutorials are stored as plain Python files in jupytext's "percent" format
(``# %%`` starts a code cell, ``# %% [markdown]`` a text cell), so that their
diffs stay readable; this turns each into a notebook, runs it top to bottom
with nbclient in the ``python3`` kernel (ipykernel) from the repository's
root (one BLAS thread unless the environment says otherwise), and saves it with its outputs
and figures. A cell that raises (an
``assert`` included) stops the run with the cell's error. ``make notebooks``
runs this; ``tests/test_tutorials.py`` runs the same function in CI.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
TUTORIALS = REPO / "docs" / "tutorials"


def tutorials() -> list[Path]:
    """The tutorial files, in reading order (their names start with 01_, 02_, ...)."""
    return sorted(TUTORIALS.glob("[0-9][0-9]_*.py"))


def execute(path: Path, timeout: int = 120):
    """Run the jupytext file ``path`` in a fresh python3 kernel; return the executed notebook.

    Raises
    ------
    nbclient.exceptions.CellExecutionError
        A cell raised; the message holds the cell and its traceback.
    nbclient.exceptions.CellTimeoutError
        A cell ran longer than ``timeout`` seconds.
    """
    import jupytext
    from nbclient import NotebookClient

    notebook = jupytext.read(path)
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    # Figures inline as PNG, the same on every machine (no display needed).
    client = NotebookClient(notebook, timeout=timeout, kernel_name="python3",
                            resources={"metadata": {"path": str(REPO)}})
    env = {**os.environ, "MPLBACKEND": "module://matplotlib_inline.backend_inline"}
    # One BLAS thread unless told otherwise: the tutorials' arrays are small, and two BLAS
    # threads in a kernel competing with another busy process made a notebook ten times slower.
    for variable in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        env.setdefault(variable, "1")
    client.execute(env=env)
    return notebook


def main(argv: list[str] | None = None) -> int:
    import nbformat

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("paths", nargs="*", type=Path, help="tutorial files (default: all of them)")
    parser.add_argument("--out", type=Path, default=REPO / "build" / "tutorials")
    parser.add_argument("--timeout", type=int, default=300, help="seconds per cell")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    for path in args.paths or tutorials():
        started = time.perf_counter()
        notebook = execute(path, args.timeout)
        target = args.out / (path.stem + ".ipynb")
        tmp = target.with_suffix(".ipynb.tmp")
        nbformat.write(notebook, tmp)
        tmp.replace(target)
        print(f"{target} ({time.perf_counter() - started:.1f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
