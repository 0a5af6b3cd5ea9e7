"""On-disk caches of decoded images (`data.cache=<file prefix>`): one per stream, keyed.

A stream caches its decoded, resized uint8 images, with the labels that travel with them,
in tf.data cache files. Each stream and split gets its own files, named by their key:

  <prefix>-<stream>-<split>-<digest>.index, .data-00000-of-00001   tf.data's cache
  <prefix>-<stream>-<split>-<digest>.json                          the manifest

(a prefix ending in a path separator is a directory: the names inside it drop the
leading '-'). `stream` is `train` (images with their row numbers, before shuffling) or
`eval` (one pass: images and labels); `digest` is the first 16 hex digits of the SHA-256
of the key (`cache_key`), which holds the stream, the split's name, the image size,
channels, resize mode and preprocessing, what produced the elements (`source`) and the
split's membership (`membership`: a hash of its ordered canonical image paths, or of its
shard files, and of its labels). A stream therefore never reads another stream's or
another split's images, nor images decoded with other settings, whatever order the
streams are first iterated in.

The manifest records the key and the process that wrote the cache:

  {"format": "transfusion_tf.image_cache", "version": 1, "key": {...}, "digest": "...",
   "writer": {"host": "...", "pid": 123}, "created": "2026-01-01T00:00:00+00:00"}

`prepare` checks it before every use. A cache is read only when it is complete (tf.data
wrote its `.index`, and no `<name>_<n>.lockfile` is left: tf.data deletes those when the
pass ends) and the manifest holds the same key. Otherwise this process takes the cache's
lock (`flock` on `<name>.lock`, held until the process exits; the kernel releases it when
a process dies, even by SIGKILL), deletes whatever is there with a warning that says why
(a partial cache a killed run left, files without a manifest or with another key: a hash
collision or a hand edit), and the stream's first pass writes the cache again. If another
live process holds the lock, it is writing that cache now: `prepare` stops with a
DataError rather than delete files under it. Caches of other keys (e.g. another image
size) have other names and are left alone; delete them by hand when no run needs them.
"""

from __future__ import annotations

import datetime
import fcntl
import glob
import hashlib
import json
import logging
import os
import re
import socket
from collections.abc import Callable, Sequence

import numpy as np

from pipelines.errors import DataError

FORMAT = "transfusion_tf.image_cache"
VERSION = 1
IN_MEMORY, NO_CACHE = "memory", "none"
STREAMS = ("train", "eval")
_LOG = logging.getLogger(__name__)


def is_file_cache(cache: str) -> bool:
    """Whether a `data.cache` value is a file prefix (not `memory` or `none`)."""
    return cache not in (IN_MEMORY, NO_CACHE)


def stream_cache_file(cache: str, key: Callable[[], dict]) -> str | None:
    """The `tf.data.Dataset.cache` filename of a stream whose `data.cache` is `cache`.

    Args:
      cache: `none`, `memory` or a file prefix.
      key: builds the stream's `cache_key` (called only for a file prefix).

    Returns:
      None for `none` (no cache), '' for `memory`, else `prepare(cache, key())`.

    Raises:
      ValueError, DataError: as `cache_key` and `prepare`.
    """
    if cache == NO_CACHE:
        return None
    if cache == IN_MEMORY:
        return ""
    return prepare(cache, key())


def membership(identities: Sequence[str], labels: np.ndarray | None = None) -> dict:
    """What a stream holds, for its cache key.

    Args:
      identities: one string per member, in stream order: canonical image paths, or
        shard files with their size and modification time.
      labels: the labels cached with the images (any shape and dtype), or None.

    Returns:
      {'members': count, 'members_sha256': hex, 'labels_sha256': hex or None}.
    """
    members = hashlib.sha256("\n".join(identities).encode("utf-8")).hexdigest()
    labels_hash = None
    if labels is not None:
        labels = np.ascontiguousarray(labels)
        digest = hashlib.sha256(f"{labels.dtype.str}{labels.shape}".encode())
        digest.update(labels.tobytes())
        labels_hash = digest.hexdigest()
    return {"members": len(identities), "members_sha256": members, "labels_sha256": labels_hash}


def shard_identities(files: Sequence[str]) -> list[str]:
    """Shard files as cache members: 'path<TAB>size<TAB>mtime_ns' (a rewrite changes it)."""
    out = []
    for file in files:
        stat = os.stat(file)
        out.append(f"{os.path.abspath(file)}\t{stat.st_size}\t{stat.st_mtime_ns}")
    return out


def describe_function(function: Callable) -> str:
    """A stable description of a (partial) function: module, name and bound options."""
    options = dict(getattr(function, "keywords", None) or {})
    function = getattr(function, "func", function)
    name = f"{function.__module__}.{function.__qualname__}"
    return f"{name}({', '.join(f'{k}={v!r}' for k, v in sorted(options.items()))})"


def cache_key(
    *,
    stream: str,
    split: str,
    image_size: int,
    channels: int,
    resize_mode: str,
    preprocessing: str,
    source: str,
    members: dict,
) -> dict:
    """The key of one stream's cache (see the module docstring).

    Args:
      stream: one of STREAMS.
      split: the split's name.
      image_size, channels, resize_mode: how the images were decoded and resized.
      preprocessing: the run's preprocessing name (applied after the cache today; in the
        key so that moving it before the cache cannot reuse old files).
      source: what produced the elements: 'files', or the record parse function.
      members: `membership(...)` of the stream.

    Raises:
      ValueError: an unknown stream or an empty split name.
    """
    if stream not in STREAMS:
        raise ValueError(f"unknown cache stream {stream!r}; valid: {STREAMS}")
    if not split:
        raise ValueError("a file cache needs the split's name (split_name)")
    return {
        "stream": stream,
        "split": split,
        "image_size": int(image_size),
        "channels": int(channels),
        "resize_mode": resize_mode,
        "preprocessing": preprocessing,
        "source": source,
        **members,
    }


def cache_name(prefix: str, key: dict) -> str:
    """The tf.data cache filename of `key` under `prefix` (no extension)."""
    if not prefix:
        raise ValueError("data.cache is empty: use 'memory', 'none' or a file prefix")
    digest = hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:16]
    split = re.sub(r"[^A-Za-z0-9_.]+", "_", key["split"])
    name = f"{key['stream']}-{split}-{digest}"
    if prefix.endswith(("/", os.sep)):
        return os.path.join(prefix, name)
    return f"{prefix}-{name}"


def prepare(prefix: str, key: dict) -> str:
    """Checks the cache of `key` under `prefix`: reuses it, or clears it for writing.

    Args:
      prefix: the `data.cache` file prefix; its directory is created if needed.
      key: from `cache_key`.

    Returns:
      The filename to give `tf.data.Dataset.cache`.

    Raises:
      DataError: the cache is incomplete and another live process holds its lock (it is
        writing it), or a stream of this process is still writing it; the message names
        the cache, the writer and what to do.
    """
    base = cache_name(prefix, key)
    os.makedirs(os.path.dirname(os.path.abspath(base)), exist_ok=True)
    manifest = _read_manifest(base + ".json")
    files = _cache_files(base)
    locks = [f for f in files if f.endswith(".lockfile")]
    same_key = manifest is not None and manifest.get("key") == key
    if same_key and not locks and os.path.exists(base + ".index"):
        _LOG.info("reading the %s stream of split %r from the cache %s", key["stream"],
                  key["split"], base)  # fmt: skip
        return base
    ours = base in _HELD
    if not _lock(base):
        raise DataError(
            f"cache {base} is being written by {_writer(manifest)}, which holds {base}.lock; "
            "wait until its first pass is done, or set data.cache to another prefix"
        )
    if locks and ours:
        raise DataError(
            f"cache {base} is being written by another stream of this process ({locks[0]}); "
            "iterate that stream to its end first"
        )
    if files:
        if locks:
            reason = f"{_writer(manifest)} left it partly written ({locks[0]}) and has exited"
        elif manifest is None:
            reason = "it has no manifest"
        else:
            reason = "its manifest holds another key" if not same_key else "it is incomplete"
        _LOG.warning("cache %s: %s; deleting its %d files and caching again", base, reason,
                     len(files))  # fmt: skip
        for file in files:
            os.remove(file)
    _write_manifest(base, key)
    return base


# Caches this process writes: base -> the open file holding its lock until the process
# exits (the kernel releases it then, even on SIGKILL: a dead writer's lock is free).
_HELD: dict[str, object] = {}


def _lock(base: str) -> bool:
    """Takes the exclusive lock of a cache; False if another process holds it."""
    if base in _HELD:
        return True
    handle = open(base + ".lock", "a")  # noqa: SIM115 -- held open until the process exits.
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.close()
        return False
    except OSError as e:  # A file system without locks: concurrent writers go unnoticed.
        handle.close()
        _LOG.warning("cache %s: cannot lock (%s); runs sharing it are not detected", base, e)
        return True
    _HELD[base] = handle
    return True


def _writer(manifest: dict | None) -> str:
    writer = (manifest or {}).get("writer") or {}
    if "pid" not in writer:
        return "an unknown process (no manifest)"
    return f"process {writer['pid']} on {writer.get('host', '?')}"


def _cache_files(base: str) -> list[str]:
    """tf.data's files of a cache: `<base>.index`, `.data-*`, `<base>_<n>.*` (partial)."""
    pattern = glob.escape(base)
    found = glob.glob(pattern + ".*") + glob.glob(pattern + "_*")
    return sorted(f for f in found if f not in (base + ".json", base + ".lock"))


def _read_manifest(path: str) -> dict | None:
    try:
        with open(path) as f:
            manifest = json.load(f)
    except (OSError, ValueError):
        return None
    if (
        not isinstance(manifest, dict)
        or manifest.get("format") != FORMAT
        or manifest.get("version") != VERSION
    ):
        return None
    return manifest


def _write_manifest(base: str, key: dict) -> None:
    manifest = {
        "format": FORMAT,
        "version": VERSION,
        "key": key,
        "digest": os.path.basename(base).rsplit("-", 1)[-1],
        "writer": {"host": socket.gethostname(), "pid": os.getpid()},
        "created": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
    }
    tmp = f"{base}.json.tmp"
    with open(tmp, "w") as f:
        json.dump(manifest, f, indent=2)
        f.write("\n")
    os.replace(tmp, base + ".json")
