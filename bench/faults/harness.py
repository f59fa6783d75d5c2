"""What the fault scenarios share: a deadline that fails with what was seen, a qcluster that
is killed with SIGKILL and started again, the emulator's faults (a share of 5xx for the whole
run, 429 storms at random moments), and the counts they end with."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

# One in ten SP-API calls answers 5xx: half 500 InternalFailure, half 503 ServiceUnavailable
# (the emulator's second rule sees the calls the first let through: 0.05 + 0.95 x 1/19 = 0.10).
ERROR_RULES = (("error_500", 0.05), ("error_503", 1 / 19))


class DeadlineExceeded(AssertionError):
    pass


@dataclass
class Deadline:
    seconds: float
    started: float = field(default_factory=time.monotonic)

    @property
    def left(self) -> float:
        return self.seconds - (time.monotonic() - self.started)

    @property
    def elapsed(self) -> float:
        return time.monotonic() - self.started

    def check(self, what: str, seen: Callable[[], object] | None = None) -> None:
        if self.left <= 0:
            detail = f"; seen: {seen()}" if seen else ""
            raise DeadlineExceeded(
                f"deadline of {self.seconds:.0f} s exceeded while waiting for {what}{detail}"
            )

    def wait_for(
        self,
        what: str,
        check: Callable[[], object],
        *,
        seen: Callable[[], object] | None = None,
        every: float = 0.2,
        between: Callable[[], None] | None = None,
    ) -> object:
        while True:
            found = check()
            if found:
                return found
            self.check(what, seen)
            if between:
                between()
            time.sleep(every)


class Cluster:
    """A real ``manage.py qcluster`` in its own process group; ``kill()`` is SIGKILL to the
    whole group (cluster, sentinel, pusher, monitor, workers), as an OOM killer or a lost host
    would do it; ``start()`` starts a new one."""

    def __init__(self, env: dict[str, str], log_dir: Path, name: str = "qcluster"):
        self.env = env
        self.log_dir = log_dir
        self.name = name
        self.proc: subprocess.Popen | None = None
        self.starts = 0
        self.kills = 0

    def start(self) -> None:
        self.log_dir.mkdir(parents=True, exist_ok=True)
        self.starts += 1
        log = open(self.log_dir / f"{self.name}-{os.getpid()}-{self.starts}.log", "wb")
        self.proc = subprocess.Popen(
            [sys.executable, str(ROOT / "manage.py"), "qcluster"],
            cwd=ROOT,
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        log.close()

    def kill(self) -> None:
        if self.proc is None:
            return
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.proc.wait(10)
        self.kills += 1
        self.proc = None

    def stop(self) -> None:
        """SIGTERM (a supervisor's stop), then SIGKILL what is left."""
        if self.proc is None:
            return
        try:
            os.killpg(self.proc.pid, signal.SIGTERM)
            self.proc.wait(15)
        except ProcessLookupError:
            pass
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(5)
        self.proc = None

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None


class Storms:
    """429 storms: ``gap`` seconds (seeded) after the last one, the next ``calls`` (a range)
    matching SP-API calls answer 429 QuotaExceeded, for at most ``seconds`` (a range). The
    sync's gateway tries a call four times: a longer storm makes the run yield, and Amazon's
    pace for the operation (x-amzn-RateLimit-Limit: searchOrders 0.0056/s) puts its next run
    up to a minute later, as it would at Amazon.

    A storm also lapses after its time, as Amazon's throttling does: one kept until "the next
    calls" came met every retry of a caller that backs off for longer than the gap, and with
    one call left to make (a feed's ``createFeed``) the run never ended (seen in CI: four
    refunds pending for 400 s). Long enough to meet the calls of a busy caller (the sync, the
    outbox draining), short enough that a caller backing off for a minute gets through."""

    def __init__(
        self,
        control,
        rng: random.Random,
        operations: list[str] | None = None,
        calls: tuple[int, int] = (2, 4),
        gap: tuple[float, float] = (5.0, 15.0),
        seconds: tuple[float, float] = (5.0, 15.0),
    ):
        self.control = control
        self.rng = rng
        self.operations = operations or []
        self.calls = calls
        self.gap = gap
        self.seconds = seconds
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="429-storms", daemon=True)
        self.storms = 0

    def __enter__(self) -> Storms:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join(10)

    def _loop(self) -> None:
        # One storm at a time: the next begins a few seconds after the last one is spent.
        last_id = None
        while not self._stop.wait(self.rng.uniform(*self.gap)):
            try:
                if last_id is not None and not self._spent(last_id):
                    continue
                rule = {
                    "count": self.rng.randint(*self.calls),
                    "duration_seconds": self.rng.uniform(*self.seconds),
                }
                if self.operations:
                    rule["operations"] = self.operations
                rules = self.control.inject_fault("throttle", **rule)["faults"]
                last_id = rules[-1]["id"]
                self.storms += 1
            except Exception as exc:  # the emulator is busy: the next storm comes anyway
                print(f"  (storm not injected: {exc})", flush=True)

    def _spent(self, rule_id: str) -> bool:
        for rule in self.control.faults()["faults"]:
            if rule["id"] == rule_id:
                return rule["hits"] >= rule["count"]
        return True


def inject_errors(control, operations: list[str] | None = None) -> None:
    """A share of 5xx for the whole run (rules end with ``clear_faults``)."""
    for kind, share in ERROR_RULES:
        rule = {"share": share, "duration_seconds": 24 * 3600}
        if operations:
            rule["operations"] = operations
        control.inject_fault(kind, **rule)


def served(control) -> dict[str, int]:
    """5xx and 429 answers the emulator's fault rules gave so far (lapsed storms included)."""
    served = control.faults()["served"]
    return {
        "5xx": served.get("error_500", 0) + served.get("error_503", 0),
        "429": served.get("throttle", 0),
    }


def kill_plan(rng: random.Random, kills: int, steps: int) -> list[int]:
    """At which points of progress (1 .. steps-1) the cluster is killed: distinct, sorted."""
    if steps - 1 < kills:
        raise ValueError(f"{kills} kills need more than {kills} steps of progress")
    return sorted(rng.sample(range(1, steps), kills))


def print_counts(title: str, counts: dict) -> None:
    print(title)
    width = max(len(k) for k in counts)
    for key, value in counts.items():
        print(f"  {key:<{width}}  {value}")
    sys.stdout.flush()
