"""A threaded HTTP server for the emulator on loopback (one thread per connection)."""

from __future__ import annotations

import threading

from sandbox.amazon.app import SandboxApp
from sandbox.serving import make_wsgi_server


class AmazonSandboxServer:
    """``start()`` binds (port 0: a free port) and serves in a background thread;
    ``serve_forever()`` serves in the calling thread (the management command)."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0, log_requests: bool = False) -> None:
        self._httpd = make_wsgi_server(host, port, lambda e, s: self.app(e, s))
        bound_host, bound_port = self._httpd.server_address[:2]
        self.base_url = f"http://{bound_host}:{bound_port}"
        self.app = SandboxApp(self.base_url, log_requests=log_requests)
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        return self._httpd.server_address[1]

    def start(self) -> str:
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.2}, daemon=True
        )
        self._thread.start()
        return self.base_url

    def serve_forever(self) -> None:
        self._httpd.serve_forever(poll_interval=0.2)

    def stop(self) -> None:
        # Long polls (SQS ReceiveMessage) end within a poll interval instead of outliving us.
        self.app.stop_long_polls()
        if self._thread is not None:
            self._httpd.shutdown()
            self._thread.join(5)
            self._thread = None
        self._httpd.server_close()
