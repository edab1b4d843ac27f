"""The Braze REST client on httpx. The only engine package that imports httpx."""

from reconciler.braze.client import BrazeClient
from reconciler.braze.settings import ENDPOINT_ENV, api_key_from_env, resolve_endpoint

__all__ = ["ENDPOINT_ENV", "BrazeClient", "api_key_from_env", "resolve_endpoint"]
