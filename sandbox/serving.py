"""What the emulators share to serve over HTTP: a threaded WSGI server on loopback that keeps
quiet, and the management commands' "print the ready line, serve until SIGTERM or Ctrl-C"."""

from __future__ import annotations

import json
import signal
import sys
from collections.abc import Callable
from socketserver import ThreadingMixIn
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server


class ThreadingWSGIServer(ThreadingMixIn, WSGIServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 64


class QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args) -> None:
        pass


def make_wsgi_server(host: str, port: int, app: Callable) -> ThreadingWSGIServer:
    return make_server(host, port, app, ThreadingWSGIServer, QuietHandler)


def serve_until_stopped(server, ready_line: dict, on_stop: Callable[[], None]) -> None:
    """Print ``ready_line`` as the first line of stdout (JSON), then serve until SIGTERM or
    Ctrl-C; ``server`` has ``serve_forever()`` and ``stop()``."""
    sys.stdout.write(json.dumps(ready_line) + "\n")
    sys.stdout.flush()

    def stop(signum, frame):
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, stop)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()
        on_stop()
