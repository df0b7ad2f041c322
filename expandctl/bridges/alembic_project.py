"""An Alembic project as the bridge sees it: its config, its revisions, and their SQL.

The SQL comes from Alembic itself in offline mode (``upgrade --sql``), through
the project's own ``env.py``. While it renders, every write to the output is
traced back through the call stack to the revision file (and line) whose
``upgrade()`` made it; what Alembic writes for itself (``alembic_version``,
the ``Running upgrade`` comments) is left out.
"""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import FrameType
from typing import TextIO, cast

from expandctl.bridges.requires import require

require("alembic")

from alembic import command  # noqa: E402
from alembic.config import Config  # noqa: E402
from alembic.script import Script, ScriptDirectory  # noqa: E402
from alembic.util import CommandError  # noqa: E402

from expandctl.bridges.phase_mark import marked_phase  # noqa: E402
from expandctl.bridges.rendered import RenderedRevision  # noqa: E402
from expandctl.errors import UsageError  # noqa: E402

DEFAULT_CONFIG = "alembic.ini"
_RUNNING = re.compile(r"Running upgrade .*-> (\S+)")


def alembic_config(path: str | None = None, *, cwd: Path | None = None) -> Config:
    """The project's Alembic config: ``path``, else $ALEMBIC_CONFIG, else ./alembic.ini."""
    raw = path or os.environ.get("ALEMBIC_CONFIG") or DEFAULT_CONFIG
    file = Path(raw) if Path(raw).is_absolute() else (cwd or Path.cwd()) / raw
    if not file.is_file():
        raise UsageError(
            f"no Alembic config at {file}",
            hint="run from the folder holding alembic.ini, or pass --alembic-config",
        )
    return Config(str(file))


def scripts(config: Config) -> ScriptDirectory:
    try:
        return ScriptDirectory.from_config(config)
    except CommandError as exc:
        raise UsageError(f"Alembic: {exc}", path=config.config_file_name) from exc


def find_revision(config: Config, revision: str) -> Script:
    """One revision by id, unique prefix or symbol (``head``)."""
    try:
        found = scripts(config).get_revision(revision)
    except CommandError as exc:
        raise UsageError(f"Alembic: {exc}", path=config.config_file_name) from exc
    if found is None:
        raise UsageError(f"Alembic has no revision {revision!r}", path=config.config_file_name)
    return found


def render_revisions(config: Config, revision_range: str | None = None) -> list[RenderedRevision]:
    """Each revision of ``revision_range`` rendered offline, in upgrade order.

    ``FROM:TO`` as ``alembic upgrade FROM:TO --sql`` (FROM itself excluded);
    one revision alone; nothing for every revision up to the heads.
    """
    directory = scripts(config)
    by_id = {s.revision: s for s in directory.walk_revisions()}
    only: str | None = None
    target = revision_range or "heads"
    if revision_range and ":" not in revision_range:
        only = find_revision(config, revision_range).revision
        target = only
    recorder = _Recorder(by_id)
    config.output_buffer = cast(TextIO, recorder)
    try:
        with _quiet_stdout():
            command.upgrade(config, target, sql=True)
    except CommandError as exc:
        raise UsageError(f"Alembic: {exc}", path=config.config_file_name) from exc
    finally:
        config.output_buffer = None
    rendered = recorder.finish()
    return [r for r in rendered if only is None or r.label == f"alembic {only}"]


class _Recorder:
    """Alembic's output buffer: splits what it is given by the revision that wrote it."""

    def __init__(self, by_id: dict[str, Script]) -> None:
        self.by_id = by_id
        self.by_path = {os.path.realpath(s.path): s for s in by_id.values()}
        self.files: dict[str, str | None] = {}  # code file -> revision path, cached
        self.revisions: dict[str, RenderedRevision] = {}

    def write(self, text: str) -> int:
        found = self._caller(sys._getframe(1))
        if found is not None:
            revision, line = found
            self._revision(revision).add(text, line)
        else:
            running = _RUNNING.search(text)
            if running and running.group(1) in self.by_id:
                self._revision(self.by_id[running.group(1)])
        return len(text)

    def flush(self) -> None:
        pass

    def finish(self) -> list[RenderedRevision]:
        done = list(self.revisions.values())
        for revision in done:  # Alembic runs each revision in a transaction on PostgreSQL
            revision.origins = [(start + 1, line) for start, line in revision.origins]
            revision.sql = f"BEGIN;\n{revision.sql.rstrip()}\n\nCOMMIT;\n"
        return done

    def _caller(self, frame: FrameType | None) -> tuple[Script, int] | None:
        while frame is not None:
            code_file = frame.f_code.co_filename
            if code_file not in self.files:
                real = os.path.realpath(code_file)
                self.files[code_file] = real if real in self.by_path else None
            path = self.files[code_file]
            if path is not None:
                return self.by_path[path], frame.f_lineno
            frame = frame.f_back
        return None

    def _revision(self, script: Script) -> RenderedRevision:
        key = script.revision
        if key not in self.revisions:
            path = Path(script.path)
            phase = marked_phase(path.read_text(encoding="utf-8"), path)
            self.revisions[key] = RenderedRevision(f"alembic {key}", path, phase)
        return self.revisions[key]


@contextmanager
def _quiet_stdout() -> Iterator[None]:
    """env.py files may print; the bridge's output is the lint report only."""
    saved = sys.stdout
    sys.stdout = sys.stderr
    try:
        yield
    finally:
        sys.stdout = saved
