"""Private messages kept for their recipient until written to them: storage only.

Owns :class:`Mailbox`: the kept messages in SQLite, mirrored in memory, and
how many each person has not yet been written (kept, or acknowledged live and
still in an outbox). It never reaches a connection or the registry: the
delivery (``batchat.server.delivery``) takes messages out, puts back what was never
written, and says what was. Called only by the chat service, the delivery and the server.
"""

from __future__ import annotations

import bisect
import collections
import functools
import logging
import math
import sqlite3
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import protocol
from protocol import ErrorCode, ProtocolError
from batchat.locks import tiered_lock
from batchat.server import tiers
from batchat.server.sqlite_files import GroupCommitWriter, open_durable, WriterClosed
from batchat.server.storage import StorageError

log = logging.getLogger(__name__)
T = TypeVar("T")


CLOSE_WAIT = 2.0  # seconds close() waits for the disk work already queued


class MailboxError(StorageError):
    """The offline-messages database cannot be used."""


@dataclass(frozen=True)
class WaitingMessage:
    """A private message to one user, counted against ``max_pending`` until written to them:
    kept for them, or acknowledged as delivered and still in an outbox."""

    id: int  # given when acknowledged (see Mailbox.reserve): messages for one recipient go out in this order
    recipient: str  # the recipient's name key
    sender: str
    sent_at: float  # seconds since the epoch
    text: str


_MAILBOX_SCHEMA = """
CREATE TABLE IF NOT EXISTS waiting (
    id INTEGER PRIMARY KEY AUTOINCREMENT,  -- never reused: the order messages were acknowledged in
    recipient TEXT NOT NULL,               -- name key (NFC, casefolded)
    sender TEXT NOT NULL,
    sent_at REAL NOT NULL,                 -- seconds since the epoch, UTC
    text TEXT NOT NULL
)
"""


def _waiting_row_problem(row: tuple[Any, ...]) -> str | None:
    """What is wrong with a row of the mailbox table, or ``None``: it must be
    deliverable exactly as a message typed by a logged-in person would be."""
    row_id, recipient, sender, sent_at, text = row
    if type(row_id) is not int:
        return "id não é um número inteiro"
    if not (isinstance(recipient, str) and recipient and protocol.name_key(recipient) == recipient
            and not protocol.FORBIDDEN_CHARS.search(recipient) and not any(c.isspace() for c in recipient)):
        return "destinatário inválido"
    try:
        if protocol.validate_name(sender) != sender:
            return "remetente inválido"
        protocol.validate_text(text)
    except (ProtocolError, TypeError):
        return "remetente ou texto inválido (caracteres proibidos?)"
    if not text or len(text.encode("utf-8", "surrogatepass")) > protocol.MAX_SERVER_LINE // 2:
        return "texto vazio ou longo demais"
    if type(sent_at) not in (int, float) or not math.isfinite(sent_at):
        return f"hora inválida: {str(sent_at)[:40]!r}"
    try:
        protocol.format_timestamp(sent_at)  # as its PENDENTE line will say it
    except (ValueError, OverflowError, OSError, UnicodeError):
        return f"hora fora do calendário: {sent_at!r}"
    return None


class Mailbox:
    """Private messages waiting for users who were offline, until they are written to them.

    API: :meth:`reserve`, :meth:`store`, :meth:`keep`, :meth:`take`, :meth:`put_back`,
    :meth:`delivered`, :meth:`release`, :meth:`wait_until_landed`, :meth:`waiting`,
    :meth:`close`. The lock is a leaf (``tiers.LEAF`` in :mod:`batchat.server.tiers`): nothing
    else is taken while it is held, and nothing outside this class is called.

    Kept in SQLite (``sqlite3``, standard library), not in a JSON file: a JSON
    file written atomically must be rewritten whole for every message kept or
    delivered, and this store changes with every message to someone offline.
    SQLite adds or deletes one row per message, and with ``synchronous=FULL``
    a committed row survives a SIGKILL and a power cut (the write-ahead log is
    fsynced at every commit).

    Everything is mirrored in memory, so deciding what to deliver never reads
    the disk, and one thread of the mailbox's own does all the disk work: the
    lock guards only the memory. Writes that queue up while one commits are
    committed together (group commit, as in :class:`UserStore`). A sender's
    ``OK CHAT <nome> GUARDADA`` comes only after the commit that holds its message.

    Delivery (done by ``batchat.server.delivery``, not here): a message leaves memory
    when it is taken for the recipient's outbox (:meth:`take`), and leaves the
    disk only once its bytes were written to the recipient's socket
    (:meth:`delivered`). If the connection ends before that, it comes back
    (:meth:`put_back`), to be delivered at the next login. A crash between the
    write and the delete means it is delivered again: at least once, never lost.

    Live private messages (their recipient was online) are counted here too,
    from the moment they are acknowledged until their bytes reach the socket
    (:meth:`reserve`, :meth:`release`): ``max_pending`` bounds everything one
    person has not been written yet, so one that never gets written can always
    be kept without passing it. The id that orders messages is given at that
    moment, not at the commit: a message given back late still goes out
    before anything its sender sent after it.
    """

    def __init__(self, path: Path, max_pending: int) -> None:
        self._path = path
        self._max_pending = max_pending
        self._lock = tiered_lock(tiers.LEAF, "Mailbox")  # guards the memory below, never the disk
        self._db = self._open(path)
        try:
            kept = self._load(self._db, path)
            self._last_id = self._last_id_used(self._db, path)
        except MailboxError:
            self._db.close()  # as in _open
            raise
        self._waiting: dict[str, list[WaitingMessage]] = collections.defaultdict(list)
        # Per recipient: kept, handed over at a login, or acknowledged live, and not yet written.
        self._unread: collections.Counter[str] = collections.Counter()
        # Per recipient, those of them in some outbox: they land (written, or back
        # in _waiting) when the connection writes them or ends; see wait_until_landed.
        self._in_flight: collections.Counter[str] = collections.Counter()
        self._landed = threading.Condition(self._lock)
        for message in kept:
            self._waiting[message.recipient].append(message)
            self._unread[message.recipient] += 1
        self.kept_unwritten = 0  # live messages kept because never written, since the start
        self._closed = False
        # Every disk job, on its own thread; all those waiting when one starts share one commit.
        self._writer = GroupCommitWriter(self._db, path, "mensagens-guardadas", self._kept)

    @staticmethod
    def _open(path: Path) -> sqlite3.Connection:
        if not path.parent.is_dir():
            raise MailboxError(f"a pasta {path.parent} não existe")
        db: sqlite3.Connection | None = None
        try:
            db = open_durable(path)  # only the mailbox's own thread uses it after this constructor
            db.execute(_MAILBOX_SCHEMA)
            return db
        except (sqlite3.Error, OSError) as error:
            if db is not None:
                db.close()  # nothing may keep it open: a failed start removes the files it created
            raise MailboxError(
                f"o arquivo de mensagens guardadas {path} não pode ser usado ({error}). "
                "Mova-o para outro lugar; o servidor não inicia por cima dele."
            ) from error

    @staticmethod
    def _load(db: sqlite3.Connection, path: Path) -> list[WaitingMessage]:
        """Every kept message, each checked: a damaged row stops the start with one
        sentence naming the file and the row, instead of failing someone's login
        (or forging a server line) later."""
        try:
            rows = db.execute("SELECT id, recipient, sender, sent_at, text FROM waiting ORDER BY id").fetchall()
        except sqlite3.Error as error:
            raise MailboxError(f"o arquivo de mensagens guardadas {path} está corrompido ({error}).") from error
        for row in rows:
            problem = _waiting_row_problem(row)
            if problem is not None:
                raise MailboxError(
                    f"o arquivo de mensagens guardadas {path} tem um registro inválido "
                    f"(id {str(row[0])[:40]}: {problem}). "
                    "Corrija-o ou mova-o para outro lugar; o servidor não inicia por cima dele."
                )
        return [WaitingMessage(*row) for row in rows]

    @staticmethod
    def _last_id_used(db: sqlite3.Connection, path: Path) -> int:
        """The largest id ever stored (AUTOINCREMENT remembers it past deletes): new ids
        start above it, so whatever is acknowledged from now on sorts after it."""
        try:
            row = db.execute("SELECT seq FROM sqlite_sequence WHERE name = 'waiting'").fetchone()
        except sqlite3.Error as error:
            raise MailboxError(f"o arquivo de mensagens guardadas {path} está corrompido ({error}).") from error
        return int(row[0]) if row else 0

    def waiting(self, recipient: str) -> list[WaitingMessage]:
        """The messages kept for ``recipient`` (a name key) and not in any outbox."""
        with self._lock:
            return list(self._waiting.get(recipient, ()))

    def reserve(self, name: str, sender: str, text: str, *, online: bool) -> WaitingMessage:
        """Count a message to the user ``name`` and give it its place in the order, now,
        before its sender is told ``OK``; raise if that must not be said.

        ``online``: it goes to the recipient's connection, and :meth:`watch`
        settles it. Counting it until written is what lets it be kept if the
        connection ends first, without ever passing ``max_pending``; its id,
        taken here, keeps it before anything the same sender sends later,
        however late it is given back. Raises ``CAIXA_CHEIA`` when the
        recipient already has ``max_pending`` unwritten, ``INDISPONIVEL`` once
        the mailbox is closed (the server is stopping: it could not keep it).
        """
        recipient = protocol.name_key(name)
        with self._lock:
            if self._closed:
                raise ProtocolError(ErrorCode.UNAVAILABLE, "O servidor está sendo encerrado.")
            count = self._unread[recipient]
            if self._max_pending and count >= self._max_pending:
                raise _full_error(name, count, online=online)
            self._unread[recipient] = count + 1  # under the lock: parallel senders cannot overshoot
            if online:
                self._in_flight[recipient] += 1
            self._last_id += 1
            return WaitingMessage(self._last_id, recipient, sender, time.time(), text)

    def store(self, name: str, sender: str, text: str) -> str:
        """Keep a message for the user ``name``, found offline; return once it is on disk,
        with the recipient's name key.

        Raises as :meth:`reserve` does, and ``INDISPONIVEL`` when the disk
        refuses. The recipient may have come online meanwhile: the caller
        checks (see ``batchat.server.delivery``).
        """
        message = self.reserve(name, sender, text, online=False)
        # The writer thread puts it in memory, in id order, before this returns.
        try:
            self._submit(functools.partial(_insert_waiting, [message])).result()
        except (sqlite3.Error, OSError, WriterClosed) as error:
            log.error("Não foi possível guardar uma mensagem em %s: %s", self._path, error)
            with self._lock:
                self._release_locked(message.recipient, 1)
            raise ProtocolError(
                ErrorCode.UNAVAILABLE, "Não foi possível guardar a mensagem agora; tente mais tarde."
            ) from error
        return message.recipient

    def release(self, messages: list[WaitingMessage]) -> None:
        """Live messages reached their recipient's socket: they are no longer counted.
        A list, so that a recv's worth of CHATs passes the lock once."""
        counts = collections.Counter(message.recipient for message in messages)
        with self._lock:
            for recipient, count in counts.items():
                self._release_locked(recipient, count)
                self._land_locked(recipient, count)

    def keep(self, messages: list[WaitingMessage]) -> bool:
        """Live messages to one recipient that will never be written to the connection they
        were acknowledged for: onto the disk in one commit, at the places their ids
        give them. Already counted, so never refused; returns once on disk
        (``True``), or once the failure is logged (``False``: they were
        acknowledged, nobody is left to tell).
        """
        recipient = messages[0].recipient
        try:
            self._submit(functools.partial(_insert_waiting, messages)).result()
        except (sqlite3.Error, OSError, WriterClosed) as error:
            log.error("%d mensagem(ns) privada(s) para %s perdida(s): %s", len(messages), recipient, error)
            with self._lock:
                self._release_locked(recipient, len(messages))
                self._land_locked(recipient, len(messages))
            return False
        with self._lock:
            self.kept_unwritten += len(messages)
            self._land_locked(recipient, len(messages))
        log.debug("%d mensagem(ns) para %s guardada(s): a conexão acabou antes de escrevê-la(s).",
                 len(messages), recipient)
        return True

    def take(self, recipient: str) -> list[WaitingMessage]:
        """Everything kept for ``recipient`` (a name key), oldest first, out of memory and
        counted as in flight: the caller puts it in an outbox, then says whether
        it was written (:meth:`delivered`) or not (:meth:`put_back`)."""
        with self._lock:
            messages = self._waiting.pop(recipient, [])
            if messages:
                self._in_flight[recipient] += len(messages)
            return messages

    def put_back(self, recipient: str, messages: list[WaitingMessage]) -> None:
        """Messages :meth:`take` gave that were never written: back, in their order."""
        with self._lock:
            for message in messages:
                bisect.insort(self._waiting[recipient], message, key=_by_id)
            self._land_locked(recipient, len(messages))

    def delivered(self, recipient: str, messages: list[WaitingMessage]) -> None:
        """Messages :meth:`take` gave were written to the recipient's socket: forget them,
        in memory now and on disk soon (nobody waits for that delete)."""
        with self._lock:
            self._release_locked(recipient, len(messages))
            self._land_locked(recipient, len(messages))
        self._submit(functools.partial(_delete_waiting, [(message.id,) for message in messages]))

    def forget(self, name: str) -> int:
        """Delete every message kept for ``name`` (its account was deleted, or the name is
        being registered anew): out of memory now, off the disk before this returns (no
        disk work when nothing is kept). Returns how many; ``INDISPONIVEL`` if the disk
        refuses."""
        recipient = protocol.name_key(name)
        with self._lock:
            messages = self._waiting.pop(recipient, [])
            if messages:
                self._release_locked(recipient, len(messages))
        if not messages:
            return 0
        try:
            self._submit(functools.partial(_delete_waiting, [(message.id,) for message in messages])).result()
        except (sqlite3.Error, OSError, WriterClosed) as error:
            log.error("Não foi possível apagar as mensagens guardadas para %s: %s", name, error)
            raise ProtocolError(ErrorCode.UNAVAILABLE, "Não foi possível apagar as mensagens agora.") from error
        return len(messages)

    def wait_until_landed(self, name: str, timeout: float) -> bool:
        """Wait until no message to ``name`` is in an outbox; ``False`` if some still are
        after ``timeout``.

        For a login while the same user's last connection is ending: what that
        connection never wrote comes back to the mailbox as it ends, and it is
        older than what was kept meanwhile, so it must be in this login's
        hand-over, not follow it as live messages.
        """
        recipient = protocol.name_key(name)
        with self._landed:
            return self._landed.wait_for(lambda: not self._in_flight[recipient], timeout)

    def close(self) -> None:
        """Finish the disk work queued (deliveries to delete), then stop."""
        with self._lock:
            self._closed = True
        self._writer.close(CLOSE_WAIT)

    def _release_locked(self, recipient: str, count: int) -> None:
        """``count`` messages to ``recipient`` were written to them, or failed to be kept."""
        self._unread[recipient] -= count
        if self._unread[recipient] <= 0:
            del self._unread[recipient]

    def _land_locked(self, recipient: str, count: int) -> None:
        """``count`` messages to ``recipient`` left an outbox: written, or back in _waiting."""
        self._in_flight[recipient] -= count
        if self._in_flight[recipient] <= 0:
            del self._in_flight[recipient]
            self._landed.notify_all()

    def _submit(self, job: Callable[[sqlite3.Connection], T]) -> Future[T]:
        """Queue ``job`` for the writer thread; after :meth:`close`, it fails at once
        (a delete that never happens only means a message delivered again)."""
        return self._writer.submit(job)

    def _kept(self, results: list[Any]) -> None:
        """On the writer's thread, once a commit is on disk: the messages it kept are
        waiting (a live message given back late goes before newer ones)."""
        kept = [message for result in results if result for message in result]
        if kept:
            with self._lock:
                for message in kept:
                    bisect.insort(self._waiting[message.recipient], message, key=_by_id)

def _insert_waiting(messages: list[WaitingMessage], db: sqlite3.Connection) -> list[WaitingMessage]:
    """Add ``messages`` with the ids :meth:`Mailbox.reserve` gave them; return them."""
    rows = [(m.id, m.recipient, m.sender, m.sent_at, m.text) for m in messages]
    db.executemany("INSERT INTO waiting (id, recipient, sender, sent_at, text) VALUES (?, ?, ?, ?, ?)", rows)
    return messages


def _by_id(message: WaitingMessage) -> int:
    return message.id


def _full_error(name: str, count: int, *, online: bool) -> ProtocolError:
    """``CAIXA_CHEIA``: ``name`` has ``count`` messages not yet written to them."""
    messages = "1 mensagem" if count == 1 else f"{count} mensagens"
    if online:
        text = f"{name} ainda não leu {messages}; tente daqui a pouco."
    else:
        text = f"Já há {messages} esperando por {name}; tente quando essa pessoa estiver online."
    return ProtocolError(ErrorCode.MAILBOX_FULL, text)


def _delete_waiting(ids: list[tuple[int]], db: sqlite3.Connection) -> None:
    db.executemany("DELETE FROM waiting WHERE id = ?", ids)
