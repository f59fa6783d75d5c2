"""Raw HTTP access to the emulator for tests that need status codes, headers and bodies as
sent (the real sp_api client is used elsewhere)."""

from __future__ import annotations

from typing import Any

import requests


def lwa_token(seller: dict) -> str:
    response = requests.post(
        seller["lwa_token_url"],
        data={
            "grant_type": "refresh_token",
            "refresh_token": seller["refresh_token"],
            "client_id": seller["client_id"],
            "client_secret": seller["client_secret"],
        },
        timeout=30,
    )
    assert response.status_code == 200, response.text
    return response.json()["access_token"]


def grantless_token(seller: dict, scope: str = "sellingpartnerapi::notifications") -> str:
    """The application's own token (LWA client credentials), for grantless operations."""
    response = requests.post(
        seller["lwa_token_url"],
        data={
            "grant_type": "client_credentials",
            "scope": scope,
            "client_id": seller["client_id"],
            "client_secret": seller["client_secret"],
        },
        timeout=30,
    )
    assert response.status_code == 200, response.text
    return response.json()["access_token"]


class SpApi:
    """A selling partner calling the emulator over HTTP with an LWA access token."""

    def __init__(self, seller: dict, endpoint: str | None = None) -> None:
        self.seller = seller
        self.endpoint = (endpoint or seller["endpoint"]).rstrip("/")
        self.token = lwa_token(seller)
        self.session = requests.Session()

    def call(
        self,
        method: str,
        path: str,
        params: dict[str, Any] | None = None,
        json: Any = None,
        token: str | None = None,
    ) -> requests.Response:
        headers = {"x-amz-access-token": token if token is not None else self.token}
        query = {
            k: ",".join(v) if isinstance(v, (list, tuple)) else v for k, v in (params or {}).items()
        }
        return self.session.request(
            method, self.endpoint + path, params=query, json=json, headers=headers, timeout=30
        )

    def get(self, path: str, **params: Any) -> requests.Response:
        return self.call("GET", path, params=params)


def body(response: requests.Response) -> Any:
    return response.json() if response.content else None
