"""Files changed against a git ref, for ``expandctl lint --changed-since REF``.

"Changed" is what a pull request changes, plus what is not committed yet:

- ``git diff --name-only REF...HEAD``: the commits on this branch since it
  left REF (from their merge base, as a pull request's diff is; changes that
  reached REF meanwhile are not counted);
- ``git diff --name-only HEAD``: staged and unstaged edits;
- ``git ls-files --others --exclude-standard``: new files not yet added.

Renames count as a deletion plus an addition (``--no-renames``), so a file
moved out of a migration folder still selects that folder.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from expandctl.errors import LintError


def changed_files(ref: str, cwd: Path) -> set[Path]:
    """Absolute, resolved paths of the files changed since ``ref`` (existing or not)."""
    if not ref or ref.startswith("-"):  # never let a ref be read as a git option
        raise LintError(f"--changed-since {ref!r}: not a git revision")
    top = Path(_git(["rev-parse", "--show-toplevel"], cwd, ref).strip())
    _git(["rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}"], cwd, ref)
    names: set[str] = set()
    for args in (
        ["diff", "--name-only", "--no-renames", "-z", f"{ref}...HEAD", "--"],
        ["diff", "--name-only", "--no-renames", "-z", "HEAD", "--"],
        ["ls-files", "--others", "--exclude-standard", "-z", "--full-name"],
    ):
        # ls-files lists paths relative to cwd unless --full-name; diff, to the top
        output = _git(args, top, ref)
        names.update(name for name in output.split("\0") if name)
    return {(top / name).resolve() for name in names}


def _git(args: list[str], cwd: Path, ref: str) -> str:
    git = shutil.which("git")
    if git is None:
        raise LintError("--changed-since needs git, which is not on PATH")
    try:
        done = subprocess.run(
            [git, *args], cwd=cwd, capture_output=True, text=True, check=False, timeout=60
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise LintError(f"--changed-since: git {args[0]} failed: {exc}") from None
    if done.returncode == 0:
        return done.stdout
    message = (done.stderr.strip().splitlines() or ["(no message)"])[0]
    if args[0] == "rev-parse" and "--show-toplevel" in args:
        raise LintError(
            f"--changed-since needs a git repository: {message}",
            hint="run it inside the repository's working tree",
        )
    if args[0] == "rev-parse":
        raise LintError(
            f"--changed-since {ref!r}: unknown git revision",
            hint="fetch it first (in CI: actions/checkout with fetch-depth: 0)",
        )
    raise LintError(
        f"--changed-since {ref!r}: git {' '.join(args[:2])} failed: {message}",
        hint="a shallow clone has no merge base: fetch with enough history (fetch-depth: 0)",
    )
