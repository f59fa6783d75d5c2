"""Amazon's SP-API models (../shared/conformance/spapi, read in place, never copied) as
validators: jsonschema's Draft 4 validator over the Swagger 2.0 definitions, resolved through a
``referencing`` registry, with format checks (date-time).

``strict=True`` additionally rejects properties a model does not define (it sets
``additionalProperties: false`` on every object schema that lists properties and says nothing
else), so a typo in the emulator's output cannot hide behind Swagger's open objects.
"""

from __future__ import annotations

import copy
import json
import re
from functools import cache
from typing import Any

from jsonschema import Draft4Validator
from referencing import Registry
from referencing.jsonschema import DRAFT4

from sandbox.amazon.static_cases import models_dir

MODELS_DIR = models_dir()


@cache
def load(model: str) -> dict:
    return json.loads((MODELS_DIR / model).read_text())


def _closed(node: Any) -> Any:
    if isinstance(node, dict):
        node = {k: _closed(v) for k, v in node.items()}
        if "properties" in node and "additionalProperties" not in node:
            node["additionalProperties"] = False
        return node
    if isinstance(node, list):
        return [_closed(v) for v in node]
    return node


@cache
def _registry(model: str, strict: bool) -> Registry:
    doc = load(model)
    if strict:
        doc = _closed(copy.deepcopy(doc))
    return Registry().with_resource(_uri(model, strict), DRAFT4.create_resource(doc))


def _uri(model: str, strict: bool) -> str:
    return f"urn:spapi:{'strict:' if strict else ''}{model}"


def operation(model: str, method: str, path: str) -> dict:
    return load(model)["paths"][path][method.lower()]


def find_operation(model: str, operation_id: str) -> tuple[str, str, dict]:
    for path, methods in load(model)["paths"].items():
        for method, op in methods.items():
            if isinstance(op, dict) and op.get("operationId") == operation_id:
                return method.upper(), path, op
    raise KeyError(operation_id)


def response_schema(model: str, method: str, path: str, status: int) -> dict | None:
    responses = operation(model, method, path)["responses"]
    response = responses.get(str(status))
    if response is None:
        raise AssertionError(f"{method} {path} in {model} documents no {status} response")
    return response.get("schema")


def validate(
    model: str, method: str, path: str, status: int, body: Any, *, strict: bool = True
) -> None:
    """Assert that ``body`` is the documented response of the operation for ``status``."""
    schema = response_schema(model, method, path, status)
    if schema is None:
        assert body in (None, b"", "", {}), f"{status} has no body in the model, got {body!r}"
        return
    if "$ref" in schema:
        schema = {"$ref": _uri(model, strict) + schema["$ref"]}
    validator = Draft4Validator(
        schema, registry=_registry(model, strict), format_checker=Draft4Validator.FORMAT_CHECKER
    )
    errors = sorted(validator.iter_errors(body), key=lambda e: list(e.absolute_path))
    if errors:
        details = "\n".join(
            f"- {'/'.join(str(p) for p in e.absolute_path) or '(root)'}: {e.message[:300]}"
            for e in errors[:15]
        )
        raise AssertionError(f"{method} {path} {status} does not match {model}:\n{details}")


def usage_plan(model: str, method: str, path: str) -> tuple[str, int]:
    """The (rate, burst) of the operation's "Usage Plan" table in its description."""
    description = operation(model, method, path)["description"]
    found = re.search(r"\|\s*([0-9.]+)\s*\|\s*([0-9]+)\s*\|", description)
    assert found, f"no usage plan in {method} {path}"
    return found.group(1), int(found.group(2))
