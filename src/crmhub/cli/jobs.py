"""``crmhub jobs`` and ``crmhub runs``: build, run and inspect integration jobs."""

from __future__ import annotations

import csv
import shutil
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click
import orjson
import typer
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table

from crmhub.cli._common import console, err_console, fail, open_hub, user_errors
from crmhub.core.errors import ConfigError, CrmHubError
from crmhub.services.jobs import JobService, errors_of
from crmhub.services.notifications import Notifier
from crmhub.store import runs as run_repo
from crmhub.store.jobs import get_job, job_names
from crmhub.store.models import Job
from crmhub.sync.common import COUNT_NAMES, RunOutcome
from crmhub.sync.common import Progress as RunProgress
from crmhub.sync.outbound import OutboundPreviewRow
from crmhub.sync.spec import JobSettings, JobSpec

jobs_app = typer.Typer(help="Integration jobs: build, validate, run.", no_args_is_help=True)
runs_app = typer.Typer(help="Runs of jobs: history, errors, source snapshots.", no_args_is_help=True)


def _read_spec(path: Path) -> JobSpec:
    if str(path) == "-":
        return JobSpec.from_yaml(sys.stdin.read(), origin="standard input")
    if not path.exists():
        raise ConfigError(f"job file {path} does not exist")
    return JobSpec.from_yaml(path.read_text(encoding="utf-8"), origin=str(path))


@jobs_app.command("create")
@user_errors
def create(
    file: Path = typer.Option(..., "--file", "-f", help="Job YAML (see `crmhub jobs export`); - for stdin."),
    enable: bool = typer.Option(False, "--enable", help="Enable scheduling (the job must validate)."),
    sync_now: bool = typer.Option(False, "--sync-now", help="Run the job right after saving it."),
) -> None:
    """Create a job from YAML; a job of the same name gets a new version.

    A job that does not validate is saved as a draft (disabled, never run); with --enable or
    --sync-now nothing is saved and the problems are listed.
    """
    spec = _read_spec(file)
    _save(spec, enable=True if enable else None, sync_now=sync_now)


@jobs_app.command("update")
@user_errors
def update(
    file: Path = typer.Option(..., "--file", "-f", help="Job YAML (see `crmhub jobs export`); - for stdin."),
    name: str | None = typer.Option(
        None, "--name", help="The job to update (default: the name in the YAML; give it to rename)."
    ),
    sync_now: bool = typer.Option(False, "--sync-now", help="Run the job right after saving it."),
) -> None:
    """Save a new version of an existing job from YAML (export, edit, update)."""
    spec = _read_spec(file)
    hub = open_hub()
    try:
        service = JobService(hub)
        service.get(name or spec.name)  # the job must exist: `jobs create` makes new ones
        here = _RunHere(service, spec.name)
        job = service.update(name or spec.name, spec, actor="cli", sync_now=sync_now, executor=here)
        _print_saved(job, spec)
    finally:
        hub.close()
    if here.failed:
        raise typer.Exit(1)


class _RunHere:
    """An executor that runs a saved job's first run in this process, with the progress bar."""

    def __init__(self, service: JobService, label: str) -> None:
        self.service, self.label = service, label
        self.failed = False

    def submit(self, run_id: str) -> None:
        outcome = _with_progress(
            self.label, lambda progress: self.service.execute(run_id, on_progress=progress)
        )
        notifier = Notifier(self.service.hub)  # the job's notification rules fire as for `jobs run`
        notifier.run_finished(run_id)
        notifier.close(timeout=30)
        print_outcome(run_id, outcome)
        self.failed = outcome.status == "failed"


def _save(spec: JobSpec, *, enable: bool | None, sync_now: bool) -> None:
    hub = open_hub()
    try:
        service = JobService(hub)
        here = _RunHere(service, spec.name)
        job = service.save(spec, actor="cli", enabled=enable, sync_now=sync_now, executor=here)
        _print_saved(job, spec)
    finally:
        hub.close()
    if here.failed:
        raise typer.Exit(1)


def _print_saved(job: Job, spec: JobSpec) -> None:
    console.print(
        f"saved job {job.name} (version {job.version}, {spec.direction}, {len(spec.mapping)} mapping rows"
        + (", enabled" if job.enabled else "")
        + ")"
    )
    if job.problems:
        console.print(
            f"[yellow]draft:[/] {job.name} does not validate, so it is saved disabled and will not run:",
            soft_wrap=True,
        )
        for problem in job.problems:
            console.print(f"  [red]✗[/] {problem}", soft_wrap=True)


@jobs_app.command("edit")
@user_errors
def edit(name: str = typer.Argument(...)) -> None:
    """Edit a job's YAML in $EDITOR; it is validated, then saved as a new version.

    When the edit does not validate you can edit again, save it as a draft (disabled), or drop it.
    """
    hub = open_hub()
    try:
        service = JobService(hub)
        job, _ = service.get(name)
        text = service.export_yaml(name)
        while True:
            edited = click.edit(text, extension=".yaml", require_save=True)
            if edited is None or edited == text and not job.problems:
                console.print(f"no change: job {name} is as it was")
                return
            text = edited
            try:
                spec = JobSpec.from_yaml(text, origin=f"the edited job {name}")
            except CrmHubError as exc:
                err_console.print(f"[red]✗[/] {exc}", soft_wrap=True)
                if typer.confirm("edit again?", default=True):
                    continue
                raise typer.Exit(1) from None
            problems = errors_of(service.validate(spec))
            if not problems:
                saved = service.update(name, spec, actor="cli")
                _print_saved(saved, spec)
                return
            for p in problems:
                err_console.print(f"[red]✗[/] {p}", soft_wrap=True)
            if typer.confirm("edit again?", default=True):
                continue
            if typer.confirm(
                f"save it as a draft ({'disables the job; ' if job.enabled else ''}it will not run)?",
                default=False,
            ):
                saved = service.update(name, spec, actor="cli", enabled=False)
                _print_saved(saved, spec)
                return
            console.print(f"nothing saved: job {name} is as it was")
            raise typer.Exit(1)
    finally:
        hub.close()


@jobs_app.command("export")
@user_errors
def export(
    name: str = typer.Argument(...), output: Path | None = typer.Option(None, "--output", "-o")
) -> None:
    """Print (or write) the job as YAML."""
    hub = open_hub()
    try:
        text = JobService(hub).export_yaml(name)
    finally:
        hub.close()
    if output:
        output.write_text(text, encoding="utf-8")
        console.print(f"wrote {output}")
    else:
        typer.echo(text, nl=False)


@jobs_app.command("list")
@user_errors
def list_jobs() -> None:
    """List jobs with their last run; a draft (does not validate) says so."""
    hub = open_hub()
    try:
        rows = JobService(hub).list()
    finally:
        hub.close()
    table = Table("name", "direction", "remote object", "hub type", "version", "enabled", "last run")
    table.columns[0].no_wrap = True
    for job, run in rows:
        last = f"{run.status} {run.created_at:%Y-%m-%d %H:%M}" if run else "never"
        table.add_row(
            job.name,
            job.direction,
            job.remote_object,
            job.object_type,
            str(job.version),
            "draft" if job.problems else ("yes" if job.enabled else "no"),
            last,
        )
    console.print(table)


@jobs_app.command("show")
@user_errors
def show(name: str = typer.Argument(...)) -> None:
    """Show a job's mapping, settings, schedule and state."""
    from crmhub.core.cadence import describe

    hub = open_hub()
    try:
        job, spec = JobService(hub).get(name)
    finally:
        hub.close()
    console.print(
        f"[bold]{job.name}[/] v{job.version} — {spec.direction} {spec.connection}:{spec.remote_object} "
        f"↔ {spec.object_type}; enabled: {'yes' if job.enabled else 'no'}",
        soft_wrap=True,
    )
    if job.problems:
        console.print("[yellow]draft[/]: this version does not validate and is not run:")
        for problem in job.problems:
            console.print(f"  [red]✗[/] {problem}", soft_wrap=True)
    console.print(f"schedule: {describe(spec.schedule) if spec.schedule else 'none (runs only on demand)'}")
    if job.next_run_at:
        console.print(f"next run: {job.next_run_at:%Y-%m-%d %H:%M} UTC")
    if spec.filter:
        console.print(f"filter: {spec.filter}", soft_wrap=True)
    for label, value in (
        ("match on", ", ".join(spec.match_on)),
        ("match field", spec.match_field),
        (
            "parent",
            f"{spec.parent_link} → {spec.parent_object or ''}.{spec.parent_field}"
            if spec.parent_field
            else None,
        ),
    ):
        if value:
            console.print(f"{label}: {value}")
    table = Table("#", "source", "format", "target", "note")
    for i, row in enumerate(spec.mapping, 1):
        target = row.target + (f" (new {row.new_attribute.type})" if row.new_attribute else "")
        table.add_row(str(i), row.describe_source(), row.source_format or "", target, row.note)
    console.print(table)
    settings = Table("setting", "value", "default", title="settings")
    defaults = JobSettings().model_dump(mode="json")
    for key, value in spec.settings.model_dump(mode="json").items():
        shown = "" if value is None else ", ".join(value) if isinstance(value, list) else str(value)
        settings.add_row(key, shown or "—", "" if value != defaults.get(key) else "(default)")
    console.print(settings)
    for rule in spec.notifications:
        channel = rule.channel
        target = getattr(channel, "url", None) or ", ".join(getattr(channel, "to", []))
        console.print(f"notify on {rule.when}: {channel.kind} {target}", soft_wrap=True)
    console.print(f"state: {orjson.dumps(job.state).decode()}", soft_wrap=True)


@jobs_app.command("preview")
@user_errors
def preview(
    name: str = typer.Argument(...), limit: int = typer.Option(10, "--limit", "-n", min=1, max=100)
) -> None:
    """The first source rows matching the filter, raw and mapped side by side (outbound: hub records,
    the payload each would send, and create or update and why)."""
    hub = open_hub()
    try:
        service = JobService(hub)
        _, spec = service.get(name)
        if spec.direction == "outbound":
            _print_outbound_preview(spec, service.preview_outbound(spec, limit=limit))
            return
        rows = service.preview(spec, limit=limit)
    finally:
        hub.close()
    for row in rows:
        console.print(f"[bold]{row.remote_id}[/]")
        table = Table("source", "raw", "target", "mapped", show_header=True)
        for mapping_row in spec.mapping:
            src = mapping_row.describe_source()
            raw = row.raw.get(mapping_row.source) if mapping_row.source else ""
            table.add_row(
                src,
                "" if raw is None else str(raw),
                mapping_row.target,
                str(row.mapped.get(mapping_row.target, "")),
            )
        console.print(table)
        for err in row.errors:
            console.print(f"  [red]✗[/] {err}")


def _print_outbound_preview(spec: JobSpec, rows: list[OutboundPreviewRow]) -> None:
    """Each hub record: what the run would do and why, then its hub values and the payload side by side."""
    if not rows:
        console.print(f"no {spec.object_type} record matches the job's filter")
    for row in rows:
        console.print(f"[bold]{row.hub_id}[/] ({row.key or 'no key'}): [bold]{row.action}[/] — {row.reason}")
        table = Table("attribute", "hub value", "field", "sent")
        for mapping_row in spec.mapping:
            raw = row.raw.get(mapping_row.source) if mapping_row.source else None
            sent = row.mapped.get(mapping_row.target)
            shown = "(left out: came from this connection)" if mapping_row.target in row.left_out else ""
            table.add_row(
                mapping_row.describe_source(),
                "" if raw is None else str(raw),
                mapping_row.target,
                shown if sent is None else str(sent),
            )
        for target, value in row.mapped.items():
            if target not in {m.target for m in spec.mapping}:  # the parent reference, the hub id stamp
                table.add_row("", "", target, str(value))
        console.print(table)
        for err in row.errors:
            console.print(f"  [red]✗[/] {err}")


@jobs_app.command("automap")
@user_errors
def automap_cmd(
    name: str = typer.Argument(...),
    write: bool = typer.Option(
        False, "--write", help="Save the proposals as the job's mapping (new version)."
    ),
) -> None:
    """Propose a mapping (keys first; confidence per row)."""
    hub = open_hub()
    try:
        service = JobService(hub)
        _, spec = service.get(name)
        plan = service.automap_plan(spec)
        proposals = plan.proposals
        table = Table("source", "target", "new attribute", "confidence", "why")
        for p in proposals:
            new = p.row.new_attribute.type if p.row.new_attribute else ""
            table.add_row(p.row.describe_source(), p.row.target, new, f"{p.confidence:.0%}", p.reason)
        console.print(table)
        update: dict[str, Any] = {"mapping": [p.row for p in proposals]}
        if plan.match is not None:
            console.print(
                f"match on: [bold]{', '.join(plan.match.match_on)}[/] "
                f"({plan.match.confidence:.0%}) — {plan.match.reason}"
            )
            update["match_on"] = list(plan.match.match_on)
        if write:
            service.update(name, spec.model_copy(update=update), actor="cli")
            extra = f" and match_on [{', '.join(plan.match.match_on)}]" if plan.match is not None else ""
            console.print(f"saved {len(proposals)} mapping rows{extra} to {name}")
    finally:
        hub.close()


@jobs_app.command("validate")
@user_errors
def validate(name: str = typer.Argument(...)) -> None:
    """Check the job before it runs: keys mapped, types, expressions, formats, what the CRM would refuse."""
    hub = open_hub()
    try:
        service = JobService(hub)
        _, spec = service.get(name)
        problems = service.validate(spec)
    finally:
        hub.close()
    for p in problems:
        mark = "[red]✗[/]" if p.severity == "error" else "[yellow]![/] warning:"
        console.print(f"{mark} {p}", soft_wrap=True)
    if errors_of(problems):
        raise typer.Exit(1)
    console.print(f"[green]✓[/] job {name} validates")


@jobs_app.command("enable")
@user_errors
def enable(name: str = typer.Argument(...)) -> None:
    """Enable scheduling of a job (it must validate)."""
    hub = open_hub()
    try:
        JobService(hub).set_enabled(name, True, actor="cli")
    finally:
        hub.close()
    console.print(f"enabled {name}")


@jobs_app.command("disable")
@user_errors
def disable(name: str = typer.Argument(...)) -> None:
    """Disable scheduling of a job."""
    hub = open_hub()
    try:
        JobService(hub).set_enabled(name, False, actor="cli")
    finally:
        hub.close()
    console.print(f"disabled {name}")


T = TypeVar("T")


def _with_progress(label: str, work: Callable[[Callable[[RunProgress], None]], T]) -> T:
    """Do ``work`` (a run) under a progress bar fed by its progress callback."""
    with Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[rate]} rec/s"),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=console,
        transient=False,
    ) as bar:
        task = bar.add_task(label, total=None, rate="—")

        def progress(p: RunProgress) -> None:
            elapsed = bar.tasks[task].elapsed or 0.0
            rate = f"{p.done / elapsed:,.0f}" if elapsed > 0 else "—"
            bar.update(task, completed=p.done, total=p.total, rate=rate)

        return work(progress)


def print_outcome(run_id: str, outcome: RunOutcome) -> None:
    colour = {"succeeded": "green", "succeeded_with_errors": "yellow"}.get(outcome.status, "red")
    console.print(f"run {run_id}: [{colour}]{outcome.status}[/] — {outcome.message}", soft_wrap=True)
    counts = outcome.counts
    console.print("  " + "  ".join(f"{k} {getattr(counts, k):,}" for k in COUNT_NAMES))
    if counts.by_link or counts.by_key or counts.by_match:
        console.print(f"  {counts.identified()}")
    if outcome.usage.get("calls"):
        console.print(
            f"  API calls {outcome.usage['calls']:,}"
            + (
                f" (daily usage {outcome.usage['daily_used']:,}/{outcome.usage['daily_limit']:,})"
                if "daily_used" in outcome.usage
                else ""
            )
        )
    if outcome.snapshot:
        # soft_wrap: a path is never broken or cut, whatever the terminal's width.
        console.print(f"  source snapshot: {outcome.snapshot}", soft_wrap=True)


@jobs_app.command("run")
@user_errors
def run(
    name: str = typer.Argument(...),
    full: bool = typer.Option(
        False, "--full", help="A full sync (re-read everything; apply the delete policy)."
    ),
    dry_run: bool = typer.Option(
        False, "--dry-run", help="Do everything but the writes; report what would change."
    ),
    queue: bool = typer.Option(False, "--queue", help="Queue behind a run in progress instead of refusing."),
) -> None:
    """Run a job now, with a progress bar; ends with the counts."""
    hub = open_hub()
    try:
        run_row, outcome = _with_progress(
            f"{name} (dry run)" if dry_run else name,
            lambda progress: JobService(hub).run(
                name, full=full, dry_run=dry_run, queue=queue, on_progress=progress
            ),
        )
        # The job's notification rules (webhook / e-mail) fire for runs started here too.
        notifier = Notifier(hub)
        notifier.run_finished(run_row.id)
        notifier.close(timeout=30)
    finally:
        hub.close()
    print_outcome(run_row.id, outcome)
    if outcome.status == "failed":
        raise typer.Exit(1)


@jobs_app.command("delete")
@user_errors
def delete(name: str = typer.Argument(...), yes: bool = typer.Option(False, "--yes", "-y")) -> None:
    """Delete a job permanently (its runs and history go with it)."""
    if not yes and not typer.confirm(f"delete job {name} and its run history?"):
        raise typer.Exit(1)
    hub = open_hub()
    try:
        JobService(hub).delete(name, actor="cli")
    finally:
        hub.close()
    console.print(f"deleted job {name}")


@jobs_app.command("duplicate")
@user_errors
def duplicate(name: str = typer.Argument(...), new_name: str = typer.Argument(...)) -> None:
    """Copy a job under a new name (disabled)."""
    hub = open_hub()
    try:
        JobService(hub).duplicate(name, new_name, actor="cli")
    finally:
        hub.close()
    console.print(f"duplicated {name} as {new_name}")


@jobs_app.command("rebuild-mapping")
@user_errors
def rebuild_mapping(
    name: str = typer.Argument(...),
    yes: bool = typer.Option(False, "--yes", "-y", help="Do not ask for confirmation."),
) -> None:
    """Forget the job's links and match every record again with a full sync."""
    if not yes and not typer.confirm(
        f"forget every link of job {name} and match all records again with a full sync?"
    ):
        raise typer.Exit(1)
    hub = open_hub()
    try:
        run_row, outcome = JobService(hub).rebuild_mapping(name)
    finally:
        hub.close()
    print_outcome(run_row.id, outcome)
    if outcome.status == "failed":
        raise typer.Exit(1)


trigger_app = typer.Typer(
    help="Trigger tokens: let another system start one job's runs (POST /jobs/{job}/trigger).",
    no_args_is_help=True,
)
jobs_app.add_typer(trigger_app, name="trigger-token")


@trigger_app.command("create")
@user_errors
def create_trigger_token(
    job: str = typer.Argument(..., help="The job the token may trigger."),
    name: str = typer.Option(..., "--name", "-n", help="What the token is for (e.g. airflow)."),
) -> None:
    """Create a trigger token for one job and print it once (crmhub keeps only its hash)."""
    from crmhub.services.tokens import TokenService

    hub = open_hub()
    try:
        issued = TokenService(hub).create_trigger(job, name, actor="cli")
    finally:
        hub.close()
    err_console.print(
        f"trigger token {issued.token.id} for job {job} ({name}) — copy it now, it is not shown again:"
    )
    typer.echo(issued.text)


@trigger_app.command("list")
@user_errors
def list_trigger_tokens(job: str = typer.Argument(...)) -> None:
    """List a job's trigger tokens (never their values)."""
    from crmhub.services.tokens import TokenService

    hub = open_hub()
    try:
        tokens = TokenService(hub).list_trigger(job)
    finally:
        hub.close()
    table = Table("id", "name", "prefix", "created", "last used", "state")
    for t in tokens:
        table.add_row(
            str(t.id),
            t.name,
            t.prefix,
            f"{t.created_at:%Y-%m-%d %H:%M}",
            f"{t.last_used_at:%Y-%m-%d %H:%M}" if t.last_used_at else "never",
            "revoked" if t.revoked_at else "active",
        )
    console.print(table)


@trigger_app.command("revoke")
@user_errors
def revoke_trigger_token(job: str = typer.Argument(...), token_id: int = typer.Argument(...)) -> None:
    """Revoke one of a job's trigger tokens."""
    from crmhub.services.tokens import TokenService

    hub = open_hub()
    try:
        service = TokenService(hub)
        job_row, _ = JobService(hub).get(job)
        service.revoke(token_id, kind="trigger", job_id=job_row.id, actor="cli")
    finally:
        hub.close()
    console.print(f"revoked trigger token {token_id} of job {job}")


# runs ---------------------------------------------------------------------------------------


@runs_app.command("list")
@user_errors
def list_runs(
    job: str | None = typer.Option(None, "--job", "-j"),
    status: str | None = typer.Option(None, "--status"),
    limit: int = typer.Option(20, "--limit", "-n", min=1, max=1000),
) -> None:
    """Run history, newest first."""
    hub = open_hub()
    try:
        with hub.db.read() as session:
            job_id = get_job(session, job).id if job else None
            runs = run_repo.list_runs(session, job_id=job_id, status=status, limit=limit)
            names = job_names(session, {r.job_id for r in runs})
    finally:
        hub.close()
    rows = []
    for r in runs:
        c = r.counts
        counts = ", ".join(
            f"{c[k]:,} {k}"
            for k in ("read", "created", "updated", "unchanged", "deleted", "failed")
            if c.get(k)
        )
        rows.append(
            (
                r.id,
                names.get(r.job_id, str(r.job_id)),
                r.status,
                f"{r.trigger} {r.mode}" + (" (dry run)" if r.dry_run else ""),
                counts or "—",
                f"{r.created_at:%m-%d %H:%M}",
            )
        )
    if console.width < 110:
        # Narrow terminals: two lines per run, so the run id (what every command takes) and the job
        # name are never cut or wrapped, whatever the width.
        width = max((len(row[1]) for row in rows), default=0)
        for run_id, job_name, run_status, how, counts, created in rows:
            console.print(f"{run_id}  {job_name.ljust(width)}  {created}  {run_status}", soft_wrap=True)
            console.print(f"  {how}: {counts}", soft_wrap=True)
        return
    table = Table("run", "job", "status", "trigger / mode", "counts", "created", box=None, pad_edge=False)
    for column in (table.columns[0], table.columns[1], table.columns[5]):
        column.no_wrap, column.overflow = True, "fold"  # folded at worst, never cut with "…"
    for row in rows:
        table.add_row(*row)
    console.print(table)


@runs_app.command("show")
@user_errors
def show_run(run_id: str = typer.Argument(...)) -> None:
    """A run's state, counts and event history."""
    hub = open_hub()
    try:
        with hub.db.read() as session:
            r = run_repo.get_run(session, run_id)
            events = run_repo.events(session, run_id)
            artifacts = run_repo.artifacts(session, run_id)
            n_errors = run_repo.count_errors(session, run_id)
            job_name = job_names(session, {r.job_id}).get(r.job_id, str(r.job_id))
    finally:
        hub.close()
    console.print(
        f"[bold]run {r.id}[/] job {job_name} v{r.job_version} — {r.trigger} {r.mode}"
        f"{' (dry run)' if r.dry_run else ''}: {r.status}",
        soft_wrap=True,
    )
    console.print(f"  {r.message}", soft_wrap=True)
    console.print("  " + "  ".join(f"{k} {v:,}" for k, v in r.counts.items()))
    console.print(f"  errors in ledger: {n_errors}; usage: {orjson.dumps(r.usage).decode()}")
    for a in artifacts:
        console.print(f"  {a.kind}: {a.path} ({a.records:,} records, {a.size_bytes:,} bytes)", soft_wrap=True)
    for e in events:
        console.print(f"  {e.at:%H:%M:%S} {e.kind}: {e.message}", soft_wrap=True)


@runs_app.command("errors")
@user_errors
def errors(
    run_id: str = typer.Argument(...),
    as_csv: bool = typer.Option(False, "--csv", help="Write all errors as CSV to stdout."),
    limit: int = typer.Option(50, "--limit", "-n", min=1),
) -> None:
    """The run's error ledger."""
    hub = open_hub()
    try:
        with hub.db.read() as session:
            run_repo.get_run(session, run_id)
            rows = run_repo.errors(session, run_id, limit=10**9 if as_csv else limit)
    finally:
        hub.close()
    columns = ["phase", "row", "remote_id", "hub_id", "field", "raw_value", "message", "error_class"]
    if as_csv:
        writer = csv.writer(sys.stdout)
        writer.writerow(columns)
        for e in rows:
            writer.writerow([getattr(e, c) if getattr(e, c) is not None else "" for c in columns])
        return
    table = Table(*columns)
    for e in rows:
        table.add_row(*[str(getattr(e, c)) if getattr(e, c) is not None else "" for c in columns])
    console.print(table)


@runs_app.command("download")
@user_errors
def download(run_id: str = typer.Argument(...), output: Path = typer.Option(..., "--output", "-o")) -> None:
    """Save the run's source snapshot (gzip JSON lines, one per source record)."""
    hub = open_hub()
    try:
        with hub.db.read() as session:
            run_repo.get_run(session, run_id)
            artifacts = [a for a in run_repo.artifacts(session, run_id) if a.kind == "source_snapshot"]
    finally:
        hub.close()
    if not artifacts or not Path(artifacts[0].path).exists():
        raise fail(f"run {run_id} has no source snapshot (kept for the last runs of each job only)")
    shutil.copyfile(artifacts[0].path, output)
    console.print(f"wrote {output} ({artifacts[0].records:,} records)")


@runs_app.command("cancel")
@user_errors
def cancel(run_id: str = typer.Argument(...)) -> None:
    """Cancel a queued or running run (it stops at the next batch boundary)."""
    hub = open_hub()
    try:
        r = JobService(hub).cancel(run_id)
    finally:
        hub.close()
    console.print(f"run {r.id}: {'cancel requested' if r.status == 'running' else r.status}")
