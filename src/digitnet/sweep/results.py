"""``results.jsonl``: one JSON record per finished trial, appended the moment it arrives.

Appending one line and syncing it to disk means a crash or Ctrl-C loses at
most the line being written; :func:`read_records` skips such a torn last line
(JSON Lines, https://jsonlines.org). The latest record of a trial id wins, so
a trial retried with ``--retry-failed`` replaces its failure; a failure never
replaces a finished trial's record.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from ..fileio import uninterrupted

RESULTS = "results.jsonl"


def append_record(path: str | Path, record: dict) -> None:
    """Append ``record`` as one line and flush it to disk."""
    line = json.dumps(record, sort_keys=True) + "\n"
    if _ends_mid_line(path):  # a write cut short: start on a line of our own, or both are lost
        line = "\n" + line
    with uninterrupted(), open(path, "a", encoding="utf-8") as f:   # Ctrl-C waits for the line
        f.write(line)
        f.flush()
        os.fsync(f.fileno())


def _ends_mid_line(path: str | Path) -> bool:
    try:
        with open(path, "rb") as f:
            f.seek(-1, os.SEEK_END)
            return f.read(1) != b"\n"
    except OSError:  # missing or empty
        return False


def read_records(path: str | Path) -> list[dict]:
    """Every record in ``path``, the latest per trial id (an ok one over any later failure), in order written.

    A missing file holds no records; a line that is not a JSON object (the
    torn end of an interrupted write) is skipped.
    """
    path = Path(path)
    if not path.is_file():
        return []
    latest: dict[str, dict] = {}
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        try:
            record = json.loads(line)
        except ValueError:
            continue
        if isinstance(record, dict) and "id" in record:
            earlier = latest.get(record["id"])
            if earlier is not None and earlier.get("status") == "ok" and record.get("status") != "ok":
                continue  # a trial that finished stays finished: a late failure of a repeat does not count
            latest.pop(record["id"], None)
            latest[record["id"]] = record
    return list(latest.values())
