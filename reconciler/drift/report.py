"""The drift report: frozen data that the text, markdown and JSON renderers all read.

Identifiers and values are held raw; the renderers mask identifiers and hide `pii` values
unless asked to show them (the Plan does the same), so one report serves every output.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

from reconciler.drift.protocol import SchemaBudget
from reconciler.drift.stats import Interval

FindingKind = Literal[
    "type_mismatch",
    "blocklisted",
    "unknown",
    "unknown_written",
    "array_length",
    "unrecognised",
    "definition_changed",
    "case_differs",
]
ValueDriftKind = Literal["changed", "missing", "type", "user_missing", "not_removed"]
BlockKind = Literal["content_changed", "renamed", "description_changed", "unreadable"]


@dataclass(frozen=True)
class SchemaFinding:
    """One difference between a declared attribute or event and Braze's definition of it."""

    subject: Literal["attribute", "event"]
    name: str
    kind: FindingKind
    declared: str
    braze: str
    message: str
    action: str
    where: str = ""
    drift: bool = True  # False: worth knowing, but nothing is wrong yet


@dataclass(frozen=True)
class SchemaReport:
    attributes_checked: int
    events_checked: int
    standard_skipped: int  # standard fields are not custom attributes: never listed
    findings: tuple[SchemaFinding, ...]
    budget: SchemaBudget

    @property
    def drift(self) -> tuple[SchemaFinding, ...]:
        return tuple(f for f in self.findings if f.drift)


@dataclass(frozen=True)
class BlockFinding:
    """A content block whose remote state differs from what apply recorded."""

    address: str
    name: str
    block_id: str
    kind: BlockKind
    message: str
    action: str
    # what Braze holds of the fields that differ (content, description): `--repair` records it
    # as the block's state, so the next plan shows the edit and apply puts the manifests' back
    braze: Mapping[str, str] = field(default_factory=dict, compare=False)


@dataclass(frozen=True)
class ContentBlockReport:
    checked: int
    findings: tuple[BlockFinding, ...] = ()
    note: str = ""

    @property
    def edited(self) -> tuple[BlockFinding, ...]:
        """The findings of a block edited in Braze, which `--repair` records as Braze holds it."""
        return tuple(f for f in self.findings if f.braze)


@dataclass(frozen=True)
class ValueDrift:
    """One (user, attribute) whose Braze value is not the one state says Braze acknowledged."""

    user_id: str
    id_kind: str
    attribute: str
    kind: ValueDriftKind
    expected: str | None  # canonical JSON from the ledger; None when only a hash is stored
    actual: str | None  # canonical JSON of what Braze holds; None when it holds nothing
    pii: bool = False


@dataclass(frozen=True)
class AttributeDriftCount:
    attribute: str
    checked: int
    drifted: int
    pii: bool = False


@dataclass(frozen=True)
class Recommendation:
    """An attribute drifting often enough that resending it to everyone is worth its cost."""

    attribute: str
    drifted: int
    checked: int
    interval: Interval  # the population share drifted, 95% Wilson
    cost: int  # data points: the ledger's cells of this attribute

    @property
    def command(self) -> str:
        return f"reconciler plan --replace {self.attribute}"


@dataclass(frozen=True)
class UserDataReport:
    """The sampled read-back of ledger users and the population estimate drawn from it."""

    population: int  # distinct users in the ledger
    sampled: int  # users drawn
    checked: int  # users read back and compared
    drifted_users: int
    recent_skipped: int  # written within the consistency window
    unsupported_skipped: int  # identifiers export cannot look up (user aliases)
    attributes: tuple[AttributeDriftCount, ...]
    examples: tuple[ValueDrift, ...]
    estimate: Interval | None
    window_seconds: float
    seed: int
    export_requests: int
    export_per_minute: int
    unchecked_attributes: tuple[str, ...] = ()  # export cannot return them, or pii unhashable
    notes: tuple[str, ...] = ()
    # every drifted (id_kind, user_id, attribute) the sample found: what --repair marks
    drifted_cells: tuple[tuple[str, str, str], ...] = ()
    recommendations: tuple[Recommendation, ...] = ()

    @property
    def drift(self) -> bool:
        return self.drifted_users > 0

    @property
    def inconclusive(self) -> bool:
        """Users were drawn, but none could be compared (all inside the consistency window,
        or none that export can look up): nothing is known, so it must not read "no drift"."""
        return self.sampled > 0 and self.checked == 0


@dataclass(frozen=True)
class DriftReport:
    workspace: str
    checked_at: str
    state_serial: int
    schema: SchemaReport
    content_blocks: ContentBlockReport
    users: UserDataReport

    repaired: int = 0  # drifted cells `--repair` marked in doubt for the next apply
    blocks_repaired: int = 0  # edited content blocks `--repair` set for the next apply

    @property
    def has_drift(self) -> bool:
        return bool(self.schema.drift or self.content_blocks.findings or self.users.drift)

    @property
    def inconclusive(self) -> bool:
        return not self.has_drift and self.users.inconclusive
