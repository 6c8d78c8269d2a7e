"""BatChat server: a threaded TCP chat speaking the line protocol of ``protocol.py``.

Run ``python3 servidor.py --help`` for the options.

Structure, one piece of shared state per class, each with one lock:

* :class:`UserStore` owns the accounts and ``users.json``. Passwords are
  hashed with scrypt outside any lock; the file is rewritten atomically and
  durably, and concurrent registrations share one write (group commit).
  It also keeps when each account was last online.
* :class:`Mailbox` owns the private messages kept for users who are offline,
  in SQLite, mirrored in memory; one thread of its own does the disk work.
* :class:`SessionRegistry` owns the open connections, who is online, and the
  last public messages (the history replayed at login).
* :class:`RateLimiter` owns per-key counters (failed logins per account and
  IP, registrations per IP).
* :class:`Connection` owns one socket: the connection's thread reads from it,
  senders write to it directly when nothing waits, and a writer thread exists
  only while a backlog does, so a slow reader only ever blocks its own writer.
* :class:`PresenceJournal` holds the ``ENTROU``/``SAIU`` notices once, for
  every connection to catch up with at its own pace.
* :class:`ChatSession` is the protocol state of one connection (logged in or
  not, as whom, its flood budget) and dispatches each command.
* :class:`ChatServer` accepts connections and shuts everything down cleanly;
  with :class:`TlsSettings`, each connection's thread does its TLS handshake.

Errors come in three tiers: a :class:`protocol.ProtocolError` becomes an
``ERRO`` reply; an ``OSError`` ends that one session in its ``finally``;
anything else is logged with its traceback and the server keeps serving.
"""

from __future__ import annotations

import argparse
import base64
import bisect
import collections
import contextlib
import dataclasses
import errno
import functools
import hashlib
import hmac
import json
import logging
import math
import os
import queue
import selectors
import socket
import sqlite3
import ssl
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Hashable, Iterable, Iterator
from concurrent.futures import Future
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any, TypeVar

import protocol
from batchat import system
from protocol import ErrorCode, LineTooLong, ProtocolError

log = logging.getLogger("batchat")
# The "ready" and "stopped" lines are shown whatever --log-level says.
status_log = logging.getLogger("batchat.status")

DEFAULT_PORT = 5050
DEFAULT_HASH_COST = 15  # scrypt n = 2**15: ~90 ms and 32 MiB per hash on a 2020s core
RECV_SIZE = 65536
# socketserver's 5 drops connections when a class connects at once; a storm of
# thousands needs the kernel's maximum (net.core.somaxconn clamps it).
LISTEN_BACKLOG = socket.SOMAXCONN
ACCEPT_BATCH = 256  # connections accepted per wake-up before checking for shutdown
# Each connection's thread mostly waits in recv(); Python code needs little
# stack. 256 KiB instead of the usual 8 MiB keeps 10,000 threads in a few GiB
# of address space (the pages really used are a few KiB each).
THREAD_STACK_SIZE = 256 * 1024
# A thread waiting for the GIL wakes up every switch interval to ask for it.
# With a thousand runnable threads the default 5 ms means 200,000 wake-ups a
# second; our threads give the GIL up at every recv() anyway, so a longer
# interval costs no fairness (measured: unicast with 1,000 clients 12.7k -> 23.9k
# deliveries/s; no change with 100).
SWITCH_INTERVAL = 0.05
CLOSE_GRACE = 2.0  # seconds a closing connection gets to flush its last lines
PRESENCE_TICK = 0.02  # seconds the presence thread waits, so a burst of notices shares a send
FORGET_AFTER = 1024  # presence notices kept before the registry looks for ones all have had
WRITER_LINGER = 1.0  # seconds an idle writer thread waits for more before ending
ACCEPT_PAUSE = 0.5  # seconds to stop accepting after running out of file descriptors
# Windows runs a signal handler only when the main thread comes back to Python
# code, never inside select(): wake up now and then so Ctrl-C is heard there.
ACCEPT_WAKE = 0.5
USERS_FILE_VERSION = 1
MAILBOX_BATCH = 256  # disk jobs of the mailbox committed together, at most
SEEN_SAVE_DELAY = 5.0  # seconds between a login or log-out and the write that records it
# Each scrypt call takes 128 * r * n bytes (32 MiB at the default cost): bound how
# many run at once, so a login storm queues instead of eating memory and CPU.
HASH_CONCURRENCY = max(2, os.cpu_count() or 2)
LIST_CHUNK = 1000  # USUARIO lines per send in the answer to LISTA TODOS
DEFAULT_HISTORY = 20  # public messages replayed to whoever logs in
MAX_HISTORY = 10_000
DEFAULT_TLS_TIMEOUT = 10.0  # seconds a client has to finish the TLS handshake
FANOUT_PER_TOKEN = 10  # a TODOS costs one more flood token per 10 recipients
FAILED_LOGINS_PER_IP_FACTOR = 4  # one IP may fail this many times --login-rate, over all names
FOREIGN_HEAD = 4096  # bytes of a connection's start inspected for HTTP or TLS

T = TypeVar("T")


@dataclass(frozen=True)
class Limits:
    """What one client may cost the others. 0 turns a limit off.

    The README's table of limits explains each default.
    """

    max_line: int = protocol.DEFAULT_MAX_LINE  # bytes per line, counting the newline
    max_queue: int = 256 * 1024  # bytes waiting to be sent to one client
    flood_rate: float = 5.0  # lines per second, sustained
    flood_burst: int = 20  # lines at once after a quiet spell
    login_rate: int = 5  # failed logins per minute, per account and IP
    register_rate: int = 10  # registrations per minute, per IP
    max_clients: int = 1000  # connections in all
    max_per_ip: int = 20  # connections from one IP
    login_timeout: float = 60.0  # seconds to log in after connecting
    idle_timeout: float = 300.0  # seconds of silence before TCP keep-alive probes
    max_pending: int = 100  # private messages kept for one offline user


# --- Accounts ----------------------------------------------------------------


class StorageError(Exception):
    """A file the server keeps its state in cannot be used (corrupt, unreadable)."""


class UserStoreError(StorageError):
    """``users.json`` cannot be used."""


@dataclass(frozen=True)
class PasswordHash:
    """An scrypt hash with the parameters it was made with."""

    n: int
    r: int
    p: int
    salt: bytes
    key: bytes

    @classmethod
    def create(cls, password: str, cost: int) -> PasswordHash:
        """Hash ``password`` with a fresh random salt and ``n = 2**cost``."""
        salt = os.urandom(16)
        return cls(2**cost, 8, 1, salt, _scrypt(password, salt, 2**cost, 8, 1))

    def matches(self, password: str) -> bool:
        """Whether ``password`` hashes to this key (constant-time comparison)."""
        candidate = _scrypt(password, self.salt, self.n, self.r, self.p)
        return hmac.compare_digest(candidate, self.key)

    def to_json(self) -> dict[str, Any]:
        return {
            "alg": "scrypt",
            "n": self.n,
            "r": self.r,
            "p": self.p,
            "salt": base64.b64encode(self.salt).decode("ascii"),
            "key": base64.b64encode(self.key).decode("ascii"),
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> PasswordHash:
        """Read a stored hash, refusing parameters scrypt would choke on later."""
        if data.get("alg") != "scrypt":
            raise ValueError(f"algoritmo de hash desconhecido: {data.get('alg')!r}")
        n, r, p = int(data["n"]), int(data["r"]), int(data["p"])
        if not (2 <= n <= 2**22 and n & (n - 1) == 0 and 1 <= r <= 64 and 1 <= p <= 16):
            raise ValueError(f"parâmetros do scrypt inválidos: n={n}, r={r}, p={p}")
        salt = base64.b64decode(data["salt"], validate=True)
        key = base64.b64decode(data["key"], validate=True)
        if not salt or not key:
            raise ValueError("sal ou hash vazio")
        return cls(n, r, p, salt, key)


def _scrypt(password: str, salt: bytes, n: int, r: int, p: int) -> bytes:
    # OpenSSL refuses by default above 32 MiB; allow what these parameters need.
    maxmem = 128 * r * (n + p + 2) + 1024 * 1024
    return hashlib.scrypt(password.encode("utf-8"), salt=salt, n=n, r=r, p=p, maxmem=maxmem, dklen=32)


@dataclass(frozen=True)
class Account:
    """A registered user: the name as registered, the password hash, when last online."""

    name: str
    password_hash: PasswordHash
    last_seen: float | None = None  # seconds since the epoch; None: never logged in

    @functools.cached_property
    def json_line(self) -> str:
        """This account's line in users.json, encoded once: every commit writes every account."""
        record: dict[str, Any] = {"hash": self.password_hash.to_json(), "name": self.name}
        if self.last_seen is not None:
            record["last_seen"] = protocol.format_timestamp(self.last_seen)
        key = json.dumps(protocol.name_key(self.name), ensure_ascii=False)
        return f" {key}: {json.dumps(record, ensure_ascii=False, sort_keys=True)}"


def _load_last_seen(record: dict[str, Any]) -> float | None:
    text = record.get("last_seen")
    if text is None:
        return None
    seconds = protocol.parse_timestamp(text) if isinstance(text, str) else None
    if seconds is None:
        raise ValueError(f"data inválida em last_seen: {text!r}")
    return seconds


def _temp_prefix(path: Path) -> str:
    return f".{path.name}."


def remove_stale_temp_files(path: Path) -> None:
    """Delete temp files that a killed server left beside ``path`` mid-write.

    They never hold anything acknowledged: an account is acknowledged only
    after its temp file was renamed over ``path``.
    """
    for stale in path.parent.glob(f"{_temp_prefix(path)}*.tmp"):
        log.warning("Removendo arquivo temporário abandonado %s.", stale)
        stale.unlink(missing_ok=True)


def write_file_durably(path: Path, data: bytes) -> None:
    """Replace ``path`` with ``data`` atomically and durably.

    A temp file in the same folder is written, fsynced and renamed over
    ``path``; then the folder is fsynced so the rename itself survives a
    crash. A reader, or a restart after SIGKILL or power loss, sees either the
    old file or the new one, never a mix. The file is created with mode 0600.
    On failure the temp file is removed and ``path`` is untouched.
    """
    folder = path.parent
    # mkstemp creates the file readable and writable by its owner only (0600).
    fd, temp_name = tempfile.mkstemp(dir=folder, prefix=_temp_prefix(path), suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as temp_file:
            temp_file.write(data)
            temp_file.flush()
            os.fsync(temp_file.fileno())
        os.replace(temp_name, path)
    except BaseException:
        Path(temp_name).unlink(missing_ok=True)
        raise
    system.fsync_directory(folder)


class UserStore:
    """The registered accounts, kept in a JSON file.

    API: :meth:`register`, :meth:`authenticate`, :meth:`registered_name`,
    :meth:`record_seen`, :meth:`accounts`, :meth:`save`.

    ``_lock`` guards only the in-memory dicts; hashing and file writes happen
    outside it. File writes are serialised by ``_write_lock``, a lock whose
    only job is to order them, and batched: a registration waits until a
    write that includes it is on disk (group commit), so ``OK NOVO`` always
    means durable, and a burst of registrations costs a few file writes
    instead of one per account.

    When each account was last online changes at every login and log-out;
    a thread of the store's own saves those changes SEEN_SAVE_DELAY later, all
    at once, so a stream of logins cannot turn into a stream of file writes.
    A SIGKILL may lose the last few seconds of them, never an account.
    """

    def __init__(self, path: Path, hash_cost: int = DEFAULT_HASH_COST) -> None:
        self._path = path
        self._hash_cost = hash_cost
        self._lock = threading.Lock()
        self._write_lock = threading.Lock()
        if not path.parent.is_dir():
            raise UserStoreError(f"a pasta {path.parent} não existe")
        self._accounts: dict[str, Account] = self._load(path)
        remove_stale_temp_files(path)
        self._pending: dict[str, Account] = {}  # registered, not yet on disk
        self._version = 0  # bumped on every change to the set of accounts
        self._durable_version = 0  # the newest version known to be on disk
        # Unknown names are checked against this hash, so that a login costs
        # the same time whether the name exists or not: same cost as most accounts.
        self._dummy_hash = PasswordHash.create("batchat-dummy-password", self._typical_cost())
        self._hash_slots = threading.BoundedSemaphore(HASH_CONCURRENCY)
        self._seen_changed = threading.Event()
        threading.Thread(target=self._save_seen_forever, name="visto-por-último", daemon=True).start()

    def _typical_cost(self) -> int:
        """log2 of the scrypt n most stored hashes use (the configured cost if none)."""
        costs = collections.Counter(account.password_hash.n for account in self._accounts.values())
        return costs.most_common(1)[0][0].bit_length() - 1 if costs else self._hash_cost

    @staticmethod
    def _load(path: Path) -> dict[str, Account]:
        try:
            raw = path.read_bytes()
        except FileNotFoundError:
            return {}
        except OSError as error:
            raise UserStoreError(f"não foi possível ler {path}: {error.strerror}") from error
        try:
            accounts: dict[str, Account] = {}
            for record in json.loads(raw)["users"].values():
                name = protocol.validate_name(record["name"])
                if protocol.name_key(name) in accounts:
                    raise ValueError(f"a conta {name} aparece duas vezes")
                accounts[protocol.name_key(name)] = Account(
                    name, PasswordHash.from_json(record["hash"]), _load_last_seen(record)
                )
            return accounts
        except (ValueError, KeyError, TypeError, AttributeError, ProtocolError) as error:
            raise UserStoreError(
                f"o arquivo de contas {path} está corrompido ({error!s}). "
                "Corrija-o ou mova-o para outro lugar; o servidor não inicia por cima dele."
            ) from error

    def __len__(self) -> int:
        with self._lock:
            return len(self._accounts)

    def registered_name(self, name: str) -> str | None:
        """The name as registered of the account called ``name`` (ignoring case), if any."""
        with self._lock:
            account = self._accounts.get(protocol.name_key(name))
        return account.name if account else None

    def accounts(self) -> list[Account]:
        """Every account, sorted by name ignoring case."""
        with self._lock:
            accounts = list(self._accounts.values())
        return sorted(accounts, key=lambda account: (account.name.casefold(), account.name))

    def record_seen(self, name: str, when: float) -> None:
        """Note that ``name`` was online at ``when``; on disk within SEEN_SAVE_DELAY."""
        key = protocol.name_key(name)
        with self._lock:
            account = self._accounts.get(key)
            if account is None:
                return
            self._accounts[key] = dataclasses.replace(account, last_seen=when)
            self._version += 1
        self._seen_changed.set()

    def save(self) -> None:
        """Write what changed now (at shutdown, so no last-seen time is lost)."""
        with self._lock:
            version = self._version
        self._write(version)

    def _save_seen_forever(self) -> None:
        while True:
            self._seen_changed.wait()
            time.sleep(SEEN_SAVE_DELAY)  # gather a burst of logins into one write
            self._seen_changed.clear()
            try:
                self.save()
            except OSError as error:
                log.error("Não foi possível gravar %s: %s; nova tentativa em breve.", self._path, error)
                self._seen_changed.set()

    def register(self, name: str, password: str) -> str:
        """Create an account and return once it is on disk.

        Raises ``USUARIO_EXISTE`` if the name is taken (ignoring case, also by a
        registration still being written), ``INDISPONIVEL`` if the file cannot
        be written. Returns the name as registered.
        """
        key = protocol.name_key(name)
        if self._is_taken(key):  # cheap early answer; the check under the lock decides
            raise self._exists_error()
        account = Account(name, self._hash(lambda: PasswordHash.create(password, self._hash_cost)))
        with self._lock:
            if self._holds_locked(key):
                raise self._exists_error()
            self._pending[key] = account
            self._version += 1
            my_version = self._version
        try:
            self._write(my_version, rollback=key)
        except OSError as error:
            log.error("Não foi possível gravar %s: %s", self._path, error)
            raise ProtocolError(
                ErrorCode.UNAVAILABLE, "Não foi possível criar a conta agora; tente mais tarde."
            ) from error
        return name

    def authenticate(self, name: str, password: str) -> str | None:
        """Return the registered name if the password is right, else ``None``."""
        with self._lock:
            account = self._accounts.get(protocol.name_key(name))
        stored = account.password_hash if account else self._dummy_hash
        if self._hash(lambda: stored.matches(password)) and account:
            return account.name
        return None

    def _is_taken(self, key: str) -> bool:
        with self._lock:
            return self._holds_locked(key)

    def _holds_locked(self, key: str) -> bool:
        """Whether ``key`` is registered or being registered; caller holds ``_lock``."""
        return key in self._accounts or key in self._pending

    def _hash(self, compute: Callable[[], T]) -> T:
        with self._hash_slots:
            return compute()

    @staticmethod
    def _exists_error() -> ProtocolError:
        return ProtocolError(ErrorCode.USER_EXISTS, "Esse nome de usuário já está em uso.")

    def _write(self, version: int, rollback: str | None = None) -> None:
        """Make sure the accounts as of ``version`` are on disk; on failure drop the
        pending account ``rollback`` (a registration) and raise.

        The pending account is removed while ``_write_lock`` is still held, so
        no later write can carry an account that was refused.
        """
        with self._write_lock:
            if self._durable_version >= version:
                return  # another thread's write already carried ours
            with self._lock:
                snapshot = {**self._accounts, **self._pending}
                snapshot_version = self._version
            try:
                write_file_durably(self._path, self._serialize(snapshot.values()))
            except OSError:
                if rollback is not None:
                    with self._lock:
                        del self._pending[rollback]
                        self._version += 1
                raise
            with self._lock:
                self._durable_version = snapshot_version
                for written in snapshot.keys() & self._pending.keys():
                    self._accounts[written] = self._pending.pop(written)

    @staticmethod
    def _serialize(accounts: Iterable[Account]) -> bytes:
        """The whole file: one account per line, sorted, so it stays easy to read.

        Every commit writes every account, so each account's line is encoded
        once (:attr:`Account.json_line`) and a commit only sorts and joins:
        10,000 registrations no longer cost 10,000 re-encodings each.
        """
        users = ",\n".join(sorted(account.json_line for account in accounts))
        return f'{{"version": {USERS_FILE_VERSION}, "users": {{\n{users}\n}}}}\n'.encode("utf-8")


# --- Private messages waiting for their recipient --------------------------------


class MailboxError(StorageError):
    """The offline-messages database cannot be used."""


class MailboxClosed(Exception):
    """The mailbox was closed (the server is stopping): nothing more is written."""


@dataclass(frozen=True)
class WaitingMessage:
    """A private message kept for a user who was offline when it was sent."""

    id: int  # the database's: messages for one recipient go out in this order
    recipient: str  # the recipient's name key
    sender: str
    sent_at: float  # seconds since the epoch
    text: str

    def line(self, *, kept: bool) -> bytes:
        """``PENDENTE`` with its time if ``kept`` (delivered at a login), else a live ``MSG``."""
        if kept:
            return protocol.encode_line(protocol.format_waiting(self.sender, self.sent_at, self.text))
        return protocol.encode_line(protocol.format_private(self.sender, self.text))


_MAILBOX_SCHEMA = """
CREATE TABLE IF NOT EXISTS waiting (
    id INTEGER PRIMARY KEY AUTOINCREMENT,  -- never reused: the order messages were kept in
    recipient TEXT NOT NULL,               -- name key (NFC, casefolded)
    sender TEXT NOT NULL,
    sent_at REAL NOT NULL,                 -- seconds since the epoch, UTC
    text TEXT NOT NULL
)
"""


class Mailbox:
    """Private messages waiting for users who were offline, until they are written to them.

    API: :meth:`store`, :meth:`hand_over`, :meth:`waiting`, :meth:`close`.

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

    Delivery: a message leaves memory when it is put in the recipient's
    outbox, and leaves the disk only once its bytes were written to the
    recipient's socket. If the connection ends before that, it goes back in
    memory, to be delivered at the next login (or at once to a newer session
    of the same user). A crash between the write and the delete means it is
    delivered again: at least once, never lost.
    """

    def __init__(
        self, path: Path, max_pending: int, find_recipient: Callable[[str], Connection | None]
    ) -> None:
        """``find_recipient(name_key)``: the connection of that user if online, else ``None``."""
        self._path = path
        self._max_pending = max_pending
        self._find_recipient = find_recipient
        self._lock = threading.Lock()
        self._db = self._open(path)
        self._waiting: dict[str, list[WaitingMessage]] = collections.defaultdict(list)
        self._kept: collections.Counter[str] = collections.Counter()  # per recipient, in memory or in flight
        for message in self._load(self._db, path):
            self._waiting[message.recipient].append(message)
            self._kept[message.recipient] += 1
        self._jobs: queue.SimpleQueue[tuple[Future[Any], Callable[[sqlite3.Connection], Any]] | None]
        self._jobs = queue.SimpleQueue()
        self._closed = False
        self._writer = threading.Thread(target=self._write_forever, name="mensagens-guardadas", daemon=True)
        self._writer.start()

    @staticmethod
    def _open(path: Path) -> sqlite3.Connection:
        if not path.parent.is_dir():
            raise MailboxError(f"a pasta {path.parent} não existe")
        try:
            # Created private before SQLite opens it; its journal files take the same mode.
            os.close(os.open(path, os.O_RDWR | os.O_CREAT, 0o600))
            # Only the mailbox's own thread uses it after this constructor.
            db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=FULL")  # every commit fsynced: durable before OK
            db.execute(_MAILBOX_SCHEMA)
            return db
        except (sqlite3.Error, OSError) as error:
            raise MailboxError(
                f"o arquivo de mensagens guardadas {path} não pode ser usado ({error}). "
                "Mova-o para outro lugar; o servidor não inicia por cima dele."
            ) from error

    @staticmethod
    def _load(db: sqlite3.Connection, path: Path) -> list[WaitingMessage]:
        try:
            rows = db.execute("SELECT id, recipient, sender, sent_at, text FROM waiting ORDER BY id")
            messages = [WaitingMessage(*row) for row in rows]
        except sqlite3.Error as error:
            raise MailboxError(f"o arquivo de mensagens guardadas {path} está corrompido ({error}).") from error
        for message in messages:
            if not all(isinstance(value, str) for value in (message.recipient, message.sender, message.text)):
                raise MailboxError(f"o arquivo de mensagens guardadas {path} tem uma linha inválida.")
        return messages

    def waiting(self, recipient: str) -> list[WaitingMessage]:
        """The messages kept for ``recipient`` (a name key) and not in any outbox."""
        with self._lock:
            return list(self._waiting.get(recipient, ()))

    def store(self, name: str, sender: str, text: str, *, acknowledged: bool = False) -> None:
        """Keep a message for the user ``name``; return once it is on disk.

        Raises ``CAIXA_CHEIA`` when ``max_pending`` are already kept for them
        (unless the sender was already told it was delivered: ``acknowledged``),
        ``INDISPONIVEL`` when the disk refuses. If the recipient came online
        meanwhile, the message is delivered at once, as a live one.
        """
        recipient = protocol.name_key(name)
        with self._lock:
            if self._closed:
                raise ProtocolError(ErrorCode.UNAVAILABLE, "O servidor está sendo encerrado.")
            full = self._max_pending and self._kept[recipient] >= self._max_pending
            if full and not acknowledged:
                raise ProtocolError(
                    ErrorCode.MAILBOX_FULL,
                    f"Já há {self._kept[recipient]} mensagens esperando por esse usuário; "
                    "tente quando ele estiver online.",
                )
            self._kept[recipient] += 1  # reserved now: parallel senders cannot overshoot
        # The writer thread puts it in memory, in commit order, before this returns.
        insert = functools.partial(_insert_waiting, WaitingMessage(0, recipient, sender, time.time(), text))
        try:
            self._submit(insert).result()
        except (sqlite3.Error, OSError, MailboxClosed) as error:
            log.error("Não foi possível guardar uma mensagem em %s: %s", self._path, error)
            with self._lock:
                self._forget_count_locked(recipient, 1)
            raise ProtocolError(
                ErrorCode.UNAVAILABLE, "Não foi possível guardar a mensagem agora; tente mais tarde."
            ) from error
        # Kept, then checked: a login either took it already or is seen here.
        self._deliver_if_online(recipient, kept=False)

    def hand_over(self, name: str, connection: Connection, then: Callable[[], T]) -> T:
        """Put the messages kept for ``name`` in ``connection``'s outbox, then an
        ``INFO`` with how many there were; then call ``then`` under the same lock.

        ``then`` is the login that makes the recipient findable: doing both
        under one lock means a message stored meanwhile either is among these
        or finds the recipient online (see :meth:`store`), and no live message
        overtakes a kept one. Lock order: this lock, then the registry's, then
        the connection's. Nothing is sent here; the caller flushes.
        """
        with self._lock:
            count = self._put_in_outbox_locked(protocol.name_key(name), connection, kept=True)
            result = then()
        if count:
            log.info("Entregando a %s %d mensagem(ns) guardada(s).", name, count)
        return result

    def close(self) -> None:
        """Finish the disk work queued (deliveries to delete), then stop."""
        with self._lock:
            self._closed = True
            self._jobs.put(None)  # under the lock: no job can come after it (see _submit)
        self._writer.join(CLOSE_GRACE)

    def _deliver_if_online(self, recipient: str, *, kept: bool) -> None:
        """Messages waiting for someone who is online after all: ``kept`` ones (given back
        by a connection that never wrote them) as at login, others as live ones."""
        connection = self._find_recipient(recipient)
        if connection is None:
            return
        with self._lock:
            self._put_in_outbox_locked(recipient, connection, kept=kept)
        connection.flush()

    def _put_in_outbox_locked(self, recipient: str, connection: Connection, *, kept: bool) -> int:
        """Move what waits for ``recipient`` to ``connection``'s outbox; how many went.

        ``kept``: as ``PENDENTE`` lines with their times and the ``INFO`` that
        counts them, let past ``max_queue`` (they are bounded by
        ``max_pending``; refusing them would lock the recipient out for good).
        Else as live ``MSG`` lines: a message stored while its recipient was
        logging in, which missed the login's hand-over by a hair.
        """
        messages = self._waiting.pop(recipient, None)
        if not messages:
            return 0
        data = b"".join(message.line(kept=kept) for message in messages)
        if kept:
            data += protocol.encode_line(protocol.format_waiting_count(len(messages)))
        settle = functools.partial(self._settle, recipient, messages)
        accepted = False
        try:
            accepted = connection.enqueue(data, on_written=settle, bounded=not kept)
        finally:
            if not accepted:
                self._waiting[recipient] = messages  # they wait for the next login
        return len(messages)

    def _settle(self, recipient: str, messages: list[WaitingMessage], written: bool) -> None:
        """The outbox holding ``messages`` was written to the socket, or never will be."""
        if not written:
            with self._lock:
                for message in messages:
                    bisect.insort(self._waiting[recipient], message, key=lambda kept: kept.id)
            self._deliver_if_online(recipient, kept=True)  # a newer login of the same user, perhaps
            return
        with self._lock:
            self._forget_count_locked(recipient, len(messages))
        ids = [(message.id,) for message in messages]
        self._submit(functools.partial(_delete_waiting, ids))  # nobody waits for it

    def _forget_count_locked(self, recipient: str, count: int) -> None:
        self._kept[recipient] -= count
        if self._kept[recipient] <= 0:
            del self._kept[recipient]

    def _submit(self, job: Callable[[sqlite3.Connection], T]) -> Future[T]:
        """Queue ``job`` for the writer thread; after :meth:`close`, it fails at once
        (a delete that never happens only means a message delivered again)."""
        future: Future[T] = Future()
        with self._lock:
            if self._closed:
                future.set_exception(MailboxClosed())
            else:
                self._jobs.put((future, job))
        return future

    def _write_forever(self) -> None:
        """Run the queued disk jobs; all those waiting when one starts share one commit."""
        stopping = False
        while not stopping:
            first = self._jobs.get()
            if first is None:
                break
            batch = [first]
            while len(batch) < MAILBOX_BATCH:
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

    def _commit(self, batch: list[tuple[Future[Any], Callable[[sqlite3.Connection], Any]]]) -> None:
        try:
            self._db.execute("BEGIN IMMEDIATE")
            results = [job(self._db) for _, job in batch]
            self._db.execute("COMMIT")
        except Exception as error:  # every waiting sender must hear of it, whatever it was
            if self._db.in_transaction:
                with contextlib.suppress(sqlite3.Error):  # the failure itself was logged below
                    self._db.execute("ROLLBACK")
            unexpected = not isinstance(error, (sqlite3.Error, OSError))
            log.error("Falha ao gravar em %s: %s", self._path, error, exc_info=unexpected)
            for future, _ in batch:
                future.set_exception(error)
            return
        kept = [result for result in results if isinstance(result, WaitingMessage)]
        if kept:
            with self._lock:  # ids grow with every commit: appending keeps each list in order
                for message in kept:
                    self._waiting[message.recipient].append(message)
        for (future, _), result in zip(batch, results):
            future.set_result(result)


def _insert_waiting(message: WaitingMessage, db: sqlite3.Connection) -> WaitingMessage:
    """Add ``message`` (its id is ignored); the same message with the id it got."""
    row = (message.recipient, message.sender, message.sent_at, message.text)
    cursor = db.execute("INSERT INTO waiting (recipient, sender, sent_at, text) VALUES (?, ?, ?, ?)", row)
    assert cursor.lastrowid is not None
    return dataclasses.replace(message, id=cursor.lastrowid)


def _delete_waiting(ids: list[tuple[int]], db: sqlite3.Connection) -> None:
    db.executemany("DELETE FROM waiting WHERE id = ?", ids)


# --- Rate limits ------------------------------------------------------------------


class TokenBucket:
    """``rate`` tokens per second, holding at most ``burst``; starts full.

    Not locked: each bucket is used by one thread, or under its owner's lock.
    Time is passed in, so tests need no clock.
    """

    def __init__(self, rate: float, burst: float, now: float) -> None:
        self._rate = rate
        self._burst = burst
        self._tokens = burst
        self._stamp = now

    def _refill(self, now: float) -> None:
        self._tokens = min(self._burst, self._tokens + (now - self._stamp) * self._rate)
        self._stamp = now

    def take(self, cost: float, now: float) -> bool:
        """Spend ``cost`` tokens if there are that many (never more than ``burst``)."""
        self._refill(now)
        cost = min(cost, self._burst)  # a TODOS to a crowd is slow, never impossible
        if self._tokens < cost:
            return False
        self._tokens -= cost
        return True

    def give_back(self, cost: float) -> None:
        self._tokens = min(self._burst, self._tokens + cost)

    def is_full(self, now: float) -> bool:
        self._refill(now)
        return self._tokens >= self._burst


class RateLimiter:
    """At most ``per_minute`` events per key per minute (0: unlimited).

    Keys whose budget is full again are forgotten, so memory follows recent
    activity, not every key ever seen.
    """

    def __init__(self, per_minute: int, clock: Callable[[], float] = time.monotonic) -> None:
        self._per_minute = per_minute
        self._clock = clock
        self._lock = threading.Lock()
        self._buckets: dict[Hashable, TokenBucket] = {}
        self._next_prune = 1024

    def __len__(self) -> int:
        with self._lock:
            return len(self._buckets)

    def spend(self, key: Hashable) -> bool:
        """Count one event for ``key``; ``False`` if it is over the limit."""
        if not self._per_minute:
            return True
        with self._lock:
            now = self._clock()
            bucket = self._buckets.get(key)
            if bucket is None:
                self._prune(now)
                bucket = self._buckets[key] = TokenBucket(self._per_minute / 60, self._per_minute, now)
            return bucket.take(1, now)

    def refund(self, key: Hashable) -> None:
        """Give back the event just spent for ``key`` (it turned out not to count)."""
        if not self._per_minute:
            return
        with self._lock:
            bucket = self._buckets.get(key)
            if bucket is not None:
                bucket.give_back(1)

    def _prune(self, now: float) -> None:
        if len(self._buckets) < self._next_prune:
            return
        self._buckets = {k: b for k, b in self._buckets.items() if not b.is_full(now)}
        self._next_prune = max(1024, 2 * len(self._buckets))


# --- Connections ---------------------------------------------------------------


class Connection:
    """One client socket and the bytes waiting to go out on it.

    :meth:`send_encoded` never blocks. When nothing is waiting before it, the
    sending thread writes straight to the socket with a non-blocking send:
    no other thread is woken, which is what keeps a busy server fast. What the
    socket cannot take at once waits in the outbox, and a writer thread,
    started only then and gone again once the outbox stays empty, finishes
    the job with blocking sends. So an idle or fast-reading client costs no
    second thread, and a client that does not read blocks nobody but its own
    writer. When the outbox would pass ``max_queue`` bytes the client is
    dropped: the outbox is thrown away and the socket shut down.

    ``_lock`` belongs to this connection alone. Holding it across a
    non-blocking send is what keeps lines in order, and such a send never
    waits for the network. :meth:`enqueue` does no I/O at all, so it may be
    called under another lock; :meth:`flush` does the sending (and the
    shutdown of a client the enqueue found over its limit).

    With TLS, lines are encrypted as they enter the outbox, under ``_lock``,
    which also serialises every other use of the TLS session (see
    :class:`protocol.TlsEndpoint`); the outbox holds ciphertext.

    ``on_written`` callbacks learn when given bytes have been written to the
    socket (for the mailbox, which deletes a kept message only then), or, when
    the connection ends first, that they never will be.
    """

    def __init__(self, sock: socket.socket, address: tuple[str, int], max_queue: int) -> None:
        self.sock = sock
        self.ip, self.port = system.peer_ip(address), address[1]
        self.drop_reason: str | None = None  # why the server cut this client off
        self._max_queue = max_queue
        self._lock = threading.Lock()
        self._wake_writer = threading.Condition(self._lock)
        self._outbox: collections.deque[bytes] = collections.deque()
        self._queued = 0  # bytes not yet handed to the kernel: outbox plus the writer's batch
        # Bytes enqueued past max_queue on purpose (bounded=False), as a range of
        # the stream: until written, they do not count against max_queue.
        self._exempt_start = self._exempt_end = 0
        self._writer: threading.Thread | None = None  # alive only while there is a backlog
        self._closing = False  # no more lines are accepted
        self._shut = False  # closed and flushed: the socket was shut down
        self._presence: PresenceJournal | None = None  # followed while logged in
        self.presence_seen = 0  # journal index of the next notice to send
        self._tls: protocol.TlsEndpoint | None = None
        self._awaiting_tls = False  # a TLS handshake is under way: no line may go out yet
        self._must_shut_down = False  # dropped by enqueue(); flush() shuts the socket down
        self._enqueued_total = 0  # bytes ever put in the outbox
        self._written_total = 0  # bytes ever handed to the kernel
        # (stream position, callback, whether to call it when written too), in order.
        self._watchers: collections.deque[tuple[int, Callable[[bool], None], bool]] = collections.deque()

    def __str__(self) -> str:
        return protocol.format_address(self.ip, self.port)

    @property
    def accepting(self) -> bool:
        """Whether lines are still accepted (a racy hint: the answer may change at once)."""
        return not self._closing

    def send_line(self, line: str) -> bool:
        """Send ``line``; ``False`` if it was not accepted (closing, or dropped now)."""
        return self.send_encoded(protocol.encode_line(line))

    def expect_tls(self) -> None:
        """A TLS handshake comes first: until :meth:`use_tls`, accept no line (a plaintext
        goodbye at shutdown must not land in the middle of the handshake)."""
        with self._lock:
            self._awaiting_tls = True

    def use_tls(self, endpoint: protocol.TlsEndpoint) -> bytes:
        """From now on, encrypt what goes out and decrypt what comes in. Returns the
        plaintext that already came with the end of the handshake."""
        with self._lock:
            self._tls = endpoint
            self._awaiting_tls = False
        return self.decrypt(b"") or b""

    def send_encoded(
        self, data: bytes, on_written: Callable[[bool], None] | None = None, *, only_if_lost: bool = False
    ) -> bool:
        """Send bytes already encoded (one or more whole lines), as :meth:`send_line` does;
        ``on_written`` and ``only_if_lost`` as for :meth:`enqueue`."""
        accepted = self.enqueue(data, on_written, only_if_lost=only_if_lost)
        self.flush()
        return accepted

    def enqueue(
        self,
        data: bytes,
        on_written: Callable[[bool], None] | None = None,
        *,
        bounded: bool = True,
        only_if_lost: bool = False,
    ) -> bool:
        """Put ``data`` in the outbox without any I/O; :meth:`flush` sends it.

        Presence notices not yet sent go first, so they precede what follows
        them. ``False`` if not accepted: closing, or over ``max_queue`` (the
        client is then dropped at the next flush). ``bounded=False`` lets
        ``data`` past ``max_queue``, for what the caller bounds itself: the
        kept messages and history at login, which must never lock anyone out;
        anything after them still counts them. ``on_written(True)`` is called
        once ``data`` was written to the socket (unless ``only_if_lost``: a
        call per message sent would cost every private message),
        ``on_written(False)`` if it never will be; never while a lock of this
        connection is held.
        """
        with self._lock:
            if self._closing or self._awaiting_tls:
                return False
            self._catch_up_locked()
            if self._closing:  # the catch-up found the TLS session broken
                return False
            # The cheap test first (every message passes here): exempt bytes only lower the count.
            over = self._max_queue and self._queued + len(data) > self._max_queue
            if over and bounded and self._over_limit_locked(len(data)):
                self._drop_locked("a fila de saída encheu: o cliente não está lendo")
                return False
            start = self._enqueued_total
            if not self._append_locked(data):
                return False
            if not bounded:
                self._exempt_locked(start, self._enqueued_total)
            if on_written is not None:
                self._watchers.append((self._enqueued_total, on_written, not only_if_lost))
            return True

    def decrypt(self, data: bytes) -> bytes | None:
        """What the client sent, from bytes received: plaintext (``b""`` for half a TLS
        record), or ``None`` once it has closed its TLS session."""
        if self._tls is None:
            return data
        with self._lock:
            if self._closing:
                return None  # our close_notify went out, or we dropped it: the session is over
            try:
                plaintext, reply = self._tls.decrypt(data)
            except ssl.SSLError as error:
                # A forged or corrupted record: the session is unusable both ways.
                # Closed here, under the lock, so no sender ever meets it broken.
                self._drop_locked(f"TLS inválido: {error.reason or error}")
                raise
            if reply:
                self._push_locked(reply)
        if reply:
            self.flush()
        return plaintext

    def _append_locked(self, data: bytes) -> bool:
        """Queue plaintext lines, encrypted first on a TLS connection; ``False`` if the
        TLS session can no longer encrypt (the connection is then dropped)."""
        if self._tls is not None:
            try:
                data = self._tls.encrypt(data)
            except ssl.SSLError as error:
                self._drop_locked(f"TLS inválido: {error.reason or error}")
                return False
        self._push_locked(data)
        return True

    def _over_limit_locked(self, extra: int) -> bool:
        """Whether ``extra`` more bytes would take the unsent bytes past ``max_queue``,
        not counting what was let past it on purpose and is still unsent."""
        if not self._max_queue:
            return False
        exempt = max(0, self._exempt_end - max(self._written_total, self._exempt_start))
        return self._queued - exempt + extra > self._max_queue

    def _exempt_locked(self, start: int, end: int) -> None:
        if self._exempt_end <= self._written_total:  # the previous range is all written
            self._exempt_start = start
        self._exempt_end = end

    def _drop_locked(self, reason: str) -> None:
        """:meth:`drop` for callers holding the lock: the shutdown (which wakes a writer
        blocked in sendall() and the reader blocked in recv()) waits for the next flush."""
        self._discard_locked(reason)
        self._must_shut_down = True
        self._wake_writer.notify()

    def _push_locked(self, data: bytes) -> None:
        """Queue bytes exactly as they must go on the wire."""
        self._outbox.append(data)
        self._queued += len(data)
        self._enqueued_total += len(data)

    def _written_locked(self, count: int) -> list[Callable[[bool], None]]:
        """``count`` more bytes reached the kernel: the callbacks now due, to run unlocked."""
        self._written_total += count
        if not self._watchers:  # nearly always: only kept and private messages are watched
            return _NOTHING_DUE
        due = []
        while self._watchers and self._watchers[0][0] <= self._written_total:
            _, callback, tell_written = self._watchers.popleft()
            if tell_written:
                due.append(callback)
        return due

    def follow_presence(self, journal: PresenceJournal, start: int) -> None:
        """From now on, send the notices of ``journal`` from index ``start`` on."""
        with self._lock:
            self._presence = journal
            self.presence_seen = start

    def catch_up(self) -> None:
        """Send the presence notices this client has not had yet."""
        journal = self._presence
        if journal is None or self.presence_seen >= journal.end:  # racy, but only a shortcut
            return
        with self._lock:
            if self._closing:
                return
            self._catch_up_locked()
            overflow = self._over_limit_locked(0)
        if overflow:
            self.drop("a fila de saída encheu: o cliente não está lendo")
        else:
            self.flush()

    def _catch_up_locked(self) -> None:
        journal = self._presence
        if journal is not None and self.presence_seen < journal.end:
            data, self.presence_seen = journal.since(self.presence_seen)
            self._append_locked(data)

    def flush(self) -> None:
        """Send what the outbox holds now, without blocking; a writer thread takes the rest."""
        writer = None
        with self._lock:
            must_shut_down, self._must_shut_down = self._must_shut_down, False
            due, backlog = self._send_now_locked()
            if backlog:
                writer = self._writer = threading.Thread(
                    target=self._write_loop, name=f"writer-{self}", daemon=True
                )
        if must_shut_down:
            self._shut_down(socket.SHUT_RDWR)
        if due:
            _run_callbacks(due, True)
        if writer is None:
            return
        try:
            writer.start()
        except RuntimeError as error:  # "can't start new thread"
            with self._lock:
                self._writer = None
            self.drop(f"sem recursos para enviar: {error}")

    def _send_now_locked(self) -> tuple[list[Callable[[bool], None]], bool]:
        """One non-blocking send of the whole outbox: the callbacks now due, and
        whether a writer thread must start for what the socket did not take."""
        if self._writer is not None:
            self._wake_writer.notify()
            return [], False
        if not self._outbox:
            return [], False
        data = b"".join(self._outbox)
        self._outbox.clear()
        try:
            sent = system.send_without_blocking(self.sock, data)
        except OSError as error:
            self._discard_locked(f"falha ao enviar: {error.strerror or error}")
            return [], False
        self._queued -= sent
        due = self._written_locked(sent)
        if sent < len(data):
            self._outbox.append(data[sent:])
        return due, sent < len(data)

    def close(self) -> None:
        """Accept no more lines; what is waiting still goes out, then the socket is shut down."""
        with self._lock:
            if self._tls is not None and not self._closing:
                self._push_locked(self._tls.close())  # close_notify: the end is no truncation
            self._closing = True
        self.flush()  # sends what is waiting, the notices not yet had among it
        with self._lock:
            if self._writer is not None:
                self._wake_writer.notify()  # it shuts the socket down once drained
                return
            if self._shut:
                return
            self._shut = True
        self._shut_down(socket.SHUT_RDWR)

    def drop(self, reason: str) -> None:
        """Cut the client off now: discard what is waiting and shut the socket down."""
        with self._lock:
            self._drop_locked(reason)
        self.flush()  # nothing left to send: it only does the shutdown

    def stop_reading(self) -> None:
        """Make the reader's recv() return at once; waiting lines still go out."""
        self._shut_down(socket.SHUT_RD)

    def finish(self) -> None:
        """Called by the reader thread last: flush, wait a little, then release the socket."""
        self.close()
        writer = self._writer
        if writer is not None:
            writer.join(CLOSE_GRACE)
            if writer.is_alive():
                self.drop("não recebeu as últimas mensagens a tempo")
                writer.join()  # shutdown() makes its sendall() fail at once
        # Every send happens under _lock after a _closing check, and the writer
        # is gone: only now may the file descriptor be closed and reused.
        with self._lock:
            self.sock.close()
            written = [
                callback for mark, callback, tell in self._watchers if mark <= self._written_total and tell
            ]
            unwritten = [callback for mark, callback, _ in self._watchers if mark > self._written_total]
            self._watchers.clear()
        _run_callbacks(written, True)
        _run_callbacks(unwritten, False)

    def wait_flushed(self, timeout: float) -> None:
        writer = self._writer
        if writer is not None:
            writer.join(timeout)

    def _write_loop(self) -> None:
        """Drain the outbox with blocking sends; end when idle, or when closed and drained.

        On the two ways out that touch the socket (closed, failed) the thread
        stays registered as the writer, so :meth:`finish` joins it before the
        socket is closed.
        """
        try:
            while batch := self._next_batch():
                self.sock.sendall(batch)
                with self._lock:
                    self._queued -= len(batch)  # counted against max_queue until sent
                    due = self._written_locked(len(batch))
                if due:
                    _run_callbacks(due, True)
        except OSError as error:
            log.debug("Falha ao enviar para %s: %s", self, error)
            with self._lock:
                self._discard_locked(f"falha ao enviar: {error.strerror or error}")
            self._shut_down(socket.SHUT_RDWR)

    def _next_batch(self) -> bytes:
        """Everything waiting, joined into one send; ``b""`` when the writer should end."""
        with self._lock:
            while not self._outbox and not self._closing:
                if not self._wake_writer.wait(WRITER_LINGER) and not self._outbox:
                    if not self._closing:
                        self._writer = None  # idle: the next backlog starts a new writer
                        return b""
            if self._outbox:
                batch = b"".join(self._outbox)
                self._outbox.clear()
                return batch
            self._shut = True  # closing and drained
        self._shut_down(socket.SHUT_RDWR)
        return b""

    def _discard_locked(self, reason: str) -> None:
        """Accept nothing more and forget what is waiting; the first reason given sticks."""
        if self.drop_reason is None:
            self.drop_reason = reason
        self._closing = True
        self._outbox.clear()
        self._queued = 0

    def _shut_down(self, how: int) -> None:
        try:
            self.sock.shutdown(how)
        except OSError:
            log.debug("Socket de %s já estava desconectado.", self)


_NOTHING_DUE: list[Callable[[bool], None]] = []  # shared, never appended to


def _run_callbacks(callbacks: list[Callable[[bool], None]], written: bool) -> None:
    """Run ``on_written`` callbacks; a bug in one must not kill the thread that sends."""
    for callback in callbacks:
        try:
            callback(written)
        except Exception:
            log.exception("Erro inesperado ao confirmar um envio.")


# --- Who is online -----------------------------------------------------------------


class SessionRegistry:
    """Every open connection, and which logged-in session holds each name.

    API: :meth:`admit`, :meth:`remove_connection`, :meth:`connections`,
    :meth:`log_in`, :meth:`log_out`, :meth:`find`, :meth:`find_online`, :meth:`connection_of`,
    :meth:`names`, :meth:`online_count`, :meth:`broadcast`. Methods return copies.

    Writes take the lock; :meth:`find`, on every private message's path, reads
    without it (a single dict operation is atomic under the GIL). Messages are
    sent after the lock is released, by the caller. Presence notices
    (``ENTROU``/``SAIU``) go into a :class:`PresenceJournal` under the lock, so
    a fast log-out and log-in of one name reach everyone in that order; a
    thread of the registry's own delivers them.

    The last ``history`` public messages are kept too, for those who log in
    later: :meth:`broadcast` records one and picks its recipients under the
    lock, and :meth:`log_in` replays them under it, so a newcomer gets each
    message exactly once, as history or live.
    """

    def __init__(self, max_clients: int = 0, max_per_ip: int = 0, history: int = 0) -> None:
        self._lock = threading.Lock()
        self._max_clients = max_clients
        self._max_per_ip = max_per_ip
        self._by_name: dict[str, ChatSession] = {}
        self._connections: set[Connection] = set()
        self._per_ip: collections.Counter[str] = collections.Counter()
        self._presence = PresenceJournal()
        self._history: collections.deque[bytes] = collections.deque(maxlen=history)
        self._presence_changed = threading.Event()
        threading.Thread(target=self._deliver_presence_forever, name="presença", daemon=True).start()

    def admit(self, connection: Connection) -> str | None:
        """Count a new connection in, or return why it is refused."""
        with self._lock:
            if self._max_clients and len(self._connections) >= self._max_clients:
                return "O servidor está cheio; tente mais tarde."
            if self._max_per_ip and self._per_ip[connection.ip] >= self._max_per_ip:
                return "Conexões demais a partir do seu endereço IP."
            self._connections.add(connection)
            self._per_ip[connection.ip] += 1
        return None

    def remove_connection(self, connection: Connection) -> None:
        with self._lock:
            if connection in self._connections:
                self._connections.remove(connection)
                self._per_ip[connection.ip] -= 1
                if not self._per_ip[connection.ip]:
                    del self._per_ip[connection.ip]

    def connections(self) -> list[Connection]:
        """Every open connection, logged in or not."""
        with self._lock:
            return list(self._connections)

    def log_in(self, session: ChatSession, name: str, reply: bytes = b"") -> ChatSession | None:
        """Make ``session`` the holder of ``name``, replay the public history to it,
        then ``reply`` (``OK ENTRAR``, which ends the login's reply), and tell the
        others it came in. Nothing is sent here; the caller flushes.

        Returns the session it replaced (the same person on an older
        connection), which is marked replaced; nobody else hears of a takeover.
        """
        key = protocol.name_key(name)
        with self._lock:
            if self._history:  # bounded by --history lines: past max_queue if need be
                session.connection.enqueue(b"".join(self._history), bounded=False)
            if reply:  # under the lock too: no live message can come before it
                session.connection.enqueue(reply)
            replaced = self._by_name.get(key)
            self._by_name[key] = session
            if replaced is not None:
                replaced.mark_replaced()
            else:
                self._presence.append(protocol.encode_line(protocol.format_joined(name)))
            # From here on, it hears of everyone else (and not of itself).
            session.connection.follow_presence(self._presence, self._presence.end)
        self._presence_changed.set()
        return replaced

    def log_out(self, session: ChatSession, name: str) -> bool:
        """Remove ``session`` if it still holds ``name``, and tell the others it left.

        ``False`` if ``session`` was not the holder (a newer login replaced it).
        """
        key = protocol.name_key(name)
        with self._lock:
            if self._by_name.get(key) is not session:
                return False
            del self._by_name[key]
            self._presence.append(protocol.encode_line(protocol.format_left(name)))
        self._presence_changed.set()
        return True

    def deliver_presence(self) -> None:
        """Bring every session up to date with the presence journal, one send each,
        then forget the notices everyone has had."""
        for session in list(self._by_name.values()):  # one C call: atomic under the GIL
            session.connection.catch_up()
        if self._presence.kept <= FORGET_AFTER:
            return  # not worth a pass over every session under the lock
        with self._lock:
            seen = (session.connection.presence_seen for session in self._by_name.values())
            self._presence.forget_before(min(seen, default=self._presence.end))

    def _deliver_presence_forever(self) -> None:
        while True:
            self._presence_changed.wait()
            # A short pause lets a burst of logins reach each reader in one send.
            time.sleep(PRESENCE_TICK)
            self._presence_changed.clear()
            try:
                self.deliver_presence()
            except Exception:  # a bug here must not silence presence for good
                log.exception("Erro inesperado ao entregar avisos de presença.")

    def find(self, name: str) -> ChatSession | None:
        # No lock: one dict lookup is atomic under CPython's GIL, and every
        # message does this. Taking the lock here made 100 busy threads queue on
        # it whenever the GIL switched threads inside the critical section.
        return self._by_name.get(protocol.name_key(name))

    def find_online(self, name: str) -> ChatSession | None:
        """The session logged in as ``name``, if its connection still takes lines."""
        session = self.find(name)
        if session is None or session.name is None or not session.connection.accepting:
            return None
        return session

    def connection_of(self, name: str) -> Connection | None:
        """The connection ``name`` is logged in on, if it still takes lines."""
        session = self.find_online(name)
        return None if session is None else session.connection

    def online_count(self) -> int:
        return len(self._by_name)

    @property
    def keeps_history(self) -> bool:
        return self._history.maxlen != 0

    def names(self) -> list[str]:
        """Names online, sorted ignoring case."""
        with self._lock:
            names = [name for session in self._by_name.values() if (name := session.name)]
        return sorted(names, key=lambda name: (name.casefold(), name))

    def broadcast(self, session: ChatSession, history_line: bytes | None) -> list[ChatSession]:
        """Everyone online but ``session``; ``history_line`` joins the history at the
        same moment, so each newcomer has the message once: live or replayed."""
        if history_line is None:  # list(values()): one C call, atomic under the GIL (see find)
            return [other for other in list(self._by_name.values()) if other is not session]
        with self._lock:
            self._history.append(history_line)
            return [other for other in self._by_name.values() if other is not session]


class PresenceJournal:
    """The ``ENTROU``/``SAIU`` notices, written once and read by each session at its own pace.

    Telling n people online that someone came in used to mean n queued lines
    and n sends; n people arriving together made that n² (2,000 logins took
    29 s). Now a login appends one line here, and each connection catches up
    with everything it has not seen in one send: as soon as anything else is
    sent to it (so a notice always comes before the messages that follow it),
    or when the registry's presence thread passes, PRESENCE_TICK later.

    Appends and :meth:`forget_before` happen under the registry's lock;
    :meth:`since` and :attr:`end` read without it: ``_state`` is replaced as a
    whole, and its list only ever grows.
    """

    def __init__(self) -> None:
        self._state: tuple[int, list[bytes]] = (0, [])  # (index of the first line kept, lines)

    @property
    def end(self) -> int:
        """The index the next notice will get."""
        first, lines = self._state
        return first + len(lines)

    @property
    def kept(self) -> int:
        """How many notices are kept."""
        return len(self._state[1])

    def append(self, line: bytes) -> None:
        self._state[1].append(line)

    def since(self, index: int) -> tuple[bytes, int]:
        """The notices from ``index`` on, joined, and the index to continue from."""
        first, lines = self._state
        end = first + len(lines)
        return b"".join(lines[max(0, index - first):end - first]), end

    def forget_before(self, index: int) -> None:
        first, lines = self._state
        if index > first:
            self._state = (index, lines[index - first:])


# --- One client's protocol state ------------------------------------------------------


class SessionEnded(Exception):
    """The session must end now; the argument says why, for the log."""


def limit_error(text: str) -> ProtocolError:
    """``ERRO LIMITE <text>``: one of the limits in :class:`Limits` was hit."""
    return ProtocolError(ErrorCode.LIMIT, text)


@dataclass
class ServerContext:
    """What every session shares: the stores, the limits and the rate limiters."""

    users: UserStore
    registry: SessionRegistry
    mailbox: Mailbox
    limits: Limits
    failed_logins: RateLimiter  # per (account, IP)
    failed_logins_by_ip: RateLimiter  # per IP, any name: bounds the hashing one address can cause
    registrations: RateLimiter


class ChatSession:
    """The protocol state of one connection, and the handler of its commands."""

    def __init__(self, connection: Connection, context: ServerContext) -> None:
        self.connection = connection
        self.name: str | None = None  # set once logged in
        self._context = context
        self._limits = context.limits
        self._replaced = threading.Event()  # set by the registry on a newer login
        self._flood = TokenBucket(self._limits.flood_rate, self._limits.flood_burst, time.monotonic())
        self._flood_strikes = 0  # lines refused in a row for flooding
        # What this session's lines produce, per connection, sent together by
        # flush_output() once everything received in one recv() is handled:
        # one send per destination instead of one per line. Only the session's
        # own reader thread touches it.
        self._outgoing: dict[Connection, list[bytes]] = {}
        # The private messages among them, (recipient, text): kept in the mailbox
        # instead if the recipient's connection closes before they are sent.
        self._private: dict[Connection, list[tuple[str, str]]] = {}

    def mark_replaced(self) -> None:
        """The same account logged in elsewhere: execute nothing more."""
        self._replaced.set()

    def handle_line(self, raw: bytes | LineTooLong) -> None:
        """Decode, parse and execute one framed line; protocol errors become ``ERRO`` replies.

        Raises :class:`SessionEnded` when the session must end.
        """
        if self._replaced.is_set():
            raise SessionEnded("sessão substituída por um novo login")
        try:
            self._charge(1)
            if isinstance(raw, LineTooLong):
                raise ProtocolError(
                    ErrorCode.LINE_TOO_LONG,
                    f"Linha longa demais (máximo de {self._limits.max_line} bytes); descartada.",
                )
            command = protocol.parse_command(protocol.decode_line(raw))
            if command is not None:
                self._execute(command)
        except ProtocolError as error:
            self.send_error(error)
            if error.code is ErrorCode.LIMIT:
                return  # refused: the strikes it added stand
        self._flood_strikes = 0  # a line got through: the client is not flooding

    def send_error(self, error: ProtocolError) -> None:
        self._deliver(self.connection, protocol.encode_line(protocol.format_error(error)))

    def flush_output(self) -> None:
        """Send what the lines handled since the last flush produced, one send per connection."""
        outgoing, self._outgoing = self._outgoing, {}
        private, self._private = self._private, {}
        for connection, parts in outgoing.items():
            data = parts[0] if len(parts) == 1 else b"".join(parts)
            messages = private.get(connection)
            if messages is None:
                connection.send_encoded(data)
                continue
            # Acknowledged already: if they never reach the recipient's socket
            # (refused now, or dropped with the outbox later), keep them.
            keep = functools.partial(self._keep_unwritten, self.name, messages)
            if not connection.send_encoded(data, on_written=keep, only_if_lost=True):
                keep(False)

    def _keep_unwritten(self, sender: str, messages: list[tuple[str, str]], written: bool) -> None:
        """Private messages whose recipient left before they were written to it go to
        the mailbox, as if the recipient had been found offline. Runs in whichever
        thread learns of it, holding no lock."""
        if written:
            return
        for recipient, text in messages:
            try:
                self._context.mailbox.store(recipient, sender, text, acknowledged=True)
            except ProtocolError as error:
                log.error("Mensagem de %s para %s perdida: %s", sender, recipient, error.text)

    def _deliver(self, connection: Connection, data: bytes) -> None:
        """Add encoded lines for ``connection`` to the batch :meth:`flush_output` sends."""
        parts = self._outgoing.get(connection)
        if parts is None:
            self._outgoing[connection] = [data]
        else:
            parts.append(data)

    def _charge(self, cost: float) -> None:
        """Spend flood tokens; refuse the line when short, end the session if it persists."""
        if not self._limits.flood_rate or self._flood.take(cost, time.monotonic()):
            return
        self._flood_strikes += 1
        if self._flood_strikes > self._limits.flood_burst:
            self.send_error(limit_error("Você foi desconectado por enviar mensagens demais."))
            raise SessionEnded("derrubado por excesso de mensagens (flood)")
        raise limit_error("Devagar: mensagens demais por segundo; esta foi descartada.")

    def _execute(self, command: protocol.Command) -> None:
        match command:  # the messages first: they are nearly every line
            case protocol.PrivateMessage(recipient, text):
                self._send_private(recipient, text)
            case protocol.Broadcast(text):
                self._broadcast(text)
            case protocol.Register(name, password):
                self._register(name, password)
            case protocol.Login(name, password):
                self._log_in(name, password)
            case protocol.ListUsers(everyone=False):
                self._require_logged_in()
                self._reply("LISTA", " ".join(self._context.registry.names()))
            case protocol.ListUsers(everyone=True):
                self._list_everyone()
            case protocol.Quit():
                self._reply("SAIR")
                raise SessionEnded("SAIR")
            case protocol.Help():
                for line in protocol.help_lines():
                    self._deliver(self.connection, protocol.encode_line(line))
                self._reply("AJUDA")
            case protocol.Ping():
                self._reply("PING")

    def _reply(self, command: str, detail: str = "") -> None:
        self._deliver(self.connection, protocol.encode_line(protocol.format_ok(command, detail)))

    def _require_logged_in(self) -> str:
        if self.name is None:
            raise ProtocolError(
                ErrorCode.NOT_AUTHENTICATED, "Entre primeiro com ENTRAR <usuário> <senha>."
            )
        return self.name

    def _require_logged_out(self) -> None:
        if self.name is not None:
            raise ProtocolError(ErrorCode.ALREADY_AUTHENTICATED, f"Você já entrou como {self.name}.")

    def _register(self, name: str, password: str) -> None:
        self._require_logged_out()
        if not self._context.registrations.spend(self.connection.ip):
            raise limit_error("Cadastros demais a partir do seu IP; tente daqui a pouco.")
        registered = self._context.users.register(name, password)
        log.info("Conta %s criada a partir de %s.", registered, self.connection)
        self._reply("NOVO", registered)

    def _log_in(self, name: str, password: str) -> None:
        self._require_logged_out()
        attempt_key = (protocol.name_key(name), self.connection.ip)
        # Each attempt takes a token before hashing, so parallel guesses cannot
        # all slip past the check; a successful login gives its tokens back.
        if not self._context.failed_logins.spend(attempt_key):
            raise limit_error("Tentativas de login demais; espere um minuto.")
        if not self._context.failed_logins_by_ip.spend(self.connection.ip):
            self._context.failed_logins.refund(attempt_key)
            raise limit_error("Tentativas de login demais a partir do seu IP; espere um minuto.")
        registered = self._context.users.authenticate(name, password)
        if registered is None:
            log.info("Falha de login a partir de %s.", self.connection)
            raise ProtocolError(ErrorCode.CREDENTIALS, "Usuário ou senha incorretos.")
        self._context.failed_logins.refund(attempt_key)
        self._context.failed_logins_by_ip.refund(self.connection.ip)
        self.name = registered
        # The messages kept for us, the public history and then OK ENTRAR, which
        # ends the reply, go into our outbox before we become visible, so they
        # precede any live message to us; and they leave only once we are
        # visible, so a client that reads OK ENTRAR can at once be written to.
        self.flush_output()
        reply = protocol.encode_line(protocol.format_ok("ENTRAR", registered))
        replaced = self._context.mailbox.hand_over(
            registered,
            self.connection,
            lambda: self._context.registry.log_in(self, registered, reply),
        )
        self.connection.flush()
        self._context.users.record_seen(registered, time.time())
        log.info(
            "%s se conectou com o IP %s por meio da porta %d.",
            registered,
            self.connection.ip,
            self.connection.port,
        )
        if replaced is not None:
            log.info("Sessão anterior de %s (%s) substituída.", registered, replaced.connection)
            error = ProtocolError(
                ErrorCode.SESSION_REPLACED, "Sua conta entrou em outra conexão; esta será encerrada."
            )
            replaced.connection.send_line(protocol.format_error(error))  # not ours: send now
            replaced.connection.stop_reading()

    def _send_private(self, recipient_name: str, text: str) -> None:
        sender = self._require_logged_in()
        recipient = self._context.registry.find_online(recipient_name)
        if recipient is not None and recipient.name is not None:  # name: for the type checker
            self._deliver(recipient.connection, protocol.encode_line(protocol.format_private(sender, text)))
            self._private.setdefault(recipient.connection, []).append((recipient.name, text))
            self._reply("CHAT", recipient.name)
            return
        registered = self._context.users.registered_name(recipient_name)
        if registered is None:
            raise ProtocolError(ErrorCode.UNKNOWN_USER, f"O usuário {recipient_name} não existe.")
        # Our earlier lines first: the recipient may come online while this is
        # stored, and get it at once.
        self.flush_output()
        self._context.mailbox.store(registered, sender, text)
        log.info("Mensagem de %s para %s guardada: %s está offline.", sender, registered, registered)
        self._deliver(self.connection, protocol.encode_line(protocol.format_stored_ok(registered)))

    def _broadcast(self, text: str) -> None:
        sender = self._require_logged_in()
        registry = self._context.registry
        others = max(0, registry.online_count() - 1)
        self._charge(others // FANOUT_PER_TOKEN)  # fan-out counts toward flooding
        self._reply("TODOS")
        history = None
        if registry.keeps_history:
            history = protocol.encode_line(protocol.format_history(sender, time.time(), text))
        data = protocol.encode_line(protocol.format_public(sender, text))
        for recipient in registry.broadcast(self, history):
            self._deliver(recipient.connection, data)

    def _list_everyone(self) -> None:
        """``LISTA TODOS``: a ``USUARIO`` line per account, then ``OK LISTA TODOS``."""
        self._require_logged_in()
        accounts = self._context.users.accounts()
        self._charge(len(accounts) // FANOUT_PER_TOKEN)  # a long answer costs like a fan-out
        online = {protocol.name_key(name) for name in self._context.registry.names()}
        lines = [
            protocol.encode_line(protocol.format_account(
                account.name, protocol.name_key(account.name) in online, account.last_seen
            ))
            for account in accounts
        ]
        self.flush_output()
        # In pieces: the whole answer may be more than max_queue, which limits
        # what waits unsent, not what a fast reader may be sent.
        for start in range(0, len(lines), LIST_CHUNK):
            self.connection.send_encoded(b"".join(lines[start:start + LIST_CHUNK]))
        self._reply("LISTA", "TODOS")

    def end(self, reason: str) -> None:
        """Leave the chat: the others hear ``SAIU`` if we were the session holding our name."""
        if self.name is not None and self._context.registry.log_out(self, self.name):
            self._context.users.record_seen(self.name, time.time())
            log.info("%s saiu do chat (%s).", self.name, reason)


# --- The server ---------------------------------------------------------------


def tls_required_error() -> ProtocolError:
    """The one plaintext line a client without TLS gets on a TLS server."""
    return ProtocolError(
        ErrorCode.WRONG_PROTOCOL,
        "Este servidor BatChat usa TLS. Use: python3 cliente.py --tls --host <servidor>",
    )


@dataclass(frozen=True)
class TlsSettings:
    """The server's certificate, and how long a client may take over the TLS handshake."""

    context: ssl.SSLContext
    timeout: float  # seconds for the whole handshake, from the first byte awaited

    @classmethod
    def load(cls, certificate: Path, key: Path, timeout: float) -> TlsSettings:
        """Raises ``OSError`` (missing file) or ``ssl.SSLError`` (not a matching pair)."""
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.minimum_version = protocol.TLS_MINIMUM_VERSION
        context.load_cert_chain(certificate, key)
        return cls(context, timeout)

    def handshake(self, sock: socket.socket) -> protocol.TlsEndpoint:
        """Run the server side of the handshake on ``sock``, in the calling thread:
        the connection's own, so a client that stalls here never holds up accept().

        Raises :class:`SessionEnded` when it fails or takes longer than ``timeout``.
        """
        deadline = time.monotonic() + self.timeout
        endpoint = protocol.TlsEndpoint(self.context, server_side=True)
        sock.settimeout(self.timeout)  # our sends too: a client may stop reading
        try:
            self._refuse_plaintext(sock, deadline)
            endpoint.complete_handshake(sock.sendall, lambda: self._receive(sock, deadline))
        except TimeoutError:
            raise SessionEnded("TLS: o handshake não terminou a tempo") from None
        except ssl.SSLError as error:
            with contextlib.suppress(OSError):  # the alert that says why, if it still can go
                sock.sendall(endpoint.take_output())
            raise SessionEnded(f"TLS: handshake recusado ({error.reason or error})") from None
        finally:
            sock.settimeout(None)  # back to blocking: Connection relies on it
        return endpoint

    @staticmethod
    def _receive(sock: socket.socket, deadline: float, flags: int = 0, size: int = RECV_SIZE) -> bytes:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError
        sock.settimeout(remaining)
        data = sock.recv(size, flags)
        if not data:
            raise SessionEnded("TLS: o cliente desconectou durante o handshake")
        return data

    def _refuse_plaintext(self, sock: socket.socket, deadline: float) -> None:
        """A client that starts with anything but a TLS record gets one plaintext line;
        so does one that says nothing at all (a plaintext client waiting for our
        greeting: a TLS client always speaks first)."""
        try:
            first = self._receive(sock, deadline, socket.MSG_PEEK, 1)
        except TimeoutError:
            first = b""
        if protocol.foreign_protocol(first) != "TLS":
            sock.settimeout(CLOSE_GRACE)
            sock.sendall(protocol.encode_line(protocol.format_error(tls_required_error())))
            raise SessionEnded("cliente sem TLS na porta TLS" if first else "TLS: o cliente não disse nada")


class ChatServer:
    """Accept connections and run one thread per connection until :meth:`shutdown`."""

    def __init__(
        self,
        host: str,
        port: int,
        users: UserStore,
        limits: Limits,
        *,
        mailbox_path: Path,
        history: int = DEFAULT_HISTORY,
        tls: TlsSettings | None = None,
    ) -> None:
        self._limits = limits
        self._tls = tls
        self._registry = SessionRegistry(limits.max_clients, limits.max_per_ip, history)
        self._mailbox = Mailbox(mailbox_path, limits.max_pending, self._registry.connection_of)
        self._context = ServerContext(
            users,
            self._registry,
            self._mailbox,
            limits,
            RateLimiter(limits.login_rate),
            RateLimiter(limits.login_rate * FAILED_LOGINS_PER_IP_FACTOR),
            RateLimiter(limits.register_rate),
        )
        self._listener = system.open_listener(host, port, LISTEN_BACKLOG)
        self._listener.setblocking(False)  # accept until none is left, then back to select()
        self._stopping = threading.Event()
        self._wake_reader, self._wake_writer = socket.socketpair()
        self._last_refusal_log = -math.inf  # only the accept loop touches these two
        self._refusals_not_logged = 0

    @property
    def address(self) -> tuple[str, int]:
        host, port = self._listener.getsockname()[:2]
        return system.peer_ip((host,)), port

    def serve_forever(self) -> None:
        """Accept connections until :meth:`shutdown` is called, then close them all."""
        with selectors.DefaultSelector() as selector:
            selector.register(self._listener, selectors.EVENT_READ)
            selector.register(self._wake_reader, selectors.EVENT_READ)
            while not self._stopping.is_set():
                for key, _ in selector.select(ACCEPT_WAKE):
                    if key.fileobj is self._listener:
                        self._accept()
        self._close_everything()

    def shutdown(self) -> None:
        """Ask :meth:`serve_forever` to stop; safe from a signal handler or any thread."""
        self._stopping.set()
        try:
            self._wake_writer.send(b"x")
        except OSError:
            log.debug("O servidor já estava acordado para encerrar.")

    def _accept(self) -> None:
        """Accept the connections waiting, up to ACCEPT_BATCH: a storm drains in few wake-ups."""
        for _ in range(ACCEPT_BATCH):
            try:
                sock, address = self._listener.accept()
            except BlockingIOError:
                return
            except OSError as error:
                self._accept_failed(error)
                return
            sock.setblocking(True)  # the listener is not; each connection's thread blocks
            self._start_session(sock, address)

    def _start_session(self, sock: socket.socket, address: tuple[str, int]) -> None:
        connection = Connection(sock, address, self._limits.max_queue)
        if self._tls is not None:
            connection.expect_tls()
        refusal = self._registry.admit(connection)
        if refusal is not None:
            self._refuse(connection, refusal)
            return
        try:
            threading.Thread(
                target=self._serve_connection,
                args=(connection,),
                name=f"conn-{connection}",
                # Daemon on purpose: shutdown closes every socket itself and waits a
                # bounded time, so one stuck thread can never keep the process alive.
                daemon=True,
            ).start()
        except RuntimeError as error:  # "can't start new thread": out of memory or limits
            log.error("Sem recursos para atender %s: %s", connection, error)
            self._registry.remove_connection(connection)
            sock.close()

    def _accept_failed(self, error: OSError) -> None:
        if error.errno in (errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM):
            # The pending connection stays in the backlog and the listener stays
            # readable: pause, or this loop would spin and flood the log.
            log.error("Sem recursos para aceitar conexões (%s); pausa de %.1f s.", error.strerror, ACCEPT_PAUSE)
            self._stopping.wait(ACCEPT_PAUSE)
        else:
            log.warning("Falha ao aceitar conexão: %s", error)

    def _refuse(self, connection: Connection, reason: str) -> None:
        """Tell a connection over the limits why, without ever blocking, and close it."""
        self._log_refusal(connection, reason)
        line = protocol.format_error(limit_error(reason))
        try:
            connection.sock.setblocking(False)
            connection.sock.send(protocol.encode_line(line))
        except OSError:
            log.debug("Não foi possível avisar %s da recusa.", connection)
        connection.sock.close()

    def _log_refusal(self, connection: Connection, reason: str) -> None:
        """At most one log line per second for refused connections: they cost nothing to make."""
        now = time.monotonic()
        if now - self._last_refusal_log < 1.0:
            self._refusals_not_logged += 1
            return
        more = f" (e mais {self._refusals_not_logged} recusadas)" if self._refusals_not_logged else ""
        log.warning("Conexão de %s recusada: %s%s", connection, reason, more)
        self._last_refusal_log = now
        self._refusals_not_logged = 0

    def _serve_connection(self, connection: Connection) -> None:
        session = ChatSession(connection, self._context)
        log.info("Nova conexão de %s.", connection)
        reason = "conexão encerrada pelo cliente"
        try:
            self._prepare_socket(connection.sock)
            early = b""  # lines that came in the same packets as the end of the TLS handshake
            if self._tls is not None:
                early = connection.use_tls(self._tls.handshake(connection.sock))
            connection.send_line(
                protocol.format_info("Bem-vindo ao BatChat! Digite AJUDA para ver os comandos.")
            )
            self._read_lines(connection, session, early)
        except SessionEnded as ended:
            reason = str(ended)
        except OSError as error:
            reason = f"erro de conexão: {error.strerror or error}"
        except Exception:
            reason = "erro interno"
            log.exception("Erro inesperado na conexão %s.", connection)
        finally:
            try:
                session.flush_output()  # the replies to the last lines read, SAIR's among them
            finally:  # whatever happened above, the session must not stay online
                session.end(connection.drop_reason or reason)
                connection.finish()
                self._registry.remove_connection(connection)
                log.info("Conexão de %s encerrada (%s).", connection, connection.drop_reason or reason)

    def _save_last_seen(self) -> None:
        """Whoever is still online was last seen now: on disk before the process ends."""
        now = time.time()
        for name in self._registry.names():
            self._context.users.record_seen(name, now)
        try:
            self._context.users.save()
        except OSError as error:
            log.error("Não foi possível gravar quando cada um foi visto por último: %s", error)

    def _prepare_socket(self, sock: socket.socket) -> None:
        # Every flush already sends everything waiting in one call: Nagle's
        # algorithm would only hold small replies back waiting for an ACK.
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if self._limits.idle_timeout:
            system.set_keepalive(sock, self._limits.idle_timeout)

    def _receive(self, connection: Connection, session: ChatSession, deadline: float) -> bytes:
        """The next bytes from the client; before login, ends the session at the deadline.

        The deadline is waited on apart, never with a socket timeout: the socket
        stays blocking, so the writer thread's sends never change mode.
        """
        if session.name is None and self._limits.login_timeout:
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not system.wait_readable(connection.sock, remaining):
                session.send_error(limit_error("Tempo para entrar esgotado; conexão encerrada."))
                raise SessionEnded("não entrou a tempo")
        return connection.sock.recv(RECV_SIZE)

    def _read_lines(self, connection: Connection, session: ChatSession, early: bytes = b"") -> None:
        """Handle every line the client sends, starting with ``early``, until it leaves."""
        framer = protocol.LineFramer(self._limits.max_line)
        login_deadline = time.monotonic() + self._limits.login_timeout
        head = b""  # the connection's first bytes, until its first line is complete
        first_line = True
        for data in self._plaintext(connection, session, login_deadline, early):
            if first_line:
                head = (head + data)[:FOREIGN_HEAD]
                self._refuse_foreign_protocol(head, session)
            try:
                lines = framer.feed(data)
            except protocol.FramingError as error:
                session.send_error(
                    ProtocolError(ErrorCode.LINE_TOO_LONG, "Dados demais sem quebra de linha.")
                )
                raise SessionEnded(f"linha sem fim: {error}") from None
            for raw in lines:
                first_line = False
                session.handle_line(raw)
            session.flush_output()

    def _plaintext(
        self, connection: Connection, session: ChatSession, login_deadline: float, early: bytes
    ) -> Iterator[bytes]:
        """What the client sends, decrypted if need be, chunk by chunk, starting with
        ``early``; ends when the client closes the connection (or its TLS session)."""
        if early:
            yield early
        while received := self._receive(connection, session, login_deadline):
            data = connection.decrypt(received)
            if data is None:
                return
            if data:  # else part of a TLS record: no plaintext yet
                yield data

    @staticmethod
    def _refuse_foreign_protocol(data: bytes, session: ChatSession) -> None:
        """An HTTP request or a TLS handshake gets one clear line, then the door."""
        name = protocol.foreign_protocol(data)
        if name is not None:
            session.send_error(protocol.foreign_protocol_error(name))
            raise SessionEnded(f"cliente falando {name}, não BatChat")

    def _close_everything(self) -> None:
        log.info("Encerrando o servidor...")
        self._listener.close()
        connections = self._registry.connections()
        goodbye = protocol.format_info("O servidor está sendo encerrado. Até logo!")
        for connection in connections:
            connection.send_line(goodbye)
            connection.close()
        deadline = time.monotonic() + CLOSE_GRACE
        for connection in connections:
            connection.wait_flushed(max(0.0, deadline - time.monotonic()))
        self._mailbox.close()
        self._save_last_seen()
        self._wake_reader.close()
        self._wake_writer.close()
        status_log.info("Servidor encerrado.")


# --- Command line ----------------------------------------------------------------


def _bounded(kind: Callable[[str], float], maximum: float) -> Callable[[str], Any]:
    """argparse type: a finite number from 0 to ``maximum``."""

    def parse(text: str) -> Any:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"valor inválido: {text!r}") from None
        if not (math.isfinite(value) and 0 <= value <= maximum):
            raise argparse.ArgumentTypeError(f"deve estar entre 0 e {maximum:g}, não {text}")
        return value

    return parse


# (option, type, largest value, help) for each field of Limits, in --help order.
# TCP_KEEPIDLE takes at most 32767 s; other maxima only keep values sane.
_LIMIT_OPTIONS: list[tuple[str, Callable[[str], float], float, str]] = [
    ("max_line", int, 2**24, "bytes por linha, contando a quebra de linha"),
    ("max_queue", int, 2**30, "bytes esperando envio para um cliente; além disso ele é desconectado"),
    ("flood_rate", float, 1e6, "linhas por segundo por conexão, em média"),
    ("flood_burst", int, 1e6, "linhas seguidas permitidas depois de um tempo quieto (1 ou mais)"),
    ("login_rate", int, 1e6, "logins errados por minuto, por conta e IP (e 4 vezes isso por IP)"),
    ("register_rate", int, 1e6, "cadastros (NOVO) por minuto, por IP"),
    ("max_clients", int, 1e7, "conexões ao todo"),
    ("max_per_ip", int, 1e7, "conexões a partir de um mesmo IP"),
    ("login_timeout", float, 86400, "segundos para entrar (ENTRAR) depois de conectar"),
    ("idle_timeout", float, 32767, "segundos de silêncio até o servidor testar se o cliente ainda existe"),
    ("max_pending", int, 1e6, "mensagens privadas guardadas para um usuário offline; além disso, CAIXA_CHEIA"),
]


def parse_arguments(argv: list[str] | None = None) -> Any:
    parser = protocol.PortugueseArgumentParser(
        "Servidor do BatChat: um chat TCP com um protocolo de linhas em português. "
        "Nos limites, 0 desliga o limite.",
    )
    parser.option(
        "--host",
        default="0.0.0.0",
        help="endereço onde escutar; 0.0.0.0 aceita de outras máquinas, 127.0.0.1 só desta",
    )
    parser.option(
        "--port",
        type=protocol.port_number,
        default=DEFAULT_PORT,
        help="porta TCP; 0 escolhe uma porta livre e a mostra",
    )
    parser.option(
        "--users", type=Path, default=Path("users.json"), help="arquivo das contas, criado se não existir"
    )
    parser.option(
        "--mailbox",
        type=Path,
        help="arquivo SQLite das mensagens guardadas para quem está offline "
        "(padrão: mailbox.sqlite3 na pasta de --users)",
    )
    parser.option(
        "--history",
        type=_bounded(int, MAX_HISTORY),
        default=DEFAULT_HISTORY,
        metavar="N",
        help="mensagens públicas (TODOS) mostradas a quem entra; 0 desliga",
    )
    parser.option("--tls-cert", type=Path, metavar="ARQUIVO", help="certificado (PEM): liga o TLS")
    parser.option("--tls-key", type=Path, metavar="ARQUIVO", help="chave privada (PEM) do certificado")
    parser.option(
        "--tls-timeout",
        type=_bounded(float, 3600),
        default=DEFAULT_TLS_TIMEOUT,
        metavar="S",
        help="segundos que um cliente tem para completar o handshake TLS",
    )
    parser.option(
        "--hash-cost",
        type=int,
        default=DEFAULT_HASH_COST,
        choices=range(1, 21),
        metavar="N",
        help="custo do scrypt para senhas novas, n = 2**N; valores baixos só para testes",
    )
    parser.option(
        "--log-level",
        default="INFO",
        choices=["DEBUG", "INFO", "WARNING", "ERROR"],
        help="detalhe do log",
    )
    defaults = Limits()
    for name, kind, maximum, text in _LIMIT_OPTIONS:
        parser.option(
            "--" + name.replace("_", "-"),
            type=_bounded(kind, maximum),
            default=getattr(defaults, name),
            metavar="N",
            help=text,
        )
    args = parser.parse_args(argv)
    if args.flood_rate and not args.flood_burst:
        parser.error("--flood-burst deve ser 1 ou mais quando --flood-rate está ligado")
    if (args.tls_cert is None) != (args.tls_key is None):
        parser.error("--tls-cert e --tls-key vão juntos")
    if args.tls_cert is not None and not args.tls_timeout:
        parser.error("--tls-timeout deve ser maior que 0")
    if args.mailbox is None:
        args.mailbox = args.users.parent / "mailbox.sqlite3"
    return args


def limits_from(args: Any) -> Limits:
    return Limits(**{field.name: getattr(args, field.name) for field in fields(Limits)})


def data_folder_problem(folder: Path) -> str | None:
    """Why the server cannot keep its files in ``folder`` (a sentence saying what to
    do), or ``None``. Checked at start-up, so the person hears it at once, not at
    the first NOVO; the folder is named, not a file that does not exist yet."""
    shown = folder.resolve()
    advice = "Rode o servidor numa pasta sua, ou indique outra com --users <pasta>/users.json."
    if not folder.exists():
        return f"A pasta {shown} não existe, e o servidor não inicia sem ela. Crie-a ou: {advice}"
    if not folder.is_dir():
        return f"{shown} não é uma pasta, e o servidor não inicia sem uma. {advice}"
    try:
        tempfile.TemporaryFile(dir=folder).close()
    except OSError as error:
        return (
            f"Não é possível gravar na pasta {shown} ({describe_os_error(error)}). "
            "O servidor guarda nela as contas e as mensagens, e não inicia sem isso. " + advice
        )
    return None


def listen_problem(host: str, port: int, error: OSError) -> str:
    """What went wrong opening the listening socket, as a sentence that says what to do."""
    where = protocol.format_address(host, port)
    if isinstance(error, socket.gaierror):
        return (
            f"O endereço {host} não foi encontrado: não é um IP nem um nome que este computador "
            "conheça. Confira o --host (por exemplo --host 0.0.0.0 para aceitar de qualquer lugar)."
        )
    if error.errno == errno.EADDRINUSE:
        return (
            f"Outro programa já usa a porta {port} (talvez outro servidor BatChat); "
            f"rode com --port {port + 1 if port < 65535 else 5050} ou pare o outro programa."
        )
    if error.errno == errno.EACCES:
        return (
            f"Sem permissão para usar {where}: portas abaixo de 1024 são reservadas ao "
            "administrador. Rode com --port 5050 (ou outra acima de 1023)."
        )
    if error.errno == errno.EADDRNOTAVAIL:
        return (
            f"O endereço {host} não é de nenhuma interface deste computador; rode com "
            "--host 0.0.0.0 (todas as interfaces) ou o IP de uma delas."
        )
    return f"Não foi possível escutar em {where} ({describe_os_error(error)})."


def describe_os_error(error: OSError) -> str:
    """The system's reason, after a Portuguese word where we know one."""
    known = {errno.EACCES: "permissão negada", errno.EPERM: "operação não permitida",
             errno.EROFS: "sistema de arquivos somente leitura", errno.ENOSPC: "disco cheio"}
    reason = known.get(error.errno or 0)
    system_text = error.strerror or str(error)
    return f"{reason}; o sistema disse: {system_text}" if reason else f"o sistema disse: {system_text}"


def tune_threads() -> None:
    """Small thread stacks and a longer GIL switch interval (see the constants)."""
    threading.stack_size(THREAD_STACK_SIZE)
    sys.setswitchinterval(SWITCH_INTERVAL)


def main(argv: list[str] | None = None) -> int:
    args = parse_arguments(argv)
    logging.basicConfig(
        level=args.log_level,
        format="%(asctime)s %(levelname)s %(message)s",
        stream=sys.stderr,
    )
    status_log.setLevel(logging.INFO)
    open_files = system.raise_open_file_limit()
    if open_files is not None:
        log.debug("Até %d arquivos abertos (cada cliente usa um).", open_files)
    tune_threads()
    tls = None
    if args.tls_cert is not None:
        try:
            tls = TlsSettings.load(args.tls_cert, args.tls_key, args.tls_timeout)
        except OSError as error:  # ssl.SSLError is one too: not PEM, or key and cert do not match
            reason = getattr(error, "reason", None) or error.strerror or error
            log.critical(
                "Não foi possível usar o certificado %s com a chave %s: %s",
                args.tls_cert, args.tls_key, reason,
            )
            return 1
    for folder in {args.users.parent, args.mailbox.parent}:
        if (problem := data_folder_problem(folder)) is not None:
            log.critical("%s", problem)
            return 1
    try:
        users = UserStore(args.users, args.hash_cost)
        server = ChatServer(
            args.host, args.port, users, limits_from(args),
            mailbox_path=args.mailbox, history=args.history, tls=tls,
        )
    except StorageError as error:
        log.critical("Não foi possível iniciar: %s", error)
        return 1
    except OSError as error:
        log.critical("%s", listen_problem(args.host, args.port, error))
        return 1

    def stop(signal_name: str) -> None:
        log.info("Sinal %s recebido.", signal_name)
        server.shutdown()

    system.on_stop_request(stop)
    host, port = server.address
    status_log.info(
        "Servidor BatChat pronto em %s%s (%d contas em %s).",
        protocol.format_address(host, port), " com TLS" if tls else "", len(users), args.users,
    )
    server.serve_forever()
    return 0

