"""What ``advance``, ``rollback`` and ``plan`` share on the command line: the phase
choice, the terminal prompt, and how runs, plans and refused hazards are shown.

Kept apart from the commands so that none of them imports another.
"""

from __future__ import annotations

import os
import sys

import click

from expandctl.cli.output import color_enabled, echo_json, style
from expandctl.commands.advance import AdvanceReport, Confirm
from expandctl.commands.advance_dry_run import AdvanceDryRunReport
from expandctl.commands.plan import PlannedStep, PlanReport
from expandctl.errors import HazardRefused
from expandctl.lint import Finding
from expandctl.lint.finding import LintReport, Summary
from expandctl.lint.formats.text import render_text
from expandctl.model.phases import Phase
from expandctl.model.step_text import elide_bodies
from expandctl.model.words import plural

PHASE_CHOICE = click.Choice([p.value for p in Phase])
ACCEPT_RISK_HELP = (
    "Run despite error-level lint findings of this phase; REASON is recorded in history."
)


def terminal_confirm() -> Confirm | None:
    """Ask on a terminal; without one there is nobody to ask, so --yes is needed."""
    if not sys.stdin.isatty():
        return None
    return lambda question: click.confirm(question, default=False, err=True)


def render_findings(findings: list[Finding]) -> None:
    """Lint findings exactly as ``expandctl lint`` prints them (without its summary line)."""
    if not findings:
        return
    report = LintReport(
        version="",
        pg_version=0,
        findings=[f.model_copy(update={"path": _relative(f.path)}) for f in findings],
        summary=Summary(errors=sum(f.severity == "error" for f in findings)),
    )
    blocks = render_text(report, color=color_enabled()).split("\n\n")
    click.echo("\n\n".join(blocks[:-1]))


def _relative(path: str) -> str:
    """A finding's file relative to where the command runs, as ``lint`` shows it."""
    shown = os.path.relpath(path) if os.path.isabs(path) else path
    return path if shown.startswith("..") else shown


def render_hazard(refused: HazardRefused, output_format: str) -> None:
    """Before the one-line error: the findings that refused the phase."""
    findings = [f for f in refused.findings if isinstance(f, Finding)]
    if output_format == "json":
        echo_json({"refused": refused.message, "findings": [f.model_dump() for f in findings]})
    else:
        render_findings(findings)


def render_runs(report: AdvanceReport, output_format: str) -> None:
    """The phases that ran; for a run that stopped early, why (exit with its code)."""
    if output_format == "json":
        echo_json(report)
    else:
        _render_runs_text(report)
    if report.stopped is not None:
        click.get_current_context().exit(report.stopped.exit_code)


def _render_runs_text(report: AdvanceReport) -> None:
    for run in report.runs:
        verb = "rolled back" if run.direction == "rollback" else "done"
        extra = []
        if run.resumed_from:  # only when an earlier run had done something
            extra.append(f"resumed at step {run.resumed_from + 1}")
        if run.skipped:
            extra.append(f"{len(run.skipped)} found already done")
        if run.retries:
            extra.append(plural(run.retries, "lock retry", "lock retries"))
        tail = f"; {', '.join(extra)}" if extra else ""
        steps = (
            "nothing to run"
            if run.steps_total == 0
            else f"{run.steps_run}/{plural(run.steps_total, 'step')}"
        )
        click.echo(
            f"{style(run.migration_id, bold=True)}: {run.phase} {verb} "
            f"({steps}, {run.duration_ms / 1000:.2f}s{tail})"
        )
    for message in report.messages:
        click.echo(message)
    stop = report.stopped
    if stop is None:
        return
    render_findings(stop.findings)
    ran = len(report.runs)
    where = f" at {stop.migration_id}" if stop.migration_id else ""
    click.echo(
        style(f"stopped{where} ({stop.reason}) ", fg="red", bold=True)
        + f"after {plural(ran, 'phase')}: {stop.message}"
    )
    if stop.hint:
        click.echo(f"  hint: {stop.hint}")


def render_plan(report: PlanReport, *, verbose: int = 0) -> None:
    """What a reviewer checks: the DDL, trigger and function names, backfills, the lint
    verdict; catalog checks as one line and function bodies folded unless ``verbose``."""
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
    steps = report.steps
    i = 0
    while i < len(steps):
        if steps[i].kind == "check" and not verbose:
            end = i
            while end + 1 < len(steps) and steps[end + 1].kind == "check":
                end += 1
            _render_checks(report, steps[i].number, steps[end].number)
            i = end + 1
            continue
        _render_step(steps[i], verbose=verbose)
        i += 1
    if not report.steps:
        click.echo("steps: none")
    for note in report.notes:
        click.echo(f"note: {note}")
    _render_lint_verdict(report)
    if report.needs_confirmation:
        click.echo("needs --yes (or a confirmation on a terminal)")
    for refusal in report.refusals:
        click.echo(style("refused: ", fg="red", bold=True) + refusal)
    for hint in dict.fromkeys(report.hints):
        click.echo(f"  hint: {hint}")


def _render_checks(report: PlanReport, first: int, last: int) -> None:
    """A run of catalog checks as one line; each one is shown with -v."""
    count = last - first + 1
    numbers = f"{first}." if first == last else f"{first}-{last}."
    what = plural(count, "catalog check")
    if report.checks == "not-evaluated":
        verdict = f"{what} (not evaluated: planned offline)"
    elif report.checks == "fail":
        verdict = f"{what}: some do not hold now (see refused below)"
    else:
        verdict = f"{what} {'pass' if count != 1 else 'passes'}"
    click.echo(f"  {numbers} {verdict} (-v shows each)")


def _render_step(step: PlannedStep, *, verbose: int) -> None:
    where = f"{step.source}:{step.line}" if step.source and step.line else (step.source or "")
    where = where or step.kind
    done = " (done)" if step.done else ""
    click.echo(f"  {step.number}. [{step.mode}] {where}{done}")
    text = step.text if verbose else elide_bodies(step.text)[0]
    for line in text.splitlines():
        click.echo(f"       {line}")
    for accepted in step.accepted:
        click.echo(f"       accepted by design: {accepted}")
    if step.batch_sql:
        if step.batch_key is None:
            click.echo("       batch key: the table's primary key, resolved when advance runs")
        else:
            click.echo(f"       batch key: {', '.join(step.batch_key)}")
        if verbose:
            for line in step.batch_sql.splitlines():
                click.echo(f"         {line}")
        else:
            click.echo("       (-v shows the statements each batch runs)")


def _render_lint_verdict(report: PlanReport) -> None:
    if not report.steps:
        return
    if not report.findings:
        click.echo("lint: no findings in these steps")
        return
    errors = sum(f.severity == "error" for f in report.findings)
    others = len(report.findings) - errors
    counts = ", ".join(
        part
        for part in (
            plural(errors, "error") if errors else "",
            plural(others, "warning") if others else "",
        )
        if part
    )
    accepted = f" (accepted: {report.accepted_risk})" if errors and report.accepted_risk else ""
    click.echo(f"lint findings of these steps: {counts}{accepted}")
    render_findings(report.findings)


def render_dry_run(dry: AdvanceDryRunReport, *, verbose: int = 0) -> None:
    render_plan(dry.plan, verbose=verbose)
    for b in dry.batches:
        click.echo(
            f"dry run: backfill [{b.index}] {b.table}: one batch of up to {b.batch_size:,} rows"
            f" took {b.batch_ms:.1f} ms, would update {b.rows_matched:,} of {b.rows_scanned:,}"
            f" rows scanned ({b.rows_remaining:,} rows to do in all); rolled back"
        )
    if dry.batches:
        click.echo("dry run: nothing was kept or recorded")
    else:
        click.echo("dry run: nothing was executed")
