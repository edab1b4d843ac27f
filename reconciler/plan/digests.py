"""Row digests: a plan types and diffs only the users whose sources or ledger moved.

Typing twenty million cells and joining them with the ledger costs far more than reading
them, yet a daily export changes a few percent of its rows. So every plan leaves, per user,

    x = hash(⊕ hash(n, h_n) over the user's rows in source n,  S)

where h_n is a 64-bit hash of the row's raw cells as the file holds them (ingest.Scan) and
S a hash of the user's ledger row as it will be once the plan is applied: the XOR of
hash(attribute, stored value) over the cells that hold a value (state/columnar.row_hash_sql),
so an unmanaged attribute that still holds one makes S differ. S needs no manifest, so
compaction keeps it in the snapshot and a plan reads it as one column (`stored_hash`) instead
of hashing every cell of the ledger (it computes S only for the users a log since touches).
An apply keeps the file in the state (`plan_digests`); the next plan computes the same x from
the files and the ledger as they are, and a user whose x is unchanged provably has nothing to
send: its rows are the ones that were typed and diffed, and its ledger holds what that diff
wanted. Only the other users are copied, typed and joined.

Before any of that, two sums over what a plan reads anyway (every source row, every ledger
row's S) can vouch for every user at once (`_whole`): a no-op plan then groups, joins and
types nothing.

Nothing is trusted that could have moved: a row that changed, a user in doubt (the mark is in
S), a drift repair, a failed or partial apply (S is not what was expected), another key for
`pii` hashes, another manifest, another engine (`fingerprint`). Users with rows the plan
skipped or refused are never recorded, so they are read again every time. `--replace` and
RECONCILER_DIGESTS=off read everything.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import duckdb

from reconciler import __version__
from reconciler.plan.model import DigestFile
from reconciler.sources.desired import NONE_KEPT, Desired, Prepared
from reconciler.sources.fastpath import visible
from reconciler.sources.ingest import raise_unreadable
from reconciler.sources.remote import is_remote
from reconciler.state.columnar import quote

ENGINE = "reconciler-digests/2"  # bump whenever typing or the diff changes what a row means
ENV = "RECONCILER_DIGESTS"
MAX_SOURCES = 63  # a user's sources are a bit set in one UBIGINT


def enabled() -> bool:
    return os.environ.get(ENV, "").strip().lower() not in ("off", "0", "false", "no")


def fingerprint(prepared: Sequence[Prepared], managed: Sequence[str], key: bytes) -> str:
    """What a raw row means: the engine, the manifests' source specs, the `pii` key."""
    described: list[Any] = [ENGINE, __version__, duckdb.__version__, list(managed)]
    described.append(hashlib.sha256(b"reconciler:digests:" + key).hexdigest())
    for p in prepared:
        spec = p.spec.model_dump(mode="json") if hasattr(p.spec, "model_dump") else str(p.spec)
        described.append(
            [
                p.name,
                p.id_kind,
                p.id_column,
                p.audience,
                list(p.raw.requested),
                [a.model_dump(mode="json") for a in p.attrs],
                spec,
            ]
        )
    return hashlib.sha256(json.dumps(described, sort_keys=True).encode()).hexdigest()


class DigestSelector:
    """build_desired's selector (see there), then `finish` writes the next digests."""

    def __init__(
        self,
        ledger: Callable[[], tuple[Sequence[str], tuple[str, Path] | None]],
        key: bytes,
        *,
        use_cache: bool = True,
        kept: Callable[[], tuple[str, Path] | None] | None = None,
    ) -> None:
        # the ledger's attributes and the kept digests, asked for only once the sources are
        # hashed: the state is read on a thread meanwhile (build.open_ledger); `kept` gives
        # the kept digests alone, read first, without waiting for the ledger
        self._ledger = ledger
        self._kept = kept
        self.stored_attributes: tuple[str, ...] = ()
        self.cached: tuple[str, Path] | None = None
        self.key = key
        self.use_cache = use_cache
        self.fingerprint = ""
        self.hit = False  # the cached digests applied: only dirty users were typed
        self.clean = 0
        self.dirty = -1  # users the digests could not vouch for (-1: not counted)
        self.sources: list[Prepared] = []
        self.ok = False  # the keys were computed: `finish` can write the next digests
        self.whole = False  # the sums vouched for every user at once: nothing was joined
        self.sums: tuple[int, int] | None = None  # (G_src, G_led) of this plan's inputs
        # the sha256 of every local input file by its manifest path (planning.input_hashes),
        # when the caller computes them: a source file whose bytes are the ones the kept
        # digests were made from need not be read again (`_same_files`)
        self.inputs: Callable[[], Mapping[str, str]] | None = None
        self.root: Path | None = None  # where those paths are (the manifests' root)
        # each local source file's stamp (inode, size, times) before the plan read or hashed
        # anything, and when: see `watch`
        self._before: dict[str, tuple[int, ...] | None] = {}
        self._started_ns = 0
        self.per_source: list[tuple[int, int]] = []  # (G_n, rows) of each source, as hashed
        self.files_unread = False  # `_same_files` vouched for every user: no source was read

    @property
    def stored_view(self) -> str:
        """The ledger the diff joins: only the dirty users' rows when the digests applied."""
        return "stored_dirty" if self.hit else "stored"

    def __call__(
        self, con: duckdb.DuckDBPyConnection, desired: Desired, prepared: list[Prepared]
    ) -> dict[str, str | None]:
        self.sources = prepared
        managed = sorted(desired.policies)
        self.fingerprint = fingerprint(prepared, managed, self.key)
        if len(prepared) > MAX_SOURCES:
            return {}
        if self._same_files(con, desired, prepared):
            return {p.name: NONE_KEPT for p in prepared}
        terms = []
        for n, p in enumerate(prepared):
            tidy = f"t0 AND {visible('c0')} AND {visible('right(c0, 1)')}"
            try:
                con.execute(
                    f"CREATE OR REPLACE TABLE dig_{n} AS SELECT row_no, CASE WHEN {tidy} "
                    f"THEN c0 END AS uid, h FROM ({p.raw.digest_sql()})"
                )
            except duckdb.Error as e:  # a damaged page of a file: named (exit 1)
                raise_unreadable(con, [p.raw], e)
            terms.append(
                f"SELECT {quote(p.id_kind)} AS k, uid AS u, {n}::UTINYINT AS n, "
                f"hash({n}::UTINYINT, h) AS term FROM dig_{n}"
            )
        union = (
            " UNION ALL ".join(terms)
            if terms
            else (
                "SELECT NULL::VARCHAR AS k, NULL::VARCHAR AS u, 0::UTINYINT AS n, "
                "0::UBIGINT AS term WHERE false"
            )
        )
        # a row whose identifier is not tidy (it needs trimming, or Python) has no key here: with
        # any, the digests vouch for nobody and every row is typed
        untidy = con.execute(
            "SELECT "
            + (
                " + ".join(
                    f"(SELECT count(*) FROM dig_{n} WHERE uid IS NULL)"
                    for n in range(len(prepared))
                )
                or "0"
            )
        ).fetchall()[0][0]
        # per user: its rows' hashes combined, which sources it has (m) and whether one of
        # them holds it twice (dup)
        per_user = (
            "SELECT k, u, bit_xor(term) AS xs, bit_or(1::UBIGINT << n) AS m, "
            "sum(1::UBIGINT << n) <> bit_or(1::UBIGINT << n) AS dup "
            f"FROM ({union}) WHERE u IS NOT NULL GROUP BY k, u"
        )
        self.ok = untidy == 0
        src_sum = None
        if self.ok:
            # G_src is the sum of each source's own sum (G_n), kept apart for `_same_files`
            per_source = ", ".join(
                f"{_sum_sql(f'hash({quote(p.id_kind)}, uid, hash({n}::UTINYINT, h))', f'dig_{n}')}"
                f", (SELECT count(*) FROM dig_{n})"
                for n, p in enumerate(prepared)
            )
            row = con.execute(f"SELECT {per_source}").fetchall()[0] if prepared else ()
            self.per_source = [(int(row[i]), int(row[i + 1])) for i in range(0, len(row), 2)]
            src_sum = sum(g for g, _ in self.per_source) % MODULUS
        stored, self.cached = self._ledger()
        self.stored_attributes = tuple(stored)
        if src_sum is not None and self._whole(con, desired, prepared, src_sum):
            return {p.name: NONE_KEPT for p in prepared}
        # Both sides are materialised before they are joined: in one statement, the per-user
        # aggregate's hash table and the join's lived at once, and at 10M users that ran out
        # of the default 768 MB limit (a table's blocks spill; a running operator's state
        # barely does). At 1M the one statement saved about 0.2 s of CPU; 10M must complete.
        con.execute(f"CREATE OR REPLACE TABLE dig_src AS {per_user}")
        # S of every user of the ledger: read from the snapshot when compaction kept it
        con.execute(
            "CREATE OR REPLACE TABLE dig_stored AS "
            "SELECT id_kind AS k, user_id AS u, s FROM stored_hash"
        )
        if src_sum is not None:
            led_sum = con.execute(f"SELECT {_sum_sql(_led_term('k', 'u', 's'), 'dig_stored')}")
            self.sums = (src_sum, int(led_sum.fetchall()[0][0]))
        cache = self._cache(con) if self.ok else None
        self.hit = cache is not None
        join = f"LEFT JOIN {cache} c ON c.k = j.k AND c.u = j.u" if cache else ""
        clean = "coalesce(c.x = j.x AND NOT j.dup, false)" if cache else "false"
        vals = "c.vals" if cache else "NULL::BIGINT"
        # one statement: the users of the sources and of the ledger, their x, and whether the
        # cached x vouches for them
        con.execute(
            f"CREATE OR REPLACE TABLE dig_keys AS SELECT j.*, {clean} AS clean, {vals} AS vals "
            "FROM (SELECT coalesce(a.k, b.k) AS k, coalesce(a.u, b.u) AS u, a.xs, "
            "coalesce(a.m, 0::UBIGINT) AS m, coalesce(a.dup, false) AS dup, b.s, "
            "hash(a.xs, b.s) AS x "
            "FROM dig_src a FULL OUTER JOIN dig_stored b "
            f"ON a.k = b.k AND a.u = b.u) j {join}"
        )
        # their rows live on in dig_keys: freed before the diff, which needs the memory
        for table in ("dig_src", "dig_stored", "dig_cache"):
            con.execute(f"DROP TABLE IF EXISTS {table}")
        con.execute(
            "CREATE OR REPLACE VIEW dig_clean AS SELECT k, u, x, vals FROM dig_keys WHERE clean"
        )
        con.execute("CREATE OR REPLACE VIEW dig_dirty AS SELECT * FROM dig_keys WHERE NOT clean")
        if not self.hit:
            # nothing to trust: every user is typed (and, when the keys are sound, recorded)
            return {}
        con.execute(
            "CREATE OR REPLACE VIEW stored_dirty AS SELECT s.* FROM stored s "
            "SEMI JOIN dig_dirty d ON d.k = s.id_kind AND d.u = s.user_id"
        )
        keep: dict[str, str | None] = {}
        for n, p in enumerate(prepared):
            con.execute(
                f"CREATE OR REPLACE TABLE keep_{n} AS SELECT row_no FROM dig_{n} r "
                f"SEMI JOIN dig_dirty d ON d.k = {quote(p.id_kind)} AND d.u = r.uid"
            )
            keep[p.name] = f"keep_{n}"
        # an audience's members the digests vouch for: a clean user has at most one row per
        # source (no `dup`), and bit n of `m` says it has one in source n
        audiences = [(n, p.audience) for n, p in enumerate(prepared) if p.audience is not None]
        members = "".join(
            f", count(*) FILTER (clean AND m & (1::UBIGINT << {n}) <> 0)" for n, _ in audiences
        )
        row = con.execute(
            "SELECT count(*) FILTER (clean), coalesce(sum(vals) FILTER (clean), 0), "
            f"count(*) FILTER (NOT clean){members} FROM dig_keys"
        ).fetchall()[0]
        self.clean, desired.untyped_values, self.dirty = (int(x) for x in row[:3])
        for (_, audience), count in zip(audiences, row[3:], strict=True):
            desired.audience_members[audience] = int(count)
        return keep

    def _whole(
        self,
        con: duckdb.DuckDBPyConnection,
        desired: Desired,
        prepared: list[Prepared],
        src_sum: int,
    ) -> bool:
        """Whether the kept digests vouch for every user at once, without a join.

        The last plan that recorded every one of its users (no duplicate, skipped or refused
        row) also kept two sums modulo 2^64 (`finish`): G_src of hash(kind, user, hash(source, h))
        over its source rows and G_led of hash(kind, user, S) over the ledger's users as its
        apply would leave them. Each is a set hash: it moves when any row or any user's S
        does, with the odds of a 64-bit collision, as a user's own digest. Both equal to the
        sums of these inputs means the same rows and the same ledger, so every user's digest is
        the kept one and nothing is typed, joined or compared: a no-op plan is two scans.
        """
        kept_file = self._kept_file()
        if kept_file is None:
            return False
        try:
            kept = _kv(con, kept_file)
            if kept.get(SUMS_KEY) != WHOLE or kept.get("g_src") != str(src_sum):
                return False
            return self._vouch_all(con, desired, prepared, kept, kept_file)
        except duckdb.Error:
            return False  # unreadable: the per-user path decides

    def _vouch_all(
        self,
        con: duckdb.DuckDBPyConnection,
        desired: Desired,
        prepared: Sequence[Prepared],
        kept: Mapping[str, str],
        kept_file: Path,
    ) -> bool:
        """G_src is the kept one (`_whole`, `_same_files`): with G_led too, every user's digest
        is the kept one, and nothing is typed (NONE_KEPT) or joined. `per_source` holds each
        source's rows: an audience's members, since no recorded user is duplicated."""
        term = _led_term("id_kind", "user_id", "s")
        led = con.execute(f"SELECT {_sum_sql(term, 'stored_hash')}")
        if kept.get("g_led") != str(int(led.fetchall()[0][0])):
            return False
        users, values = con.execute(
            f"SELECT count(*), coalesce(sum(vals), 0) FROM read_parquet({quote(str(kept_file))})"
        ).fetchall()[0]
        self.hit = self.whole = True
        self.clean, self.dirty = int(users), 0
        desired.untyped_values = int(values)
        for p, (_, rows) in zip(prepared, self.per_source, strict=True):
            if p.audience is not None:
                desired.audience_members[p.audience] = rows
        con.execute("CREATE OR REPLACE VIEW stored_dirty AS SELECT * FROM stored LIMIT 0")
        return True

    def _paths(self, prepared: Sequence[Prepared]) -> list[str] | None:
        """Each source's local file, in order; None unless every source is one local file (a
        remote object's listed identity is not its bytes' hash, so it is always read)."""
        if self.inputs is None or self.root is None or not prepared:
            return None
        paths: list[str] = []
        for p in prepared:
            path = _source_path(p)
            if path is None or is_remote(path) or p.raw.parts:
                return None
            paths.append(path)
        return paths

    def _files(self, prepared: Sequence[Prepared]) -> list[str] | None:
        """The sha256 of each source's file, in order (as `_paths`), once the caller has
        computed them."""
        paths = self._paths(prepared)
        if paths is None or self.inputs is None:
            return None
        hashes = self.inputs()
        found = [hashes.get(path) for path in paths]
        return None if any(h is None for h in found) else [h for h in found if h is not None]

    def _same_files(
        self, con: duckdb.DuckDBPyConnection, desired: Desired, prepared: list[Prepared]
    ) -> bool:
        """Whether the kept digests vouch for every user without reading any source.

        A plan that recorded every one of its users (`_whole`) also kept, per source, the
        sha256 of its file, its size, its share G_n of G_src and its rows. When every source
        file has the same sha256 now, its rows are the same rows, so G_src is the kept one
        without a scan; with G_led unchanged too, `_whole` holds: nothing is typed, joined, or
        read but the ledger's per-user hashes. Anything else (a file changed, a remote or
        globbed source, older digests without the per-source entries) reads every source as
        before. The kept digests are read before the ledger and a size that differs needs no
        sha256, so a plan whose files changed starts reading them without waiting for either.
        """
        if not self.use_cache or self._kept is None:
            return False
        paths = self._paths(prepared)
        if paths is None:
            return False
        cached = self._kept()
        if cached is None or cached[0] != self.fingerprint:
            return False
        try:
            kept = _kv(con, cached[1])
            entries = json.loads(kept.get(SOURCES_KEY, "null"))
            if kept.get(SUMS_KEY) != WHOLE or not isinstance(entries, list):
                return False
            if [e["name"] for e in entries] != [p.name for p in prepared]:
                return False
            per_source = [(int(e["g"]), int(e["rows"])) for e in entries]
            sizes = [stamp[2] if stamp else None for stamp in map(self._stamp, paths)]
            if [int(e["bytes"]) for e in entries] != sizes:
                return False  # other bytes for sure: no need to wait for their sha256
            if [e["sha256"] for e in entries] != self._files(prepared):
                return False
            g_src = sum(int(e["g"]) for e in entries) % MODULUS
            if kept.get("g_src") != str(g_src):
                return False
            stored, self.cached = self._ledger()
            self.stored_attributes = tuple(stored)
            self.per_source = per_source
            if not self._vouch_all(con, desired, prepared, kept, cached[1]):
                self.per_source = []
                return False
        except (duckdb.Error, OSError, ValueError, KeyError, TypeError):
            self.per_source = []
            return False  # unreadable or not ours: the sources are read
        self.ok = self.files_unread = True
        return True

    def watch(
        self, root: Path, paths: Sequence[str], inputs: Callable[[], Mapping[str, str]]
    ) -> None:
        """Called before the plan reads or hashes any source: `inputs` gives the sha256 of
        each file under `root` by its manifest path. Each file's stamp is taken now, so that
        the digests name a file's sha256 only when the file provably did not move while the
        plan read it and hashed it, at two different moments (`_sources_entry`)."""
        self.inputs, self.root = inputs, root
        self._started_ns = time.time_ns()
        self._before = {path: self._stamp(path) for path in paths if not is_remote(path)}

    def _stamp(self, path: str) -> tuple[int, ...] | None:
        assert self.root is not None
        try:
            st = (self.root / path).stat()
        except OSError:
            return None
        return (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)

    def _settled(self, path: str) -> bool:
        """The file has the stamp it had before the plan read it, and was not written just
        before that (a write within a timestamp's granularity leaves the stamp unchanged, as
        git's "racily clean" files)."""
        before = self._before.get(path)
        if before is None or self._stamp(path) != before:
            return False
        return max(before[3], before[4]) < self._started_ns - RECENT_NS

    def _sources_entry(self) -> str | None:
        """The per-source entries `_same_files` reads, as JSON; None when a source has none
        or its file moved (`_settled`: its size is then the one it had all along)."""
        paths = self._paths(self.sources)
        if paths is None or len(self.per_source) != len(self.sources):
            return None
        files = self._files(self.sources)
        # the rows were read, and the bytes hashed, at other moments: only a file that did
        # not move in between may be named, or a file replaced mid-plan would be vouched for
        # with the rows of the file before it
        if files is None or not all(self._settled(path) for path in paths):
            return None
        sizes = [stamp[2] for stamp in (self._before[path] for path in paths) if stamp]
        return json.dumps(
            [
                {"name": p.name, "sha256": h, "bytes": size, "g": str(g), "rows": rows}
                for p, h, size, (g, rows) in zip(
                    self.sources, files, sizes, self.per_source, strict=True
                )
            ],
            separators=(",", ":"),
        )

    def _kept_file(self) -> Path | None:
        """The digests the state kept, when they may be used: made for this fingerprint."""
        if not self.use_cache or self.cached is None or self.cached[0] != self.fingerprint:
            return None
        return self.cached[1]

    def _cache(self, con: duckdb.DuckDBPyConnection) -> str | None:
        kept_file = self._kept_file()
        if kept_file is None:
            return None
        try:
            path = quote(str(kept_file))
            con.execute(
                "CREATE OR REPLACE TABLE dig_cache AS SELECT k::VARCHAR AS k, u::VARCHAR AS u, "
                f"x::UBIGINT AS x, vals::BIGINT AS vals FROM read_parquet({path})"
            )
        except duckdb.Error:
            return None  # unreadable: plan everything, and the next apply replaces it
        return "dig_cache"

    def finish(
        self, con: duckdb.DuckDBPyConnection, desired: Desired, out: Path
    ) -> DigestFile | None:
        """Write the digests of this plan's outcome: x of every user once it is applied."""
        if not self.ok:
            return None
        if self.hit and self.cached is not None and self.dirty == 0:
            # nothing moved: the digests are the ones the state keeps, but for the files'
            # sha256 when they were read (rewritten with the same rows, or kept by an older
            # reconciler without them), so that the next plan need not read them again
            entry = self._sources_entry() if self.whole and not self.files_unread else None
            kept = _kv(con, self.cached[1]) if entry is not None else {}
            if entry is None or kept.get(SOURCES_KEY) == entry:
                shutil.copyfile(self.cached[1], out)
            else:
                kept[SOURCES_KEY] = entry
                pairs = ", ".join(f"{quote(k)}: {quote(v)}" for k, v in sorted(kept.items()))
                con.execute(
                    f"COPY (SELECT * FROM read_parquet({quote(str(self.cached[1]))})) "
                    f"TO {quote(str(out))} (FORMAT parquet, COMPRESSION zstd, "
                    f"KV_METADATA {{{pairs}}})"
                )
            return DigestFile(out, self.fingerprint, self.clean)
        counted = []
        for src in desired.sources:
            if src.audience is not None:
                counted.append(
                    f"SELECT {quote(src.id_kind)} AS k, uid AS u, 1 AS v FROM {src.table}"
                )
            elif src.attributes:
                total = " + ".join(
                    f"CAST(v{j} IS NOT NULL AS BIGINT)" for j in range(1, len(src.attributes) + 1)
                )
                counted.append(
                    f"SELECT {quote(src.id_kind)} AS k, uid AS u, {total} AS v FROM {src.table}"
                )
        vals = (
            f"SELECT k, u, sum(v) AS vals FROM ({' UNION ALL '.join(counted)}) GROUP BY k, u"
            if counted
            else "SELECT NULL::VARCHAR AS k, NULL::VARCHAR AS u, 0::BIGINT AS vals WHERE false"
        )
        # a user with a row the plan left out (skipped, refused, a duplicate) is not recorded
        dropped = []
        by_name = {f"src_{p.name}": (n, p) for n, p in enumerate(self.sources)}
        for src in desired.sources:
            n, p = by_name[src.table]
            # the rows it typed: the dirty users' rows, or every row when nothing was kept
            typed = f" AND r.row_no IN (SELECT row_no FROM keep_{n})" if self.hit else ""
            dropped.append(
                f"SELECT {quote(p.id_kind)} AS k, r.uid AS u FROM dig_{n} r "
                f"WHERE r.uid IS NOT NULL{typed} "
                f"AND NOT EXISTS (SELECT 1 FROM {src.table} t WHERE t.uid = r.uid)"
            )
        left_out = (
            " UNION ALL ".join(dropped)
            if dropped
            else ("SELECT NULL::VARCHAR AS k, NULL::VARCHAR AS u WHERE false")
        )
        con.execute(f"CREATE OR REPLACE TABLE dig_out AS {left_out}")
        metadata = ""
        sums = self._next_sums(con)
        if sums is not None:
            g_src, g_led = sums
            entry = self._sources_entry()
            sources = f", {SOURCES_KEY}: {quote(entry)}" if entry is not None else ""
            metadata = (
                f", KV_METADATA {{{SUMS_KEY}: '{WHOLE}', g_src: '{g_src}', g_led: '{g_led}'"
                f"{sources}}}"
            )
        con.execute(
            f"COPY (SELECT k, u, x, vals FROM dig_clean UNION ALL "
            f"SELECT d.k, d.u, hash(d.xs, CASE WHEN c.k IS NULL THEN d.s ELSE c.post END) AS x, "
            f"coalesce(v.vals, 0) AS vals FROM dig_dirty d "
            f"LEFT JOIN changes c ON c.k = d.k AND c.u = d.u "
            f"LEFT JOIN ({vals}) v ON v.k = d.k AND v.u = d.u "
            f"ANTI JOIN dig_out o ON o.k = d.k AND o.u = d.u WHERE NOT d.dup) "
            f"TO {quote(str(out))} (FORMAT parquet, COMPRESSION zstd{metadata})"
        )
        rows = con.execute(f"SELECT count(*) FROM read_parquet({quote(str(out))})").fetchall()
        return DigestFile(out, self.fingerprint, int(rows[0][0]))

    def _next_sums(self, con: duckdb.DuckDBPyConnection) -> tuple[int, int] | None:
        """(G_src, G_led) once this plan is applied, when it records every user (`_whole`):
        the sources' sum as it is, and the ledger's with each changed user's S replaced by the
        S the plan leaves it (`post`); None when a user is left out (its rows are read again
        every time, so no sum may vouch for it)."""
        if self.sums is None:
            return None
        left_out = con.execute(
            "SELECT (SELECT count(*) FROM dig_out) + "
            "(SELECT count(*) FROM dig_keys WHERE NOT clean AND dup)"
        ).fetchall()[0][0]
        if left_out:
            return None
        g_src, g_led = self.sums
        moved = con.execute(
            f"SELECT coalesce(sum({_led_term('c.k', 'c.u', 'c.post')}), 0) - "
            f"coalesce(sum({_led_term('c.k', 'c.u', 'd.s')}), 0) "
            "FROM changes c JOIN dig_keys d ON d.k = c.k AND d.u = c.u"
        ).fetchall()[0][0]
        return g_src, (g_led + int(moved)) % MODULUS


MODULUS = 1 << 64
SUMS_KEY = "reconciler_sums"
WHOLE = "whole/2"  # the sums' meaning: bump with what they cover (2: G_src over hash(n, h))
SOURCES_KEY = "reconciler_sources"  # per source: name, sha256 of its file, G_n, rows
RECENT_NS = 2_000_000_000  # a file written this close before a plan is not named (`_settled`)


def _kv(con: duckdb.DuckDBPyConnection, path: Path) -> dict[str, str]:
    """A Parquet file's key-value metadata, as text."""
    rows = con.execute(
        f"SELECT decode(key), decode(value) FROM parquet_kv_metadata({quote(str(path))})"
    ).fetchall()
    return {str(k): str(v) for k, v in rows}


def _source_path(p: Prepared) -> str | None:
    """The manifest path of a source's file (an attribute sync's, an audience's members)."""
    spec = p.spec
    where = (
        getattr(spec, "members", None) if p.audience is not None else getattr(spec, "source", None)
    )
    path = getattr(where, "path", None)
    return path if isinstance(path, str) else None


def _sum_sql(term: str, relation: str) -> str:
    """The sum of the UBIGINT `term` over `relation`, modulo 2^64."""
    return f"(SELECT coalesce(sum({term}), 0) % {MODULUS} FROM {relation})::UBIGINT"


def _led_term(k: str, u: str, s: str) -> str:
    """A user's term of G_led. A row that holds no value (S = 0: every cell unset) adds
    nothing, as no row does: the diff reads both alike, and compaction drops such rows."""
    return f"CASE WHEN ({s}) <> 0 THEN hash({k}, {u}, ({s})::UBIGINT) END"
