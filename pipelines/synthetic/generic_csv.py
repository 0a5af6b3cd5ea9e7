"""The synthetic retina set written as a generic CSV dataset (`data.name=csv`).

    root/labels.csv                   header `image,label,patient`, rows
                                      `images/p0012/left.jpeg,2,p0012`, by patient
    root/images/p{patient}/{eye}.jpeg  S x S RGB JPEG

The same fundus photographs as the synthetic EyePACS set (`pipelines.synthetic.eyepacs`:
its grade frequencies, its correlated eyes and renderer), laid out as any user's folder of
images with one label file, so every run on it goes through the generic reader
(`pipelines.readers.generic_csv`). Grades 0-4 are the classes.
"""

from __future__ import annotations

import os

import numpy as np

from pipelines.readers import generic_csv
from pipelines.synthetic import fundus_files, writing
from pipelines.synthetic.eyepacs import EYES, sample_grades

IMAGE_DIR = "images"
_PATIENT_STREAM, _IMAGE_STREAM = 3, 4  # Seed-stream tags, apart from the EyePACS set's.


def write_csv_dataset(
    root: str,
    *,
    num_patients: int,
    image_size: int,
    seed: int,
    jpeg_quality: int = 90,
    workers: int = 1,
    progress: writing.Progress | None = None,
) -> dict:
    """Writes the images, then `labels.csv` (so a root with the label file is complete).

    Args:
      root: output directory; created if missing.
      num_patients: patients (two images each), >= 1.
      image_size: image side in pixels, >= 32.
      seed: dataset seed; the output is a pure function of the arguments but `workers`.
      jpeg_quality: JPEG quality, 1..95.
      workers: rendering processes.
      progress: called as progress(done, total) after each image.

    Returns:
      {'root', 'labels_csv', 'image_dir', 'num_patients', 'num_images', 'image_size',
       'seed', 'grade_counts': {grade: images}}.

    Raises:
      ValueError: on num_patients < 1, workers < 1 or jpeg_quality outside 1..95.
    """
    writing.check_arguments(num_patients, jpeg_quality, workers)
    rng = np.random.default_rng(np.random.SeedSequence([seed, _PATIENT_STREAM]))
    left, right = sample_grades(rng, num_patients)
    rows, jobs = [], []
    for patient, grades in enumerate(zip(left.tolist(), right.tolist(), strict=True)):
        name = f"p{patient:04d}"
        os.makedirs(os.path.join(root, IMAGE_DIR, name), exist_ok=True)
        for eye, grade in zip(EYES, grades, strict=True):
            image = f"{IMAGE_DIR}/{name}/{eye}.jpeg"
            rows.append([image, grade, name])
            seeds = [seed, _IMAGE_STREAM, patient, EYES.index(eye)]
            jobs.append(
                fundus_files.job(
                    os.path.join(root, image), seeds, grade=grade, eye=eye, size=image_size,
                    jpeg_quality=jpeg_quality,
                )
            )  # fmt: skip
    writing.run_jobs(fundus_files.render_file, jobs, workers=workers, progress=progress)
    labels_csv = os.path.join(root, generic_csv.LABELS_FILE)
    header = [generic_csv.IMAGE, generic_csv.LABEL, generic_csv.PATIENT]
    writing.write_csv(labels_csv, header, rows)
    counts = np.bincount(np.concatenate([left, right]), minlength=5)
    return {
        "root": root,
        "labels_csv": labels_csv,
        "image_dir": os.path.join(root, IMAGE_DIR),
        "num_patients": num_patients,
        "num_images": len(rows),
        "image_size": image_size,
        "seed": seed,
        "grade_counts": {g: int(c) for g, c in enumerate(counts)},
    }
