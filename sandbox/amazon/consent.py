"""Seller Central's consent page (emulated): the website authorization workflow's browser side.

``GET /apps/authorize/consent?application_id=...&state=...&redirect_uri=...&version=beta``
shows a small HTML page where the person picks which emulated seller signs in and confirms or
cancels. Amazon's refusals are shown with Amazon's codes: an unknown application, or a draft
without ``version=beta``, is MD1000; a redirect URI the application did not register is
MD5101. Without ``redirect_uri`` the application's first registered one is used.

``POST`` the same path (the page's form): Confirm issues a one-time code (five minutes of
virtual time) and redirects (302) to ``redirect_uri`` with ``spapi_oauth_code``, ``state`` and
``selling_partner_id``; Cancel redirects with ``error=access_denied``, ``error_description``
and ``state`` (OAuth 2.0's answer to a refusal, RFC 6749 4.1.2.1: Amazon documents none).
"""

from __future__ import annotations

from dataclasses import dataclass
from html import escape
from urllib.parse import parse_qs, parse_qsl, urlencode, urlsplit, urlunsplit

from sandbox.amazon import authorization, clock
from sandbox.amazon.models import AmazonApplication, AmazonSeller

PATH = "/apps/authorize/consent"

MD1000 = (
    "MD1000",
    "The application is not available for authorization: it does not exist, or it is in "
    "Draft state and the authorization URI has no version=beta parameter.",
)
MD5101 = (
    "MD5101",
    "The redirect URI does not match any of the redirect URIs registered for this application.",
)


@dataclass(frozen=True)
class Page:
    status: int
    html: str = ""
    location: str = ""  # a redirect when set


@dataclass(frozen=True)
class _Request:
    application: AmazonApplication
    state: str
    redirect_uri: str
    version: str


def handle(method: str, query: dict[str, list[str]], body: bytes) -> Page:
    if method == "GET":
        params = {k: v[0] for k, v in query.items() if v}
    elif method == "POST":
        params = {k: v[0] for k, v in parse_qs(body.decode("utf-8")).items() if v}
    else:
        return Page(405, _error_page("", "This page answers GET and POST only."))
    checked = _check(params)
    if isinstance(checked, Page):
        return checked
    if method == "GET":
        return Page(200, _consent_page(checked))
    if params.get("decision") == "cancel":
        return Page(
            302,
            location=_with_params(
                checked.redirect_uri,
                {
                    "error": "access_denied",
                    "error_description": "The selling partner did not authorize the application.",
                    "state": checked.state,
                },
            ),
        )
    seller_id = (params.get("selling_partner_id_other") or "").strip() or (
        params.get("selling_partner_id") or ""
    ).strip()
    seller = AmazonSeller.objects.filter(selling_partner_id=seller_id).first()
    if seller is None:
        message = f"No seller {seller_id!r} signs in to this emulator." if seller_id else ""
        return Page(400, _consent_page(checked, message or "Choose the seller who signs in."))
    code = authorization.issue_code(
        checked.application, seller, checked.redirect_uri, clock.virtual_now()
    )
    return Page(
        302,
        location=_with_params(
            checked.redirect_uri,
            {
                "spapi_oauth_code": code.code,
                "state": checked.state,
                "selling_partner_id": seller.selling_partner_id,
            },
        ),
    )


def _check(params: dict[str, str]) -> _Request | Page:
    application = authorization.application_by_id(params.get("application_id"))
    version = params.get("version", "")
    if application is None or (application.draft and version != "beta"):
        return Page(400, _error_page(*MD1000))
    redirect_uri = params.get("redirect_uri") or application.redirect_uris[0]
    if redirect_uri not in application.redirect_uris:
        return Page(400, _error_page(*MD5101))
    state = params.get("state", "")
    if not state:
        return Page(
            400,
            _error_page(
                "",
                "The authorization URI has no state parameter: the application must send one "
                "(it protects the seller against cross-site request forgery).",
            ),
        )
    return _Request(application, state, redirect_uri, version)


def _with_params(url: str, params: dict[str, str]) -> str:
    parts = urlsplit(url)
    query = parse_qsl(parts.query, keep_blank_values=True) + list(params.items())
    return urlunsplit(parts._replace(query=urlencode(query)))


# --- HTML ------------------------------------------------------------------------------------

_STYLE = """
body{font-family:Arial,Helvetica,sans-serif;background:#f3f3f3;margin:0;color:#111}
header{background:#232f3e;color:#fff;padding:12px 24px;font-size:18px}
header small{color:#febd69;margin-left:8px}
main{max-width:560px;margin:32px auto;background:#fff;padding:24px;border:1px solid #ddd}
.error{border-left:4px solid #c40000;padding:8px 12px;background:#fff5f5}
.code{font-weight:bold;color:#c40000}
label{display:block;margin:12px 0 4px}
select,input{width:100%;padding:6px;box-sizing:border-box}
button{margin-top:16px;padding:8px 16px;margin-right:8px}
.confirm{background:#ffd814;border:1px solid #fcd200}
"""


def _document(body: str) -> str:
    return (
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>"
        "<title>Seller Central (emulated)</title>"
        f"<style>{_STYLE}</style></head><body>"
        "<header>Seller Central (emulated)<small>Keelson's SP-API sandbox, not Amazon</small>"
        f"</header><main>{body}</main></body></html>"
    )


def _error_page(code: str, message: str) -> str:
    code_html = f"<p class='code'>Error code: {escape(code)}</p>" if code else ""
    return _document(
        "<h1>We could not process this authorization</h1>"
        f"<div class='error'>{code_html}<p>{escape(message)}</p></div>"
    )


def _consent_page(request: _Request, message: str = "") -> str:
    application = request.application
    sellers = AmazonSeller.objects.order_by("selling_partner_id")
    options = "".join(
        f"<option value='{escape(s.selling_partner_id)}'>{escape(s.selling_partner_id)}"
        f"{' - ' + escape(s.name) if s.name else ''}"
        f" ({escape(', '.join(s.marketplace_ids))})</option>"
        for s in sellers
    )
    hidden = "".join(
        f"<input type='hidden' name='{name}' value='{escape(value)}'>"
        for name, value in (
            ("application_id", application.application_id),
            ("state", request.state),
            ("redirect_uri", request.redirect_uri),
            ("version", request.version),
        )
    )
    notice = f"<div class='error'><p>{escape(message)}</p></div>" if message else ""
    draft = " (draft)" if application.draft else ""
    return _document(
        f"<h1>Authorize {escape(application.name or application.application_id)}{draft}</h1>"
        f"{notice}"
        "<p>This application asks to call the Selling Partner API on behalf of the selling "
        "account that signs in. It will be sent back to "
        f"<code>{escape(request.redirect_uri)}</code>.</p>"
        f"<form method='post' action='{PATH}'>{hidden}"
        "<label for='seller'>Sign in as</label>"
        f"<select id='seller' name='selling_partner_id'>{options}</select>"
        "<label for='other'>or another selling partner id</label>"
        "<input id='other' name='selling_partner_id_other' autocomplete='off'>"
        "<button class='confirm' name='decision' value='confirm'>Confirm</button>"
        "<button name='decision' value='cancel'>Cancel</button>"
        "</form>"
    )
