"""bench/report.py re-renders RESULTS.md from results.json and keeps the hand-written sections."""

from __future__ import annotations

import json
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "bench"))

from report import KEPT, write_results  # noqa: E402


def test_a_rerender_keeps_what_was_written_by_hand(tmp_path: Path) -> None:
    doc = json.loads((REPO / "bench" / "results.json").read_text(encoding="utf-8"))
    out = tmp_path / "RESULTS.md"
    write_results(doc, out)
    first = out.read_text(encoding="utf-8")
    assert first.startswith("# Benchmark results") and first.count(KEPT) == 1

    hand = "## 10M users\n\nMeasured by another command: 1,681.7 s.\n"
    out.write_text(first.rstrip("\n") + "\n\n" + hand, encoding="utf-8")
    write_results(doc, out)
    again = out.read_text(encoding="utf-8")
    assert again.count(KEPT) == 1 and again.count("# Benchmark results") == 1
    assert again.endswith(hand)
    assert again.split(KEPT)[0] == first.split(KEPT)[0]  # the rendered part is the same
