"""The download binary: an end-to-end run against a local server (a process of its own), the
offline and bad-download messages (its main in this process); its --help: tests/test_help.py."""

from __future__ import annotations

import portpicker
import pytest

from tests import binaries
from tests.slim_weights.conftest import server_url, tarball

DOWNLOAD = "slim_weights.download"


@pytest.mark.slow
def test_end_to_end_against_local_server(server, release_tarball, tmp_path):
    server.files["/resnet_v1_50_2016_08_28.tar.gz"] = release_tarball
    home = tmp_path / "home"
    # `--dir=~/...` as BUILD.md writes it: bash leaves that `~` to us.
    result = binaries.run(
        DOWNLOAD,
        "--model=resnet_v1_50",
        "--dir=~/slim_ckpt",
        f"--url={server_url(server, 'resnet_v1_50_2016_08_28.tar.gz')}",
        check=False,
        env={"HOME": str(home)},
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == str(home / "slim_ckpt" / "resnet_v1_50.ckpt")
    assert not (tmp_path / "~").exists()
    assert "100.0%" in result.stderr  # the progress bar
    closed = f"http://127.0.0.1:{portpicker.pick_unused_port()}/x.tar.gz"
    offline = binaries.run_main(
        DOWNLOAD, "--model=inception_v3", f"--dir={tmp_path / 'x'}", f"--url={closed}"
    )
    assert offline.returncode == 1
    assert "Are you offline?" in offline.stderr


def test_bad_archives_and_checkpoints_exit_1_with_a_message(server, tmp_path):
    """No traceback for an error page, an unreadable checkpoint or a missing member."""
    cases = {  # served file -> (its bytes, what stderr must say)
        "page.tar.gz": (
            b"<html>Proxy authentication required</html>\n",
            ["page.tar.gz is not a readable tar archive", "page.tar.gz.bad"],
        ),
        "garbage.tar.gz": (
            tarball({"resnet_v1_50.ckpt": b"not a checkpoint" * 64}),
            ["resnet_v1_50.ckpt is not a readable TF checkpoint", "delete it and the tarball"],
        ),
        "other.tar.gz": (
            tarball({"README": b"hello"}),
            [
                "has no member 'resnet_v1_50.ckpt'",
                "Is --url the release tarball of --model=resnet_v1_50?",
            ],
        ),
    }
    for name, (payload, expected) in cases.items():
        server.files[f"/{name}"] = payload
        target = tmp_path / name.split(".")[0]
        result = binaries.run_main(
            DOWNLOAD, "--model=resnet_v1_50", f"--dir={target}", f"--url={server_url(server, name)}"
        )
        assert result.returncode == 1, name
        assert "Traceback" not in result.stderr, result.stderr
        for text in expected:
            assert text in result.stderr, (name, result.stderr)
    assert (tmp_path / "page" / "page.tar.gz.bad").exists()
