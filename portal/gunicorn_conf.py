"""gunicorn's configuration for Keelson (the demo runs it; so does production, see the README):

    gunicorn -c portal/gunicorn_conf.py --bind 0.0.0.0:8000 portal.wsgi:application

Threads, not only processes: most of a request's time is spent waiting on PostgreSQL, and a
thread holds no more than its one database connection. Sized by environment variables, with
defaults for a small machine (2 cores). Django's development server is not used: it resets
connections when many clients call at once.
"""

import os

wsgi_app = "portal.wsgi:application"
bind = os.environ.get("KEELSON_WEB_BIND", "127.0.0.1:8000")
worker_class = "gthread"
workers = int(os.environ.get("KEELSON_WEB_WORKERS", "2"))
threads = int(os.environ.get("KEELSON_WEB_THREADS", "16"))
# Connections beyond the threads wait in the kernel's queue, not refused.
backlog = int(os.environ.get("KEELSON_WEB_BACKLOG", "2048"))
timeout = int(os.environ.get("KEELSON_WEB_TIMEOUT", "60"))
graceful_timeout = int(os.environ.get("KEELSON_WEB_GRACEFUL_TIMEOUT", "10"))
keepalive = 5
# Empty: no access log.
accesslog = os.environ.get("KEELSON_WEB_ACCESS_LOG", "-") or None
errorlog = "-"
loglevel = os.environ.get("KEELSON_WEB_LOG_LEVEL", "info")
# The proxy in front terminates TLS; it is trusted to say so (SECURE_PROXY_SSL_HEADER).
forwarded_allow_ips = os.environ.get("KEELSON_WEB_FORWARDED_ALLOW_IPS", "127.0.0.1")
