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
import threading
from pathlib import Path

from .errors import WriteError

# Writes in progress in the main thread, and the interruption that arrived during one. Signal
# handlers run in the main thread, so only its writes can be cut by a KeyboardInterrupt; one
# raised inside a library's writer (zipfile inside np.savez, Optuna's journal lock) can make the
# library's clean-up raise another error that hides it. So a quit-at-once waits for the write.
_writes_open = 0
_held: KeyboardInterrupt | None = None


def interrupt_when_written(reason: str = "") -> None:
    """Raise KeyboardInterrupt(reason) now, or, while a file is being written, as soon as it is.

    Called from a signal handler (:class:`digitnet.stop_signals.StopRequests`, a
    sweep's Ctrl-C and SIGTERM) to quit at once: the file being written still ends up whole.
    """
    global _held
    stop = KeyboardInterrupt(reason) if reason else KeyboardInterrupt()
    if not _writes_open:
        raise stop
    _held = _held or stop


@contextlib.contextmanager
def uninterrupted():
    """A block that writes files (ours, or a library's such as Optuna's journal): an interrupt
    from :func:`interrupt_when_written` that arrives inside it is raised when it ends."""
    global _writes_open, _held
    if threading.current_thread() is not threading.main_thread():
        yield        # no signal handler runs in this thread: nothing can cut its writes
        return
    _writes_open += 1
    try:
        yield
    finally:
        _writes_open -= 1
        if not _writes_open and _held is not None:
            stop, _held = _held, None
            raise stop


def _default_mode() -> int:
    """Permissions a plain ``open()`` would give a new file (0o666 less the umask)."""
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


@contextlib.contextmanager
def atomic_open(path: str | Path, mode: str = "wb"):
    """Open a temporary file next to ``path``; rename it to ``path`` on success.

    Raises
    ------
    WriteError
        The folder, the temporary file or the rename failed (disk full, no permission, a folder
        in the way): the temporary file is removed and ``path``'s previous content kept. Any
        other exception from the ``with`` block is raised as it is, after the same clean-up.

    Examples
    --------
    >>> with atomic_open("out.txt", "w") as f:
    ...     f.write("all or nothing")
    """
    path = Path(path)
    with uninterrupted():
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        except OSError as err:
            raise _write_error(err, path) from err
        try:
            with os.fdopen(fd, mode) as f:
                yield f
                f.flush()
                os.fsync(f.fileno())
            os.chmod(tmp, _default_mode())  # mkstemp makes 0o600; match a plain open()
            os.replace(tmp, path)
        except BaseException as err:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
            if isinstance(err, OSError):   # a full disk: one line naming the file, not a traceback
                raise _write_error(err, path) from err
            raise


def _write_error(err: OSError, path: Path) -> WriteError:
    if isinstance(err, WriteError):
        return err
    return WriteError(err.errno, err.strerror or str(err), str(path))


def write_json(path: str | Path, obj) -> Path:
    """Write ``obj`` as indented JSON, atomically; return the path."""
    with atomic_open(path, "w") as f:
        json.dump(obj, f, indent=2)
        f.write("\n")
    return Path(path)
