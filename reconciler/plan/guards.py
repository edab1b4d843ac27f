"""Guards shown in every plan and enforced by apply: size, audience flips, consent."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from reconciler.manifests import Manifests
from reconciler.manifests.partners import CONSENT_FIELDS
from reconciler.plan.model import AttributeChange, GuardResult, Summary
from reconciler.sources.desired import Desired


def evaluate_guards(
    m: Manifests,
    desired: Desired,
    changes: Sequence[AttributeChange],
    summary: Summary,
    stored_counts: Mapping[str, int],
    flips: Mapping[str, int] | None = None,
) -> tuple[GuardResult, ...]:
    spec = m.workspace.spec.guards
    out = []
    if spec.max_data_points is not None:
        out.append(
            GuardResult(
                "max_data_points",
                summary.data_points <= spec.max_data_points,
                float(summary.data_points),
                float(spec.max_data_points),
            )
        )
    if spec.max_audience_flip_pct is not None:
        limit = spec.max_audience_flip_pct
        out.append(_flip_guard(desired, changes, stored_counts, limit, flips or {}))
    consent = [c for c in changes if c.attribute in CONSENT_FIELDS]
    if consent:
        touched = sum(c.set + c.changed + c.unset for c in consent)
        out.append(
            GuardResult(
                "consent_fields",
                False,
                float(touched),
                0.0,
                "writes subscription state: " + ", ".join(c.attribute for c in consent),
            )
        )
    return tuple(out)


def _flip_guard(
    desired: Desired,
    changes: Sequence[AttributeChange],
    counts: Mapping[str, int],
    limit: float,
    flips: Mapping[str, int],
) -> GuardResult:
    """The largest share of an existing audience that joins plus leaves in this run.

    A brand-new audience (nothing in the ledger yet) is exempt: its first sync is all joins.
    `counts` are the ledger's cells per attribute, from the diff's own scan of the ledger;
    `flips`, each audience's changed cells that change membership, when the diff counted
    them: a resend of what the ledger holds (`--replace`) or of a cell in doubt is none.
    """
    worst, worst_name = 0.0, ""
    by_name = {c.attribute: c for c in changes}
    for name, policy in desired.policies.items():
        if not policy.audience or not counts.get(name):
            continue
        change = by_name.get(name)
        if change is None:
            continue
        base = max(counts[name], desired.audience_members.get(name, 0), 1)
        moved = flips.get(name, change.set + change.changed + change.unset)
        pct = round(100.0 * moved / base, 1)
        if pct > worst:
            worst, worst_name = pct, name
    detail = f"worst: {worst_name}" if worst_name else ""
    return GuardResult("max_audience_flip_pct", worst <= limit, worst, limit, detail)
