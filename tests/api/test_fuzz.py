"""The whole partner API fuzzed from its own OpenAPI document by schemathesis (issue 14).

schemathesis' engine runs every phase (the schema's examples, coverage of every parameter's
edges, property-based fuzzing, and stateful sequences following the schema's links,
portal/api/links.py) with every check against a live test server over a seeded database
(tests/api/fuzz_seed.py), once as a merchant's key and once as its fulfillment service's key.
Another agency's key of the same kind is the peer the object-level authorization check replays
every read as: it must never get the first key's objects.

The server is gunicorn as production runs it (one worker, threads), over the test database:
not in-process WSGI, where schemathesis' auth probes pass requests' transport options
(``max_redirects``) that its WSGI transport refuses, nor a server thread competing with the
fuzzer for the GIL. Rate limits are out of reach there (tests/support/processes.py), while the
429 is in the schema for the response checks.

What is configured away, each for a stated reason (``DATA_DEPENDENT``): a request valid by the
schema that the use case refuses after looking at the database, because the schema cannot say
which values exist (a line id of another order, a page cursor nobody issued) or the rule is
Amazon's (tracking, carrier and ship date, R3). Only that exact refusal, a 400 naming only those
fields, is dropped; anything else about the same request still fails.

The run is deterministic (a fixed seed) and bounded; a deeper hunt:
``KEELSON_FUZZ_EXAMPLES=150 .venv/bin/python -m pytest tests/api/test_fuzz.py`` (the examples
per operation and phase; the stateful phase scales with it).
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field

import pytest
import schemathesis
from schemathesis.config import SchemathesisConfig
from schemathesis.engine import Status, events
from schemathesis.openapi.checks import RejectedPositiveData

from tests.api.fuzz_seed import seed_tenant
from tests.support.processes import web_server

# The timeout is for a loaded machine; on CI each test takes well under a minute.
pytestmark = [
    pytest.mark.slow,
    pytest.mark.django_db(transaction=True),
    pytest.mark.timeout(900),
]

EXAMPLES = int(os.environ.get("KEELSON_FUZZ_EXAMPLES", "10"))
PHASES = ("examples", "coverage", "fuzzing", "stateful")

# Every check schemathesis has (`max_response_time` needs a limit: timing is not asserted here).
CHECKS = {
    "not_a_server_error",
    "status_code_conformance",
    "content_type_conformance",
    "response_schema_conformance",
    "response_headers_conformance",
    "positive_data_acceptance",
    "negative_data_rejection",
    "use_after_free",
    "ensure_resource_availability",
    "missing_required_header",
    "ignored_auth",
    "object_level_authorization",
    "unsupported_method",
    "allow_header_conformance",
}

# Fields whose valid-looking values the use case may refuse (400 validation_error) on data the
# schema cannot describe. Each refusal has its own tests.
DATA_DEPENDENT = {
    # Line ids are global: `line: 1` is schema-valid, but on another order's line it is refused
    # (tests/refunds/test_api.py, tests/fulfillment/test_api.py).
    "line": "a line of another order",
    # A cursor is opaque: only a `next` link holds one we issued (tests/api/test_pagination.py).
    "cursor": "a page cursor nobody issued",
    # Amazon refuses a shipment confirmation whose carrier is not one of its codes without a
    # name, whose tracking number is malformed, or whose ship date is in the future or before
    # the order (R3); Keelson refuses them before sending (tests/fulfillment).
    "tracking_number": "Amazon's tracking rule",
    "carrier": "Amazon's carrier rule",
    "carrier_name": "Amazon's carrier rule",
    "ship_date": "Amazon's ship-date rule",
}


def _field(path: str) -> str:
    """``lines[0].line`` -> ``line``."""
    return re.split(r"[.\]]", path)[-1].lstrip("[")


def keep_failure(context, failure, case, response) -> bool:
    """Drop only a schema-valid request refused with a 400 on data-dependent fields alone."""
    if not isinstance(failure, RejectedPositiveData) or response.status_code != 400:
        return True
    try:
        errors = response.json().get("errors") or {}
    except ValueError:
        return True
    return not (errors and {_field(path) for path in errors} <= DATA_DEPENDENT.keys())


@dataclass
class Report:
    cases: int = 0
    failures: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    phases: set[str] = field(default_factory=set)
    checks: set[str] = field(default_factory=set)
    statuses: dict[int, int] = field(default_factory=dict)
    dropped: int = 0  # data-dependent refusals (DATA_DEPENDENT)
    links: int = 0  # the stateful phase's transitions (the schema's links it follows)

    def summary(self) -> str:
        return "\n\n".join([*self.failures, *self.errors])


def run_schemathesis(
    base_url: str, tmp_path, identity: str, keys: dict[str, str], phases
) -> Report:
    auth = tmp_path / "auth.json"
    auth.write_text(
        json.dumps(
            {
                "auth": [
                    {
                        "name": name,
                        "fixedHeaders": [{"name": "Authorization", "value": f"Bearer {key}"}],
                    }
                    for name, key in keys.items()
                ]
            }
        )
    )
    config = SchemathesisConfig.from_dict(
        {
            "seed": 20261207,
            "base-url": base_url,
            "auth": {"wfc": {"path": str(auth), "user": identity, "peers": list(keys)}},
            "generation": {"max-examples": EXAMPLES, "deterministic": True},
            "phases": {name: {"enabled": name in phases} for name in PHASES},
            "checks": {
                "enabled": True,
                # 409 and 422 are the use case refusing valid input on a business rule (an
                # amount over the balance, a state the action does not apply in): api.md.
                "positive_data_acceptance": {
                    "expected-statuses": ["2xx", "401", "403", "404", "409", "422", "429"]
                },
            },
            "request-timeout": 60,
        }
    )
    schema = schemathesis.openapi.from_url(f"{base_url}/api/v1/schema/", config=config)
    schema.hook("filter_failure")(keep_failure)
    report = Report()
    for event in schemathesis.engine.from_schema(schema).execute():
        if isinstance(event, events.ScenarioFinished):
            report.phases.add(event.phase.value)
            recorder = event.recorder
            report.cases += len(recorder.cases)
            report.dropped += sum(recorder.filtered_failures.values())
            for interaction in recorder.interactions.values():
                if interaction.response is not None:
                    status = interaction.response.status_code
                    report.statuses[status] = report.statuses.get(status, 0) + 1
            for checks in recorder.checks.values():
                for check in checks:
                    report.checks.add(check.name)
                    if check.status == Status.FAILURE and check.failure_info is not None:
                        failure = check.failure_info.failure
                        report.failures.append(
                            f"[{event.phase.value}] {recorder.label} {check.name}: "
                            f"{failure.title}\n{failure.message}\n"
                            f"{check.failure_info.code_sample}"
                        )
        elif isinstance(event, events.PhaseStarted) and event.payload is not None:
            report.links = event.payload.transitions_selected
        elif isinstance(event, events.NonFatalError):
            report.errors.append(f"[{event.phase}] {event.label}: {event.info.format()}")
        elif isinstance(event, events.FatalError):
            report.errors.append(f"fatal: {event.exception!r}")
    return report


@pytest.fixture
def tenants():
    return seed_tenant("Fuzz Goods"), seed_tenant("Peer Supplies")


@pytest.fixture
def server(tmp_path, tenants):
    # One worker: the machine's other core is the fuzzer's.
    with web_server(
        tmp_path / "gunicorn.log", KEELSON_WEB_WORKERS="1", KEELSON_WEB_THREADS="8"
    ) as base:
        yield base


# One engine run per key, every phase in order, as schemathesis' CLI runs them: values the API
# answered in the earlier phases (ids of orders, lines, refunds) feed the later ones.
@pytest.mark.parametrize("identity", ["merchant", "service"])
def test_the_api_keeps_its_contract_under_fuzzing(server, tmp_path, tenants, identity):
    ours, peer = tenants
    key_of = {"merchant": lambda t: t.merchant_key, "service": lambda t: t.service_key}[identity]
    report = run_schemathesis(
        server, tmp_path, identity, {identity: key_of(ours), "peer": key_of(peer)}, PHASES
    )
    print(
        f"{identity}: {report.cases} cases, {len(report.failures)} failures, "
        f"{report.dropped} data-dependent refusals dropped, statuses "
        f"{dict(sorted(report.statuses.items()))}, {report.links} links followed by the "
        f"stateful phase, {len(report.checks)} checks"
    )
    assert report.failures == [] and report.errors == [], report.summary()
    assert report.phases == set(PHASES)
    assert report.checks == CHECKS
    assert report.cases > 0
