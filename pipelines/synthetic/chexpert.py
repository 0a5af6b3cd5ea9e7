"""A synthetic chest x-ray set written in the CheXpert-v1.0-small layout.

`write_chexpert(root, num_patients=..., image_size=..., seed=...)` writes

  root/CheXpert-v1.0-small/train.csv
  root/CheXpert-v1.0-small/valid.csv
  root/CheXpert-v1.0-small/{train,valid}/patientNNNNN/studyN/viewN_{frontal,lateral}.jpg

with the 19 columns of the real files in the real order and cells written as the real files
write them (`1.0`, `0.0`, `-1.0`, blank). Labels belong to a study (all its views share
them), as in CheXpert, where they come from the study's report. Training labels follow the
real train.csv's rates per observation (positive, uncertain, explicit negative, blank);
`valid.csv` patients are new, numbered after the training patients, with 0/1 labels only,
at the real valid.csv's higher prevalences.

What is drawn (see `pipelines.synthetic.chest_xray`): the five task pathologies, Lung Lesion and
Support Devices. A `1.0` is drawn clearly, a `-1.0` small or faint (the ambiguous picture a
report hedges on), `0.0` and blank as absent. The other observations are label-only and
only shape `No Finding`, which is `1.0` exactly when no observation but Support Devices
is positive or uncertain, and blank otherwise.
"""

from __future__ import annotations

import io
import os
from collections import Counter

import numpy as np
from PIL import Image

from pipelines.readers import chexpert
from pipelines.synthetic import chest_xray, writing

ROOT_NAME = chexpert.ROOT_NAMES[0]
OBSERVATIONS = chexpert.OBSERVATIONS
COLUMNS = chexpert.COLUMNS

# (positive, uncertain, explicit negative) per observation; the rest of the cells are blank.
# Approximately the real train.csv's rates. Lung Opacity and No Finding are derived.
TRAIN_RATES = {
    "Enlarged Cardiomediastinum": (0.048, 0.055, 0.09),
    "Cardiomegaly": (0.12, 0.04, 0.05),
    "Lung Lesion": (0.041, 0.006, 0.005),
    "Edema": (0.23, 0.06, 0.09),
    "Consolidation": (0.07, 0.12, 0.12),
    "Pneumonia": (0.027, 0.084, 0.01),
    "Atelectasis": (0.15, 0.15, 0.005),
    "Pneumothorax": (0.087, 0.014, 0.25),
    "Pleural Effusion": (0.38, 0.05, 0.11),
    "Pleural Other": (0.016, 0.01, 0.001),
    "Fracture": (0.04, 0.003, 0.01),
    "Support Devices": (0.52, 0.005, 0.03),
}
# Positive rates of the real valid.csv (234 images); every other cell is 0.0.
VALID_RATES = {
    "Enlarged Cardiomediastinum": 0.2,
    "Cardiomegaly": 0.29,
    "Lung Lesion": 0.01,
    "Edema": 0.19,
    "Consolidation": 0.14,
    "Pneumonia": 0.03,
    "Atelectasis": 0.34,
    "Pneumothorax": 0.03,
    "Pleural Effusion": 0.29,
    "Pleural Other": 0.01,
    "Fracture": 0.01,
    "Support Devices": 0.46,
}
_OPACITY_CHILDREN = ("Edema", "Consolidation", "Atelectasis", "Lung Lesion", "Pneumonia")
_DRAWN = chest_xray.PATHOLOGIES + chest_xray.EXTRA_FINDINGS
_STATE_OF_CELL = {"1.0": "present", "-1.0": "uncertain", "0.0": "absent", "": "absent"}


def sample_study_labels(rng: np.random.Generator, split: str) -> dict[str, str]:
    """One study's 14 observation cells as the CSV writes them ('1.0', '0.0', '-1.0', '')."""
    cells = {}
    for name in TRAIN_RATES:
        u = rng.uniform()
        if split == "valid":
            cells[name] = "1.0" if u < VALID_RATES[name] else "0.0"
            continue
        positive, uncertain, negative = TRAIN_RATES[name]
        if u < positive:
            cells[name] = "1.0"
        elif u < positive + uncertain:
            cells[name] = "-1.0"
        elif u < positive + uncertain + negative:
            cells[name] = "0.0"
        else:
            cells[name] = ""
    children = [cells[c] for c in _OPACITY_CHILDREN]
    u = rng.uniform()
    if "1.0" in children:
        cells["Lung Opacity"] = "1.0"
    elif "-1.0" in children:
        cells["Lung Opacity"] = "-1.0"
    else:
        cells["Lung Opacity"] = "0.0" if split == "valid" or u < 0.03 else ""
    findings = [v for k, v in cells.items() if k != "Support Devices"]
    nothing = not any(v in ("1.0", "-1.0") for v in findings)
    cells["No Finding"] = "1.0" if nothing else ("0.0" if split == "valid" else "")
    return {name: cells[name] for name in OBSERVATIONS}


def _plan(num_patients: int, first_patient: int, split: str, seed: int) -> list[dict]:
    """Patients, studies and views with their CSV cells (no pixels yet)."""
    images = []
    for patient in range(first_patient, first_patient + num_patients):
        rng = np.random.default_rng([seed, 1, patient])
        u = rng.uniform()
        sex = "Unknown" if u < 0.002 else ("Female" if u < 0.41 else "Male")
        age = int(np.clip(round(rng.normal(61, 17)), 18, 90))
        studies = 1 if split == "valid" else int(rng.choice(5, p=[0.45, 0.25, 0.15, 0.1, 0.05])) + 1
        for study in range(1, studies + 1):
            cells = sample_study_labels(rng, split)
            views = [
                ("frontal", "AP" if rng.uniform() < (0.84 if split == "valid" else 0.8) else "PA")
            ]
            if rng.uniform() < 0.16:
                # The real train.csv leaves AP/PA blank on lateral rows (LL/RL appear on a
                # handful of frontal ones). The draw is kept so the seeded stream is unchanged.
                rng.choice(3, p=[0.9, 0.08, 0.02])
                views.append(("lateral", ""))
            for number, (view, projection) in enumerate(views, start=1):
                name = f"patient{patient:05d}/study{study}/view{number}_{view}.jpg"
                images.append(
                    {
                        "relative": f"{split}/{name}",
                        "patient": patient,
                        "study": study,
                        "view": view,
                        "projection": projection,
                        "sex": sex,
                        "age": age + study // 3,
                        "cells": cells,
                    }
                )
    return images


def _render(job: tuple) -> str:
    image, out_root, image_size, seed, jpeg_quality = job
    anatomy = chest_xray.sample_anatomy(
        np.random.default_rng([seed, 2, image["patient"]]), female=image["sex"] == "Female"
    )
    findings = {name: _STATE_OF_CELL[image["cells"][name]] for name in _DRAWN}
    pixels = chest_xray.render_chest(
        anatomy,
        findings,
        view=image["view"],
        projection=image["projection"],
        size=image_size,
        seed=(seed, 3, image["patient"], image["study"], int(image["view"] == "lateral")),
    )
    path = os.path.join(out_root, image["relative"])
    os.makedirs(os.path.dirname(path), exist_ok=True)
    buffer = io.BytesIO()
    Image.fromarray(pixels, mode="L").save(buffer, format="JPEG", quality=jpeg_quality)
    writing.write_atomic(path, buffer.getvalue())
    return path


def _csv_row(image: dict) -> list[str]:
    return [
        f"{ROOT_NAME}/{image['relative']}",
        image["sex"],
        str(image["age"]),
        image["view"].capitalize(),
        image["projection"],
        *(image["cells"][name] for name in OBSERVATIONS),
    ]


def write_chexpert(
    root: str,
    *,
    num_patients: int = 1000,
    image_size: int = 128,
    seed: int = 0,
    num_valid_patients: int | None = None,
    jpeg_quality: int = 90,
    workers: int = 1,
    progress: writing.Progress | None = None,
) -> dict:
    """Writes the synthetic set under `root/CheXpert-v1.0-small/`.

    Args:
      root: output directory (created); the dataset root is `root/CheXpert-v1.0-small`.
      num_patients: training patients (1-5 studies each, a lateral view in ~16% of studies).
      image_size: side of the square grayscale JPEGs.
      seed: the same seed gives the same bytes, whatever `workers`.
      num_valid_patients: patients of valid.csv (one study each); default
        min(200, max(10, num_patients // 5)) (the real valid.csv has 200).
      jpeg_quality: JPEG quality.
      workers: rendering processes.
      progress: called as progress(done, total) after each image.

    Returns:
      A summary: root, images/patients/studies per split, label-cell counts per split and
      observation.
    """
    if num_valid_patients is None:
        num_valid_patients = min(200, max(10, num_patients // 5))
    out_root = os.path.join(root, ROOT_NAME)
    plans = {
        "train": _plan(num_patients, 1, "train", seed),
        "valid": _plan(num_valid_patients, num_patients + 1, "valid", seed),
    }
    jobs = [
        (im, out_root, image_size, seed, jpeg_quality) for split in plans for im in plans[split]
    ]
    writing.run_jobs(_render, jobs, workers=workers, progress=progress)
    summary = {"root": out_root, "image_size": image_size, "seed": seed}
    for split, images in plans.items():
        writing.write_csv(os.path.join(out_root, f"{split}.csv"), COLUMNS, map(_csv_row, images))
        summary[split] = {
            "images": len(images),
            "frontal": sum(im["view"] == "frontal" for im in images),
            "patients": len({im["patient"] for im in images}),
            "studies": len({(im["patient"], im["study"]) for im in images}),
            "cells": {
                name: dict(sorted(Counter(im["cells"][name] or "blank" for im in images).items()))
                for name in (*chest_xray.PATHOLOGIES, "No Finding")
            },
        }
    return summary
