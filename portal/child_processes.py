"""Child processes that do not outlive the process that started them (issue 14).

The demo's supervisor (``manage.py demo``) and ``portal.database run`` stop their children in
order when they are asked to. Killed outright (SIGKILL, the OOM killer), they cannot: so each
child is also tied to its parent with Linux's ``PR_SET_PDEATHSIG``, and the kernel sends it
SIGTERM the moment the parent dies; each child then stops the way it would on a SIGTERM
(a qcluster ends its tasks, a server closes). Elsewhere than Linux this is a no-op.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import signal
import sys
from collections.abc import Callable

PR_SET_PDEATHSIG = 1


def _prctl() -> Callable | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
    except OSError:
        return None
    return libc.prctl


def die_with_parent(sig: int = signal.SIGTERM) -> Callable[[], None] | None:
    """A ``preexec_fn`` for ``subprocess.Popen``: the child gets ``sig`` when this process
    dies. None where the kernel has no such thing (then Popen runs nothing extra)."""
    prctl = _prctl()
    if prctl is None:
        return None
    parent = os.getpid()

    def preexec() -> None:
        prctl(PR_SET_PDEATHSIG, int(sig), 0, 0, 0)
        if os.getppid() != parent:  # the parent died before the line above: too late to ask
            os.kill(os.getpid(), sig)

    return preexec
