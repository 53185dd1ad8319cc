"""Downloading a dataset from its public mirrors, safely.

Each file is fetched with retries and a progress bar into a temporary name in
the destination folder, checked (the publisher's MD5 of the download, the
SHA-256 of its decompressed content, its IDX header), and only then renamed
into place. An interrupted or corrupted
download therefore never leaves a file that looks complete.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import sys
import tempfile
import time
import urllib.error
import urllib.request
import zipfile
from pathlib import Path

from .errors import DataError

USER_AGENT = "digitnet (https://pypi.org/project/digitnet)"


def download_dataset(info, dest: Path, stems: list[str] | None = None, retries: int = 3,
                     timeout: float = 30.0, progress: bool = True, backoff: float = 1.0) -> Path:
    """Download a dataset's files into ``dest``.

    Each file comes from the first mirror that serves it (``<mirror>/<stem>.gz``),
    or, for a dataset published as one zip archive (EMNIST), the archive is
    downloaded once into ``dest``'s parent folder and the files are taken
    out of it.

    Parameters
    ----------
    info : DatasetInfo
        Names the files, their checksums, the mirrors or the archive
        (URLs, tried in order).
    dest : Path
        Folder to write ``<stem>.gz`` files into; created if needed.
    stems : list of str, optional
        The files to fetch (default: all four).
    retries : int
        Attempts per URL before moving to the next one.
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

    Raises
    ------
    DataError
        Every URL failed or served other content (the last reason is given);
        no partial file is left behind.
    """
    dest.mkdir(parents=True, exist_ok=True)
    stems = stems if stems is not None else info.stems(("train", "test"))
    wanted = [s for s in stems if not (dest / f"{s}.gz").is_file()]
    if info.archive and info.mapping_file and not (dest / info.mapping_file).is_file():
        wanted.append(info.mapping_file)
    if not wanted:
        return dest
    if info.archive:
        archive = dest.parent / info.archive[0].rsplit("/", 1)[-1]
        _download(info, list(info.archive), archive, retries, timeout, progress, backoff,
                  check=lambda tmp: _check_zip(tmp, archive.name, info))
        for name in wanted:
            _extract(archive, name, info, dest)
        return dest
    for stem in wanted:
        target = dest / f"{stem}.gz"
        urls = [mirror.rstrip("/") + f"/{target.name}" for mirror in info.mirrors]
        _download(info, urls, target, retries, timeout, progress, backoff,
                  check=lambda tmp, stem=stem, target=target: _check_idx(tmp, target.name, stem, info))
    return dest


def _download(info, urls: list[str], target: Path, retries, timeout, progress, backoff, check) -> None:
    """Fetch ``target`` from the first of ``urls`` that serves content passing ``check``."""
    if target.is_file():
        return
    errors = []
    for url in urls:
        for attempt in range(retries):
            try:
                tmp = _fetch(url, target.parent, timeout, progress)
            except (urllib.error.URLError, OSError, TimeoutError) as err:
                errors.append(f"{url}: {getattr(err, 'reason', err)}")
                if attempt + 1 < retries:
                    time.sleep(backoff * 2**attempt)
                continue
            try:
                check(tmp)
                os.replace(tmp, target)
                return
            except DataError as err:
                tmp.unlink(missing_ok=True)     # the message names what was served, not a deleted file
                errors.append(f"{url}: {str(err).replace(str(tmp) + ': ', '')}")
                break  # a server handing out bad content will not improve on retry
            except BaseException:               # Ctrl-C while the checksum is computed: no .part left
                tmp.unlink(missing_ok=True)
                raise
    reason = errors[-1] if errors else "no download address known"
    raise DataError(f"could not download {info.name} {target.name} ({reason}); "
                    f"point --data-dir at a local copy instead")


def _check_md5(path: Path, name: str, info) -> None:
    """Compare a downloaded file with the MD5 its publisher gives, where one is known."""
    expected = info.download_md5.get(name)
    if not expected:
        return
    digest = hashlib.md5(usedforsecurity=False)
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
    if digest.hexdigest() != expected:
        raise DataError(f"{name}: MD5 {digest.hexdigest()} differs from the published {expected}")


def _check_idx(path: Path, name: str, stem: str, info) -> None:
    """A downloaded ``<stem>.gz`` must be the published file and well-formed IDX of the right kind."""
    from .data import read_checked

    _check_md5(path, name, info)
    read_checked(path, info.magic(stem), info.sha256.get(stem))


def _check_zip(path: Path, name: str, info) -> None:
    _check_md5(path, name, info)
    if not zipfile.is_zipfile(path):
        raise DataError(f"{name}: not a zip archive")


def _extract(archive: Path, name: str, info, dest: Path) -> None:
    """Copy the member of ``archive`` named ``name`` (or ``name.gz``), in any folder, into ``dest``."""
    with zipfile.ZipFile(archive) as zf:
        members = {Path(m).name: m for m in zf.namelist()}
        member = members.get(f"{name}.gz") or members.get(name)
        if member is None:
            raise DataError(f"{archive}: holds no {name}[.gz] (a different archive?)")
        target = dest / Path(member).name
        fd, tmp_name = tempfile.mkstemp(dir=dest, prefix=".extract-", suffix=".part")
        tmp = Path(tmp_name)
        try:
            with os.fdopen(fd, "wb") as out, zf.open(member) as src:
                shutil.copyfileobj(src, out, 1 << 20)
            if name != info.mapping_file:
                from .data import read_checked

                read_checked(tmp, info.magic(name), info.sha256.get(name))
            os.replace(tmp, target)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise


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
