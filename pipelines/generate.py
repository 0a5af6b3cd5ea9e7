r"""Writes a synthetic dataset to disk in its real distribution format.

Usage:
  python -m pipelines.generate --dataset=eyepacs --root=/tmp/eyepacs \
      --num_patients=2000 --image_size=128 --seed=0 --workers=2
  python -m pipelines.generate --dataset=chexpert --root=/tmp/chest \
      --num_patients=1500 --image_size=128 --workers=2   # -> /tmp/chest/CheXpert-v1.0-small/
  python -m pipelines.generate --dataset=aptos --root=/tmp/aptos --num_patients=500
  python -m pipelines.generate --dataset=messidor2 --root=/tmp/messidor2 \
      --num_patients=200 --writer_option=image_format=original   # .tif + .JPG

Datasets: those whose `DatasetSpec` has a writer (`GENERATORS`). Prints progress after every
tenth of the images and a summary at the end.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable

from absl import flags

import errors
from errors import UsageError
from pipelines import datasets, flag_values
from pipelines.synthetic import writing

_DATASET = flags.DEFINE_string("dataset", "eyepacs", "Which synthetic dataset to write.")
_ROOT = flags.DEFINE_string("root", None, "Output directory.", required=True)
_NUM_PATIENTS = flags.DEFINE_integer(
    "num_patients",
    1000,
    "Patients: eyepacs and csv, two eyes each; chexpert, training patients (1-5 studies each) plus "
    "min(200, max(10, n // 5)) new patients in valid.csv; aptos, one or two images each; "
    "messidor2, exams of two images.",
)
_IMAGE_SIZE = flags.DEFINE_integer("image_size", 128, "Image side in pixels.")
_SEED = flags.DEFINE_integer("seed", 0, "Dataset seed; same seed, same bytes.")
_WORKERS = flags.DEFINE_integer("workers", 1, "Rendering processes.")
_JPEG_QUALITY = flags.DEFINE_integer("jpeg_quality", 90, "JPEG quality (1..95).")
_WRITER_OPTIONS = flags.DEFINE_multi_string(
    "writer_option",
    [],
    "key=value passed to the writer (repeatable), e.g. image_format=original or "
    "ungradable_fraction=0.05 for messidor2. Values are parsed as Python literals when "
    "they are one, else kept as strings.",
)

# name -> writer(root, *, num_patients, image_size, seed, jpeg_quality, workers, progress):
# the datasets whose spec has a synthetic writer.
GENERATORS: dict[str, Callable[..., dict]] = {
    name: spec.writer
    for name in datasets.list_datasets()
    if (spec := datasets.get_dataset(name)).writer is not None
}


def get_generator(name: str) -> Callable[..., dict]:
    """The writer registered as `name`.

    Raises:
      ValueError: if `name` is not registered; the message lists the valid names.
    """
    try:
        return GENERATORS[name]
    except KeyError:
        raise UsageError(
            f"unknown dataset {name!r}; valid names: {', '.join(sorted(GENERATORS))}"
        ) from None


def main(argv: list[str]) -> None:
    del argv  # Positional arguments are refused by errors.run.
    writer = get_generator(_DATASET.value)
    start = time.monotonic()
    summary = writer(
        _ROOT.value,
        num_patients=_NUM_PATIENTS.value,
        image_size=_IMAGE_SIZE.value,
        seed=_SEED.value,
        jpeg_quality=_JPEG_QUALITY.value,
        workers=_WORKERS.value,
        progress=writing.console_progress(),
        **flag_values.parse_key_values(_WRITER_OPTIONS.value),
    )
    summary["seconds"] = round(time.monotonic() - start, 1)
    # Per-image tables (messidor2's `exams`) would flood the console: print their size.
    printable = {
        k: f"<{len(v)} entries>" if isinstance(v, dict) and len(v) > 20 else v
        for k, v in summary.items()
    }
    print(json.dumps(printable, indent=2))


if __name__ == "__main__":
    errors.run(main)
