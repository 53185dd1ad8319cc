"""``results.jsonl``: one JSON record per finished trial, appended the moment it arrives.

Appending one line and syncing it to disk means a crash or Ctrl-C loses at
most the line being written; :func:`read_records` skips such a torn last line
(JSON Lines, https://jsonlines.org). The latest record of a trial id wins, so
a trial retried with ``--retry-failed`` replaces its failure.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

RESULTS = "results.jsonl"


def append_record(path: str | Path, record: dict) -> None:
    """Append ``record`` as one line and flush it to disk."""
    line = json.dumps(record, sort_keys=True) + "\n"
    with open(path, "a", encoding="utf-8") as f:
        f.write(line)
        f.flush()
        os.fsync(f.fileno())


def read_records(path: str | Path) -> list[dict]:
    """Every record in ``path``, the latest per trial id, in the order they were written.

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
            latest.pop(record["id"], None)
            latest[record["id"]] = record
    return list(latest.values())
