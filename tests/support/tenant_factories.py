"""Factories for the isolation harness: one per model that has a portal ModelAdmin.

Every model registered on ``portal_site`` needs a factory that creates a row belonging to a
given merchant (inside its tenant scope), so ``tests/portal/test_isolation.py`` can check that
other tenants never see it. Register one in ``tests/<app>/factories.py``::

    from tests.support.tenant_factories import tenant_factory

    @tenant_factory(Order)
    def make_order(merchant):
        with tenant_context(merchant):
            return Order.objects.create(merchant=merchant, ...)

Modules named ``tests.<app>.factories`` are imported by ``load_all()``.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable

from django.db.models import Model

import tests

Factory = Callable[..., Model]
FACTORIES: dict[type[Model], Factory] = {}


def tenant_factory(model: type[Model]) -> Callable[[Factory], Factory]:
    def register(func: Factory) -> Factory:
        FACTORIES[model] = func
        return func

    return register


def load_all() -> dict[type[Model], Factory]:
    """Import every ``tests.<package>.factories`` module, and return the registry."""
    for module in pkgutil.iter_modules(tests.__path__):
        if module.ispkg:
            try:
                importlib.import_module(f"tests.{module.name}.factories")
            except ModuleNotFoundError as exc:
                if exc.name != f"tests.{module.name}.factories":
                    raise
    return FACTORIES


def factory_for(model: type[Model]) -> Factory | None:
    return load_all().get(model)
