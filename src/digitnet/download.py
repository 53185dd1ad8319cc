"""Downloading a dataset from its public mirrors, safely.

Each file is fetched with retries and a progress bar into a temporary name in
the destination folder, its decompressed content is checked against the known
SHA-256, and only then is it renamed into place. An interrupted or corrupted
download therefore never leaves a file that looks complete.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

from .errors import DataError
from .idx import IMAGES_MAGIC, LABELS_MAGIC

USER_AGENT = "digitnet (https://pypi.org/project/digitnet)"


def download_dataset(info, dest: Path, retries: int = 3, timeout: float = 30.0,
                     progress: bool = True, backoff: float = 1.0) -> Path:
    """Download a dataset's four gzipped files into ``dest``.

    Parameters
    ----------
    info : DatasetInfo
        Names the files, their content hashes and the mirrors (base URLs,
        tried in order).
    dest : Path
        Folder to write ``<stem>.gz`` files into; created if needed.
    retries : int
        Attempts per mirror before moving to the next one.
    timeout : float
        Seconds to wait for the server on each attempt.
    progress : bool
        Show a progress bar (on stderr).
    backoff : float
        Seconds before the first retry; doubled at each further one.

    Returns
    -------
    Path
        ``dest``.
    """
    from .data import read_checked

    dest.mkdir(parents=True, exist_ok=True)
    for stem, sha256 in info.sha256.items():
        target = dest / f"{stem}.gz"
        if target.is_file():
            continue
        magic = IMAGES_MAGIC if "images" in stem else LABELS_MAGIC
        errors = []
        for mirror in info.mirrors:
            url = mirror.rstrip("/") + f"/{stem}.gz"
            for attempt in range(retries):
                try:
                    tmp = _fetch(url, dest, timeout, progress)
                except (urllib.error.URLError, OSError, TimeoutError) as err:
                    errors.append(f"{url}: {getattr(err, 'reason', err)}")
                    if attempt + 1 < retries:
                        time.sleep(backoff * 2**attempt)
                    continue
                try:
                    read_checked(tmp, magic, sha256)
                except DataError as err:
                    tmp.unlink(missing_ok=True)
                    errors.append(f"{url}: {err}")
                    break  # a mirror serving bad content will not improve on retry
                os.replace(tmp, target)
                break
            if target.is_file():
                break
        if not target.is_file():
            raise DataError(f"could not download {info.name} {stem}.gz ({errors[-1]}); "
                            f"point --data-dir at a local copy instead")
    return dest


def _fetch(url: str, dest: Path, timeout: float, progress: bool) -> Path:
    """Stream ``url`` into a temporary file in ``dest`` and return its path."""
    request = urllib.request.Request(url, headers={"User-Agent": USER_AGENT})
    fd, name = tempfile.mkstemp(dir=dest, prefix=".download-", suffix=".part")
    tmp = Path(name)
    try:
        with os.fdopen(fd, "wb") as out, urllib.request.urlopen(request, timeout=timeout) as response:
            total = int(response.headers.get("Content-Length") or 0) or None
            bar = _progress_bar(total, url.rsplit("/", 1)[-1], progress)
            while chunk := response.read(1 << 16):
                out.write(chunk)
                bar.update(len(chunk))
            bar.close()
            out.flush()
            os.fsync(out.fileno())
        if total is not None and tmp.stat().st_size != total:
            raise OSError(f"connection closed after {tmp.stat().st_size} of {total} bytes")
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return tmp


def _progress_bar(total, label, enabled):
    from tqdm import tqdm

    return tqdm(total=total, desc=label, unit="B", unit_scale=True, file=sys.stderr,
                disable=not enabled, leave=False)
