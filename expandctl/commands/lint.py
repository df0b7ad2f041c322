"""``expandctl lint``: find the SQL to check, lint it with the right phase, report.

Paths may be migration folders, the migrations directory, directories of
plain ``.sql`` files, single ``.sql`` files, a ``migration.toml`` (its whole
migration), or ``-`` for SQL on stdin. A
phase file given alone (``migrations/0003_x/contract.sql``, as pre-commit
passes it) is linted with its whole migration, so it sees its phase, the
earlier phases and the manifest's ``retires``.

Results are cached (``expandctl.lint.cache``) at two levels: each target (a
plain file, or a migration folder as a unit) by its content and the
effective settings, and the rendered report by its targets' keys and the
output options. A run whose report is cached imports neither the parser nor
pydantic; the heavy imports below are inside the functions that lint. A run
that lints plain files imports the parser but still no pydantic: the
configuration is read by ``loader.config.load_lint_config`` and findings are
plain records (``lint.records``).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from expandctl import __version__
from expandctl.commands.lint_targets import STDIN, Targets, keep_changed, resolve
from expandctl.errors import LintError, UsageError
from expandctl.lint.cache import (
    CacheStats,
    LintCache,
    code_fingerprint,
    default_cache_dir,
    digest,
    file_digest,
    folder_digest,
)
from expandctl.model.phases import Phase

if TYPE_CHECKING:
    from expandctl.lint.finding import LintReport
    from expandctl.lint.records import ReportRecord, Severity
    from expandctl.lint.registry import RuleSet
    from expandctl.lint.runner import SourceResult
    from expandctl.model.config import ResolvedConfig
    from expandctl.model.lint_config import LintConfig

__all__ = ["STDIN", "LintOutcome", "LintRequest", "lint", "run_lint"]

_PARALLEL_MIN_FILES = 64  # below this, forking costs more than it saves
_MAX_WORKERS = 4
# Chunks per worker: a worker that is done takes the next one, so the workers
# finish within about one chunk of each other.
_CHUNKS_PER_WORKER = 4

# One linted source as cached: FileResult's fields, findings as dicts.
ResultData = dict[str, Any]


@dataclass(frozen=True)
class LintRequest:
    paths: tuple[str, ...] = ()
    phase: Phase | None = None
    pg_version: int | None = None
    select: tuple[str, ...] = ()
    ignore: tuple[str, ...] = ()
    fail_on: str = "error"
    output_format: str = "text"
    color: bool = False
    stdin_text: str | None = None
    changed_since: str | None = None
    use_cache: bool = True
    config_path: Path | None = None  # --config, to find the cache without loading it
    cwd: Path = field(default_factory=Path.cwd)


@dataclass
class LintOutcome:
    text: str  # the rendered report
    failed: bool  # exit 1
    stats: CacheStats | None = None  # None with --no-cache
    note: str | None = None  # for stderr, e.g. nothing changed since REF


@dataclass(frozen=True)
class _Facts:
    """What lint needs from the configuration; cached, so a hit loads no config."""

    migrations_path: str
    pg_version: int  # the config's; --pg-version overrides it
    lint: dict[str, Any]  # [tool.expandctl.lint] as loaded


class _Config:
    """The configuration, loaded on first use (a cache hit never loads it)."""

    def __init__(self, load: Callable[[], LintConfig]) -> None:
        self._load = load
        self._config: LintConfig | None = None

    def get(self) -> LintConfig:
        if self._config is None:
            self._config = self._load()
        return self._config

    def facts(self) -> _Facts:
        config = self.get()
        return _Facts(
            migrations_path=config.migrations_path,
            pg_version=config.pg_version,
            lint=config.lint.as_data(),
        )


def lint(request: LintRequest, load_config: Callable[[], LintConfig]) -> LintOutcome:
    """Lint what ``request`` names and render the report, reusing cached results.

    ``load_config``: ``loader.config.load_lint_config`` as the CLI's options say."""
    config = _Config(load_config)
    cache, source = _open_cache(request) if request.use_cache else (None, None)
    try:
        return _lint(request, config, cache, source)
    finally:
        if cache is not None:
            cache.close()  # writes this run's entries (one transaction) and prunes


def _lint(
    request: LintRequest, config: _Config, cache: LintCache | None, source: Path | None
) -> LintOutcome:
    fingerprint = code_fingerprint() if cache is not None else ""
    facts = _facts(request, config, cache, source, fingerprint)
    version = request.pg_version if request.pg_version is not None else facts.pg_version
    if not 9 <= version <= 30:
        raise UsageError(f"--pg-version {version} is not a PostgreSQL major version")
    paths = request.paths or (facts.migrations_path,)
    targets = resolve(paths, request.cwd, plain_phase_given=request.phase is not None)
    note = None
    if request.changed_since is not None:
        from expandctl.commands.changed import changed_files

        targets = keep_changed(targets, changed_files(request.changed_since, request.cwd))
        if not targets:
            since = request.changed_since
            note = f"nothing to lint: no migration or .sql file changed since {since}"
    elif not targets:
        shown = ", ".join(request.paths) if request.paths else facts.migrations_path
        raise LintError(
            f"no migrations or .sql files under {shown}",
            hint="a gate that lints nothing passes nothing: check the path",
        )
    settings_key = digest(fingerprint, version, list(request.select), list(request.ignore))
    settings_key = digest(settings_key, facts.lint)
    keys = _target_keys(targets, request.phase, settings_key) if cache is not None else {}
    report_key = None
    if cache is not None and not targets.stdin and all(keys.values()):
        report_key = _report_key(request, targets, keys)
        stored = _stored_report(cache.get_bytes(report_key))
        if stored is not None:
            cache.stats.report_hit = True
            return LintOutcome(stored[0], stored[1], cache.stats, note)
    results = _results(request, targets, keys, cache, config, version)
    report = _report(results, version, request.fail_on, request.cwd)
    from expandctl.lint.formats import render

    text = render(report, request.output_format, color=request.color)
    if cache is not None and report_key is not None:
        cache.put_bytes(report_key, _REPORT_FAILED[report.failed] + text.encode())
    return LintOutcome(text, report.failed, cache.stats if cache else None, note)


# A cached report: whether it failed, then its text as printed.
_REPORT_FAILED = {True: b"failed\n", False: b"passed\n"}


def _stored_report(payload: bytes | None) -> tuple[str, bool] | None:
    if payload is None:
        return None
    verdict, newline, text = payload.partition(b"\n")
    if not newline or verdict not in (b"failed", b"passed"):
        return None  # another entry's shape: render again
    try:
        return text.decode(), verdict == b"failed"
    except UnicodeDecodeError:
        return None


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
    """Lint without the cache and return the report (for callers in Python)."""
    cwd = cwd or Path.cwd()
    version = pg_version if pg_version is not None else config.settings.pg_version
    if not 9 <= version <= 30:
        raise UsageError(f"--pg-version {version} is not a PostgreSQL major version")
    request = LintRequest(
        paths=tuple(paths),
        phase=phase,
        pg_version=version,
        select=tuple(select),
        ignore=tuple(ignore),
        fail_on=fail_on,
        stdin_text=stdin_text,
        use_cache=False,
        cwd=cwd,
    )
    targets = resolve(
        request.paths or (config.migrations_path,), cwd, plain_phase_given=phase is not None
    )
    if not targets:
        shown = ", ".join(paths) if paths else config.migrations_path
        raise LintError(
            f"no migrations or .sql files under {shown}",
            hint="a gate that lints nothing passes nothing: check the path",
        )
    results = _results(request, targets, {}, None, _Config(config.for_lint), version)
    from expandctl.lint.finding import LintReport

    return LintReport.of(_report(results, version, fail_on, cwd))


def _open_cache(request: LintRequest) -> tuple[LintCache | None, Path | None]:
    """The project's cache, and the config file it belongs to (None: no config)."""
    from expandctl.loader.config import find_config_file

    if request.config_path is not None and not request.config_path.exists():
        return None, None  # loading the config says what is wrong
    source = request.config_path or find_config_file(request.cwd)
    root = source.parent if source is not None else request.cwd
    return LintCache(default_cache_dir(root.resolve())), source


def _facts(
    request: LintRequest,
    config: _Config,
    cache: LintCache | None,
    source: Path | None,
    fingerprint: str,
) -> _Facts:
    """The configuration's facts, from the cache when its file has not changed."""
    if cache is None:
        return config.facts()
    content = file_digest(source) if source is not None else "none"
    if content is None:
        return config.facts()
    key = digest("config", fingerprint, str(request.cwd), str(source), content)
    stored = cache.get(key, count=False)
    if isinstance(stored, dict):
        try:
            return _Facts(
                migrations_path=str(stored["migrations_path"]),
                pg_version=int(stored["pg_version"]),
                lint=dict(stored["lint"]),
            )
        except (KeyError, TypeError, ValueError):
            pass  # an entry of another shape: load the config
    facts = config.facts()
    cache.put(key, facts.__dict__)
    return facts


def _target_keys(targets: Targets, phase: Phase | None, settings_key: str) -> dict[str, str | None]:
    """A key per target; None when it cannot be cached (not a regular file)."""
    keys: dict[str, str | None] = {}
    for folder in targets.migrations:
        content = folder_digest(Path(folder))
        directory = targets.sets.get(folder)
        listing = list(targets.listings[directory]) if directory else None
        keys[folder] = (
            digest("migration", settings_key, folder, directory, listing, content)
            if content
            else None
        )
    effective = (phase or Phase.EXPAND).value
    for path in targets.plain:
        content = file_digest(path)
        keys[str(path)] = (
            digest("plain", settings_key, str(path), effective, content) if content else None
        )
    return keys


def _report_key(request: LintRequest, targets: Targets, keys: dict[str, str | None]) -> str:
    only = {
        folder: sorted(str(p) for p in files) if files is not None else None
        for folder, files in targets.migrations.items()
    }
    return digest(
        "report",
        [keys[name] for name in [*targets.migrations, *map(str, targets.plain)]],
        only,
        str(request.cwd),
        request.output_format,
        request.color,
        request.fail_on,
    )


def _results(
    request: LintRequest,
    targets: Targets,
    keys: dict[str, str | None],
    cache: LintCache | None,
    config: _Config,
    version: int,
) -> list[ResultData]:
    """Every target's results in report order, from the cache or linted now."""
    found: dict[str, list[ResultData]] = {}
    for name, key in keys.items():
        stored = cache.get(key) if cache is not None and key else None
        if stored is not None and _valid_results(stored):
            found[name] = stored
        elif cache is not None and key is None:
            cache.stats.misses += 1
    missing_folders = [f for f in targets.migrations if f not in found]
    missing_plain = [p for p in targets.plain if str(p) not in found]
    if missing_folders or missing_plain or targets.stdin:
        rules = _rules(config, request)
        for name, data in _lint_folders(targets, missing_folders, version, rules).items():
            found[name] = data
            _store(cache, keys.get(name), data)
        job = _PlainJob(request.phase, version, rules)
        for result in _lint_plain_files(missing_plain, job):
            found[result["path"]] = [result]
            _store(cache, keys.get(result["path"]), found[result["path"]])
        if targets.stdin:
            stdin = _lint_plain(request.stdin_text or "", "<stdin>", request.phase, version, rules)
            found[STDIN] = [_result_data(stdin)]
    results: list[ResultData] = []
    for folder, only in targets.migrations.items():
        for result in found[folder]:
            if only is None or Path(result["path"].split("#", 1)[0]).resolve() in only:
                results.append(result)
    for path in targets.plain:
        results.extend(found[str(path)])
    results.extend(found.get(STDIN, []))
    return results


def _rules(config: _Config, request: LintRequest) -> RuleSet:
    from expandctl.lint.registry import rule_set

    return rule_set(config.get().lint, select=request.select, ignore=request.ignore)


def _lint_folders(
    targets: Targets, folders: list[str], version: int, rules: RuleSet
) -> dict[str, list[ResultData]]:
    """Lint migration folders; the directories they belong to are loaded (and so
    checked: names, numbers, requires) as a whole, as ``advance`` would."""
    if not folders:
        return {}  # plain files only: the migration models are not imported
    from expandctl.lint.runner import lint_migration_records
    from expandctl.loader.migrations import load_migration, load_migrations

    loaded = {}
    for directory in dict.fromkeys(targets.sets[f] for f in folders if f in targets.sets):
        for migration in load_migrations(Path(directory)).migrations:
            loaded[migration.path] = migration
    linted: dict[str, list[ResultData]] = {}
    for folder in folders:
        migration = loaded.get(folder) or load_migration(Path(folder))
        results = lint_migration_records(migration, pg_version=version, rules=rules)
        linted[folder] = [_result_data(r) for r in results]
    return linted


def _store(cache: LintCache | None, key: str | None, data: list[ResultData]) -> None:
    if cache is not None and key is not None:
        cache.put(key, data)


def _result_data(result: SourceResult) -> ResultData:
    from expandctl.lint.records import finding_dict

    return {
        "path": result.path,
        "phase": result.phase.value,
        "rollback": result.rollback,
        "statements": result.statements,
        "suppressed": result.suppressed,
        "findings": [finding_dict(f) for f in result.findings],
    }


def _valid_results(stored: Any) -> bool:
    """The shape of a cached target; anything else is a miss (linted again)."""
    from expandctl.lint.records import FINDING_FIELDS

    if not isinstance(stored, list):
        return False
    for item in stored:
        if not isinstance(item, dict) or not isinstance(item.get("findings"), list):
            return False
        for finding in item["findings"]:
            if not isinstance(finding, dict) or finding.keys() != set(FINDING_FIELDS):
                return False
        if not isinstance(item.get("path"), str) or not isinstance(item.get("phase"), str):
            return False
        for key in ("statements", "suppressed"):
            if not isinstance(item.get(key), int):
                return False
    return True


@dataclass(frozen=True)
class _PlainJob:
    """What linting a plain file needs besides the file; forked workers inherit it."""

    phase: Phase | None
    version: int
    rules: RuleSet


def _lint_plain_files(paths: list[Path], job: _PlainJob) -> Iterator[ResultData]:
    """Lint independent plain files, on several cores when there are many; in order.

    Plain files share no context, so they split cleanly into contiguous chunks
    (order is kept), linted by this process and forked children
    (``commands.forked``): they inherit the imported parser and the job (rules
    included), so starting them costs milliseconds, not an import, and only
    chunk numbers go to them. Each reads its files itself and sends back plain
    dicts (cheaper to pickle than the findings' models). The cache entries are
    written here, by the parent: written by the workers at the same time, the
    same 500 entries cost more system time and no wall time was gained
    (docs/performance.md).
    """
    workers = min(os.cpu_count() or 1, _MAX_WORKERS)
    if workers < 2 or len(paths) < _PARALLEL_MIN_FILES:
        for path in paths:
            yield _lint_file(path, job)
        return
    from functools import partial

    # Imported before forking, so the workers share them instead of each
    # importing them again (the rules and sqlglot are in already).
    import expandctl.lint.runner  # noqa: F401
    from expandctl.commands.forked import map_forked
    from expandctl.lint.syntax import load_parser

    load_parser()
    chunks = _chunks(paths, workers * _CHUNKS_PER_WORKER)
    for results, error in map_forked(partial(_lint_chunk, job=job), chunks, workers):
        yield from results
        if error is not None:
            raise error  # as the serial run would, after the files before it


def _chunks(paths: list[Path], count: int) -> list[list[Path]]:
    """``paths`` cut into about ``count`` contiguous runs of about equal bytes, so
    that the workers finish together even when a few files are much larger."""
    sizes = []
    for path in paths:
        try:
            sizes.append(os.stat(path).st_size + 512)  # a file costs something even if empty
        except OSError:
            sizes.append(512)  # reading it says what is wrong
    share = sum(sizes) / count
    chunks: list[list[Path]] = [[]]
    filled = 0
    for path, size in zip(paths, sizes, strict=True):
        if chunks[-1] and filled + size / 2 > share * len(chunks):
            chunks.append([])
        chunks[-1].append(path)
        filled += size
    return chunks


def _lint_chunk(chunk: list[Path], job: _PlainJob) -> tuple[list[ResultData], LintError | None]:
    """The chunk's results, and the error that stopped it (raised by the parent
    once the results before it are out)."""
    results: list[ResultData] = []
    try:
        for path in chunk:
            results.append(_lint_file(path, job))
    except LintError as exc:
        return results, exc
    return results, None


def _lint_file(path: Path, job: _PlainJob) -> ResultData:
    return _result_data(_lint_plain(_read(path), str(path), job.phase, job.version, job.rules))


def _lint_plain(
    text: str, name: str, phase: Phase | None, version: int, rules: RuleSet
) -> SourceResult:
    from expandctl.lint.runner import lint_source_records

    return lint_source_records(
        text, phase=phase or Phase.EXPAND, source_name=name, pg_version=version, rules=rules
    )


def _read(path: Path) -> str:
    # The loader's reader: regular files only (a FIFO would hang), BOM dropped,
    # control characters refused with file:line, like every migration file.
    from expandctl.loader.files import read_text_file

    return read_text_file(path, LintError)[1]


def _report(results: list[ResultData], version: int, fail_on: str, cwd: Path) -> ReportRecord:
    from expandctl.lint.records import FileRecord, FindingRecord, ReportRecord, SummaryRecord

    findings: list[FindingRecord] = []
    files: list[FileRecord] = []
    root = cwd.resolve()  # once: resolving is a system call per path component
    folders: dict[str, str] = {}
    for result in results:
        shown = _relative(result["path"], root, folders)
        files.append(
            FileRecord(
                path=shown,
                phase=result["phase"],
                rollback=result["rollback"],
                statements=result["statements"],
            )
        )
        findings.extend(FindingRecord(**{**f, "path": shown}) for f in result["findings"])
    summary = SummaryRecord(
        files=len(results),
        statements=sum(r["statements"] for r in results),
        errors=sum(f.severity == "error" for f in findings),
        warnings=sum(f.severity == "warning" for f in findings),
        notes=sum(f.severity == "info" for f in findings),
        suppressed=sum(r["suppressed"] for r in results),
    )
    return ReportRecord(
        version=__version__,
        pg_version=version,
        fail_on="warning" if fail_on == "warning" else "error",
        files=files,
        findings=findings,
        summary=summary,
    )


def _relative(path: str, root: Path, folders: dict[str, str]) -> str:
    """Paths relative to ``root`` (where lint runs, resolved), as CI annotations and SARIF want.

    ``folders``: resolved folders by folder as given, shared across a report, so
    500 files of one folder resolve it once (a system call per component) and
    each file costs one ``lstat`` (a symlinked file is resolved whole)."""
    if path.startswith("<"):
        return path
    file_part, sep, anchor = path.partition("#")
    try:
        rel = os.path.relpath(_resolved(file_part, folders), root)
    except ValueError:
        return path
    shown = file_part if rel.startswith("..") else rel
    return f"{shown}{sep}{anchor}"


def _resolved(file_part: str, folders: dict[str, str]) -> str:
    """``Path(file_part).resolve()``, with the folder's resolution reused."""
    folder, name = os.path.split(file_part)
    if name in ("", ".", "..") or os.path.islink(file_part):
        return str(Path(file_part).resolve())
    real = folders.get(folder)
    if real is None:
        real = folders[folder] = str(Path(folder).resolve())
    return os.path.join(real, name)
