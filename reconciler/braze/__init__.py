"""The Braze REST client on httpx. The only engine package that imports httpx.

The names below load on first use: `braze.settings` (the endpoint a plan names) must not
import httpx, which only apply and drift need.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from reconciler.lazy import exports

if TYPE_CHECKING:
    from reconciler.braze.client import BrazeClient
    from reconciler.braze.settings import ENDPOINT_ENV, api_key_from_env, resolve_endpoint

_WHERE = {
    "BrazeClient": "client",
    "ENDPOINT_ENV": "settings",
    "api_key_from_env": "settings",
    "resolve_endpoint": "settings",
}

__all__ = [
    "ENDPOINT_ENV",
    "BrazeClient",
    "api_key_from_env",
    "resolve_endpoint",
]


__getattr__ = exports(__name__, _WHERE)
