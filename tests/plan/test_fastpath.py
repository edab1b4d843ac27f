"""The SQL fast path agrees with `coerce` byte for byte wherever it answers."""

from __future__ import annotations

import datetime
import json
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from reconciler.manifests.kinds.attribute_schema import AttributeDef
from reconciler.sources.coerce import CoerceError, coerce
from reconciler.sources.fastpath import array_items_sql, blank, canonical_sql, list_items_sql
from reconciler.sources.ingest import load_raw
from reconciler.state.values import canonical_value

TYPES = ["boolean", "integer", "float", "decimal", "date", "datetime", "string", "array"]
CON = duckdb.connect()


def sql_canonical(attr: AttributeDef, raw: str | None, is_text: bool) -> tuple[bool, str | None]:
    """(blank, canonical or None when the fast path is not sure)."""
    canon, _wire = canonical_sql(attr, "r", "t")
    row = CON.execute(
        f"SELECT {blank('r')}, {canon} FROM (SELECT *, {array_items_sql('r')} AS r_items "
        "FROM (SELECT ?::VARCHAR AS r, ?::BOOLEAN AS t))",
        [raw, is_text],
    ).fetchone()
    assert row is not None
    return bool(row[0]), row[1]


def python_canonical(attr: AttributeDef, value: Any) -> str | None | CoerceError:
    try:
        wire = coerce(value, attr)
    except CoerceError as e:
        return e
    if wire is None:
        return None
    return canonical_value(sorted(wire) if attr.type == "array" else wire)


def check(attr: AttributeDef, raw: str | None, is_text: bool = True) -> None:
    value = raw if is_text or raw is None else json.loads(raw)
    is_blank, fast = sql_canonical(attr, raw, is_text)
    slow = python_canonical(attr, value)
    if is_blank:
        assert slow is None, (raw, slow)
    elif fast is not None:
        assert fast == slow, (attr.type, raw, fast, slow)


cells = st.one_of(
    st.text(max_size=12),
    st.from_regex(r"[+-]?[0-9]{1,20}(\.[0-9]{0,20})?([eE][+-]?[0-9]{1,3})?", fullmatch=True),
    st.from_regex(r"[0-9]{4}-[0-9]{2}-[0-9]{2}(T[0-9]{2}:[0-9]{2}:[0-9]{2}Z?)?", fullmatch=True),
    st.from_regex(
        r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}[+-][0-9]{2}:[0-9]{2}",
        fullmatch=True,
    ),
    st.builds(
        lambda d, h, m: (
            f"{d.isoformat(timespec='seconds')}{'+' if h >= 0 else '-'}{abs(h):02d}:{m:02d}"
        ),
        st.datetimes(min_value=datetime.datetime(999, 1, 1)),
        st.integers(-23, 23),
        st.sampled_from([0, 30, 45, 59]),
    ),
    st.sampled_from(["true", "False", "YES", "n", "1", "0", " ", "\u3000", "\t", "1e400", "nan"]),
    st.lists(st.text(max_size=6), max_size=4).map(lambda v: json.dumps(v, ensure_ascii=False)),
    st.floats(allow_nan=False).map(repr),
)


@pytest.mark.parametrize("kind", TYPES)
@given(raw=cells)
@example(raw="4210.75")
@example(raw="2024-02-30")
@example(raw="0000-01-01")
@example(raw='["b","a","b"]')
@example(raw="1.5e-7")
@example(raw="1e20")
@example(raw="-0.0")
@example(raw="123456789012345678")
@example(raw="2026-11-02T13:22:00+02:00")
@example(raw="2026-12-31T23:30:00-01:00")
@example(raw="3000-12-31T23:00:00-02:00")
@example(raw="1000-01-01T00:30:00+01:00")
@example(raw="2026-11-02T13:22:00+24:00")
@example(raw="2026-02-29T13:22:00+02:00")
def test_fast_path_equals_coerce_where_it_answers(kind: str, raw: str) -> None:
    check(AttributeDef(name="x", type=kind), raw)


@given(
    raw=st.one_of(st.integers(), st.floats(allow_nan=False, allow_infinity=False), st.booleans())
)
def test_non_text_json_values_agree(raw: Any) -> None:
    for kind in TYPES:
        check(AttributeDef(name="x", type=kind), json.dumps(raw), is_text=False)


def test_enum_and_length_limits_send_values_to_the_slow_path() -> None:
    enum = AttributeDef(name="tier", type="string", enum=["gold", "silver"])
    assert sql_canonical(enum, "gold", True) == (False, '"gold"')
    assert sql_canonical(enum, "platinum", True) == (False, None)
    short = AttributeDef(name="code", type="varchar", max_length=3)
    assert sql_canonical(short, "abcd", True) == (False, None)
    arr = AttributeDef(name="a", type="array", max_length=1)
    assert sql_canonical(arr, '["x","y"]', True) == (False, None)


def test_common_values_take_the_fast_path() -> None:
    fast = {
        "boolean": "yes",
        "integer": "38",
        "float": "0.05",
        "decimal": "4210.75",
        "date": "2019-03-14",
        "datetime": "2026-11-02T18:22:00Z",
        "datetime_offset": "2026-11-02T20:22:00+02:00",
        "string": "Paris Opera",
        "array": '["b","a"]',
    }
    for kind, raw in fast.items():
        attr = AttributeDef(name="x", type=kind.removesuffix("_offset"))
        assert sql_canonical(attr, raw, True)[1] is not None, kind
    offset = sql_canonical(AttributeDef(name="x", type="datetime"), fast["datetime_offset"], True)
    assert offset[1] == '"2026-11-02T18:22:00Z"'


def test_csv_with_mixed_line_endings_falls_back_to_the_line_reader(tmp_path: Path) -> None:
    path = tmp_path / "a.csv"
    path.write_bytes(b"id,v\n1,a\r\n2,b\n3\n")
    con = duckdb.connect()
    raw = load_raw(con, "raw", path, "csv", "a.csv", ["id", "v"])
    assert raw.header == ("id", "v")
    rows = con.execute("SELECT row_no, c0, c1 FROM raw ORDER BY row_no").fetchall()
    assert rows == [(2, "1", "a"), (3, "2", "b"), (4, "3", None)]


def test_parquet_typed_columns_become_raw_text(tmp_path: Path) -> None:
    from datetime import date, datetime

    path = tmp_path / "a.parquet"
    table = pa.table(
        {
            "id": ["u1"],
            "n": [3],
            "when": [datetime(2026, 1, 2, 3, 4, 5)],
            "day": [date(2026, 1, 2)],
            "tags": [["x", "y"]],
        }
    )
    pq.write_table(table, path)
    con = duckdb.connect()
    load_raw(con, "raw", path, "parquet", "a.parquet", ["id", "n", "when", "day", "tags", "nope"])
    row = con.execute("SELECT * FROM raw").fetchone()
    assert row == (
        1, "u1", True, "3", False, "2026-01-02T03:04:05Z", True, "2026-01-02", True,
        '["x","y"]', False, ["x", "y"], None, True,
    )  # fmt: skip  # the list of strings also as itself (l4), for typing


@pytest.mark.parametrize("zone", ["UTC", "America/New_York", "Asia/Kolkata"])
def test_a_parquet_instant_with_a_zone_is_utc_text_whatever_the_session_zone(
    tmp_path: Path, zone: str
) -> None:
    """A TIMESTAMPTZ column is written as the ISO UTC text the fast path reads. As plain text
    it was in the session's zone, the machine's (a laptop and a CI runner disagreed), and its
    "+00" form sent every row of the file through Python."""
    from datetime import datetime, timedelta, timezone

    path = tmp_path / "a.parquet"
    est = timezone(timedelta(hours=-5))
    when = [datetime(2026, 11, 2, 13, 22, tzinfo=est), datetime(2026, 1, 2, 3, 4, 5, 500000, est)]
    pq.write_table(pa.table({"id": ["u1", "u2"], "when": when}), path)
    con = duckdb.connect()
    con.execute(f"SET TimeZone = '{zone}'")
    load_raw(con, "raw", path, "parquet", "a.parquet", ["id", "when"])
    rows = con.execute("SELECT c1, t1 FROM raw ORDER BY row_no").fetchall()
    assert rows == [("2026-11-02T18:22:00Z", True), ("2026-01-02T08:04:05.500000Z", True)]
    datetime_attr = AttributeDef(name="x", type="datetime")
    assert sql_canonical(datetime_attr, rows[0][0], True)[1] == '"2026-11-02T18:22:00Z"'
    assert python_canonical(datetime_attr, rows[1][0]) == '"2026-01-02T08:04:05.500Z"'


@settings(deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    rows=st.lists(
        st.one_of(
            st.none(),
            st.lists(
                st.one_of(st.none(), st.text(max_size=6), st.sampled_from(["a", "\x01", "é"])),
                max_size=5,
            ),
        ),
        min_size=1,
        max_size=8,
    )
)
@example(rows=[[], None, ["b", "a", "b"], ["a", None], ["x" * 300], ["c", "b", "a", "d"]])
def test_a_parquet_list_of_strings_types_as_its_json_text_would(
    rows: list[list[str | None] | None], tmp_path_factory: pytest.TempPathFactory
) -> None:
    """Typing reads a Parquet list of strings as itself (`list_items_sql`), not by parsing its
    JSON text back: both give the same canonical and wire text, or both leave it to Python."""
    path = tmp_path_factory.mktemp("lists") / "a.parquet"
    ids = [f"u{i}" for i in range(len(rows))]
    pq.write_table(pa.table({"id": ids, "tags": pa.array(rows, pa.list_(pa.string()))}), path)
    con = duckdb.connect()
    raw = load_raw(con, "raw", path, "parquet", "a.parquet", ["id", "tags"])
    assert raw.lists == {1}
    attr = AttributeDef(name="x", type="array", max_length=3)
    canon, wire = canonical_sql(attr, "c1", "t1")
    typed = {}
    for how, items in (("native", list_items_sql("l1")), ("text", array_items_sql("c1"))):
        typed[how] = con.execute(
            f"SELECT c1, {blank('c1')}, {canon}, {wire} "
            f"FROM (SELECT *, {items} AS c1_items FROM raw) ORDER BY row_no"
        ).fetchall()
    assert typed["native"] == typed["text"]
    for text, is_blank, fast, _ in typed["native"]:
        assert is_blank == (text is None)
        if fast is not None:  # where SQL answers, Python agrees
            assert fast == python_canonical(attr, json.loads(text))


def _typed_both_ways(
    con: duckdb.DuckDBPyConnection,
) -> list[tuple[AttributeDef, str, list[tuple[Any, ...]]]]:
    """Table `raw`'s c1 (a TIMESTAMP's text) and c2 (a DATE's) typed as a date and as a
    datetime attribute, by their shape and by the text path: (attribute, shape, [(cell,
    shaped, text path)] in row order)."""
    out = []
    for kind in ("date", "datetime"):
        attr = AttributeDef(name="x", type=kind)
        for j, shape in ((1, "instant"), (2, "date")):
            fast, _ = canonical_sql(attr, f"c{j}", f"t{j}", shape)
            text, _ = canonical_sql(attr, f"c{j}", f"t{j}")
            rows = con.execute(f"SELECT c{j}, {fast}, {text} FROM raw ORDER BY row_no").fetchall()
            out.append((attr, shape, rows))
    return out


@settings(max_examples=60, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    instants=st.lists(
        st.one_of(
            st.none(),
            st.datetimes(min_value=datetime.datetime(1, 1, 1), max_value=datetime.datetime(9999, 12, 31)),
            st.sampled_from(
                [datetime.datetime(999, 12, 31, 23, 59, 59), datetime.datetime(3000, 12, 31, 23, 59, 59),
                 datetime.datetime(3001, 1, 1), datetime.datetime(2026, 11, 2, 18, 22, 0, 250000)]
            ),
        ),
        min_size=1,
        max_size=8,
    ),
    zoned=st.booleans(),
)  # fmt: skip
def test_a_parquet_date_or_timestamp_types_as_its_text_would(
    instants: list[datetime.datetime | None],
    zoned: bool,
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    """The text DuckDB writes for a DATE or TIMESTAMP column has a known shape, so typing it
    skips the patterns (`canonical_sql(..., shape)`): for date and datetime attributes alike,
    the same canonical text as the text path, or both leave it to Python."""
    path = tmp_path_factory.mktemp("instants") / "a.parquet"
    ids = [f"u{i}" for i in range(len(instants))]
    unit = pa.timestamp("us", tz="UTC" if zoned else None)
    stamps = [
        None if x is None else x.replace(tzinfo=datetime.UTC) if zoned else x for x in instants
    ]
    days = [None if x is None else x.date() for x in instants]
    table = pa.table({"id": ids, "at": pa.array(stamps, unit), "day": pa.array(days, pa.date32())})
    pq.write_table(table, path)
    con = duckdb.connect()
    raw = load_raw(con, "raw", path, "parquet", "a.parquet", ["id", "at", "day"])
    assert dict(raw.shapes) == {1: "instant", 2: "date"}
    answered = 0
    for attr, shape, rows in _typed_both_ways(con):
        for cell, shaped, plain in rows:
            assert shaped == plain, (attr.type, shape, cell)
            if shaped is not None:  # where SQL answers, Python agrees
                answered += 1
                assert shaped == python_canonical(attr, cell), (attr.type, cell)
    # a date attribute types every DATE cell in SQL (years 0001-9999 are all 10 characters)
    assert (answered > 0) == any(x is not None for x in instants)


def test_dates_and_instants_python_cannot_hold_type_as_their_text_would(tmp_path: Path) -> None:
    """Years before 1 and after 9999 (a Parquet file may hold them, Python cannot): DuckDB
    writes them longer (` (BC)`, a fifth digit), and neither path types them in SQL."""
    path = tmp_path / "a.parquet"
    days = pa.array([-800_000, 4_000_000, 0], pa.int32()).cast(pa.date32())
    micros = [-80_000_000_000_000_000, 300_000_000_000_000_000, 0]
    at = pa.array(micros, pa.int64()).cast(pa.timestamp("us"))
    pq.write_table(pa.table({"id": ["a", "b", "c"], "at": at, "day": days}), path)
    con = duckdb.connect()
    raw = load_raw(con, "raw", path, "parquet", "a.parquet", ["id", "at", "day"])
    assert dict(raw.shapes) == {1: "instant", 2: "date"}
    for attr, shape, rows in _typed_both_ways(con):
        assert [r[1] for r in rows] == [r[2] for r in rows], (attr.type, rows)
        assert rows[0][1] is None and rows[1][1] is None  # left to Python
        assert rows[2][1] is not None or (attr.type, shape) == ("date", "instant")
