"""Work on several cores: this process and forked children take chunks in turn.

Made for linting many independent files, where a process pool cost more than
it gave: importing ``multiprocessing`` and ``concurrent.futures``, a feeder
thread, a parent that only waits while a core stays idle, every result
pickled. Here the parent is one of the workers. The chunk numbers wait in a
pipe, written whole (one write of at most ``PIPE_BUF`` bytes) before anyone
reads; reads of a pipe are serialised, so each read of four bytes takes one
whole number. A process that is done takes the next chunk, so they all finish
within about one chunk of each other.

The parent keeps its own results as they are; each child sends its results
once, pickled behind a one-byte tag, through a pipe of its own, and leaves
with ``os._exit`` (no exit handlers, no flushing of the parent's buffers).
The tag, not the exit status, says how a child ended: a parent that ignores
SIGCHLD has its children reaped for it and never sees their status. When the
parent leaves early (an error, Ctrl-C), it kills and reaps its children; a
parent killed outright (SIGKILL, SIGTERM) leaves children that stop after
their current chunk, when they see it gone.

Forked children inherit every imported module and object: nothing but the
chunk numbers and the results cross a process boundary.
"""

from __future__ import annotations

import contextlib
import os
import pickle
import signal
import struct
import traceback
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import BinaryIO, Generic, TypeVar

from expandctl.errors import LintError

T = TypeVar("T")
R = TypeVar("R")

_INDEX = struct.Struct(">I")  # a chunk's number in the queue pipe
# The queue is written whole before anyone reads it: in one write no larger than
# PIPE_BUF (4096 on Linux, also the smallest buffer a pipe has).
MAX_CHUNKS = 4096 // _INDEX.size
_RESULTS, _FAILURE = b"R", b"F"  # what a child's payload holds


def map_forked(work: Callable[[T], R], chunks: Sequence[T], processes: int) -> list[R]:
    """``work(chunk)`` for every chunk, in chunk order, on up to ``processes``
    processes: this one and forked children. An exception in a child is raised
    here (with the child's traceback as a note); a child that dies is a
    ``LintError``. ``work``'s results must pickle."""
    if len(chunks) > MAX_CHUNKS:
        raise ValueError(f"{len(chunks)} chunks: at most {MAX_CHUNKS}")
    if processes < 2 or len(chunks) < 2 or not hasattr(os, "fork"):
        return [work(chunk) for chunk in chunks]
    queue = _queue(len(chunks))
    children: list[_Child[R]] = []
    try:
        for _ in range(min(processes, len(chunks)) - 1):
            with _interrupts_held() as mask:  # a forked child is listed before Ctrl-C lands
                child = _fork(work, chunks, queue, children, mask)
                if child is None:
                    break  # no more processes to be had: the ones running share the work
                children.append(child)
        results: dict[int, R] = dict(_take(work, chunks, queue))
        for child in children:
            results.update(child.collect())
    finally:
        os.close(queue)
        for child in children:
            child.stop()
    return [results[i] for i in range(len(chunks))]


def _queue(count: int) -> int:
    """A pipe holding the chunk numbers 0..count-1; its read end (the write end is
    closed, so an empty queue reads as the end)."""
    read, write = os.pipe()
    try:
        os.write(write, b"".join(_INDEX.pack(i) for i in range(count)))
    finally:
        os.close(write)
    return read


def _take(
    work: Callable[[T], R], chunks: Sequence[T], queue: int, parent: int | None = None
) -> list[tuple[int, R]]:
    """Chunks from the queue until it is empty (or, in a child, until ``parent``
    is gone: nobody would read the results)."""
    done: list[tuple[int, R]] = []
    while len(taken := os.read(queue, _INDEX.size)) == _INDEX.size:
        (index,) = _INDEX.unpack(taken)
        done.append((index, work(chunks[index])))
        if parent is not None and os.getppid() != parent:
            break
    return done


@contextlib.contextmanager
def _interrupts_held() -> Iterator[set[int | signal.Signals]]:
    """SIGINT and SIGTERM wait (pending) until the block is done; yields the mask before."""
    held = {signal.SIGINT, signal.SIGTERM}
    before = signal.pthread_sigmask(signal.SIG_BLOCK, held)
    try:
        yield before
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, before)


@dataclass
class _Child(Generic[R]):
    pid: int
    pipe: BinaryIO  # what the child sends its results through
    reaped: bool = False

    def collect(self) -> list[tuple[int, R]]:
        """Wait for the child's results; raise what it raised, or say how it died."""
        payload = self.pipe.read()
        self.pipe.close()
        how = self._reap()
        tag, body = payload[:1], payload[1:]
        if tag == _RESULTS:
            done: list[tuple[int, R]] = pickle.loads(body)
            return done
        if tag == _FAILURE:
            raise _child_error(pickle.loads(body))
        raise LintError(
            f"a lint worker process {how} before sending its results",
            hint="run again; with little free memory, lint fewer files at a time",
        )

    def stop(self) -> None:
        """Kill and reap the child if it was not collected (the parent is leaving early)."""
        self.pipe.close()
        if not self.reaped:
            with contextlib.suppress(ProcessLookupError):  # gone already
                os.kill(self.pid, signal.SIGKILL)
            self._reap()

    def _reap(self) -> str:
        """Wait for the child to end; how it ended, as far as can be known."""
        try:
            _, status = os.waitpid(self.pid, 0)
        except ChildProcessError:  # reaped for us: SIGCHLD is ignored
            status = None
        self.reaped = True
        if status is None:
            return "ended"
        code = os.waitstatus_to_exitcode(status)
        return f"was killed by signal {-code}" if code < 0 else f"exited with status {code}"


def _fork(
    work: Callable[[T], R],
    chunks: Sequence[T],
    queue: int,
    siblings: list[_Child[R]],
    mask: set[int | signal.Signals],
) -> _Child[R] | None:
    try:
        read, write = os.pipe()
    except OSError:  # out of file descriptors: the running processes share the work
        return None
    parent = os.getpid()
    try:
        pid = os.fork()
    except OSError:
        os.close(read)
        os.close(write)
        return None
    if pid == 0:  # the child: never returns
        os.close(read)
        for sibling in siblings:  # so that only the parent holds their read ends
            sibling.pipe.close()
        _child_main(work, chunks, queue, write, parent, mask)
    os.close(write)
    return _Child(pid, os.fdopen(read, "rb"))


def _child_main(
    work: Callable[[T], R],
    chunks: Sequence[T],
    queue: int,
    results: int,
    parent: int,
    mask: set[int | signal.Signals],
) -> None:
    try:
        if signal.getsignal(signal.SIGINT) is signal.default_int_handler:
            signal.signal(signal.SIGINT, signal.SIG_DFL)  # Ctrl-C ends the child at once
        signal.pthread_sigmask(signal.SIG_SETMASK, mask)  # the parent's, before the hold
        try:
            payload = _RESULTS + pickle.dumps(
                _take(work, chunks, queue, parent), pickle.HIGHEST_PROTOCOL
            )
        except BaseException as exc:  # sent to the parent, which raises it
            payload = _FAILURE + pickle.dumps(_picklable(exc), pickle.HIGHEST_PROTOCOL)
        with os.fdopen(results, "wb") as pipe:
            pipe.write(payload)
    finally:
        os._exit(0)  # how it went is in the payload (or its absence)


@dataclass(frozen=True)
class _Failure:
    error: BaseException | None  # None when it would not pickle
    text: str  # the child's traceback, formatted


def _picklable(exc: BaseException) -> _Failure:
    text = "".join(traceback.format_exception(exc))
    try:
        pickle.loads(pickle.dumps(exc, pickle.HIGHEST_PROTOCOL))
    except Exception:
        return _Failure(None, text)
    return _Failure(exc, text)


def _child_error(failure: _Failure) -> BaseException:
    error = failure.error
    if error is None:
        error = RuntimeError("a lint worker process failed")
    error.add_note("in a forked lint worker process:\n" + failure.text.rstrip())
    return error
