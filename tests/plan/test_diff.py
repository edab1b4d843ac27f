"""The delta engine sends only what changed: each planning rule against a real ledger."""

from __future__ import annotations

from pathlib import Path

from plan.conftest import Workbench

from reconciler.plan.model import UserDelta

AMPERITY = "data/amperity/braze_customer_attributes.csv"
ROKT = "data/rokt_calendar/subscribers.jsonl"
AIQ_HIGH = "data/actioniq/aiq_48213_2.csv"
AIQ_LAPSING = "data/actioniq/aiq_51877_1.csv"


def _by_user(deltas: list[UserDelta]) -> dict[str, dict[str, object]]:
    return {d.user_id: dict(d.attributes) for d in deltas}


def _converged(bench: Workbench) -> None:
    bench.acknowledge(bench.plan())
    again = bench.plan()
    assert not again.has_changes
    assert again.summary.data_points == 0


def test_new_workspace_sends_the_full_desired_set(bench: Workbench) -> None:
    plan = bench.plan()
    assert plan.summary.users_changed == 8
    assert plan.summary.data_points == plan.summary.full_resend_data_points == 83
    assert plan.summary.requests == 1
    assert all(c.changed == 0 and c.unset == 0 for c in plan.attribute_changes)


def test_after_ack_the_next_plan_is_empty(bench: Workbench) -> None:
    _converged(bench)


def test_only_changed_cells_are_sent(bench: Workbench) -> None:
    _converged(bench)
    bench.edit(
        AMPERITY, "cust-0002,silver,Lyon Part-Dieu,false", "cust-0002,gold,Lyon Part-Dieu,true"
    )
    bench.edit(AMPERITY, "1180.40,0.21,12", "1180.40,0.21,13")
    plan = bench.plan()
    assert _by_user(list(plan.deltas())) == {
        "cust-0002": {"loyalty_tier": "gold", "is_vip": True, "order_count": 13}
    }
    assert plan.summary.data_points == 3
    assert plan.summary.full_resend_data_points == 83


def test_equal_values_in_another_spelling_are_not_changes(bench: Workbench) -> None:
    _converged(bench)
    bench.edit(AMPERITY, "230.00", "230")  # same decimal
    bench.edit(AMPERITY, ",no,2023-01-20", ",false,2023-01-20")  # same boolean
    assert not bench.plan().has_changes


def test_array_changes_are_add_and_remove(bench: Workbench) -> None:
    _converged(bench)
    bench.edit(
        ROKT,
        '"rokt:calendar_code": ["test-calendar-1/ff10919f1078", "test-calendar-2/ff10919f1078"]',
        '"rokt:calendar_code": ["test-calendar-2/ff10919f1078", "test-calendar-3/ff10919f1078"]',
    )
    plan = bench.plan()
    [delta] = list(plan.deltas())
    assert delta.attributes == {
        "rokt:calendar_code": {
            "add": ["test-calendar-3/ff10919f1078"],
            "remove": ["test-calendar-1/ff10919f1078"],
        }
    }
    assert delta.data_points == 2  # one added value + one remove call


def test_array_reorder_alone_is_not_a_change(bench: Workbench) -> None:
    _converged(bench)
    bench.edit(
        ROKT,
        '"rokt:calendar_code": ["test-calendar-1/ff10919f1078", "test-calendar-2/ff10919f1078"]',
        '"rokt:calendar_code": ["test-calendar-2/ff10919f1078", "test-calendar-1/ff10919f1078"]',
    )
    assert not bench.plan().has_changes


def test_audience_exit_set_false(bench: Workbench) -> None:
    _converged(bench)
    bench.edit(AIQ_HIGH, "cust-0003\n", "")
    plan = bench.plan()
    assert _by_user(list(plan.deltas())) == {"cust-0003": {"AIQ_48213_2": False}}
    _converged(bench)  # a member already at false is not re-sent


def test_audience_exit_unset(bench: Workbench) -> None:
    _converged(bench)
    bench.edit(AIQ_LAPSING, "cust-0006\n", "cust-0009\n")
    plan = bench.plan()
    assert _by_user(list(plan.deltas())) == {
        "cust-0006": {"AIQ_51877_1": None},
        "cust-0009": {"AIQ_51877_1": True},
    }


def test_on_missing_row_keep_leaves_users_alone(bench: Workbench) -> None:
    _converged(bench)
    bench.edit(
        AMPERITY,
        "cust-0006,bronze,Marseille Vieux-Port,1,2024-02-29,2026-07-04T12:00:00Z,145.99,0.63,2,2001-09-13,hyunwoo.lee@example.com\n",
        "",
    )
    assert not bench.plan().has_changes


def test_on_missing_row_unset_removes_every_attribute(bench: Workbench) -> None:
    _converged(bench)
    path = bench.root / ROKT
    path.write_text(path.read_text().splitlines()[0] + "\n")  # cust-0004 leaves Rokt
    [delta] = list(bench.plan().deltas())
    assert delta.user_id == "cust-0004"
    assert set(delta.attributes.values()) == {None}
    assert len(delta.attributes) == 6
    assert len(delta.unsets) == 6


def test_removed_mapping_unsets_every_member(bench: Workbench) -> None:
    _converged(bench)
    text = (bench.root / "actioniq.yaml").read_text()
    start = text.index("kind: AudienceMapping\nmetadata: {name: aiq-lapsing-control}")
    end = text.index("---", start)
    (bench.root / "actioniq.yaml").write_text(text[: text.rindex("---", 0, start)] + text[end:])
    plan = bench.plan()
    [change] = [c for c in plan.attribute_changes if c.attribute == "AIQ_51877_1"]
    assert (change.set, change.changed, change.unset) == (0, 0, 3)
    assert "no longer managed" in change.reason
    assert all(d.attributes == {"AIQ_51877_1": None} for d in plan.deltas())


def test_new_mapping_sends_its_full_set(bench: Workbench) -> None:
    _converged(bench)
    (bench.root / "data/actioniq/aiq_60001_4.csv").write_text("external_id\ncust-0001\ncust-0007\n")
    with (bench.root / "actioniq.yaml").open("a") as fh:
        fh.write(
            "---\napiVersion: reconciler/v1\nkind: AudienceMapping\nmetadata: {name: aiq-new}\n"
            "spec:\n  integration: actioniq\n  audience_id: '60001'\n  split_id: '4'\n"
            "  members: {path: data/actioniq/aiq_60001_4.csv}\n"
        )
    plan = bench.plan()
    assert _by_user(list(plan.deltas())) == {
        "cust-0001": {"AIQ_60001_4": True},
        "cust-0007": {"AIQ_60001_4": True},
    }


def test_pii_values_are_never_stored_raw(bench: Workbench) -> None:
    _converged(bench)
    raw = bench.state.url.removeprefix("sqlite:///")
    data = Path(raw).read_bytes()
    assert b"camille.martin@example.com" not in data
    assert b"1984-07-09" not in data


def test_attribute_names_with_quotes_backslashes_and_accents_reach_the_line_intact(
    bench: Workbench,
) -> None:
    """The spool line is assembled in SQL from the names: an apostrophe (SQL's quote), a double
    quote and a backslash (JSON's) and an accent must come out as the name itself."""
    name = 'l\'état "VIP" \\ tier'
    yaml_name = name.replace("\\", "\\\\").replace('"', '\\"')
    bench.edit(
        "amperity.yaml",
        "{name: loyalty_tier, type: String",
        f'{{name: "{yaml_name}", type: String',
    )
    bench.edit("amperity.yaml", "loyalty_tier: loyalty_tier", f'loyalty_tier: "{yaml_name}"')
    plan = bench.plan()
    [first] = [d for d in plan.deltas() if d.user_id == "cust-0002"]
    assert first.attributes['l\'état "VIP" \\ tier'] == "silver"
    assert "loyalty_tier" not in first.attributes
    assert [name, '"silver"'] in first.writes  # the ledger's side of the line
    _converged(bench)
    bench.edit(
        AMPERITY, "cust-0002,silver,Lyon Part-Dieu,false", "cust-0002,gold,Lyon Part-Dieu,false"
    )
    [delta] = list(bench.plan().deltas())
    assert delta.attributes == {name: "gold"}
