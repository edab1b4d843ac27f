"""`on_invalid: skip` leaves a bad row's user alone: the row is neither sent nor taken as a
user missing from the source (which `on_missing_row: unset` would wipe), and the plan says
where the skipped rows are without showing their values."""

from __future__ import annotations

import csv
from pathlib import Path

from bench_workspace import acknowledge, generate
from manifests.helpers import run_cli

from reconciler.commands.planning import make_plan
from reconciler.render.plan import plan_json, render_json, render_markdown, render_text

USERS = 120
SECRET = "jane.doe@example.com"  # what a bad cell may hold: never printed by a plan


def test_a_skipped_row_never_unsets_its_user_and_the_plan_locates_it(tmp_path: Path) -> None:
    manifests = generate(tmp_path / "w", USERS, attributes=6, audiences=1, seed=3) / "original"
    workspace = manifests / "workspace.yaml"
    text = workspace.read_text(encoding="utf-8")
    assert "on_missing_row: keep" in text
    workspace.write_text(
        text.replace("on_missing_row: keep", "on_missing_row: unset\n  on_invalid: skip"), "utf-8"
    )
    url = f"sqlite:///{tmp_path / 'state.db'}"
    first = make_plan(manifests, url, tmp_path / "a").plan
    assert first.summary.users_changed == USERS and not first.warnings
    acknowledge(url, first)

    profile = manifests / "data" / "profile.csv"
    with profile.open(newline="", encoding="utf-8") as fh:
        rows = list(csv.reader(fh))
    header = rows[0]
    integer = next(i for i, name in enumerate(header) if name == "col_01")
    victim = rows[5][0]
    rows[5][integer] = SECRET  # an integer column: the row is invalid
    with profile.open("w", newline="", encoding="utf-8") as fh:
        csv.writer(fh).writerows(rows)

    # `validate` names the reason the plan's warning points to, as a note: not a failure
    code, out = run_cli(tmp_path, "validate", "--manifests", str(manifests))
    assert code == 0, out
    assert f"profile.csv:6:{integer + 1}: note: col_01: " in out
    assert "(skipped: on_invalid: skip)" in out

    plan = make_plan(manifests, url, tmp_path / "b").plan
    touched = {d.user_id: d for d in plan.deltas()}
    assert victim not in touched  # neither its new values nor an unset of the old ones
    assert plan.summary.users_changed == 0
    (warning,) = plan.warnings
    assert warning.startswith("1 source row skipped as invalid (on_invalid: skip)")
    assert f"profile.csv:6:{integer + 1} (col_01)" in warning
    for shown in (render_text(plan), render_markdown(plan), render_json(plan), warning):
        assert SECRET not in shown
        assert "profile.csv:6" in shown
    assert plan_json(plan)["warnings"] == [warning]  # the JSON plan carries it for CI too

    # fixed in the export: the user is planned again, for the one cell that changed
    rows[5][integer] = "7"
    with profile.open("w", newline="", encoding="utf-8") as fh:
        csv.writer(fh).writerows(rows)
    fixed = make_plan(manifests, url, tmp_path / "c").plan
    assert not fixed.warnings
    assert [d.user_id for d in fixed.deltas()] == [victim]
    (delta,) = fixed.deltas()
    assert set(delta.attributes) == {"bench_01_integer"} and not delta.unsets


def test_an_audience_member_without_an_identifier_is_skipped_when_asked(tmp_path: Path) -> None:
    """ActionIQ exports members Braze may know only by braze_id: with `on_invalid: skip` a
    member row without an external_id is left out (warned about by place), not a failed plan;
    without it, the row stays an error."""
    manifests = generate(tmp_path / "w", USERS, attributes=2, audiences=1, seed=5) / "original"
    workspace = manifests / "workspace.yaml"
    text = workspace.read_text(encoding="utf-8")
    assert text.count("kind: AudienceMapping") == 1
    members = next((manifests / "data").glob("aiq_*.csv"))
    lines = members.read_text(encoding="utf-8").splitlines()
    kept = lines[1:]
    members.write_text("\n".join([lines[0], *kept[:3], "", *kept[3:]]) + "\n", encoding="utf-8")
    code, out = run_cli(tmp_path, "validate", "--manifests", str(manifests))
    assert code == 1 and f"{members.name}:5:1: " in out and "missing identifier" in out

    skipping = text.replace("kind: AudienceMapping", "kind: AudienceMapping", 1)
    head, tail = skipping.split("kind: AudienceMapping", 1)
    tail = tail.replace("\nspec:\n", "\nspec:\n  on_invalid: skip\n", 1)
    workspace.write_text(head + "kind: AudienceMapping" + tail, encoding="utf-8")
    code, out = run_cli(tmp_path, "validate", "--manifests", str(manifests))
    assert code == 0, out
    assert f"{members.name}:5:1: note: " in out and "(skipped: on_invalid: skip)" in out

    url = f"sqlite:///{tmp_path / 'state.db'}"
    plan = make_plan(manifests, url, tmp_path / "a").plan
    (warning,) = plan.warnings
    assert warning.startswith("1 source row skipped as invalid (on_invalid: skip)")
    assert f"{members.name}:5:1" in warning
    (audience,) = (c for c in plan.attribute_changes if c.attribute.startswith("AIQ_"))
    assert audience.set == len(kept)


def test_resending_an_audience_is_not_a_flip_but_a_real_leave_is(tmp_path: Path) -> None:
    """`plan --replace AIQ_…` (which drift recommends) resends every member as it is: the
    flip guard counts membership that changes, not cells resent, so it does not trip; members
    who really leave still count."""
    from reconciler.plan.model import Replace

    manifests = generate(tmp_path / "w", USERS, attributes=2, audiences=1, seed=7) / "original"
    url = f"sqlite:///{tmp_path / 'state.db'}"
    acknowledge(url, make_plan(manifests, url, tmp_path / "a").plan)
    members = next((manifests / "data").glob("aiq_*.csv"))
    attribute = "AIQ_" + members.stem.split("_", 1)[1]

    resend = make_plan(manifests, url, tmp_path / "c", replace=Replace(frozenset({attribute})))
    plan = resend.plan
    (change,) = [c for c in plan.attribute_changes if c.attribute == attribute]
    assert change.changed > 0 and plan.summary.cells_replaced == change.changed
    flip = next(g for g in plan.guards if g.name == "max_audience_flip_pct")
    assert flip.ok and flip.value == 0.0

    lines = members.read_text(encoding="utf-8").splitlines()
    leaving = len(lines[1:]) // 2
    members.write_text("\n".join(lines[: 1 + len(lines[1:]) - leaving]) + "\n", encoding="utf-8")
    left = make_plan(manifests, url, tmp_path / "d").plan
    flip = next(g for g in left.guards if g.name == "max_audience_flip_pct")
    assert flip.value == 50.0  # half the members leave (this workspace allows 100%)


def test_replacing_an_attribute_no_manifest_writes_is_a_usage_error(tmp_path: Path) -> None:
    """A typo in `--replace` (a name copied from a drift report, say) resent nothing and said
    nothing; it is refused with the closest attribute the manifests write."""
    import pytest

    from reconciler.errors import UsageError
    from reconciler.plan.model import Replace

    manifests = generate(tmp_path / "w", USERS, attributes=2, audiences=1, seed=7) / "original"
    url = f"sqlite:///{tmp_path / 'state.db'}"
    with pytest.raises(UsageError) as refused:
        make_plan(manifests, url, tmp_path / "a", replace=Replace(frozenset({"bench_00_enm"})))
    assert "--replace bench_00_enm: no AttributeSync or AudienceMapping" in refused.value.message
    assert refused.value.hint == "did you mean 'bench_00_enum'?"
