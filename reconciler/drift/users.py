"""User data drift: read a seeded sample of ledger users back from Braze and compare.

The ledger holds the last value Braze acknowledged for each (user, attribute). A sampled user
is read back through /users/export/ids (50 external ids per call, paced), each ledger value is
compared in stored form, and the share of drifted users gives a population estimate with a
95% interval. Users written within the consistency window are skipped: Braze writes land
asynchronously and may not be visible yet (reference §11 gotcha 2).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import partial
from typing import Any

from reconciler.drift.catalog import AttributeInfo
from reconciler.drift.normalise import read_back
from reconciler.drift.pacing import ExportPacer
from reconciler.drift.protocol import ExportAnswer, WorkspaceReads
from reconciler.drift.report import (
    AttributeDriftCount,
    Recommendation,
    UserDataReport,
    ValueDrift,
)
from reconciler.drift.sampling import UserKey, sample_users
from reconciler.drift.stats import wilson
from reconciler.state.base import StateReader, UserLedger
from reconciler.state.cells import DOUBT
from reconciler.state.values import is_hashed

EXPORT_BATCH = 50  # external ids per /users/export/ids call (reference §3)
DEFAULT_SAMPLE = 500
DEFAULT_WINDOW_SECONDS = 300.0  # Braze: allow up to 5 minutes between dependent calls
IDENTITY_FIELDS = ("external_id", "braze_id")


@dataclass(frozen=True)
class UserCheckOptions:
    sample: int = DEFAULT_SAMPLE
    seed: int = 0
    window_seconds: float = DEFAULT_WINDOW_SECONDS
    max_examples: int = 50


@dataclass
class _Tally:
    checked: Counter[str] = field(default_factory=Counter)
    drifted: Counter[str] = field(default_factory=Counter)
    examples: list[ValueDrift] = field(default_factory=list)
    drifted_users: int = 0
    unchecked: set[str] = field(default_factory=set)
    cells: list[tuple[str, str, str]] = field(default_factory=list)


@dataclass(frozen=True)
class Selection:
    """The users to read back, and why the others drawn were left out."""

    users: tuple[UserLedger, ...]
    population: int
    eligible_population: int
    sampled: int
    recent: int
    unsupported: int


def select_users(state: StateReader, options: UserCheckOptions, now: datetime) -> Selection:
    """Draw 2n candidates in rank order, drop recent and alias users, keep the first n.

    Keeping the first n eligible users of a uniform random order is a uniform sample of the
    eligible users, so skipping recent ones does not bias the estimate.
    """
    drawn = sample_users(state.ledger_users(), 2 * options.sample, options.seed)
    ledgers = state.ledger_for_users(drawn.users)
    boundary = state.serial_at(now - timedelta(seconds=options.window_seconds))
    chosen: list[UserLedger] = []
    recent = unsupported = eligible = 0
    for key in drawn.users:
        ledger = ledgers.get(key)
        if ledger is None:
            continue  # its rows went between the two reads (an unset applied meanwhile)
        if ledger.last_serial > boundary:
            recent += 1
        elif key[0] not in IDENTITY_FIELDS:
            unsupported += 1
        else:
            eligible += 1
            if len(chosen) < options.sample:
                chosen.append(ledger)
    candidates = len(drawn.users)
    if candidates >= drawn.population:
        eligible_population = eligible
    else:  # scale the eligible share of the candidates up to the population
        eligible_population = round(drawn.population * eligible / max(1, candidates))
    return Selection(
        tuple(chosen),
        drawn.population,
        max(eligible_population, len(chosen)),
        min(options.sample, candidates),
        recent,
        unsupported,
    )


async def check_users(
    state: StateReader,
    reads: WorkspaceReads,
    catalog: Mapping[str, AttributeInfo],
    pacer: ExportPacer,
    options: UserCheckOptions,
    now: datetime,
) -> UserDataReport:
    selection = select_users(state, options, now)
    hash_key = state.hash_key()
    # With another key than the ledger's, every pii hash would differ: compare none of them.
    key = None if hash_key.changed else hash_key.key
    profiles = await read_profiles(reads, pacer, selection.users, catalog)
    tally = _Tally()
    for ledger in selection.users:
        _compare_user(
            ledger, profiles.get((ledger.id_kind, ledger.user_id)), catalog, key, tally, options
        )
    notes: tuple[str, ...] = ()
    if key is None:
        notes = (
            "the pii hash key is not the one the ledger's hashes were made with "
            "(RECONCILER_HASH_KEY changed): pii values were not compared",
        )
    checked = len(selection.users)
    estimate = (
        wilson(tally.drifted_users, checked, selection.eligible_population) if checked else None
    )
    return UserDataReport(
        population=selection.population,
        sampled=selection.sampled,
        checked=checked,
        drifted_users=tally.drifted_users,
        recent_skipped=selection.recent,
        unsupported_skipped=selection.unsupported,
        attributes=tuple(
            AttributeDriftCount(a, tally.checked[a], tally.drifted[a], _pii(catalog, a))
            for a in sorted(tally.checked)
        ),
        examples=tuple(tally.examples),
        estimate=estimate,
        window_seconds=options.window_seconds,
        seed=options.seed,
        export_requests=pacer.requests,
        export_per_minute=pacer.per_minute,
        unchecked_attributes=tuple(sorted(tally.unchecked)),
        notes=notes,
        drifted_cells=tuple(tally.cells),
        recommendations=recommend(tally, state.attribute_counts()),
    )


# Recommend `plan --replace ATTRIBUTE` when the lower end of the 95% interval of an attribute's
# drift rate is at least this: a sample cannot repair what it did not see, a full resend can.
REPLACE_AT = 0.05


def recommend(tally: _Tally, counts: Mapping[str, int]) -> tuple[Recommendation, ...]:
    out = []
    for attribute in sorted(tally.drifted):
        checked, drifted = tally.checked[attribute], tally.drifted[attribute]
        holders = counts.get(attribute, 0)
        interval = wilson(drifted, checked, max(holders, checked))
        if interval.low >= REPLACE_AT:
            out.append(Recommendation(attribute, drifted, checked, interval, holders))
    return tuple(out)


def export_fields(users: Sequence[UserLedger], catalog: Mapping[str, AttributeInfo]) -> list[str]:
    """fields_to_export: identifiers, plus custom_attributes and the standard fields in play."""
    fields = set(IDENTITY_FIELDS)
    for ledger in users:
        for attribute in ledger.values:
            found = info_for(catalog, attribute).export_field
            if found is not None:
                fields.add(found)
    return sorted(fields)


async def read_profiles(
    reads: WorkspaceReads,
    pacer: ExportPacer,
    users: Sequence[UserLedger],
    catalog: Mapping[str, AttributeInfo],
) -> dict[UserKey, Mapping[str, Any]]:
    """Each user's exported profile; users Braze does not know are absent."""
    fields = export_fields(users, catalog)
    out: dict[UserKey, Mapping[str, Any]] = {}
    external = [u.user_id for u in users if u.id_kind == "external_id"]
    for start in range(0, len(external), EXPORT_BATCH):
        chunk = external[start : start + EXPORT_BATCH]
        answer = await pacer.call(partial(reads.export_users, chunk, fields))
        _collect(answer, "external_id", set(chunk), out)
    for user in (u for u in users if u.id_kind == "braze_id"):
        answer = await pacer.call(partial(reads.export_braze_id, user.user_id, fields))
        _collect(answer, "braze_id", {user.user_id}, out)
    return out


def _collect(
    answer: ExportAnswer, id_kind: str, asked: set[str], out: dict[UserKey, Mapping[str, Any]]
) -> None:
    for profile in answer.users:
        found = profile.get(id_kind)
        if isinstance(found, str) and found in asked:
            out[(id_kind, found)] = profile


def info_for(catalog: Mapping[str, AttributeInfo], attribute: str) -> AttributeInfo:
    """The catalog entry, or an untyped one for an attribute the manifests no longer declare."""
    return catalog.get(attribute) or AttributeInfo(attribute, None)


def _pii(catalog: Mapping[str, AttributeInfo], attribute: str) -> bool:
    return info_for(catalog, attribute).pii


def _compare_user(
    ledger: UserLedger,
    profile: Mapping[str, Any] | None,
    catalog: Mapping[str, AttributeInfo],
    key: bytes | None,
    tally: _Tally,
    options: UserCheckOptions,
) -> None:
    drifted = False
    for attribute, stored in sorted(ledger.values.items()):
        if stored == DOUBT:
            continue  # its last write may or may not have landed: the next plan resends it
        info = info_for(catalog, attribute)
        if info.export_field is None or (key is None and is_hashed(stored)):
            tally.unchecked.add(attribute)
            continue
        tally.checked[attribute] += 1
        found = value_difference(ledger, profile, info, stored, key or b"")
        if found is None:
            continue
        drifted = True
        tally.drifted[attribute] += 1
        tally.cells.append((ledger.id_kind, ledger.user_id, attribute))
        if len(tally.examples) < options.max_examples:
            tally.examples.append(found)
    tally.drifted_users += drifted


def value_difference(
    ledger: UserLedger,
    profile: Mapping[str, Any] | None,
    info: AttributeInfo,
    stored: str,
    key: bytes,
) -> ValueDrift | None:
    pii = info.pii or is_hashed(stored)
    expected = None if is_hashed(stored) else stored

    def drift(kind: Any, actual: str | None) -> ValueDrift:
        return ValueDrift(ledger.user_id, ledger.id_kind, info.name, kind, expected, actual, pii)

    if profile is None:
        # written with `_update_existing_only`, to a user Braze does not have: Braze skipped
        # it by design (the sync updates only existing users), nothing drifted
        return None if info.update_only else drift("user_missing", None)
    raw = exported_value(profile, info)
    back = read_back(raw, info, stored, key)
    if back.type_drift:
        return drift("type", back.shown)
    if back.stored is None:
        return drift("missing", None)
    if back.stored != stored:
        return drift("changed", back.shown)
    return None


def exported_value(profile: Mapping[str, Any], info: AttributeInfo) -> Any:
    """The attribute's value in an exported profile: standard fields are top level."""
    if info.standard:
        return profile.get(info.name)
    custom = profile.get("custom_attributes")
    return custom.get(info.name) if isinstance(custom, Mapping) else None
