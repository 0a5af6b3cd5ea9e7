"""Fixtures for slim_weights tests: a local HTTP server and a release-shaped tarball."""

from __future__ import annotations

import http.server
import io
import tarfile
import threading

import numpy as np
import portpicker
import pytest

from slim_weights import checkpoint, manifest


class _Server(http.server.ThreadingHTTPServer):
    """Serves `files` by path; can cut connections mid-body and ignore Range.

    With Range honoured, a range starting at or past the end gets 416 and `bytes */N`.
    """

    def __init__(self, port):
        super().__init__(("127.0.0.1", port), _Handler)
        self.files: dict[str, bytes] = {}
        self.cuts_left = 0
        self.honour_range = True
        self.requests: list[tuple[str, str | None]] = []


class _Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        server = self.server
        server.requests.append((self.path, self.headers.get("Range")))
        if self.path not in server.files:
            self.send_error(404)
            return
        data = server.files[self.path]
        start = 0
        range_header = self.headers.get("Range")
        if range_header and server.honour_range:
            start = int(range_header.removeprefix("bytes=").split("-")[0])
            if start >= len(data):  # as real servers do (RFC 9110 §15.5.17)
                self.send_response(416)
                self.send_header("Content-Range", f"bytes */{len(data)}")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
        else:
            self.send_response(200)
        body = data[start:]
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if server.cuts_left > 0:
            server.cuts_left -= 1
            self.wfile.write(body[: len(body) // 2])
            self.close_connection = True
            return
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture()
def server():
    srv = _Server(portpicker.pick_unused_port())
    thread = threading.Thread(target=srv.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield srv
    srv.shutdown()
    srv.server_close()


def tarball(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    # Level 1: a checkpoint of zeros packs and unpacks about three times faster than at
    # the default 9, and nothing here depends on how small the archive is.
    with tarfile.open(fileobj=buffer, mode="w:gz", compresslevel=1) as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


@pytest.fixture(scope="session")
def release_tarball(tmp_path_factory):
    """A tarball shaped like resnet_v1_50_2016_08_28.tar.gz: the full inventory, zeros, V1."""
    directory = tmp_path_factory.mktemp("release")
    values = {
        n: np.zeros(s, np.float32)
        for n, s in manifest.get_entry("resnet_v1_50").inventory().items()
    }
    values["global_step"] = np.array(0, np.int64)
    path = checkpoint.write_checkpoint(values, directory / "resnet_v1_50.ckpt", version="V1")
    with open(path, "rb") as f:
        return tarball({"resnet_v1_50.ckpt": f.read()})


def server_url(server, name):
    return f"http://127.0.0.1:{server.server_address[1]}/{name}"
