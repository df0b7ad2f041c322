"""Every operation's generated SQL passes the same lint gate as hand-written SQL."""

from __future__ import annotations

import pytest

from expandctl.lint import LintContext, lint_sql
from expandctl.model.ops.registry import plan_operations, plan_retires, steps_as_sql
from expandctl.model.phases import PHASES
from tests.operations.support import MIGRATION_ID, parse
from tests.operations.test_forward_rollback import CASES, Case
from tests.operations.test_zero_downtime import SCENARIOS


def findings_for(ops_raw: list[dict[str, object]], pg_version: int) -> list[str]:
    ops = [parse(raw) for raw in ops_raw]
    # The operations declare what their contract removes, as a manifest's retires would.
    retires = frozenset(plan_retires(ops, migration_id=MIGRATION_ID))
    ctx = LintContext(pg_version=pg_version, retires=retires)
    found: list[str] = []
    for phase in PHASES:
        earlier = set(ctx.migration_created)
        forward = steps_as_sql(
            plan_operations(
                ops, phase, rollback=False, migration_id=MIGRATION_ID, server_version=pg_version
            )
        )
        for f in lint_sql(
            forward, phase=phase, source_name=f"{phase.value}", context=ctx, pg_version=pg_version
        ):
            found.append(f"{phase.value}: {f.rule_id} {f.rule_name}: {f.message} [{f.source_line}]")
        created = set(ctx.file_created)
        ctx.next_file()
        if not phase.reversible:
            continue
        down = steps_as_sql(
            plan_operations(
                ops, phase, rollback=True, migration_id=MIGRATION_ID, server_version=pg_version
            )
        )
        down_ctx = LintContext(
            pg_version=pg_version, migration_created=earlier, forward_created=created
        )
        for f in lint_sql(
            down,
            phase=phase,
            source_name=f"{phase.value}.down",
            context=down_ctx,
            pg_version=pg_version,
            rollback=True,
        ):
            found.append(f"{phase.value}.down: {f.rule_id} {f.rule_name}: {f.message}")
    return found


@pytest.mark.parametrize("pg_version", [15, 18])
@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_generated_sql_passes_the_lint_gate(case: Case, pg_version: int) -> None:
    assert findings_for(case.ops, pg_version) == []


@pytest.mark.parametrize("scenario", SCENARIOS, ids=[s.id for s in SCENARIOS])
def test_zero_downtime_scenarios_pass_the_lint_gate(scenario: object) -> None:
    assert findings_for([scenario.op], 15) == []  # type: ignore[attr-defined]
