"""A threaded HTTP server for the Shopify emulator on loopback (one thread per connection),
plus the webhook delivery thread."""

from __future__ import annotations

import threading

from sandbox.serving import make_wsgi_server
from sandbox.shopify.app import ShopifySandboxApp
from sandbox.shopify.webhooks import Dispatcher


class ShopifySandboxServer:
    """``start()`` binds (port 0: a free port) and serves in a background thread;
    ``serve_forever()`` serves in the calling thread (the management command). Both run the
    webhook dispatcher in a thread of its own."""

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        log_requests: bool = False,
        deliver_webhooks: bool = True,
    ) -> None:
        self._httpd = make_wsgi_server(host, port, lambda e, s: self.app(e, s))
        bound_host, bound_port = self._httpd.server_address[:2]
        self.base_url = f"http://{bound_host}:{bound_port}"
        self.app = ShopifySandboxApp(self.base_url, log_requests=log_requests)
        self.dispatcher = Dispatcher() if deliver_webhooks else None
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        return self._httpd.server_address[1]

    def start(self) -> str:
        if self.dispatcher is not None:
            self.dispatcher.start()
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.2}, daemon=True
        )
        self._thread.start()
        return self.base_url

    def serve_forever(self) -> None:
        if self.dispatcher is not None:
            self.dispatcher.start()
        self._httpd.serve_forever(poll_interval=0.2)

    def stop(self) -> None:
        if self._thread is not None:
            self._httpd.shutdown()
            self._thread.join(5)
            self._thread = None
        if self.dispatcher is not None:
            self.dispatcher.stop()
        self._httpd.server_close()
