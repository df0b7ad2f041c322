"""``expandctl plan``."""

from __future__ import annotations

import click

from expandctl.cli.cmd_advance import PHASE_CHOICE
from expandctl.cli.context import AppContext, pass_app
from expandctl.cli.output import echo_json, format_option, style
from expandctl.commands.plan import PlanReport, plan
from expandctl.errors import StateError
from expandctl.model.phases import Phase


@click.command("plan")
@click.argument("migration_id", required=False)
@click.option("--rollback", is_flag=True, help="Plan the rollback of the last completed phase.")
@click.option(
    "--phase",
    type=PHASE_CHOICE,
    help="Plan this phase from the files alone, without a database.",
)
@format_option()
@pass_app
def plan_command(
    app: AppContext, migration_id: str | None, rollback: bool, phase: str | None, output_format: str
) -> None:
    """Show the exact steps and SQL the next advance (or --rollback) would run.

    Executes nothing. Exits 4 when advance would refuse (the reasons are shown).
    """
    report = plan(
        app.config, migration_id, rollback=rollback, phase=Phase(phase) if phase else None
    )
    if output_format == "json":
        echo_json(report)
    else:
        render_plan(report)
    if report.refusals:
        click.get_current_context().exit(StateError.exit_code)


def render_plan(report: PlanReport) -> None:
    if report.nothing_to_do:
        click.echo(f"nothing to do: {report.nothing_to_do}")
        return
    verb = "rollback" if report.direction == "rollback" else "advance"
    states = ""
    if report.from_state and report.to_state:
        states = f" ({report.from_state.value} -> {report.to_state.value})"
    phase = report.phase.value if report.phase else "?"
    click.echo(f"{verb} {style(report.migration_id or '', bold=True)}: {phase}{states}")
    if report.offline:
        click.echo("  (planned from files only; the database was not read)")
    if report.resume_from is not None:
        click.echo(f"  resumes an interrupted run at step {report.resume_from + 1}")
    if report.gates:
        click.echo("gates (checked before it starts):")
        for gate in report.gates:
            click.echo(f"  - {gate}")
    if report.steps:
        click.echo("steps:")
    for step in report.steps:
        where = f"{step.source}:{step.line}" if step.source and step.line else (step.source or "")
        where = where or step.kind
        done = " (done)" if step.done else ""
        click.echo(f"  {step.number}. [{step.mode}] {where}{done}")
        for line in step.text.splitlines():
            click.echo(f"       {line}")
        if step.batch_sql:
            if step.batch_key is None:
                click.echo("       batch key: the table's primary key, resolved when advance runs")
            else:
                click.echo(f"       batch key: {', '.join(step.batch_key)}")
            for line in step.batch_sql.splitlines():
                click.echo(f"         {line}")
    if not report.steps:
        click.echo("steps: none")
    for note in report.notes:
        click.echo(f"note: {note}")
    if report.needs_confirmation:
        click.echo("needs --yes (or a confirmation on a terminal)")
    for refusal in report.refusals:
        click.echo(style("refused: ", fg="red", bold=True) + refusal)
    for hint in report.hints:
        click.echo(f"  hint: {hint}")
