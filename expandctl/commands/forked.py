"""Work on several cores: this process and forked children take chunks in turn.

Made for linting many independent files, where a process pool cost more than
it gave: importing ``multiprocessing`` and ``concurrent.futures``, a feeder
thread, a parent that only waits while a core stays idle, every result
pickled. Here the parent is one of the workers. The chunk numbers wait in a
pipe; each process reads the next one (four bytes: a read that small is never
split between readers) until the pipe is empty, so a process that is done
takes the next chunk and they all finish within about one chunk of each other.
The parent keeps its own results as they are; each child sends its results
once, pickled, through a pipe of its own, and leaves with ``os._exit`` (no
exit handlers, no flushing of the parent's buffers). However the parent
leaves this (an error, Ctrl-C), no child outlives it.

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
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

from expandctl.errors import LintError

T = TypeVar("T")
R = TypeVar("R")

_INDEX = struct.Struct(">I")  # a chunk's number in the queue pipe
# The queue is written whole before anyone reads it: it must fit the smallest
# buffer a Linux pipe has (one 4 KiB page, when a user's pipes are over quota).
MAX_CHUNKS = 4096 // _INDEX.size
_OK, _FAILED = 0, 1  # a child's exit status (a signal shows in the wait status)


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
            child = _fork(work, chunks, queue)
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


def _take(work: Callable[[T], R], chunks: Sequence[T], queue: int) -> list[tuple[int, R]]:
    done: list[tuple[int, R]] = []
    while len(taken := os.read(queue, _INDEX.size)) == _INDEX.size:
        (index,) = _INDEX.unpack(taken)
        done.append((index, work(chunks[index])))
    return done


@dataclass
class _Child(Generic[R]):
    pid: int
    results: int  # read end of the pipe the child sends its results through
    reaped: bool = False

    def collect(self) -> list[tuple[int, R]]:
        """Wait for the child's results; raise what it raised, or say how it died."""
        with os.fdopen(self.results, "rb") as pipe:
            self.results = -1
            payload = pipe.read()
        _, status = os.waitpid(self.pid, 0)
        self.reaped = True
        code = os.waitstatus_to_exitcode(status)
        if code == _OK:
            done: list[tuple[int, R]] = pickle.loads(payload)
            return done
        if code == _FAILED and payload:
            raise _child_error(pickle.loads(payload))
        how = f"was killed by signal {-code}" if code < 0 else f"exited with status {code}"
        raise LintError(
            f"a lint worker process {how} before sending its results",
            hint="run again; with little free memory, lint fewer files at a time",
        )

    def stop(self) -> None:
        """Kill and reap the child if it was not collected (the parent is leaving early)."""
        if self.results >= 0:
            os.close(self.results)
            self.results = -1
        if not self.reaped:
            with contextlib.suppress(ProcessLookupError):  # gone already
                os.kill(self.pid, signal.SIGKILL)
            os.waitpid(self.pid, 0)
            self.reaped = True


def _fork(work: Callable[[T], R], chunks: Sequence[T], queue: int) -> _Child[R] | None:
    read, write = os.pipe()
    try:
        pid = os.fork()
    except OSError:
        os.close(read)
        os.close(write)
        return None
    if pid == 0:  # the child: never returns
        os.close(read)
        _child_main(work, chunks, queue, write)
    os.close(write)
    return _Child(pid, read)


def _child_main(work: Callable[[T], R], chunks: Sequence[T], queue: int, results: int) -> None:
    code = _FAILED
    try:
        if signal.getsignal(signal.SIGINT) is signal.default_int_handler:
            signal.signal(signal.SIGINT, signal.SIG_DFL)  # Ctrl-C ends the child at once
        try:
            payload = pickle.dumps(_take(work, chunks, queue), pickle.HIGHEST_PROTOCOL)
            code = _OK
        except Exception as exc:  # sent to the parent, which raises it
            payload = pickle.dumps(_picklable(exc), pickle.HIGHEST_PROTOCOL)
        with os.fdopen(results, "wb") as pipe:
            pipe.write(payload)
    except BaseException:  # a broken pipe: the parent is gone; nothing to tell
        code = _FAILED
    finally:
        os._exit(code)


@dataclass(frozen=True)
class _Failure:
    error: BaseException | None  # None when it would not pickle
    text: str  # the child's traceback, formatted


def _picklable(exc: Exception) -> _Failure:
    text = "".join(traceback.format_exception(exc))
    try:
        pickle.loads(pickle.dumps(exc, pickle.HIGHEST_PROTOCOL))
    except Exception:
        return _Failure(None, text)
    return _Failure(exc, text)


def _child_error(failure: _Failure) -> BaseException:
    error = failure.error or RuntimeError("a lint worker process failed")
    error.add_note("in a forked lint worker process:\n" + failure.text.rstrip())
    return error
