"""Rooms, as the terminal client knows them: where plain text goes, and how room lines read.

Owns :class:`Rooms`: the current room (plain text goes there as ``FALA <#sala> <texto>``;
in :data:`GENERAL` it goes as ``TODOS``, as before rooms), the rooms known (from ``SALA``
lines: the person's rooms at login and the answer to ``SALAS``; from ``OK SALA ...``,
``MOVIDO``, ``ENCERRADA``), the unread lines of each room that is not the current one, the
room the prompt shows (:func:`prompt_room`), Tab's room names, and the sentences of the room
lines (``FALA``, ``CHEGOU``, ``PARTIU``, ``MOVIDO``, ``ENCERRADA``, ``TOPICO``, ``MEMBRO``,
``HISTORICO <#sala>``, the room ``ERRO`` codes). Also what a typed ``/sala ...`` means
(:func:`interpret_room`) and plain text in a room (:func:`in_room`).

Pure: no I/O, no lock. Lives in :class:`batchat.client.state.ClientState` (called under the
shell's send lock); :func:`interpret_room` and :func:`in_room` are called by the keyboard side
(:mod:`batchat.client.threads`) with a :class:`RoomView` read under that lock. Imports
:mod:`protocol`, :mod:`batchat.parsing`, :mod:`batchat.rooms_names` and, of the client,
:mod:`~batchat.client.server_lines`, :mod:`~batchat.client.events`, :mod:`~batchat.client.render`
and :mod:`~batchat.client.typed` only.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import protocol
from batchat import parsing
from batchat.rooms_names import GENERAL, InvalidRoomName, room_key, room_name
from batchat.client import server_lines
from batchat.client.events import Show
from batchat.client.render import (
    HISTORY_MARK, Clock, Shown, Style, When, news, render_past, render_presence, render_public,
)
from batchat.client.typed import NOT_LOGGED_IN, Refuse, Send, Typed, interpret, starts_command, too_long

ROOM_WORD = "SALA"  # /sala [#sala | sair|criar|topico|quem|mover|encerrar|entrar ...]
ROOM_SUBCOMMANDS = {  # as typed (casefolded, accents off) -> as on the wire
    "entrar": "ENTRAR", "sair": "SAIR", "criar": "CRIAR", "topico": "TOPICO", "tópico": "TOPICO",
    "quem": "QUEM", "mover": "MOVER", "encerrar": "ENCERRAR",
}
ROOM_USAGE = ("Uso: /sala #sala (ir para a sala), /sala (voltar para #geral), /salas, "
              "/sala criar|sair|quem|encerrar #sala, /sala topico #sala [texto|-], /sala mover #sala <nomes>.")
ROOM_ERRORS = {  # the room ERRO codes, as sentences (the server's text is never read)
    protocol.ErrorCode.INVALID_ROOM.value:
        "Nome de sala inválido: use # e letras, dígitos, '_', '-' ou '.' (ex.: #grupo1).",
    protocol.ErrorCode.UNKNOWN_ROOM.value: "Essa sala não existe (ou foi encerrada): /salas mostra as salas abertas.",
    protocol.ErrorCode.ROOM_EXISTS.value: "Já existe uma sala com esse nome: /sala #nome entra nela.",
    protocol.ErrorCode.NOT_IN_ROOM.value: "Você não está nessa sala: entre com /sala #nome antes.",
    protocol.ErrorCode.GENERAL_ROOM.value: "Não dá para sair nem encerrar #geral: todo mundo está sempre nela.",
}


@dataclass(frozen=True)
class SwitchRoom:
    """``/sala #g1`` for a room the person is in, or ``/sala`` alone (``room`` ``None``):
    plain text goes there from now on; nothing goes on the wire."""

    room: str | None


@dataclass(frozen=True)
class RoomView:
    """What the keyboard side needs of the rooms, read under the send lock."""

    current: str = GENERAL
    member_keys: frozenset[str] = frozenset()


@dataclass
class KnownRoom:
    """A room as the client last heard of it."""

    name: str
    online: int | None = None
    topic: str = ""
    member: bool = False
    unread: int = 0


def prompt_room(current: str) -> str | None:
    """The room the prompt shows: ``None`` in :data:`GENERAL` (the prompt stays ``ana> ``)."""
    return None if room_key(current) == GENERAL else current


# --- What is typed ---------------------------------------------------------------------------


def interpret_room(rest: str, view: RoomView, max_line: int, typed: str = "") -> Typed | SwitchRoom:
    """``/sala <rest>``: switch (``/sala #g1``, ``/sala``), or the wire line it maps to
    (``typed``: the whole line, as typed, to say how much of it fits the server's line)."""
    words = rest.split()
    if not words:
        return SwitchRoom(None)
    sub = ROOM_SUBCOMMANDS.get(words[0].casefold())
    try:
        if sub is None:
            if len(words) > 1:
                return Refuse(f"Erro: {ROOM_USAGE}")
            name = room_name(words[0])
            if room_key(name) == GENERAL or room_key(name) in view.member_keys:
                return SwitchRoom(None if room_key(name) == GENERAL else name)
            return _send(f"{ROOM_WORD} ENTRAR {name}", typed, max_line)
        if sub == "QUEM" and len(words) == 1:
            words.append(view.current)  # who is in the room the person is in
        if len(words) < 2:
            return Refuse(f"Erro: {ROOM_USAGE}")
        name = room_name(words[1])
    except InvalidRoomName as error:
        return Refuse(f"Erro: {error}")
    text = rest.split(None, 2)[2] if sub == "TOPICO" and len(words) > 2 else " ".join(words[2:])
    return _send(" ".join(part for part in (ROOM_WORD, sub, name, text) if part), typed, max_line)


def in_room(result: Typed | None, view: RoomView, max_line: int, typed: str = "") -> Typed | None:
    """Plain text typed in a room other than #geral goes there: ``FALA <#sala> <texto>``
    instead of the ``TODOS`` :func:`batchat.client.typed.interpret` made of it."""
    if not isinstance(result, Send) or not isinstance(result.command, protocol.Broadcast):
        return result
    if prompt_room(view.current) is None:
        return result
    return _send(f"FALA {view.current} {result.line.split(' ', 1)[1]}", typed, max_line)


def _send(wire: str, typed: str, max_line: int) -> Typed:
    """``wire``, checked as the server will (its line's length, the command's grammar)."""
    if refusal := too_long(wire, typed or wire, max_line):
        return refusal
    try:
        command = parsing.parse_command(wire)
    except protocol.ProtocolError as error:
        return Refuse(f"Erro: {error.text}")
    return Refuse(f"Erro: {ROOM_USAGE}") if command is None else Send(wire, command)


def interpret_typed(line: str, can_prompt: bool, view: RoomView, **known: Any) -> Typed | SwitchRoom | None:
    """:func:`batchat.client.typed.interpret` (``known``: its keywords), with the rooms:
    ``/sala ...`` (:func:`interpret_room`), and plain text in a room (:func:`in_room`)."""
    line = line.removesuffix("\r")
    first, _, rest = line.partition(" ")
    max_line = known.get("max_line", protocol.DEFAULT_MAX_LINE)
    if first.casefold() in ("/sala", "\\sala"):
        return interpret_room(rest, view, max_line, line) if known.get("logged_in") else Refuse(NOT_LOGGED_IN)
    result = interpret(line, can_prompt, **known)
    if not line[:1].isspace() and starts_command("/" + line[1:] if line[:1] == "\\" else line) is not None:
        return result  # a command, /todos included: as typed
    return in_room(result, view, max_line, line)


# --- What the server says ----------------------------------------------------------------------


@dataclass
class Rooms:
    """The rooms of one session: kept across reconnections (a login's ``SALA`` lines renew them)."""

    clock: Clock
    current: str = GENERAL
    known: dict[str, KnownRoom] = field(default_factory=dict)
    # Every room name known, for Tab: replaced, never mutated (read from the keyboard thread).
    names: frozenset[str] = frozenset()
    _listed: list[str] = field(default_factory=list)  # SALA lines of a SALAS answer, until its OK
    _listing_members: str | None = None  # the room whose MEMBRO rows came last, under their title

    def view(self) -> RoomView:
        members = frozenset(key for key, room in self.known.items() if room.member)
        return RoomView(self.current, members)

    def _room(self, name: str) -> KnownRoom:
        room = self.known.get(room_key(name))
        if room is None:
            room = self.known[room_key(name)] = KnownRoom(name)
            self.names = self.names | {name}
        return room

    def switch(self, name: str | None) -> list[Shown]:
        """Plain text goes to ``name`` (``None``: #geral) from now on; its unread lines are read."""
        self.current = name or GENERAL
        if name is None:
            return [Shown.of(f"De volta a {GENERAL}: o que você digitar vai para todos.", Style.NOTICE)]
        self._room(name).unread = 0
        return [Shown.of(f"Você está em {name}: o que você digitar vai para a sala; "
                         f"/sala sozinho volta para {GENERAL}.", Style.NOTICE)]

    def logging_in(self, name: str, own_name: str | None) -> None:
        """A login is on its way: its ``SALA`` lines say again which rooms are the person's;
        another account's rooms are not this one's."""
        if own_name is not None and protocol.name_key(name) != protocol.name_key(own_name):
            self.known.clear()
            self.current, self.names = GENERAL, frozenset()
        for room in self.known.values():
            room.member = False

    def logged_in(self) -> None:
        """The login worked: a current room the person is no longer in gives way to #geral."""
        room = self.known.get(room_key(self.current))
        if room_key(self.current) != GENERAL and (room is None or not room.member):
            self.current = GENERAL

    def yours(self) -> list[Shown]:
        """After a login: the rooms the person is in (the login's ``SALA`` lines), if any."""
        rooms = [room.name for room in self.known.values() if room.member]
        if not rooms:
            return []
        listed = rooms[0] if len(rooms) == 1 else f"{', '.join(rooms[:-1])} e {rooms[-1]}"
        return [news(f"Suas salas: {listed} (/sala {rooms[0]} vai para lá; /salas mostra todas).")]

    def take(self, parsed: server_lines.ServerLine, answering: protocol.Command | None) -> bool:
        """Keep a ``SALA`` line (a login's, or one of a ``SALAS`` answer); ``True`` if it was one."""
        if parsed.kind != "MEMBRO":
            self._listing_members = None  # the next MEMBRO starts a list of its own
        if parsed.kind != "SALA":
            return False
        name, online, topic = parsed.fields
        room = self._room(name)
        room.online, room.topic = int(online) if online.isdigit() else None, topic
        if isinstance(answering, protocol.Login):
            room.member = True
        else:
            self._listed.append(room_key(name))
        return True

    def answered(self, word: str, detail: str, line: str) -> list[Shown] | None:
        """``OK <word> <detail>`` for a room command (``line``: as it was sent); ``None`` for others."""
        sub, _, name = detail.partition(" ")
        name = name.split(" ")[0]
        match word, sub:
            case "SALAS", _:
                return self._listing()
            case "FALA", _:
                text = line.split(" ", 2)[2] if line.count(" ") >= 2 else ""
                return [self._labelled(sub, render_public("eu", text, None))]
            case "SALA", "ENTRAR":
                self._room(name).member = True
                here = None if room_key(name) == GENERAL else name
                return [news(f"Você entrou na sala {name}."), *self.switch(here)]
            case "SALA", "CRIAR":
                self._room(name).member = True
                return [news(f"Sala {name} criada, e você está nela: /sala {name} para falar lá.")]
            case "SALA", "SAIR":
                return [news(f"Você saiu da sala {name}."), *self._forget(name)]
            case "SALA", "TOPICO":
                return [news(f"Tópico de {name} atualizado.")] if len(line.split(" ")) > 3 else []
            case "SALA", "QUEM":
                count = detail.split(" ")[-1]
                return [news(f"{name}: {count} {'membro' if count == '1' else 'membros'}.")]
            case "SALA", "MOVER":
                count = detail.split(" ")[-1]
                return [news(f"{count} {'pessoa movida' if count == '1' else 'pessoas movidas'} para {name}.")]
            case "SALA", "ENCERRAR":
                return [news(f"Sala {name} encerrada."), *self._forget(name)]
        return None

    def _forget(self, name: str) -> list[Shown]:
        """The person is no longer in ``name``: back to #geral if they were there."""
        gone = self.known.pop(room_key(name), None)
        if gone is not None:
            self.names = self.names - {gone.name}
        return self.switch(None) if room_key(self.current) == room_key(name) else []

    def _listing(self) -> list[Shown]:
        """``/salas``: a title, then a row per room, with its unread lines."""
        listed, self._listed = self._listed, []
        rows = [self.known[key] for key in listed if key in self.known]
        shown = [news(f"Salas ({len(rows)}):" if rows else "Nenhuma sala aberta.")]
        for room in rows:
            here = " (você está aqui)" if room_key(room.name) == room_key(self.current) else ""
            unread = f", {room.unread} não {'lida' if room.unread == 1 else 'lidas'}" if room.unread else ""
            topic = f" — {room.topic}" if room.topic else ""
            shown.append(Shown(((Style.PLAIN, f"  {room.name}{here}: {room.online or 0} online{unread}"),
                                (Style.NOTICE, topic))))
        return shown

    def render(self, parsed: server_lines.ServerLine, own_name: str | None) -> list[Show] | None:
        """What to show of a room line (a message with its author, a presence line with whom and
        which room: the shell groups those); ``None`` if it is not one."""
        fields = parsed.fields
        match parsed.kind:
            case "FALA":
                name, sender, text = fields
                return [Show(self._heard(name, render_public(sender, text, own_name)), sender)]
            case "TODOS" if prompt_room(self.current) is not None:
                return [Show(self._heard(GENERAL, render_public(*fields, own_name)), fields[0])]
            case "CHEGOU" | "PARTIU":
                joined = parsed.kind == "CHEGOU"
                shown = render_presence([fields[1]], joined=joined, room=fields[0])
                return [Show(shown, fields[1], joined=joined, room=fields[0])]
        said = self._sentences(parsed, own_name)
        return None if said is None else [Show(shown) for shown in said]

    def _sentences(self, parsed: server_lines.ServerLine, own_name: str | None) -> list[Shown] | None:
        fields = parsed.fields
        match parsed.kind:
            case "HISTORICO" if fields[0].startswith("#"):
                sender, when, text = (fields[1] + " " + fields[2]).split(" ", 2)
                past = render_past(f"{HISTORY_MARK} [{fields[0]}]", Style.SENDER, (sender, when, text),
                                   own_name, self.clock)
                return [past]
            case "MOVIDO":
                self._room(fields[0]).member = True
                return [news(f"O professor {fields[1]} levou você para a sala {fields[0]}."),
                        *self.switch(fields[0])]
            case "ENCERRADA":
                return [news(f"A sala {fields[0]} foi encerrada por {fields[1]}."), *self._forget(fields[0])]
            case "TOPICO":
                self._room(fields[0]).topic = "" if fields[1] == "-" else fields[1]
                return [news(f"{fields[0]} está sem tópico." if fields[1] == "-"
                             else f"Tópico de {fields[0]}: {fields[1]}")]
            case "MEMBRO":
                state = "online" if fields[2] == "ONLINE" else "offline"
                title = [] if self._listing_members == fields[0] else [news(f"Quem é de {fields[0]}:")]
                self._listing_members = fields[0]
                return [*title, Shown(((Style.PLAIN, f"  {fields[1]}:"), (Style.NOTICE, f" {state}")))]
            case "ERRO" if fields[0] in ROOM_ERRORS:
                return [news(f"Erro: {ROOM_ERRORS[fields[0]]}", Style.ERROR)]
        return None

    def _heard(self, name: str, shown: Shown) -> Shown:
        """A line said in ``name``: as a public line in the current room, else labelled and
        counted as unread."""
        if room_key(name) != room_key(self.current):
            self._room(name).unread += 1
        return self._labelled(name, shown)

    def _labelled(self, name: str, shown: Shown) -> Shown:
        if room_key(name) == room_key(self.current):
            return shown
        return Shown(((Style.NOTICE, f"[{name}]"), (Style.PLAIN, " "), *shown.parts), When.NOW)
