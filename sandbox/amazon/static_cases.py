"""Amazon's static sandbox: the ``x-amzn-api-sandbox`` cases of the models, served for their
documented inputs, like Amazon's sandbox hosts do (under the emulator's ``/sandbox-static``).

The models are read at run time from ``KEELSON_SPAPI_MODELS`` (default
``../shared/conformance/spapi`` next to the project); nothing is copied into the project.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

from django.conf import settings

MODEL_FILES = (
    "ordersV0.json",
    "orders_2026-01-01.json",
    "feeds_2021-06-30.json",
    "financesV0.json",
    "notifications.json",
)
NO_MATCH = {
    "errors": [{"code": "InvalidInput", "message": "Could not match input arguments"}],
}


def models_dir() -> Path:
    explicit = os.environ.get("KEELSON_SPAPI_MODELS")
    if explicit:
        return Path(explicit)
    return Path(settings.BASE_DIR).parent / "shared" / "conformance" / "spapi"


@dataclass
class Case:
    status: int
    parameters: dict[str, Any]
    response: Any


@dataclass
class StaticOperation:
    model: str
    operation_id: str
    method: str
    path: str
    regex: re.Pattern
    body_properties: frozenset[str] | None
    cases: list[Case] = field(default_factory=list)


def _resolve(doc: dict, schema: dict) -> dict:
    while "$ref" in schema:
        ref = schema["$ref"]
        node: Any = doc
        for part in ref.lstrip("#/").split("/"):
            node = node[part]
        schema = node
    return schema


@cache
def operations() -> tuple[StaticOperation, ...]:
    found = []
    for name in MODEL_FILES:
        path = models_dir() / name
        if not path.exists():
            continue
        doc = json.loads(path.read_text())
        for template, methods in doc.get("paths", {}).items():
            regex = re.compile("^" + re.sub(r"\{(\w+)\}", r"(?P<\1>[^/]+)", template) + "$")
            for method, op in methods.items():
                if method == "parameters" or not isinstance(op, dict) or "operationId" not in op:
                    continue
                body_properties = None
                for param in op.get("parameters", []):
                    if param.get("in") == "body":
                        schema = _resolve(doc, param.get("schema", {}))
                        body_properties = frozenset(schema.get("properties", {}))
                static = StaticOperation(
                    name, op["operationId"], method.upper(), template, regex, body_properties
                )
                for code, response in op.get("responses", {}).items():
                    sandbox = response.get("x-amzn-api-sandbox") or {}
                    for case in sandbox.get("static", []):
                        static.cases.append(
                            Case(
                                int(code),
                                (case.get("request") or {}).get("parameters") or {},
                                case.get("response"),
                            )
                        )
                found.append(static)
    return tuple(found)


def _as_strings(value: Any) -> list[str]:
    values = value if isinstance(value, list) else [value]
    out = []
    for v in values:
        if isinstance(v, bool):
            out.append("true" if v else "false")
        else:
            out.append(str(v))
    return out


def _query_values(query: dict[str, list[str]], name: str) -> list[str] | None:
    if name not in query:
        return None
    values: list[str] = []
    for raw in query[name]:
        values.extend(part for part in raw.split(",") if part != "")
    return values


def _body_matches(expected: Any, actual: Any, properties: frozenset[str] | None) -> bool:
    if not isinstance(expected, dict) or not isinstance(actual, dict):
        return expected == actual
    if properties is not None:
        actual = {k: v for k, v in actual.items() if k in properties}
    return expected == actual


def find(
    method: str, path: str, query: dict[str, list[str]], body: Any
) -> tuple[StaticOperation | None, Case | None]:
    """The most specific case matching the request (most matched parameters wins)."""
    for op in operations():
        if op.method != method:
            continue
        found = op.regex.match(path)
        if not found:
            continue
        path_params = found.groupdict()
        best: tuple[int, Case] | None = None
        for case in op.cases:
            score = 0
            for name, spec in case.parameters.items():
                value = (spec or {}).get("value")
                if name == "body":
                    ok = _body_matches(value, body, op.body_properties)
                elif name in path_params:
                    ok = _as_strings(value) == [path_params[name]]
                else:
                    ok = _query_values(query, name) == _as_strings(value)
                if not ok:
                    break
                score += 1
            else:
                if best is None or score > best[0]:
                    best = (score, case)
        return op, best[1] if best else None
    return None, None
