"""The fake GitHub API on loopback, one per test (its state is the test's)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from gh.fake_github import FakeGitHub, serve

TOKEN = "ghs_FAKEtoken0123456789abcdefSECRET"


@pytest.fixture
def fake_github() -> Iterator[FakeGitHub]:
    with serve(FakeGitHub(token=TOKEN)) as fake:
        yield fake
