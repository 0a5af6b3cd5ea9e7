"""Download (resume, interruption, offline) and safe extraction, against a local server."""

from __future__ import annotations

import dataclasses
import io
import os
import pathlib
import tarfile

import numpy as np
import portpicker
import pytest

from errors import UsageError
from slim_weights import checkpoint, fetch, manifest
from tests.slim_weights.conftest import server_url as _url
from tests.slim_weights.conftest import tarball as _tarball

ENTRY = manifest.get_entry("resnet_v1_50")


def test_normal_download_extracts_and_checks_inventory(server, release_tarball, tmp_path):
    server.files["/resnet_v1_50_2016_08_28.tar.gz"] = release_tarball
    bar = io.StringIO()
    path = fetch.fetch_checkpoint(
        ENTRY, tmp_path, url=_url(server, "resnet_v1_50_2016_08_28.tar.gz"), progress=bar
    )
    assert path == tmp_path / "resnet_v1_50.ckpt"
    assert (tmp_path / "resnet_v1_50_2016_08_28.tar.gz").read_bytes() == release_tarball
    assert "100.0%" in bar.getvalue()
    assert checkpoint.read_shapes(path)["resnet_v1_50/logits/weights"] == (1, 1, 2048, 1000)
    # Already there: checked again, nothing downloaded.
    assert fetch.fetch_checkpoint(ENTRY, tmp_path, url=_url(server, "gone.tar.gz")) == path
    assert len(server.requests) == 1


def test_interrupted_download_resumes_with_range(server, tmp_path):
    data = bytes(range(256)) * 4000
    server.files["/a.bin"] = data
    server.cuts_left = 1
    fetch.download(_url(server, "a.bin"), tmp_path / "a.bin")
    assert (tmp_path / "a.bin").read_bytes() == data
    assert server.requests == [("/a.bin", None), ("/a.bin", f"bytes={len(data) // 2}-")]
    assert not (tmp_path / "a.bin.part").exists()


def test_interrupted_download_without_range_support_starts_over(server, tmp_path):
    data = bytes(range(256)) * 4000
    server.files["/a.bin"] = data
    server.cuts_left = 1
    server.honour_range = False
    fetch.download(_url(server, "a.bin"), tmp_path / "a.bin")
    assert (tmp_path / "a.bin").read_bytes() == data


def test_repeated_interruptions_fail_clearly_and_a_rerun_resumes(server, tmp_path):
    data = bytes(range(256)) * 4000
    server.files["/a.bin"] = data
    server.cuts_left = 2
    with pytest.raises(fetch.DownloadError, match="interrupted 2 times.*run the same command"):
        fetch.download(_url(server, "a.bin"), tmp_path / "a.bin", attempts=2)
    partial = (tmp_path / "a.bin.part").stat().st_size
    assert 0 < partial < len(data)
    assert not (tmp_path / "a.bin").exists()
    fetch.download(_url(server, "a.bin"), tmp_path / "a.bin")
    assert server.requests[-1] == ("/a.bin", f"bytes={partial}-")
    assert (tmp_path / "a.bin").read_bytes() == data


def test_complete_partial_file_answered_416_is_kept(server, tmp_path):
    """A run that ended after the last byte but before the rename: no second download."""
    data = bytes(range(256)) * 4000
    server.files["/a.bin"] = data
    (tmp_path / "a.bin.part").write_bytes(data)
    fetch.download(_url(server, "a.bin"), tmp_path / "a.bin")
    assert (tmp_path / "a.bin").read_bytes() == data
    assert server.requests == [("/a.bin", f"bytes={len(data)}-")]  # answered 416 bytes */N
    assert not (tmp_path / "a.bin.part").exists()


def test_partial_file_longer_than_the_resource_starts_over(server, tmp_path):
    data = bytes(range(256)) * 4000
    server.files["/a.bin"] = data
    (tmp_path / "a.bin.part").write_bytes(data + b"stale tail")
    fetch.download(_url(server, "a.bin"), tmp_path / "a.bin")
    assert (tmp_path / "a.bin").read_bytes() == data
    assert server.requests == [("/a.bin", f"bytes={len(data) + 10}-"), ("/a.bin", None)]


def test_leading_tilde_in_the_directory_is_expanded(server, release_tarball, tmp_path, monkeypatch):
    home = tmp_path / "home"
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.chdir(tmp_path)  # so a literal '~' directory would show up here
    server.files["/r.tar.gz"] = release_tarball
    path = fetch.fetch_checkpoint(ENTRY, "~/slim_ckpt", url=_url(server, "r.tar.gz"))
    assert path == home / "slim_ckpt" / "resnet_v1_50.ckpt"
    assert (home / "slim_ckpt" / "r.tar.gz").exists()
    assert not (tmp_path / "~").exists()


def _corrupt(data: bytes) -> bytes:
    middle = len(data) // 2
    return data[:middle] + bytes(b ^ 0xFF for b in data[middle : middle + 64]) + data[middle + 64 :]


@pytest.mark.parametrize(
    "damage",
    [
        lambda data: b"<html><body>Proxy authentication required</body></html>\n" * 20,
        lambda data: data[: len(data) // 2],  # truncated
        _corrupt,  # 64 flipped bytes in the compressed stream
    ],
    ids=["html_page", "truncated", "corrupt"],
)
def test_unreadable_archive_is_set_aside_and_a_rerun_downloads_afresh(
    server, release_tarball, tmp_path, damage
):
    name = "resnet_v1_50_2016_08_28.tar.gz"
    url = _url(server, name)
    bad = damage(release_tarball)
    server.files[f"/{name}"] = bad
    with pytest.raises(
        fetch.DownloadError,
        match=rf"(?s){name} is not a readable tar archive .*moved it to .*{name}\.bad\. Run",
    ):
        fetch.fetch_checkpoint(ENTRY, tmp_path, url=url)
    assert (tmp_path / f"{name}.bad").read_bytes() == bad
    assert not (tmp_path / name).exists()
    assert not (tmp_path / "resnet_v1_50.ckpt").exists()  # no half-extracted checkpoint
    server.files[f"/{name}"] = release_tarball
    assert fetch.fetch_checkpoint(ENTRY, tmp_path, url=url) == tmp_path / "resnet_v1_50.ckpt"
    assert [path for path, _ in server.requests] == [f"/{name}", f"/{name}"]
    assert (tmp_path / name).read_bytes() == release_tarball


def test_offline_and_http_errors_are_clear(server, tmp_path):
    closed = f"http://127.0.0.1:{portpicker.pick_unused_port()}/x.tar.gz"
    with pytest.raises(fetch.DownloadError, match="cannot reach .* Are you offline"):
        fetch.download(closed, tmp_path / "x.tar.gz")
    with pytest.raises(fetch.DownloadError, match="HTTP 404"):
        fetch.download(_url(server, "missing.tar.gz"), tmp_path / "y.tar.gz")


@pytest.mark.parametrize(
    "evil", ["../evil.txt", "sub/../../evil.txt", "/tmp/evil_absolute_member.txt"]
)
def test_tarball_escaping_the_target_is_refused_whole(server, tmp_path, evil):
    target = tmp_path / "target"
    archive = tmp_path / "bad.tar.gz"
    archive.write_bytes(_tarball({"fine.txt": b"ok", evil: b"pwned"}))
    with pytest.raises(fetch.UnsafeArchiveError, match="unsafe members"):
        fetch.safe_extract(archive, target)
    assert not (tmp_path / "evil.txt").exists()
    assert not (evil.startswith("/") and os.path.exists(evil))
    assert list(target.iterdir()) == []  # nothing extracted, not even the safe member
    # Through the downloader as well.
    server.files["/bad.tar.gz"] = archive.read_bytes()
    with pytest.raises(fetch.UnsafeArchiveError):
        fetch.fetch_checkpoint(ENTRY, tmp_path / "dl", url=_url(server, "bad.tar.gz"))
    assert not (tmp_path / "evil.txt").exists()


def test_links_in_tarball_are_refused(tmp_path):
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        link = tarfile.TarInfo("innocent")
        link.type = tarfile.SYMTYPE
        link.linkname = "/etc/passwd"
        tar.addfile(link)
    (tmp_path / "link.tar.gz").write_bytes(buffer.getvalue())
    passwd = pathlib.Path("/etc/passwd").stat()
    with pytest.raises(fetch.UnsafeArchiveError, match="link or special file"):
        fetch.safe_extract(tmp_path / "link.tar.gz", tmp_path / "out")
    # Nothing written inside the target (not even the link) nor beside it, and the link's
    # target is untouched.
    assert list((tmp_path / "out").iterdir()) == []
    assert sorted(p.name for p in tmp_path.iterdir()) == ["link.tar.gz", "out"]
    after = pathlib.Path("/etc/passwd").stat()
    assert (after.st_mtime_ns, after.st_size) == (passwd.st_mtime_ns, passwd.st_size)


def test_wrong_inventory_or_member_is_reported(server, tmp_path):
    values = {"resnet_v1_50/conv1/weights": np.zeros((7, 7, 3, 64), np.float32)}
    path = checkpoint.write_checkpoint(values, tmp_path / "resnet_v1_50.ckpt", version="V1")
    with open(path, "rb") as f:
        server.files["/small.tar.gz"] = _tarball({"resnet_v1_50.ckpt": f.read()})
    with pytest.raises(checkpoint.InventoryError, match="266 missing"):
        fetch.fetch_checkpoint(ENTRY, tmp_path / "a", url=_url(server, "small.tar.gz"))
    server.files["/other.tar.gz"] = _tarball({"README": b"hello"})
    with pytest.raises(FileNotFoundError, match="no member 'resnet_v1_50.ckpt'"):
        fetch.fetch_checkpoint(ENTRY, tmp_path / "b", url=_url(server, "other.tar.gz"))


def test_entry_url_is_used_by_default(monkeypatch, tmp_path):
    seen = []

    def fake_download(url, destination, **kwargs):
        seen.append((url, destination.name))
        raise fetch.DownloadError("offline")

    monkeypatch.setattr(fetch, "download", fake_download)
    with pytest.raises(fetch.DownloadError):
        fetch.fetch_checkpoint(dataclasses.replace(ENTRY), tmp_path)
    assert seen == [(ENTRY.url, "resnet_v1_50_2016_08_28.tar.gz")]


def test_a_dot_slash_member_name_is_the_checkpoint(server, release_tarball, tmp_path):
    """`tar -C dir .` names members `./resnet_v1_50.ckpt`: extracted and found."""
    with tarfile.open(fileobj=io.BytesIO(release_tarball)) as tar:
        data = tar.extractfile("resnet_v1_50.ckpt").read()
    server.files["/dot.tar.gz"] = _tarball({"./resnet_v1_50.ckpt": data})
    path = fetch.fetch_checkpoint(ENTRY, tmp_path, url=_url(server, "dot.tar.gz"))
    assert path == tmp_path / "resnet_v1_50.ckpt" and path.read_bytes() == data


def test_a_url_without_a_file_name_is_refused_before_any_download(server, tmp_path):
    target = tmp_path / "ckpt"
    with pytest.raises(
        UsageError,
        match=r"URL http://127\.0\.0\.1:\d+/ names no file; give the tarball's own URL \(the "
        r"release is resnet_v1_50_2016_08_28\.tar\.gz\)",
    ):
        fetch.fetch_checkpoint(ENTRY, target, url=_url(server, ""))
    assert server.requests == [] and not target.exists()


def test_a_directory_that_is_a_file_is_named(tmp_path):
    target = tmp_path / "ckpt"
    target.write_text("<html>index of /</html>")  # What a trailing-slash URL once left.
    with pytest.raises(fetch.DownloadError, match=f"{target} is a file, not a directory"):
        fetch.fetch_checkpoint(ENTRY, target, url="http://127.0.0.1:1/x.tar.gz")
