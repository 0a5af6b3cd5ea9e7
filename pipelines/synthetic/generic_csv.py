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
from pipelines.synthetic import retina_writer
from pipelines.synthetic.eyepacs import EYES, sample_grades

IMAGE_DIR = "images"
_PATIENT_STREAM, _IMAGE_STREAM = 3, 4  # Seed-stream tags, apart from the EyePACS set's.


def _plan(request: retina_writer.Request) -> retina_writer.Plan:
    """`images/p<patient>/<eye>.jpeg` and `labels.csv` (`image,label,patient`), by patient."""
    rng = np.random.default_rng(np.random.SeedSequence([request.seed, _PATIENT_STREAM]))
    left, right = sample_grades(rng, request.num_patients)
    rows, jobs = [], []
    for patient, grades in enumerate(zip(left.tolist(), right.tolist(), strict=True)):
        name = f"p{patient:04d}"
        for eye, grade in zip(EYES, grades, strict=True):
            image = f"{IMAGE_DIR}/{name}/{eye}.jpeg"
            rows.append([image, grade, name])
            seeds = [request.seed, _IMAGE_STREAM, patient, EYES.index(eye)]
            jobs.append(request.job(os.path.join(request.root, image), seeds, grade, eye))
    labels = os.path.join(request.root, generic_csv.LABELS_FILE)
    header = [generic_csv.IMAGE, generic_csv.LABEL, generic_csv.PATIENT]
    label_file = retina_writer.LabelFile(labels, header, rows)
    image_dir = os.path.join(request.root, IMAGE_DIR)
    return retina_writer.Plan(image_dir, jobs, [label_file], grades=[r[1] for r in rows])


# Writes the images, then `labels.csv` (see the module docstring and `RetinaWriter`).
write_csv_dataset = retina_writer.RetinaWriter("csv", _plan)
