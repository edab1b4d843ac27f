"""Mutated manifests and random YAML: never a traceback, every error located."""

from __future__ import annotations

import re
import shutil
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from manifests.helpers import REPO

from reconciler.errors import ManifestError
from reconciler.manifests import load_workspace

LOCATED = re.compile(r"^[^:\n]+\.ya?ml:\d+:\d+: \S")
FILES = sorted(p.name for p in (REPO / "manifests").glob("*.yaml"))

yaml_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=False),
    st.text(max_size=12),
    st.sampled_from(
        [
            "AIQ_1_2",
            "rokt:x",
            "dob",
            "US-03",
            "{{ x",
            "${user_id}",
            "3f2a9c1e-1b2c-4d5e-8f90-123456789abc",
        ]
    ),
)


@st.composite
def mutations(draw: st.DrawFn) -> tuple[str, int, str]:
    """(file, line number, replacement line) applied to the example workspace."""
    name = draw(st.sampled_from(FILES))
    lines = (REPO / "manifests" / name).read_text(encoding="utf-8").splitlines()
    index = draw(st.integers(0, len(lines) - 1))
    original = lines[index]
    kind = draw(st.sampled_from(["delete", "garble", "retype", "indent", "duplicate", "random"]))
    if kind == "delete":
        new = ""
    elif kind == "garble":
        cut = draw(st.integers(0, len(original)))
        new = (
            original[:cut]
            + draw(st.sampled_from(["[", "{", ":", "'", '"', "- ", "&a", "*a", "\t", "%"]))
            + original[cut:]
        )
    elif kind == "retype":
        key = original.split(":", 1)[0]
        new = f"{key}: {draw(yaml_scalars)!r}" if ":" in original else original
    elif kind == "indent":
        new = " " * draw(st.integers(0, 6)) + original.lstrip()
    elif kind == "duplicate":
        new = original + "\n" + original
    else:
        new = draw(st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=40))
    return name, index, new


def _check(root: Path) -> None:
    try:
        load_workspace(root)
    except ManifestError as e:
        assert e.diagnostics
        for diag in e.diagnostics:
            assert LOCATED.match(diag.render()), diag.render()


@settings(suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(st.lists(mutations(), min_size=1, max_size=3))
def test_mutated_manifests_always_give_located_errors(edits: list[tuple[str, int, str]]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "manifests"
        shutil.copytree(REPO / "manifests", root)
        for name, index, new in edits:
            path = root / name
            lines = path.read_text(encoding="utf-8").splitlines()
            lines[min(index, len(lines) - 1)] = new
            path.write_text("\n".join(lines) + "\n", encoding="utf-8")
        _check(root)


yaml_values = st.recursive(
    yaml_scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)


@settings(suppress_health_check=[HealthCheck.too_slow])
@given(
    st.one_of(
        st.text(max_size=200),
        st.binary(max_size=120).map(lambda b: b.decode("latin-1")),
        yaml_values.map(repr),
        st.dictionaries(
            st.sampled_from(["apiVersion", "kind", "metadata", "spec", "x"]),
            yaml_values,
            max_size=5,
        ).map(lambda d: "\n".join(f"{k}: {v!r}" for k, v in d.items())),
    )
)
@example("-_")  # found by this test: ruamel's int constructor raised IndexError
@example("a: 2026-02-30")
def test_random_yaml_never_crashes(text: str) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "manifests"
        root.mkdir()
        (root / "random.yaml").write_text(text, encoding="utf-8", errors="surrogatepass")
        _check(root)


@pytest.mark.parametrize(
    ("text", "place", "value"),
    [
        ("-_\n", "1:1", "-_"),
        (
            "apiVersion: reconciler/v1\nkind: Workspace\nspec:\n  guards: {max: 0x_}\n",
            "4:17",
            "0x_",
        ),
        ("a: [1, ._]\n", "1:8", "._"),
        ("a:\n  b: 2026-02-30\n", "2:6", "2026-02-30"),
    ],
)
def test_a_scalar_yaml_cannot_construct_is_located_at_itself(
    tmp_path: Path, text: str, place: str, value: str
) -> None:
    """ruamel raises plain errors (IndexError, ValueError) for these, with no position."""
    (tmp_path / "bad.yaml").write_text(text, encoding="utf-8")
    try:
        load_workspace(tmp_path)
    except ManifestError as e:
        rendered = [d.render() for d in e.diagnostics]
    else:
        raise AssertionError("loaded")
    assert any(
        f"bad.yaml:{place}: YAML error: {value!r} looks like a number or a date" in r
        for r in rendered
    ), rendered
