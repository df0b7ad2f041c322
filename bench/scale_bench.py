"""Scale: 2,000 migrations and a 10 MB SQL file, whole CLI processes timed against targets.

    .venv/bin/python bench/scale_bench.py                    # 2,000 migrations, 10 MB file
    .venv/bin/python bench/scale_bench.py --migrations 500 --sql-mb 2 --keep

Generates the migrations in a temporary directory (each: a manifest, an
``expand.sql`` creating a small table and its ``expand.down.sql``), creates
a scratch database on the server of ``--dsn`` (default ``EXPANDCTL_TEST_DSN``,
else ``postgresql://postgres@127.0.0.1:5432/postgres``), runs each command as
its own ``python -m expandctl`` process and prints wall seconds and peak RSS
(from ``wait4``) beside the targets of issue 11 item 8, with the CPU seconds
(user + system) that a machine busy with other work cannot inflate. Only the rows with a
target count: the other runs bring the database to the state the next one
measures (every migration expanded, then every one contracted).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg
from psycopg import sql

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DSN = "postgresql://postgres@127.0.0.1:5432/postgres"
DATABASE = "expandctl_scale_bench"
HEADER = (
    f"{'command':<58}  {'wall s':>8}  {'cpu s':>6}  {'target':>6}  {'peak MB':>8}  "
    f"{'target':>6}  result"
)


@dataclass
class Measured:
    name: str
    seconds: float
    cpu: float  # user + system seconds: what a loaded machine cannot inflate
    peak_mb: float
    exit_code: int
    target_s: float | None
    target_mb: float | None

    def line(self) -> str:
        target_s = f"{self.target_s:g}" if self.target_s is not None else "-"
        target_mb = f"{self.target_mb:g}" if self.target_mb is not None else "-"
        return (
            f"{self.name:<58}  {self.seconds:8.2f}  {self.cpu:6.2f}  {target_s:>6}  "
            f"{self.peak_mb:8.0f}  {target_mb:>6}  {self.verdict()}"
        )

    def verdict(self) -> str:
        ok = self.exit_code == 0
        if self.target_s is not None:
            ok = ok and self.seconds <= self.target_s
        if self.target_mb is not None:
            ok = ok and self.peak_mb <= self.target_mb
        if self.target_s is None and self.target_mb is None:
            return "" if self.exit_code == 0 else f"exit {self.exit_code}"
        return "PASS" if ok else f"MISS (exit {self.exit_code})" if self.exit_code else "MISS"


def generate_migrations(directory: Path, count: int) -> None:
    for number in range(1, count + 1):
        folder = directory / f"{number:04d}_t{number}"
        folder.mkdir(parents=True)
        (folder / "migration.toml").write_text(f'description = "table t{number}"\n')
        (folder / "expand.sql").write_text(f"CREATE TABLE t{number} (id bigint, note text);\n")
        (folder / "expand.down.sql").write_text(f"DROP TABLE t{number};\n")


def generate_big_sql(path: Path, megabytes: float) -> int:
    """About ``megabytes`` of one-row INSERTs (about 277k statements for 10 MB)."""
    target = int(megabytes * 1024 * 1024)
    lines: list[str] = ["CREATE TABLE big (id bigint);\n"]
    size = len(lines[0])
    number = 0
    while size < target:
        number += 1
        line = f"INSERT INTO big (id) VALUES ({number});\n"
        lines.append(line)
        size += len(line)
    path.write_text("".join(lines))
    return number + 1


def run(
    name: str,
    args: list[str],
    cwd: Path,
    *,
    target_s: float | None = None,
    target_mb: float | None = None,
) -> Measured:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    started = time.monotonic()
    proc = subprocess.Popen(
        [sys.executable, "-m", "expandctl", "-q", *args],
        cwd=cwd,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    assert proc.stderr is not None
    errors = proc.stderr.read()
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    seconds = time.monotonic() - started
    if proc.returncode not in (0,):
        tail = errors.decode(errors="replace").strip().splitlines()[-1:] or [""]
        print(f"  {name}: exit {proc.returncode}: {tail[0][:200]}", file=sys.stderr)
    cpu = usage.ru_utime + usage.ru_stime
    found = Measured(
        name, seconds, cpu, usage.ru_maxrss / 1024, proc.returncode, target_s, target_mb
    )
    print(found.line(), flush=True)
    return found


def with_database(dsn: str, database: str) -> str:
    parts = urlsplit(dsn)
    return urlunsplit(parts._replace(path="/" + database))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dsn", default=os.environ.get("EXPANDCTL_TEST_DSN", DEFAULT_DSN))
    parser.add_argument("--migrations", type=int, default=2000)
    parser.add_argument("--sql-mb", type=float, default=10.0)
    parser.add_argument("--keep", action="store_true", help="keep the database and files")
    args = parser.parse_args()

    admin = psycopg.connect(args.dsn, autocommit=True)
    admin.execute(
        sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(DATABASE))
    )
    admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(DATABASE)))
    url = with_database(args.dsn, DATABASE)
    results: list[Measured] = []
    with tempfile.TemporaryDirectory(prefix="expandctl-scale-") as tmp:
        work = Path(tmp)
        project = work / "many"
        generate_migrations(project / "migrations", args.migrations)
        (project / "expandctl.toml").write_text(f'database_url = "{url}"\n')
        n = args.migrations
        print(f"{n} migrations in {project}; database {DATABASE}", file=sys.stderr)
        print(HEADER, flush=True)
        results += [
            run(f"status ({n} pending)", ["status"], project, target_s=5),
            run(f"plan ({n} pending)", ["plan"], project, target_s=5),
            run(f"advance --all: expand x{n}", ["advance", "--all"], project),
            run(f"status ({n} expanded)", ["status"], project, target_s=5),
            run(f"advance --all: empty backfill x{n}", ["advance", "--all"], project, target_s=5),
            run(
                "advance --all --to contract (the rest)",
                ["advance", "--all", "--to", "contract", "--yes"],
                project,
            ),
            run(f"status ({n} contracted)", ["status"], project, target_s=5),
            run(f"plan ({n} contracted)", ["plan"], project, target_s=5),
            run(f"advance --all ({n} contracted)", ["advance", "--all"], project, target_s=5),
        ]

        big = work / "big"
        folder = big / "migrations" / "0001_big"
        folder.mkdir(parents=True)
        (folder / "migration.toml").write_text('description = "a big file"\n')
        statements = generate_big_sql(folder / "expand.sql", args.sql_mb)
        (big / "expandctl.toml").write_text(f'database_url = "{url}"\n')
        label = f"{args.sql_mb:g} MB, {statements:,} statements"
        plain = work / "big.sql"  # the same text outside any migration: a plain file
        plain.write_text((folder / "expand.sql").read_text())
        results += [
            run(f"lint plain file ({label})", ["lint", str(plain)], big, target_mb=300),
            run(f"lint as a migration's expand.sql ({label})", ["lint", str(folder)], big),
            run(
                f"plan --phase expand ({label})",
                ["plan", "0001_big", "--phase", "expand"],
                big,
                target_mb=300,
            ),
        ]
    if not args.keep:
        admin.execute(sql.SQL("DROP DATABASE {} WITH (FORCE)").format(sql.Identifier(DATABASE)))
    admin.close()

    print(f"\nload average at the end: {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    print(HEADER)
    for r in results:
        print(r.line())
    return 0 if all(not r.verdict().startswith("MISS") for r in results) else 1


if __name__ == "__main__":
    raise SystemExit(main())
