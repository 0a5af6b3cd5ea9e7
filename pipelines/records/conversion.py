"""Converting a registered image-file dataset to sharded TFRecords with a manifest.

`convert_dataset` reads the dataset with its real reader (`datasets.load_dataset`: the
same splits, seed and label policies as training from files), then writes each split as
`<split>-NNNNN-of-MMMMM` shards in a seeded random order (so any shard is a fair sample of
its split), then `membership.csv` (one row per record: split, shard, index, ids, source
line, label) and `manifest.json` last (`pipelines.records.shard_manifest`). Every image is decoded
once with TensorFlow while converting, so an image the trainer could not decode is caught
here, named with its label-file line, instead of stopping a run days later. JPEG and PNG
bytes are stored as they are; TIFF files are decoded with Pillow and stored as PNG
(lossless). With `max_side`, images whose longer side exceeds it are downscaled once
(aspect ratio kept, Lanczos) and re-encoded (JPEG sources as JPEG at `jpeg_quality`, others
as PNG), so training decodes small images instead of multi-megapixel photographs every
epoch. The example layout is `pipelines.records.image_examples`.
"""

from __future__ import annotations

import concurrent.futures
import datetime
import functools
import importlib.metadata
import io
import math
import os
import platform
import re
import zlib
from collections.abc import Callable, Mapping
from typing import NamedTuple

import numpy as np
import pandas as pd
import tensorflow as tf
from PIL import Image

from pipelines import datasets
from pipelines.errors import DataError
from pipelines.readers import image_files
from pipelines.records import image_examples, shard_manifest

DEFAULT_SHARD_MB = 200.0
_JPEG = b"\xff\xd8\xff"
_PNG = b"\x89PNG\r\n\x1a\n"
_TIFF = (b"II*\x00", b"MM\x00*")
# Pillow modes stored as they are; the others become the mode given (PNG holds both).
_TIFF_MODES = {"L": "L", "RGB": "RGB", "1": "L", "LA": "L", "P": "RGB", "RGBA": "RGB"}
_SHARD_FILE = re.compile(r"^[A-Za-z0-9_]+-\d{5}-of-\d{5}(\.tmp)?$")


class StoredImage(NamedTuple):
    """What goes into a record for one image file."""

    encoded: bytes
    format: str  # Stored: JPEG or PNG.
    source_format: str  # JPEG, PNG or TIFF.
    shape: tuple[int, int, int]  # Of the stored image: (height, width, channels).
    source_shape: tuple[int, int, int]  # Of the file's image.


def read_image(path: str, max_side: int = 0, jpeg_quality: int = 95) -> StoredImage:
    """The bytes to store for one image file, checked by decoding them.

    Args:
      path: the image file.
      max_side: 0 keeps the image as it is; otherwise an image whose longer side exceeds
        it is downscaled to exactly `max_side` on that side (aspect ratio kept, the other
        side rounded, at least 1) and re-encoded. Smaller images are stored unchanged.
      jpeg_quality: JPEG quality of re-encoded JPEG sources.

    Returns:
      The stored bytes, their format and shape, and the source's format and shape.

    Raises:
      ValueError: why the file cannot be used (missing, not an image, undecodable).
    """
    stored = _read_as_is(path)
    if max_side and max(stored.shape[:2]) > max_side:
        return _downscaled(stored, max_side, jpeg_quality)
    return stored


def _read_as_is(path: str) -> StoredImage:
    """`read_image` without downscaling: JPEG/PNG bytes as they are, TIFF as PNG."""
    try:
        with open(path, "rb") as f:
            raw = f.read()
    except FileNotFoundError:
        raise ValueError("missing file") from None
    except OSError as e:
        raise ValueError(f"unreadable: {e}") from None
    if raw.startswith(_TIFF):
        try:
            with Image.open(io.BytesIO(raw)) as image:
                mode = _TIFF_MODES.get(image.mode)
                if mode is None:
                    raise ValueError(f"TIFF mode {image.mode!r} is not supported")
                pixels = np.asarray(image.convert(mode))
        except (OSError, Image.DecompressionBombError) as e:
            raise ValueError(f"cannot decode TIFF: {e}") from None
        buffer = io.BytesIO()
        Image.fromarray(pixels).save(buffer, format="PNG")
        shape = tuple(int(s) for s in (pixels.shape if pixels.ndim == 3 else (*pixels.shape, 1)))
        return StoredImage(buffer.getvalue(), "PNG", "TIFF", shape, shape)
    if raw.startswith(_JPEG):
        kind = "JPEG"
    elif raw.startswith(_PNG):
        kind = "PNG"
    else:
        raise ValueError("empty file" if not raw else "not a JPEG, PNG or TIFF file")
    try:
        shape = tf.io.decode_image(raw, expand_animations=False).shape
    except (tf.errors.InvalidArgumentError, tf.errors.UnknownError) as e:
        raise ValueError(f"cannot decode: {e.message.splitlines()[0]}") from None
    shape = tuple(int(s) for s in shape)
    return StoredImage(raw, kind, kind, shape, shape)


def _downscaled(image: StoredImage, max_side: int, jpeg_quality: int) -> StoredImage:
    """`image` (decodable JPEG or PNG bytes) with its longer side scaled to `max_side`."""
    with Image.open(io.BytesIO(image.encoded)) as image_file:
        mode = _TIFF_MODES.get(image_file.mode)
        if mode is None:  # e.g. 16-bit PNG: resampling would change its value range.
            raise ValueError(
                f"cannot downscale image mode {image_file.mode!r}; convert without max_side"
            )
        width, height = image_file.size
        scale = max_side / max(width, height)
        size = (max(1, round(width * scale)), max(1, round(height * scale)))
        small = image_file.convert(mode).resize(size, Image.Resampling.LANCZOS)
    buffer = io.BytesIO()
    stored = image.format  # JPEG stays JPEG; PNG (and TIFF, stored as PNG) stays PNG.
    if stored == "JPEG":
        small.save(buffer, format="JPEG", quality=jpeg_quality)
    else:
        small.save(buffer, format="PNG")
    shape = (size[1], size[0], 3 if small.mode == "RGB" else 1)
    return image._replace(encoded=buffer.getvalue(), format=stored, shape=shape)


def label_spec(data: datasets.LoadedDataset) -> image_examples.LabelSpec:
    """Grade labels, or multi-label with a mask when the rows carry one (CheXpert)."""
    rows = next(iter(data.splits.values()))
    kind = image_examples.MULTI_LABEL if "mask" in rows else image_examples.GRADE
    return image_examples.LabelSpec(kind, len(data.label_names), tuple(data.label_names))


def num_shards_for(rows: pd.DataFrame, *, shard_mb: float) -> int:
    """Shards so that each holds about `shard_mb` MB, by the source files' sizes.

    TIFF sizes overestimate their PNG copies, so those shards come out smaller.
    """
    total = sum(os.path.getsize(p) for p in rows["path"] if os.path.exists(p))
    return int(min(max(1, math.ceil(total / (shard_mb * 1e6))), max(1, len(rows))))


def convert_dataset(
    name: str,
    root: str,
    out: str,
    *,
    split_fractions: Mapping[str, float],
    split_seed: int = 0,
    on_bad_image: str = "stop",
    shuffle_seed: int = 0,
    num_shards: int | Mapping[str, int] | None = None,
    shard_mb: float = DEFAULT_SHARD_MB,
    max_side: int = 0,
    jpeg_quality: int = 95,
    workers: int = 4,
    progress: Callable[[int, int], None] | None = None,
    **options,
) -> dict:
    """Converts dataset `name` at `root` into TFRecord shards and a manifest in `out`.

    Args:
      name, root, split_fractions, split_seed, on_bad_image, **options: as for
        `datasets.load_dataset` (reader options as `data.options`).
      out: output directory; created if needed; must hold no manifest or shards yet.
      shuffle_seed: seeds the order of the examples across a split's shards.
      num_shards: shards per split (an int for every split, or {split: n}); None chooses
        by `shard_mb`. Never more than the split's images.
      shard_mb: target shard size in MB when `num_shards` does not give the count.
      max_side: 0 stores images as they are; N downscales every image whose longer side
        exceeds N to N on that side (see `read_image`). Choose N at least the model input
        (`pad`, `squash`), or input x long/short side (`center_crop`).
      jpeg_quality: quality of re-encoded JPEGs (only with `max_side`).
      workers: threads that read and decode images.
      progress: called as progress(images done, images in all splits).

    Returns:
      The manifest (also written to `<out>/manifest.json`, after `<out>/membership.csv`).

    Raises:
      DataError: from the reader (bad label files; bad images under `stop`, naming the
        image and its label-file line), an image that does not decode under `stop`, or an
        output directory that already holds a conversion.
      ValueError: a record dataset (already TFRecords) or a bad argument.
    """
    if max_side < 0 or not 1 <= jpeg_quality <= 100:
        raise ValueError(f"max_side={max_side} must be >= 0, jpeg_quality={jpeg_quality} 1-100")
    _check_out(out)
    data = datasets.load_dataset(
        name,
        root,
        split_fractions=split_fractions,
        split_seed=split_seed,
        image_scan="header",
        on_bad_image=on_bad_image,
        allow_tiff=True,
        **options,
    )
    if not isinstance(data, datasets.LoadedDataset):
        raise ValueError(f"{name} is stored as TFRecords already; nothing to convert")
    spec = label_spec(data)
    root_abs = os.path.abspath(root)
    total = sum(len(rows) for rows in data.splits.values())
    state = {"done": 0}
    written: list[str] = []
    split_entries, members = {}, []
    try:
        with concurrent.futures.ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
            for split, rows in data.splits.items():
                count = num_shards.get(split) if isinstance(num_shards, Mapping) else num_shards
                if count is None:
                    count = num_shards_for(rows, shard_mb=shard_mb)
                count = int(min(max(1, count), max(1, len(rows))))
                order = np.random.default_rng([shuffle_seed, zlib.crc32(split.encode())])
                shuffled = rows.iloc[order.permutation(len(rows))]
                entry, bad, split_members = _write_split(
                    split, shuffled, out, count, root_abs, spec, on_bad_image, pool,
                    written, state, total, progress,
                    functools.partial(read_image, max_side=max_side, jpeg_quality=jpeg_quality),
                )  # fmt: skip
                if bad:
                    data.bad_images += bad
                    lost = {(b.path, b.line) for b in bad}
                    data.splits[split] = rows[
                        [
                            (p, ln) not in lost
                            for p, ln in zip(rows["path"], rows["line"], strict=False)
                        ]
                    ]
                split_entries[split] = entry
                members += split_members
        written.append(os.path.join(out, shard_manifest.MEMBERSHIP))
        membership = shard_manifest.write_membership(out, members, spec.to_json())
    except BaseException:
        for path in written:
            for candidate in (path, path + ".tmp"):
                if os.path.exists(candidate):
                    os.remove(candidate)
        raise
    settings = {
        "reader_options": dict(options),
        "split_fractions": dict(split_fractions),
        "split_seed": split_seed,
        "shuffle_seed": shuffle_seed,
        "on_bad_image": on_bad_image,
        "max_side": max_side,
        "jpeg_quality": jpeg_quality if max_side else None,
    }
    manifest = _manifest(name, root_abs, data, spec, split_entries, settings, membership)
    shard_manifest.write_manifest(out, manifest)
    return manifest


def _check_out(out: str) -> None:
    if os.path.exists(os.path.join(out, shard_manifest.MANIFEST)):
        raise DataError(f"{out} already holds a converted dataset ({shard_manifest.MANIFEST})")
    if os.path.isdir(out):
        shards = sorted(n for n in os.listdir(out) if _SHARD_FILE.match(n))
        if shards:
            raise DataError(
                f"{out} already holds TFRecord shards ({shards[0]}, ...); use a new --out"
            )
    os.makedirs(out, exist_ok=True)


def _write_split(
    split, rows, out, count, root_abs, spec, on_bad_image, pool, written, state, total, progress,
    read,
):  # fmt: skip
    """Writes one split's shards; returns (manifest entry, bad images, membership rows)."""
    bounds = [len(rows) * k // count for k in range(count + 1)]
    shards, bad, formats, from_tiff, resized, members = [], [], {}, 0, 0, []
    for k in range(count):
        part = rows.iloc[bounds[k] : bounds[k + 1]]
        name = shard_manifest.shard_name(split, k, count)
        path = os.path.join(out, name)
        written.append(path)
        examples = 0
        with tf.io.TFRecordWriter(path + ".tmp") as writer:
            records = part.to_dict("records")
            for row, result in zip(
                records,
                pool.map(lambda p: _read_row(read, p), [r["path"] for r in records]),
                strict=False,
            ):
                state["done"] += 1
                if progress is not None:
                    progress(state["done"], total)
                if isinstance(result, str):
                    item = image_files.BadImage(
                        row["path"], result, row["source"], int(row["line"])
                    )
                    if on_bad_image == "stop":
                        raise DataError(
                            f"bad image {item.describe()}; pass on_bad_image='skip' "
                            "(--on_bad_image=skip) to skip and count bad images instead"
                        )
                    bad.append(item)
                    continue
                record, fields = _record(row, result, root_abs, spec)
                writer.write(record)
                members.append(shard_manifest.membership_row(split, name, examples, fields))
                examples += 1
                formats[result.format] = formats.get(result.format, 0) + 1
                from_tiff += result.source_format == "TIFF"
                resized += result.shape != result.source_shape
        os.replace(path + ".tmp", path)
        shards.append({"file": name, "examples": examples, "bytes": os.path.getsize(path)})
    entry = {
        "examples": sum(s["examples"] for s in shards),
        "bytes": sum(s["bytes"] for s in shards),
        "formats": formats,
        "converted_from_tiff": from_tiff,
        "downscaled": resized,
        "shards": shards,
    }
    return entry, bad, members


def _read_row(read: Callable[[str], StoredImage], path: str) -> StoredImage | str:
    try:
        return read(path)
    except ValueError as e:
        return str(e)


def _record(row, image: StoredImage, root_abs, spec) -> tuple[bytes, dict]:
    """A row's serialized example, and its fields other than the image."""
    multi = spec.kind == image_examples.MULTI_LABEL
    fields = dict(
        image_id=str(row["image"]),
        source_path=os.path.relpath(row["path"], root_abs),
        patient=str(row["patient"]),
        study=str(row.get("study", "")),
        label_file=os.path.relpath(row["source"], root_abs),
        line=int(row["line"]),
        label=row["label"],
        mask=row["mask"] if multi else None,
    )
    stored = dict(encoded=image.encoded, image_format=image.format, shape=image.shape)
    encoded = image_examples.encode_example(source_format=image.source_format, **stored, **fields)
    return encoded, fields


def _manifest(name, root_abs, data, spec, split_entries, settings, membership) -> dict:
    summary = data.summary()
    splits = {}
    for split, entry in split_entries.items():
        counts = summary["splits"][split]
        splits[split] = {
            "examples": entry["examples"],
            "bytes": entry["bytes"],
            "patients": counts["patients"],
            "labels": counts["labels"],
            **{k: counts[k] for k in ("excluded", "exams_paired_by") if k in counts},
            **{k: v for k, v in entry.items() if k not in ("examples", "bytes")},
        }
    return {
        "format": shard_manifest.FORMAT,
        "version": shard_manifest.VERSION,
        "dataset": name,
        "source_root": root_abs,
        **settings,
        "label": spec.to_json(),
        "splits": splits,
        "skipped_images": len(data.bad_images),
        "skipped": [
            {"path": b.path, "reason": b.reason, "label_file": b.label_file, "line": b.line}
            for b in sorted(data.bad_images, key=lambda b: (b.label_file, b.line))
        ],
        "totals": {
            "examples": sum(e["examples"] for e in splits.values()),
            "bytes": sum(e["bytes"] for e in splits.values()),
            "shards": sum(len(e["shards"]) for e in splits.values()),
            "converted_from_tiff": sum(e["converted_from_tiff"] for e in splits.values()),
            "downscaled": sum(e["downscaled"] for e in splits.values()),
        },
        "membership": membership,
        "versions": _versions(),
        "created": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
    }


def _versions() -> dict[str, str]:
    versions = {"python": platform.python_version()}
    for package in ("tensorflow", "numpy", "pandas", "pillow"):
        try:
            versions[package] = importlib.metadata.version(package)
        except importlib.metadata.PackageNotFoundError:
            versions[package] = "not installed"
    return versions
