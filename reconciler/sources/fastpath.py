"""Vectorised coercion: one DuckDB expression per attribute type, exact or silent.

Every cell arrives as raw text `r` plus a flag `t` (the text is the value itself, as in a CSV
cell or a JSON string; otherwise it is the JSON text of a number, boolean or array). Each
expression yields the canonical text of the coerced value (what `canonical_value` of
`coerce(raw)` would give, byte for byte) or NULL when it is not *sure*. A NULL for a non-blank
cell sends that row down the slow path, where `coerce` itself decides, with its exact message.
So the fast path only has to be right where it answers; it never has to explain anything.

The regular expressions are deliberately narrower than `coerce`: a cell they do not match is
not an error, only slower.
"""

from __future__ import annotations

from reconciler.manifests.kinds.attribute_schema import AttributeDef
from reconciler.sources.coerce import _FALSE, _TRUE, MAX_STRING
from reconciler.state.values import canonical_value

# Python's str.strip()/isspace() whitespace, in RE2: a cell of only these is blank (unset).
_SPACE_CLASS = r"\t\n\x{0b}\f\r\x{1c}-\x{1f}\x{85}\p{Z}"


# DuckDB escapes control characters as \u000F where Python writes \u000f: such text goes slow.
_CONTROL = r"'[\x{00}-\x{1f}]'"


_FLOAT = "[+-]?([0-9]+[.]?[0-9]*|[.][0-9]+)([eE][+-]?[0-9]+)?"


def sql_literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _in(values: set[str] | list[str]) -> str:
    return "(" + ", ".join(sql_literal(v) for v in sorted(values)) + ")"


# Code points Python's str.isspace() accepts above U+0020 (besides U+2000..U+200A).
_SPACES_ABOVE_32 = "133, 160, 5760, 8232, 8233, 8239, 8287, 12288"


def visible(ch: str) -> str:
    """True when the one-character text `ch` is not whitespace (cheap, no regex)."""
    return (
        f"(unicode({ch}) > 32 AND unicode({ch}) NOT IN ({_SPACES_ABOVE_32}) "
        f"AND unicode({ch}) NOT BETWEEN 8192 AND 8202)"
    )


def blank(r: str) -> str:
    """True when the cell holds no value: NULL, or only whitespace (as `str.strip() == ''`).

    Most cells start with a visible character, which settles it without the regex.
    """
    return f"({r} IS NULL OR (NOT {visible(r)} AND NOT regexp_matches({r}, '[^{_SPACE_CLASS}]')))"


def _number(x: str) -> str:
    """Canonical text of a finite double: integral ones as integers (as `_normalise` does)."""
    return (
        f"CASE WHEN NOT isfinite({x}) THEN NULL "
        f"WHEN {x} = trunc({x}) AND abs({x}) < 1e18 THEN CAST(CAST({x} AS BIGINT) AS VARCHAR) "
        f"WHEN {x} = trunc({x}) THEN NULL "
        f"ELSE CAST({x} AS VARCHAR) END"
    )


_OFFSET = "[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}[+-][0-9]{2}:[0-9]{2}"


def _utc(s: str) -> str:
    """The UTC instant of `YYYY-MM-DDTHH:MM:SS±HH:MM` text (NULL when the local part is no
    valid timestamp): the local time minus its offset, no time zone database involved."""
    sign = f"CASE WHEN substr({s}, 20, 1) = '-' THEN -1 ELSE 1 END"
    hours, mins = (f"TRY_CAST(substr({s}, {at}, 2) AS INTEGER)" for at in (21, 24))
    minutes = f"({sign} * ({hours} * 60 + {mins}))"
    return f"(TRY_CAST(substr({s}, 1, 19) AS TIMESTAMP) - to_minutes({minutes}))"


def array_items_sql(r: str) -> str:
    """The list of strings a raw array cell holds, or NULL unless it is exactly that."""
    return (
        f"CASE WHEN json_valid({r}) AND json_type({r}) = 'ARRAY' "
        f"AND list_bool_and(list_transform(json_type({r}, '$[*]'), lambda y: y = 'VARCHAR')) "
        f"IS NOT FALSE THEN from_json({r}, '[\"VARCHAR\"]') END"
    )


def list_items_sql(col: str) -> str:
    """What `array_items_sql` parses out of the JSON text of a list of strings, read from the
    list itself (a Parquet column): the list, or NULL when an item is NULL (`[null]` is not a
    list of strings, so Python decides). Parsing the text back cost 1.9 s per array column at
    1M rows, most of a first sync's typing."""
    return f"CASE WHEN list_count({col}) = len({col}) THEN {col} END"


# The shapes of the text DuckDB writes for a typed Parquet column (sources/ingest.py,
# `_parquet_text`): "date", a DATE as `YYYY-MM-DD`, and "instant", a TIMESTAMP as
# `YYYY-MM-DDTHH:MM:SSZ`; or another length (a fraction of a second, a fifth year digit,
# ` (BC)`, `infinity`). Of such text, exactly the 10 and 20 characters long with a year from
# 0001 are what the date and datetime patterns below match and DuckDB casts back, so typing
# them needs no pattern (a 1M-user first sync with two date and two datetime columns: typing
# 12.0 s -> 10.0 s on a 2-core AMD EPYC).


def _shaped(kind: str, r: str, shape: str) -> str | None:
    """The canonical expression of a `shape` cell of an attribute of type `kind`: what the
    text path gives for every text of that shape (tests/plan/test_fastpath.py), or None to
    let the text path type it."""
    year = f"substr({r}, 1, 4) BETWEEN '0001' AND '3000'"
    if kind == "date" and shape == "date":
        return f"CASE WHEN length({r}) = 10 AND {r} >= '0001' THEN '\"' || {r} || '\"' END"
    if kind == "datetime" and shape == "date":
        return f"CASE WHEN length({r}) = 10 AND {year} THEN '\"' || {r} || 'T00:00:00Z\"' END"
    if kind == "datetime" and shape == "instant":
        return f"CASE WHEN length({r}) = 20 AND {year} THEN '\"' || {r} || '\"' END"
    return None


def canonical_sql(
    attr: AttributeDef, r: str, t: str, shape: str | None = None
) -> tuple[str, str | None]:
    """(canonical expression, wire expression or None when the wire text is the canonical).

    Arrays differ: the canonical text is sorted (arrays compare as sets), the wire keeps order.
    An array expression reads the column `<r>_items` (`array_items_sql`), computed beforehand.
    `shape` ("date", "instant") says DuckDB wrote the text from a typed column.
    """
    s = f"trim({r})"
    canon: str
    wire: str | None = None
    kind = attr.type
    shaped = _shaped(kind, r, shape) if shape is not None else None
    if shaped is not None:
        canon = shaped
    elif kind == "boolean":
        canon = (
            f"CASE WHEN lower({s}) IN {_in(_TRUE)} THEN 'true' "
            f"WHEN lower({s}) IN {_in(_FALSE)} THEN 'false' END"
        )
    elif kind == "integer":
        canon = (
            f"CASE WHEN regexp_full_match({s}, '[+-]?[0-9]{{1,18}}') "
            f"THEN CAST(CAST({s} AS BIGINT) AS VARCHAR) END"
        )
    elif kind == "float":
        x = f"TRY_CAST({s} AS DOUBLE)"
        canon = f"CASE WHEN regexp_full_match({s}, '{_FLOAT}') THEN {_number(x)} END"
    elif kind == "decimal":
        # at most 15 significant digits: the double Braze keeps holds them exactly
        x = f"TRY_CAST({s} AS DOUBLE)"
        canon = (
            f"CASE WHEN regexp_full_match({s}, '[+-]?[0-9]+([.][0-9]+)?') "
            f"AND length(regexp_replace({s}, '[^0-9]', '', 'g')) <= 15 THEN {_number(x)} END"
        )
    elif kind == "date":
        canon = (
            f"CASE WHEN {t} AND regexp_full_match({s}, '[0-9]{{4}}-[0-9]{{2}}-[0-9]{{2}}') "
            f"AND {s} >= '0001' AND TRY_CAST({s} AS DATE) IS NOT NULL "
            f"THEN '\"' || {s} || '\"' END"
        )
    elif kind == "datetime":
        canon = (
            f"CASE WHEN NOT {t} OR substr({s}, 1, 4) NOT BETWEEN '0001' AND '3000' THEN NULL "
            f"WHEN regexp_full_match({s}, '[0-9]{{4}}-[0-9]{{2}}-[0-9]{{2}}') "
            f"AND TRY_CAST({s} AS DATE) IS NOT NULL THEN '\"' || {s} || 'T00:00:00Z\"' "
            f"WHEN regexp_full_match({s}, "
            f"'[0-9]{{4}}-[0-9]{{2}}-[0-9]{{2}}T[0-9]{{2}}:[0-9]{{2}}:[0-9]{{2}}Z') "
            f"AND TRY_CAST(rtrim({s}, 'Z') AS TIMESTAMP) IS NOT NULL THEN '\"' || {s} || '\"' "
            # with an offset (`+02:00`, as many exports write it): the UTC instant, when it
            # falls in years 1000-3000 (strftime pads no further than Python's isoformat)
            f"WHEN regexp_full_match({s}, '{_OFFSET}') AND substr({s}, 21, 2) < '24' "
            f"AND substr({s}, 24, 2) < '60' AND year({_utc(s)}) BETWEEN 1000 AND 3000 "
            f"THEN strftime({_utc(s)}, '\"%Y-%m-%dT%H:%M:%SZ\"') END"
        )
    elif kind in ("string", "varchar"):
        limit = min(attr.max_length if attr.max_length is not None else MAX_STRING, MAX_STRING)
        canon = (
            f"CASE WHEN {t} AND length({r}) <= {limit} AND NOT regexp_matches({r}, {_CONTROL}) "
            f"THEN to_json({r}) END"
        )
    elif kind == "array":
        # `{r}_items` is the parsed list, or NULL when it is not a JSON array of strings
        items = f"{r}_items"
        max_items = f" AND len({items}) <= {attr.max_length}" if attr.max_length else ""
        sure = (
            f"len(list_distinct({items})) = len({items}) "
            f"AND coalesce(list_max(list_transform({items}, lambda y: length(y))), 0) "
            f"<= {MAX_STRING}{max_items} "
            f"AND NOT regexp_matches(array_to_string({items}, ''), {_CONTROL})"
        )
        canon = f"CASE WHEN {sure} THEN to_json(list_sort({items})) END"
        wire = f"CASE WHEN {sure} THEN to_json({items}) END"
    else:  # object: always the slow path
        canon = "CAST(NULL AS VARCHAR)"
    if attr.enum is not None:
        allowed = {canonical_value(v) for v in attr.enum}
        canon = f"CASE WHEN ({canon}) IN {_in(allowed)} THEN ({canon}) END"
    return canon, wire
