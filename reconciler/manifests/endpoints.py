"""Braze instances: resolve an instance name, REST endpoint or dashboard URL to the REST base."""

from __future__ import annotations

from urllib.parse import urlsplit

# Reference §7.
INSTANCES: dict[str, tuple[str, tuple[str, ...]]] = {
    "US-01": ("https://rest.iad-01.braze.com", ("dashboard-01.braze.com", "dashboard.braze.com")),
    "US-02": ("https://rest.iad-02.braze.com", ("dashboard-02.braze.com",)),
    "US-03": ("https://rest.iad-03.braze.com", ("dashboard-03.braze.com",)),
    "US-04": ("https://rest.iad-04.braze.com", ("dashboard-04.braze.com",)),
    "US-05": ("https://rest.iad-05.braze.com", ("dashboard-05.braze.com",)),
    "US-06": ("https://rest.iad-06.braze.com", ("dashboard-06.braze.com",)),
    "US-07": ("https://rest.iad-07.braze.com", ("dashboard-07.braze.com",)),
    "US-08": ("https://rest.iad-08.braze.com", ("dashboard-08.braze.com",)),
    "US-10": ("https://rest.us-10.braze.com", ("dashboard.us-10.braze.com",)),
    "EU-01": ("https://rest.fra-01.braze.eu", ("dashboard-01.braze.eu", "dashboard.braze.eu")),
    "EU-02": ("https://rest.fra-02.braze.eu", ("dashboard-02.braze.eu",)),
    "AU-01": ("https://rest.au-01.braze.com", ("dashboard.au-01.braze.com",)),
    "ID-01": ("https://rest.id-01.braze.com", ("dashboard.id-01.braze.com",)),
    "JP-01": ("https://rest.jp-01.braze.com", ("dashboard.jp-01.braze.com",)),
    "KR-01": ("https://rest.kr-01.braze.com", ("dashboard.kr-01.braze.com",)),
}

VALID_INSTANCES = ", ".join(INSTANCES)


class UnknownInstance(ValueError):
    """The instance, endpoint or dashboard URL names no Braze instance."""


def _host(url: str) -> str:
    parts = urlsplit(url if "://" in url else f"https://{url}")
    return (parts.hostname or "").lower()


def instance_by_name(name: str) -> str:
    key = name.strip().upper()
    if key not in INSTANCES:
        raise UnknownInstance(f"unknown instance {name!r}; valid instances: {VALID_INSTANCES}")
    return INSTANCES[key][0]


def instance_by_rest_endpoint(url: str) -> str:
    host = _host(url)
    for rest, _ in INSTANCES.values():
        if _host(rest) == host:
            return rest
    raise UnknownInstance(
        f"{host or url!r} is not a Braze REST endpoint; valid instances: {VALID_INSTANCES}"
    )


def instance_by_dashboard(url: str) -> str:
    host = _host(url)
    for rest, dashboards in INSTANCES.values():
        if host in dashboards:
            return rest
    raise UnknownInstance(
        f"{host or url!r} is not a Braze dashboard; valid instances: {VALID_INSTANCES}"
    )


def rest_base(instance: str | None, rest_endpoint: str | None, dashboard_url: str | None) -> str:
    """The REST base URL a Workspace names, by whichever of the three fields it sets."""
    if rest_endpoint:
        return instance_by_rest_endpoint(rest_endpoint)
    if instance:
        return instance_by_name(instance)
    if dashboard_url:
        return instance_by_dashboard(dashboard_url)
    raise UnknownInstance("one of instance, rest_endpoint or dashboard_url is required")
