"""A synthetic Messidor-2 set with adjudicated grades, written in its distributed layout.

`write_messidor2` writes `num_patients` exams of two eyes:

    root/messidor_data.csv   header `image_id,adjudicated_dr_grade,adjudicated_dme,
                             adjudicated_gradable`, rows sorted by image_id
    root/messidor-2.csv      the ADCIS pairs file: header `left;right`, then one exam per
                             line, `left;right` image names
    root/IMAGES/{image_id}   3:2 images

60% of exams are named as original-Messidor files (`YYYYMMDD_NNNNN_CCCC_PP`), the rest as
Messidor-Extension files (`IMnnnnnn`), numbered so that `messidor2.exam_ids` pairs them
back (numbers increase exam by exam with random gaps), so the name rule the reader falls
back on without a pairs file finds the same exams. `image_format='kaggle'` writes `.png`
and `.jpg` (the Kaggle copies), `'adcis'` `.png` and `.JPG` (the ADCIS download),
`'original'` `.tif` and `.JPG` (TIFF as in Messidor-1, to exercise the TIFF path: TIFFs
need `pipelines.convert`). A fraction of images is ungradable: rendered dark and
defocused, with blank grades and gradable 0. The images come from the fundus renderer
(`pipelines.synthetic.fundus_files`); every run goes through the real reader
(`pipelines.readers.messidor2`).
"""

from __future__ import annotations

import os

import numpy as np

from errors import UsageError
from pipelines.readers import messidor2 as messidor2_layout
from pipelines.synthetic import retina_writer
from pipelines.synthetic.eyepacs import EYES, sample_grade_pair

# Adjudicated grades of the gradable Messidor-2 images (Krause et al. 2018: 1,017 / 270 /
# 347 / 75 / 35 of 1,744).
MESSIDOR2_FREQUENCIES = np.array([1017, 270, 347, 75, 35], np.float64) / 1744
# P(referable DME | grade): our choice, rising with the grade.
DME_PROBABILITY = (0.0, 0.05, 0.3, 0.5, 0.6)
MESSIDOR2_FORMATS = {
    "kaggle": (".png", ".jpg"),
    "adcis": (".png", ".JPG"),
    "original": (".tif", ".JPG"),
}
_MESSIDOR2 = 2  # Seed-stream tag.


def _plan_exams(
    rng: np.random.Generator, num_patients: int, image_format: str
) -> list[tuple[str, str, str, int]]:
    """(image_id, exam id, eye, grade) per image, exam by exam, left eye first."""
    original_ext, extension_ext = MESSIDOR2_FORMATS[image_format]
    numbers = {"extension": int(rng.integers(1, 20))}
    images = []
    for _ in range(num_patients):
        grades = sample_grade_pair(rng, MESSIDOR2_FREQUENCIES)
        if rng.random() < 0.6:
            date = f"2005{int(rng.integers(1, 13)):02d}{int(rng.integers(1, 29)):02d}"
            code = ("0100", "0200", "0300")[int(rng.integers(3))]
            start = numbers.get((date, code), 30000) + int(rng.integers(1, 400))
            second = start + int(rng.integers(1, 30))
            numbers[(date, code)] = second
            names = [f"{date}_{n}_{code}_PP{original_ext}" for n in (start, second)]
        else:
            start = numbers["extension"] + int(rng.integers(1, 6))
            numbers["extension"] = start + 1
            names = [f"IM{n:06d}{extension_ext}" for n in (start, start + 1)]
        exam_id = "+".join(os.path.splitext(n)[0] for n in names)
        images += [(n, exam_id, e, g) for n, e, g in zip(names, EYES, grades, strict=True)]
    return images


def _plan(
    request: retina_writer.Request,
    *,
    image_format: str = "kaggle",
    ungradable_fraction: float = 0.01,
    pairs_file: bool = True,
) -> retina_writer.Plan:
    """The Messidor-2 layout: `IMAGES/<image_id>`, the grades CSV, the pairs file.

    Args:
      request: the common arguments; images are `image_size` high and 3/2 of it wide.
      image_format: `kaggle` (.png + .jpg), `adcis` (.png + .JPG) or `original`
        (.tif + .JPG).
      ungradable_fraction: images made ungradable: max(1, round(fraction * images)),
        chosen at random.
      pairs_file: also write the ADCIS pairs file `messidor-2.csv` (exams in the order
        drawn, left eye first), before the grades CSV.

    Returns:
      The plan; its summary entries are 'pairs_csv' (None without `pairs_file`),
      'ungradable' (a count) and 'exams' ({image_id: exam id}, as the pairs file and
      `messidor2.exam_ids` both give it). 'grade_counts' counts gradable images only.

    Raises:
      UsageError: for an unknown image_format.
    """
    if image_format not in MESSIDOR2_FORMATS:
        raise UsageError(
            f"unknown image_format {image_format!r}; valid: {sorted(MESSIDOR2_FORMATS)}"
        )
    rng = np.random.default_rng(np.random.SeedSequence([request.seed, _MESSIDOR2]))
    image_dir = os.path.join(request.root, messidor2_layout.IMAGE_DIR)
    images = _plan_exams(rng, request.num_patients, image_format)
    count = max(1, int(round(ungradable_fraction * len(images))))
    ungradable = set(rng.choice(len(images), size=count, replace=False).tolist())
    rows, jobs = _rows_and_jobs(rng, request, images, ungradable, image_dir)
    label_files = []
    pairs_csv = os.path.join(request.root, messidor2_layout.PAIRS_FILE) if pairs_file else None
    if pairs_csv:
        exam_rows = [[a, b] for (a, *_), (b, *_) in zip(images[::2], images[1::2], strict=True)]
        label_files.append(retina_writer.LabelFile(pairs_csv, ["left", "right"], exam_rows, ";"))
    labels = os.path.join(request.root, messidor2_layout.LABELS_FILE)
    columns = list(messidor2_layout.COLUMNS)
    label_files.append(retina_writer.LabelFile(labels, columns, sorted(rows)))
    extra = {
        "pairs_csv": pairs_csv,
        "ungradable": count,
        "exams": {name: exam_id for name, exam_id, _, _ in images},
    }
    grades = [r[1] for r in rows if r[3] == 1]
    return retina_writer.Plan(image_dir, jobs, label_files, grades=grades, extra=extra)


def _rows_and_jobs(rng, request: retina_writer.Request, images, ungradable: set, image_dir: str):
    """The grades CSV's rows and one render job per image (DME drawn per image, in order)."""
    rows, jobs = [], []
    for index, (name, _, eye, grade) in enumerate(images):
        bad = index in ungradable
        dme = int(rng.random() < DME_PROBABILITY[grade])
        rows.append([name, "", "", 0] if bad else [name, grade, dme, 1])
        path, seeds = os.path.join(image_dir, name), [request.seed, _MESSIDOR2, index]
        width = int(round(request.image_size * 1.5))
        jobs.append(request.job(path, seeds, grade, eye, width=width, ungradable=bad))
    return rows, jobs


# Writes a synthetic Messidor-2 dataset with adjudicated grades, grades CSV last (see the
# module docstring, `_plan` for its options and summary entries, and `RetinaWriter`).
write_messidor2 = retina_writer.RetinaWriter("messidor2", _plan)
