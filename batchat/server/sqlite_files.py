"""What the server's SQLite files share: opened durably, written by one thread, rows checked.

Owns :func:`open_durable` (the file created private, ``journal_mode=WAL``,
``synchronous=FULL``), :class:`GroupCommitWriter` (one thread of the file's
owner does all its disk work, and writes that queue up while one commits are
committed together), :func:`message_problem` and :func:`time_problem` (whether
a kept message could be shown as one typed by a person). Holds no state of the chat: each file has
one owner, which alone calls this: the mailbox (``batchat.server.mailbox``), the
moderation file (``open_durable`` only: its acts are rare, each written at once) and
the rooms (``batchat.server.rooms``).
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
import queue
import sqlite3
import threading
from collections.abc import Callable
from concurrent.futures import Future
from pathlib import Path
from typing import Any, TypeVar

import protocol
from protocol import ProtocolError
from batchat.locks import tiered_lock
from batchat.server import tiers

log = logging.getLogger(__name__)
T = TypeVar("T")
Job = Callable[[sqlite3.Connection], Any]

CLOSE_WAIT = 2.0  # seconds close() waits for the disk work already queued
BATCH = 256  # jobs committed together, at most


def open_durable(path: Path | None) -> sqlite3.Connection:
    """Open the SQLite file ``path``, creating it readable by its owner only (its journal
    files take the same mode), in WAL mode with every commit fsynced: a committed
    transaction survives a SIGKILL and a power cut (``None``: a database in memory, for
    tests). Raises ``sqlite3.Error`` or ``OSError`` (a file that is not SQLite fails
    here), and leaves nothing open."""
    if path is not None:
        os.close(os.open(path, os.O_RDWR | os.O_CREAT, 0o600))
    # Used by one thread at a time: the owner's constructor, then its writer thread.
    db = sqlite3.connect(":memory:" if path is None else path, isolation_level=None, check_same_thread=False)
    try:
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=FULL")
    except BaseException:
        db.close()
        raise
    return db


class WriterClosed(Exception):
    """The writer was closed (the server is stopping): nothing more is written."""


class GroupCommitWriter:
    """One thread that runs every write of one SQLite file, each job in a savepoint of
    its own, all the jobs waiting when a commit starts in one transaction.

    A job is a function of the connection; its value, once the transaction that
    holds it is committed (on disk), goes to ``on_commit`` (with those of the
    other jobs of that commit, in the order they were submitted) and then to
    whoever waits on its future. A job that raises is rolled back alone, and
    its future gets the exception; a commit that fails fails every job in it.
    ``on_commit`` is where the owner updates its memory: under its own lock,
    taken there, never while this writer's lock is held.
    """

    def __init__(self, db: sqlite3.Connection, path: Path, name: str,
                 on_commit: Callable[[list[Any]], None]) -> None:
        self._db = db
        self._path = path
        self._on_commit = on_commit
        self._lock = tiered_lock(tiers.LEAF, "GroupCommitWriter")  # orders submit() and close()
        self._jobs: queue.SimpleQueue[tuple[Future[Any], Job] | None] = queue.SimpleQueue()
        self._closed = False
        self._thread = threading.Thread(target=self._write_forever, name=name, daemon=True)
        self._thread.start()

    def submit(self, job: Callable[[sqlite3.Connection], T]) -> Future[T]:
        """Queue ``job``; after :meth:`close` its future fails at once with :class:`WriterClosed`."""
        future: Future[T] = Future()
        with self._lock:
            if self._closed:
                future.set_exception(WriterClosed())
            else:
                self._jobs.put((future, job))
        return future

    def run(self, job: Callable[[sqlite3.Connection], T]) -> T:
        """Run ``job`` and return its value once it is on disk; raise what it raised,
        the commit's error, or :class:`WriterClosed`."""
        return self.submit(job).result()

    def close(self, wait: float = CLOSE_WAIT) -> None:
        """Finish the jobs already queued (waiting up to ``wait`` seconds), then close the file."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            self._jobs.put(None)  # under the lock: no job can come after it (see submit)
        self._thread.join(wait)

    def _write_forever(self) -> None:
        stopping = False
        while not stopping:
            first = self._jobs.get()
            if first is None:
                break
            batch = [first]
            while len(batch) < BATCH:
                try:
                    job = self._jobs.get_nowait()
                except queue.Empty:
                    break
                if job is None:
                    stopping = True
                    break
                batch.append(job)
            self._commit(batch)
        self._db.close()

    def _commit(self, batch: list[tuple[Future[Any], Job]]) -> None:
        try:
            self._db.execute("BEGIN IMMEDIATE")
            outcomes = [self._run_one(job) for _, job in batch]
            self._db.execute("COMMIT")
            self._on_commit([value for done, value in outcomes if done])
        except Exception as error:  # every waiting caller must hear of it, whatever it was
            if self._db.in_transaction:
                with contextlib.suppress(sqlite3.Error):  # the failure itself is logged below
                    self._db.execute("ROLLBACK")
            unexpected = not isinstance(error, (sqlite3.Error, OSError))
            log.error("Falha ao gravar em %s: %s", self._path, error, exc_info=unexpected)
            for future, _ in batch:
                future.set_exception(error)
            return
        for (future, _), (done, value) in zip(batch, outcomes):
            if done:
                future.set_result(value)
            else:
                future.set_exception(value)

    def _run_one(self, job: Job) -> tuple[bool, Any]:
        """``(True, value)``, or ``(False, the exception)`` with the job's writes undone."""
        self._db.execute("SAVEPOINT job")
        try:
            value = job(self._db)
        except Exception as error:  # the job's own refusal: its caller gets it
            self._db.execute("ROLLBACK TO job")
            self._db.execute("RELEASE job")
            return False, error
        self._db.execute("RELEASE job")
        return True, value


def message_problem(sender: object, sent_at: object, text: object) -> str | None:
    """What is wrong with a kept message, or ``None``: it must be deliverable exactly as
    one typed by a logged-in person would be (a valid sender, a text without forbidden
    characters, a time inside the calendar), or it would forge a server line."""
    try:
        if not isinstance(sender, str) or protocol.validate_name(sender) != sender:
            return "remetente inválido"
        if not isinstance(text, str):
            return "texto inválido"
        protocol.validate_text(text)
    except ProtocolError:
        return "remetente ou texto inválido (caracteres proibidos?)"
    if not text or len(text.encode("utf-8", "surrogatepass")) > protocol.MAX_SERVER_LINE // 2:
        return "texto vazio ou longo demais"
    return time_problem(sent_at)


def time_problem(when: object) -> str | None:
    """What is wrong with a kept time (seconds since the epoch), or ``None``: a number
    inside the calendar, so that a line can say it."""
    if type(when) not in (int, float) or not math.isfinite(when):  # type: ignore[arg-type]
        return f"hora inválida: {str(when)[:40]!r}"
    try:
        protocol.format_timestamp(when)  # type: ignore[arg-type]
    except (ValueError, OverflowError, OSError, UnicodeError):
        return f"hora fora do calendário: {when!r}"
    return None
