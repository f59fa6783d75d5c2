"""Faults injected for a while: a share of 500/503 answers, 429 storms, added latency, and a
truncated or malformed page.

Rules are kept in ``SandboxState.faults`` (every process sees them); each rule may name the
operations and the seller it applies to, and ends after ``duration_seconds`` (real time) or
after ``count`` injections. The share is applied deterministically: with share 0.25 exactly
every fourth matching request is hit, so tests are reproducible.
"""

from __future__ import annotations

import math
import secrets
import threading
import time
from dataclasses import dataclass
from typing import Any

KINDS = (
    "error_500",
    "error_503",
    "throttle",
    "latency",
    "truncated",
    "malformed",
    # The request takes effect, then the answer is lost (a 500 instead of it): the caller
    # crashed, or the connection dropped, after Amazon did the work.
    "lost_response",
)


def make_rule(data: dict[str, Any]) -> dict[str, Any]:
    """Validate a rule from the control API; raises ValueError."""
    kind = data.get("kind")
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {', '.join(KINDS)}")
    share = float(data.get("share", 1.0))
    if not 0 < share <= 1:
        raise ValueError("share must be in (0, 1]")
    duration = data.get("duration_seconds")
    count = data.get("count")
    if count is not None and int(count) < 1:
        raise ValueError("count must be at least 1")
    latency_ms = int(data.get("latency_ms", 0))
    if kind == "latency" and latency_ms <= 0:
        raise ValueError("a latency fault needs latency_ms > 0")
    operations = data.get("operations") or []
    if not isinstance(operations, list):
        raise ValueError("operations is a list of operation names")
    return {
        "id": data.get("id") or secrets.token_hex(6),
        "kind": kind,
        "share": share,
        "until": time.time() + float(duration) if duration is not None else None,
        "count": int(count) if count is not None else None,
        "operations": [str(o) for o in operations],
        "seller": data.get("seller") or data.get("selling_partner_id") or None,
        "latency_ms": latency_ms,
    }


@dataclass
class Decision:
    kind: str | None = None  # the error/mangling fault to apply, if any
    latency_ms: int = 0


class FaultCounters:
    """Per-rule counters of matching requests and injections (in process memory)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._seen: dict[str, int] = {}
        self._hits: dict[str, int] = {}
        # Injections per kind, lapsed rules included (a rule that ran out is no longer listed).
        self._served: dict[str, int] = {}

    def decide(self, rules: list[dict], operation: str, seller_id: str) -> Decision:
        decision = Decision()
        now = time.time()
        with self._lock:
            for rule in rules:
                if rule.get("until") is not None and now > rule["until"]:
                    continue
                if rule.get("operations") and operation not in rule["operations"]:
                    continue
                if rule.get("seller") and rule["seller"] != seller_id:
                    continue
                rid = rule["id"]
                if rule.get("count") is not None and self._hits.get(rid, 0) >= rule["count"]:
                    continue
                if rule["kind"] != "latency" and decision.kind is not None:
                    continue
                seen = self._seen.get(rid, 0) + 1
                self._seen[rid] = seen
                share = rule.get("share", 1.0)
                if math.floor(seen * share + 1e-9) <= math.floor((seen - 1) * share + 1e-9):
                    continue
                self._hits[rid] = self._hits.get(rid, 0) + 1
                self._served[rule["kind"]] = self._served.get(rule["kind"], 0) + 1
                if rule["kind"] == "latency":
                    decision.latency_ms += int(rule.get("latency_ms", 0))
                else:
                    decision.kind = rule["kind"]
        return decision

    def hits(self) -> dict[str, int]:
        with self._lock:
            return dict(self._hits)

    def served(self) -> dict[str, int]:
        with self._lock:
            return dict(self._served)

    def reset(self) -> None:
        with self._lock:
            self._seen.clear()
            self._hits.clear()
            self._served.clear()


def active(rules: list[dict]) -> list[dict]:
    now = time.time()
    return [r for r in rules if r.get("until") is None or r["until"] >= now]
