"""The download helper against a small archive served over HTTP on loopback."""

from __future__ import annotations

import hashlib
import http.server
import io
import threading
import zipfile

import pytest

from secagg.errors import ConfigError, DataError
from secagg.rec.data import load_path
from secagg.rec.download import ARCHIVES, Archive, download_dataset, extract, fetch


def make_zip(members: dict[str, str]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name, text in members.items():
            zf.writestr(name, text)
    return buf.getvalue()


class Server:
    """A loopback HTTP server serving in-memory files and counting requests."""

    def __init__(self, files: dict[str, bytes]) -> None:
        self.files = files
        self.requests: list[str] = []
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - http.server API
                outer.requests.append(self.path)
                body = outer.files.get(self.path.lstrip("/"))
                if body is None:
                    self.send_error(404)
                    return
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}/"

    def __enter__(self) -> Server:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join()


ZIP = make_zip({"ml-tiny/u.data": "1\t10\t5\t100\n1\t11\t3\t200\n2\t10\t4\t300\n"})
TINY = Archive("ml-tiny.zip", hashlib.sha256(ZIP).hexdigest(), len(ZIP), "ml-tiny/u.data")


def test_download_verify_extract_and_cache(tmp_path):
    with Server({"ml-tiny.zip": ZIP}) as srv:
        path = download_dataset("ml-tiny", cache_dir=tmp_path, base_url=srv.url, archive=TINY)
        assert path == tmp_path / "ml-tiny" / "u.data"
        assert load_path(path).n_users == 2
        again = download_dataset("ml-tiny", cache_dir=tmp_path, base_url=srv.url, archive=TINY)
        assert again == path
        assert srv.requests == ["/ml-tiny.zip"]  # the second call used the verified cache


def test_checksum_mismatch_is_rejected_and_not_cached(tmp_path):
    bad = Archive("ml-tiny.zip", "0" * 64, len(ZIP), "ml-tiny/u.data")
    with Server({"ml-tiny.zip": ZIP}) as srv:
        with pytest.raises(DataError, match="SHA-256 mismatch"):
            download_dataset("ml-tiny", cache_dir=tmp_path, base_url=srv.url, archive=bad)
    assert not (tmp_path / "ml-tiny.zip").exists()
    assert not list(tmp_path.glob("*.part"))


def test_corrupt_cached_archive_is_fetched_again(tmp_path):
    dest = tmp_path / "ml-tiny.zip"
    dest.write_bytes(b"truncated")
    with Server({"ml-tiny.zip": ZIP}) as srv:
        fetch(srv.url + "ml-tiny.zip", TINY.sha256, dest)
        assert dest.read_bytes() == ZIP and len(srv.requests) == 1


def test_http_errors_and_bad_arguments(tmp_path):
    with Server({}) as srv:
        with pytest.raises(DataError, match="could not download"):
            fetch(srv.url + "missing.zip", TINY.sha256, tmp_path / "x.zip")
    with pytest.raises(ConfigError, match="64 hex"):
        fetch("http://127.0.0.1:9/x", "abc", tmp_path / "y.zip")
    with pytest.raises(ConfigError, match="unknown data set"):
        download_dataset("ml-nope", cache_dir=tmp_path)


def test_extract_refuses_path_traversal(tmp_path):
    archive = tmp_path / "evil.zip"
    archive.write_bytes(make_zip({"../escape.txt": "x"}))
    with pytest.raises(DataError, match="outside"):
        extract(archive, tmp_path / "out")
    assert not (tmp_path / "escape.txt").exists()


def test_published_archives_are_pinned():
    for name, arc in ARCHIVES.items():
        assert len(arc.sha256) == 64 and arc.filename == f"{name}.zip" and arc.size > 0
