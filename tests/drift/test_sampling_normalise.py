"""The seeded ledger sample (bottom-k) and the read-back normalisation of Braze's spellings."""

from __future__ import annotations

from collections import Counter

import pytest

from reconciler.drift.catalog import AttributeInfo
from reconciler.drift.normalise import read_back, wire_value
from reconciler.drift.sampling import rank, sample_users
from reconciler.state.values import canonical_value, keyed_hash

KEY = b"k" * 32


def batches(users: list[str], size: int) -> list[list[tuple[str, str]]]:
    """Distinct ledger users as a backend streams them (StateReader.ledger_users)."""
    keys = [("external_id", u) for u in sorted(users)]
    return [keys[i : i + size] for i in range(0, len(keys), size)]


def test_the_sample_is_the_k_lowest_ranks_whatever_the_batching() -> None:
    users = [f"u{i}" for i in range(500)]
    expected = sorted(users, key=lambda u: rank(9, ("external_id", u)))[:40]
    for size in (1, 7, 500):
        got = sample_users(batches(users, size), 40, seed=9)
        assert got.population == 500
        assert [u for _, u in got.users] == expected


def test_the_sample_is_uniform() -> None:
    users = [f"u{i}" for i in range(20)]
    seen: Counter[str] = Counter()
    for seed in range(2000):
        seen.update(u for _, u in sample_users(batches(users, 50), 5, seed).users)
    # each user is picked with probability 1/4: 500 times of 2000, give or take
    assert all(400 < n < 600 for n in seen.values()), seen


def test_a_sample_bigger_than_the_ledger_takes_everyone() -> None:
    got = sample_users(batches(["a", "b"], 3), 10, seed=1)
    assert sorted(got.users) == [("external_id", "a"), ("external_id", "b")]
    assert sample_users(iter(()), 10, seed=1).population == 0


def info(type_: str | None, pii: bool = False) -> AttributeInfo:
    return AttributeInfo("a", type_, pii=pii)


@pytest.mark.parametrize(
    ("declared", "braze", "sent"),
    [
        ("datetime", "2026-03-01T10:05:00.000Z", "2026-03-01T10:05:00Z"),
        ("datetime", "2026-03-01T10:05:00.250Z", "2026-03-01T10:05:00.250Z"),
        ("date", "2020-01-04T00:00:00.000Z", "2020-01-04"),
        ("date", "2020-01-04", "2020-01-04"),
        ("decimal", 12.25, 12.25),
        ("decimal", 12.0, 12),
        ("integer", 7.0, 7),
        ("float", 0.5, 0.5),
        ("boolean", False, False),
        ("array", ["b", "a"], ["a", "b"]),  # the ledger keeps arrays sorted
        ("object", {"b": 1, "a": {"c": 2}}, {"a": {"c": 2}, "b": 1}),
        (None, ["z", "y"], ["y", "z"]),
    ],
)
def test_brazes_spellings_read_back_as_what_was_sent(
    declared: str, braze: object, sent: object
) -> None:
    ledger = canonical_value(sent)
    assert read_back(braze, info(declared), ledger, KEY).stored == ledger


@pytest.mark.parametrize(
    ("declared", "braze"),
    [
        ("boolean", "true"),
        ("boolean", 1),
        ("integer", "7"),
        ("decimal", True),
        ("string", 5),
        ("date", "soon"),
        ("datetime", 12),
        ("array", "a,b"),
        ("object", [1]),
    ],
)
def test_another_json_type_is_type_drift_never_coerced_away(declared: str, braze: object) -> None:
    back = read_back(braze, info(declared), canonical_value("x"), KEY)
    assert back.type_drift and back.stored is None
    assert back.shown == canonical_value(braze)


def test_pii_values_are_compared_as_keyed_hashes() -> None:
    ledger = keyed_hash(KEY, "1984-07-09")
    assert read_back("1984-07-09", info("date", pii=True), ledger, KEY).stored == ledger
    assert read_back("1984-07-10", info("date", pii=True), ledger, KEY).stored != ledger
    # An attribute no longer declared but hashed in the ledger is still hashed to compare.
    assert read_back("x", info(None), keyed_hash(KEY, "x"), KEY).stored == keyed_hash(KEY, "x")


def test_a_date_looking_string_braze_turned_into_a_time_is_not_drift() -> None:
    ledger = canonical_value("2024-05-01")
    back = read_back("2024-05-01T00:00:00.000Z", info("string"), ledger, KEY)
    assert back.stored == ledger
    assert read_back("other", info("string"), ledger, KEY).stored != ledger


def test_a_time_of_day_on_a_date_attribute_is_a_changed_value() -> None:
    assert wire_value("2020-01-04T08:00:00.000Z", "date") == "2020-01-04T08:00:00Z"
    assert read_back(None, info("date"), '"2020-01-04"', KEY).stored is None
