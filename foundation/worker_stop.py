"""Stopping a django-q2 cluster promptly while a task runs long (issue 14).

django-q2 stops a cluster by letting each worker finish its current task. One of ours runs for
about a minute on purpose (the SQS long poll of Amazon's order changes, ``orders.order_changes``),
so a SIGTERM from a supervisor (docker, systemd, Kubernetes: to the main process only) would
wait that long, and be followed by a SIGKILL that loses the run's work in progress.

So our ``qcluster`` (``foundation/management/commands/qcluster.py``) tells its workers first:

- before any process is forked, the cluster ignores ``STOP_SIGNAL`` (SIGUSR1), so the sentinel,
  pusher and monitor inherit "ignore" and are never killed by it;
- each worker, once spawned (django-q2's ``post_spawn``), handles it by setting a flag;
- on SIGTERM/SIGINT the main process sends ``STOP_SIGNAL`` to every process below it, then
  stops the cluster as django-q2 does;
- a long task checks ``stop_requested()`` between short steps (or sleeps with ``wait``) and
  ends its run early, having finished the step it was in: nothing half done.

Finding the processes below the cluster reads ``/proc`` (Linux); elsewhere nothing is sent and
a stop waits for the task, as before.
"""

from __future__ import annotations

import logging
import os
import signal
import threading
from pathlib import Path

logger = logging.getLogger(__name__)

STOP_SIGNAL = signal.SIGUSR1
_stop = threading.Event()


def stop_requested() -> bool:
    """Whether the cluster this worker belongs to is stopping."""
    return _stop.is_set()


def wait(seconds: float) -> bool:
    """Sleep up to ``seconds``; True (at once) when a stop is requested meanwhile."""
    return _stop.wait(max(0.0, seconds))


def _on_stop_signal(signum, frame) -> None:
    _stop.set()


def install_in_worker(**_signal_kwargs) -> None:
    """django-q2's ``post_spawn`` receiver, in each new worker process."""
    if threading.current_thread() is threading.main_thread():
        signal.signal(STOP_SIGNAL, _on_stop_signal)


def ignore_in_cluster() -> None:
    """In the cluster's main process, before it forks: children inherit "ignore"."""
    signal.signal(STOP_SIGNAL, signal.SIG_IGN)


def descendants(pid: int, proc: Path = Path("/proc")) -> list[int]:
    """Every process below ``pid`` (children, grandchildren, ...), read from /proc."""
    children: dict[int, list[int]] = {}
    try:
        entries = list(proc.iterdir())
    except OSError:
        return []
    for entry in entries:
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue  # gone meanwhile
        # "pid (comm) state ppid ...": comm may hold spaces and parentheses.
        fields = stat[stat.rfind(")") + 2 :].split()
        children.setdefault(int(fields[1]), []).append(int(entry.name))
    found: list[int] = []
    todo = [pid]
    while todo:
        for child in children.get(todo.pop(), ()):
            found.append(child)
            todo.append(child)
    return found


def tell_workers(root_pid: int | None = None) -> int:
    """Send ``STOP_SIGNAL`` to every process below the cluster. Returns how many got it."""
    told = 0
    for pid in descendants(root_pid or os.getpid()):
        try:
            os.kill(pid, STOP_SIGNAL)
            told += 1
        except ProcessLookupError:
            pass
    logger.info("asked %d cluster processes to end their long tasks", told)
    return told


# How long the main process waits to see whether its sentinel received the same signal.
SAME_SIGNAL_WAIT = 0.5


def died_of_the_same_signal(sentinel, wait: float = SAME_SIGNAL_WAIT) -> bool:
    """Whether the cluster's sentinel process ends within ``wait`` seconds, as it does when the
    signal went to the whole process group (a signal to the main process alone leaves it
    running, and django-q2's own stop then takes it down in order)."""
    sentinel.join(wait)
    if not sentinel.is_alive():
        return True
    # The signal may have interrupted the main process in a wait that had just reaped the
    # sentinel (multiprocessing's exit handler joins it) before recording it: then
    # multiprocessing still calls it alive, but there is no such process any more.
    try:
        os.kill(sentinel.pid, 0)
    except ProcessLookupError:
        return True
    return False
