"""Keep passwords out of every message, log line and status output."""

from __future__ import annotations

import re
from urllib.parse import unquote, urlsplit

# Greedy up to the last '@' before the host: a password holding an unencoded
# '@' is masked whole, not cut at its first '@'.
_URL_PASSWORD = re.compile(
    r"(?P<scheme>[a-z][a-z0-9+.-]*://)(?P<user>[^:@/\s]*):(?P<pw>[^/\s]*)@", re.I
)
_KV_PASSWORD = re.compile(r"(?P<key>\bpassword\s*=\s*)(?P<pw>'(?:[^'\\]|\\.)*'|\S+)", re.I)
# CREATE/ALTER ROLE ... PASSWORD '...' in query text (a blocking session's, say).
_SQL_PASSWORD = re.compile(r"(?P<key>\bpassword\s+)(?P<pw>'(?:[^']|'')*')", re.I)
MASK = "********"


def redact(text: str, *secrets: str | None) -> str:
    """Mask URL and ``password=`` passwords, and any literal secret given."""
    text = _URL_PASSWORD.sub(lambda m: f"{m['scheme']}{m['user']}:{MASK}@", text)
    text = _SQL_PASSWORD.sub(lambda m: f"{m['key']}'{MASK}'", text)
    text = _KV_PASSWORD.sub(lambda m: f"{m['key']}{MASK}", text)
    for secret in secrets:
        if secret:
            text = text.replace(secret, MASK)
    return text


def password_of(dsn: str | None) -> str | None:
    """The password inside a URL or key=value DSN, to scrub it from driver errors."""
    if not dsn:
        return None
    if "://" in dsn:
        try:
            raw = urlsplit(dsn).password
        except ValueError:
            return None
        return unquote(raw) if raw else None
    match = _KV_PASSWORD.search(dsn)
    return match["pw"].strip("'") if match else None


def where(dsn: str) -> str:
    """``user@host:port/dbname`` of a URL or key=value DSN: which database, never the password."""
    if "://" in dsn:
        try:
            parts = urlsplit(dsn)
            host, port, user = parts.hostname or "", parts.port, parts.username
        except ValueError:
            return "an unparsable URL"
        db = unquote(parts.path.lstrip("/")) or "(default database)"
    else:
        fields = dict(re.findall(r"(\w+)\s*=\s*('(?:[^'\\]|\\.)*'|\S+)", dsn))
        host, user = fields.get("host", ""), fields.get("user")
        port = int(fields["port"]) if fields.get("port", "").isdigit() else None
        db = fields.get("dbname", "(default database)").strip("'")
    who = f"{unquote(user)}@" if user else ""
    at = f"{host or 'localhost'}{f':{port}' if port else ''}"
    return f"{who}{at}/{db}"
