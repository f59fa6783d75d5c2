"""What the portal adds to the order list (composed in portal/admin.py): saved views above the
list, and the bulk actions that run as background jobs with a progress page.

- Saved views (portal.saved_views): "Save this view" stores the list's query string under a
  name, for this user and this merchant scope; the user's views are links above the list, each
  with a delete button. Only the list's own filter, search and ordering parameters are kept.
- Bulk jobs (portal.bulk_jobs): "Confirm shipment on Amazon" (A7; asks for the tracking number
  first, on fulfillment's page) and "Request fulfillment" (F1) record a job over the selected
  orders and redirect to its page, which refreshes itself until the worker is done; "Bulk jobs"
  lists the user's recent ones. Both need the change capability: a role without it sees neither
  action, and a forged POST of one is refused with 403.
"""

from __future__ import annotations

import copy

from django.contrib import admin, messages
from django.contrib.admin.options import IncorrectLookupParameters
from django.contrib.admin.utils import get_fields_from_path
from django.contrib.admin.views.main import ORDER_VAR, SEARCH_VAR
from django.core.exceptions import PermissionDenied, SuspiciousOperation
from django.db.models import QuerySet
from django.http import Http404, HttpRequest, HttpResponseRedirect, QueryDict
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_POST

from foundation.i18n import localize
from fulfillment.admin import shipment_from_post
from portal import bulk_jobs, saved_views
from portal.models import BulkJobKind
from tenants.request_scope import allowed_merchant_ids, request_scope

JOB_REFRESH_SECONDS = 2


class SavedViewsAdminMixin:
    """Saved views of a portal changelist (any TenantScopedAdminMixin admin whose changelist
    offers ``changelist_without_results``)."""

    list_before_template = "portal/saved_views.html"

    def saved_view_page(self) -> str:
        return f"{self.opts.app_label}_{self.opts.model_name}"

    def changelist_url(self) -> str:
        return reverse(f"portal:{self.saved_view_page()}_changelist")

    def saved_view_parameters(self, request: HttpRequest, query: QueryDict) -> set[str]:
        """The parameter names the list itself understands for ``query``: its search, its
        ordering, and its filters' (also those not shown now: the day filters show only while
        set, the merchant filter only with orders of several merchants). ``query`` must also
        be one the list accepts."""
        probe = copy.copy(request)
        probe.GET = query
        try:
            changelist = self.changelist_without_results(probe)
        except (IncorrectLookupParameters, SuspiciousOperation) as exc:
            raise saved_views.SavedViewRefused(
                _("These filters don't fit this list: choose them again on the list, then save.")
            ) from exc
        names = {SEARCH_VAR, ORDER_VAR}
        for spec in changelist.filter_specs:
            names.update(spec.expected_parameters())
        for item in self.get_list_filter(request):
            if isinstance(item, type) and issubclass(item, admin.SimpleListFilter):
                names.add(item.parameter_name)
                continue
            field_path = item[0] if isinstance(item, (tuple, list)) else item
            if not isinstance(field_path, str):
                continue
            field = get_fields_from_path(self.model, field_path)[-1]
            exact = f"{field.target_field.name}__exact" if field.is_relation else "exact"
            names.update({f"{field_path}__{exact}", f"{field_path}__isnull"})
        return names

    def saved_views_context(self, request: HttpRequest) -> dict:
        page = self.saved_view_page()
        merchant_id = saved_views.scope_merchant_id(request_scope(request))
        current = request.GET.copy()
        for ignored in saved_views.IGNORED_PARAMETERS:
            current.pop(ignored, None)
        current_query = current.urlencode()
        base = self.changelist_url()
        return {
            "saved_views": [
                {
                    "name": view.name,
                    "url": base + ("?" + view.query if view.query else ""),
                    "active": view.query == current_query,
                    "delete_url": reverse(f"portal:{page}_saved_view_delete", args=[view.pk]),
                }
                for view in saved_views.views_for(request.user, page, merchant_id)
            ],
            "save_view_url": reverse(f"portal:{page}_saved_view_save"),
            "current_query": current_query,
        }

    def changelist_view(self, request: HttpRequest, extra_context=None):
        extra = dict(extra_context or {})
        if self.has_view_permission(request):
            extra.update(self.saved_views_context(request))
        return super().changelist_view(request, extra)

    def get_urls(self):
        page = self.saved_view_page()
        return [
            path(
                "saved-views/save/",
                self.admin_site.admin_view(require_POST(self.save_view_view)),
                name=f"{page}_saved_view_save",
            ),
            path(
                "saved-views/<int:view_id>/delete/",
                self.admin_site.admin_view(require_POST(self.delete_view_view)),
                name=f"{page}_saved_view_delete",
            ),
            *super().get_urls(),
        ]

    def save_view_view(self, request: HttpRequest) -> HttpResponseRedirect:
        if not self.has_view_permission(request):
            raise PermissionDenied
        raw = QueryDict(request.POST.get("query", "")[:4000])
        back = self.changelist_url()
        try:
            query = saved_views.clean_query(raw, self.saved_view_parameters(request, raw))
            view = saved_views.save_view(
                user=request.user,
                page=self.saved_view_page(),
                merchant_id=saved_views.scope_merchant_id(request_scope(request)),
                name=request.POST.get("name", ""),
                query=query,
            )
        except saved_views.SavedViewRefused as exc:
            messages.error(request, localize(exc.message))
            return HttpResponseRedirect(back + ("?" + raw.urlencode() if raw else ""))
        messages.success(request, _("View “%(name)s” saved.") % {"name": view.name})
        return HttpResponseRedirect(back + ("?" + view.query if view.query else ""))

    def delete_view_view(self, request: HttpRequest, view_id: int) -> HttpResponseRedirect:
        if not saved_views.delete_view(user=request.user, view_id=view_id):
            raise Http404(_("No such saved view."))
        messages.success(request, _("Saved view deleted."))
        back = request.POST.get("next", "")
        if not url_has_allowed_host_and_scheme(back, allowed_hosts={request.get_host()}):
            back = self.changelist_url()
        return HttpResponseRedirect(back)


class BulkJobActionsMixin:
    """The order list's bulk actions as background jobs, and the job pages."""

    job_actions = ("confirm_shipments_on_amazon", "request_fulfillment_in_bulk")

    def changelist_view(self, request: HttpRequest, extra_context=None):
        action = request.POST.get("action") if request.method == "POST" else None
        if action in self.job_actions and action not in self.get_actions(request):
            # The role may not do it (the action is not offered): say so, do not ignore it.
            raise PermissionDenied
        extra = dict(extra_context or {})
        extra["bulk_jobs_url"] = reverse("portal:orders_order_bulk_jobs")
        return super().changelist_view(request, extra)

    def get_urls(self):
        return [
            path(
                "jobs/",
                self.admin_site.admin_view(self.bulk_jobs_view),
                name="orders_order_bulk_jobs",
            ),
            path(
                "jobs/<int:job_id>/",
                self.admin_site.admin_view(self.bulk_job_view),
                name="orders_order_bulk_job",
            ),
            *super().get_urls(),
        ]

    def _start(
        self, request: HttpRequest, kind: BulkJobKind, queryset: QuerySet, payload: dict
    ) -> HttpResponseRedirect | None:
        orders = list(queryset.order_by("-purchase_date", "-id")[: bulk_jobs.MAX_ORDERS + 1])
        if not orders:
            self.message_user(
                request, _("None of the selected orders can be changed by you."), messages.ERROR
            )
            return None
        try:
            job = bulk_jobs.start_job(kind, user=request.user, orders=orders, payload=payload)
        except bulk_jobs.TooManyOrders as exc:
            self.message_user(request, localize(exc.message), messages.ERROR)
            return None
        return HttpResponseRedirect(reverse("portal:orders_order_bulk_job", args=[job.pk]))

    @admin.action(
        description=gettext_lazy("Confirm shipment on Amazon (A7)"), permissions=["change"]
    )
    def confirm_shipments_on_amazon(self, request: HttpRequest, queryset: QuerySet):
        """A7: first fulfillment's page (what happens to each order, the tracking number for
        those not fulfilled yet), then a job over the orders."""
        if request.POST.get("apply") != "yes":
            return super().confirm_shipments_on_amazon(request, queryset)
        payload = bulk_jobs.shipment_payload(shipment_from_post(request))
        return self._start(request, BulkJobKind.CONFIRM_SHIPMENTS, queryset, payload)

    @admin.action(description=gettext_lazy("Request fulfillment (F1)"), permissions=["change"])
    def request_fulfillment_in_bulk(self, request: HttpRequest, queryset: QuerySet):
        """F1 for each selected order: its unrequested items go to their services."""
        return self._start(request, BulkJobKind.REQUEST_FULFILLMENT, queryset, {})

    # -- the job pages --------------------------------------------------------------------------

    def _page(self, request: HttpRequest, template: str, context: dict) -> TemplateResponse:
        if not self.has_view_permission(request):
            raise PermissionDenied
        request.current_app = self.admin_site.name
        return TemplateResponse(
            request,
            template,
            {
                **self.admin_site.each_context(request),
                "opts": self.opts,
                "changelist_url": reverse("portal:orders_order_changelist"),
                "jobs_url": reverse("portal:orders_order_bulk_jobs"),
                **context,
            },
        )

    def bulk_jobs_view(self, request: HttpRequest) -> TemplateResponse:
        jobs = bulk_jobs.recent_jobs(request.user)
        return self._page(
            request,
            "portal/bulk_jobs.html",
            {
                "title": _("Bulk jobs"),
                "jobs": [
                    {"job": job, "url": reverse("portal:orders_order_bulk_job", args=[job.pk])}
                    for job in jobs
                ],
            },
        )

    def bulk_job_view(self, request: HttpRequest, job_id: int) -> TemplateResponse:
        job = bulk_jobs.job_for_user(request.user, job_id)
        if job is None:
            raise Http404(_("No such job."))
        items = bulk_jobs.job_items(job, allowed_merchant_ids(request))
        percent = round(100 * job.processed / job.total) if job.total else 100
        return self._page(
            request,
            "portal/bulk_job.html",
            {
                "title": _("%(kind)s: job #%(id)d")
                % {"kind": job.get_kind_display(), "id": job.pk},
                "job": job,
                "percent": percent,
                "refresh_seconds": None if job.is_finished else JOB_REFRESH_SECONDS,
                "rows": [
                    {
                        "item": item,
                        "order_url": (
                            reverse("portal:orders_order_change", args=[item.order_id])
                            if item.order_id
                            else None
                        ),
                    }
                    for item in items
                ],
                "several_merchants": len(job.merchant_ids) > 1,
            },
        )
