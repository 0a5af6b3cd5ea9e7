"""Tests for pipelines/synthetic/retina_writer.py: the order on disk and the summary."""

import os

import pytest

from errors import UsageError
from pipelines.synthetic import retina_writer


def _two_images(request, *, note="x"):
    """A layout of two images in two folders, a side file and a labels CSV."""
    jobs = [
        request.job(os.path.join(request.root, "a", "0.jpeg"), [request.seed, 0], 1, "left"),
        request.job(os.path.join(request.root, "b", "1.png"), [request.seed, 1], 3, "right"),
    ]
    side = retina_writer.LabelFile(os.path.join(request.root, "side.csv"), ["x"], [[note]], ";")
    labels = retina_writer.LabelFile(
        os.path.join(request.root, "labels.csv"), ["image", "grade"], [["a/0", 1], ["b/1", 3]]
    )
    return retina_writer.Plan(request.root, jobs, [side, labels], [1, 3], {"note": note})


WRITER = retina_writer.RetinaWriter("two", _two_images)


def test_images_first_then_label_files_and_the_summary(tmp_path):
    root = str(tmp_path / "set")
    seen = []

    def progress(done, total):
        seen.append((done, total, os.path.exists(os.path.join(root, "labels.csv"))))

    summary = WRITER(root, num_patients=1, image_size=32, seed=7, progress=progress, note="y")
    assert seen == [(1, 2, False), (2, 2, False)]  # No label file until every image is on disk.
    assert sorted(os.listdir(root)) == ["a", "b", "labels.csv", "side.csv"]
    assert (tmp_path / "set" / "side.csv").read_text() == "x\ny\n"
    assert (tmp_path / "set" / "labels.csv").read_text() == "image,grade\na/0,1\nb/1,3\n"
    assert summary == {
        "root": root,
        "labels_csv": os.path.join(root, "labels.csv"),
        "image_dir": root,
        "num_patients": 1,
        "num_images": 2,
        "image_size": 32,
        "seed": 7,
        "grade_counts": {0: 0, 1: 1, 2: 0, 3: 1, 4: 0},
        "note": "y",
    }


def test_the_job_carries_the_request_size_and_quality():
    request = retina_writer.Request("r", num_patients=1, image_size=40, seed=0, jpeg_quality=80)
    job = request.job("r/x.jpeg", [0, 1], 2, "left", width=60)
    assert (job["size"], job["width"], job["jpeg_quality"], job["grade"]) == (40, 60, 80, 2)


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"num_patients": 0}, "num_patients must be >= 1, got 0"),
        ({"workers": 0}, "workers must be >= 1, got 0"),
        ({"jpeg_quality": 96}, r"jpeg_quality must be in 1\.\.95, got 96"),
    ],
)
def test_bad_common_arguments_stop_before_anything_is_written(tmp_path, arguments, message):
    root = tmp_path / "set"
    with pytest.raises(UsageError, match=message):
        WRITER(str(root), **{"num_patients": 1, "image_size": 32, "seed": 0, **arguments})
    assert not root.exists()
