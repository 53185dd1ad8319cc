"""Atomic file writing: a file is either the old version or the complete new one.

Data goes to a temporary name in the same folder, is flushed to disk, then
renamed over the target. A rename within one file system is atomic, so a
crash or Ctrl-C mid-write never leaves a half-written file behind; a request
to quit at once (a second Ctrl-C) waits until the file is whole.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from pathlib import Path

# Writes in progress, and interruptions that arrived during them. A Ctrl-C raised inside a
# library's writer (zipfile, inside np.savez) can make its clean-up raise another error that
# hides the KeyboardInterrupt; so a quit-at-once request waits for the write to finish.
_writes_open = 0
_interrupted_while_writing = False


def interrupt_when_written() -> None:
    """Raise KeyboardInterrupt now, or, while a file is being written, as soon as it is.

    Called from a signal handler (:class:`digitnet.stop_signals.StopRequests`)
    for "quit at once": the file being written still ends up whole.
    """
    global _interrupted_while_writing
    if _writes_open:
        _interrupted_while_writing = True
    else:
        raise KeyboardInterrupt


@contextlib.contextmanager
def _one_write():
    global _writes_open, _interrupted_while_writing
    _writes_open += 1
    try:
        yield
    finally:
        _writes_open -= 1
        if not _writes_open and _interrupted_while_writing:
            _interrupted_while_writing = False
            raise KeyboardInterrupt


def _default_mode() -> int:
    """Permissions a plain ``open()`` would give a new file (0o666 less the umask)."""
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


@contextlib.contextmanager
def atomic_open(path: str | Path, mode: str = "wb"):
    """Open a temporary file next to ``path``; rename it to ``path`` on success.

    Examples
    --------
    >>> with atomic_open("out.txt", "w") as f:
    ...     f.write("all or nothing")
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with _one_write():
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        try:
            with os.fdopen(fd, mode) as f:
                yield f
                f.flush()
                os.fsync(f.fileno())
            os.chmod(tmp, _default_mode())  # mkstemp makes 0o600; match a plain open()
            os.replace(tmp, path)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
            raise


def write_json(path: str | Path, obj) -> Path:
    """Write ``obj`` as indented JSON, atomically; return the path."""
    with atomic_open(path, "w") as f:
        json.dump(obj, f, indent=2)
        f.write("\n")
    return Path(path)
