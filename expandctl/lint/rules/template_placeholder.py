"""I702 template-placeholder."""

from __future__ import annotations

from collections.abc import Iterator

from expandctl.lint.actions import Action
from expandctl.lint.context import LintContext
from expandctl.lint.input_actions import TemplateFile
from expandctl.lint.rule import Rule, Violation
from expandctl.lint.source import Statement


class TemplatePlaceholder(Rule):
    """The file is a template, not SQL: it holds placeholders outside quotes.

    Lock or breakage: unknown, and PostgreSQL cannot run the file as it is.
    ``{{ … }}`` and ``{% … %}`` (Jinja, dbt), ``${…}`` (Flyway, shell) and
    psql variables (``:name``, ``:'name'``) are filled in by a tool before
    the SQL reaches PostgreSQL, so what runs is not what is written. One
    finding per file, at the first placeholder; statements holding a
    placeholder are not checked (no cascade of syntax errors), the others
    are. Inside string literals placeholders are not looked for.

    Safe alternative: lint the rendered SQL (``dbt compile``, ``flyway``'s
    dry run, ``envsubst``) , e.g. ``render … | expandctl lint -``.

    Bad:
        CREATE INDEX CONCURRENTLY users_email_idx ON {{ schema }}.users (email);

    Good:
        CREATE INDEX CONCURRENTLY users_email_idx ON public.users (email);
    """

    id = "I702"
    name = "template-placeholder"
    group = "input"
    actions = (TemplateFile,)

    def check(self, action: Action, statement: Statement, ctx: LintContext) -> Iterator[Violation]:
        assert isinstance(action, TemplateFile)
        others = action.placeholders - 1
        more = f" and {others} more" if others else ""
        yield Violation(
            f"not SQL: this file contains template placeholders ({action.first}{more}); "
            f"the {action.statements} statement(s) holding them were not checked.",
            "lint the rendered SQL instead (render it, then lint the output or pipe it to "
            "'expandctl lint -').",
        )
