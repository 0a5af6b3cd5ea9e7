import errno
import json
import os

import pytest

from transfusion_tf import provenance


def test_lock_refuses_a_second_holder_and_names_the_first(tmp_path):
    first = provenance.WorkdirLock(str(tmp_path))
    with pytest.raises(provenance.WorkdirLocked, match=r"in use by another run \(pid \d+ on"):
        provenance.WorkdirLock(str(tmp_path))
    first.release()
    provenance.WorkdirLock(str(tmp_path)).release()  # Free again.


def test_launch_records_accumulate(tmp_path):
    provenance.record_launch(str(tmp_path), precision="float32")
    provenance.record_launch(str(tmp_path), precision="float32")
    record = json.loads((tmp_path / "provenance.json").read_text())
    assert len(record["launches"]) == 2
    launch = record["launches"][0]
    assert launch["versions"]["tensorflow"] == "2.15.1"
    assert launch["versions"]["tensorflow-addons"] == "0.23.0"
    assert launch["precision"] == "float32"
    assert len(launch["git"]["commit"]) in (40, len("unknown"))
    assert {"command", "host", "time", "cwd"} <= set(launch)


def test_a_writable_workdir_passes_the_probe_and_keeps_no_trace(tmp_path):
    workdir = tmp_path / "new" / "run"
    provenance.check_writable(str(workdir), need_bytes=1)
    assert workdir.is_dir() and list(workdir.iterdir()) == []


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only directories")
def test_a_read_only_workdir_is_refused(tmp_path):
    tmp_path.chmod(0o555)
    try:
        with pytest.raises(
            provenance.WorkdirNotWritable, match=f"workdir {tmp_path} is not writable: Permission"
        ):
            provenance.check_writable(str(tmp_path))
    finally:
        tmp_path.chmod(0o755)


def test_a_workdir_that_cannot_be_created_is_refused(tmp_path):
    (tmp_path / "file").write_text("x")
    workdir = tmp_path / "file" / "run"
    with pytest.raises(provenance.WorkdirNotWritable, match=f"workdir {workdir} is not writable"):
        provenance.check_writable(str(workdir))


def test_a_full_disk_is_refused_at_the_probe(tmp_path, monkeypatch):
    def full(fd):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(provenance.os, "fsync", full)  # Where a full disk shows first.
    with pytest.raises(
        provenance.WorkdirNotWritable, match=f"workdir {tmp_path} is not writable: No space left"
    ):
        provenance.check_writable(str(tmp_path))
    assert list(tmp_path.iterdir()) == []  # The probe is removed.


def test_too_little_free_space_is_refused_with_the_numbers(tmp_path):
    with pytest.raises(
        provenance.WorkdirNotWritable,
        match=rf"workdir {tmp_path}: [\d.]+ MB free on its file system, but this run needs "
        r"about 953674316406\.2 MB \(its checkpoints\)",
    ):
        provenance.check_writable(str(tmp_path), need_bytes=10**18)


def test_a_damaged_json_file_is_named_with_the_place_and_remedy(tmp_path):
    path = tmp_path / "provenance.json"
    path.write_text('{"launches": [{"time": ')
    with pytest.raises(
        provenance.DamagedFile,
        match=rf"{path} is damaged \(line 1 column 24: Expecting value\); move it aside",
    ):
        provenance.record_launch(str(tmp_path))
    path.write_bytes(b"\xff\xfe")
    with pytest.raises(provenance.DamagedFile, match="not UTF-8 text"):
        provenance.read_json(str(path), remedy="x")
