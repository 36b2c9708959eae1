"""What the stand-in servers share: an HTTP server on a free port of 127.0.0.1, in
a thread, that records every request and hands it to the subclass's `_serve`; and
the reading of a request and the writing of an answer. The fakes differ only in
what they answer."""
from __future__ import annotations

import dataclasses
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Self
from urllib.parse import parse_qs, urlsplit


@dataclasses.dataclass
class Request:
  method: str
  path: str
  query: dict[str, str]
  body: Any  # parsed JSON, or None
  headers: dict[str, str] = dataclasses.field(default_factory=dict)  # lower-case names


class LocalServer:
  """with Subclass() as server: ... server.url, server.requests"""

  def __init__(self):
    self.requests: list[Request] = []
    fake = self

    class Handler(BaseHTTPRequestHandler):
      def do_GET(self):
        fake._serve(self, "GET")

      def do_POST(self):
        fake._serve(self, "POST")

      def do_DELETE(self):
        fake._serve(self, "DELETE")

      def log_message(self, *args):  # keep the test output clean
        pass

    self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    self._server.daemon_threads = True
    self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
    # A short poll interval: shutdown() waits for it, at each test's teardown.
    self._thread = threading.Thread(target=self._server.serve_forever, args=(0.02,),
                                    daemon=True)

  def __enter__(self) -> Self:
    self._thread.start()
    return self

  def __exit__(self, *exc):
    self._server.shutdown()
    self._server.server_close()
    self._thread.join(timeout=10)

  def _serve(self, handler: BaseHTTPRequestHandler, method: str) -> None:
    """Answers one request: each fake (k8s_api.py, kfp_server.py) says what it serves."""
    raise NotImplementedError

  def calls(self, method: str | None = None, path: str | None = None
            ) -> list[Request]:
    return [r for r in self.requests
            if (method is None or r.method == method) and (path is None or r.path == path)]

  def route(self) -> list[tuple[str, str]]:
    """(method, path) of every request, in order."""
    return [(r.method, r.path) for r in self.requests]


def read_request(handler: BaseHTTPRequestHandler, method: str) -> Request:
  url = urlsplit(handler.path)
  query = {k: v[-1] for k, v in parse_qs(url.query, keep_blank_values=True).items()}
  length = int(handler.headers.get("Content-Length") or 0)
  raw = handler.rfile.read(length) if length else b""
  is_json = "json" in (handler.headers.get("Content-Type") or "")
  body = json.loads(raw) if raw and is_json else None
  return Request(method, url.path, query, body,
                 {k.lower(): v for k, v in handler.headers.items()})


def respond(handler: BaseHTTPRequestHandler, status: int, answer: Any) -> None:
  """`answer` as JSON, or as plain text when it is a string."""
  text = isinstance(answer, str)
  data = answer.encode() if text else json.dumps(answer).encode()
  handler.send_response(status)
  handler.send_header("Content-Type", "text/plain" if text else "application/json")
  handler.send_header("Content-Length", str(len(data)))
  handler.end_headers()
  handler.wfile.write(data)
