"""`render`: the webhook request one WebhookTemplate would send for one user, or what to set in
the dashboard for it (`--dashboard`). Nothing is sent anywhere."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from reconciler.errors import Diagnostic, ManifestError, UsageError
from reconciler.manifests import Manifests, load_workspace
from reconciler.manifests.documents import Resource, field_path, suggest
from reconciler.manifests.kinds import WebhookTemplateSpec
from reconciler.manifests.rules_content import scalar_location
from reconciler.plan.content_blocks import dashboard_spec
from reconciler.templates.profile import EMPTY_PROFILE, UserProfile, load_profile, masked
from reconciler.templates.render import RenderedRequest, TemplateRenderError, render_request


@dataclass(frozen=True)
class RenderRequest:
    manifests_dir: Path
    template: str  # a WebhookTemplate name or its content block name
    user_file: Path | None = None  # default: the template's preview_user
    show_values: bool = False


@dataclass(frozen=True)
class RenderOutcome:
    """The rendered request, or the located reasons it breaks its contract (`problems`)."""

    request: RenderedRequest | None
    problems: tuple[Diagnostic, ...] = ()


def find_template(m: Manifests, name: str) -> Resource[WebhookTemplateSpec]:
    """A WebhookTemplate by its name or by its content block's name; UsageError otherwise."""
    for t in m.webhook_templates:
        if name in (t.name, t.spec.content_block):
            return t
    names = [t.name for t in m.webhook_templates]
    raise UsageError(
        f"no WebhookTemplate named {name!r} in {m.root}",
        hint=suggest(name, names) or f"templates: {', '.join(names) or 'none'}",
    )


def user_for(
    m: Manifests, template: Resource[WebhookTemplateSpec], flag: Path | None
) -> UserProfile:
    if flag is not None:
        return load_profile(flag)
    if template.spec.preview_user:
        return load_profile(
            m.path(template.spec.preview_user), str(m.root / template.spec.preview_user)
        )
    return EMPTY_PROFILE


def render_one(request: RenderRequest) -> RenderOutcome:
    """Render for the chosen user; identifiers masked and personal data hidden unless asked.

    A body that renders but breaks the JSON contract is still returned (with its raw text)
    alongside the located problems, so the reader can see what went wrong.
    """
    m = load_workspace(request.manifests_dir, contract_checks=False)
    template = find_template(m, request.template)
    user = user_for(m, template, request.user_file)
    if not request.show_values:
        pii = [name for name, d in m.attributes.items() if d.definition.pii]
        user = masked(user, pii)
    try:
        return RenderOutcome(render_request(template.name, template.spec, user))
    except TemplateRenderError as e:
        problems = tuple(
            Diagnostic(
                scalar_location(template.doc, p.field, p.line, p.col),
                f"{field_path(p.field)}: {p.message}",
            )
            for p in e.problems
        )
        return RenderOutcome(e.partial, problems)


def dashboard_setup(manifests_dir: Path, name: str) -> dict[str, Any]:
    """What the dashboard's webhook template must hold (there is no API to set it)."""
    m = load_workspace(manifests_dir, contract_checks=False)
    return dashboard_spec(find_template(m, name))


def raise_problems(outcome: RenderOutcome) -> None:
    if outcome.problems:
        raise ManifestError(outcome.problems, summary="the template breaks its contract")
