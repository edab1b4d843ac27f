"""Partner webhook requests, from the seed pages: what Rokt Calendar's and Sendbird's own
endpoints accept. Checked on the template as written (method, URL, headers, recipient), before
any rendering: a template that breaks one of these is refused by the partner on every send."""

from __future__ import annotations

import re
from collections.abc import Iterator

from reconciler.errors import Diagnostic, Location
from reconciler.manifests.documents import Resource
from reconciler.manifests.kinds import WebhookTemplateSpec
from reconciler.manifests.model import Manifests

ROKT_HOST = "api.roktcalendar.com"
ROKT_EVENT_URL = f"https://{ROKT_HOST}/v1/subscriptionevent/"
SENDBIRD_DOMAIN = ".sendbird.com"
SENDBIRD_TOKEN_HEADER = "api-token"
SENDBIRD_TOKEN_NAME = "SENDBIRD_API_TOKEN"  # the page's placeholder, replaced in the dashboard
_URL_HOST = re.compile(r"https?://([^/\s{}]+)", re.IGNORECASE)


def partner_requests(m: Manifests) -> Iterator[Diagnostic]:
    for template in m.webhook_templates:
        integration = m.integrations.get(template.spec.integration)
        partner = integration.spec.partner if integration is not None else None
        if partner == "rokt_calendar":
            yield from _rokt(template)
        elif partner == "sendbird":
            yield from _sendbird(template)


def _header(spec: WebhookTemplateSpec, name: str) -> tuple[str, str] | None:
    """(the header's key as written, its value), by a case-insensitive name."""
    for key, value in spec.headers.items():
        if key.strip().lower() == name:
            return key, value
    return None


def _headers_at(template: Resource[WebhookTemplateSpec]) -> Location:
    """Where a missing header belongs: the headers, or the URL when there are none."""
    return template.at("headers") if template.spec.headers else template.at("url")


def _post(template: Resource[WebhookTemplateSpec], partner: str) -> Iterator[Diagnostic]:
    if template.spec.method != "POST":
        yield Diagnostic(
            template.at("method"),
            f"{partner}'s endpoint takes POST, not {template.spec.method} (its partner page: "
            "HTTP method POST)",
            hint="method: POST",
        )


def _rokt(template: Resource[WebhookTemplateSpec]) -> Iterator[Diagnostic]:
    from reconciler.templates.render import is_json_content_type  # Liquid loads on demand

    spec = template.spec
    yield from _post(template, "Rokt Calendar")
    hosts = [h.lower() for h in _URL_HOST.findall(spec.url)]
    if ROKT_HOST in hosts and ROKT_EVENT_URL not in spec.url:
        yield Diagnostic(
            template.at("url"),
            f"Rokt Calendar's page gives two endpoints, {ROKT_EVENT_URL}{{{{accountCode}}}} "
            "(add an event) and …/{{accountCode}}/update; this URL is neither",
            hint="copy the URL from the page: only the account code varies",
        )
    content_type = _header(spec, "content-type")
    if content_type is None or not is_json_content_type(content_type[1]):
        yield Diagnostic(
            template.at("headers", content_type[0]) if content_type else _headers_at(template),
            "Rokt Calendar reads a JSON body: the request needs Content-Type: application/json",
            hint="headers: {Content-Type: application/json}",
        )
    auth = _header(spec, "authorization")
    if auth is None:
        yield Diagnostic(
            _headers_at(template),
            "Rokt Calendar requires an Authorization header: Bearer and the token that "
            "connected_content fetches with your Rokt Calendar credential",
            hint="copy the Authorization header from Rokt Calendar's page, with your "
            "Connected Content credential's name",
        )


def _sendbird(template: Resource[WebhookTemplateSpec]) -> Iterator[Diagnostic]:
    from reconciler.templates.braze_liquid import LiquidProblem, parse_braze_liquid

    spec = template.spec
    yield from _post(template, "Sendbird")
    hosts = [h.lower() for h in _URL_HOST.findall(spec.url)]
    secure = spec.url.strip().lower().startswith("https://")
    if not secure or not hosts or not all(h.endswith(SENDBIRD_DOMAIN) for h in hosts):
        yield Diagnostic(
            template.at("url"),
            "Sendbird's notifications are sent to the real-time or batch endpoint its "
            "dashboard gives (https://…sendbird.com/…)",
            hint="copy the endpoint from Sendbird's dashboard, Notifications > Integrations",
        )
    token = _header(spec, SENDBIRD_TOKEN_HEADER)
    if token is None:
        yield Diagnostic(
            _headers_at(template),
            "Sendbird authenticates the request with an Api-Token header",
            hint="headers: {Api-Token: SENDBIRD_API_TOKEN}, the name replaced by the token "
            "in the dashboard's Settings tab",
        )
    elif not token[1].strip() or "{{" in token[1] or "{%" in token[1]:
        # a name such as SENDBIRD_API_TOKEN is replaced by the token in the dashboard's
        # Settings tab; a literal token is the secrets rule's error
        yield Diagnostic(
            template.at("headers", token[0]),
            "Api-Token names the Sendbird token (SENDBIRD_API_TOKEN), which the dashboard's "
            "Settings tab replaces with the token; it is not read from the user's profile",
            hint=f"Api-Token: {SENDBIRD_TOKEN_NAME}",
        )
    try:
        references = parse_braze_liquid(spec.body).references
    except LiquidProblem:
        return  # the Liquid check reports it
    recipient = any(
        (r.namespace == "custom_attribute" and r.name == "sendbird_id")
        or (r.namespace is None and r.name == "user_id")
        for r in references
    )
    if not recipient:
        yield Diagnostic(
            template.at("body"),
            "Sendbird's recipient is the user's Sendbird id: {{custom_attribute.${sendbird_id}}} "
            "or {{${user_id}}} (the Braze user id); this body addresses neither",
            hint='"receivers": ["{{custom_attribute.${sendbird_id}}}"]',
        )
