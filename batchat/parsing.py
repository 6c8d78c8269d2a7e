"""From a decoded line to a client command: every command's argument rules.

Owns :func:`parse_command` (the one parser: the server's sessions and the
client's check of what is typed both use it; a duration is read by
:mod:`batchat.durations`), :func:`is_blank` and the
``COMANDO_DESCONHECIDO`` error with its hint. The grammar itself, the
command classes and the command table are :mod:`protocol`'s; this module only
reads lines into them. Pure: no I/O.
"""

from __future__ import annotations

import protocol
from batchat import durations, rooms_names
from protocol import (
    Announce, Ban, Broadcast, ChangePassword, Command, COMMAND_HELP, DeleteAccount, ErrorCode, Help, Kick, ListRooms,
    ListUsers, Login, ModerationLog, Mute, Ping, PrivateChats, PrivateMessage, ProtocolError, Quit, Register, Release,
    ResetPassword, RoomCommand, RoomMessage, SetRole, validate_name, validate_password, validate_text,
)

MAX_LOG_LINES = 500  # REGISTRO's largest n


def _duration(text: str, *, forever_allowed: bool = False) -> int | None:
    """:func:`batchat.durations.parse_duration`, its refusal as ``DURACAO_INVALIDA``."""
    try:
        if not text.isascii():  # "ſempre".upper() is SEMPRE through the long s
            raise ValueError("Duração inválida: use dígitos e letras ASCII, como 30s, 10m, 2h ou 1d.")
        return durations.parse_duration(text, forever_allowed=forever_allowed)
    except ValueError as error:
        raise ProtocolError(ErrorCode.INVALID_DURATION, str(error)) from None


def _arguments_error(word: str) -> ProtocolError:
    return ProtocolError(ErrorCode.ARGUMENTS, f"Uso: {COMMAND_HELP[word].syntax}", usage=word)


def _fixed_arguments(word: str, rest: str, count: int) -> list[str]:
    """Exactly ``count`` space-separated arguments (trailing spaces tolerated)."""
    args = [arg for arg in rest.split(" ") if arg]
    if len(args) != count:
        raise _arguments_error(word)
    return args


def _leading_arguments(word: str, rest: str, leading: int) -> tuple[list[str], str]:
    """``leading`` single-word arguments (each required), and what follows the ONE space
    after the last of them (or the command word)."""
    parts = []
    for _ in range(leading):  # str.partition, not re.split: this is every message's path
        argument, _, rest = rest.lstrip(" ").partition(" ")
        if not argument:
            raise _arguments_error(word)
        parts.append(argument)
    return parts, rest


def _message_arguments(word: str, rest: str, leading: int) -> list[str]:
    """``leading`` single-word arguments, then the message: everything after the ONE
    space that follows the last of them (or the command word), its leading spaces kept
    (indented code keeps its shape). A message of nothing but spaces is refused as
    missing."""
    parts, rest = _leading_arguments(word, rest, leading)
    if is_blank(rest):
        raise _arguments_error(word)
    return [*parts, rest]


def _reason(rest: str) -> str:
    """An optional ``[motivo]``: the text after the arguments, trimmed (``""`` if none)."""
    return validate_text(rest.strip(" "))


def is_blank(line: str | bytes) -> bool:
    """A line of nothing but spaces: ignored, with no reply and no cost."""
    return not line.strip(b" " if isinstance(line, bytes) else " ")


def parse_command(line: str) -> Command | None:
    """Parse one decoded line into a command; ``None`` for a blank line.

    Raises :class:`ProtocolError` for anything that is not a valid command.
    """
    if is_blank(line):
        return None
    word, _, rest = line.lstrip(" ").partition(" ")
    # isascii() first: "lısta".upper() == "LISTA" through the dotless i.
    upper = word.upper() if word.isascii() else ""
    match upper:  # the messages first: they are nearly every line a server sees
        case "CHAT":
            recipient, text = _message_arguments(upper, rest, 1)
            return PrivateMessage(validate_name(recipient), validate_text(text))
        case "TODOS":
            (text,) = _message_arguments(upper, rest, 0)
            return Broadcast(validate_text(text))
        case "FALA":
            room, text = _message_arguments(upper, rest, 1)
            return RoomMessage(validate_room(room), validate_text(text))
        case "NOVO" | "ENTRAR":
            name, password = _fixed_arguments(upper, rest, 2)
            cls = Register if upper == "NOVO" else Login
            return cls(validate_name(name), validate_password(password))
        case "LISTA":
            return ListUsers(everyone=_one_of(upper, rest, ("TODOS",), optional=True) == "TODOS")
        case "SAIR" | "AJUDA" | "PING" | "SALAS":
            _fixed_arguments(upper, rest, 0)
            return {"SAIR": Quit, "AJUDA": Help, "PING": Ping, "SALAS": ListRooms}[upper]()
        case "SALA":
            return _room_command(upper, rest)
        case "SENHA":
            current, new = _fixed_arguments(upper, rest, 2)
            return ChangePassword(validate_password(current), validate_password(new))
        case "EXCLUIR":
            return DeleteAccount(validate_password(_fixed_arguments(upper, rest, 1)[0]))
    if upper in _TEACHER_PARSERS:
        return _TEACHER_PARSERS[upper](upper, rest)
    raise unknown_command_error(word)


def _one_of(word: str, rest: str, choices: tuple[str, ...], optional: bool = False) -> str | None:
    """The one argument, one of ``choices`` (ASCII, any case), in capitals; ``None`` if
    ``optional`` and absent."""
    args = [arg for arg in rest.split(" ") if arg]
    if not args and optional:
        return None
    if len(args) != 1 or not args[0].isascii() or args[0].upper() not in choices:
        raise _arguments_error(word)
    return args[0].upper()


def validate_room(text: str) -> str:
    """The room's name (``#`` plus the name in NFC) for ``text``, typed with or without its ``#``;
    ``SALA_INVALIDA`` for anything else."""
    try:
        return rooms_names.room_name(text)
    except rooms_names.InvalidRoomName as error:
        raise ProtocolError(ErrorCode.INVALID_ROOM, str(error)) from None


def _room_command(word: str, rest: str) -> RoomCommand:
    """``SALA <acao> <#sala> ...``: TOPICO takes an optional text (``-``: none), MOVER one or
    more names (each once), the others nothing more."""
    (action, room), tail = _leading_arguments(word, rest, 2)
    action = action.upper() if action.isascii() else ""
    if action not in protocol.ROOM_ACTIONS:
        raise _arguments_error(word)
    name = validate_room(room)
    if action == "TOPICO":
        topic = tail.strip(" ")
        return RoomCommand(action, name, validate_text(topic) if topic else None)
    args = [arg for arg in tail.split(" ") if arg]
    if (action == "MOVER") != bool(args):
        raise _arguments_error(word)
    names = [validate_name(arg) for arg in args]
    unique: dict[str, str] = {}
    for person in names:
        unique.setdefault(protocol.name_key(person), person)  # each once, as first written
    return RoomCommand(action, name, names=tuple(unique.values()))


def _announce(word: str, rest: str) -> Announce:
    (text,) = _message_arguments(word, rest, 0)
    return Announce(None if text.strip(" ") == "-" else validate_text(text))


def _mute(word: str, rest: str) -> Mute:
    (name, duration), reason = _leading_arguments(word, rest, 2)
    seconds = _duration(duration)
    assert seconds is not None  # SEMPRE is refused without forever_allowed
    return Mute(validate_name(name), seconds, _reason(reason))


def _kick(word: str, rest: str) -> Kick:
    (name,), reason = _leading_arguments(word, rest, 1)
    return Kick(validate_name(name), _reason(reason))


def _ban(word: str, rest: str) -> Ban:
    (name, duration), reason = _leading_arguments(word, rest, 2)
    return Ban(validate_name(name), _duration(duration, forever_allowed=True), _reason(reason))


def _log(word: str, rest: str) -> ModerationLog:
    args = _fixed_arguments(word, rest, 1) if rest.strip(" ") else []
    if not args:
        return ModerationLog()
    if not (args[0].isascii() and args[0].isdigit() and 1 <= int(args[0]) <= MAX_LOG_LINES):
        raise _arguments_error(word)
    return ModerationLog(int(args[0]))


def _set_role(word: str, rest: str) -> SetRole:
    name, role = _fixed_arguments(word, rest, 2)
    return SetRole(validate_name(name), _one_of(word, role, ("PROFESSOR", "ALUNO")) == "PROFESSOR")


# The teacher's commands: rarely typed, so off the messages' path in parse_command.
_TEACHER_PARSERS = {
    "AVISO": _announce,
    "SILENCIAR": _mute,
    "EXPULSAR": _kick,
    "BANIR": _ban,
    "LIBERAR": lambda word, rest: Release(validate_name(_fixed_arguments(word, rest, 1)[0])),
    "PRIVADO": lambda word, rest: PrivateChats(_one_of(word, rest, ("NAO", "SIM")) == "SIM"),
    "REDEFINIR": lambda word, rest: ResetPassword(validate_name(_fixed_arguments(word, rest, 1)[0])),
    "REGISTRO": _log,
    "CARGO": _set_role,
}


def unknown_command_error(word: str) -> ProtocolError:
    """``ERRO COMANDO_DESCONHECIDO``, with the closest valid command as a hint."""
    # The word is echoed only when it is short and harmless to show.
    shown = "" if any(map(protocol.is_forbidden_char, word)) else f": {word[:protocol.MAX_NAME_LENGTH]}"
    suggestion = protocol.closest_command(word)
    hint = f" Você quis dizer {suggestion}?" if suggestion else ""
    return ProtocolError(
        ErrorCode.UNKNOWN_COMMAND,
        f"Comando desconhecido{shown}.{hint} Digite AJUDA para ver os comandos.",
    )
