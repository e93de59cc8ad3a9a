"""A scriptable web site on loopback for the live web's tests: pages with chosen headers and
bodies, endpoints that record what was POSTed to them, redirects. Standard library only, one
thread, stopped by the ``with`` block."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit


@dataclass
class Hit:
    method: str
    path: str
    """With its query string."""
    headers: dict[str, str]
    body: bytes

    @property
    def form(self) -> dict[str, str]:
        return {k: v[0] for k, v in parse_qs(self.body.decode()).items()}

    @property
    def query(self) -> dict[str, str]:
        return {k: v[0] for k, v in parse_qs(urlsplit(self.path).query).items()}


@dataclass
class Answer:
    status: int = 200
    body: bytes = b""
    headers: list[tuple[str, str]] = field(default_factory=list)
    content_type: str = "text/html; charset=utf-8"


Route = Callable[[Hit], Answer]


class WebHost:
    """``routes``: path (without query) → a function of the request giving the answer;
    unknown paths answer 404. Every request is kept in ``hits``."""

    def __init__(self) -> None:
        self.routes: dict[str, Route] = {}
        self.hits: list[Hit] = []
        self.lock = threading.Lock()
        host = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _any(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                hit = Hit(self.command, self.path, dict(self.headers.items()), body)
                with host.lock:
                    host.hits.append(hit)
                    route = host.routes.get(urlsplit(self.path).path)
                answer = route(hit) if route else Answer(404, b"not here")
                self.send_response(answer.status)
                self.send_header("Content-Type", answer.content_type)
                for name, value in answer.headers:
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(answer.body)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(answer.body)

            do_GET = do_POST = do_HEAD = _any

            def log_message(self, *args: object) -> None:
                pass

        class Server(ThreadingHTTPServer):
            request_queue_size = 128  # many clients at once (a hub's fan-out), none refused

        self.server = Server(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def page(self, path: str, body: str = "", *, status: int = 200,
             headers: list[tuple[str, str]] | None = None,
             content_type: str = "text/html; charset=utf-8") -> None:
        """A fixed answer at ``path``."""
        answer = Answer(status, body.encode(), headers or [], content_type)
        self.routes[path] = lambda hit: answer

    def redirect(self, path: str, location: str, status: int = 302) -> None:
        self.page(path, status=status, headers=[("Location", location)])

    def received(self, path: str, method: str = "POST") -> list[Hit]:
        with self.lock:
            return [h for h in self.hits if h.method == method and urlsplit(h.path).path == path]

    def __enter__(self) -> WebHost:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(10)
