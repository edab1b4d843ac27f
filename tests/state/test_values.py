"""The stored value form: canonical JSON for change detection, keyed hashes for pii."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from reconciler.state import canonical_value, keyed_hash, spec_hash, stored_value

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.text()
    | st.floats(allow_nan=False, allow_infinity=False),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=5), inner, max_size=4)
    ),
    max_leaves=12,
)


@pytest.mark.parametrize(
    ("value", "text"),
    [
        ({"b": 1, "a": [True, None]}, '{"a":[true,null],"b":1}'),
        ("héllo", '"héllo"'),  # UTF-8, as DuckDB's to_json writes it (the SQL fast path)
        ("a\x0fb", '"a\\u000fb"'),
        (2.0, "2"),
        (Decimal("2.00"), "2"),
        (Decimal("1.10"), "1.1"),
        (0.1, "0.1"),
        (date(1990, 4, 1), '"1990-04-01"'),
        (datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC), '"2024-01-02T03:04:05+00:00"'),
        (("x", 1), '["x",1]'),
    ],
)
def test_canonical_value(value: object, text: str) -> None:
    assert canonical_value(value) == text


def test_numbers_that_braze_stores_alike_compare_alike() -> None:
    assert canonical_value(2) == canonical_value(2.0) == canonical_value(Decimal("2"))
    assert canonical_value(True) != canonical_value(1)


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), Decimal("NaN"), object()])
def test_unstorable_values_are_refused(bad: object) -> None:
    with pytest.raises((ValueError, TypeError)):
        canonical_value(bad)


@given(json_values)
def test_canonical_value_ignores_key_order_and_never_looks_hashed(value: object) -> None:
    text = canonical_value(value)
    if isinstance(value, dict):
        assert canonical_value(dict(reversed(list(value.items())))) == text
    assert not text.startswith("h:")


def test_keyed_hash_depends_on_key_and_value_but_hides_the_value() -> None:
    h = keyed_hash(b"k1", "jane@example.com")
    assert h.startswith("h:") and len(h) == 2 + 64
    assert "jane" not in h
    assert h == keyed_hash(b"k1", "jane@example.com")
    assert h != keyed_hash(b"k2", "jane@example.com")
    assert h != keyed_hash(b"k1", "john@example.com")


def test_stored_value_hashes_only_pii() -> None:
    assert stored_value("x", pii=False, key=b"k") == '"x"'
    assert stored_value("x", pii=True, key=b"k") == keyed_hash(b"k", "x")


def test_spec_hash_is_order_independent() -> None:
    assert spec_hash({"a": 1, "b": [1, 2]}) == spec_hash({"b": [1, 2], "a": 1})
    assert spec_hash({"a": 1}) != spec_hash({"a": 2})
