"""The command line: thin click adapters that parse, build dependencies, call one core function."""

from __future__ import annotations

import dataclasses
import os
import sys
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from reconciler import __version__
from reconciler.errors import (
    EXIT_BUG,
    EXIT_CHANGES,
    EXIT_ERROR,
    EXIT_INCONCLUSIVE,
    EXIT_INTERRUPTED,
    EXIT_OK,
    Diagnostic,
    ManifestError,
    ReconcilerError,
    SourceDataError,
    UsageError,
)

F = TypeVar("F", bound=Callable[..., Any])


def _default_manifests() -> str:
    return os.environ.get("RECONCILER_MANIFESTS", "manifests")


def manifests_option(fn: F) -> F:
    return click.option(
        "--manifests",
        "manifests_dir",
        type=click.Path(file_okay=False, path_type=Path),
        default=_default_manifests,
        show_default="./manifests or $RECONCILER_MANIFESTS",
        help="Directory of *.yaml manifests.",
    )(fn)


def debug_option(fn: F) -> F:
    return click.option("--debug", is_flag=True, help="Show tracebacks for internal errors.")(fn)


def run(debug: bool, body: Callable[[], int]) -> int:
    """The one top-level handler: user errors → 1, bugs → 3 (traceback only with --debug)."""
    try:
        return body()
    except ReconcilerError as e:
        if debug:
            traceback.print_exc()
        click.echo(e.render(color=_use_color(sys.stderr)), err=True)
        return e.exit_code
    except KeyboardInterrupt:
        click.echo("interrupted", err=True)
        return EXIT_INTERRUPTED
    except Exception as e:  # noqa: BLE001 - the bug handler
        if debug:
            traceback.print_exc()
        click.echo(
            f"internal error: {type(e).__name__}: {e}\n"
            "  this is a bug in reconciler; rerun with --debug for the traceback",
            err=True,
        )
        return EXIT_BUG


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="reconciler")
def cli() -> None:
    """Terraform for Braze partner syncs."""


@cli.command()
@manifests_option
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text")
@debug_option
@click.pass_context
def validate(ctx: click.Context, manifests_dir: Path, fmt: str, debug: bool) -> None:
    """Every offline check plan runs, in one pass: the manifests, the rules across them, and
    every row of every data file (attribute syncs, audiences, events); each problem as
    path:line:col: message."""
    import tempfile

    from reconciler.braze.settings import resolve_endpoint
    from reconciler.manifests.loader import load_partial
    from reconciler.render.validation import render_validation
    from reconciler.sources.desired import check_sources
    from reconciler.sources.events import validate_streams

    def body() -> int:
        try:
            ws, diags = load_partial(manifests_dir)
        except ManifestError as e:  # no directory, no manifests: nothing else to check
            click.echo(render_validation(manifests_dir, None, e, fmt), nl=False)
            return EXIT_ERROR
        data: list[Diagnostic] = []
        skipped: list[Diagnostic] = []
        if ws is not None:
            with tempfile.TemporaryDirectory(prefix="reconciler-") as tmp:
                data += check_sources(ws, Path(tmp), skipped)
            try:
                validate_streams(ws)
            except SourceDataError as e:
                data += e.diagnostics
        endpoint = resolve_endpoint(ws.rest_endpoint) if ws is not None else ""
        # rows an `on_invalid: skip` source leaves out: not failures, but plan points here
        left_out = [
            dataclasses.replace(d, message=f"{d.message} (skipped: on_invalid: skip)")
            for d in skipped
        ]
        notes = (*(ws.notes if ws is not None else ()), *left_out)
        if diags or data:
            n = len(diags) + len(data)
            error = (
                ManifestError(
                    diags + data,
                    summary=f"{n} problem{'' if n == 1 else 's'} found ({len(data)} in data files)",
                )
                if data
                else ManifestError(diags)
            )
            click.echo(
                render_validation(manifests_dir, None, error, fmt, notes=notes, color=_use_color()),
                nl=False,
            )
            return EXIT_ERROR
        click.echo(render_validation(manifests_dir, ws, None, fmt, endpoint, notes), nl=False)
        return EXIT_OK

    ctx.exit(run(debug, body))


@cli.command()
@click.option(
    "--out",
    "out_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("schemas"),
    show_default=True,
)
@click.option("--check", is_flag=True, help="Fail if the files in --out are stale.")
@debug_option
@click.pass_context
def schemas(ctx: click.Context, out_dir: Path, check: bool, debug: bool) -> None:
    """Write one JSON Schema per manifest kind (plus one for any kind)."""
    from reconciler.manifests.jsonschema import check_schemas, write_schemas

    def body() -> int:
        if check:
            stale = check_schemas(out_dir)
            for name in stale:
                click.echo(f"{out_dir / name}: stale; run `reconciler schemas`", err=True)
            return EXIT_ERROR if stale else EXIT_OK
        for path in write_schemas(out_dir):
            click.echo(str(path))
        return EXIT_OK

    ctx.exit(run(debug, body))


@cli.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=0, show_default=True, type=int, help="0 picks a free port.")
@click.option("--keys", "keys_file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--db", "db_file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--rate-limit", type=int, default=None, help="/users/track requests per 3 s.")
@click.option("--fail-rate", type=float, default=0.0, help="Share of requests that fail.")
@click.option("--latency-ms", type=int, default=0, help="Delay added to every response.")
@click.option(
    "--consistency-delay-ms",
    type=int,
    default=0,
    help="Delay before a write shows in /users/export/ids (0: at once).",
)
@click.option(
    "--fail-schedule",
    default=None,
    help='Fail these request numbers, e.g. "3,7" (503) or "3:drop,7:502@after"; '
    '"5:202" applies the write and answers queued.',
)
@click.option("--seed", type=int, default=None, help="Seed for --fail-rate.")
@debug_option
@click.pass_context
def sandbox(
    ctx: click.Context,
    host: str,
    port: int,
    keys_file: Path | None,
    db_file: Path | None,
    rate_limit: int | None,
    fail_rate: float,
    latency_ms: int,
    consistency_delay_ms: int,
    fail_schedule: str | None,
    seed: int | None,
    debug: bool,
) -> None:
    """Serve a local Braze-compatible REST API; prints its base URL first."""
    from reconciler.sandbox.server import SandboxOptions, serve

    options = SandboxOptions(
        host=host,
        port=port,
        keys_file=keys_file,
        db_file=db_file,
        rate_limit=rate_limit,
        fail_rate=fail_rate,
        latency_ms=latency_ms,
        consistency_delay_ms=consistency_delay_ms,
        fail_schedule=fail_schedule,
        seed=seed,
    )
    ctx.exit(run(debug, lambda: serve(options, out=sys.stdout)))


def replace_options(fn: F) -> F:
    """--replace, --replace-user and --memory-limit: what plan and a fresh apply share."""
    fn = click.option(
        "--memory-limit",
        default=None,
        help="Memory cap of the plan's work database; beyond it, it spills to disk "
        "(default 768MB, or $RECONCILER_MEMORY_LIMIT). In apply, a cap above 768MB also "
        "raises the ledger compaction's.",
    )(fn)
    fn = click.option(
        "--replace-user",
        "replace_users",
        multiple=True,
        metavar="ID",
        help="Resend every cell of this user whatever the ledger says (repeatable).",
    )(fn)
    return click.option(
        "--replace",
        "replace_attributes",
        multiple=True,
        metavar="ATTRIBUTE",
        help="Resend this attribute for every user whatever the ledger says (repeatable), "
        "e.g. after drift found it changed in Braze.",
    )(fn)


def _replace(attributes: tuple[str, ...], users: tuple[str, ...]) -> Any:
    from reconciler.plan.model import Replace

    return Replace(frozenset(attributes), frozenset(users))


def _plural_guards(n: int) -> str:
    return "1 guard" if n == 1 else f"{n} guards"


def _use_color(stream: Any = None) -> bool:
    """Colour on a terminal only: never with NO_COLOR (https://no-color.org) or in CI."""
    tty = (stream or sys.stdout).isatty()
    return bool(tty and not os.environ.get("NO_COLOR") and not os.environ.get("CI"))


def _echo_plan(p: Any, fmt: str, show_values: bool) -> None:
    from reconciler.render.plan import render_json, render_markdown, render_text

    if fmt == "json":
        click.echo(render_json(p, show_values=show_values), nl=False)
    elif fmt == "markdown":
        click.echo(render_markdown(p, show_values=show_values), nl=False)
    else:
        click.echo(render_text(p, color=_use_color(), show_values=show_values), nl=False)


def state_option(fn: F) -> F:
    return click.option(
        "--state",
        "state_url",
        default=None,
        help="State URL (sqlite:///… or postgresql://…); default: $RECONCILER_STATE, the "
        "Workspace `state`, then <manifests>/../.reconciler/state.db.",
    )(fn)


@cli.command()
@manifests_option
@state_option
@click.option("--out", "out_file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--format", "fmt", type=click.Choice(["text", "markdown", "json"]), default="text")
@click.option("--detailed-exitcode", is_flag=True, help="0 no changes, 2 changes, 1 error.")
@click.option("--show-values", is_flag=True, help="Reveal identifiers and pii values.")
@click.option(
    "--allow-large",
    is_flag=True,
    help="Exit 0 even if a guard tripped (it is still shown, in red); apply needs it too.",
)
@replace_options
@debug_option
@click.pass_context
def plan(
    ctx: click.Context,
    manifests_dir: Path,
    state_url: str | None,
    out_file: Path | None,
    fmt: str,
    detailed_exitcode: bool,
    show_values: bool,
    allow_large: bool,
    replace_attributes: tuple[str, ...],
    replace_users: tuple[str, ...],
    memory_limit: str | None,
    debug: bool,
) -> None:
    """Show what apply would change, with its cost; PII masked unless --show-values.

    Exit 0 (no changes or changes; with --detailed-exitcode 2 for changes), 1 on an error or
    a tripped guard (unless --allow-large)."""
    import tempfile

    from reconciler.commands.planning import make_plan
    from reconciler.plan.planfile import save_plan
    from reconciler.plan.sealing import plan_key
    from reconciler.render.plan import SAVE_HINT

    def body() -> int:
        with tempfile.TemporaryDirectory(prefix="reconciler-") as tmp:
            planned = make_plan(
                manifests_dir,
                state_url,
                Path(tmp),
                replace=_replace(replace_attributes, replace_users),
                memory_limit=memory_limit,
            )
            p = planned.plan
            _echo_plan(p, fmt, show_values)
            if out_file is not None:
                key = plan_key()
                save_plan(p, out_file, planned.inputs, key=key)
                sealed = " (encrypted with RECONCILER_PLAN_KEY)" if key else ""
                click.echo(f"saved plan to {out_file}{sealed}", err=True)
            elif fmt == "text" and p.has_changes:
                click.echo(SAVE_HINT, err=True)
            tripped = [g for g in p.guards if not g.ok]
            if tripped and not allow_large:
                names = ", ".join(g.name for g in tripped)
                click.echo(
                    f"error: {_plural_guards(len(tripped))} tripped ({names}): apply would "
                    "refuse this plan; review it, then pass --allow-large to plan and apply",
                    err=True,
                )
                return EXIT_ERROR
            if detailed_exitcode and p.has_changes:
                return EXIT_CHANGES
            return EXIT_OK

    ctx.exit(run(debug, body))


@cli.command()
@click.argument("planfile", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--format", "fmt", type=click.Choice(["text", "markdown", "json"]), default="text")
@click.option("--show-values", is_flag=True, help="Reveal identifiers and pii values.")
@debug_option
@click.pass_context
def show(ctx: click.Context, planfile: Path, fmt: str, show_values: bool, debug: bool) -> None:
    """Render a saved plan (`plan --out`) without planning again, exactly as plan printed it.

    Needs neither the manifests nor the state; the file's integrity hash is checked."""
    import tempfile

    from reconciler.plan.planfile import load_plan
    from reconciler.plan.sealing import plan_key

    def body() -> int:
        with tempfile.TemporaryDirectory(prefix="reconciler-") as tmp:
            p, _inputs = load_plan(planfile, Path(tmp), key=plan_key())
            _echo_plan(p, fmt, show_values)
            return EXIT_OK

    ctx.exit(run(debug, body))


@cli.command()
@click.argument("planfile", required=False, type=click.Path(dir_okay=False, path_type=Path))
@manifests_option
@state_option
@click.option("--auto-approve", is_flag=True, help="Apply a fresh plan without asking.")
@click.option("--allow-large", is_flag=True, help="Apply even if a guard tripped.")
@click.option("--show-values", is_flag=True, help="Reveal identifiers and pii values.")
@click.option(
    "--verify",
    "verify_n",
    type=click.IntRange(min=0),
    default=0,
    help="Afterwards, read back N of the users written and report silent drops (exit 1).",
)
@click.option(
    "--verify-window",
    default="5m",
    show_default=True,
    help="How long --verify waits for writes to land before calling them dropped.",
)
@click.option(
    "--lock-timeout",
    default="0",
    show_default=True,
    help="Wait this long for the state lock (5m, 30s, 90) instead of failing at once.",
)
@click.option(
    "--settle-window",
    default="5m",
    show_default=True,
    help="How long Braze may take to show a write: a request with events whose answer was "
    "lost is settled by reading Braze back only after this (0 for the sandbox).",
)
@replace_options
@debug_option
@click.pass_context
def apply(
    ctx: click.Context,
    planfile: Path | None,
    manifests_dir: Path,
    state_url: str | None,
    auto_approve: bool,
    allow_large: bool,
    show_values: bool,
    verify_n: int,
    verify_window: str,
    lock_timeout: str,
    settle_window: str,
    replace_attributes: tuple[str, ...],
    replace_users: tuple[str, ...],
    memory_limit: str | None,
    debug: bool,
) -> None:
    """Apply a fresh plan (asks first) or the saved PLANFILE (refused if stale)."""
    import dataclasses
    import tempfile

    from reconciler.commands.applying import ApplyRequest, braze_endpoint, execute, prepare
    from reconciler.render.plan import render_text, summary_line

    request = ApplyRequest(
        manifests_dir,
        state_url,
        planfile,
        allow_large=allow_large,
        replace=_replace(replace_attributes, replace_users),
        memory_limit=memory_limit,
    )

    def confirm(p: Any) -> bool:
        if auto_approve:
            return True
        if not sys.stdin.isatty():
            raise UsageError(
                "refusing to apply a fresh plan without confirmation: stdin is not a terminal; "
                "pass --auto-approve, or apply a saved plan (`reconciler plan --out FILE`)"
            )
        click.echo(
            f"\nApply these changes to workspace '{p.workspace}' at {p.endpoint}?\n"
            "  Only 'yes' will be accepted.",
            err=True,
        )
        answer = click.prompt("  Enter a value", default="", show_default=False, err=True)
        return bool(answer.strip() == "yes")

    def body() -> int:
        from reconciler.drift.duration import parse_duration

        window = parse_duration(verify_window, "--verify-window")  # before anything is sent
        wait = parse_duration(lock_timeout, "--lock-timeout")
        settle = parse_duration(settle_window, "--settle-window")
        locking = dataclasses.replace(request, lock_wait_seconds=wait, settle_seconds=settle)
        with tempfile.TemporaryDirectory(prefix="reconciler-") as tmp:
            prepared = prepare(locking, Path(tmp))
            p = prepared.plan
            if prepared.fresh:
                click.echo(render_text(p, color=_use_color(), show_values=show_values), nl=False)
            else:
                # where it goes now: a saved plan names where it was made for, and
                # $BRAZE_REST_ENDPOINT may differ between the two runs
                target = braze_endpoint(prepared.manifests)
                made_for = (
                    f" (the plan was made for {p.endpoint})"
                    if p.endpoint and p.endpoint != target
                    else ""
                )
                click.echo(
                    f"applying saved plan {p.plan_id} to workspace '{p.workspace}' at "
                    f"{target}{made_for}: {summary_line(p)}"
                )
            result = execute(prepared, locking, confirm=None if not prepared.fresh else confirm)
            if result is None:
                if p.has_changes:
                    click.echo("Apply cancelled; nothing was sent.", err=True)
                return EXIT_OK
            for line in result.summary_lines():
                click.echo(line)
            report = None
            from reconciler.commands.verifying import (
                default_verify,
                raise_for_drops,
                unrecord_missing,
                verify_applied,
            )

            n = verify_n or default_verify(prepared)
            if n and result.acknowledged:
                from reconciler.render.drift import verify_lines

                report = verify_applied(prepared, n, window)
                for line in verify_lines(report, show_values=show_values):
                    click.echo(line)
                unrecorded = unrecord_missing(prepared, report)
                if unrecorded:
                    click.echo(
                        f"{unrecorded:,} cells of users Braze does not hold were un-recorded: "
                        "the next plan shows them again (not found in Braze)"
                    )
            result.raise_for_status()
            if report is not None:
                raise_for_drops(report)
            return EXIT_OK

    ctx.exit(run(debug, body))


@cli.command()
@manifests_option
@debug_option
@click.pass_context
def demo(ctx: click.Context, manifests_dir: Path, debug: bool) -> None:
    """Start a sandbox; plan → apply → plan (no changes) → edit one value → plan, on a copy."""
    from reconciler.commands.demo import run_demo
    from reconciler.manifests import load_workspace
    from reconciler.render.validation import render_summary

    def body() -> int:
        click.echo(render_summary(load_workspace(manifests_dir)))
        color = sys.stdout.isatty() and not os.environ.get("NO_COLOR")
        return run_demo(manifests_dir, click.echo, color=color)

    ctx.exit(run(debug, body))


@cli.command()
@click.argument("template")
@manifests_option
@click.option(
    "--user",
    "user_file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="A user profile JSON (a Braze export user); default: the template's preview_user.",
)
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text")
@click.option("--dashboard", is_flag=True, help="Print what to set in the dashboard instead.")
@click.option("--show-values", is_flag=True, help="Reveal identifiers and personal data.")
@debug_option
@click.pass_context
def render(
    ctx: click.Context,
    template: str,
    manifests_dir: Path,
    user_file: Path | None,
    fmt: str,
    dashboard: bool,
    show_values: bool,
    debug: bool,
) -> None:
    """The webhook request TEMPLATE would send for one user (nothing is sent)."""
    from reconciler.commands.rendering import (
        RenderRequest,
        dashboard_setup,
        raise_problems,
        render_one,
    )
    from reconciler.render import template as show

    def body() -> int:
        if dashboard:
            setup = dashboard_setup(manifests_dir, template)
            text = show.dashboard_json(setup) if fmt == "json" else show.dashboard_text(setup)
            click.echo(text, nl=False)
            return EXIT_OK
        request = RenderRequest(manifests_dir, template, user_file, show_values=show_values)
        outcome = render_one(request)
        r = outcome.request
        if fmt == "json":
            click.echo(
                show.request_json(r, show_values=show_values, problems=outcome.problems),
                nl=False,
            )
            return EXIT_ERROR if outcome.problems else EXIT_OK
        if r is not None:
            click.echo(show.request_text(r), nl=False)
            for note in show.request_notes(r, show_values=show_values):
                click.echo(note, err=True)
        raise_problems(outcome)
        return EXIT_OK

    ctx.exit(run(debug, body))


@cli.command("import")
@manifests_option
@state_option
@click.option("--dry-run", is_flag=True, help="Show what would be adopted; write nothing.")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text")
@debug_option
@click.pass_context
def import_(
    ctx: click.Context,
    manifests_dir: Path,
    state_url: str | None,
    dry_run: bool,
    fmt: str,
    debug: bool,
) -> None:
    """Adopt objects that already exist in Braze into state, so the first plan keeps them."""
    from reconciler.commands.importing import ImportRequest, run_import
    from reconciler.render.imports import render_import_json, render_import_text

    def body() -> int:
        report = run_import(ImportRequest(manifests_dir, state_url, dry_run=dry_run))
        text = render_import_json(report) if fmt == "json" else render_import_text(report)
        click.echo(text, nl=False)
        return EXIT_OK

    ctx.exit(run(debug, body))


@cli.command()
@manifests_option
@state_option
@click.option("--format", "fmt", type=click.Choice(["text", "markdown", "json"]), default="text")
@click.option("--sample", default=500, show_default=True, help="Ledger users to read back.")
@click.option("--seed", type=int, default=None, help="Sample seed (default: random, reported).")
@click.option(
    "--window",
    default="5m",
    show_default=True,
    help="Skip users written this recently (Braze writes land asynchronously); 0 checks all.",
)
@click.option(
    "--repair",
    is_flag=True,
    help="Mark every drifted cell the sample found in doubt, so the next plan resends it.",
)
@click.option("--show-values", is_flag=True, help="Reveal identifiers and pii values.")
@debug_option
@click.pass_context
def drift(
    ctx: click.Context,
    manifests_dir: Path,
    state_url: str | None,
    fmt: str,
    sample: int,
    seed: int | None,
    window: str,
    repair: bool,
    show_values: bool,
    debug: bool,
) -> None:
    """Compare live Braze with state: schema, blocks, sampled users. 2: drift, 4: inconclusive."""
    from reconciler.commands.drifting import DriftRequest, check_drift
    from reconciler.drift.duration import parse_duration
    from reconciler.render import drift as show

    def body() -> int:
        request = DriftRequest(
            manifests_dir, state_url, sample, seed, parse_duration(window), repair=repair
        )
        report = check_drift(request)
        renderer = {"json": show.render_json, "markdown": show.render_markdown}.get(
            fmt, show.render_text
        )
        click.echo(renderer(report, show_values=show_values), nl=False)
        if report.inconclusive:
            return EXIT_INCONCLUSIVE
        return EXIT_CHANGES if report.has_drift else EXIT_OK

    ctx.exit(run(debug, body))


def _state_url(state_url: str | None, manifests_dir: Path) -> str:
    """As plan and apply resolve it (so `state unlock` finds a Workspace's `state:` lock).

    Broken or missing manifests must not stop a repair, so they fall back to the default.
    """
    from reconciler.commands.planning import resolve_state_url
    from reconciler.manifests import load_workspace

    if state_url or os.environ.get("RECONCILER_STATE"):
        return resolve_state_url(manifests_dir, state_url, None)
    try:
        m = load_workspace(manifests_dir, contract_checks=False)
    except ManifestError:
        m = None
    return resolve_state_url(manifests_dir, None, m)


@cli.group()
def state() -> None:
    """Look at or repair the state store."""


@state.command("list")
@manifests_option
@state_option
@debug_option
@click.pass_context
def state_list(ctx: click.Context, manifests_dir: Path, state_url: str | None, debug: bool) -> None:
    """The ledger's attributes with value counts, and the applied resources."""
    from reconciler.render.state import render_state_list
    from reconciler.state import open_state
    from reconciler.state.overview import overview

    def body() -> int:
        with open_state(_state_url(state_url, manifests_dir), create=False) as store:
            click.echo(render_state_list(overview(store)), nl=False)
        return EXIT_OK

    ctx.exit(run(debug, body))


@state.command("show")
@manifests_option
@state_option
@click.option("--recent", default=10, show_default=True, help="Applies and batches to show.")
@debug_option
@click.pass_context
def state_show(
    ctx: click.Context, manifests_dir: Path, state_url: str | None, recent: int, debug: bool
) -> None:
    """Lineage, serial, schema version, counts, the lock and the latest journal entries."""
    from reconciler.render.state import render_state_show
    from reconciler.state import open_state
    from reconciler.state.overview import overview

    def body() -> int:
        with open_state(_state_url(state_url, manifests_dir), create=False) as store:
            click.echo(render_state_show(overview(store, recent=recent)), nl=False)
        return EXIT_OK

    ctx.exit(run(debug, body))


@state.command("unlock")
@click.argument("lock_id")
@manifests_option
@state_option
@debug_option
@click.pass_context
def state_unlock(
    ctx: click.Context, lock_id: str, manifests_dir: Path, state_url: str | None, debug: bool
) -> None:
    """Break the state lock LOCK_ID (from the refusal message or `state show`)."""
    from reconciler.render.state import render_unlocked
    from reconciler.state import open_state

    def body() -> int:
        with open_state(_state_url(state_url, manifests_dir), create=False) as store:
            click.echo(render_unlocked(store.force_unlock(lock_id)), nl=False)
        return EXIT_OK

    ctx.exit(run(debug, body))


@state.command("migrate")
@click.option("--to", "to_url", required=True, help="The target state URL (sqlite or postgresql).")
@click.option("--force", is_flag=True, help="Replace a target that already holds a state.")
@manifests_option
@state_option
@debug_option
@click.pass_context
def state_migrate(
    ctx: click.Context,
    to_url: str,
    force: bool,
    manifests_dir: Path,
    state_url: str | None,
    debug: bool,
) -> None:
    """Copy the state (--state) to --to, keeping lineage and serial; verified by hash."""
    from reconciler.render.state import render_migrated
    from reconciler.state import open_state
    from reconciler.state.transfer import migrate_state

    def body() -> int:
        with (
            open_state(_state_url(state_url, manifests_dir), create=False) as source,
            open_state(to_url) as target,
        ):
            click.echo(render_migrated(migrate_state(source, target, force=force)), nl=False)
        return EXIT_OK

    ctx.exit(run(debug, body))


@cli.group()
def github() -> None:
    """GitHub Actions glue: the sticky PR comment and its labels, the job summary, the drift
    issue, and the reviewed plan's run for apply on merge."""


def _github_client() -> Any:
    from reconciler.github.client import GitHubClient
    from reconciler.github.context import api_context

    ctx = api_context(os.environ)
    backoff = float(os.environ.get("RECONCILER_GITHUB_BACKOFF_S", "1") or 1)
    return ctx, GitHubClient(ctx.api_url, ctx.repository, ctx.token, backoff_s=backoff)


def body_file_option(fn: F) -> F:
    return click.option(
        "--body-file",
        required=True,
        type=click.Path(dir_okay=False, path_type=Path),
        help="The Markdown to post (from --format markdown).",
    )(fn)


@github.command("comment")
@body_file_option
@click.option("--pr", type=int, default=None, help="PR number (default: from the event).")
@click.option("--marker", default=None, help="reconciler:<kind>:<workspace> if the body has none.")
@debug_option
@click.pass_context
def github_comment(
    ctx: click.Context, body_file: Path, pr: int | None, marker: str | None, debug: bool
) -> None:
    """Create or update in place the PR comment carrying the body's hidden marker."""
    from reconciler.github.ops import body_marker, read_body, sticky_comment

    def body() -> int:
        text = read_body(body_file)
        found = body_marker(text, body_file, marker)
        gh, client = _github_client()
        with client:
            click.echo(sticky_comment(gh, client, text, found, pr).line())
        return EXIT_OK

    ctx.exit(run(debug, body))


@github.command("summary")
@body_file_option
@debug_option
@click.pass_context
def github_summary(ctx: click.Context, body_file: Path, debug: bool) -> None:
    """Append the body to $GITHUB_STEP_SUMMARY (the job summary)."""
    from reconciler.github.context import step_summary_path
    from reconciler.github.ops import append_summary, read_body

    def body() -> int:
        text = read_body(body_file)
        click.echo(append_summary(step_summary_path(os.environ), text).line())
        return EXIT_OK

    ctx.exit(run(debug, body))


@github.command("drift-issue")
@body_file_option
@click.option("--exit-code", "exit_code", type=int, required=True, help="`reconciler drift`'s.")
@debug_option
@click.pass_context
def github_drift_issue(ctx: click.Context, body_file: Path, exit_code: int, debug: bool) -> None:
    """Open or update the workspace's `drift` issue (exit code 2), close it when clean (0)."""
    from reconciler.github.ops import body_marker, drift_issue, read_body

    def body() -> int:
        text = read_body(body_file)
        found = body_marker(text, body_file, None)
        gh, client = _github_client()
        with client:
            click.echo(drift_issue(gh, client, text, found, exit_code).line())
        return EXIT_OK

    ctx.exit(run(debug, body))


@github.command("label")
@body_file_option
@click.option("--pr", type=int, default=None, help="PR number (default: from the event).")
@debug_option
@click.pass_context
def github_label(ctx: click.Context, body_file: Path, pr: int | None, debug: bool) -> None:
    """Label the PR from its plan comment: changes, no changes, guard tripped or plan failed."""
    from reconciler.github.ops import label_pr, read_body

    def body() -> int:
        text = read_body(body_file)
        gh, client = _github_client()
        with client:
            click.echo(label_pr(gh, client, text, pr).line())
        return EXIT_OK

    ctx.exit(run(debug, body))


@github.command("reviewed-run")
@click.option("--workflow", default="plan.yml", show_default=True, help="The plan workflow file.")
@debug_option
@click.pass_context
def github_reviewed_run(ctx: click.Context, workflow: str, debug: bool) -> None:
    """The run whose plan the merged PR's reviewers read: `pr=N` and `run-id=N`, also written
    to $GITHUB_OUTPUT (the apply workflow downloads that run's encrypted plan)."""
    from reconciler.github.ops import reviewed_run

    def body() -> int:
        gh, client = _github_client()
        with client:
            pr, run_id = reviewed_run(gh, client, workflow)
        lines = [f"pr={pr}", f"run-id={run_id}"]
        out = os.environ.get("GITHUB_OUTPUT")
        if out:
            with Path(out).open("a", encoding="utf-8") as fh:
                fh.write("\n".join(lines) + "\n")
        click.echo("\n".join(lines))
        return EXIT_OK

    ctx.exit(run(debug, body))


def main() -> None:
    """Console entry point: click's usage errors exit 1 so that 2 only means changes/drift."""
    try:
        code = cli.main(standalone_mode=False)
    except click.exceptions.Exit as e:
        code = e.exit_code
    except click.ClickException as e:
        e.show()
        code = EXIT_ERROR
    except click.exceptions.Abort:
        click.echo("aborted", err=True)
        code = EXIT_INTERRUPTED
    sys.exit(code if isinstance(code, int) else EXIT_OK)
