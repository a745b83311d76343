"""Decoding an origin in a process of its own, bounded in memory and in time.

An origin's bytes are a stranger's, and its decoders are C libraries: a file can make one
loop, allocate without end or crash. None of that may reach the process that asked (a web
worker answering tiles, a ``dlcs worker``'s other jobs), so :func:`run` does the work of
:mod:`app.ingest.decode` in a child process, which

- limits its own memory before it starts (``RLIMIT_DATA``: what it has, plus what one ingest
  may take, DLCS_INGEST_MEMORY_MB, plus :data:`RESERVE` for libvips's threads and the rows it
  streams): an allocation past it fails, as MemoryError or a decoder's "out of memory", and
  the child says so;
- is killed when it runs past its time (DLCS_INGEST_SECONDS);
- is gone when the job is, with everything it allocated.

Children are forked by multiprocessing's fork server, a process started once (per process
that decodes) that has imported the decoders already: a child starts in about 10 ms, where a
new interpreter importing them took 190 ms. It forks from a single thread of its own, never
from the caller's threads.

Whatever happens in the child, the caller gets the function's result or an
:class:`~app.ingest.errors.IngestError` saying what went wrong.
"""

from __future__ import annotations

import io
import logging
import multiprocessing
import os
import resource
import signal
import traceback
from collections.abc import Callable
from multiprocessing import context, forkserver, popen_forkserver, reduction, spawn, util
from multiprocessing.connection import Connection
from typing import Any, TypeVar

from app.ingest.errors import IngestError

log = logging.getLogger(__name__)

Result = TypeVar("Result")


class _Launch(popen_forkserver.Popen):
    """multiprocessing's start of a child by its fork server, but for one instruction: the child
    does not run the program's main module again.

    multiprocessing has each child import the parent's main module, to find what was pickled
    by reference there; these children need nothing of it. The fork server of Python 3.11
    means to import it once for all of them, but never does (it looks for the key "main_path"
    in data that names it "init_main_from_path"), so each child would: ``dlcs``'s main module
    imports the whole app, a second a child; gunicorn's, 74 ms. The rest is CPython's own.
    """

    def _launch(self, process_obj: Any) -> None:
        prep_data = spawn.get_preparation_data(process_obj._name)
        prep_data.pop("init_main_from_path", None)
        prep_data.pop("init_main_from_name", None)
        buf = io.BytesIO()
        context.set_spawning_popen(self)
        try:
            reduction.dump(prep_data, buf)
            reduction.dump(process_obj, buf)
        finally:
            context.set_spawning_popen(None)
        self.sentinel, w = forkserver.connect_to_new_process(self._fds)  # type: ignore[attr-defined]
        _parent_w = os.dup(w)
        close = util.close_fds  # type: ignore[attr-defined]
        self.finalizer = util.Finalize(self, close, (_parent_w, self.sentinel))
        with open(w, "wb", closefd=True) as f:
            f.write(buf.getbuffer())
        self.pid = forkserver.read_signed(self.sentinel)


class _Child(context.ForkServerProcess):
    @staticmethod
    def _Popen(process_obj: Any) -> _Launch:
        return _Launch(process_obj)


_CONTEXT = multiprocessing.get_context("forkserver")
_CONTEXT.set_forkserver_preload(["app.ingest.decode"])
# What a child has beyond what its decoders may hold: the stacks of libvips's threads (8 MB each,
# a few per core) and the bands of rows it streams (83 MB for a 4000 x 3000 JPEG's pyramid).
RESERVE = 256 * 2**20
# How long a child that has answered may take to exit before it is killed.
_EXIT_SECONDS = 5.0


def run(function: Callable[..., Result], *args: Any, memory: int, seconds: float) -> Result:
    """Return ``function(*args)`` run in a child process that may allocate ``memory`` bytes
    (and :data:`RESERVE`) beyond its own and take ``seconds``; raise an :class:`IngestError`
    saying why not.

    ``function`` is a module-level function of :mod:`app.ingest.decode`, and its arguments
    and result are picklable.
    """
    receive, send = _CONTEXT.Pipe(duplex=False)
    child = _Child(target=_child, args=(send, function, args, memory), name="dlcs-decode")
    child.daemon = True
    child.start()
    send.close()  # (the child's end: receiving from a child that died then ends at once)
    answered = False
    try:
        if not receive.poll(seconds):
            raise IngestError(
                f"decoding the origin took longer than {seconds:g} s (DLCS_INGEST_SECONDS)"
            )
        try:
            outcome, value = receive.recv()
            answered = True
        except EOFError:  # (it died without a word)
            child.join(_EXIT_SECONDS)
            raise IngestError(_died(child.exitcode, memory)) from None
    finally:
        if answered:  # (it is on its way out: let it go as it will)
            child.join(_EXIT_SECONDS)
        if child.is_alive():
            child.kill()
            child.join()
        receive.close()
        child.close()
    if outcome == "error":
        raise IngestError(value)
    if outcome == "memory":
        raise IngestError(_out_of_memory(memory))
    if outcome == "failed":
        log.error("decoding an origin failed unexpectedly:\n%s", value)
        raise IngestError("decoding the origin failed unexpectedly; the failure was logged")
    return value  # type: ignore[no-any-return]


def _child(
    send: Connection, function: Callable[..., Any], args: tuple[Any, ...], memory: int
) -> None:
    # In the child: bound this process's memory, run, and say how it went.
    bound = _data_size() + memory + RESERVE
    resource.setrlimit(resource.RLIMIT_DATA, (bound, bound))
    try:
        answer: tuple[str, Any] = ("done", function(*args))
    except IngestError as exc:
        answer = ("error", str(exc))
    except MemoryError:
        answer = ("memory", "")
    except BaseException:  # (reported to the parent, which logs it)
        answer = ("failed", traceback.format_exc())
    send.send(answer)
    send.close()


def _data_size() -> int:
    # What this process has of the memory RLIMIT_DATA counts (its private writable mappings).
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmData:"):
                return int(line.split()[1]) * 1024
    return 0


def _out_of_memory(memory: int) -> str:
    return (
        f"decoding the image took more than the {memory // 2**20} MB one ingest may "
        "(DLCS_INGEST_MEMORY_MB)"
    )


def _died(exitcode: int | None, memory: int) -> str:
    if exitcode is not None and exitcode < 0:
        name = signal.Signals(-exitcode).name
        if -exitcode == signal.SIGKILL:  # (the kernel's out-of-memory killer, or an operator)
            return f"the process decoding the origin was killed ({name}); {_out_of_memory(memory)}?"
        return f"the decoder crashed on the origin ({name})"
    return f"the process decoding the origin ended without a result (exit status {exitcode})"
