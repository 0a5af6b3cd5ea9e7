"""A synthetic diabetic-retinopathy dataset in the EyePACS (Kaggle 2015) layout.

`write_eyepacs` writes what the Kaggle download unpacks to, so every run on it goes
through the real EyePACS reader:

    root/trainLabels.csv             header `image,level`; rows `10_left,0`, `10_right,0`, ...
    root/train/{patient}_{left|right}.jpeg

Patients get Kaggle-style positive, increasing, non-contiguous ids. Grades follow the
EyePACS class balance (`GRADE_FREQUENCIES`), and the two eyes of a patient are correlated
(`sample_grades`). Each image is rendered by `pipelines.synthetic.fundus_files` from its
own seed, derived from (seed, patient, eye), so the files are byte-identical for one seed
whatever the number of worker processes.
"""

from __future__ import annotations

import os

import numpy as np

from pipelines.synthetic import retina_writer

# Grades 0..4 in the Kaggle EyePACS training labels (25,810 / 2,443 / 5,292 / 873 / 708
# of 35,126 images).
GRADE_FREQUENCIES = np.array([25810, 2443, 5292, 873, 708], np.float64) / 35126
# Probability that the second eye's grade is drawn afresh by a one-grade move (before the
# move is accepted); otherwise it copies the first eye. With the acceptance step below it
# leaves both eyes' marginals exactly at GRADE_FREQUENCIES.
_EYE_MOVE = 0.6
LABELS_FILE = "trainLabels.csv"
IMAGE_DIR = "train"
EYES = ("left", "right")
# Stream tags keep the patient-level draws and the per-image draws independent.
_PATIENT_STREAM, _IMAGE_STREAM = 0, 1


def grade_pair_probabilities(frequencies: np.ndarray = GRADE_FREQUENCIES) -> np.ndarray:
    """Joint distribution of (left, right) grades of one patient.

    The second eye follows a Metropolis kernel from the first: propose a grade one step up
    or down, accept with min(1, p(new) / p(old)). The kernel is reversible with respect to
    `frequencies`, so the joint is symmetric and both marginals equal `frequencies`, while
    the eyes agree far more often than independent draws would, and differ by one grade
    when they differ.

    Args:
      frequencies: float array (5,), marginal grade probabilities summing to 1.

    Returns:
      float64 array (5, 5), joint[l, r], symmetric, summing to 1.
    """
    p = np.asarray(frequencies, np.float64)
    n = len(p)
    kernel = np.zeros((n, n))
    for i in range(n):
        for j in (i - 1, i + 1):
            if 0 <= j < n:
                kernel[i, j] = _EYE_MOVE * 0.5 * min(1.0, p[j] / p[i])
        kernel[i, i] = 1.0 - kernel[i].sum()
    return p[:, None] * kernel


def sample_grades(rng: np.random.Generator, num_patients: int) -> tuple[np.ndarray, np.ndarray]:
    """Draws the grades of both eyes of `num_patients` patients.

    Args:
      rng: the only source of randomness.
      num_patients: number of patients, >= 0.

    Returns:
      (left, right): int64 arrays (num_patients,) of grades 0..4, each with marginal
      `GRADE_FREQUENCIES`, jointly `grade_pair_probabilities()`.
    """
    joint = grade_pair_probabilities()
    flat = rng.choice(joint.size, size=num_patients, p=joint.ravel())
    left, right = np.divmod(flat, joint.shape[1])
    return left.astype(np.int64), right.astype(np.int64)


def sample_grade_pair(rng: np.random.Generator, frequencies: np.ndarray) -> tuple[int, int]:
    """One patient's (left, right) grades, jointly `grade_pair_probabilities(frequencies)`."""
    joint = grade_pair_probabilities(frequencies)
    left, right = divmod(int(rng.choice(joint.size, p=joint.ravel())), joint.shape[1])
    return left, right


def _plan(request: retina_writer.Request) -> retina_writer.Plan:
    """`train/<patient>_<left|right>.jpeg` and `trainLabels.csv` (`image,level`)."""
    rng = np.random.default_rng(np.random.SeedSequence([request.seed, _PATIENT_STREAM]))
    # Kaggle ids start at 10 and skip numbers.
    patients = 10 + np.cumsum(rng.integers(1, 4, request.num_patients)) - 1
    left, right = sample_grades(rng, request.num_patients)
    image_dir = os.path.join(request.root, IMAGE_DIR)
    rows, jobs = [], []
    for patient, grades in zip(patients.tolist(), zip(left, right, strict=True), strict=True):
        for eye, grade in zip(EYES, grades, strict=True):
            name = f"{patient}_{eye}"
            rows.append((name, int(grade)))
            seeds = [request.seed, _IMAGE_STREAM, patient, EYES.index(eye)]
            jobs.append(
                request.job(os.path.join(image_dir, f"{name}.jpeg"), seeds, int(grade), eye)
            )
    labels = os.path.join(request.root, LABELS_FILE)
    label_file = retina_writer.LabelFile(labels, ["image", "level"], rows)
    return retina_writer.Plan(image_dir, jobs, [label_file], grades=[g for _, g in rows])


# Writes a synthetic EyePACS-layout dataset (see the module docstring and `RetinaWriter`).
write_eyepacs = retina_writer.RetinaWriter("eyepacs", _plan)
