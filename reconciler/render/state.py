"""Text for `reconciler state list|show|unlock|migrate`: pure functions of what they report."""

from __future__ import annotations

from datetime import datetime

from reconciler.state.base import LockInfo
from reconciler.state.overview import StateOverview
from reconciler.state.transfer import MigrationReport


def _when(t: datetime) -> str:
    return t.strftime("%Y-%m-%d %H:%M:%SZ")


def _lock_line(lock: LockInfo) -> str:
    what = lock.operation + (f" ({lock.info})" if lock.info else "")
    return (
        f"held by {lock.holder} for {what} since {_when(lock.started_at)}"
        f" (last heartbeat {_when(lock.heartbeat_at)})\n"
        f"            id {lock.lock_id}; break it with: reconciler state unlock {lock.lock_id}"
    )


def render_state_list(ov: StateOverview) -> str:
    """The ledger's attributes with their value counts, then the resources."""
    lines = [f"ledger: {ov.ledger_rows:,} values in {len(ov.attribute_counts)} attributes"]
    width = max((len(a) for a in ov.attribute_counts), default=0)
    lines += [f"  {a:<{width}}  {n:>12,}" for a, n in ov.attribute_counts.items()]
    lines.append(f"resources: {len(ov.resources)}")
    width = max((len(a) for a in ov.resources), default=0)
    for address, r in ov.resources.items():
        remote = r.remote_id or "-"
        lines.append(
            f"  {address:<{width}}  remote id {remote}  spec {r.spec_hash[:12]}"
            f"  updated {_when(r.updated_at)}"
        )
    return "\n".join(lines) + "\n"


def render_state_show(ov: StateOverview) -> str:
    """Meta, counts, the lock and the most recent applies and journal batches."""
    m = ov.meta
    if ov.hash_key_source == "env":
        key = f"from RECONCILER_HASH_KEY, fingerprint {ov.hash_key_fingerprint}"
    else:
        key = (
            f"stored in the state file, fingerprint {ov.hash_key_fingerprint}"
            " (set RECONCILER_HASH_KEY to keep it elsewhere)"
        )
    if ov.hash_key_changed:
        key += "; the ledger's pii hashes were made with another key"
    lines = [
        f"state       {ov.url}",
        f"lineage     {m.lineage}",
        f"serial      {m.serial}",
        f"schema      version {m.schema_version}",
        f"created     {_when(m.created_at)}",
        f"ledger      {ov.ledger_rows:,} values in {len(ov.attribute_counts)} attributes",
        f"resources   {len(ov.resources)}",
        f"events      {ov.events:,}",
        f"hash key    {key}",
        f"lock        {_lock_line(ov.lock) if ov.lock else 'not locked'}",
    ]
    lines.append(f"applies     {'none yet' if not ov.applies else f'last {len(ov.applies)}:'}")
    for a in ov.applies:
        finished = _when(a.finished_at) if a.finished_at else "-"
        lines.append(
            f"  {a.apply_id}  {a.status:<11}  {a.holder}"
            f"  started {_when(a.started_at)}  finished {finished}"
        )
    n = len(ov.journal)
    lines.append(f"journal     {f'last {n} batch' + ('es:' if n > 1 else ':') if n else 'empty'}")
    for j in ov.journal:
        lines.append(
            f"  serial {j.serial:<6} {_when(j.recorded_at)}  apply {j.apply_id[:8]}"
            f" batch {j.batch_no}: {j.writes:,} set, {j.unsets:,} unset, {j.events:,} events"
        )
    return "\n".join(lines) + "\n"


def render_unlocked(lock: LockInfo) -> str:
    what = lock.operation + (f" ({lock.info})" if lock.info else "")
    return (
        f"unlocked {lock.lock_id}: it was held by {lock.holder} for {what}"
        f" since {_when(lock.started_at)}\n"
    )


def render_migrated(report: MigrationReport) -> str:
    """What `state migrate` copied, and the proof that the copy matches."""
    c = report.counts
    lines = [f"copied {report.source}", f"    to {report.target}"]
    if report.overwrote is not None:
        o = report.overwrote
        lines.append(f"replaced the target's own state: lineage {o.lineage}, serial {o.serial}")
    lines += [
        f"lineage     {report.lineage}",
        f"serial      {report.serial}",
        f"ledger      {report.values:,} values in {report.attributes} attributes",
        f"resources   {c['resources']:,}",
        f"events      {c['events']:,}",
        f"applies     {c['applies']:,} ({c['journal']:,} journal batches)",
        f"verified    row counts of {len(c)} tables and content sha256 {report.sha256[:16]} match",
    ]
    return "\n".join(lines) + "\n"
