"""User-data drift through the real command path against the in-process sandbox."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

import pytest

from drift.lab import Lab, user_id
from reconciler.drift.users import UserCheckOptions, select_users
from reconciler.state import LedgerRow, LockRequest


def test_a_clean_workspace_has_no_drift(make_lab: Callable[..., Lab]) -> None:
    lab = make_lab(60)
    lab.apply()
    report = lab.drift()
    assert not report.has_drift
    u = report.users
    assert (u.population, u.checked, u.drifted_users) == (60, 60, 0)
    assert u.estimate is not None and u.estimate.high == 0.0  # the whole population was read
    assert u.export_requests == 2  # 60 users, 50 per call
    checked = {a.attribute: a.checked for a in u.attributes}
    assert checked["shop_stores"] == 60 and checked["dob"] == 60 and checked["AIQ_48213_2"] == 30


def test_a_value_changed_behind_our_back_is_found_and_located(
    make_lab: Callable[..., Lab],
) -> None:
    lab = make_lab(60)
    lab.apply()
    lab.change_user(user_id(7), {"loyalty_tier": "gold", "is_vip": "true"}, {"dob": "2001-01-01"})
    lab.change_user(user_id(8), {"shop_stores": None})
    report = lab.drift()
    assert report.has_drift
    found = {(v.user_id, v.attribute, v.kind, v.expected, v.actual) for v in report.users.examples}
    assert found == {
        (user_id(7), "loyalty_tier", "changed", '"silver"', '"gold"'),
        (user_id(7), "is_vip", "type", "true", '"true"'),  # a string where a boolean was sent
        (user_id(7), "dob", "changed", None, '"2001-01-01"'),  # pii: the ledger has a hash only
        (user_id(8), "shop_stores", "missing", '["store-1","store-2","store-3"]', None),
    }
    assert report.users.drifted_users == 2
    assert {v.pii for v in report.users.examples if v.attribute == "dob"} == {True}


def test_a_user_braze_no_longer_has_is_reported_missing(make_lab: Callable[..., Lab]) -> None:
    lab = make_lab(10)
    lab.apply()
    with lab.state() as store:
        with store.lock(LockRequest("test")):
            apply_id = store.begin_apply("manual")
            store.record_batch(apply_id, 0, [LedgerRow("ghost-1", "loyalty_tier", '"gold"')])
            store.finish_apply(apply_id, "applied")
    report = lab.drift()
    ghost = [v for v in report.users.examples if v.user_id == "ghost-1"]
    assert [(v.kind, v.attribute) for v in ghost] == [("user_missing", "loyalty_tier")]


def test_users_written_within_the_window_are_skipped(make_lab: Callable[..., Lab]) -> None:
    lab = make_lab(20)
    lab.apply()
    lab.change_user(user_id(3), {"loyalty_tier": "bronze"})
    report = lab.drift(window=600)
    assert report.users.recent_skipped == 20
    assert report.users.checked == 0 and report.users.estimate is None
    assert not report.users.drift  # nothing read back yet is not drift


def test_the_sample_is_seeded_and_bounded(make_lab: Callable[..., Lab]) -> None:
    lab = make_lab(120)
    lab.apply()
    report = lab.drift(sample=30, seed=1)
    assert report.users.checked == 30 and report.users.population == 120
    assert report.users.export_requests == 1
    assert report.users.estimate is not None
    assert 0 < report.users.estimate.high < 0.2  # 0 of 30 out of 120 is not proof of zero
    with lab.state() as state:
        now = datetime.now(UTC)

        def chosen(seed: int) -> list[str]:
            picked = select_users(state, UserCheckOptions(30, seed, 0.0), now).users
            return [u.user_id for u in picked]

        assert chosen(1) == chosen(1) != chosen(2)
        assert len(set(chosen(1))) == 30


def test_a_drifted_user_outside_the_sample_is_not_seen_but_estimated(
    make_lab: Callable[..., Lab],
) -> None:
    lab = make_lab(100)
    lab.apply()
    for i in range(0, 100, 2):  # half the population drifts
        lab.change_user(user_id(i), {"order_count": -1})
    report = lab.drift(sample=40, seed=3)
    est = report.users.estimate
    assert est is not None
    assert est.low < 0.5 < est.high  # the interval covers the true rate
    assert report.users.drifted_users == sum(
        1 for v in report.users.examples if v.attribute == "order_count"
    )


def test_users_identified_by_braze_id_are_read_one_per_call(make_lab: Callable[..., Lab]) -> None:
    lab = make_lab(3)
    lab.apply()
    braze_id = lab.admin("GET", f"users/{user_id(1)}")["user"]["braze_id"]
    with lab.state() as store, store.lock(LockRequest("test")):
        apply_id = store.begin_apply("manual")
        rows = [LedgerRow(braze_id, "loyalty_tier", '"bronze"', "braze_id")]  # Braze says silver
        store.record_batch(apply_id, 0, rows)
        store.finish_apply(apply_id, "applied")
    report = lab.drift()
    assert report.users.checked == 4 and report.users.export_requests == 2
    (found,) = report.users.examples
    assert (found.id_kind, found.user_id, found.expected, found.actual) == (
        "braze_id",
        braze_id,
        '"bronze"',
        '"silver"',
    )


def test_with_another_hash_key_pii_values_are_not_compared(
    make_lab: Callable[..., Lab], monkeypatch: pytest.MonkeyPatch
) -> None:
    lab = make_lab(10)
    lab.apply()
    monkeypatch.setenv("RECONCILER_HASH_KEY", "a key the ledger was not hashed with")
    report = lab.drift()
    assert not report.has_drift  # not 10 users of false pii drift
    assert report.users.unchecked_attributes == ("dob", "personal_email")
    assert "pii values were not compared" in report.users.notes[0]
    assert "dob" not in {a.attribute for a in report.users.attributes}
