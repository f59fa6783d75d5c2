"""The layers (docs/architecture.md), checked: import-linter's contracts in pyproject.toml hold,
they catch an upward import, and no module of the product imports another app inside a
function to dodge a cycle (AppConfig.ready, which fills the registries, is the one exception)."""

from __future__ import annotations

import ast
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PRODUCT = (
    "foundation",
    "tenants",
    "integrations",
    "notifications",
    "orders",
    "fulfillment",
    "refunds",
    "portal",
    "sandbox",
)


def lint_imports(cwd: Path) -> subprocess.CompletedProcess:
    # The module's own cwd comes first on its path: a copy of the tree is linted as it is.
    return subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys; from importlinter.cli import lint_imports_command; "
            "sys.argv = ['lint-imports', '--no-cache']; lint_imports_command()",
        ],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_the_import_contracts_hold():
    result = lint_imports(ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


@pytest.fixture
def tree_copy(tmp_path: Path) -> Path:
    for package in PRODUCT:
        shutil.copytree(
            ROOT / package, tmp_path / package, ignore=shutil.ignore_patterns("__pycache__")
        )
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    return tmp_path


def test_an_upward_import_breaks_the_layers_contract(tree_copy: Path):
    models = tree_copy / "orders" / "models.py"
    models.write_text(models.read_text() + "\nfrom refunds import selectors  # noqa\n")

    result = lint_imports(tree_copy)

    assert result.returncode != 0
    assert "orders is not allowed to import refunds" in result.stdout
    assert "orders.models -> refunds.selectors" in result.stdout


def test_an_import_inside_a_function_counts_too(tree_copy: Path):
    api = tree_copy / "tenants" / "api.py"
    api.write_text(api.read_text() + "\n\ndef _late():\n    from orders import selectors  # noqa\n")

    result = lint_imports(tree_copy)

    assert result.returncode != 0
    assert "tenants is not allowed to import orders" in result.stdout


def test_the_rules_stay_free_of_django(tree_copy: Path):
    policy = tree_copy / "fulfillment" / "workflow.py"
    policy.write_text(policy.read_text() + "\nfrom django.db import models  # noqa\n")

    result = lint_imports(tree_copy)

    assert result.returncode != 0
    assert "fulfillment.workflow is not allowed to import django" in result.stdout


def function_level_product_imports(base: Path) -> list[str]:
    found = []
    for package in PRODUCT:
        for path in sorted((base / package).rglob("*.py")):
            if "migrations" in path.parts:
                continue
            tree = ast.parse(path.read_text(), filename=str(path))
            for node in ast.walk(tree):
                if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                    continue
                if path.name == "apps.py" and node.name == "ready":
                    continue
                for inner in ast.walk(node):
                    if isinstance(inner, ast.ImportFrom):
                        names = [inner.module or ""]
                    elif isinstance(inner, ast.Import):
                        names = [alias.name for alias in inner.names]
                    else:
                        continue
                    for name in names:
                        if name.split(".")[0] in PRODUCT:
                            where = path.relative_to(base)
                            found.append(f"{where}:{inner.lineno} ({node.name}) imports {name}")
    return found


def test_no_product_module_imports_another_inside_a_function():
    assert function_level_product_imports(ROOT) == []


def test_the_scan_finds_an_import_hidden_in_a_function(tree_copy: Path):
    services = tree_copy / "orders" / "services.py"
    services.write_text(
        services.read_text() + "\n\ndef _hidden():\n    from fulfillment import services\n"
    )
    assert function_level_product_imports(tree_copy) == [
        f"orders/services.py:{len(services.read_text().splitlines())} (_hidden) imports fulfillment"
    ]
