"""Property-based fuzzing: no input crashes or hangs the loader, the linter or ``plan``.

The only acceptable outcomes are success or an ExpandctlError (CLI exit 0-4);
never a traceback, exit 70 or a hang. CI runs a small, derandomized sample;
a long run explores at random: ``EXPANDCTL_FUZZ_EXAMPLES=100000 pytest tests/fuzz``
(docs/input-validation.md).
"""

from __future__ import annotations

import faulthandler
import json
import os
import signal
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from expandctl.cli import cli
from expandctl.errors import ExpandctlError
from expandctl.lint import lint_source
from expandctl.loader.migrations import load_migrations
from expandctl.model.phases import PHASES

_LONG_RUN = int(os.environ.get("EXPANDCTL_FUZZ_EXAMPLES", "0"))
# Seconds one example may take before it counts as a hang.
_HANG_SECONDS = 10


def fuzz_settings(ci_examples: int) -> settings:
    return settings(
        max_examples=_LONG_RUN or ci_examples,
        derandomize=not _LONG_RUN,  # CI: the same examples every run
        deadline=None,  # a hang is caught by the alarm below, slowness is not a failure
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )


@contextmanager
def no_hang() -> Iterator[None]:
    """Fail an example that runs longer than _HANG_SECONDS (a FIFO, a runaway loop).

    A loop inside C code never lets the alarm's handler run: after three times
    the limit, faulthandler prints every thread's stack and ends the run.
    """
    faulthandler.dump_traceback_later(3 * _HANG_SECONDS, exit=True)
    if not hasattr(signal, "SIGALRM"):
        try:
            yield
        finally:
            faulthandler.cancel_dump_traceback_later()
        return

    def hung(signum: int, frame: object) -> None:
        raise AssertionError(f"example still running after {_HANG_SECONDS}s: a hang")

    previous = signal.signal(signal.SIGALRM, hung)
    signal.alarm(_HANG_SECONDS)
    try:
        yield
    finally:
        faulthandler.cancel_dump_traceback_later()
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


_SQL_WORDS = [
    "SELECT", "UPDATE", "DELETE", "INSERT INTO", "ALTER TABLE", "CREATE", "INDEX", "DROP",
    "COLUMN", "ADD", "SET", "WHERE", "CONCURRENTLY", "NOT VALID", "CHECK", "CASE", "WHEN",
    "ELSE", "END", "DO", "BEGIN", "COMMIT", "TYPE", "VALIDATE", "CONSTRAINT", "t", "x",
    '"X y"', "1", "'s'", "(", ")", "[", "]", ",", ";", ".", "::", "?", "?|", "$$", "$a$",
    "'", '"', "--", "/*", "*/", "\n", "\t", "\\", "%s", "%", "ARRAY[", "\x00", "\ufeff",
    "\x1b", "\u2028", "é",
]  # fmt: skip
_sql_piece = st.one_of(st.sampled_from(_SQL_WORDS), st.text(max_size=6))
_nested = st.builds(
    lambda n, word, open_, close: f"UPDATE t SET a = {open_ * n}{word}{close * n}",
    st.integers(0, 700),
    st.sampled_from(["1", "x", "'s'", ""]),
    st.sampled_from(["(", "ARRAY[", "[", "CASE WHEN ("]),
    st.sampled_from([")", "]", ") END"]),
)
sql_text = st.one_of(st.lists(_sql_piece, max_size=40).map(" ".join), _nested)

_OPS = [
    "add_column", "add_check", "create_index", "rename_column", "change_column_type",
    "drop_column", "create_table", "sql", "set_not_null", "add_foreign_key", "nope",
]  # fmt: skip
_KEYS = [
    "table", "column", "type", "default", "check", "name", "to", "down", "up", "where",
    "backfill", "schema", "expand", "contract", "columns", "references", "references_columns",
]  # fmt: skip
_value_text = st.one_of(sql_text, st.text(max_size=80), st.sampled_from(["text", "int", "x"]))


def _toml_value(value: object) -> str:
    # JSON string escapes (\\uXXXX, \\n, \\") are TOML basic-string escapes too.
    return json.dumps(value, ensure_ascii=False)


_scalar = st.one_of(
    _value_text,
    st.integers(-(2**70), 2**70),
    st.sampled_from(["1s", "25d", "1000000000d", "0.4ms", "9" * 40 + "d", "-1s"]),
)
_field = st.tuples(st.sampled_from(_KEYS), st.one_of(_scalar, st.lists(_value_text, max_size=3)))


@st.composite
def manifest_text(draw: st.DrawFn) -> str:
    kind = draw(st.integers(0, 5))
    if kind == 0:  # anything at all
        return draw(st.text(max_size=300))
    if kind == 1:  # deep nesting
        depth = draw(st.integers(1, 800))
        return 'description = "x"\nrequires = ' + "[" * depth + "]" * depth + "\n"
    lines = [f"description = {_toml_value(draw(st.text(max_size=20)))}"]
    for _ in range(draw(st.integers(0, 3))):
        lines.append("[[operations]]")
        lines.append(f"op = {_toml_value(draw(st.sampled_from(_OPS)))}")
        for key, value in draw(st.lists(_field, max_size=6, unique_by=lambda f: f[0])):
            lines.append(f"{key} = {_toml_value(value)}")
    if draw(st.booleans()):
        lines.append("[backfill]")
        lines.append(f"table = {_toml_value(draw(_value_text))}")
        lines.append(f"set = {{ a = {_toml_value(draw(_value_text))} }}")
        lines.append(f"where = {_toml_value(draw(_value_text))}")
        lines.append(f"lock_timeout = {_toml_value(draw(_scalar))}")
    if draw(st.booleans()):
        lines.append("[gates.contract]")
        lines.append(f"min_soak = {_toml_value(draw(_scalar))}")
    return "\n".join(lines) + "\n"


_phase_file = st.one_of(sql_text.map(str.encode), st.binary(max_size=200))


def _write_project(root: Path, manifest: str, phase_file: bytes, with_bom: bool) -> None:
    (root / "expandctl.toml").write_text('migrations_dir = "migrations"\n')
    folder = root / "migrations" / "0001_x"
    folder.mkdir(parents=True)
    (folder / "migration.toml").write_bytes((("\ufeff" if with_bom else "") + manifest).encode())
    (folder / "expand.sql").write_bytes(phase_file)


@fuzz_settings(ci_examples=250)
@given(sql=sql_text, phase=st.sampled_from(PHASES), rollback=st.booleans())
def test_the_linter_never_crashes(sql: str, phase: object, rollback: bool) -> None:
    if _LONG_RUN:
        print(repr(sql[:2000]), flush=True)  # the last one printed is the one that hung
    with no_hang(), suppress(ExpandctlError):
        lint_source(sql, phase=phase, source_name="f.sql", rollback=rollback)  # type: ignore[arg-type]


@fuzz_settings(ci_examples=200)
@given(manifest=manifest_text(), phase_file=_phase_file, with_bom=st.booleans())
def test_the_loader_never_crashes(manifest: str, phase_file: bytes, with_bom: bool) -> None:
    with tempfile.TemporaryDirectory() as tmp, no_hang():
        _write_project(Path(tmp), manifest, phase_file, with_bom)
        with suppress(ExpandctlError):
            load_migrations(Path(tmp) / "migrations")


@fuzz_settings(ci_examples=60)
@given(
    manifest=manifest_text(),
    phase_file=_phase_file,
    phase=st.sampled_from([p.value for p in PHASES]),
    command=st.sampled_from(["plan", "lint"]),
)
def test_plan_offline_and_lint_exit_cleanly(
    manifest: str, phase_file: bytes, phase: str, command: str
) -> None:
    with tempfile.TemporaryDirectory() as tmp, no_hang():
        root = Path(tmp)
        _write_project(root, manifest, phase_file, with_bom=False)
        args = ["plan", "0001_x", "--phase", phase] if command == "plan" else ["lint"]
        result = CliRunner().invoke(cli, ["--config", str(root / "expandctl.toml"), *args])
    assert result.exit_code in {0, 1, 2, 3, 4}, (result.exit_code, result.output)
    assert result.exception is None or isinstance(result.exception, SystemExit), result.output
    assert "internal error" not in result.output
    assert "Traceback" not in result.output
