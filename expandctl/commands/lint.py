"""``expandctl lint``: find the SQL to check, lint it with the right phase, report.

Paths may be migration folders, the migrations directory, directories of
plain ``.sql`` files, single ``.sql`` files, a ``migration.toml`` (its whole
migration), or ``-`` for SQL on stdin. A
phase file given alone (``migrations/0003_x/contract.sql``, as pre-commit
passes it) is linted with its whole migration, so it sees its phase, the
earlier phases and the manifest's ``retires``.
"""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

from expandctl import __version__
from expandctl.errors import LintError, UsageError
from expandctl.lint import LintReport, lint_migration, lint_source, rule_set
from expandctl.lint.finding import Finding, LintedFile, Severity, Summary
from expandctl.lint.registry import RuleSet
from expandctl.lint.runner import FileResult
from expandctl.loader.files import read_text_file
from expandctl.loader.migrations import MANIFEST_NAME, load_migration, load_migrations
from expandctl.model.config import ResolvedConfig
from expandctl.model.manifest import MIGRATION_ID
from expandctl.model.phases import Phase
from expandctl.model.sqlfiles import SQL_FILE_NAMES

STDIN = "-"
_PARALLEL_MIN_FILES = 64  # below this, forking costs more than it saves
_MAX_WORKERS = 4


@dataclass
class _Targets:
    migrations: dict[str, set[Path] | None] = field(default_factory=dict)  # folder -> only files
    plain: list[Path] = field(default_factory=list)
    stdin: bool = False


def run_lint(
    config: ResolvedConfig,
    paths: Sequence[str] = (),
    *,
    phase: Phase | None = None,
    pg_version: int | None = None,
    select: Sequence[str] = (),
    ignore: Sequence[str] = (),
    fail_on: Severity = "error",
    stdin_text: str | None = None,
    cwd: Path | None = None,
) -> LintReport:
    cwd = cwd or Path.cwd()
    version = pg_version if pg_version is not None else config.settings.pg_version
    if not 9 <= version <= 30:
        raise UsageError(f"--pg-version {version} is not a PostgreSQL major version")
    rules = rule_set(config.settings.lint, select=select, ignore=ignore)
    targets = _resolve(config, paths, cwd, phase)
    results: list[FileResult] = []
    for folder, only in targets.migrations.items():
        for result in lint_migration(load_migration(Path(folder)), pg_version=version, rules=rules):
            if only is None or Path(result.path.split("#", 1)[0]).resolve() in only:
                results.append(result)
    if not (targets.migrations or targets.plain or targets.stdin):
        shown = ", ".join(paths) if paths else config.migrations_path
        raise LintError(
            f"no migrations or .sql files under {shown}",
            hint="a gate that lints nothing passes nothing: check the path",
        )
    plain = [(str(path), _read(path)) for path in targets.plain]
    results.extend(_lint_plain_files(plain, phase, version, rules))
    if targets.stdin:
        results.append(_lint_plain(stdin_text or "", "<stdin>", phase, version, rules))
    return _report(results, version, fail_on, cwd)


def _lint_plain_files(
    sources: list[tuple[str, str]], phase: Phase | None, version: int, rules: RuleSet
) -> list[FileResult]:
    """Lint independent plain files, on several cores when there are many.

    Plain files share no context, so they split cleanly into contiguous chunks
    (order is kept). Worker processes are forked: they inherit the imported
    parser and rules, so starting them costs milliseconds, not an import.
    """
    workers = min(os.cpu_count() or 1, _MAX_WORKERS)
    forkable = "fork" in multiprocessing.get_all_start_methods()
    if workers < 2 or len(sources) < _PARALLEL_MIN_FILES or not forkable:
        return [_lint_plain(text, name, phase, version, rules) for name, text in sources]
    size = -(-len(sources) // workers)
    chunks = [sources[i : i + size] for i in range(0, len(sources), size)]
    job = partial(_lint_chunk, phase=phase, version=version, rules=rules)
    context = multiprocessing.get_context("fork")
    with ProcessPoolExecutor(max_workers=len(chunks), mp_context=context) as pool:
        return [result for chunk in pool.map(job, chunks) for result in chunk]


def _lint_chunk(
    chunk: list[tuple[str, str]], *, phase: Phase | None, version: int, rules: RuleSet
) -> list[FileResult]:
    return [_lint_plain(text, name, phase, version, rules) for name, text in chunk]


def _lint_plain(
    text: str, name: str, phase: Phase | None, version: int, rules: RuleSet
) -> FileResult:
    return lint_source(
        text, phase=phase or Phase.EXPAND, source_name=name, pg_version=version, rules=rules
    )


def _resolve(
    config: ResolvedConfig, paths: Sequence[str], cwd: Path, phase: Phase | None
) -> _Targets:
    targets = _Targets()
    if not paths:
        paths = [config.migrations_path]
    for raw in paths:
        if raw == STDIN:
            targets.stdin = True
            continue
        path = Path(raw) if Path(raw).is_absolute() else cwd / raw
        if not path.exists():
            raise LintError(f"{raw}: no such file or directory")
        if path.is_dir():
            _add_directory(targets, path)
        elif path.name == MANIFEST_NAME:
            targets.migrations[str(path.parent)] = None  # the manifest changes every phase
        elif (
            phase is None
            and (path.parent / MANIFEST_NAME).is_file()
            and (path.name in SQL_FILE_NAMES)
        ):
            only = targets.migrations.setdefault(str(path.parent), set())
            if only is not None:
                only.add(path.resolve())
        else:
            targets.plain.append(path)
    return targets


def _add_directory(targets: _Targets, path: Path) -> None:
    if (path / MANIFEST_NAME).is_file():
        targets.migrations[str(path)] = None
        return
    subfolders = [p for p in path.iterdir() if p.is_dir()]
    # A folder with a manifest is a migration even when misnamed: the loader says why.
    if any(MIGRATION_ID.match(p.name) or (p / MANIFEST_NAME).is_file() for p in subfolders):
        for migration in load_migrations(path).migrations:
            targets.migrations[migration.path] = None
        return
    targets.plain.extend(sorted(path.rglob("*.sql")))


def _read(path: Path) -> str:
    # The loader's reader: regular files only (a FIFO would hang), BOM dropped,
    # control characters refused with file:line, like every migration file.
    return read_text_file(path, LintError)[1]


def _report(results: list[FileResult], version: int, fail_on: Severity, cwd: Path) -> LintReport:
    findings: list[Finding] = []
    files: list[LintedFile] = []
    for result in results:
        shown = _relative(result.path, cwd)
        files.append(
            LintedFile(
                path=shown,
                phase=result.phase.value,
                rollback=result.rollback,
                statements=result.statements,
            )
        )
        findings.extend(f.model_copy(update={"path": shown}) for f in result.findings)
    summary = Summary(
        files=len(results),
        statements=sum(r.statements for r in results),
        errors=sum(f.severity == "error" for f in findings),
        warnings=sum(f.severity == "warning" for f in findings),
        notes=sum(f.severity == "info" for f in findings),
        suppressed=sum(r.suppressed for r in results),
    )
    return LintReport(
        version=__version__,
        pg_version=version,
        fail_on=fail_on,
        files=files,
        findings=findings,
        summary=summary,
    )


def _relative(path: str, cwd: Path) -> str:
    """Paths relative to where lint runs, as CI annotations and SARIF expect."""
    if path.startswith("<"):
        return path
    file_part, sep, anchor = path.partition("#")
    try:
        rel = os.path.relpath(Path(file_part).resolve(), cwd.resolve())
    except ValueError:
        return path
    shown = file_part if rel.startswith("..") else rel
    return f"{shown}{sep}{anchor}"
