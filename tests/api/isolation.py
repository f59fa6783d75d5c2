"""The tenant-isolation harness for the partner API: every route under the `api` namespace, and
how to make an object of a given merchant for each.

Register a factory when you add an API route (tests/api/test_isolation.py tells you when one is
missing):

- ``FACTORIES[Model]``: makes a row of ``Model`` owned by a merchant. A route whose only URL
  kwarg is its view's lookup (``/orders/{pk}/``) uses the factory of the view's model (its
  ``queryset.model`` or ``serializer_class.Meta.model``).
- ``ROUTE_KWARGS["route-name"]``: for other routes (nested ones like ``/orders/{pk}/events/``,
  whose kwarg is not the view's own model): returns the URL kwargs of an object owned by a
  merchant.

A factory gets the merchant and writes inside ``tenant_context(merchant)``, as the application
would.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from django.db import models
from django.urls import URLPattern, URLResolver, get_resolver

from tenants.api_auth import HasApiKey
from tenants.models import Merchant
from tenants.scope import tenant_context

NAMESPACE = "api"
_n = itertools.count(1)

FACTORIES: dict[type[models.Model], Callable[[Merchant], models.Model]] = {}
ROUTE_KWARGS: dict[str, Callable[[Merchant], dict[str, Any]]] = {}


def factory(model: type[models.Model]):
    def register(make: Callable[[Merchant], models.Model]):
        FACTORIES[model] = make
        return make

    return register


@factory(Merchant)
def _merchant(merchant: Merchant) -> Merchant:
    return merchant


def _order(merchant: Merchant):
    from tests.support.orders import create_order

    return create_order(merchant, (("SKU-ISO", 1, "10.00"),))


def _register_order() -> None:
    from orders.models import Order

    FACTORIES[Order] = _order


_register_order()
ROUTE_KWARGS["order-events"] = lambda merchant: {"pk": _order(merchant).pk}
ROUTE_KWARGS["order-fulfillments"] = lambda merchant: {"pk": _order(merchant).pk}


def _fulfillment_order(merchant: Merchant):
    """A fulfillment order of one of the merchant's orders, for its own service."""
    from fulfillment import services
    from fulfillment.models import FulfillmentOrder, FulfillmentService

    service = FulfillmentService.objects.filter(merchant=merchant).first()
    if service is None:
        services.create_fulfillment_service(
            name=f"{merchant.name} 3PL", merchant=merchant, issue_api_key=False
        )
    order = _order(merchant)
    with tenant_context(merchant):
        services.prepare_fulfillment_orders(order)
        return FulfillmentOrder.objects.get(order=order)


def _register_fulfillment_order() -> None:
    from fulfillment.models import FulfillmentOrder

    FACTORIES[FulfillmentOrder] = _fulfillment_order


_register_fulfillment_order()


def _refund(merchant: Merchant):
    """A refund of one of the merchant's (shipped) orders."""
    from orders.models import Order
    from refunds import services
    from refunds.policy import RequestedLine

    order = _order(merchant)
    with tenant_context(merchant):
        Order.objects.filter(pk=order.pk).update(status="Shipped", financial_status="paid")
        order.lines.update(quantity_shipped=1)
        line = order.lines.get()
        return services.create_refund(
            order.pk,
            actor=services.Actor.system("isolation harness"),
            lines=[RequestedLine(line.pk, 1)],
        )


def _register_refund() -> None:
    from refunds.models import Refund

    FACTORIES[Refund] = _refund


_register_refund()
ROUTE_KWARGS["order-refunds"] = lambda merchant: {"pk": _order(merchant).pk}
ROUTE_KWARGS["order-cancel"] = lambda merchant: {"pk": _order(merchant).pk}


# --- Walking the routes ----------------------------------------------------------------------


@dataclass(frozen=True)
class Route:
    name: str | None
    path: str
    callback: Callable
    kwargs: frozenset[str]

    @property
    def view_class(self) -> type | None:
        return getattr(self.callback, "cls", None) or getattr(self.callback, "view_class", None)

    @property
    def methods(self) -> list[str]:
        """The HTTP methods the route serves (HEAD and OPTIONS aside)."""
        # A viewset's `actions` (DRF adds "head" to it on the first GET it serves).
        actions = getattr(self.callback, "actions", None)
        cls = self.view_class
        names = actions or [n for n in getattr(cls, "http_method_names", []) if hasattr(cls, n)]
        return sorted(m.upper() for m in names if m not in {"head", "options"})

    @property
    def is_public(self) -> bool:
        perms = getattr(self.view_class, "permission_classes", None)
        if perms is None:  # a plain Django view
            return True
        return not any(issubclass(p, HasApiKey) for p in perms)

    @property
    def model(self) -> type[models.Model] | None:
        cls = self.view_class
        queryset = getattr(cls, "queryset", None)
        if queryset is not None:
            return queryset.model
        meta = getattr(getattr(cls, "serializer_class", None), "Meta", None)
        return getattr(meta, "model", None)

    @property
    def lookup_kwarg(self) -> str | None:
        cls = self.view_class
        return getattr(cls, "lookup_url_kwarg", None) or getattr(cls, "lookup_field", None)


def api_routes() -> list[Route]:
    """Every route of the `api` namespace, as registered now (new routes appear by themselves)."""
    prefix, resolver = get_resolver().namespace_dict[NAMESPACE]
    return list(_walk(resolver.url_patterns, "/" + prefix))


def _walk(patterns, prefix: str) -> Iterator[Route]:
    for pattern in patterns:
        if isinstance(pattern, URLResolver):
            yield from _walk(pattern.url_patterns, prefix + str(pattern.pattern))
        elif isinstance(pattern, URLPattern):
            yield Route(
                name=pattern.name,
                path=prefix + str(pattern.pattern).lstrip("^").rstrip("$"),
                callback=pattern.callback,
                kwargs=frozenset(pattern.pattern.regex.groupindex),
            )


class MissingFactory(LookupError):
    pass


def url_kwargs_for(route: Route, merchant: Merchant) -> dict[str, Any]:
    """URL kwargs naming an object owned by `merchant`, for a route with kwargs."""
    if route.name in ROUTE_KWARGS:
        return ROUTE_KWARGS[route.name](merchant)
    model = route.model
    if route.kwargs == {route.lookup_kwarg} and model in FACTORIES:
        return {route.lookup_kwarg: FACTORIES[model](merchant).pk}
    raise MissingFactory(
        f"Route api:{route.name} ({route.path}) has no isolation factory. Register one in "
        f"tests/api/isolation.py: FACTORIES[{getattr(model, '__name__', 'YourModel')}] = "
        f"make_one(merchant) if its kwarg is the view's lookup, else "
        f"ROUTE_KWARGS[{route.name!r}] = lambda merchant: {{...url kwargs...}}."
    )


def object_for(route: Route, merchant: Merchant) -> models.Model:
    """An object of the list route's model owned by `merchant`."""
    model = route.model
    if model not in FACTORIES:
        name = getattr(model, "__name__", "TheModel")
        raise MissingFactory(
            f"List route api:{route.name} ({route.path}) lists {name}, which has no isolation "
            f"factory: register FACTORIES[{name}] in tests/api/isolation.py."
        )
    return FACTORIES[model](merchant)
