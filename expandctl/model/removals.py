"""What a phase takes away: each object a step drops, renames or changes the type of.

Pure data. The linter's statement reader finds them (``expandctl.lint.removals``);
the engine checks that nothing still needs them before the phase runs
(``expandctl.engine.interference``).
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict

RemovalKind = Literal[
    "column",
    "table",
    "view",
    "materialized view",
    "function",
    "procedure",
    "trigger",
    "index",
    "constraint",
    "type",
    "policy",
    "sequence",
]
Verb = Literal["drop", "rename", "retype"]


class Removal(BaseModel):
    """One object one step of a phase plan drops, renames or retypes.

    Names are as PostgreSQL folds them (unquoted names lower-cased). ``table``
    is the table a column, trigger, constraint or policy belongs to (for a
    table: the table itself); ``schema`` is None when the SQL did not say.
    """

    model_config = ConfigDict(frozen=True)

    kind: RemovalKind
    verb: Verb
    name: str
    schema_name: str | None = None
    table: str | None = None
    new_name: str | None = None  # a rename's target
    step_index: int  # position in the PhasePlan's steps
    source: str  # "contract.sql" or "operation 1"
    line: int | None = None
    cascade: bool = False

    @property
    def where(self) -> str:
        """The step, for messages: ``contract.sql:3`` or ``operation 1 (step 4)``."""
        if self.line is not None:
            return f"{self.source}:{self.line}"
        return f"{self.source} (step {self.step_index + 1})"

    @property
    def label(self) -> str:
        """The object, for messages: ``column users.email``, ``function f``."""
        qualified = f"{self.table}.{self.name}" if self.kind == "column" else self.name
        if self.kind in ("trigger", "constraint", "policy") and self.table:
            return f"{self.kind} {self.name} on {self.table}"
        return f"{self.kind} {qualified}"

    @property
    def action(self) -> str:
        """``drop column users.email``, ``rename column users.a to b``."""
        if self.verb == "rename" and self.new_name:
            return f"rename {self.label} to {self.new_name}"
        return f"{self.verb} {self.label}"
