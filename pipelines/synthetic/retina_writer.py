"""What every synthetic retina writer shares (EyePACS, APTOS, Messidor-2, generic CSV).

A writer is a `RetinaWriter`: the same arguments and checks for every dataset, its layout's
`plan` of label rows and render jobs, then the same order on disk (the images, each through
`fundus_files.render_file` from its own seed, in parallel; the label files last, so a root
with its label file is complete) and a summary with the same keys plus the layout's own.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable, Sequence
from typing import NamedTuple

import numpy as np

from pipelines.synthetic import fundus_files, writing


class Request(NamedTuple):
    """A writer's common arguments, checked, as its layout's `plan` receives them."""

    root: str
    num_patients: int
    image_size: int
    seed: int
    jpeg_quality: int

    def job(self, path: str, seeds: list[int], grade: int, eye: str, **options) -> dict:
        """A `fundus_files.job` at this request's image size and JPEG quality."""
        options = {"size": self.image_size, "jpeg_quality": self.jpeg_quality, **options}
        return fundus_files.job(path, seeds, grade=grade, eye=eye, **options)


class LabelFile(NamedTuple):
    """A CSV a layout writes after its images (`writing.write_csv`'s arguments)."""

    path: str
    header: Sequence[str]
    rows: Sequence[Sequence]
    delimiter: str = ","


@dataclasses.dataclass(frozen=True)
class Plan:
    """What a layout lays out for one dataset.

    Attributes:
      image_dir: the directory of its images (for the summary).
      jobs: one `fundus_files.job` per image; their directories are created.
      label_files: written after every image, in order; the last is the labels CSV.
      grades: the grade of every graded image (the summary's `grade_counts`).
      extra: the layout's own summary entries.
    """

    image_dir: str
    jobs: list[dict]
    label_files: list[LabelFile]
    grades: list[int]
    extra: dict = dataclasses.field(default_factory=dict)


@dataclasses.dataclass(frozen=True)
class RetinaWriter:
    """A synthetic retina dataset writer; `plan(request, **options)` is its layout."""

    name: str
    plan: Callable[..., Plan]

    def __call__(
        self,
        root: str,
        *,
        num_patients: int,
        image_size: int,
        seed: int,
        jpeg_quality: int = 90,
        workers: int = 1,
        progress: writing.Progress | None = None,
        **options,
    ) -> dict:
        """Writes the dataset under `root` (created): images first, label files last.

        Args:
          root: output directory; existing files of the same names are replaced.
          num_patients: patients (exams for Messidor-2), >= 1.
          image_size: image height in pixels, >= 32.
          seed: dataset seed; the output is a pure function of the arguments but `workers`.
          jpeg_quality: JPEG quality, 1..95 (checked even where the images are PNG).
          workers: rendering processes; 1 renders in this process.
          progress: called as progress(done, total) after each image, if given.
          **options: the layout's own (Messidor-2's `image_format`, ...).

        Returns:
          {'root', 'labels_csv', 'image_dir', 'num_patients', 'num_images', 'image_size',
           'seed', 'grade_counts': {grade 0..4: images}} and the layout's own entries.

        Raises:
          UsageError: on num_patients < 1, workers < 1, jpeg_quality outside 1..95, or an
            option value the layout rejects.
        """
        writing.check_arguments(num_patients, jpeg_quality, workers)
        plan = self.plan(Request(root, num_patients, image_size, seed, jpeg_quality), **options)
        for directory in sorted({os.path.dirname(job["path"]) for job in plan.jobs}):
            os.makedirs(directory, exist_ok=True)
        writing.run_jobs(fundus_files.render_file, plan.jobs, workers=workers, progress=progress)
        for label_file in plan.label_files:
            writing.write_csv(*label_file)
        counts = np.bincount(plan.grades, minlength=5)
        return {
            "root": root,
            "labels_csv": plan.label_files[-1].path,
            "image_dir": plan.image_dir,
            "num_patients": num_patients,
            "num_images": len(plan.jobs),
            "image_size": image_size,
            "seed": seed,
            "grade_counts": {g: int(c) for g, c in enumerate(counts)},
            **plan.extra,
        }
