"""The rooms' rules (issue 21): who may create, enter, leave, speak in, read, move into and
close a room, and who hears of it.

Owns :class:`RoomService`. Each method takes the caller's name (and, when others
may hear of it, the caller's :class:`batchat.server.delivery.Batch`), asks the
:class:`batchat.server.rooms.RoomStore` (the rooms' state and history, durable
before each change returns), the :class:`batchat.server.registry.SessionRegistry`
(who is online) and the accounts, and puts what goes to the room's members online
into the batch, as ``TODOS`` does; lines come from :mod:`batchat.server.replies`.
It returns what the session needs for its own reply. It holds no lock of its own:
the store's writes run on the session's thread with no shared lock held. ``#geral``'s
live messages stay :class:`batchat.server.chat.ChatService`'s (``TODOS``); this
service keeps their history in the store. Called by the chat sessions and the server.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable, Iterator

import protocol
from protocol import ErrorCode, ProtocolError
from batchat import formatting
from batchat.locks import tiered_lock
from batchat.rooms_names import GENERAL, room_key
from batchat.server import replies, tiers
from batchat.server.accounts import UserStore
from batchat.server.connection import Connection
from batchat.server.delivery import Batch
from batchat.server.registry import Member, SessionRegistry
from batchat.server.rooms import GeneralRoom, RoomExists, RoomInfo, RoomRefused, RoomStore
from batchat.server.teaching import TeachingService

log = logging.getLogger(__name__)

ALL_LINES = 1 << 30  # SALA ENTRAR replays every line the room keeps (--linhas-por-sala)
REPLAYED_KEPT = 256  # per room: a FALA racing a SALA ENTRAR is a matter of milliseconds
_CODES = {RoomExists: ErrorCode.ROOM_EXISTS, GeneralRoom: ErrorCode.GENERAL_ROOM}  # else SALA_INEXISTENTE


@contextlib.contextmanager
def _refusals() -> Iterator[None]:
    """The store's refusals as ``ERRO`` (its sentence kept), and a bad topic as ``ARGUMENTOS``."""
    try:
        yield
    except RoomRefused as refused:
        raise ProtocolError(_CODES.get(type(refused), ErrorCode.UNKNOWN_ROOM), str(refused)) from None
    except ValueError as error:
        raise ProtocolError(ErrorCode.ARGUMENTS, str(error)) from None


class _Replayed:
    """Up to which line each person was just given a room's history (SALA ENTRAR, MOVIDO):
    a FALA kept before that history was read, but delivered after it, is not given twice.
    The race lasts milliseconds, so each room remembers only its last REPLAYED_KEPT."""

    def __init__(self) -> None:
        self._lock = tiered_lock(tiers.LEAF, "RoomService.replayed")  # _last only
        self._last: dict[str, dict[str, int]] = {}  # room key -> account key -> last line id given

    def note(self, room: str, key: str, line_id: int) -> None:
        with self._lock:
            given = self._last.setdefault(room, {})
            given.pop(key, None)  # to the end: the newest
            given[key] = line_id
            if len(given) > REPLAYED_KEPT:
                del given[next(iter(given))]

    def had(self, room: str, line_id: int) -> set[str]:
        """Who was given the line ``line_id`` of ``room`` with its history already."""
        with self._lock:
            given = self._last.get(room)
            return {key for key, last in given.items() if last >= line_id} if given else set()


class RoomService:
    """The one owner of the rooms' rules, for every session (see the module)."""

    def __init__(
        self, store: RoomStore, registry: SessionRegistry, users: UserStore, teaching: TeachingService,
        *, free_rooms: bool = False, now: Callable[[], float] = time.time,
    ) -> None:
        self._store = store
        self._registry = registry
        self._users = users
        self._teaching = teaching
        self._free_rooms = free_rooms  # --salas-livres
        self._now = now
        self._replayed = _Replayed()

    # --- reads ---------------------------------------------------------------

    def listeners(self, sender: str, room: str) -> int:
        """How many would hear a FALA in ``room`` now (for its price; 0 for a room that
        is not there: the FALA is refused anyway)."""
        try:
            if room_key(room) == GENERAL:
                return max(0, self._registry.online_count() - 1)
            return len(self._online(self._store.members(room), but=sender))
        except (RoomRefused, ValueError):
            return 0

    def list_rooms(self) -> list[bytes]:
        """``SALAS``: a ``SALA`` line per open room, #geral first, then by name."""
        lines = []
        for info in self._store.rooms():
            if not info.closed:
                lines.append(replies.room_summary(info.name, self._online_count(info.name), info.topic))
        return lines

    def login_lines(self, name: str) -> bytes:
        """At ENTRAR, before ``OK ENTRAR``: a ``SALA`` line per room ``name`` is in."""
        rooms = [self._store.info(room) for room in self._store.rooms_of(protocol.name_key(name))]
        return b"".join(replies.room_summary(info.name, self._online_count(info.name), info.topic)
                        for info in rooms)

    def who(self, name: str, room: str) -> tuple[str, bytes, int]:
        """``SALA QUEM``: the room's name, the ``MEMBRO`` lines and how many; a member's
        (or a teacher's)."""
        info = self._readable(name, room)
        members = self._members_shown(info.name)
        return info.name, replies.room_members(info.name, members), len(members)

    # --- changes -------------------------------------------------------------

    def create(self, name: str, room: str) -> str:
        """``SALA CRIAR``: the room, with ``name`` in it and as its owner; its name."""
        if not (self._free_rooms or self._users.is_teacher(name)):
            raise ProtocolError(ErrorCode.NO_PERMISSION, "Só um professor pode criar salas neste servidor.")
        with _refusals():
            info = self._store.create(room, protocol.name_key(name), self._now())
        log.info("%s criou a sala %s.", name, info.name)
        return info.name

    def enter(self, member: Member, name: str, room: str, batch: Batch) -> str:
        """``SALA ENTRAR``: ``name`` in the room (durably), its lines to ``member``'s connection,
        and ``CHEGOU`` to the members online if ``name`` was not in it yet; its name."""
        with _refusals():
            info = self._store.info(room)
            joined = room_key(room) != GENERAL and self._store.join(room, protocol.name_key(name))
        batch.add(member.connection, self._entry_lines(info.name, name))
        if joined:
            self._tell_members(info.name, replies.line(formatting.format_arrived(info.name, name)), batch, but=name)
        return info.name

    def leave(self, name: str, room: str, batch: Batch) -> str:
        """``SALA SAIR``: ``name`` out of the room; ``PARTIU`` to the members online."""
        with _refusals():
            info = self._store.info(room)
            if info.closed:
                raise ProtocolError(ErrorCode.UNKNOWN_ROOM, f"A sala {info.name} foi encerrada.")
            left = self._store.leave(room, protocol.name_key(name))
        if not left:
            raise ProtocolError(ErrorCode.NOT_IN_ROOM, f"Você não está na sala {info.name}.")
        self._tell_members(info.name, replies.line(formatting.format_departed(info.name, name)), batch, but=name)
        return info.name

    def forget_account(self, name: str, batch: Batch) -> None:
        """``EXCLUIR``: the account leaves every room it was in (``PARTIU`` to their members
        online), so a later owner of the name is in none of them."""
        for room in self._store.rooms_of(protocol.name_key(name)):
            self.leave(name, room, batch)

    def speak(self, sender: str, room: str, text: str) -> tuple[str, int]:
        """``FALA`` in a room but #geral (the session sends that one as TODOS): the checks,
        then the line on disk; the room's name, for the ``OK``, and the line's id.
        :meth:`deliver` follows it."""
        info = self._member_room(sender, room)
        self._teaching.check_public(sender)
        with _refusals():
            line = self._store.append(info.name, sender, self._now(), text)
        return info.name, line.id

    def deliver(self, sender: str, room: str, text: str, line_id: int, batch: Batch) -> None:
        """A ``FALA`` kept by :meth:`speak` as ``line_id``: to every other member of ``room``
        online but those whose entry's history already had it."""
        line = replies.room_message(room, sender, text)
        had = self._replayed.had(room_key(room), line_id)
        for key, connection in self._online(self._store.members(room), but=sender).items():
            if key not in had:
                batch.add(connection, line)

    def keep_general(self, sender: str, text: str) -> None:
        """A ``TODOS`` into #geral's history on disk (see :meth:`RoomStore.append_soon`)."""
        self._store.append_soon(sender, self._now(), text)

    def topic(self, name: str, room: str, topic: str | None, batch: Batch) -> tuple[str, bytes]:
        """``SALA TOPICO``: read it (``topic`` None: the ``TOPICO`` line, if any) or set it
        (``-``: none; the teacher, or the owner with --salas-livres; members online told)."""
        info = self._readable(name, room)
        if topic is None:
            line = replies.line(formatting.format_topic(info.name, info.topic)) if info.topic else b""
            return info.name, line
        self._require_owner(name, info, "mudar o tópico de")
        with _refusals():
            info = self._store.set_topic(room, None if topic == formatting.NO_TOPIC else topic)
        line = replies.line(formatting.format_topic(info.name, info.topic))
        self._tell_members(info.name, line, batch, but=name)
        return info.name, b""

    def move(self, teacher: Member, room: str, names: tuple[str, ...], batch: Batch) -> tuple[str, int]:
        """``SALA MOVER`` (a teacher's): every name checked first, the room created if need be
        (the teacher its owner, not in it unless listed), then all moved in one change. Each
        moved person online gets ``MOVIDO`` and the room's lines; the members, ``CHEGOU``.
        Returns the room's name and how many were moved (not in it already)."""
        teacher_name = teacher.name or ""
        registered = {}
        for person in names:
            found = self._users.registered_name(person)
            if found is None:
                raise ProtocolError(ErrorCode.UNKNOWN_USER, f"O usuário {person} não existe; ninguém foi movido.")
            registered[protocol.name_key(found)] = found
        with _refusals():
            info = self._open_or_create(teacher_name, room, registered)
            added = self._store.move(room, registered)
        moved = replies.line(formatting.format_moved(info.name, teacher_name))
        earlier = self._online(self._store.members(room) - added).values()  # the moved see MEMBRO lines
        for key in sorted(added):
            arrived = replies.line(formatting.format_arrived(info.name, registered[key]))
            for connection in earlier:
                batch.add(connection, arrived)
            if (connection := self._registry.connection_of(key)) is not None:
                batch.add(connection, moved + self._entry_lines(info.name, registered[key]))
        log.info("%s moveu %d pessoa(s) para a sala %s.", teacher_name, len(added), info.name)
        return info.name, len(added)

    def close_room(self, name: str, room: str, batch: Batch) -> str:
        """``SALA ENCERRAR``: the teacher, or the owner with --salas-livres; ``ENCERRADA`` to the
        members online."""
        with _refusals():
            info = self._store.info(room)
            if info.name == GENERAL:
                raise GeneralRoom(f"{GENERAL} não pode ser encerrada.")
        self._require_owner(name, info, "encerrar")
        with _refusals():
            members = self._store.close_room(room)
        line = replies.line(formatting.format_room_closed(info.name, name))
        for connection in self._online(members, but=name).values():
            batch.add(connection, line)
        log.info("%s encerrou a sala %s.", name, info.name)
        return info.name

    # --- helpers -------------------------------------------------------------

    def _open_or_create(self, teacher: str, room: str, moving: dict[str, str]) -> RoomInfo:
        try:
            info = self._store.info(room)
            if not info.closed:
                return info
        except RoomRefused:
            pass  # a new room: made below
        key = protocol.name_key(teacher)
        info = self._store.create(room, key, self._now())
        if key not in moving:
            self._store.leave(room, key)
        return info

    def _readable(self, name: str, room: str) -> RoomInfo:
        """The open room, for a member or a teacher (``FORA_DA_SALA`` for others)."""
        return self._open_room(name, room, teachers_too=True)

    def _member_room(self, name: str, room: str) -> RoomInfo:
        """The open room ``name`` is in (``FORA_DA_SALA`` if not, teachers too)."""
        return self._open_room(name, room, teachers_too=False)

    def _open_room(self, name: str, room: str, *, teachers_too: bool) -> RoomInfo:
        with _refusals():
            info = self._store.info(room)
        if info.closed:
            raise ProtocolError(ErrorCode.UNKNOWN_ROOM, f"A sala {info.name} foi encerrada.")
        if not (self._store.is_member(room, protocol.name_key(name))
                or (teachers_too and self._users.is_teacher(name))):
            raise ProtocolError(ErrorCode.NOT_IN_ROOM, f"Você não está na sala {info.name}; entre com SALA ENTRAR.")
        return info

    def _require_owner(self, name: str, info: RoomInfo, doing: str) -> None:
        if info.name == GENERAL and not self._users.is_teacher(name):
            raise ProtocolError(ErrorCode.NO_PERMISSION, f"Só um professor pode {doing} {GENERAL}.")
        owner = self._free_rooms and info.owner == protocol.name_key(name)
        if not (owner or self._users.is_teacher(name)):
            raise ProtocolError(ErrorCode.NO_PERMISSION, f"Só um professor (ou quem criou a sala) pode {doing} {info.name}.")

    def _entry_lines(self, room: str, name: str) -> bytes:
        """TOPICO, MEMBRO and HISTORICO lines of ``room``, as SALA ENTRAR and MOVIDO give them
        to ``name`` (who will not get the lines of that history again live)."""
        info = self._store.info(room)
        lines = self._store.history(room, ALL_LINES)
        if lines:
            self._replayed.note(room_key(room), protocol.name_key(name), lines[-1].id)
        history = [(line.sender, line.sent_at, line.text) for line in lines]
        return replies.room_entry(info.name, info.topic, self._members_shown(room), history)

    def _members_shown(self, room: str) -> list[tuple[str, bool]]:
        """(name, online) per member, sorted; #geral: everyone online."""
        if room_key(room) == GENERAL:
            return [(name, True) for name in self._registry.names(held=False)]
        shown = []
        for key in self._store.members(room):
            session = self._registry.find_online(key)
            shown.append((session.name if session is not None and session.name
                          else self._users.registered_name(key) or key, session is not None))
        return sorted(shown, key=lambda member: (member[0].casefold(), member[0]))

    def _online_count(self, room: str) -> int:
        if room_key(room) == GENERAL:
            return self._registry.online_count()
        return len(self._online(self._store.members(room)))

    def _online(self, keys: frozenset[str], but: str | None = None) -> dict[str, Connection]:
        """The connections of the accounts ``keys`` online, by name key, but ``but``'s."""
        skip = None if but is None else protocol.name_key(but)
        found: dict[str, Connection] = {}
        for key in keys:
            if key != skip and (connection := self._registry.connection_of(key)) is not None:
                found[key] = connection
        return found

    def _tell_members(self, room: str, line: bytes, batch: Batch, *, but: str) -> None:
        """``line`` to every member of ``room`` online (everyone online, for #geral) but ``but``."""
        if room_key(room) == GENERAL:
            for connection in self._registry.connections_online(but=but):
                batch.add(connection, line)
            return
        for connection in self._online(self._store.members(room), but=but).values():
            batch.add(connection, line)
