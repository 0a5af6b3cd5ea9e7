"""How every synthetic writer puts files on disk: atomically, in parallel, seeded per file.

Each image is a pure function of its job (its own seed), so the bytes do not depend on the
number of worker processes; each file is written through a temporary name and a rename, so
an interrupted run leaves no partial file; label files are written last, so a directory with
its label file is complete.
"""

from __future__ import annotations

import csv
import io
import multiprocessing
import os
import time
from collections.abc import Callable, Iterable, Sequence

from errors import UsageError

Progress = Callable[[int, int], None]


def check_arguments(num_patients: int, jpeg_quality: int, workers: int = 1) -> None:
    """Raises UsageError naming the argument when a writer's common argument is out of range."""
    if num_patients < 1:
        raise UsageError(f"num_patients must be >= 1, got {num_patients}")
    if workers < 1:
        raise UsageError(f"workers must be >= 1, got {workers}")
    if not 1 <= jpeg_quality <= 95:
        raise UsageError(f"jpeg_quality must be in 1..95, got {jpeg_quality}")


def write_atomic(path: str, data: bytes) -> None:
    """Writes via a temporary name and a rename, so a killed run leaves no partial file."""
    tmp = f"{path}.tmp{os.getpid()}"
    with open(tmp, "wb") as f:
        f.write(data)
    os.replace(tmp, path)


def write_csv(
    path: str, header: Sequence[str], rows: Iterable[Sequence], delimiter: str = ","
) -> None:
    """Writes a CSV (`\\n` line ends) atomically."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=delimiter, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    write_atomic(path, buffer.getvalue().encode("utf-8"))


def console_progress() -> Progress:
    """A `Progress` for the generate binaries: prints `<done>/<total> images, <rate> images/s`
    (the rate since this call) about every 10% of the images and at the last one."""
    start = time.monotonic()

    def report(done: int, total: int) -> None:
        if done % max(1, total // 10) == 0 or done == total:
            rate = done / max(time.monotonic() - start, 1e-9)
            print(f"{done}/{total} images, {rate:.0f} images/s", flush=True)

    return report


def run_jobs(
    render: Callable[[object], object],
    jobs: Sequence,
    *,
    workers: int,
    progress: Progress | None = None,
) -> None:
    """Runs `render(job)` for every job, in this process or in `workers` processes.

    Args:
      render: a module-level function (picklable), writing one file per job.
      jobs: picklable jobs.
      workers: 1 renders here; more use spawned processes, so a caller holding TensorFlow
        threads (which fork would break) can call this.
      progress: called as progress(done, total) after each job.
    """
    if workers < 1:
        raise ValueError(f"workers must be >= 1, got {workers}")
    total = len(jobs)
    if workers == 1:
        for done, job in enumerate(jobs, 1):
            render(job)
            if progress:
                progress(done, total)
        return
    chunk = max(1, min(32, total // (8 * workers)))
    with multiprocessing.get_context("spawn").Pool(workers) as pool:
        for done, _ in enumerate(pool.imap_unordered(render, jobs, chunk), 1):
            if progress:
                progress(done, total)
