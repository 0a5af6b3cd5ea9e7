"""The `tf.train.Example` layout of converted image-file datasets, and its parser.

One example per image (`pipelines.records.conversion` writes them, `parse_example` reads them):

  image/encoded        the image file's bytes as distributed (JPEG, PNG), bit for bit;
                       TIFF files are decoded once with Pillow and stored as lossless PNG
  image/format         b'JPEG' or b'PNG': what `image/encoded` holds
  image/source_format  b'JPEG', b'PNG' or b'TIFF': what the source file held
  image/height, image/width, image/channels   int64, of the decoded image
  image/id             the row's image id (EyePACS `10_left`, a CheXpert path, ...)
  image/source_path    the image's path relative to the dataset root
  patient/id, study/id the patient (the split unit) and the study ('' when none)
  source/label_file    the label file the row came from, relative to the dataset root
  source/line          its line in that file (the header is line 1)
  label/grade          int64 (single-label datasets: the DR grade 0-4)
  label/values, label/mask   float32 lists of `num_outputs` (multi-label: CheXpert)

`parse_example` gives what the trainer's record pipeline needs (`image`, `label` as the
loss sees it, exactly `pipelines.split.targets` of the source rows) and, under `rows`, the
per-example fields the evaluator scores by (patient, study, image id).
"""

from __future__ import annotations

import dataclasses

import numpy as np
import tensorflow as tf

GRADE = "grade"
MULTI_LABEL = "multi_label"
LABEL_KINDS = (GRADE, MULTI_LABEL)


@dataclasses.dataclass(frozen=True)
class LabelSpec:
    """What a dataset's labels are.

    Attributes:
      kind: `grade` (one int in [0, num_outputs)) or `multi_label` (num_outputs 0/1
        values, each with a 0/1 mask).
      num_outputs: classes (grade) or outputs (multi-label).
      names: class or output names, for reports.
    """

    kind: str
    num_outputs: int
    names: tuple[str, ...] = ()

    def __post_init__(self):
        if self.kind not in LABEL_KINDS:
            raise ValueError(f"unknown label kind {self.kind!r}; valid: {LABEL_KINDS}")
        if self.num_outputs < 1:
            raise ValueError(f"num_outputs must be >= 1, got {self.num_outputs}")

    def to_json(self) -> dict:
        return {
            "kind": self.kind,
            "num_outputs": self.num_outputs,
            "multi_label": self.kind == MULTI_LABEL,
            "names": list(self.names),
        }

    @classmethod
    def from_json(cls, spec: dict) -> LabelSpec:
        return cls(spec["kind"], int(spec["num_outputs"]), tuple(spec.get("names", ())))


def bytes_feature(value: bytes | str) -> tf.train.Feature:
    """A one-value bytes feature (str is UTF-8 encoded)."""
    value = value.encode() if isinstance(value, str) else value
    return tf.train.Feature(bytes_list=tf.train.BytesList(value=[value]))


def int_feature(value: int) -> tf.train.Feature:
    """A one-value int64 feature."""
    return tf.train.Feature(int64_list=tf.train.Int64List(value=[int(value)]))


def _floats(values) -> tf.train.Feature:
    return tf.train.Feature(float_list=tf.train.FloatList(value=np.asarray(values, np.float32)))


def encode_example(
    *,
    encoded: bytes,
    image_format: str,
    source_format: str,
    shape: tuple[int, int, int],
    image_id: str,
    source_path: str,
    patient: str,
    study: str,
    label_file: str,
    line: int,
    label,
    mask=None,
) -> bytes:
    """One serialized example (see the module docstring for the fields).

    Args:
      encoded: the image bytes to store.
      image_format, source_format: `JPEG`, `PNG` (and `TIFF` for the source).
      shape: (height, width, channels) of the decoded image.
      label: an int grade, or a float vector (multi-label, with `mask` of the same length).

    Returns:
      The serialized `tf.train.Example`.
    """
    height, width, channels = shape
    features = {
        "image/encoded": bytes_feature(encoded),
        "image/format": bytes_feature(image_format),
        "image/source_format": bytes_feature(source_format),
        "image/height": int_feature(height),
        "image/width": int_feature(width),
        "image/channels": int_feature(channels),
        "image/id": bytes_feature(image_id),
        "image/source_path": bytes_feature(source_path),
        "patient/id": bytes_feature(patient),
        "study/id": bytes_feature(study),
        "source/label_file": bytes_feature(label_file),
        "source/line": int_feature(line),
    }
    if mask is None:
        features["label/grade"] = int_feature(label)
    else:
        features["label/values"] = _floats(label)
        features["label/mask"] = _floats(mask)
    return tf.train.Example(features=tf.train.Features(feature=features)).SerializeToString()


_COMMON = {
    "image/encoded": tf.io.FixedLenFeature([], tf.string),
    "image/format": tf.io.FixedLenFeature([], tf.string),
    "image/height": tf.io.FixedLenFeature([], tf.int64),
    "image/width": tf.io.FixedLenFeature([], tf.int64),
    "image/channels": tf.io.FixedLenFeature([], tf.int64),
    "image/id": tf.io.FixedLenFeature([], tf.string),
    "image/source_path": tf.io.FixedLenFeature([], tf.string),
    "patient/id": tf.io.FixedLenFeature([], tf.string),
    "study/id": tf.io.FixedLenFeature([], tf.string, default_value=""),
    "source/label_file": tf.io.FixedLenFeature([], tf.string),
    "source/line": tf.io.FixedLenFeature([], tf.int64),
}


def parse_example(
    serialized: tf.Tensor, *, spec: LabelSpec, source: tf.Tensor | str = ""
) -> dict[str, tf.Tensor]:
    """Parses one converted example and checks its label.

    Args:
      serialized: scalar string tensor, one record.
      spec: the dataset's label spec (from its manifest).
      source: the record's shard file, named in the error for a bad label.

    Returns:
      {'image': scalar string (encoded image),
       'label': int64 scalar (grade) or float32 (2, num_outputs): labels then mask, as
         `pipelines.split.targets` gives the loss,
       'rows': {'image', 'patient', 'study', 'path', 'label_file': scalar strings,
         'line': int64}}.

    Raises:
      tf.errors.InvalidArgumentError (when evaluated): a grade outside [0, num_outputs), a
        label vector or mask of the wrong length, or values other than 0 and 1; the message
        names the shard, the source image and its label-file line.
    """
    features = dict(_COMMON)
    if spec.kind == GRADE:
        features["label/grade"] = tf.io.FixedLenFeature([], tf.int64)
    else:
        features["label/values"] = tf.io.VarLenFeature(tf.float32)
        features["label/mask"] = tf.io.VarLenFeature(tf.float32)
    parsed = tf.io.parse_single_example(serialized, features)
    where = [
        "in",
        source,
        "record of",
        parsed["image/source_path"],
        parsed["source/label_file"],
        "line",
        parsed["source/line"],
    ]
    if spec.kind == GRADE:
        label = parsed["label/grade"]
        valid = tf.logical_and(label >= 0, label < spec.num_outputs)
        message = [f"label/grade outside [0, {spec.num_outputs - 1}]: label", label, *where]
    else:
        values = tf.sparse.to_dense(parsed["label/values"])
        mask = tf.sparse.to_dense(parsed["label/mask"])
        k = spec.num_outputs
        both = tf.concat([values, mask], 0)
        valid = tf.logical_and(
            tf.logical_and(tf.size(values) == k, tf.size(mask) == k),
            tf.reduce_all(tf.logical_or(tf.equal(both, 0.0), tf.equal(both, 1.0))),
        )
        message = [f"label/values and label/mask must be {k} values of 0 or 1: got", both]
        message += where
    check = tf.debugging.Assert(valid, message, summarize=16)
    with tf.control_dependencies([check]):
        if spec.kind == GRADE:
            label = tf.identity(label)
        else:
            label = tf.reshape(tf.stack([values, mask]), [2, spec.num_outputs])
    rows = {
        "image": parsed["image/id"],
        "patient": parsed["patient/id"],
        "study": parsed["study/id"],
        "path": parsed["image/source_path"],
        "label_file": parsed["source/label_file"],
        "line": parsed["source/line"],
    }
    return {"image": parsed["image/encoded"], "label": label, "rows": rows}
