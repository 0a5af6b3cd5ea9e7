"""Datasets stored as TFRecord shards: the `RecordDataset` a record loader returns.

`load_imagenet` reads the TF-Slim ImageNet layout (`pipelines.readers.imagenet`), which the
synthetic source task (`pipelines.synthetic.source`) is written in too. Registered in
`pipelines.datasets` as `imagenet`. `load_tfrecords` reads an image-file dataset converted
by `pipelines.convert` (`pipelines.records.shard_manifest`,
`pipelines.records.image_examples`), registered as `tfrecords`.
"""

from __future__ import annotations

import dataclasses
import functools

from pipelines.readers import image_files, imagenet
from pipelines.records import image_examples, shard_manifest
from pipelines.records.record_split import RecordSplit
from pipelines.split import Dataset


@dataclasses.dataclass
class RecordDataset(Dataset):
    """Splits stored as TFRecords (official splits; nothing is re-split or scanned).

    See `Dataset` for the shared attributes; `bad_images` are the images skipped when the
    records were written (converted datasets list them in their manifest): the records
    themselves are checked as they are read, so `image_scan` is `none`.

    Attributes:
      splits: split name -> `RecordSplit`.
      num_classes: label values lie in [0, num_classes) after the reader's offset
        (multi-label: the number of outputs).
      manifest: the converted dataset's manifest (None for other layouts).
    """

    name: str
    root: str
    splits: dict[str, RecordSplit]
    num_classes: int
    label_names: tuple[str, ...]
    bad_images: list = dataclasses.field(default_factory=list)
    manifest: dict | None = None
    image_scan: str = "none"

    def check_outputs(self, num_outputs: int) -> None:
        """The records' classes (outputs) must be the task's outputs, exactly."""
        if self.num_classes != num_outputs:
            raise ValueError(
                f"{self.root} holds {self.num_classes} classes but the task has {num_outputs} "
                "outputs: set --config.task_options.num_classes (or data.options.num_classes)"
            )

    def summary(self) -> dict:
        """Shards per split; with a manifest also its counts (images, patients, labels)."""
        splits = {}
        for split, s in self.splits.items():
            splits[split] = {"shards": len(s.files), "first_shard": s.files[0]}
            if self.manifest is not None:
                entry = self.manifest["splits"][split]
                for key in ("examples", "patients", "labels", "excluded"):
                    if key in entry:
                        splits[split]["images" if key == "examples" else key] = entry[key]
        out = {"dataset": self.name, "format": "tfrecord", "num_classes": self.num_classes}
        if self.manifest is not None:
            out["converted_from"] = {
                k: self.manifest[k] for k in ("dataset", "source_root", "created")
            }
        out.update(
            splits=splits,
            skipped_images=len(self.bad_images),
            skipped=[b.describe() for b in self.bad_images],
        )
        return out


def load_imagenet(
    root: str,
    *,
    label_offset: int = imagenet.SLIM_LABEL_OFFSET,
    num_classes: int | None = None,
) -> RecordDataset:
    """ImageNet-layout TFRecords: the official `train` and `validation` splits.

    `num_classes` defaults to the classes of `labels.txt` when present, else ImageNet's
    1000; labels are checked against it as records are read.
    """
    names = imagenet.read_label_names(root, label_offset=label_offset)
    if num_classes is None:
        num_classes = max(names) + 1 if names else imagenet.IMAGENET_CLASSES
    parse = functools.partial(
        imagenet.parse_example, label_offset=label_offset, num_classes=num_classes
    )
    parts = {
        split: RecordSplit(tuple(imagenet.list_shards(root, split)), parse, split)
        for split in imagenet.SPLITS
    }
    label_names = tuple(names.get(i, "") for i in range(num_classes))
    return RecordDataset("imagenet", root, parts, num_classes, label_names)


def load_tfrecords(root: str, *, verify: str = "count") -> RecordDataset:
    """A dataset converted by `pipelines.convert`: the splits its manifest lists.

    The splits were fixed at conversion (the manifest records the fractions and seed).
    Only the shards the manifest lists are opened: other files beside them
    (`membership.csv`, notes a user adds) are not read, and a conversion without
    `membership.csv` loads too.

    Args:
      root: the converter's output directory.
      verify: `count` checks every shard's size and record count against the manifest;
        `size` only its size (no read at all).

    Raises:
      DataError: no or a foreign manifest, or a shard that is missing, outside `root`,
        listed twice (in one split or two) or differs from the manifest (naming it).
      ValueError: an unknown `verify` mode.
    """
    if verify not in ("count", "size"):
        raise ValueError(f"unknown verify mode {verify!r}; valid: count, size")
    manifest = shard_manifest.read_manifest(root)
    spec = image_examples.LabelSpec.from_json(manifest["label"])
    parse = functools.partial(image_examples.parse_example, spec=spec)
    files = {
        split: shard_manifest.verify_split(root, manifest, split, count=verify == "count")
        for split in manifest["splits"]
    }
    shard_manifest.check_shards_listed_once(root, files)
    parts = {split: RecordSplit(tuple(paths), parse, split) for split, paths in files.items()}
    bad = [
        image_files.BadImage(b["path"], b["reason"], b["label_file"], int(b["line"]))
        for b in manifest["skipped"]
    ]
    names = spec.names or tuple("" for _ in range(spec.num_outputs))
    return RecordDataset("tfrecords", root, parts, spec.num_outputs, names, bad, manifest)
