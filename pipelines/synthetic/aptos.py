"""A synthetic APTOS 2019 Blindness Detection set, written in its distributed layout.

    root/train.csv                   header `id_code,diagnosis`, rows sorted by id_code
    root/train_images/{id_code}.png  widths 1, 4/3 or 3/2 times the height (black sides)

The images come from the synthetic EyePACS set's fundus renderer
(`pipelines.synthetic.fundus_files`), so they carry the same grade-dependent lesions; the
grades follow APTOS's class balance. A patient has one image (60%) or both eyes (40%), but
ids are random 12-digit hex strings that do not reveal it: the leakage the real set has.
Every run on it goes through the real reader (`pipelines.readers.aptos`).
"""

from __future__ import annotations

import os

import numpy as np

from pipelines.readers import aptos as aptos_layout
from pipelines.synthetic import fundus_files, writing
from pipelines.synthetic.eyepacs import EYES, sample_grade_pair

# Grades 0..4 of the APTOS 2019 train.csv (1,805 / 370 / 999 / 193 / 295 of 3,662).
APTOS_FREQUENCIES = np.array([1805, 370, 999, 193, 295], np.float64) / 3662
APTOS_ASPECTS = (1.0, 4 / 3, 1.5)
_APTOS = 1  # Seed-stream tag.


def write_aptos(
    root: str,
    *,
    num_patients: int,
    image_size: int,
    seed: int,
    jpeg_quality: int = 90,
    workers: int = 1,
    progress: writing.Progress | None = None,
) -> dict:
    """Writes a synthetic APTOS-2019-layout dataset (images first, train.csv last).

    Args:
      root: output directory; created if missing.
      num_patients: patients, >= 1; each has one or two images.
      image_size: image height in pixels, >= 32.
      seed: dataset seed; the output is a pure function of the arguments but `workers`.
      jpeg_quality: unused (APTOS images are PNG); accepted like every writer's.
      workers: rendering processes.
      progress: called as progress(done, total) after each image.

    Returns:
      {'root', 'labels_csv', 'image_dir', 'num_patients', 'num_images', 'image_size',
       'seed', 'grade_counts': {grade: images}, 'two_image_patients'}.
    """
    writing.check_arguments(num_patients, jpeg_quality, workers)
    rng = np.random.default_rng(np.random.SeedSequence([seed, _APTOS]))
    image_dir = os.path.join(root, aptos_layout.IMAGE_DIR)
    os.makedirs(image_dir, exist_ok=True)
    rows, jobs, codes, pairs = [], [], set(), 0
    for patient in range(num_patients):
        both = rng.random() < 0.4
        pairs += both
        grades = sample_grade_pair(rng, APTOS_FREQUENCIES)
        eyes = EYES if both else (EYES[int(rng.integers(2))],)
        for eye in eyes:
            code = f"{int(rng.integers(2**48)):012x}"
            while code in codes:
                code = f"{int(rng.integers(2**48)):012x}"
            codes.add(code)
            grade = grades[EYES.index(eye)]
            width = int(round(image_size * APTOS_ASPECTS[int(rng.integers(3))]))
            rows.append([code, grade])
            path = os.path.join(image_dir, code + aptos_layout.EXTENSION)
            seeds = [seed, _APTOS, patient, EYES.index(eye)]
            jobs.append(
                fundus_files.job(
                    path,
                    seeds,
                    grade=grade,
                    eye=eye,
                    size=image_size,
                    width=width,
                    jpeg_quality=jpeg_quality,
                )
            )
    writing.run_jobs(fundus_files.render_file, jobs, workers=workers, progress=progress)
    labels_csv = os.path.join(root, aptos_layout.LABELS_FILE)
    writing.write_csv(labels_csv, ["id_code", "diagnosis"], sorted(rows))
    counts = np.bincount([g for _, g in rows], minlength=5)
    return {
        "root": root,
        "labels_csv": labels_csv,
        "image_dir": image_dir,
        "num_patients": num_patients,
        "num_images": len(rows),
        "image_size": image_size,
        "seed": seed,
        "grade_counts": {g: int(c) for g, c in enumerate(counts)},
        "two_image_patients": int(pairs),
    }
