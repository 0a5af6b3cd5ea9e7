"""ImageNet TFRecords in the TF-Slim layout, and any dataset written the same way.

Layout (`build_imagenet_data.py` of tensorflow/models, which TF-Slim reads):
`<root>/train-00000-of-01024` ... `<root>/validation-00127-of-00128`, each a TFRecord of
`tf.train.Example`s with
  image/encoded       JPEG bytes (PNG and other formats `tf.io.decode_image` reads also work)
  image/format        b'JPEG'
  image/class/label   int64, 1-based: 1..1000; slim reserves 0 for 'background'
  image/height, image/width
and further fields this reader ignores (`image/class/synset`, `image/class/text`,
`image/filename`, `image/object/bbox/*`, ...). An optional `labels.txt` (`<label>:<name>`
per line, slim's format) names the classes.

`parse_example` is the per-example function: serialized record -> {'image': encoded bytes,
'label': 0-based int64}. It subtracts `label_offset` (1 for slim's layout) and checks the
range, so a label the model cannot have stops the run with the value and the file.
"""

from __future__ import annotations

import os
import re

import tensorflow as tf

from pipelines.errors import DataError

SPLITS = ("train", "validation")
IMAGENET_CLASSES = 1000
# slim's ImageNet labels are 1..1000: logit 0 of a 1001-way head is 'background'.
SLIM_LABEL_OFFSET = 1
_SHARD = re.compile(r"^(?P<split>[A-Za-z0-9_]+)-(?P<index>\d{5})-of-(?P<count>\d{5})$")

FEATURES = {
    "image/encoded": tf.io.FixedLenFeature([], tf.string),
    "image/class/label": tf.io.FixedLenFeature([], tf.int64),
    "image/format": tf.io.FixedLenFeature([], tf.string, default_value="JPEG"),
    "image/height": tf.io.FixedLenFeature([], tf.int64, default_value=-1),
    "image/width": tf.io.FixedLenFeature([], tf.int64, default_value=-1),
}


def parse_example(
    serialized: tf.Tensor,
    *,
    label_offset: int = SLIM_LABEL_OFFSET,
    num_classes: int = IMAGENET_CLASSES,
    source: tf.Tensor | str = "",
) -> dict[str, tf.Tensor]:
    """Parses one serialized ImageNet-layout example.

    Args:
      serialized: scalar string tensor, one record.
      label_offset: subtracted from `image/class/label` (1 for slim's 1-based labels).
      num_classes: labels after the offset must lie in [0, num_classes).
      source: the record's file, named in the error for a bad label.

    Returns:
      {'image': scalar string (encoded image), 'label': scalar int64 in [0, num_classes),
       'height': int64, 'width': int64 (-1 when absent)}.

    Raises:
      tf.errors.InvalidArgumentError (when evaluated): for a label outside
        [label_offset, label_offset + num_classes), with the label and the file.
    """
    parsed = tf.io.parse_single_example(serialized, FEATURES)
    raw = parsed["image/class/label"]
    label = raw - label_offset
    check = tf.debugging.Assert(
        tf.logical_and(label >= 0, label < num_classes),
        [
            f"image/class/label outside [{label_offset}, {label_offset + num_classes - 1}] "
            f"(label_offset {label_offset}, {num_classes} classes): label",
            raw,
            "in",
            source,
        ],
    )
    with tf.control_dependencies([check]):
        label = tf.identity(label)
    return {
        "image": parsed["image/encoded"],
        "label": label,
        "height": parsed["image/height"],
        "width": parsed["image/width"],
    }


def list_shards(root: str, split: str) -> list[str]:
    """The shard files of one split, in order; checks that none is missing.

    Args:
      root: the directory holding `<split>-NNNNN-of-MMMMM` files.
      split: e.g. `train` or `validation`.

    Returns:
      Absolute paths, sorted by shard index.

    Raises:
      DataError: if the directory has no shard of the split (naming what it has), shards
        disagree on their count, or some are missing.
    """
    if not os.path.isdir(root):
        raise DataError(f"{root}: no such directory (expected ImageNet-layout TFRecords)")
    found = {}
    counts = set()
    for name in sorted(os.listdir(root)):
        match = _SHARD.match(name)
        if match and match["split"] == split:
            found[int(match["index"])] = os.path.join(os.path.abspath(root), name)
            counts.add(int(match["count"]))
    if not found:
        splits = sorted({m["split"] for n in os.listdir(root) if (m := _SHARD.match(n))})
        raise DataError(
            f"{root}: no '{split}-NNNNN-of-MMMMM' TFRecord shards; splits present: {splits}"
        )
    if len(counts) != 1:
        raise DataError(f"{root}: {split} shards disagree on their count: {sorted(counts)}")
    (count,) = counts
    missing = sorted(set(range(count)) - set(found))
    if missing:
        raise DataError(
            f"{root}: {len(missing)} of {count} {split} shards missing, e.g. "
            f"{split}-{missing[0]:05d}-of-{count:05d}"
        )
    return [found[i] for i in range(count)]


def read_label_names(root: str, *, label_offset: int = SLIM_LABEL_OFFSET) -> dict[int, str]:
    """Class names from `<root>/labels.txt` by 0-based label ({} if there is no file).

    Raises:
      DataError: naming the line of a malformed entry.
    """
    path = os.path.join(root, "labels.txt")
    if not os.path.exists(path):
        return {}
    names = {}
    with open(path) as f:
        for number, line in enumerate(f, start=1):
            if not line.strip():
                continue
            label, sep, name = line.strip().partition(":")
            if not sep or not label.strip().isdigit():
                raise DataError(f"{path} line {number}: expected '<label>:<name>', got {line!r}")
            if int(label) >= label_offset:  # slim's 0:background has no class of its own.
                names[int(label) - label_offset] = name.strip()
    return names
