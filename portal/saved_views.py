"""Saved views of a portal list ("Save this view"): a user names the list's current query string
and finds it again as a link above the list, in the same merchant scope.

What is stored is checked first: a name (required, unique per user and list, whatever its
case), and a query string of the list's own parameters only (its filters, search and ordering;
the caller passes the names the list knows, ``OrderListToolsMixin.saved_view_parameters``), each
value short. Paging and error markers are dropped. See portal/models.py for why a saved view
belongs to its user rather than to a merchant.
"""

from __future__ import annotations

from django.db import IntegrityError, transaction
from django.db.models import QuerySet
from django.http import QueryDict
from django.utils.http import urlencode
from django.utils.translation import gettext as _

from portal.models import SAVED_VIEW_NAME_LENGTH, SAVED_VIEW_QUERY_LENGTH, SavedListView
from tenants.models import User

# The page number, Django's "bad filter" marker and "show all" are not part of a view.
IGNORED_PARAMETERS = frozenset({"p", "e", "all", "_changelist_filters"})
MAX_VALUE_LENGTH = 200
MAX_VIEWS_PER_LIST = 50


class SavedViewRefused(ValueError):
    """Why a view cannot be saved, in words for the person saving it."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


def scope_merchant_id(scope: frozenset[int]) -> int | None:
    """The scope a view belongs to: its one merchant, or None for "All my merchants"."""
    return next(iter(scope)) if len(scope) == 1 else None


def clean_query(query: QueryDict, allowed: frozenset[str] | set[str]) -> str:
    """The query string to store: only ``allowed`` parameters, short values, no empty ones."""
    pairs: list[tuple[str, str]] = []
    for name, values in query.lists():
        if name in IGNORED_PARAMETERS:
            continue
        if name not in allowed:
            raise SavedViewRefused(
                _("“%(name)s” is not a filter of this list, so the view cannot be saved.")
                % {"name": name[:40]}
            )
        for value in values:
            if value == "":
                continue
            if len(value) > MAX_VALUE_LENGTH:
                raise SavedViewRefused(_("A filter or search of this view is too long to save."))
            pairs.append((name, value))
    text = urlencode(pairs)
    if len(text) > SAVED_VIEW_QUERY_LENGTH:
        raise SavedViewRefused(_("This view has too many filters to save."))
    return text


def views_for(user: User, page: str, merchant_id: int | None) -> QuerySet[SavedListView]:
    """The user's saved views of the list ``page`` in the scope (their own only)."""
    return SavedListView.objects.filter(user=user, page=page, merchant_id=merchant_id).order_by(
        "name", "id"
    )


@transaction.atomic
def save_view(
    *, user: User, page: str, merchant_id: int | None, name: str, query: str
) -> SavedListView:
    """Save the list's query string (cleaned by ``clean_query``) under ``name``."""
    name = " ".join((name or "").split())
    if not name:
        raise SavedViewRefused(_("Give the view a name."))
    if len(name) > SAVED_VIEW_NAME_LENGTH:
        raise SavedViewRefused(
            _("Keep the name under %(max)d characters.") % {"max": SAVED_VIEW_NAME_LENGTH}
        )
    taken = _(
        "You already have a view named “%(name)s” (perhaps under another merchant): choose "
        "another name, or delete that view first."
    ) % {"name": name}
    mine = SavedListView.objects.filter(user=user, page=page)
    if mine.filter(name__iexact=name).exists():
        raise SavedViewRefused(taken)
    if mine.count() >= MAX_VIEWS_PER_LIST:
        raise SavedViewRefused(
            _("You have %(max)d saved views of this list: delete one first.")
            % {"max": MAX_VIEWS_PER_LIST}
        )
    try:
        with transaction.atomic():
            return SavedListView.objects.create(
                user=user, page=page, merchant_id=merchant_id, name=name, query=query
            )
    except IntegrityError as exc:  # saved at the same moment from another tab
        raise SavedViewRefused(taken) from exc


def delete_view(*, user: User, view_id: int) -> bool:
    """Delete one of the user's own views; False when they have none with that id."""
    deleted, _counts = SavedListView.objects.filter(pk=view_id, user=user).delete()
    return bool(deleted)
