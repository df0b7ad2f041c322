"""commands.forked: chunks worked on by this process and forked children.

Real processes throughout: what is checked is what comes back, in which order,
from whom, and that no child outlives the call however it ends.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from expandctl.commands.forked import MAX_CHUNKS, map_forked
from expandctl.errors import LintError
from tests.conftest import PROJECT_ROOT

pytestmark = pytest.mark.skipif(not hasattr(os, "fork"), reason="no fork on this platform")

PARENT = os.getpid()
CHUNKS = list(range(16))
STEP_S = 0.05  # long enough per chunk that the child takes some before the parent is done


def _gone(pid: int) -> bool:
    """Reaped (not a child of ours any more) and no longer running."""
    with pytest.raises(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


def _wait_for(path: Path) -> int:
    deadline = time.monotonic() + 30
    while not path.exists() or not path.read_text():
        assert time.monotonic() < deadline, "the child never started"
        time.sleep(0.01)
    return int(path.read_text())


def test_results_come_back_in_chunk_order_from_this_process_and_a_child() -> None:
    def whose(chunk: int) -> tuple[int, int]:
        time.sleep(STEP_S)
        return chunk, os.getpid()

    results = map_forked(whose, CHUNKS, 2)
    assert [chunk for chunk, _ in results] == CHUNKS
    pids = {pid for _, pid in results}
    assert PARENT in pids and len(pids) == 2  # the parent worked too
    (child,) = pids - {PARENT}
    assert _gone(child)


def test_one_process_works_alone() -> None:
    assert map_forked(lambda chunk: (chunk, os.getpid()), CHUNKS, 1) == [
        (chunk, PARENT) for chunk in CHUNKS
    ]


def test_more_chunks_than_the_queue_holds_are_refused_before_any_fork() -> None:
    assert len(map_forked(lambda chunk: chunk, range(MAX_CHUNKS), 2)) == MAX_CHUNKS
    with pytest.raises(ValueError, match=f"at most {MAX_CHUNKS}"):
        map_forked(lambda chunk: chunk, range(MAX_CHUNKS + 1), 2)


def _in_the_child(started: Path, then: Callable[[int], int]) -> Callable[[int], int]:
    """A chunk's work: the parent's takes a moment; a child notes its pid in
    ``started``, then does ``then``."""

    def work(chunk: int) -> int:
        if os.getpid() == PARENT:
            time.sleep(STEP_S)
            return chunk
        started.write_text(str(os.getpid()))
        return then(chunk)

    return work


def test_an_exception_in_a_child_is_raised_here_with_its_traceback(tmp_path: Path) -> None:
    def bad_chunk(chunk: int) -> int:
        raise ValueError(f"chunk {chunk} is bad")

    started = tmp_path / "child.pid"
    with pytest.raises(ValueError, match=r"chunk \d+ is bad") as raised:
        map_forked(_in_the_child(started, bad_chunk), CHUNKS, 2)
    notes = "\n".join(getattr(raised.value, "__notes__", []))
    assert "in a forked lint worker process" in notes
    assert "bad_chunk" in notes  # the child's own traceback
    assert _gone(int(started.read_text()))


def test_an_exception_that_does_not_pickle_still_says_what_happened(tmp_path: Path) -> None:
    class Local(Exception):  # a local class: pickle cannot find it by name
        pass

    def bad_chunk(chunk: int) -> int:
        raise Local("only the traceback can tell")

    started = tmp_path / "child.pid"
    with pytest.raises(RuntimeError, match="a lint worker process failed") as raised:
        map_forked(_in_the_child(started, bad_chunk), CHUNKS, 2)
    assert "only the traceback can tell" in "\n".join(raised.value.__notes__)
    assert _gone(int(started.read_text()))


def test_a_child_killed_by_a_signal_is_a_lint_error(tmp_path: Path) -> None:
    def killed(chunk: int) -> int:
        os.kill(os.getpid(), signal.SIGKILL)
        return chunk

    started = tmp_path / "child.pid"
    with pytest.raises(LintError, match="killed by signal 9") as raised:
        map_forked(_in_the_child(started, killed), CHUNKS, 2)
    assert "run again" in (raised.value.hint or "")
    assert _gone(int(started.read_text()))


def test_a_base_exception_in_a_child_is_raised_as_it_is(tmp_path: Path) -> None:
    def asks_to_exit(chunk: int) -> int:
        raise SystemExit(f"chunk {chunk} asked to stop")

    started = tmp_path / "child.pid"
    with pytest.raises(SystemExit, match=r"chunk \d+ asked to stop"):
        map_forked(_in_the_child(started, asks_to_exit), CHUNKS, 2)
    assert _gone(int(started.read_text()))


def test_a_child_that_leaves_without_a_word_is_a_lint_error(tmp_path: Path) -> None:
    def leaves(chunk: int) -> int:
        os._exit(0)

    started = tmp_path / "child.pid"
    with pytest.raises(LintError, match="exited with status 0 before sending its results"):
        map_forked(_in_the_child(started, leaves), CHUNKS, 2)
    assert _gone(int(started.read_text()))


def test_with_sigchld_ignored_results_and_failures_still_come_back(tmp_path: Path) -> None:
    """An ignored SIGCHLD (inherited from a launcher) has the kernel reap the
    children: their exit status is never seen, so the payload says how they ended."""
    def whose(chunk: int) -> tuple[int, int]:
        time.sleep(STEP_S)
        return chunk, os.getpid()

    def bad_chunk(chunk: int) -> int:
        raise ValueError("told through the pipe")

    before = signal.signal(signal.SIGCHLD, signal.SIG_IGN)
    try:
        results = map_forked(whose, CHUNKS, 2)
        with pytest.raises(ValueError, match="told through the pipe"):
            map_forked(_in_the_child(tmp_path / "child.pid", bad_chunk), CHUNKS, 2)
    finally:
        signal.signal(signal.SIGCHLD, before)
    assert [chunk for chunk, _ in results] == CHUNKS
    assert len({pid for _, pid in results}) == 2


def _running(pid: int) -> bool:
    """Alive and not a zombie (an orphan's zombie waits for init to reap it)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def test_children_of_a_parent_killed_outright_stop_after_their_chunk(tmp_path: Path) -> None:
    """SIGKILL leaves the parent no time to stop them: each notices after its
    chunk that nobody will read its results, and stops."""
    log, parent_file = tmp_path / "chunks.log", tmp_path / "parent.pid"
    script = (
        "import os, signal, sys, time\n"
        "from expandctl.commands.forked import map_forked\n"
        "PARENT = os.getpid()\n"
        "open(sys.argv[2], 'w').write(str(PARENT))\n"
        "def work(chunk):\n"
        "    with open(sys.argv[1], 'a') as out:\n"
        "        out.write(f'{os.getpid()} {chunk}\\n')\n"
        "    if os.getpid() == PARENT and chunk >= 4:\n"
        "        os.kill(PARENT, signal.SIGKILL)\n"
        "    time.sleep(0.2)\n"
        "    return chunk\n"
        "map_forked(work, list(range(400)), 2)\n"
    )
    parent = subprocess.run(
        [sys.executable, "-c", script, str(log), str(parent_file)],
        env={"PYTHONPATH": str(PROJECT_ROOT), "PATH": "/usr/bin:/bin"},
        timeout=120,
    )
    assert parent.returncode == -signal.SIGKILL
    writers = {int(line.split()[0]) for line in log.read_text().splitlines()}
    children = writers - {int(parent_file.read_text())}
    assert len(children) == 1
    deadline = time.monotonic() + 30  # all 400 chunks would take 80 s
    while any(_running(pid) for pid in children):
        assert time.monotonic() < deadline, "an orphaned child went on working"
        time.sleep(0.05)
    assert len(log.read_text().splitlines()) < 40  # of the 400 queued


def test_when_the_parent_fails_the_children_are_stopped_and_reaped(tmp_path: Path) -> None:
    started = tmp_path / "child.pid"

    def parent_fails(chunk: int) -> int:
        if os.getpid() == PARENT:
            _wait_for(started)  # the child is working on its chunk now
            raise KeyError("the parent's own chunk failed")
        started.write_text(str(os.getpid()))
        time.sleep(600)  # would hold the run for ten minutes if it were not killed
        return chunk

    with pytest.raises(KeyError, match="the parent's own chunk failed"):
        map_forked(parent_fails, CHUNKS, 2)
    assert _gone(int(started.read_text()))


def _group(pgid: int) -> list[int]:
    """The live processes of a process group (zombies included until reaped)."""
    members = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue  # gone meanwhile
            fields = stat.rsplit(")", 1)[1].split()
            if int(fields[2]) == pgid:  # state, ppid, pgrp
                members.append(int(entry))
    return members


@pytest.mark.skipif((os.cpu_count() or 1) < 2, reason="one core: no worker processes")
def test_ctrl_c_during_a_parallel_lint_ends_it_and_its_workers(tmp_path: Path) -> None:
    """Ctrl-C reaches the whole foreground group: the parent and its forked workers."""
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    statements = "".join(f"ALTER TABLE t{i} ADD COLUMN c{i} text;\n" for i in range(40))
    for i in range(1500):
        (corpus / f"{i:04}.sql").write_text(statements, encoding="utf-8")
    lint = subprocess.Popen(
        [sys.executable, "-m", "expandctl", "lint", "--no-cache", str(corpus)],
        env={"PYTHONPATH": str(PROJECT_ROOT), "PATH": "/usr/bin:/bin", "NO_COLOR": "1"},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,  # its own group, as a terminal's foreground job
    )
    deadline = time.monotonic() + 60
    while len(_group(lint.pid)) < 2:  # the workers are forked: linting has begun
        assert lint.poll() is None, lint.stderr.read() if lint.stderr else ""
        assert time.monotonic() < deadline, "no worker was ever forked"
        time.sleep(0.005)
    os.killpg(lint.pid, signal.SIGINT)
    _, stderr = lint.communicate(timeout=60)
    assert lint.returncode == 130, stderr
    assert "interrupted" in stderr
    assert _group(lint.pid) == []  # no worker left behind
