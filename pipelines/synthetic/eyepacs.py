"""A synthetic diabetic-retinopathy dataset in the EyePACS (Kaggle 2015) layout.

`write_eyepacs` writes what the Kaggle download unpacks to, so every run on it goes
through the real EyePACS reader:

    root/trainLabels.csv             header `image,level`; rows `10_left,0`, `10_right,0`, ...
    root/train/{patient}_{left|right}.jpeg

Patients get Kaggle-style positive, increasing, non-contiguous ids. Grades follow the
EyePACS class balance (`GRADE_FREQUENCIES`), and the two eyes of a patient are correlated
(`sample_grades`). Each image is rendered by `pipelines.synthetic.fundus.render_fundus` from its own
seed, derived from (seed, patient, eye), so the files are byte-identical for one seed
whatever the number of worker processes.
"""

from __future__ import annotations

import csv
import io
import multiprocessing
import os
from collections.abc import Callable

import numpy as np
from PIL import Image

from pipelines.synthetic.fundus import render_fundus

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


def _image_seed(seed: int, patient: int, eye: str) -> np.random.SeedSequence:
    return np.random.SeedSequence([seed, _IMAGE_STREAM, patient, EYES.index(eye)])


def render_image(
    seed: int, patient: int, eye: str, grade: int, size: int, jpeg_quality: int
) -> bytes:
    """Renders and JPEG-encodes one image; a pure function of its arguments.

    Args:
      seed: dataset seed.
      patient: patient id.
      eye: "left" or "right".
      grade: 0..4.
      size: image side in pixels.
      jpeg_quality: JPEG quality, 1..95.

    Returns:
      The JPEG file's bytes.
    """
    rng = np.random.default_rng(_image_seed(seed, patient, eye))
    pixels = render_fundus(rng, grade=grade, size=size, eye=eye)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="JPEG", quality=jpeg_quality)
    return buffer.getvalue()


def _write_atomic(path: str, data: bytes) -> None:
    """Writes via a temporary name and a rename, so a killed run leaves no partial file."""
    tmp = f"{path}.tmp{os.getpid()}"
    with open(tmp, "wb") as f:
        f.write(data)
    os.replace(tmp, path)


def _write_one(task: tuple) -> str:
    path, *args = task
    _write_atomic(path, render_image(*args))
    return path


def write_eyepacs(
    root: str,
    *,
    num_patients: int,
    image_size: int,
    seed: int,
    jpeg_quality: int = 90,
    workers: int = 1,
    progress: Callable[[int, int], None] | None = None,
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
    if num_patients < 1:
        raise ValueError(f"num_patients must be >= 1, got {num_patients}")
    if workers < 1:
        raise ValueError(f"workers must be >= 1, got {workers}")
    if not 1 <= jpeg_quality <= 95:
        raise ValueError(f"jpeg_quality must be in 1..95, got {jpeg_quality}")
    rng = np.random.default_rng(np.random.SeedSequence([seed, _PATIENT_STREAM]))
    # Kaggle ids start at 10 and skip numbers.
    patients = 10 + np.cumsum(rng.integers(1, 4, num_patients)) - 1
    left, right = sample_grades(rng, num_patients)

    image_dir = os.path.join(root, IMAGE_DIR)
    os.makedirs(image_dir, exist_ok=True)
    rows, tasks = [], []
    for patient, grades in zip(patients.tolist(), zip(left, right, strict=True), strict=True):
        for eye, grade in zip(EYES, grades, strict=True):
            name = f"{patient}_{eye}"
            rows.append((name, int(grade)))
            path = os.path.join(image_dir, f"{name}.jpeg")
            tasks.append((path, seed, patient, eye, int(grade), image_size, jpeg_quality))

    total = len(tasks)
    if workers == 1:
        for done, task in enumerate(tasks, 1):
            _write_one(task)
            if progress:
                progress(done, total)
    else:
        # Spawned, not forked: the caller may hold TensorFlow threads that fork would break.
        with multiprocessing.get_context("spawn").Pool(workers) as pool:
            chunk = max(1, min(32, total // (8 * workers)))
            for done, _ in enumerate(pool.imap_unordered(_write_one, tasks, chunk), 1):
                if progress:
                    progress(done, total)

    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["image", "level"])
    writer.writerows(rows)
    labels_csv = os.path.join(root, LABELS_FILE)
    _write_atomic(labels_csv, buffer.getvalue().encode("ascii"))

    counts = np.bincount(np.concatenate([left, right]), minlength=5)
    return {
        "root": root,
        "labels_csv": labels_csv,
        "image_dir": image_dir,
        "num_patients": num_patients,
        "num_images": total,
        "image_size": image_size,
        "seed": seed,
        "grade_counts": {g: int(c) for g, c in enumerate(counts)},
    }
