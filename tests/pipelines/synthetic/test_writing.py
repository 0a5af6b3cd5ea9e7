"""Tests for pipelines/synthetic/writing.py's console progress (the rest runs in every writer)."""

import re

from pipelines.synthetic import writing


def test_console_progress_prints_about_every_tenth_image_and_the_last(capsys):
    report = writing.console_progress()
    for done in range(1, 24):
        report(done, 23)
    lines = capsys.readouterr().out.splitlines()
    # Every 2nd image of 23 (23 // 10 = 2), and the 23rd.
    assert [int(line.split("/")[0]) for line in lines] == [*range(2, 23, 2), 23]
    assert all(re.fullmatch(r"\d+/23 images, \d+ images/s", line) for line in lines)
