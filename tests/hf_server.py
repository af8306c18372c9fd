"""A local stand-in for the Hugging Face Hub's file endpoint, enough for ``huggingface_hub.hf_hub_download``:
``HEAD`` and ``GET /{repo}/resolve/{revision}/{path}`` with ``X-Repo-Commit``, ``ETag`` and
``Content-Length`` headers and HTTP Range requests (``206 Partial Content``). It can drop the connection in
the middle of a file's first transfer, to exercise resuming, and records every request."""

from __future__ import annotations

import hashlib
import re
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

COMMIT = "0123456789abcdef0123456789abcdef01234567"
_RESOLVE = re.compile(r"^/(?P<repo>[^/]+/[^/]+)/resolve/(?P<revision>[^/]+)/(?P<path>.+)$")


@dataclass
class Request:
    method: str
    path: str
    range: str | None


@dataclass
class FakeHub:
    files: dict[tuple[str, str], bytes] = field(default_factory=dict)  # (repo, path) -> content
    drop_first_get_after: dict[tuple[str, str], int] = field(default_factory=dict)  # bytes sent, then close
    requests: list[Request] = field(default_factory=list)
    url: str = ""

    def add(self, repo: str, path: str, content: bytes) -> None:
        self.files[(repo, path)] = content

    def gets(self, path_suffix: str) -> list[Request]:
        return [r for r in self.requests if r.method == "GET" and r.path.endswith(path_suffix)]


def _handler(hub: FakeHub) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args):  # keep the test output clean
            pass

        def _lookup(self):
            match = _RESOLVE.match(self.path.split("?", 1)[0])
            if match is None:
                return None, None
            key = (match["repo"], match["path"])
            return key, hub.files.get(key)

        def _headers(self, status: int, content: bytes, length: int, extra: dict[str, str]) -> None:
            self.send_response(status)
            self.send_header("X-Repo-Commit", COMMIT)
            self.send_header("ETag", f'"{hashlib.sha256(content).hexdigest()}"')
            self.send_header("Content-Length", str(length))
            self.send_header("Accept-Ranges", "bytes")
            for name, value in extra.items():
                self.send_header(name, value)
            self.end_headers()

        def do_HEAD(self):
            key, content = self._lookup()
            hub.requests.append(Request("HEAD", self.path, self.headers.get("Range")))
            if content is None:
                self.send_response(404)
                self.send_header("X-Error-Code", "EntryNotFound")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            self._headers(200, content, len(content), {})

        def do_GET(self):
            key, content = self._lookup()
            wanted = self.headers.get("Range")
            hub.requests.append(Request("GET", self.path, wanted))
            if content is None:
                self.send_response(404)
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            start = 0
            if wanted:
                start = int(re.match(r"bytes=(\d+)-", wanted).group(1))
            body = content[start:]
            if start:
                self._headers(206, content, len(body),
                              {"Content-Range": f"bytes {start}-{len(content) - 1}/{len(content)}"})
            else:
                self._headers(200, content, len(body), {})
            cut = hub.drop_first_get_after.pop(key, None)
            if cut is not None:
                self.wfile.write(body[:cut])
                self.wfile.flush()
                self.close_connection = True
                return
            self.wfile.write(body)

    return Handler


def serve(hub: FakeHub):
    """Start the server on a free 127.0.0.1 port in a daemon thread; returns the server (call
    ``shutdown()``)."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(hub))
    hub.url = f"http://127.0.0.1:{server.server_address[1]}"
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server
