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
from pipelines.synthetic import retina_writer
from pipelines.synthetic.eyepacs import EYES, sample_grade_pair

# Grades 0..4 of the APTOS 2019 train.csv (1,805 / 370 / 999 / 193 / 295 of 3,662).
APTOS_FREQUENCIES = np.array([1805, 370, 999, 193, 295], np.float64) / 3662
APTOS_WIDTH_RATIOS = (1.0, 4 / 3, 1.5)
_APTOS = 1  # Seed-stream tag.


def _plan(request: retina_writer.Request) -> retina_writer.Plan:
    """`train_images/<id_code>.png` and `train.csv` (`id_code,diagnosis`, sorted)."""
    rng = np.random.default_rng(np.random.SeedSequence([request.seed, _APTOS]))
    image_dir = os.path.join(request.root, aptos_layout.IMAGE_DIR)
    rows, jobs, codes, pairs = [], [], set(), 0
    for patient in range(request.num_patients):
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
            width = int(round(request.image_size * APTOS_WIDTH_RATIOS[int(rng.integers(3))]))
            rows.append([code, grade])
            path = os.path.join(image_dir, code + aptos_layout.EXTENSION)
            seeds = [request.seed, _APTOS, patient, EYES.index(eye)]
            jobs.append(request.job(path, seeds, grade, eye, width=width))
    labels = os.path.join(request.root, aptos_layout.LABELS_FILE)
    label_file = retina_writer.LabelFile(labels, ["id_code", "diagnosis"], sorted(rows))
    grades = [g for _, g in rows]
    extra = {"two_image_patients": int(pairs)}
    return retina_writer.Plan(image_dir, jobs, [label_file], grades=grades, extra=extra)


# Writes a synthetic APTOS-2019-layout dataset (see the module docstring and `RetinaWriter`);
# its summary adds 'two_image_patients'. `jpeg_quality` is unused: APTOS images are PNG.
write_aptos = retina_writer.RetinaWriter("aptos", _plan)
