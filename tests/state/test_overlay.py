"""The log's overlay (columnar.load_overlay) holds, per user, the newest cell of every attribute,
whatever parts the spool is read in: checked against replaying the log entry by entry."""

from __future__ import annotations

from functools import partial
from pathlib import Path

import duckdb
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from reconciler.state import cells as cells_module
from reconciler.state.base import CellColumns
from reconciler.state.cells import encode_cells, spool_log
from reconciler.state.columnar import UNSET, load_overlay

USERS = ["u0", "u1", "u2", "U0"]  # ids and attribute names are case-sensitive
ATTRIBUTES = ["a", "A", "b", "score"]
VALUES = [None, '"x"', '"X"', "1", "true", "?in-doubt"]

Cell = tuple[str, str, str | None]  # user, attribute, value

# an entry holds one cell per (user, attribute), as every ack and doubt mark does
entries = st.lists(
    st.dictionaries(
        st.tuples(st.sampled_from(USERS), st.sampled_from(ATTRIBUTES)),
        st.sampled_from(VALUES),
        min_size=1,
        max_size=6,
    ),
    min_size=1,
    max_size=12,
)


def replay(log: list[dict[tuple[str, str], str | None]]) -> dict[str, tuple[int, dict[str, str]]]:
    """Per user: the serial of its newest entry and each attribute's last word (UNSET: unset)."""
    out: dict[str, tuple[int, dict[str, str]]] = {}
    for serial, entry in enumerate(log, start=1):
        for (user, attribute), value in entry.items():
            _, row = out.get(user, (0, {}))
            row[attribute] = UNSET if value is None else value
            out[user] = (serial, row)
    return out


def overlay(tmp_path: Path, log: list[dict[tuple[str, str], str | None]]) -> dict[str, tuple]:
    blobs = []
    for serial, entry in enumerate(log, start=1):
        keys = list(entry)
        columns = CellColumns(
            ["external_id"] * len(keys),
            [u for u, _ in keys],
            [a for _, a in keys],
            [entry[k] for k in keys],
            distinct=True,
        )
        blobs.append((serial, encode_cells(columns, serial)))
    spooled = spool_log(iter(blobs), tmp_path / "log.arrow")
    columns_of = {a: i for i, a in enumerate(sorted(spooled.attributes))}
    con = duckdb.connect()
    load_overlay(con, spooled, columns_of)
    found = {}
    names = ", ".join(f"o{i}" for i in columns_of.values())
    for user, serial, *values in con.execute(
        f"SELECT user_id, serial, {names} FROM overlay"
    ).fetchall():
        assert user not in found, f"{user} has two overlay rows"
        found[user] = (
            serial,
            {a: v for a, v in zip(columns_of, values, strict=True) if v is not None},
        )
    con.close()
    return found


@pytest.mark.parametrize("part_cells", [1, 3, 1_000_000])
@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(log=entries)
def test_the_overlay_is_the_last_word_per_cell_whatever_the_parts(
    log: list[dict[tuple[str, str], str | None]],
    part_cells: int,
    tmp_path_factory: pytest.TempPathFactory,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    small_parts(monkeypatch, part_cells)
    assert overlay(tmp_path_factory.mktemp("log"), log) == replay(log)


def small_parts(monkeypatch: pytest.MonkeyPatch, cells: int) -> None:
    """Spool and read the log in parts of about `cells` cells (a million in use), so that a
    user's cells fall in several parts and one part can hold a cell twice."""
    monkeypatch.setattr(cells_module, "SPOOL_BATCH_ROWS", cells)
    monkeypatch.setattr(cells_module, "read_spooled_log", partial(READ, group_rows=cells))


READ = cells_module.read_spooled_log


@pytest.mark.parametrize("part_cells", [1, 2, 1_000_000])
def test_written_unset_in_a_later_part_then_written_again(
    part_cells: int, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    small_parts(monkeypatch, part_cells)
    log: list[dict[tuple[str, str], str | None]] = [
        {("u0", "a"): '"x"', ("u0", "b"): "1", ("U0", "a"): '"y"'},
        {("u0", "a"): None},
        {("u1", "b"): "2", ("u0", "A"): "true"},
        {("u0", "a"): '"z"'},
    ]
    assert overlay(tmp_path, log) == {
        "u0": (4, {"a": '"z"', "A": "true", "b": "1"}),
        "U0": (1, {"a": '"y"'}),
        "u1": (3, {"b": "2"}),
    }
    assert overlay(tmp_path, log[:2])["u0"] == (2, {"a": UNSET, "b": "1"})
