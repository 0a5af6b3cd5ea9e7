import json

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
