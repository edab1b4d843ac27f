"""Show a rendered webhook request, and the dashboard setup a WebhookTemplate needs.

The request goes to stdout as an HTTP message (method and URL, headers, a blank line, the
body) so it can be read or piped as is; what it was rendered from goes to the notes (stderr).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from reconciler.errors import Diagnostic

if TYPE_CHECKING:  # the Liquid engine loads only where a template is rendered
    from reconciler.templates.render import RenderedRequest

DASHBOARD_WHERE = "Templates > Webhook Templates"


def request_text(r: RenderedRequest) -> str:
    if r.aborted is not None:
        return f"# not sent: abort_message({r.aborted!r})\n"
    lines = [f"{r.method} {r.url}"] + [f"{k}: {v}" for k, v in r.headers.items()] + [""]
    body = r.body if r.body.endswith("\n") or not r.body else r.body + "\n"
    return "\n".join(lines) + "\n" + body


def request_notes(r: RenderedRequest, *, show_values: bool) -> list[str]:
    """Where the request came from, what was stubbed, and any warnings (for stderr)."""
    masked = (
        ""
        if show_values
        else " (identifiers shown as ⟪external_id⟫ placeholders and personal data hidden, so "
        "this is not byte for byte what Braze sends; --show-values renders the exact request)"
    )
    notes = [f"WebhookTemplate {r.template} rendered for {r.user}{masked}"]
    for call in r.connected_content:
        cred = f" (credential {call.credential.strip('<>')})" if call.credential else ""
        saved = f"; `{call.save}` comes from the preview stub" if call.save else ""
        notes.append(f"connected_content {call.url}{cred}: not called{saved}")
    if r.credentials:
        notes.append(
            "credentials are set in Braze and named here only: " + ", ".join(r.credentials)
        )
    notes += [f"warning: {w}" for w in r.warnings]
    return notes


def request_json(
    r: RenderedRequest | None, *, show_values: bool, problems: Sequence[Diagnostic] = ()
) -> str:
    out: dict[str, Any] = {"values_shown": show_values}
    if r is not None:
        out.update(
            {
                "template": r.template,
                "user": r.user,
                "sent": r.aborted is None,
                "aborted": r.aborted,
                "method": r.method,
                "url": r.url,
                "headers": dict(r.headers),
                "content_type": r.content_type,
                "body": r.body,
                "credentials": list(r.credentials),
                "connected_content": [
                    {
                        "url": c.url,
                        "credential": c.credential.strip("<>") if c.credential else None,
                        "save": c.save,
                        "called": False,
                    }
                    for c in r.connected_content
                ],
                "warnings": list(r.warnings),
            }
        )
        if r.json_body is not None:
            out["json_body"] = r.json_body
    if problems:
        out["problems"] = [d.to_json() for d in problems]
    return json.dumps(out, indent=2, ensure_ascii=False) + "\n"


def dashboard_lines(d: Mapping[str, Any], *, indent: str = "") -> list[str]:
    """Plain-text instructions for one dashboard webhook template."""
    block = str(d["body"])
    lines = [
        f'{DASHBOARD_WHERE} > "{d["template"]}" (Braze has no API for webhook templates; set '
        "these once by hand)",
        f"  Webhook URL:   {d['url']}",
        f"  HTTP method:   {d['method']}",
        f"  Request body:  Raw text, exactly: {block}",
    ]
    headers = d.get("headers") or {}
    if headers:
        lines.append("  Request headers (Settings tab):")
        lines += [f"    {k}: {v}" for k, v in headers.items()]
    creds = d.get("credentials") or []
    if creds:
        lines.append(
            "  Credentials it names (values live in Braze, never in manifests): " + ", ".join(creds)
        )
    return [indent + line for line in lines]


def dashboard_markdown(d: Mapping[str, Any]) -> list[str]:
    lines = [
        f'**{DASHBOARD_WHERE} › "{d["template"]}"** (no API exists; set once by hand)',
        "",
        "| field | value |",
        "|---|---|",
        f"| Webhook URL | `{_md(d['url'])}` |",
        f"| HTTP method | `{d['method']}` |",
        f"| Request body (raw text) | `{_md(d['body'])}` |",
    ]
    for k, v in (d.get("headers") or {}).items():
        lines.append(f"| Header `{_md(k)}` | `{_md(v)}` |")
    creds = d.get("credentials") or []
    if creds:
        lines.append(f"| Credentials it names (values live in Braze) | {', '.join(creds)} |")
    return lines + [""]


def _md(text: Any) -> str:
    return str(text).replace("|", "\\|").replace("`", "'").replace("\n", " ")


def dashboard_text(d: Mapping[str, Any]) -> str:
    return "\n".join(dashboard_lines(d)) + "\n"


def dashboard_json(d: Mapping[str, Any]) -> str:
    return json.dumps({"dashboard": dict(d)}, indent=2, ensure_ascii=False) + "\n"
