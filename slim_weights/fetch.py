"""Downloading a release tarball (resumable) and extracting it safely.

`fetch_checkpoint(entry, directory)` downloads `entry.url` into `directory`, resuming a
partial `<archive>.part` left by an interrupted run (HTTP Range), extracts the tarball
while refusing any member that would land outside `directory`, and checks the extracted
checkpoint against the manifest inventory. Nothing here needs TensorFlow except the final
inventory check.
"""

from __future__ import annotations

import gzip
import http.client
import os
import pathlib
import posixpath
import tarfile
import time
import urllib.error
import urllib.parse
import urllib.request
import zlib
from typing import TextIO

from errors import ExpectedError, UsageError
from slim_weights import checkpoint
from slim_weights.manifest import CheckpointEntry

_CHUNK = 1 << 20
# What tarfile raises for a file that is not a (complete, uncorrupted) tarball.
_UNREADABLE_ARCHIVE = (tarfile.TarError, EOFError, zlib.error, gzip.BadGzipFile)


class DownloadError(ExpectedError, RuntimeError):
    """A download that could not complete; the message says what to do next."""


class UnsafeArchiveError(ExpectedError, ValueError):
    """A tarball with a member that would be written outside the target directory."""


class MissingMember(ExpectedError, FileNotFoundError):
    """A tarball without the checkpoint the manifest expects in it."""


def download(
    url: str,
    destination: str | os.PathLike,
    *,
    attempts: int = 3,
    timeout: float = 60.0,
    progress: TextIO | None = None,
) -> pathlib.Path:
    """Downloads `url` to `destination`, resuming from `<destination>.part` if present.

    Bytes arrive in `<destination>.part`, which is renamed only once complete, so a file at
    `destination` is always whole. A dropped connection is retried up to `attempts` times,
    each retry asking the server for the remaining bytes only (HTTP Range); a server that
    ignores Range sends the whole file again and the partial file is restarted.

    Args:
      url: http(s) or file URL.
      destination: the file to create (a leading `~` is expanded).
      attempts: connections to try before giving up.
      timeout: seconds without data before a connection counts as dropped.
      progress: stream for a one-line progress bar (e.g. sys.stderr), or None.

    Returns:
      The path of the complete file.

    Raises:
      DownloadError: when offline or the server is unreachable, on an HTTP error, or when
        every attempt was interrupted (the partial file is kept; rerunning resumes it).
    """
    destination = pathlib.Path(destination).expanduser()
    if destination.exists():
        return destination
    destination.parent.mkdir(parents=True, exist_ok=True)
    partial = destination.with_name(destination.name + ".part")
    last_error: Exception | None = None
    for _ in range(attempts):
        try:
            _download_once(url, partial, timeout, progress)
            partial.replace(destination)
            return destination
        except urllib.error.HTTPError as e:
            raise DownloadError(f"{url}: HTTP {e.code} {e.reason}") from e
        except urllib.error.URLError as e:
            if not isinstance(e.reason, TimeoutError):
                raise DownloadError(
                    f"cannot reach {url} ({e.reason}). Are you offline? Fetch the file "
                    f"elsewhere and put it at {destination}; the next run then skips the "
                    "download and only extracts and checks it."
                ) from e
            last_error = e
        except (OSError, http.client.HTTPException, _Truncated) as e:
            last_error = e
        time.sleep(0.1)
    have = partial.stat().st_size if partial.exists() else 0
    raise DownloadError(
        f"download of {url} interrupted {attempts} times ({last_error!r}); {have} bytes kept "
        f"in {partial}; run the same command again to resume from there"
    )


class _Truncated(Exception):
    """The server closed the connection before sending all announced bytes."""


def _download_once(url: str, partial: pathlib.Path, timeout: float, progress: TextIO | None):
    start = partial.stat().st_size if partial.exists() else 0
    request = urllib.request.Request(url)
    if start:
        request.add_header("Range", f"bytes={start}-")
    try:
        response = urllib.request.urlopen(request, timeout=timeout)
    except urllib.error.HTTPError as e:
        if e.code != 416:
            raise
        # 416: nothing at or after `start`. `Content-Range: bytes */N` gives the length: a
        # partial file of exactly N bytes is complete (the last run ended before renaming
        # it); any other length is not this resource, so start over.
        total = _unsatisfied_range_total(e.headers.get("Content-Range"))
        e.close()
        if total == start:
            return
        partial.unlink()
        start = 0
        response = urllib.request.urlopen(urllib.request.Request(url), timeout=timeout)
    with response:
        resumed = bool(start) and response.status == 206
        if resumed and _range_start(response.headers.get("Content-Range")) != start:
            partial.unlink()  # The server answered another range than asked: start over.
            raise _Truncated(f"server sent {response.headers.get('Content-Range')}")
        if not resumed:
            start = 0  # No Range support (200): the whole file comes again.
        length = response.headers.get("Content-Length")
        total = start + int(length) if length is not None else None
        done = start
        with open(partial, "ab" if resumed else "wb") as f:
            while chunk := response.read(_CHUNK):
                f.write(chunk)
                done += len(chunk)
                if progress is not None:
                    _draw(progress, partial.name.removesuffix(".part"), done, total)
        if progress is not None:
            progress.write("\n")
        if total is not None and done != total:
            raise _Truncated(f"got {done} of {total} bytes")


def _range_start(content_range: str | None) -> int | None:
    """The first byte of a `Content-Range: bytes <first>-<last>/<total>` header."""
    try:
        return int(content_range.split()[1].split("-")[0])
    except (AttributeError, IndexError, ValueError):
        return None


def _unsatisfied_range_total(content_range: str | None) -> int | None:
    """The length N of a 416 reply's `Content-Range: bytes */N` header."""
    try:
        unit, _, spec = content_range.partition(" ")
        first_last, _, total = spec.partition("/")
        return int(total) if (unit, first_last) == ("bytes", "*") else None
    except (AttributeError, ValueError):
        return None


def _draw(stream: TextIO, name: str, done: int, total: int | None) -> None:
    mb = 1 << 20
    if total:
        filled = int(30 * done / total)
        bar = "#" * filled + "." * (30 - filled)
        stream.write(
            f"\r{name} [{bar}] {100 * done / total:5.1f}% {done / mb:.1f}/{total / mb:.1f} MB"
        )
    else:
        stream.write(f"\r{name} {done / mb:.1f} MB")
    stream.flush()


def safe_extract(archive: str | os.PathLike, directory: str | os.PathLike) -> list[str]:
    """Extracts a tarball, refusing it whole if any member would escape `directory`.

    Every member is checked before anything is written: absolute paths, `..` components,
    links, and device or fifo files are refused (a checkpoint tarball has none of them).

    Args:
      archive: the .tar / .tar.gz file.
      directory: where members land; created if needed.

    Returns:
      The member names extracted.

    Raises:
      UnsafeArchiveError: naming every offending member; nothing is extracted then.
      tarfile.TarError, EOFError, zlib.error, gzip.BadGzipFile: if the archive is unreadable
        (not a tarball, or truncated or corrupt).
    """
    root = pathlib.Path(directory).resolve()
    root.mkdir(parents=True, exist_ok=True)
    with tarfile.open(archive) as tar:
        members = tar.getmembers()
        bad = []
        for member in members:
            target = (root / member.name).resolve()
            if os.path.isabs(member.name) or ".." in pathlib.PurePosixPath(member.name).parts:
                bad.append(f"{member.name} (path leaves {root})")
            elif not target.is_relative_to(root):
                bad.append(f"{member.name} (resolves to {target})")
            elif not (member.isfile() or member.isdir()):
                bad.append(f"{member.name} (link or special file)")
        if bad:
            raise UnsafeArchiveError(f"refusing to extract {archive}: unsafe members {bad}")
        # The 'data' filter re-checks the same rules and drops permissions bits we do not need.
        tar.extractall(root, members=members, filter="data")
    return [m.name for m in members]


def fetch_checkpoint(
    entry: CheckpointEntry,
    directory: str | os.PathLike,
    *,
    url: str | None = None,
    progress: TextIO | None = None,
    attempts: int = 3,
) -> pathlib.Path:
    """Downloads, extracts and checks a released checkpoint; returns the checkpoint file.

    An archive already at `<directory>/<archive name>` is used without downloading, and an
    already extracted checkpoint is only re-checked.

    Args:
      entry: the manifest entry (`manifest.get_entry(model)`).
      directory: where the tarball and the checkpoint go (a leading `~` is expanded).
      url: overrides `entry.url` (a mirror, or a local test server).
      progress: stream for the progress bar, or None.
      attempts: connections to try before giving up.

    Returns:
      Path of the extracted checkpoint (`<directory>/<entry.archive_member>`).

    Raises:
      errors.UsageError: a URL without a file name (e.g. ending in '/').
      DownloadError: see `download`; also when the archive is not a readable tarball (it is
        then renamed to `<archive>.bad`, so the next run downloads it again), or when
        `directory` is a file.
      UnsafeArchiveError: see `safe_extract`.
      checkpoint.InventoryError: if the checkpoint's variables differ from the manifest.
      checkpoint.CheckpointReadError: if the extracted checkpoint is not readable.
      MissingMember: if the tarball lacks `entry.archive_member` (a FileNotFoundError).
    """
    url = url or entry.url
    name = pathlib.PurePosixPath(urllib.parse.urlparse(url).path).name
    if not name:  # Else the download would be written over `directory` itself.
        expected = pathlib.PurePosixPath(urllib.parse.urlparse(entry.url).path).name
        raise UsageError(
            f"URL {url} names no file; give the tarball's own URL (the release is {expected})"
        )
    directory = pathlib.Path(directory).expanduser()
    if directory.exists() and not directory.is_dir():
        raise DownloadError(
            f"{directory} is a file, not a directory (an earlier download may have been "
            "saved under its name): move it away or choose another directory"
        )
    ckpt = directory / entry.archive_member
    if not ckpt.exists():
        archive = download(url, directory / name, attempts=attempts, progress=progress)
        try:
            members = safe_extract(archive, directory)
        except _UNREADABLE_ARCHIVE as e:
            # Kept for inspection under another name, so the next run downloads afresh
            # instead of failing on the same file (e.g. an HTML page from a proxy).
            bad = archive.with_name(archive.name + ".bad")
            archive.replace(bad)
            ckpt.unlink(missing_ok=True)  # a member half-written before the error
            raise DownloadError(
                f"{archive} is not a readable tar archive ({type(e).__name__}: {e}); moved it "
                f"to {bad}. Run the same command again to download it afresh (check --url "
                "or your proxy if this repeats: the server may have sent an error page)."
            ) from e
        # Tarballs made with `tar -C dir .` name members `./resnet_v1_50.ckpt`.
        if entry.archive_member not in {posixpath.normpath(m) for m in members}:
            raise MissingMember(
                f"{archive} has no member {entry.archive_member!r}; members: {members}"
            )
    checkpoint.check_inventory(checkpoint.read_shapes(ckpt), entry.inventory(), source=str(ckpt))
    return ckpt
