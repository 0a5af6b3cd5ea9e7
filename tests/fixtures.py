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


def balanced_grades(num_patients: int, seed: int = 0) -> dict[int, tuple[int, int]]:
    """Patients 1..n with grades cycling 0-4 (both eyes share the patient's grade)."""
    rng = np.random.default_rng(seed)
    grades = rng.permutation(np.arange(num_patients) % 5)
    return {p + 1: (int(g), int(g)) for p, g in enumerate(grades)}
