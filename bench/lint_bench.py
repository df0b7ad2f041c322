"""Benchmark ``expandctl lint`` against squawk on the same generated corpus.

    python bench/lint_bench.py [--files 500] [--statements 10000] [--runs 3]

Generates 500 files / 10,000 mixed migration statements (seeded, so every run
lints the same SQL), installs ``squawk-cli`` from PyPI into its own virtual
environment (``bench/.venv-squawk``, git-ignored) on first use, then times
both tools as whole processes on the same files, side by side, best of N
runs, and prints the wall-time ratio and each tool's peak memory (max RSS).

Targets (issue 3): expandctl at most 1.5x squawk's whole-process time, and
below 300 MB peak memory. The exit code is 0 when both hold, 1 otherwise.
"""

from __future__ import annotations

import argparse
import os
import random
import subprocess
import sys
import tempfile
import time
import venv
from pathlib import Path

HERE = Path(__file__).resolve().parent
SQUAWK_VENV = HERE / ".venv-squawk"
SQUAWK_PACKAGE = "squawk-cli"
TARGET_RATIO = 1.5
TARGET_MB = 300

# Statement templates: a realistic mix of safe and hazardous migration SQL.
TEMPLATES = [
    "CREATE TABLE {t}_{n} (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, "
    "email text NOT NULL, created_at timestamptz NOT NULL DEFAULT now());",
    "ALTER TABLE {t} ADD COLUMN {c}_{n} text;",
    "ALTER TABLE {t} ADD COLUMN {c}_{n} boolean NOT NULL DEFAULT false;",
    "ALTER TABLE {t} ADD COLUMN {c}_{n} uuid DEFAULT gen_random_uuid();",
    "CREATE INDEX CONCURRENTLY IF NOT EXISTS {t}_{c}_{n}_idx ON {t} ({c});",
    "CREATE INDEX {t}_{c}_{n}_idx ON {t} ({c});",
    "ALTER TABLE {t} ADD CONSTRAINT {t}_{c}_{n}_fk FOREIGN KEY ({c}_id) "
    "REFERENCES accounts (id) NOT VALID;",
    "ALTER TABLE {t} VALIDATE CONSTRAINT {t}_{c}_{n}_fk;",
    "ALTER TABLE {t} ADD CONSTRAINT {t}_{c}_{n}_check CHECK ({c} IS NOT NULL) NOT VALID;",
    "ALTER TABLE {t} ALTER COLUMN {c} SET NOT NULL;",
    "ALTER TABLE {t} ALTER COLUMN {c} TYPE bigint;",
    "ALTER TABLE {t} DROP COLUMN {c}_{n};",
    "ALTER TABLE {t} RENAME COLUMN {c} TO {c}_{n};",
    "UPDATE {t} SET {c} = lower({c}) WHERE id BETWEEN {n} AND {n} + 1000;",
    "INSERT INTO {t} (email) VALUES ('user{n}@example.com');",
    "-- backfill note for {t}: keep batches small\nSELECT count(*) FROM {t} WHERE {c} IS NULL;",
    "COMMENT ON COLUMN {t}.{c} IS 'set by migration {n}';",
    "CREATE OR REPLACE FUNCTION touch_{t}_{n}() RETURNS trigger LANGUAGE plpgsql AS $$\n"
    "BEGIN\n  NEW.updated_at := now();\n  RETURN NEW;\nEND\n$$;",
    "DROP INDEX CONCURRENTLY IF EXISTS {t}_{c}_{n}_idx;",
    "SET lock_timeout = '2s';",
]
TABLES = ["users", "orders", "invoices", "events", "sessions", "payments"]
COLUMNS = ["email", "status", "amount", "name", "kind", "region"]


def generate(directory: Path, files: int, statements: int, seed: int = 42) -> list[Path]:
    rng = random.Random(seed)
    per_file = statements // files
    paths = []
    for i in range(files):
        lines = [f"-- generated migration {i:04d}"]
        for j in range(per_file):
            template = rng.choice(TEMPLATES)
            lines.append(
                template.format(t=rng.choice(TABLES), c=rng.choice(COLUMNS), n=i * per_file + j)
            )
        path = directory / f"{i:04d}_migration.sql"
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
        paths.append(path)
    return paths


def squawk_binary() -> Path:
    binary = SQUAWK_VENV / "bin" / "squawk"
    if binary.exists():
        return binary
    print(f"installing {SQUAWK_PACKAGE} into {SQUAWK_VENV} ...", file=sys.stderr)
    venv.EnvBuilder(with_pip=True, clear=True).create(SQUAWK_VENV)
    # keep the benchmark's environment out of git without touching shared files
    (SQUAWK_VENV / ".gitignore").write_text("*\n", encoding="utf-8")
    pip = SQUAWK_VENV / "bin" / "pip"
    subprocess.run([str(pip), "install", "--quiet", SQUAWK_PACKAGE], check=True)
    return binary


def measure(command: list[str], runs: int) -> tuple[float, float, int]:
    """(best wall seconds, peak RSS in MB, exit code) over ``runs`` whole-process runs."""
    best = float("inf")
    peak_kb = 0
    code = 0
    for _ in range(runs):
        start = time.perf_counter()
        process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        _, status, usage = os.wait4(process.pid, 0)
        elapsed = time.perf_counter() - start
        process.returncode = os.waitstatus_to_exitcode(status)
        code = process.returncode
        best = min(best, elapsed)
        peak_kb = max(peak_kb, usage.ru_maxrss)
    return best, peak_kb / 1024, code


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=500)
    parser.add_argument("--statements", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    squawk = squawk_binary()
    with tempfile.TemporaryDirectory(prefix="expandctl-lint-bench-") as tmp:
        paths = [str(p) for p in generate(Path(tmp), args.files, args.statements)]
        expandctl_cmd = [sys.executable, "-m", "expandctl", "lint", "--format", "json", *paths]
        squawk_cmd = [str(squawk), "--reporter", "json", *paths]
        # one warm-up each so both read their files and binaries from the page cache
        measure(expandctl_cmd, 1)
        measure(squawk_cmd, 1)
        ours = measure(expandctl_cmd, args.runs)
        theirs = measure(squawk_cmd, args.runs)
        # how much of expandctl's time is the interpreter starting and importing the CLI
        startup = measure([sys.executable, "-c", "import expandctl.cli.app"], args.runs)
    ratio = ours[0] / theirs[0]
    print(f"corpus: {args.files} files, {args.statements} statements; best of {args.runs} runs")
    print(f"{'tool':<12}{'wall s':>10}{'peak MB':>10}{'exit':>6}")
    print(f"{'expandctl':<12}{ours[0]:>10.3f}{ours[1]:>10.1f}{ours[2]:>6}")
    print(f"{'squawk':<12}{theirs[0]:>10.3f}{theirs[1]:>10.1f}{theirs[2]:>6}")
    print(f"{'  startup':<12}{startup[0]:>10.3f}{startup[1]:>10.1f}   (python + CLI imports)")
    print(f"ratio expandctl/squawk: {ratio:.2f}x (target <= {TARGET_RATIO}x)")
    met = ratio <= TARGET_RATIO and ours[1] < TARGET_MB
    print("targets met" if met else "targets NOT met")
    return 0 if met else 1


if __name__ == "__main__":
    raise SystemExit(main())
