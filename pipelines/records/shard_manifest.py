"""The manifest of a converted dataset, and checking shards against it.

A converted dataset is a directory of `<split>-NNNNN-of-MMMMM` TFRecord shards, the split
membership `membership.csv`, and a `manifest.json` (written last, so a directory without
one is an unfinished conversion):

  {"format": "transfusion_tf.tfrecords", "version": 1,
   "dataset": "eyepacs", "source_root": "/data/eyepacs", "reader_options": {...},
   "split_fractions": {"train": 0.8, ...}, "split_seed": 0, "shuffle_seed": 0,
   "on_bad_image": "stop", "max_side": 0, "jpeg_quality": null,
   "label": {"kind": "grade", "num_outputs": 5, "multi_label": false, "names": [...]},
   "splits": {"train": {"examples": n, "bytes": b, "patients": p, "labels": {...},
                        "formats": {"JPEG": n}, "converted_from_tiff": 0, "downscaled": 0,
                        "excluded": {...}  (Messidor-2 ungradable, when the reader has any)
                        "shards": [{"file": "train-00000-of-00004", "examples": k,
                                    "bytes": s}, ...]}, ...},
   "skipped_images": 0, "skipped": [{"path", "reason", "label_file", "line"}, ...],
   "totals": {"examples", "bytes", "shards", "converted_from_tiff", "downscaled"},
   "membership": {"file": "membership.csv", "rows": n, "columns": [...]},
   "versions": {"python", "tensorflow", "numpy", "pandas", "pillow"}, "created": "..."}

`membership.csv` has one row per stored example, in record order (split, shard, index
within the shard): `split, shard, index, image, patient, study, source_path, label_file,
line` (paths relative to the source root; `study` empty where the dataset has none), then
the label: `grade` for single-label datasets, or `label_<output>` and `mask_<output>` per
output for multi-label ones (`label_atelectasis`, ..., `mask_pleural_effusion`; 1 or 0, after
the label policies), as in `predictions_<split>.csv`. It answers "which split and shard holds
image X" without reading a record; training never reads it.

`verify_split` checks every listed shard: present, of the listed size, and holding the
listed number of records. Records are counted from their length headers by seeking, so the
check reads 12 bytes per record, not the images (a fraction of a second per 10k records).
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
import struct
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from pipelines.errors import DataError

MANIFEST = "manifest.json"
MEMBERSHIP = "membership.csv"
MEMBERSHIP_COLUMNS = (
    "split", "shard", "index", "image", "patient", "study", "source_path", "label_file", "line",
)  # fmt: skip
FORMAT = "transfusion_tf.tfrecords"
VERSION = 1
# A TFRecord: uint64 length, uint32 masked CRC of the length, data, uint32 CRC of the data.
_HEADER = 12
_FOOTER = 4


def shard_name(split: str, index: int, count: int) -> str:
    """`train-00003-of-00016`: the TF-Slim / ImageNet shard naming."""
    return f"{split}-{index:05d}-of-{count:05d}"


def count_records(path: str) -> int:
    """Records in a TFRecord file, read from the length headers only.

    Raises:
      DataError: if the file ends inside a record (a truncated shard), naming it.
    """
    size = os.path.getsize(path)
    count, offset = 0, 0
    with open(path, "rb") as f:
        while offset < size:
            f.seek(offset)
            header = f.read(_HEADER)
            if len(header) < _HEADER:
                raise DataError(f"{path}: truncated TFRecord file (header of record {count})")
            (length,) = struct.unpack("<Q", header[:8])
            offset += _HEADER + length + _FOOTER
            if offset > size:
                raise DataError(
                    f"{path}: truncated TFRecord file (record {count} needs {offset} bytes, "
                    f"the file has {size})"
                )
            count += 1
    return count


def write_manifest(out: str, manifest: dict) -> str:
    """Writes `<out>/manifest.json` through a temporary name; returns its path."""
    path = os.path.join(out, MANIFEST)
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(manifest, f, indent=2)
        f.write("\n")
    os.replace(tmp, path)
    return path


def read_manifest(root: str) -> dict:
    """The manifest of a converted dataset.

    Raises:
      DataError: no manifest (naming the conversion command), unparsable JSON, or a
        manifest of another format or version.
    """
    path = os.path.join(root, MANIFEST)
    if not os.path.isfile(path):
        raise DataError(
            f"{path}: no manifest; {root} is not a converted dataset or its conversion did not "
            "finish (python -m pipelines.convert --dataset=<name> --root=<dataset root> "
            f"--out={root})"
        )
    try:
        with open(path) as f:
            manifest = json.load(f)
    except json.JSONDecodeError as e:
        raise DataError(f"{path}: not valid JSON ({e})") from None
    if manifest.get("format") != FORMAT or manifest.get("version") != VERSION:
        raise DataError(
            f"{path}: format {manifest.get('format')!r} version {manifest.get('version')!r}; "
            f"this reader reads {FORMAT!r} version {VERSION}"
        )
    return manifest


def verify_split(root: str, manifest: dict, split: str, *, count: bool = True) -> list[str]:
    """Checks a split's shards against the manifest; returns their paths in shard order.

    Args:
      root: the converted dataset's directory.
      manifest: its manifest.
      split: a split of the manifest.
      count: also count each shard's records (header walk); False checks sizes only.

    Returns:
      Absolute, normalised shard paths.

    Raises:
      DataError: naming the shard that lies outside `root`, is missing, has another
        size, or holds another number of records than the manifest says.
    """
    path = os.path.join(root, MANIFEST)
    entry = manifest["splits"][split]
    root_abs = os.path.abspath(root)
    files = []
    for shard in entry["shards"]:
        file = os.path.normpath(os.path.join(root_abs, shard["file"]))
        if os.path.commonpath([root_abs, file]) != root_abs or file == root_abs:
            raise DataError(f"{path}: shard {shard['file']!r} of split {split!r} is not in {root}")
        if not os.path.isfile(file):
            raise DataError(f"{file}: shard missing (listed in {path}, split {split!r})")
        size = os.path.getsize(file)
        if size != shard["bytes"]:
            raise DataError(
                f"{file}: {size} bytes, but {path} lists {shard['bytes']}; the shard was "
                "changed or truncated after conversion"
            )
        if count:
            found = count_records(file)
            if found != shard["examples"]:
                raise DataError(f"{file}: {found} records, but {path} lists {shard['examples']}")
        files.append(file)
    listed = sum(s["examples"] for s in entry["shards"])
    if listed != entry["examples"]:
        raise DataError(
            f"{path}: split {split!r} lists {entry['examples']} examples but its shards "
            f"hold {listed}"
        )
    return files


def check_shards_listed_once(root: str, files: Mapping[str, Sequence[str]]) -> None:
    """Refuses a shard listed twice, in one split or in two (its records would leak).

    Args:
      root: the converted dataset's directory, for the message.
      files: split -> its shard paths from `verify_split` (normalised, so two spellings
        of one file are one path).

    Raises:
      DataError: naming the manifest, the shard and both splits.
    """
    first: dict[str, str] = {}
    for split, paths in files.items():
        for file in paths:
            if file in first:
                raise DataError(
                    f"{os.path.join(root, MANIFEST)}: shard {file} is listed in split "
                    f"{first[file]!r} and again in split {split!r}"
                )
            first[file] = split


def label_columns(label: Mapping) -> list[str]:
    """The label columns of `membership.csv`: `grade`, or `label_<key>`s then `mask_<key>`s.

    Args:
      label: the manifest's `label` entry ({'kind', 'num_outputs', 'multi_label', 'names'}).

    A key is the output's name in lower case with runs of other characters as `_`
    ('Pleural Effusion' -> 'pleural_effusion'), or its index where it has no name.
    """
    if not label["multi_label"]:
        return ["grade"]
    names = list(label.get("names", ()))
    names += [""] * (label["num_outputs"] - len(names))
    keys = [
        re.sub(r"[^a-z0-9]+", "_", str(n).lower()).strip("_") if n else str(k)
        for k, n in enumerate(names)
    ]
    return [f"label_{k}" for k in keys] + [f"mask_{k}" for k in keys]


def membership_row(split: str, shard: str, index: int, fields: Mapping) -> list:
    """One `membership.csv` row: `MEMBERSHIP_COLUMNS`, then the label columns.

    Args:
      split, shard, index: where the record is (shard file name, position from 0).
      fields: the record's `image_examples.encode_example` fields (`image_id`,
        `patient`, `study`, `source_path`, `label_file`, `line`, `label`, `mask`); `mask`
        None for a grade.
    """
    row = [split, shard, int(index)]
    row += [fields[k] for k in ("image_id", "patient", "study", "source_path", "label_file")]
    row.append(int(fields["line"]))
    if fields.get("mask") is None:
        return [*row, int(fields["label"])]
    values = np.concatenate([np.ravel(fields["label"]), np.ravel(fields["mask"])])
    return row + [f"{v:g}" for v in values.astype(np.float64)]


def write_membership(out: str, rows: Sequence[list], label: Mapping) -> dict:
    """Writes `<out>/membership.csv` through a temporary name.

    Args:
      out: the converted dataset's directory.
      rows: `membership_row`s in record order.
      label: the manifest's `label` entry (for the label columns).

    Returns:
      Its manifest entry: {'file', 'rows', 'columns'}.
    """
    columns = [*MEMBERSHIP_COLUMNS, *label_columns(label)]
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(columns)
    writer.writerows(rows)
    path = os.path.join(out, MEMBERSHIP)
    with open(path + ".tmp", "w", newline="") as f:
        f.write(buffer.getvalue())
    os.replace(path + ".tmp", path)
    return {"file": MEMBERSHIP, "rows": len(rows), "columns": columns}


def read_membership(root: str, manifest: dict) -> pd.DataFrame:
    """The split membership of a converted dataset, checked against its manifest.

    Returns:
      One row per record, in record order; `index`, `line` (and `grade`) int64, label and
      mask columns float64, the rest str ('' where empty).

    Raises:
      DataError: the manifest lists no membership file (a conversion older than it), or
        the file is missing or has other columns or rows than the manifest lists.
    """
    entry = manifest.get("membership")
    if entry is None:
        raise DataError(f"{os.path.join(root, MANIFEST)}: lists no membership file")
    path = os.path.join(root, entry["file"])
    if not os.path.isfile(path):
        raise DataError(f"{path}: membership file missing (listed in {MANIFEST})")
    table = pd.read_csv(path, dtype=str, keep_default_na=False)
    if list(table.columns) != list(entry["columns"]) or len(table) != entry["rows"]:
        raise DataError(
            f"{path}: {len(table)} rows of columns {list(table.columns)}, but {MANIFEST} lists "
            f"{entry['rows']} of {entry['columns']}"
        )
    for column in table.columns[len(MEMBERSHIP_COLUMNS) :]:
        table[column] = table[column].astype("int64" if column == "grade" else "float64")
    return table.astype({"index": "int64", "line": "int64"})
