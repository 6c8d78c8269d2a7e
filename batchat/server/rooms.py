"""Rooms, kept across restarts: storage only.

Owns :class:`RoomStore`: every room (name, topic, owner, when it was created,
closed or not), who is in each (by account name key), and every room's last
lines, ``#geral``'s included, in one SQLite file (``salas.sqlite3`` in the data
folder), mirrored in memory. It formats no line and delivers nothing: the chat
service asks it who is in a room and what was said there, and tells the
connections itself. Called only by the chat service and the server (which
opens it at the start and closes it at the end).
"""

from __future__ import annotations

import collections
import contextlib
import functools
import logging
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import protocol
from protocol import ErrorCode, ProtocolError
from batchat.locks import tiered_lock
from batchat.rooms_names import GENERAL, room_key, room_name
from batchat.server import tiers
from batchat.server.sqlite_files import GroupCommitWriter, WriterClosed, message_problem, open_durable, time_problem
from batchat.server.storage import StorageError

log = logging.getLogger(__name__)

DEFAULT_ROOM_HISTORY = 100  # lines each room keeps
# Seconds append_soon's lines wait, so that many share one writer job and one commit: each
# commit (fsync) costs the server more CPU than a TODOS's delivery (bench/README.md).
HISTORY_DELAY = 0.05
MAX_TOPIC_LENGTH = 200  # characters
SCHEMA_VERSION = 1  # PRAGMA user_version of a file this module made

_SCHEMA = {  # table: its columns, in order, as CREATE TABLE makes them
    "rooms": ("key", "name", "topic", "owner", "created_at", "closed"),
    "members": ("room", "member"),
    "lines": ("id", "room", "sender", "sent_at", "text"),
}
_CREATE = (
    """CREATE TABLE rooms (
        key TEXT PRIMARY KEY,       -- '#' plus the name key: the room's identity
        name TEXT NOT NULL,         -- '#' plus the name in NFC, as created
        topic TEXT,                 -- NULL: none
        owner TEXT,                 -- name key of who created it; NULL for #geral
        created_at REAL NOT NULL,   -- seconds since the epoch, UTC
        closed INTEGER NOT NULL     -- 1: closed (no members; its lines kept)
    ) WITHOUT ROWID""",
    # #geral has no rows here: everyone is in it.
    "CREATE TABLE members (room TEXT NOT NULL, member TEXT NOT NULL, PRIMARY KEY (room, member)) WITHOUT ROWID",
    "CREATE TABLE lines (id INTEGER PRIMARY KEY, room TEXT NOT NULL, sender TEXT NOT NULL, "
    "sent_at REAL NOT NULL, text TEXT NOT NULL)",
    "CREATE INDEX lines_by_room ON lines (room, id)",
    f"PRAGMA user_version = {SCHEMA_VERSION}",
)
_INSERT_INTO = "INSERT INTO lines (room, sender, sent_at, text) VALUES "
_INSERT = _INSERT_INTO + "(?, ?, ?, ?)"
ROWS_PER_INSERT = 200  # 4 parameters a row: under SQLite's oldest limit of 999 a statement
# Everything of a room's lines but its newest ?2.
_TRIM = ("DELETE FROM lines WHERE room = :room AND id <= "
         "(SELECT id FROM lines WHERE room = :room ORDER BY id DESC LIMIT 1 OFFSET :keep)")


def _insert_lines(db: sqlite3.Connection, rows: list[tuple[str, str, float, str]]) -> int:
    """Insert ``rows`` (room, sender, sent_at, text) in one statement per ROWS_PER_INSERT, not
    one per row: the sqlite3 module gives up the GIL at every statement, and under a busy
    #geral each of those was a hand-off between threads (bench/README.md). The last row's id."""
    last = 0
    for start in range(0, len(rows), ROWS_PER_INSERT):
        chunk = rows[start:start + ROWS_PER_INSERT]
        values = ", ".join(["(?, ?, ?, ?)"] * len(chunk))
        last = db.execute(_INSERT_INTO + values, [field for row in chunk for field in row]).lastrowid or 0
    return last


class RoomsError(StorageError):
    """The rooms' file cannot be used (damaged, or of an unknown schema)."""


class RoomRefused(Exception):
    """What the rooms' state does not allow; the message is a sentence for the person.
    The subclass says which refusal it is (the chat service picks the error code by it)."""


class UnknownRoom(RoomRefused):
    """No room has that name."""


class RoomExists(RoomRefused):
    """A room of that name is open already (#geral always is)."""


class RoomClosed(RoomRefused):
    """The room was closed: nobody is in it, nothing is said in it, until it is created again."""


class GeneralRoom(RoomRefused):
    """#geral is everyone's: it is not left nor closed, and its members are not listed here."""


@dataclass(frozen=True)
class RoomInfo:
    name: str  # '#' plus the name, capitals as created
    topic: str | None
    owner: str | None  # name key of who created it (None: #geral)
    created_at: float  # seconds since the epoch
    closed: bool


@dataclass(frozen=True)
class Line:
    """One message said in a room."""

    # Its place among every line of the store, rising (0 in a store that keeps no lines):
    # a session that replayed a room's lines up to id N skips a live line of id <= N.
    id: int
    sender: str  # the sender's name, as they log in
    sent_at: float  # seconds since the epoch
    text: str


def _key_problem(key: object) -> str | None:
    """What is wrong with an account's name key (a member or an owner), or ``None``."""
    if not (isinstance(key, str) and key and protocol.name_key(key) == key
            and not protocol.FORBIDDEN_CHARS.search(key) and not any(c.isspace() for c in key)):
        return "chave de conta inválida"
    return None


def topic_problem(topic: object) -> str | None:
    """What is wrong with a topic (``None`` is no topic), as a sentence, or ``None``."""
    if topic is None:
        return None
    if not isinstance(topic, str) or not topic.strip() or len(topic) > MAX_TOPIC_LENGTH \
            or protocol.FORBIDDEN_CHARS.search(topic):
        return f"O tópico precisa ter de 1 a {MAX_TOPIC_LENGTH} caracteres, sem caracteres de controle."
    return None


class _Index:
    """The memory of the store: what the file says, read without touching the disk.
    Changed only by :class:`RoomStore` under its lock, after the change is committed."""

    def __init__(self, max_lines: int) -> None:
        self.max_lines = max_lines
        self.rooms: dict[str, RoomInfo] = {}  # room key -> the room
        self.members: dict[str, frozenset[str]] = {}  # room key -> name keys (open rooms but #geral)
        self.rooms_of: dict[str, frozenset[str]] = {}  # name key -> room keys
        self.lines: dict[str, collections.deque[Line]] = {}  # room key -> its last lines, oldest first

    def put_room(self, info: RoomInfo) -> None:
        key = room_key(info.name)
        self.rooms[key] = info
        self.lines.setdefault(key, collections.deque(maxlen=self.max_lines))
        if not info.closed and key != GENERAL:
            self.members.setdefault(key, frozenset())

    def add_members(self, room: str, keys: Iterable[str]) -> None:
        keys = frozenset(keys)
        self.members[room] = self.members[room] | keys
        for key in keys:
            self.rooms_of[key] = self.rooms_of.get(key, frozenset()) | {room}

    def remove_members(self, room: str, keys: Iterable[str]) -> None:
        keys = frozenset(keys)
        self.members[room] = self.members[room] - keys
        for key in keys:
            left = self.rooms_of[key] - {room}
            if left:
                self.rooms_of[key] = left
            else:
                del self.rooms_of[key]

    def close_room(self, room: str) -> None:
        self.remove_members(room, self.members[room])
        del self.members[room]
        self.rooms[room] = replace(self.rooms[room], closed=True)


@dataclass(frozen=True)
class _Done:
    """A committed job: how the memory follows the disk, and what the caller gets."""

    change: Callable[[_Index], None]
    result: Any


class RoomStore:
    """Every room, its members and its last lines, on disk and mirrored in memory.

    Changes: :meth:`create`, :meth:`close_room`, :meth:`set_topic`, :meth:`join`,
    :meth:`leave`, :meth:`move`, :meth:`append` (and :meth:`append_soon`, which does not
    wait): each is one transaction,
    committed (fsynced) before the call returns, so nothing acknowledged is lost
    at a SIGKILL; calls made at the same moment share one commit (one thread of
    the store's own does all the disk work: :class:`GroupCommitWriter`). Reads:
    :meth:`info`, :meth:`rooms`, :meth:`members`, :meth:`is_member`,
    :meth:`rooms_of`, :meth:`history`: from memory, no disk I/O, cheap enough for
    every message's fan-out. The lock is a leaf (``tiers.LEAF``): nothing else
    is taken while it is held, and it never guards the disk.

    Room arguments take any spelling of a name (with or without ``#``, any
    capitals); a bad one raises :class:`~batchat.rooms_names.InvalidRoomName`
    (a ``ValueError``), as do a bad account key, topic or line. What the rooms'
    state refuses raises a :class:`RoomRefused`; a failed write raises
    ``ProtocolError(INDISPONIVEL)`` (logged here).

    ``#geral`` is always there and open, everyone is in it (it has no member
    rows), and its lines are kept like any room's.
    """

    def __init__(self, path: Path, max_lines: int = DEFAULT_ROOM_HISTORY,
                 clock: Callable[[], float] = time.time) -> None:
        if max_lines < 0:
            raise ValueError("max_lines must be 0 or more")
        self._path = path
        self._max_lines = max_lines
        self._lock = tiered_lock(tiers.LEAF, "RoomStore")  # guards _index, never the disk
        self._index = _Index(max_lines)
        self._soon: collections.deque[tuple[str, float, str]] = collections.deque()  # append_soon's lines
        self._soon_due = False  # the flusher will queue the writer's job for them
        self._soon_ready = threading.Event()  # the first line of a batch was queued
        self._closing = threading.Event()
        db = self._open(path)
        try:
            self._start(db, clock)
        except RoomsError:
            db.close()  # a failed start removes the files it created: nothing may keep them open
            raise
        self._writer = GroupCommitWriter(db, path, "salas", self._apply)
        threading.Thread(target=self._flush_soon_forever, name="histórico-geral", daemon=True).start()

    # --- The start -------------------------------------------------------------

    def _refusal(self, problem: object) -> RoomsError:
        return RoomsError(f"o arquivo das salas {self._path} não pode ser usado ({problem}); "
                          "corrija-o ou mova-o para outro lugar: o servidor não inicia por cima dele.")

    def _open(self, path: Path) -> sqlite3.Connection:
        if not path.parent.is_dir():
            raise RoomsError(f"a pasta {path.parent} não existe")
        try:
            return open_durable(path)
        except (sqlite3.Error, OSError) as error:
            raise self._refusal(error) from error

    def _start(self, db: sqlite3.Connection, clock: Callable[[], float]) -> None:
        """Check the schema (making it in a new file), then load and check every row."""
        try:
            with _transaction(db):
                self._check_schema(db)
                if db.execute("SELECT 1 FROM rooms WHERE key = ?", (GENERAL,)).fetchone() is None:
                    db.execute("INSERT INTO rooms VALUES (?, ?, NULL, NULL, ?, 0)", (GENERAL, GENERAL, clock()))
                self._load(db)
                for room in self._index.rooms:  # the option may have become smaller
                    db.execute(_TRIM, {"room": room, "keep": self._max_lines})
        except sqlite3.Error as error:
            raise self._refusal(error) from error

    def _check_schema(self, db: sqlite3.Connection) -> None:
        tables = {row[0] for row in db.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'")}
        version = db.execute("PRAGMA user_version").fetchone()[0]
        if not tables and version == 0:
            for statement in _CREATE:
                db.execute(statement)
            return
        found = {table: tuple(row[0] for row in db.execute("SELECT name FROM pragma_table_info(?)", (table,)))
                 for table in tables}
        if version != SCHEMA_VERSION or found != _SCHEMA:
            raise self._refusal(f"esquema desconhecido, versão {version}: não foi este servidor que o criou")

    def _load(self, db: sqlite3.Connection) -> None:
        """Every row into memory, each checked: a damaged one stops the start with one sentence
        naming the file and the row, instead of failing someone's message later."""
        for row in db.execute("SELECT key, name, topic, owner, created_at, closed FROM rooms"):
            self._check(_room_row_problem(row), "sala", row[0])
            self._index.put_room(RoomInfo(row[1], row[2], row[3], row[4], bool(row[5])))
        for room, member in db.execute("SELECT room, member FROM members ORDER BY room, member"):
            self._check(_key_problem(member) or self._open_room_problem(room), "membro", f"{room} {member}")
            self._index.add_members(room, (member,))
        for row_id, room, sender, sent_at, text in db.execute(
                "SELECT id, room, sender, sent_at, text FROM lines ORDER BY id"):
            problem = message_problem(sender, sent_at, text)
            if room not in self._index.rooms:
                problem = "sala que não existe"
            self._check(problem, "linha", row_id)
            self._index.lines[room].append(Line(row_id, sender, sent_at, text))

    def _open_room_problem(self, room: object) -> str | None:
        info = self._index.rooms.get(room)  # type: ignore[arg-type]
        if info is None or info.closed or room == GENERAL:
            return "sala que não existe, encerrada ou #geral"
        return None

    def _check(self, problem: str | None, what: str, which: object) -> None:
        if problem is not None:
            raise self._refusal(f"{what} {str(which)[:60]!r}: {problem}")

    # --- Reads: memory only ----------------------------------------------------

    def info(self, room: str) -> RoomInfo:
        """The room ``room`` names; raises :class:`UnknownRoom`."""
        key = room_key(room)
        with self._lock:
            return self._known_locked(key, room)

    def rooms(self) -> list[RoomInfo]:
        """Every room, closed ones included: #geral first, then by name key."""
        with self._lock:
            keys = sorted(self._index.rooms, key=lambda key: (key != GENERAL, key))
            return [self._index.rooms[key] for key in keys]

    def members(self, room: str) -> frozenset[str]:
        """The name keys in ``room`` (none, once closed); raises :class:`UnknownRoom`, and
        :class:`GeneralRoom` for #geral (everyone: the registry knows who is online)."""
        key = room_key(room)
        if key == GENERAL:
            raise GeneralRoom(f"Todo mundo está em {GENERAL}.")
        with self._lock:
            self._known_locked(key, room)
            return self._index.members.get(key, frozenset())

    def is_member(self, room: str, key: str) -> bool:
        """Whether the account ``key`` is in ``room`` (always, for #geral; never, for a
        room that does not exist)."""
        room = room_key(room)
        with self._lock:
            return room == GENERAL or key in self._index.members.get(room, ())

    def rooms_of(self, key: str) -> list[str]:
        """The names of the rooms the account ``key`` is in, by name key; #geral is not
        among them (everyone is in it)."""
        with self._lock:
            keys = sorted(self._index.rooms_of.get(key, ()))
            return [self._index.rooms[room].name for room in keys]

    def history(self, room: str, count: int) -> list[Line]:
        """The last ``count`` lines said in ``room`` (at most the store's ``max_lines``),
        oldest first; raises :class:`UnknownRoom`."""
        key = room_key(room)
        with self._lock:
            self._known_locked(key, room)
            lines = self._index.lines[key]
            return list(lines)[max(0, len(lines) - count):] if count > 0 else []

    def _known_locked(self, key: str, room: str) -> RoomInfo:
        info = self._index.rooms.get(key)
        if info is None:
            raise UnknownRoom(f"A sala {room_name(room)} não existe.")
        return info

    # --- Changes: durable before they return -----------------------------------

    def create(self, room: str, owner: str, now: float) -> RoomInfo:
        """Create ``room`` (or open again a closed one: its lines kept, its topic gone),
        with ``owner`` (a name key) in it; raises :class:`RoomExists`."""
        name = room_name(room)
        _require(_key_problem(owner))
        _require(time_problem(now))
        return self._run(functools.partial(_create, RoomInfo(name, None, owner, now, False)))

    def close_room(self, room: str) -> frozenset[str]:
        """Close ``room``: everyone leaves it, its lines stay. Returns who was in it.
        Raises :class:`UnknownRoom`, :class:`RoomClosed`, or :class:`GeneralRoom`."""
        return self._run(functools.partial(_close, room_key(room)))

    def set_topic(self, room: str, topic: str | None) -> RoomInfo:
        """Set the topic of ``room`` (``None``: none); #geral has one too. Returns the room.
        Raises :class:`UnknownRoom` or :class:`RoomClosed`, ``ValueError`` for a bad topic."""
        _require(topic_problem(topic))
        return self._run(functools.partial(_set_topic, room_key(room), topic))

    def join(self, room: str, key: str) -> bool:
        """Put the account ``key`` in ``room``; ``False`` if it was in already (always, for
        #geral). Raises :class:`UnknownRoom` or :class:`RoomClosed`."""
        return bool(self.move(room, [key]))

    def move(self, room: str, keys: Iterable[str]) -> frozenset[str]:
        """Put every account of ``keys`` in ``room`` at once (one transaction); returns
        those that were not in it yet. Raises :class:`UnknownRoom` or :class:`RoomClosed`."""
        keys = frozenset(keys)
        for key in keys:
            _require(_key_problem(key))
        room = room_key(room)
        if room == GENERAL:
            return frozenset()
        return self._run(functools.partial(_add_members, room, keys))

    def leave(self, room: str, key: str) -> bool:
        """Take the account ``key`` out of ``room``; ``False`` if it was not in it.
        Raises :class:`UnknownRoom`, or :class:`GeneralRoom` (nobody leaves #geral)."""
        room = room_key(room)
        if room == GENERAL:
            raise GeneralRoom(f"Ninguém sai de {GENERAL}: todo mundo está sempre nela.")
        return self._run(functools.partial(_remove_member, room, key))

    def append(self, room: str, sender: str, when: float, text: str) -> Line:
        """Keep what ``sender`` said in ``room`` (an open room, or #geral), dropping the
        oldest beyond ``max_lines``; returns the line, with its id. Raises :class:`UnknownRoom` or
        :class:`RoomClosed`, ``ValueError`` for a line that could not be shown as typed."""
        _require(message_problem(sender, when, text))
        line = Line(0, sender, when, text)
        return self._run(functools.partial(_append, room_key(room), line, self._max_lines))

    def append_soon(self, sender: str, when: float, text: str) -> None:
        """A line said in #geral (a ``TODOS``), kept without waiting for the disk: it joins
        the queue, and :data:`HISTORY_DELAY` after the first line queued one job of the writer
        keeps them all in one commit (one trim); a failure is logged. The caller checked the
        line already (a parsed TODOS from a logged-in name). Every TODOS passes here, so it
        costs a deque append and a flag: no lock, no check (bench/README.md: the ``OK`` of
        TODOS promises delivery, not history, and waiting for the fsync would slow it down)."""
        self._soon.append((sender, when, text))  # deque.append: atomic, and popped by the writer's job
        if not self._soon_due:
            self._soon_due = True  # two callers may both set it: one batch all the same
            self._soon_ready.set()

    def _flush_soon_forever(self) -> None:
        """:data:`HISTORY_DELAY` after the first line of a batch, the writer's job for all of
        them; one thread for the life of the store (a timer thread per batch cost a
        thread start, 20 a second under a busy #geral). Ends when the store closes."""
        while self._soon_ready.wait() and not self._closing.wait(HISTORY_DELAY):
            self._soon_ready.clear()  # before the job: a line after it sets it again
            self._submit_queued()

    def _submit_queued(self) -> None:
        self._writer.submit(self._append_queued).add_done_callback(self._log_failure)

    def _append_queued(self, db: sqlite3.Connection) -> _Done:
        """The writer's job for :meth:`append_soon`: every line queued until now."""
        self._soon_due = False  # first: a line queued from now on starts a timer of its own
        rows = []
        while self._soon:
            sender, when, text = self._soon.popleft()
            rows.append((GENERAL, sender, when, text))
        # Only the newest max_lines can stay: the older ones would be trimmed in this very
        # commit, so they are never written (a busy #geral queues hundreds in 50 ms).
        rows = rows[-self._max_lines:] if self._max_lines else []
        if not rows:
            return _Done(_unchanged, 0)
        last = _insert_lines(db, rows)  # one writer: the ids are consecutive
        db.execute(_TRIM, {"room": GENERAL, "keep": self._max_lines})
        lines = [Line(last - len(rows) + 1 + index, *row[1:]) for index, row in enumerate(rows)]

        def change(index: _Index) -> None:
            index.lines[GENERAL].extend(lines)
        return _Done(change, len(lines))

    def _log_failure(self, future: Any) -> None:
        error = future.exception()
        if error is not None and not isinstance(error, WriterClosed):
            log.error("Uma linha não foi guardada no histórico em %s: %s", self._path, error)

    def close(self) -> None:
        """Finish the writes already queued (:meth:`append_soon`'s lines too) and close the
        file (the server is stopping); every change after this fails with ``INDISPONIVEL``."""
        self._closing.set()
        self._soon_ready.set()  # wakes the flusher, which ends
        if self._soon:
            self._submit_queued()  # now, not after the delay
        self._writer.close()

    def _run(self, job: Callable[[sqlite3.Connection], _Done]) -> Any:
        try:
            return self._writer.run(job).result
        except (sqlite3.Error, OSError, WriterClosed) as error:
            log.error("Não foi possível gravar em %s: %s", self._path, str(error) or "o servidor está parando")
            raise ProtocolError(ErrorCode.UNAVAILABLE, "Não foi possível gravar agora; tente mais tarde.") from error

    def _apply(self, done: list[_Done]) -> None:
        """Called by the writer thread once ``done`` is on disk: memory follows, in order."""
        with self._lock:
            for job in done:
                job.change(self._index)


@contextlib.contextmanager
def _transaction(db: sqlite3.Connection) -> Iterator[None]:
    """``with _transaction(db):`` one transaction of the start: committed, or rolled back
    (unless SQLite already did, after some errors: the error itself is what is raised)."""
    db.execute("BEGIN IMMEDIATE")
    try:
        yield
    except BaseException:
        if db.in_transaction:
            db.execute("ROLLBACK")
        raise
    db.execute("COMMIT")


def _unchanged(index: _Index) -> None:
    """The change of a job that changed nothing."""


def _require(problem: str | None) -> None:
    if problem is not None:
        raise ValueError(problem)


def _room_row_problem(row: tuple[Any, ...]) -> str | None:
    key, name, topic, owner, created_at, closed = row
    try:
        if not isinstance(name, str) or room_name(name) != name or room_key(name) != key:
            return "nome ou chave da sala inválidos"
    except ValueError:
        return "nome de sala inválido"
    if key == GENERAL and (closed or owner is not None):
        return "#geral não fecha nem tem dono"
    if type(closed) is not int or closed not in (0, 1):
        return "'closed' deve ser 0 ou 1"
    return time_problem(created_at) or topic_problem(topic) or (None if owner is None else _key_problem(owner))


# --- The jobs: run by the writer thread, inside a transaction --------------------


def _state(db: sqlite3.Connection, room: str) -> tuple[str, bool]:
    """The name of the room whose key is ``room``, and whether it is closed; raises :class:`UnknownRoom`."""
    row = db.execute("SELECT name, closed FROM rooms WHERE key = ?", (room,)).fetchone()
    if row is None:
        raise UnknownRoom(f"A sala {room} não existe.")
    return row[0], bool(row[1])


def _open_state(db: sqlite3.Connection, room: str) -> str:
    name, closed = _state(db, room)
    if closed:
        raise RoomClosed(f"A sala {name} foi encerrada.")
    return name


def _create(info: RoomInfo, db: sqlite3.Connection) -> _Done:
    room = room_key(info.name)
    row = db.execute("SELECT name, closed FROM rooms WHERE key = ?", (room,)).fetchone()
    if row is not None and not row[1]:
        raise RoomExists(f"A sala {row[0]} já existe.")
    db.execute("INSERT OR REPLACE INTO rooms VALUES (?, ?, NULL, ?, ?, 0)",
               (room, info.name, info.owner, info.created_at))
    db.execute("INSERT INTO members VALUES (?, ?)", (room, info.owner))

    def change(index: _Index) -> None:
        index.put_room(info)
        index.add_members(room, (info.owner,))  # type: ignore[arg-type]
    return _Done(change, info)


def _close(room: str, db: sqlite3.Connection) -> _Done:
    if room == GENERAL:
        raise GeneralRoom(f"{GENERAL} não pode ser encerrada.")
    _open_state(db, room)
    members = frozenset(row[0] for row in db.execute("SELECT member FROM members WHERE room = ?", (room,)))
    db.execute("DELETE FROM members WHERE room = ?", (room,))
    db.execute("UPDATE rooms SET closed = 1 WHERE key = ?", (room,))
    return _Done(lambda index: index.close_room(room), members)


def _set_topic(room: str, topic: str | None, db: sqlite3.Connection) -> _Done:
    _open_state(db, room)
    db.execute("UPDATE rooms SET topic = ? WHERE key = ?", (topic, room))
    row = db.execute("SELECT name, topic, owner, created_at, closed FROM rooms WHERE key = ?", (room,)).fetchone()
    info = RoomInfo(row[0], row[1], row[2], row[3], bool(row[4]))
    return _Done(lambda index: index.put_room(info), info)


def _add_members(room: str, keys: frozenset[str], db: sqlite3.Connection) -> _Done:
    _open_state(db, room)
    added = frozenset(key for key in sorted(keys) if db.execute(
        "INSERT OR IGNORE INTO members VALUES (?, ?)", (room, key)).rowcount == 1)
    return _Done(lambda index: index.add_members(room, added), added)


def _remove_member(room: str, key: str, db: sqlite3.Connection) -> _Done:
    _state(db, room)
    if db.execute("DELETE FROM members WHERE room = ? AND member = ?", (room, key)).rowcount != 1:
        return _Done(_unchanged, False)
    return _Done(lambda index: index.remove_members(room, (key,)), True)


def _append(room: str, line: Line, max_lines: int, db: sqlite3.Connection) -> _Done:
    _open_state(db, room)
    if max_lines:
        line = replace(line, id=db.execute(_INSERT, (room, line.sender, line.sent_at, line.text)).lastrowid)
        db.execute(_TRIM, {"room": room, "keep": max_lines})
    return _Done(lambda index: index.lines[room].append(line), line)
