"""Converting a registered image-file dataset to sharded TFRecords with a manifest.

`convert_dataset` reads the dataset with its real reader (`datasets.load_dataset`: the
same splits, seed and label policies as training from files), then writes each split as
`<split>-NNNNN-of-MMMMM` shards in a seeded random order (so any shard is a fair sample of
its split), then `membership.csv` (one row per record: split, shard, index, ids, source
line, label) and `manifest.json` last (`pipelines.records.shard_manifest`). Every image is
decoded once while converting (`pipelines.records.stored_images`), so an image the trainer
could not decode is caught here, named with its label-file line, instead of stopping a run
days later. The example layout is `pipelines.records.image_examples`.
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
import datetime
import functools
import importlib.metadata
import math
import os
import platform
import re
import zlib
from collections.abc import Callable, Mapping

import numpy as np
import pandas as pd
import tensorflow as tf

from errors import UsageError
from pipelines import datasets
from pipelines.errors import DataError
from pipelines.readers import image_files
from pipelines.readers.file_dataset import LoadedDataset
from pipelines.readers.file_split import FileSplit
from pipelines.records import image_examples, shard_manifest
from pipelines.records.stored_images import StoredImage, read_image

DEFAULT_SHARD_MB = 200.0
_SHARD_FILE = re.compile(r"^[A-Za-z0-9_]+-\d{5}-of-\d{5}(\.tmp)?$")


def label_spec(data: LoadedDataset) -> image_examples.LabelSpec:
    """Grade labels, or multi-label with a mask when the rows carry one (CheXpert)."""
    rows = next(iter(data.splits.values())).table
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
        exceeds N to N on that side (`stored_images.read_image`). Choose N at least the
        model input (`pad`, `squash`), or input x long/short side (`center_crop`).
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
        raise UsageError(f"max_side={max_side} must be >= 0, jpeg_quality={jpeg_quality} 1-100")
    if datasets.get_dataset(name).stored_as_records:
        raise UsageError(f"{name} is stored as TFRecords already; nothing to convert")
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
    spec = label_spec(data)
    root_abs = os.path.abspath(root)
    read = functools.partial(read_image, max_side=max_side, jpeg_quality=jpeg_quality)
    with concurrent.futures.ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        writer = _ShardWriter(out, root_abs, spec, on_bad_image, read, pool, progress)
        writer.total = sum(len(part.table) for part in data.splits.values())
        entries, membership = writer.write_all(
            data, shuffle_seed=shuffle_seed, num_shards=num_shards, shard_mb=shard_mb
        )
    settings = {
        "reader_options": dict(options),
        "split_fractions": dict(split_fractions),
        "split_seed": split_seed,
        "shuffle_seed": shuffle_seed,
        "on_bad_image": on_bad_image,
        "max_side": max_side,
        "jpeg_quality": jpeg_quality if max_side else None,
    }
    manifest = _manifest(name, root_abs, data, spec, entries, settings, membership)
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


@dataclasses.dataclass
class _ShardWriter:
    """Writes a dataset's splits as shards, counting progress and what it wrote."""

    out: str
    root_abs: str
    spec: image_examples.LabelSpec
    on_bad_image: str
    read: Callable[[str], StoredImage]
    pool: concurrent.futures.Executor
    progress: Callable[[int, int], None] | None
    total: int = 0
    done: int = 0
    written: list[str] = dataclasses.field(default_factory=list)
    members: list[list] = dataclasses.field(default_factory=list)

    def write_all(
        self,
        data: LoadedDataset,
        *,
        shuffle_seed: int,
        num_shards: int | Mapping[str, int] | None,
        shard_mb: float,
    ) -> tuple[dict, dict]:
        """Every split's shards, then `membership.csv`; on any error, removes what it wrote.

        Images that fail to decode (under `skip`) leave their split and join
        `data.bad_images`.

        Returns:
          ({split: manifest entry}, the membership file's manifest entry).
        """
        entries = {}
        try:
            for split, part in data.splits.items():
                rows = part.table
                count = num_shards.get(split) if isinstance(num_shards, Mapping) else num_shards
                if count is None:
                    count = num_shards_for(rows, shard_mb=shard_mb)
                count = int(min(max(1, count), max(1, len(rows))))
                order = np.random.default_rng([shuffle_seed, zlib.crc32(split.encode())])
                entries[split], bad = self.write_split(
                    split, rows.iloc[order.permutation(len(rows))], count
                )
                if bad:
                    data.bad_images += bad
                    lost = {(b.path, b.line) for b in bad}
                    keep = [
                        (p, n) not in lost for p, n in zip(rows["path"], rows["line"], strict=True)
                    ]
                    data.splits[split] = FileSplit(rows[keep], split)
            self.written.append(os.path.join(self.out, shard_manifest.MEMBERSHIP))
            membership = shard_manifest.write_membership(
                self.out, self.members, self.spec.to_json()
            )
        except BaseException:
            for path in self.written:
                for candidate in (path, path + ".tmp"):
                    if os.path.exists(candidate):
                        os.remove(candidate)
            raise
        return entries, membership

    def write_split(
        self, split: str, rows: pd.DataFrame, count: int
    ) -> tuple[dict, list[image_files.BadImage]]:
        """Writes one split's shards; returns (its manifest entry, its bad images)."""
        bounds = [len(rows) * k // count for k in range(count + 1)]
        bad: list[image_files.BadImage] = []
        entry = {"formats": {}, "converted_from_tiff": 0, "downscaled": 0, "shards": []}
        for k in range(count):
            name = shard_manifest.shard_name(split, k, count)
            part = rows.iloc[bounds[k] : bounds[k + 1]]
            entry["shards"].append(self._write_shard(split, name, part, entry, bad))
        shards = entry["shards"]
        totals = {key: sum(s[key] for s in shards) for key in ("examples", "bytes")}
        return {**totals, **entry}, bad

    def _write_shard(self, split: str, name: str, part: pd.DataFrame, entry: dict, bad: list):
        """One shard file; counts its formats into `entry` and its bad images into `bad`."""
        path = os.path.join(self.out, name)
        self.written.append(path)
        examples = 0
        records = part.to_dict("records")
        images = self.pool.map(self._read, [r["path"] for r in records])
        with tf.io.TFRecordWriter(path + ".tmp") as writer:
            for row, image in zip(records, images, strict=True):
                self.done += 1
                if self.progress is not None:
                    self.progress(self.done, self.total)
                if isinstance(image, str):
                    bad.append(self._bad_image(row, image))
                    continue
                record, fields = _record(row, image, self.root_abs, self.spec)
                writer.write(record)
                self.members.append(shard_manifest.membership_row(split, name, examples, fields))
                examples += 1
                entry["formats"][image.format] = entry["formats"].get(image.format, 0) + 1
                entry["converted_from_tiff"] += image.source_format == "TIFF"
                entry["downscaled"] += image.shape != image.source_shape
        os.replace(path + ".tmp", path)
        return {"file": name, "examples": examples, "bytes": os.path.getsize(path)}

    def _read(self, path: str) -> StoredImage | str:
        """The stored image, or why the file cannot be used."""
        try:
            return self.read(path)
        except ValueError as e:
            return str(e)

    def _bad_image(self, row: dict, reason: str) -> image_files.BadImage:
        item = image_files.BadImage(row["path"], reason, row["source"], int(row["line"]))
        if self.on_bad_image == "stop":
            raise DataError(
                f"bad image {item.describe()}; pass on_bad_image='skip' "
                "(--on_bad_image=skip) to skip and count bad images instead"
            )
        return item


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
            # The dataset's own entries (excluded rows, Messidor-2's exams_paired_by).
            **{k: v for k, v in counts.items() if k not in ("images", "patients", "labels")},
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
