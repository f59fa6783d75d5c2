"""Cursor pagination for every list: `?limit=` (max 200) and an opaque `next` URL (api.md)."""

from rest_framework import pagination


class CursorPagination(pagination.CursorPagination):
    page_size = 50
    page_size_query_param = "limit"
    max_page_size = 200
    # Newest first, with the primary key as tie-breaker so pages are stable under inserts.
    ordering = ("-id",)
