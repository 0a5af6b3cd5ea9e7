"""Synthetic APTOS 2019 and Messidor-2 datasets, written in their distributed layouts.

Both reuse the fundus renderer of the synthetic EyePACS set (`pipelines.synthetic.fundus`), so
their images carry the same grade-dependent lesions; what differs is the layout, the
class balance, the naming and the image geometry, so every run on them goes through the
real readers (`pipelines.readers.aptos`, `pipelines.readers.messidor2`).

APTOS (`write_aptos`):
    root/train.csv                   header `id_code,diagnosis`, rows sorted by id_code
    root/train_images/{id_code}.png  widths 1, 4/3 or 3/2 times the height (black sides)
  A patient has one image (60%) or both eyes (40%), but ids are random 12-digit hex
  strings that do not reveal it: the leakage the real set has.

Messidor-2 (`write_messidor2`), `num_patients` exams of two eyes:
    root/messidor_data.csv           header `image_id,adjudicated_dr_grade,adjudicated_dme,
                                     adjudicated_gradable`, rows sorted by image_id
    root/messidor-2.csv              the ADCIS pairs file: header `left;right`, then one
                                     exam per line, `left;right` image names
    root/IMAGES/{image_id}           3:2 images
  60% of exams are named as original-Messidor files (`YYYYMMDD_NNNNN_CCCC_PP`), the rest
  as Messidor-Extension files (`IMnnnnnn`), numbered so that `messidor2.exam_ids` pairs
  them back (numbers increase exam by exam with random gaps), so the name rule the reader
  falls back on without a pairs file finds the same exams. `image_format='kaggle'` writes
  `.png` and `.jpg` (the Kaggle copies), `'adcis'` `.png` and `.JPG` (the ADCIS download),
  `'original'` `.tif` and `.JPG` (TIFF as in Messidor-1, to exercise the TIFF path: TIFFs
  need `pipelines.convert`). A fraction of images is ungradable: rendered dark and
  defocused, with blank grades and gradable 0.

Each image has its own seed, so the bytes do not depend on the number of workers.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import multiprocessing
import os
from collections.abc import Callable

import numpy as np
from PIL import Image

from pipelines.readers import aptos, messidor2
from pipelines.synthetic.eyepacs import grade_pair_probabilities
from pipelines.synthetic.fundus import render_fundus, sample_camera

# Grades 0..4 of the APTOS 2019 train.csv (1,805 / 370 / 999 / 193 / 295 of 3,662).
APTOS_FREQUENCIES = np.array([1805, 370, 999, 193, 295], np.float64) / 3662
# Adjudicated grades of the gradable Messidor-2 images (Krause et al. 2018: 1,017 / 270 /
# 347 / 75 / 35 of 1,744).
MESSIDOR2_FREQUENCIES = np.array([1017, 270, 347, 75, 35], np.float64) / 1744
# P(referable DME | grade): our choice, rising with the grade.
DME_PROBABILITY = (0.0, 0.05, 0.3, 0.5, 0.6)
APTOS_ASPECTS = (1.0, 4 / 3, 1.5)
MESSIDOR2_FORMATS = {
    "kaggle": (".png", ".jpg"),
    "adcis": (".png", ".JPG"),
    "original": (".tif", ".JPG"),
}
_EYES = ("left", "right")
_APTOS, _MESSIDOR2 = 1, 2  # Seed-stream tags.


def _pair(rng: np.random.Generator, frequencies: np.ndarray) -> tuple[int, int]:
    joint = grade_pair_probabilities(frequencies)
    left, right = divmod(int(rng.choice(joint.size, p=joint.ravel())), joint.shape[1])
    return left, right


def render_file(job: dict) -> str:
    """Renders one image and writes it atomically; a pure function of `job`.

    Args:
      job: {'path', 'seed' (list of ints for SeedSequence), 'grade', 'eye', 'size',
        'width' (canvas width >= size; the field is centred on black), 'ungradable',
        'jpeg_quality'}; the format follows the path's extension.

    Returns:
      The path written.
    """
    rng = np.random.default_rng(np.random.SeedSequence(job["seed"]))
    camera = sample_camera(rng)
    if job["ungradable"]:
        camera = dataclasses.replace(camera, exposure=0.3, blur=0.04, haze=0.4)
    pixels = render_fundus(rng, grade=job["grade"], size=job["size"], eye=job["eye"], camera=camera)
    canvas = np.zeros((job["size"], job["width"], 3), np.uint8)
    left = (job["width"] - job["size"]) // 2
    canvas[:, left : left + job["size"]] = pixels
    extension = os.path.splitext(job["path"])[1].lower()
    buffer = io.BytesIO()
    if extension in (".jpg", ".jpeg"):
        Image.fromarray(canvas).save(buffer, format="JPEG", quality=job["jpeg_quality"])
    elif extension == ".png":
        Image.fromarray(canvas).save(buffer, format="PNG", compress_level=3)
    else:
        Image.fromarray(canvas).save(buffer, format="TIFF")
    tmp = f"{job['path']}.tmp{os.getpid()}"
    with open(tmp, "wb") as f:
        f.write(buffer.getvalue())
    os.replace(tmp, job["path"])
    return job["path"]


def _run(jobs: list[dict], workers: int, progress: Callable[[int, int], None] | None) -> None:
    if workers < 1:
        raise ValueError(f"workers must be >= 1, got {workers}")
    total = len(jobs)
    if workers == 1:
        results = map(render_file, jobs)
    else:
        # Spawned, not forked: the caller may hold TensorFlow threads that fork would break.
        pool = multiprocessing.get_context("spawn").Pool(workers)
        results = pool.imap_unordered(render_file, jobs, max(1, min(32, total // (8 * workers))))
    try:
        for done, _ in enumerate(results, 1):
            if progress:
                progress(done, total)
    finally:
        if workers > 1:
            pool.close()
            pool.join()


def _write_csv(path: str, header: list[str], rows: list[list], delimiter: str = ",") -> None:
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=delimiter, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    tmp = f"{path}.tmp{os.getpid()}"
    with open(tmp, "w") as f:
        f.write(buffer.getvalue())
    os.replace(tmp, path)


def _check(num_patients: int, jpeg_quality: int) -> None:
    if num_patients < 1:
        raise ValueError(f"num_patients must be >= 1, got {num_patients}")
    if not 1 <= jpeg_quality <= 95:
        raise ValueError(f"jpeg_quality must be in 1..95, got {jpeg_quality}")


def write_aptos(
    root: str,
    *,
    num_patients: int,
    image_size: int,
    seed: int,
    jpeg_quality: int = 90,
    workers: int = 1,
    progress: Callable[[int, int], None] | None = None,
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
    _check(num_patients, jpeg_quality)
    rng = np.random.default_rng(np.random.SeedSequence([seed, _APTOS]))
    image_dir = os.path.join(root, aptos.IMAGE_DIR)
    os.makedirs(image_dir, exist_ok=True)
    rows, jobs, codes, pairs = [], [], set(), 0
    for patient in range(num_patients):
        both = rng.random() < 0.4
        pairs += both
        grades = _pair(rng, APTOS_FREQUENCIES)
        eyes = _EYES if both else (_EYES[int(rng.integers(2))],)
        for eye in eyes:
            code = f"{int(rng.integers(2**48)):012x}"
            while code in codes:
                code = f"{int(rng.integers(2**48)):012x}"
            codes.add(code)
            grade = grades[_EYES.index(eye)]
            width = int(round(image_size * APTOS_ASPECTS[int(rng.integers(3))]))
            rows.append([code, grade])
            jobs.append(
                {
                    "path": os.path.join(image_dir, code + aptos.EXTENSION),
                    "seed": [seed, _APTOS, patient, _EYES.index(eye)],
                    "grade": grade,
                    "eye": eye,
                    "size": image_size,
                    "width": width,
                    "ungradable": False,
                    "jpeg_quality": jpeg_quality,
                }
            )
    _run(jobs, workers, progress)
    labels_csv = os.path.join(root, aptos.LABELS_FILE)
    _write_csv(labels_csv, ["id_code", "diagnosis"], sorted(rows))
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


def write_messidor2(
    root: str,
    *,
    num_patients: int,
    image_size: int,
    seed: int,
    jpeg_quality: int = 90,
    workers: int = 1,
    progress: Callable[[int, int], None] | None = None,
    image_format: str = "kaggle",
    ungradable_fraction: float = 0.01,
    pairs_file: bool = True,
) -> dict:
    """Writes a synthetic Messidor-2 dataset with adjudicated grades (grades CSV last).

    Args:
      root: output directory; created if missing.
      num_patients: exams (two images each), >= 1.
      image_size: image height in pixels, >= 32 (width 3/2 of it).
      seed: dataset seed.
      jpeg_quality: quality of the `.jpg`/`.JPG` images.
      workers: rendering processes.
      progress: called as progress(done, total) after each image.
      image_format: `kaggle` (.png + .jpg), `adcis` (.png + .JPG) or `original`
        (.tif + .JPG).
      ungradable_fraction: images made ungradable: max(1, round(fraction * images)),
        chosen at random.
      pairs_file: also write the ADCIS pairs file `messidor-2.csv` (exams in the order
        drawn, left eye first).

    Returns:
      {'root', 'labels_csv', 'pairs_csv' (None without `pairs_file`), 'image_dir',
       'num_patients', 'num_images', 'image_size', 'seed', 'grade_counts': {grade:
       gradable images}, 'ungradable', 'exams': {image_id: exam id, as the pairs file
       and `messidor2.exam_ids` both give it}}.

    Raises:
      ValueError: for an unknown image_format or bad counts.
    """
    _check(num_patients, jpeg_quality)
    if image_format not in MESSIDOR2_FORMATS:
        raise ValueError(
            f"unknown image_format {image_format!r}; valid: {sorted(MESSIDOR2_FORMATS)}"
        )
    rng = np.random.default_rng(np.random.SeedSequence([seed, _MESSIDOR2]))
    original_ext, extension_ext = MESSIDOR2_FORMATS[image_format]
    image_dir = os.path.join(root, messidor2.IMAGE_DIR)
    os.makedirs(image_dir, exist_ok=True)
    numbers = {"extension": int(rng.integers(1, 20))}
    images = []  # (image_id, exam, eye, grade)
    for _ in range(num_patients):
        grades = _pair(rng, MESSIDOR2_FREQUENCIES)
        if rng.random() < 0.6:
            date = f"2005{int(rng.integers(1, 13)):02d}{int(rng.integers(1, 29)):02d}"
            code = ("0100", "0200", "0300")[int(rng.integers(3))]
            start = numbers.get((date, code), 30000) + int(rng.integers(1, 400))
            second = start + int(rng.integers(1, 30))
            numbers[(date, code)] = second
            names = [f"{date}_{n}_{code}_PP{original_ext}" for n in (start, second)]
        else:
            start = numbers["extension"] + int(rng.integers(1, 6))
            numbers["extension"] = start + 1
            names = [f"IM{n:06d}{extension_ext}" for n in (start, start + 1)]
        exam_id = "+".join(os.path.splitext(n)[0] for n in names)
        images += [(n, exam_id, e, g) for n, e, g in zip(names, _EYES, grades, strict=True)]
    count = max(1, int(round(ungradable_fraction * len(images))))
    ungradable = set(rng.choice(len(images), size=count, replace=False).tolist())
    rows, jobs, exams = [], [], {}
    for index, (name, exam_id, eye, grade) in enumerate(images):
        bad = index in ungradable
        dme = int(rng.random() < DME_PROBABILITY[grade])
        rows.append([name, "", "", 0] if bad else [name, grade, dme, 1])
        exams[name] = exam_id
        jobs.append(
            {
                "path": os.path.join(image_dir, name),
                "seed": [seed, _MESSIDOR2, index],
                "grade": grade,
                "eye": eye,
                "size": image_size,
                "width": int(round(image_size * 1.5)),
                "ungradable": bad,
                "jpeg_quality": jpeg_quality,
            }
        )
    _run(jobs, workers, progress)
    pairs_csv = os.path.join(root, messidor2.PAIRS_FILE) if pairs_file else None
    if pairs_csv:
        exam_rows = [[a, b] for (a, *_), (b, *_) in zip(images[::2], images[1::2], strict=True)]
        _write_csv(pairs_csv, ["left", "right"], exam_rows, delimiter=";")
    labels_csv = os.path.join(root, messidor2.LABELS_FILE)
    _write_csv(labels_csv, list(messidor2.COLUMNS), sorted(rows))
    counts = np.bincount([r[1] for r in rows if r[3] == 1], minlength=5)
    return {
        "root": root,
        "labels_csv": labels_csv,
        "pairs_csv": pairs_csv,
        "image_dir": image_dir,
        "num_patients": num_patients,
        "num_images": len(rows),
        "image_size": image_size,
        "seed": seed,
        "grade_counts": {g: int(c) for g, c in enumerate(counts)},
        "ungradable": count,
        "exams": exams,
    }
