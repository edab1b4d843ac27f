"""Render what `reconciler import` adopted (text for people, JSON for scripts)."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from reconciler.commands.importing import ImportReport


def render_import_text(report: ImportReport) -> str:
    lines: list[str] = []
    for section in report.sections:
        lines.append(f"{section.title}:")
        lines += [f"  {note}" for note in section.notes] or ["  nothing found"]
        lines.append("")
    verb = "would adopt" if report.dry_run else "adopted"
    lines.append(
        f"{verb} {report.adopted} object(s) into state using {report.requests} Braze "
        f"request(s); nothing was written to Braze."
    )
    if report.dry_run:
        lines.append("dry run: state was not changed; run without --dry-run to record them.")
    return "\n".join(lines) + "\n"


def render_import_json(report: ImportReport) -> str:
    out: dict[str, Any] = {
        "dry_run": report.dry_run,
        "adopted": report.adopted,
        "requests": report.requests,
        "sections": [
            {
                "title": s.title,
                "adoptions": [
                    {"address": a.address, "remote_id": a.remote_id} for a in s.adoptions
                ],
                "notes": s.notes,
                "requests": s.requests,
            }
            for s in report.sections
        ],
    }
    return json.dumps(out, indent=2) + "\n"
