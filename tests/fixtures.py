"""Tiny datasets written to disk in the real layouts, for tests.

Images are small and carry a learnable signal (a bright square whose size grows with the
grade) so short training runs can move the AUC; the realistic renderers live in
`pipelines/`.
"""

from __future__ import annotations

import os

import numpy as np
from PIL import Image


def write_eyepacs(
    root: str, grades_by_patient: dict[int, tuple[int, int]], *, size: int = 40, seed: int = 0
) -> str:
    """Writes `trainLabels.csv` and `train/{patient}_{eye}.jpeg` for the given grades."""
    rng = np.random.default_rng(seed)
    os.makedirs(os.path.join(root, "train"), exist_ok=True)
    lines = ["image,level"]
    for patient in sorted(grades_by_patient):
        for eye, grade in zip(("left", "right"), grades_by_patient[patient], strict=True):
            image = rng.integers(0, 60, size=(size, size, 3)).astype(np.uint8)
            side = 4 + 4 * grade
            image[4 : 4 + side, 4 : 4 + side] = 220
            name = f"{patient}_{eye}"
            Image.fromarray(image).save(os.path.join(root, "train", name + ".jpeg"), quality=95)
            lines.append(f"{name},{grade}")
    with open(os.path.join(root, "trainLabels.csv"), "w") as f:
        f.write("\n".join(lines) + "\n")
    return root


def write_tiny_source(
    root: str, *, train_per_class: int = 2, validation_per_class: int = 1
) -> dict:
    """The synthetic source task at its smallest: 20 classes of 32 px images, each split in
    as many shards as it has images per class. Returns `write_source`'s summary."""
    from pipelines.synthetic import source  # Imports TensorFlow (the records).

    return source.write_source(
        root,
        num_classes=20,
        train_per_class=train_per_class,
        validation_per_class=validation_per_class,
        image_size=32,
        train_shards=train_per_class,
        validation_shards=validation_per_class,
    )


def balanced_grades(num_patients: int, seed: int = 0) -> dict[int, tuple[int, int]]:
    """Patients 1..n with grades cycling 0-4 (both eyes share the patient's grade)."""
    rng = np.random.default_rng(seed)
    grades = rng.permutation(np.arange(num_patients) % 5)
    return {p + 1: (int(g), int(g)) for p, g in enumerate(grades)}


# A CheXpert train.csv typed as the real file is (19 columns, cells 1.0 / 0.0 / -1.0 /
# blank, Path prefixed with the root folder's name; lateral views have a blank AP/PA, and
# LL/RL occur only on a few frontal rows). The five task cells per row, in the order
# Atelectasis, Cardiomegaly, Consolidation, Edema, Pleural Effusion:
#   line 2  p1 s1 frontal AP   .    .    .    .    .     (No Finding 1.0)
#   line 3  p1 s1 lateral      .    .    .    .    .
#   line 4  p2 s1 frontal PA   1.0  0.0  -1.0 .    1.0
#   line 5  p2 s2 frontal AP   -1.0 1.0  0.0  -1.0 .
#   line 6  p2 s2 lateral      -1.0 1.0  0.0  -1.0 .
#   line 7  p3 s1 frontal AP   0.0  -1.0 1.0  1.0  -1.0
#   line 8  p3 s1 frontal LL   0.0  -1.0 1.0  1.0  -1.0  (a second frontal view)
#   line 9  p4 s1 frontal PA   .    .    .    0.0  0.0
CHEXPERT_HEADER = (
    "Path,Sex,Age,Frontal/Lateral,AP/PA,No Finding,Enlarged Cardiomediastinum,Cardiomegaly,"
    "Lung Opacity,Lung Lesion,Edema,Consolidation,Pneumonia,Atelectasis,Pneumothorax,"
    "Pleural Effusion,Pleural Other,Fracture,Support Devices\n"
)
CHEXPERT_TRAIN_CSV = (
    CHEXPERT_HEADER
    + """\
{root}/train/patient00001/study1/view1_frontal.jpg,Female,68,Frontal,AP,1.0,,,,,,,,,0.0,,,,1.0
{root}/train/patient00001/study1/view2_lateral.jpg,Female,68,Lateral,,1.0,,,,,,,,,0.0,,,,1.0
{root}/train/patient00002/study1/view1_frontal.jpg,Male,87,Frontal,PA,,,0.0,1.0,,,-1.0,-1.0,1.0,,1.0,,1.0,
{root}/train/patient00002/study2/view1_frontal.jpg,Male,88,Frontal,AP,,,1.0,-1.0,,-1.0,0.0,,-1.0,0.0,,,,1.0
{root}/train/patient00002/study2/view2_lateral.jpg,Male,88,Lateral,,,,1.0,-1.0,,-1.0,0.0,,-1.0,0.0,,,,1.0
{root}/train/patient00003/study1/view1_frontal.jpg,Unknown,41,Frontal,AP,,1.0,-1.0,1.0,,1.0,1.0,,0.0,,-1.0,,,0.0
{root}/train/patient00003/study1/view2_frontal.jpg,Unknown,41,Frontal,LL,,1.0,-1.0,1.0,,1.0,1.0,,0.0,,-1.0,,,0.0
{root}/train/patient00004/study1/view1_frontal.jpg,Female,55,Frontal,PA,,,,,,0.0,,,,1.0,0.0,,,
"""
)
CHEXPERT_VALID_CSV = (
    CHEXPERT_HEADER
    + """\
{root}/valid/patient00005/study1/view1_frontal.jpg,Male,73,Frontal,AP,0.0,1.0,1.0,1.0,0.0,1.0,0.0,0.0,0.0,0.0,1.0,0.0,0.0,1.0
{root}/valid/patient00006/study1/view1_frontal.jpg,Female,70,Frontal,PA,1.0,0.0,0.0,0.0,0.0,0.0,0.0,0.0,0.0,0.0,0.0,0.0,0.0,0.0
{root}/valid/patient00006/study1/view2_lateral.jpg,Female,70,Lateral,,1.0,0.0,0.0,0.0,0.0,0.0,0.0,0.0,0.0,0.0,0.0,0.0,0.0,0.0
"""
)


def write_chexpert_fixture(
    parent: str, folder: str = "CheXpert-v1.0-small", path_prefix: str | None = None
) -> str:
    """Writes the hand-typed CheXpert CSVs and 16 px grayscale JPEGs under parent/folder.

    Args:
      parent: directory to hold the root folder.
      folder: the root folder's name on disk.
      path_prefix: the root name the CSV paths carry (default `folder`; differs when a
        user renamed the folder).

    Returns:
      The root folder's path.
    """
    root = os.path.join(parent, folder)
    prefix = path_prefix or folder
    for name, text in (("train.csv", CHEXPERT_TRAIN_CSV), ("valid.csv", CHEXPERT_VALID_CSV)):
        text = text.format(root=prefix)
        os.makedirs(root, exist_ok=True)
        with open(os.path.join(root, name), "w") as f:
            f.write(text)
        for line in text.splitlines()[1:]:
            path = os.path.join(root, line.split(",")[0].split("/", 1)[1])
            os.makedirs(os.path.dirname(path), exist_ok=True)
            Image.fromarray(np.full((16, 16), 128, np.uint8), mode="L").save(path)
    return root
