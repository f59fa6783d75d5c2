"""A tiny HTTP destination for outbox tests: applies each Idempotency-Key once, can fail on
purpose, and can hold its answer (so a worker can be killed after the effect, before the ack)."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Sink:
    def __init__(self) -> None:
        self.requests: list[dict] = []
        self.effects: dict[str, dict] = {}
        self.fail_next: list[int] = []  # status codes to answer with, in order
        self.hold_seconds = 0.0
        self.received = threading.Event()
        self._lock = threading.Lock()
        sink = self

        class _Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_POST(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = json.loads(self.rfile.read(length) or b"{}")
                key = self.headers.get("Idempotency-Key", "")
                with sink._lock:
                    sink.requests.append({"key": key, "body": body})
                    status = sink.fail_next.pop(0) if sink.fail_next else 200
                    if status == 200 and key not in sink.effects:
                        sink.effects[key] = body
                    hold = sink.hold_seconds
                sink.received.set()
                if hold:
                    threading.Event().wait(hold)
                payload = json.dumps({"applied": key in sink.effects}).encode()
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(payload)))
                    self.end_headers()
                    self.wfile.write(payload)
                except OSError:
                    pass  # the client went away (killed worker)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> Sink:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()
