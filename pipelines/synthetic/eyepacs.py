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

from pipelines.synthetic import fundus_files, writing

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


def write_eyepacs(
    root: str,
    *,
    num_patients: int,
    image_size: int,
    seed: int,
    jpeg_quality: int = 90,
    workers: int = 1,
    progress: writing.Progress | None = None,
) -> dict:
    """Writes a synthetic EyePACS-layout dataset.

    Images are written first, each through a temporary file and a rename; the labels CSV
    is written last, the same way, so a directory with a `trainLabels.csv` is complete.

    Args:
      root: output directory; created if missing. Existing files of the same names are
        replaced.
      num_patients: number of patients (two images each), >= 1.
      image_size: image side in pixels, >= 32.
      seed: dataset seed; the output is a pure function of (seed, num_patients,
        image_size, jpeg_quality).
      jpeg_quality: JPEG quality, 1..95.
      workers: rendering processes; 1 renders in this process.
      progress: called as progress(done, total) after each image, if given.

    Returns:
      A summary: {"root", "labels_csv", "image_dir": paths; "num_patients", "num_images",
      "image_size", "seed": ints; "grade_counts": {grade: count of images} for 0..4}.

    Raises:
      ValueError: on num_patients < 1, workers < 1 or jpeg_quality outside 1..95.
    """
    writing.check_arguments(num_patients, jpeg_quality, workers)
    rng = np.random.default_rng(np.random.SeedSequence([seed, _PATIENT_STREAM]))
    # Kaggle ids start at 10 and skip numbers.
    patients = 10 + np.cumsum(rng.integers(1, 4, num_patients)) - 1
    left, right = sample_grades(rng, num_patients)

    image_dir = os.path.join(root, IMAGE_DIR)
    os.makedirs(image_dir, exist_ok=True)
    rows, jobs = [], []
    for patient, grades in zip(patients.tolist(), zip(left, right, strict=True), strict=True):
        for eye, grade in zip(EYES, grades, strict=True):
            name = f"{patient}_{eye}"
            rows.append((name, int(grade)))
            path = os.path.join(image_dir, f"{name}.jpeg")
            seeds = [seed, _IMAGE_STREAM, patient, EYES.index(eye)]
            jobs.append(
                fundus_files.job(
                    path,
                    seeds,
                    grade=int(grade),
                    eye=eye,
                    size=image_size,
                    jpeg_quality=jpeg_quality,
                )
            )
    writing.run_jobs(fundus_files.render_file, jobs, workers=workers, progress=progress)
    labels_csv = os.path.join(root, LABELS_FILE)
    writing.write_csv(labels_csv, ["image", "level"], rows)

    counts = np.bincount(np.concatenate([left, right]), minlength=5)
    return {
        "root": root,
        "labels_csv": labels_csv,
        "image_dir": image_dir,
        "num_patients": num_patients,
        "num_images": len(jobs),
        "image_size": image_size,
        "seed": seed,
        "grade_counts": {g: int(c) for g, c in enumerate(counts)},
    }
