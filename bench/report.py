"""Turn bench/run.py's results document into RESULTS.md and a plot of plan time and memory.

.venv/bin/python bench/report.py [bench/results.json]   # re-render both from the JSON
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

Doc = dict[str, Any]


def _median(size: Doc, step: str) -> float | None:
    s = size["series"].get(step)
    return s["median_s"] if s and s["runs"] else None


def _rss(size: Doc, step: str) -> float | None:
    s = size["series"].get(step)
    return s["peak_rss_mb"] if s and s["runs"] else None


def _ratio(a: float | None, b: float | None) -> float | None:
    return a / b if a is not None and b else None


def _fmt_ratio(r: float | None, digits: int = 1) -> str:
    return "—" if r is None else f"{r:.{digits}f}×"


def _n(users: int) -> str:
    return f"{users / 1e6:g}M" if users >= 10**6 else f"{users / 1e3:g}k"


Target = tuple[str, str, Callable[[Doc, int], tuple[str, bool | None]]]


def _naive_ratio(size: Doc, _: int) -> tuple[str, bool | None]:
    r = _ratio(_median(size, "naive churn"), _median(size, "plan churn"))
    if r is None:
        return "naive did not run or finish", None
    return _fmt_ratio(r), r >= 20


def _floor_ratio(step: str) -> Callable[[Doc, int], tuple[str, bool | None]]:
    """The floor targets are stated at 1M users; smaller N is shown without a verdict."""

    def figure(size: Doc, users: int) -> tuple[str, bool | None]:
        r = _ratio(_median(size, step), _median(size, "I/O floor"))
        limit = 3 if step == "plan churn" else 2
        return _fmt_ratio(r), None if r is None or users < 10**6 else r <= limit

    return figure


def _plan_rss(size: Doc, users: int) -> tuple[str, bool | None]:
    rss = _rss(size, "plan churn")
    if rss is None or users < 10**6:
        return ("—" if rss is None else f"{rss:,.0f} MB"), None
    limit = 1.5 * 1024 if users <= 10**6 else 3 * 1024
    return f"{rss:,.0f} MB", rss <= limit


def _points_ratio(size: Doc, _: int) -> tuple[str, bool | None]:
    """Attribute data points: what was sent, less one per event and one marker per request
    that carried events (both checked exactly against the ground truth on their own)."""
    truth = size["truth"]
    extra = truth.get("events", 0) + truth.get("requests_carrying_events", 0)
    cells = truth["changed_cells"]
    planned = size["figures"].get("churn planned", {}).get("data_points")
    sent = size["figures"].get("churn sent by apply", {}).get("data_points")
    if sent is None:
        r = _ratio(None if planned is None else planned - extra, cells)
        return f"planned {_fmt_ratio(r, 3)} (not sent at this N)", None if r is None else r == 1
    r = _ratio(sent - extra, cells)
    both = sent - extra == cells and planned is not None and planned - extra == cells
    return f"{_fmt_ratio(r, 3)} ({sent - extra:,} / {cells:,})", both


def _apply_ratio(label: str) -> Callable[[Doc, int], tuple[str, bool | None]]:
    def figure(size: Doc, _: int) -> tuple[str, bool | None]:
        r = _ratio(_median(size, f"raw httpx {label}"), _median(size, f"apply {label}"))
        return _fmt_ratio(r, 2), None if r is None else r >= 0.8

    return figure


TARGETS: list[Target] = [
    ("plan: naive / ours, 1% churn", "≥ 20×", _naive_ratio),
    ("plan / I/O floor", "≤ 3× at 1M", _floor_ratio("plan churn")),
    ("peak RSS of plan", "≤ 1.5 GB at 1M, ≤ 3 GB at 10M", _plan_rss),
    ("no-op plan / I/O floor", "≤ 2× at 1M", _floor_ratio("plan no-op")),
    ("data points sent / changed cells", "exactly 1.000", _points_ratio),
    ("apply throughput / raw httpx (first sync)", "≥ 0.8×", _apply_ratio("first")),
    ("apply throughput / raw httpx (churn)", "≥ 0.8×", _apply_ratio("churn")),
]


def _verdict(ok: bool | None) -> str:
    return "—" if ok is None else ("met" if ok else "**missed**")


def churn_label(latency_ms: int) -> str:
    """The churned apply's step label: `churn`, or `churn, 20 ms answers` with a latency
    (bench/run.py names its steps by it, and the targets table reads them back)."""
    return f"churn, {latency_ms} ms answers" if latency_ms else "churn"


def _targets(doc: Doc) -> list[Target]:
    """TARGETS, and the churned apply once more at the run's wire latency when it had one."""
    latency = int(doc["config"].get("wire_latency_ms") or 0)
    if not latency:
        return TARGETS
    label = churn_label(latency)
    return [*TARGETS, (f"apply throughput / raw httpx ({label})", "≥ 0.8×", _apply_ratio(label))]


def targets_table(doc: Doc) -> list[str]:
    sizes = doc["sizes"]
    lines = ["| figure | target | " + " | ".join(_n(int(n)) for n in sizes) + " |"]
    lines.append("|---|---|" + "---|" * len(sizes))
    for name, target, fn in _targets(doc):
        cells = []
        for n, size in sizes.items():
            text, ok = fn(size, int(n))
            cells.append(f"{text} ({_verdict(ok)})" if ok is not None else text)
        lines.append(f"| {name} | {target} | " + " | ".join(cells) + " |")
    return lines


def timings_table(size: Doc) -> list[str]:
    lines = [
        "| step | runs | median s | min s | max s | peak RSS MB | note |",
        "|---|---:|---:|---:|---:|---:|---|",
    ]
    for s in size["series"].values():
        note = s["note"] + (f" ({s['failed']} run(s) did not finish)" if s["failed"] else "")
        if not s["runs"]:
            lines.append(f"| {s['name']} | 0 | — | — | — | — | {note.strip()} |")
            continue
        lines.append(
            f"| {s['name']} | {s['runs']} | {s['median_s']:.2f} | {s['min_s']:.2f} | "
            f"{s['max_s']:.2f} | {s['peak_rss_mb']:,.0f} | {note.strip()} |"
        )
    return lines


def counts_table(size: Doc) -> list[str]:
    columns = ("changed_cells", "data_points", "users", "events", "objects", "requests")
    lines = [
        "| | changed cells | data points | users | events | objects | requests |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]

    def row(name: str, c: Doc) -> str:
        cells = [f"{c[k]:,}" if k in c else "" for k in columns]
        return f"| {name} | " + " | ".join(cells) + " |"

    for name, t in (("churn", size["truth"]), ("first sync", size["truth"].get("first_sync"))):
        if t:
            expected = {
                "changed_cells": t["changed_cells"],
                "data_points": t["expected_data_points"],
                "users": t["changed_users"],
                "events": t.get("events", 0),
                "objects": t.get("expected_objects", t["changed_users"]),
                "requests": t["expected_requests"],
            }
            lines.append(row(f"ground truth ({name})", expected))
    lines += [row(name, c) for name, c in size["figures"].items()]
    return lines


def write_results(doc: Doc, path: Path) -> None:
    m: Doc = doc["machine_at_start"]
    end: Doc = doc.get("machine_at_end") or m
    cfg = doc["config"]
    out = [
        "# Benchmark results",
        "",
        "Filled by this one command, run from the repository root (`make bench` runs it with "
        "the defaults, which measure the work tree's engine):",
        "",
        "```console",
        doc["command"],
        "```",
        "",
        f"Engine revision {doc['revision']}, started {doc['started']}, "
        f"took {doc.get('minutes', '?')} min. Workspace: {cfg['attributes']} attributes "
        f"(all ten types, arrays and pii included) from {cfg['fmt']}, {cfg['audiences']} "
        f"ActionIQ audiences, events for {cfg.get('events_pct', 0)}% of users in an EventStream "
        f"(the churned copy adds 10% new ones), {cfg['churn']}% churn, seed {cfg['seed']}; "
        f"{cfg['runs']} runs of each step (above 100k users the naive baseline and the "
        "first-sync apply comparison run once).",
        "",
        f"Machine: {m['cpu']}, {m['cores']} cores, {m['memory_gb']} GB, Python {m['python']}, "
        f"{m['platform']}. {_load_note(m, end)}",
        "",
        "## Targets",
        "",
        *targets_table(doc),
        "",
        "![plan time and peak memory against users](results.png)",
        "",
    ]
    for n, size in doc["sizes"].items():
        failed = [c for c in size["checks"] if c.startswith("FAIL")]
        verdict = (
            f"**{len(failed)} checks FAILED**"
            if failed
            else f"all {len(size['checks'])} checks passed"
        )
        out += [f"## {_n(int(n))} users", "", *timings_table(size), ""]
        out += [
            f"Ground truth: {verdict}. Expected data points = changed cells + one per event + "
            "one marker value per request that carries events; expected requests and objects "
            "follow the combined 75-object packing (bench/generate.py `pack_counts`). The naive "
            "baseline packs without co-location or markers, so its requests are "
            "ceil((users + events) / 75).",
            "",
            *counts_table(size),
            "",
        ]
        out += [f"- {c}" for c in failed]
        out += [f"- {note}" for note in size["notes"]]
        out.append("")
    out += [
        "## What each step is",
        "",
        "- **plan churn**: `reconciler plan --manifests churned --state <after apply of the "
        "original> --format json --out churn.plan`, a fresh process (start-up included).",
        "- **plan no-op**: the same on the original itself: nothing to change.",
        "- **I/O floor**: `bench/floor.py`: DuckDB reads and hashes every cell of every source "
        "file, and nothing else (the ledger's storage is our design choice, so it is not part "
        "of the floor); no plan can read its inputs faster.",
        "- **naive churn**: `bench/naive.py`: pyyaml + pyarrow `to_pylist` into dicts, the "
        "previous run's JSON snapshot, DeepDiff, payloads packed 75 per request.",
        "- **apply first / churn**: `reconciler apply PLANFILE` of the saved first-sync or "
        "churn plan against `reconciler sandbox` on loopback (state copied fresh each run); "
        "**raw httpx**: `bench/rawloop.py` posting the same payloads to the same sandbox with "
        "the same 4 connections, nothing else. Sent counts come from `/_sandbox/stats`.",
        "- **apply / raw httpx churn, N ms answers**: the same pair once more, the sandbox "
        "answering every request N ms late (`--wire-latency-ms`), as a network between the "
        "runner and Braze does. On loopback an answer takes about a millisecond, so the state's "
        "durable commit of each acknowledged batch (which the raw loop does not make) weighs "
        "as much as the request itself; across a network it is hidden behind the answers.",
        "- Peak RSS is the child's own `ru_maxrss` (`os.wait4`).",
        "",
    ]
    out += kept_sections(path)
    path.write_text("\n".join(out))


def _load_note(start: Doc, end: Doc) -> str:
    """Whether anything else ran beside the benchmark, from the load average before it began
    (the benchmark's own children load the machine by the end)."""
    loads = f"load average {start['load_average']} at the start, {end['load_average']} at the end"
    if float(start["load_average"][0]) >= 1.0:  # a core's worth of other work
        return (
            f"**Shared**: other work ran on the same cores ({loads}), so absolute times are "
            "noisy; the ratios are measured side by side in one run."
        )
    return f"Nothing else was running ({loads}); the ratios are measured side by side in one run."


# Sections below this line in an existing RESULTS.md are written by hand (runs measured by other
# commands, A/B tables, analysis) and survive a re-render.
KEPT = "<!-- kept by bench/report.py: the sections below are written by hand -->"


def kept_sections(path: Path) -> list[str]:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return [KEPT, ""]
    at = text.find(KEPT)
    return text[at:].rstrip("\n").split("\n") + [""] if at >= 0 else [KEPT, ""]


def write_plot(doc: Doc, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    steps = [
        ("plan churn", "reconciler plan (1% churn)", "o-"),
        ("plan no-op", "reconciler plan (no-op)", "s--"),
        ("I/O floor", "I/O floor (DuckDB reads and hashes the sources)", "^:"),
        ("naive churn", "naive (dicts + DeepDiff)", "x-."),
    ]
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4.2))
    for step, label, style in steps:
        points = [
            (int(n), s["series"][step])
            for n, s in doc["sizes"].items()
            if s["series"].get(step, {}).get("runs")
        ]
        if not points:
            continue
        xs = [n for n, _ in points]
        left.plot(xs, [p["median_s"] for _, p in points], style, label=label)
        right.plot(xs, [p["peak_rss_mb"] for _, p in points], style, label=label)
    for ax, title, unit in ((left, "plan time", "seconds"), (right, "peak RSS", "MB")):
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("users (20 attributes each)")
        ax.set_ylabel(f"{unit} (median of runs)" if unit == "seconds" else unit)
        ax.set_title(title)
        ax.grid(True, which="both", alpha=0.3)
    if left.get_legend_handles_labels()[0]:
        left.legend(fontsize=8)
    fig.suptitle(f"reconciler benchmarks, {doc['started'][:10]} ({doc['revision']})", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv: list[str]) -> int:
    source = Path(argv[0]) if argv else Path(__file__).parent / "results.json"
    doc = json.loads(source.read_text())
    write_results(doc, source.parent / "RESULTS.md")
    write_plot(doc, source.parent / "results.png")
    print(f"wrote {source.parent / 'RESULTS.md'} and results.png from {source}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
