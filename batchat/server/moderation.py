"""The teacher's moderation state, on disk in ``moderacao.sqlite3``: storage only.

Owns :class:`Moderation`: the sanctions per account (mute, kick wait, ban),
the pinned announcement, exam mode (private messages between students closed)
and the append-only record of the teacher's acts, in one SQLite file mirrored
in memory. It decides nothing: who may do what, and what a sanction does to
a session, are the chat service's. Called by the chat service (every read and
write) and the server (open at start, close at shutdown).
"""

from __future__ import annotations

import collections
import contextlib
import enum
import logging
import math
import sqlite3
import time
import weakref
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

import protocol
from protocol import ErrorCode, ProtocolError
from batchat.locks import tiered_lock
from batchat.server import tiers
from batchat.server.sqlite_files import open_durable
from batchat.server.storage import StorageError

log = logging.getLogger(__name__)


FILE_NAME = "moderacao.sqlite3"  # in the data folder, beside users.json


SCHEMA_VERSION = 1  # PRAGMA user_version of a file this code wrote; any other is refused


ACTS_IN_MEMORY = 500  # the newest acts, kept in memory for last_acts (REGISTRO reads at most this many)


NOBODY = "-"  # the teacher of an act nobody did over the network (``--professor`` at start), or no target


class ModerationError(StorageError):
    """``moderacao.sqlite3`` cannot be used."""


class Kind(enum.Enum):
    """What a sanction forbids; the value is what the file keeps."""

    MUTE = "MUTE"  # TODOS, and CHAT to a student
    KICK = "KICK"  # ENTRAR, for the wait after EXPULSAR
    BAN = "BAN"  # ENTRAR


@dataclass(frozen=True)
class Sanction:
    """One sanction on an account, as the teacher gave it."""

    kind: Kind
    until: float | None  # seconds since the epoch; None: forever
    teacher: str  # the registered spelling
    reason: str  # "" when none was given

    def in_force(self, now: float) -> bool:
        return self.until is None or now < self.until


@dataclass(frozen=True)
class Sanctions:
    """The sanctions in force on one account at one moment; ``None`` where there is none."""

    mute: Sanction | None = None
    kick: Sanction | None = None
    ban: Sanction | None = None

    def __bool__(self) -> bool:
        return any((self.mute, self.kick, self.ban))


NO_SANCTIONS = Sanctions()


@dataclass(frozen=True)
class Announcement:
    """The pinned ``AVISO``: every login gets it before ``OK ENTRAR``."""

    teacher: str
    text: str


@dataclass(frozen=True)
class PrivateState:
    """Whether private messages between students are open (exam mode is ``open=False``),
    and who set it last (``None``: nobody ever did, they are open)."""

    open: bool = True
    teacher: str | None = None


@dataclass(frozen=True)
class Act:
    """One line of the record: ``ACAO <quando> <professor> <ato> <alvo> [detalhe]``."""

    when: float  # seconds since the epoch
    teacher: str  # registered spelling, or NOBODY
    act: str  # the command word: AVISO, SILENCIAR, ..., PROFESSOR
    target: str  # a user's spelling, or NOBODY
    detail: str  # "" when none


_SCHEMA = (
    """CREATE TABLE sanctions (
        name_key TEXT NOT NULL,   -- the name's skeleton (teaching.sanction_key)
        kind TEXT NOT NULL,       -- MUTE, KICK or BAN
        until REAL,               -- seconds since the epoch, UTC; NULL: forever
        teacher TEXT NOT NULL,
        reason TEXT NOT NULL,
        PRIMARY KEY (name_key, kind)
    )""",
    """CREATE TABLE settings (   -- one row per setting: 'pinned', 'private'
        name TEXT PRIMARY KEY,
        teacher TEXT NOT NULL,
        value TEXT NOT NULL       -- the announcement's text; 'open' or 'closed'
    )""",
    """CREATE TABLE acts (       -- append-only
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        at REAL NOT NULL,         -- seconds since the epoch, UTC
        teacher TEXT NOT NULL,
        act TEXT NOT NULL,
        target TEXT NOT NULL,
        detail TEXT NOT NULL
    )""",
)

class Moderation:
    """The moderation state, mirrored in memory, written through to SQLite.

    API: :meth:`sanction`, :meth:`lift`, :meth:`current`, :meth:`pin`,
    :meth:`unpin`, :meth:`pinned`, :meth:`set_private_open`,
    :meth:`private_state`, :meth:`record`, :meth:`last_acts`, :meth:`close`.
    Every write also takes an optional :class:`Act`, appended to the record
    in the same transaction: the act and its effect are on disk together or not at all.
    Arguments a server line could not carry (a bad name, a control character,
    a time off the calendar) raise ``ValueError``: the caller checks them first.

    Reads (on every TODOS and CHAT, at every login) take only ``_lock``, a
    leaf (``tiers.LEAF``), and never touch the disk. A write takes
    ``_write_lock`` (``tiers.MODERATION_FILE``: a queue, held across the
    commit on purpose, as ``UserStore``'s for users.json), commits, then
    updates the memory under ``_lock``: it returns only once on disk
    (``synchronous=FULL``: a committed act survives a SIGKILL and a power
    cut), and readers see the writes in the order they were committed.
    Writes are rare (a teacher's commands), so each is one transaction.
    """

    def __init__(self, path: Path | None, clock: Callable[[], float] = time.time) -> None:
        """Open (or create) the file at ``path``; ``None``: a store in memory only, for
        the tests' contexts (see :meth:`in_memory`)."""
        self._path = path
        self._clock = clock
        self._lock = tiered_lock(tiers.LEAF, "Moderation")  # guards the memory below, never the disk
        self._write_lock = tiered_lock(tiers.MODERATION_FILE, "Moderation.write")  # orders the commits
        self._db = _open(path)
        try:
            state = _load(self._db, path)
        except ModerationError:
            self._db.close()  # a failed start removes the files it created: nothing may keep them open
            raise
        self._sanctions, self._pinned, self._private, acts = state
        self._acts: collections.deque[Act] = collections.deque(acts, maxlen=ACTS_IN_MEMORY)
        self._closed = False
        self.quiet = self._quiet_locked()  # nobody alone here yet: no lock needed

    @classmethod
    def in_memory(cls) -> Moderation:
        """A store that keeps nothing on disk: what a context built for a test gets. Its
        database closes when the store is dropped (tests make many, and close few)."""
        store = cls(None)
        weakref.finalize(store, store._db.close)
        return store

    # --- reads: memory only -------------------------------------------------

    quiet: bool  # see _quiet_locked: read without the lock, set under it

    def current(self, key: str, now: float | None = None) -> Sanctions:
        """The sanctions on the account ``key`` (a name key) in force at ``now``
        (the clock's time if omitted); expired ones are left out."""
        now = self._clock() if now is None else now
        with self._lock:
            found = self._sanctions.get(key)
        if not found:
            return NO_SANCTIONS
        live = {kind: sanction for kind, sanction in found.items() if sanction.in_force(now)}
        return Sanctions(live.get(Kind.MUTE), live.get(Kind.KICK), live.get(Kind.BAN)) if live else NO_SANCTIONS

    def pinned(self) -> Announcement | None:
        with self._lock:
            return self._pinned

    def private_state(self) -> PrivateState:
        with self._lock:
            return self._private

    def last_acts(self, count: int) -> list[Act]:
        """The last ``count`` acts (at most ``ACTS_IN_MEMORY``), oldest first."""
        with self._lock:
            if count <= 0:
                return []
            return list(self._acts)[-count:]

    # --- writes: on disk before they return ------------------------------------

    def sanction(self, key: str, kind: Kind, until: float | None, teacher: str, reason: str = "",
                 act: Act | None = None) -> Sanction:
        """Put ``kind`` on the account ``key`` (a name key) until ``until`` (``None``:
        forever), replacing one of the same kind; the others stay."""
        given = Sanction(kind, until, teacher, reason)
        _refuse(_sanction_problem(key, given))

        def change(db: sqlite3.Connection) -> None:
            db.execute("INSERT OR REPLACE INTO sanctions (name_key, kind, until, teacher, reason) VALUES (?, ?, ?, ?, ?)",
                       (key, kind.value, until, teacher, reason))

        def mirror() -> None:
            self._sanctions.setdefault(key, {})[kind] = given

        self._write(change, mirror, act)
        return given

    def lift(self, key: str, act: Act | None = None) -> None:
        """Lift every sanction on the account ``key``: mute, kick wait and ban."""
        self._write(lambda db: db.execute("DELETE FROM sanctions WHERE name_key = ?", (key,)),
                    lambda: self._sanctions.pop(key, None), act)

    def pin(self, teacher: str, text: str, act: Act | None = None) -> Announcement:
        """Pin ``text`` as the announcement every login gets, replacing the one before."""
        announcement = Announcement(teacher, text)
        _refuse(_names_problem(teacher) or _text_problem(text, empty_ok=False))
        self._write(
            lambda db: _put_setting(db, "pinned", teacher, text),
            lambda: setattr(self, "_pinned", announcement),
            act,
        )
        return announcement

    def unpin(self, act: Act | None = None) -> None:
        self._write(lambda db: db.execute("DELETE FROM settings WHERE name = 'pinned'"),
                    lambda: setattr(self, "_pinned", None), act)

    def set_private_open(self, open: bool, teacher: str, act: Act | None = None) -> PrivateState:
        """Open (``True``) or close (``False``: exam mode) private messages between students."""
        state = PrivateState(open, teacher)
        _refuse(_names_problem(teacher))
        self._write(lambda db: _put_setting(db, "private", teacher, "open" if open else "closed"),
                    lambda: setattr(self, "_private", state), act)
        return state

    def record(self, when: float, teacher: str, act: str, target: str, detail: str = "") -> Act:
        """Append one act to the record, on its own (the writes above take theirs along)."""
        done = Act(when, teacher, act, target, detail)
        self._write(None, None, done)
        return done

    def close(self) -> None:
        """No write after this one; waits for the one under way."""
        with self._write_lock:
            if not self._closed:
                self._closed = True
                self._db.close()

    def _write(self, change: Callable[[sqlite3.Connection], Any] | None, mirror: Callable[[], Any] | None,
               act: Act | None) -> None:
        """Commit ``change`` and ``act`` in one transaction, then apply ``mirror`` to the
        memory. If the disk refuses, or the store is closed, nothing changed and
        ``INDISPONIVEL`` is raised, ready to be the reply."""
        if act is not None:
            _refuse(_act_problem(act))
        with self._write_lock:
            if self._closed:
                raise ProtocolError(ErrorCode.UNAVAILABLE, "O servidor está sendo encerrado.")
            try:
                self._db.execute("BEGIN IMMEDIATE")
                if change is not None:
                    change(self._db)
                if act is not None:
                    self._db.execute("INSERT INTO acts (at, teacher, act, target, detail) VALUES (?, ?, ?, ?, ?)",
                                     (act.when, act.teacher, act.act, act.target, act.detail))
                self._db.execute("COMMIT")
            except (sqlite3.Error, OSError) as error:
                if self._db.in_transaction:
                    with contextlib.suppress(sqlite3.Error):  # the failure itself is logged here
                        self._db.execute("ROLLBACK")
                log.error("Falha ao gravar em %s: %s", self._path, error)
                raise ProtocolError(
                    ErrorCode.UNAVAILABLE, "Não foi possível gravar isso agora; tente mais tarde."
                ) from error
            with self._lock:
                if mirror is not None:
                    mirror()
                    self.quiet = self._quiet_locked()
                if act is not None:
                    self._acts.append(act)

    def _quiet_locked(self) -> bool:
        """Whether nothing holds anyone back: no sanction kept (even an expired one) and
        no exam mode. Kept in :attr:`quiet`, the message path's one-read shortcut
        (item 12 of the unlocked reads in :mod:`batchat.server.tiers`)."""
        return not self._sanctions and self._private.open


# --- opening and checking the file -----------------------------------------------


def _unusable(path: Path | None, error: BaseException) -> ModerationError:
    return ModerationError(
        f"o arquivo de moderação {path} não pode ser usado ({error}). "
        "Mova-o para outro lugar; o servidor não inicia por cima dele."
    )


def _open(path: Path | None) -> sqlite3.Connection:
    """The file open in WAL mode with ``synchronous=FULL``, its schema created if new
    (``None``: a database in memory)."""
    if path is not None and not path.parent.is_dir():
        raise ModerationError(f"a pasta {path.parent} não existe")
    db: sqlite3.Connection | None = None
    try:
        db = open_durable(path)  # used under _write_lock by whichever thread writes
        _create_or_check_schema(db, path)
        return db
    except (sqlite3.Error, OSError, ModerationError) as error:
        if db is not None:
            db.close()  # nothing may keep it open: a failed start removes the files it created
        if isinstance(error, ModerationError):
            raise
        raise _unusable(path, error) from error


def _create_or_check_schema(db: sqlite3.Connection, path: Path | None) -> None:
    """A new (empty) file gets the schema and its version; any other must have this
    code's version, or the start stops: its tables might mean something else."""
    version = db.execute("PRAGMA user_version").fetchone()[0]
    tables = db.execute("SELECT count(*) FROM sqlite_master").fetchone()[0]
    if version == 0 and tables == 0:
        db.execute("BEGIN IMMEDIATE")
        for statement in _SCHEMA:
            db.execute(statement)
        db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        db.execute("COMMIT")
    elif version != SCHEMA_VERSION:
        raise ModerationError(
            f"o arquivo de moderação {path} tem um formato desconhecido (versão {version}; "
            f"este servidor lê a versão {SCHEMA_VERSION}). "
            "Use o servidor que o criou, ou mova-o para outro lugar; o servidor não inicia por cima dele."
        )


_State = tuple[dict[str, dict[Kind, Sanction]], Optional[Announcement], PrivateState, list[Act]]


def _load(db: sqlite3.Connection, path: Path | None) -> _State:
    """Everything in the file, each row checked: a damaged one stops the start with one
    sentence naming the file and the row, instead of a wrong answer (or a forged
    server line) later."""
    try:
        sanction_rows = db.execute("SELECT name_key, kind, until, teacher, reason FROM sanctions").fetchall()
        setting_rows = db.execute("SELECT name, teacher, value FROM settings").fetchall()
        act_rows = db.execute(
            "SELECT id, at, teacher, act, target, detail FROM acts ORDER BY id DESC LIMIT ?", (ACTS_IN_MEMORY,)
        ).fetchall()
    except sqlite3.Error as error:
        raise ModerationError(
            f"o arquivo de moderação {path} está corrompido ({error}). "
            "Mova-o para outro lugar; o servidor não inicia por cima dele."
        ) from error
    sanctions: dict[str, dict[Kind, Sanction]] = {}
    for key, kind, until, teacher, reason in sanction_rows:
        sanction = _checked(path, f"sanção de {str(key)[:40]!r}",
                            lambda: _sanction_from_row(key, kind, until, teacher, reason))
        sanctions.setdefault(key, {})[sanction.kind] = sanction
    pinned, private = _settings(path, setting_rows)
    acts = [_checked(path, f"ação {row[0]}", lambda row=row: _act_from_row(row)) for row in reversed(act_rows)]
    return sanctions, pinned, private, acts


def _invalid_row(path: Path | None, what: str, problem: str) -> ModerationError:
    return ModerationError(
        f"o arquivo de moderação {path} tem um registro inválido ({what}: {problem}). "
        "Corrija-o ou mova-o para outro lugar; o servidor não inicia por cima dele."
    )


def _checked(path: Path | None, what: str, make: Callable[[], Any]) -> Any:
    """``make()``, or the sentence that stops the start if the row is invalid."""
    try:
        return make()
    except ValueError as error:
        raise _invalid_row(path, what, str(error)) from None


def _sanction_from_row(key: Any, kind: Any, until: Any, teacher: Any, reason: Any) -> Sanction:
    try:
        sanction = Sanction(Kind(kind), until, teacher, reason)
    except ValueError:
        raise ValueError(f"tipo desconhecido: {str(kind)[:40]!r}") from None
    _refuse(_sanction_problem(key, sanction))
    return sanction


def _settings(path: Path | None, rows: Iterable[tuple[Any, Any, Any]]) -> tuple[Announcement | None, PrivateState]:
    pinned: Announcement | None = None
    private = PrivateState()
    for name, teacher, value in rows:
        if name == "pinned":
            problem = _names_problem(teacher) or _text_problem(value, empty_ok=False)
            pinned = Announcement(teacher, value)
        elif name == "private":
            problem = _names_problem(teacher) or (None if value in ("open", "closed") else "valor desconhecido")
            private = PrivateState(value == "open", teacher)
        else:
            problem = "ajuste desconhecido"
        if problem is not None:
            raise _invalid_row(path, f"ajuste {str(name)[:40]!r}", problem)
    return pinned, private


def _refuse(problem: str | None) -> None:
    """Raise ``ValueError(problem)`` if there is one."""
    if problem is not None:
        raise ValueError(problem)


def _act_from_row(row: tuple[Any, ...]) -> Act:
    act = Act(*row[1:])
    _refuse(_act_problem(act))
    return act


# --- what a valid row is (also checked before each write) ---------------------------


def _is_name_key(key: Any) -> bool:
    """As the mailbox checks its recipients: a name key, with nothing a line may not carry."""
    return (isinstance(key, str) and bool(key) and protocol.name_key(key) == key
            and not protocol.FORBIDDEN_CHARS.search(key) and not any(c.isspace() for c in key))


def _names_problem(name: Any) -> str | None:
    """Why ``name`` is not a registered spelling a server line may carry, or ``None``."""
    try:
        if isinstance(name, str) and protocol.validate_name(name) == name:
            return None
    except ProtocolError:
        pass
    return f"nome inválido: {str(name)[:40]!r}"


def _text_problem(text: Any, *, empty_ok: bool) -> str | None:
    if not isinstance(text, str):
        return "texto não é texto"
    if not text and not empty_ok:
        return "texto vazio"
    if protocol.FORBIDDEN_CHARS.search(text) or len(text.encode("utf-8", "surrogatepass")) > protocol.MAX_SERVER_LINE // 2:
        return "texto com caracteres proibidos, ou longo demais"
    return None


def _time_problem(when: Any) -> str | None:
    if type(when) not in (int, float) or not math.isfinite(when):
        return f"hora inválida: {str(when)[:40]!r}"
    try:
        protocol.format_timestamp(when)  # as its line will say it
    except (ValueError, OverflowError, OSError):
        return f"hora fora do calendário: {when!r}"
    return None


def _sanction_problem(key: Any, sanction: Sanction) -> str | None:
    if not _is_name_key(key):
        return f"chave de conta inválida: {str(key)[:40]!r}"
    if sanction.until is not None and (problem := _time_problem(sanction.until)):
        return problem
    return _names_problem(sanction.teacher) or _text_problem(sanction.reason, empty_ok=True)


def _act_problem(act: Act) -> str | None:
    if not (isinstance(act.act, str) and act.act.isascii() and act.act.isalpha() and act.act.isupper()):
        return f"ato inválido: {str(act.act)[:40]!r}"
    for who in (act.teacher, act.target):
        if who != NOBODY and (problem := _names_problem(who)):
            return problem
    return _time_problem(act.when) or _text_problem(act.detail, empty_ok=True)


def _put_setting(db: sqlite3.Connection, name: str, teacher: str, value: str) -> None:
    db.execute("INSERT OR REPLACE INTO settings (name, teacher, value) VALUES (?, ?, ?)", (name, teacher, value))
