"""From what the person types to what is sent.

Owns the decision about one typed line (:func:`interpret`: send it, ask for a
password, show help, or refuse it with a hint), how it is tidied before it
goes out, what the input history keeps of it (never a password) and Tab's
candidates. Pure: no I/O.

Called by the keyboard side of the client (:mod:`batchat.client`) and by
:mod:`batchat.screen`; imports only :mod:`protocol` and :mod:`batchat.render`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

import protocol
from batchat.render import make_visible


@dataclass(frozen=True)
class Send:
    """A valid command: send the line as typed."""

    line: str
    command: protocol.Command


@dataclass(frozen=True)
class AskPassword:
    """``NOVO alice`` or ``ENTRAR alice``: ask for the password, hidden, then send."""

    word: str  # "NOVO" or "ENTRAR"
    name: str


@dataclass(frozen=True)
class ShowHelp:
    """``AJUDA`` or ``?``: answered by the client itself, with examples."""


@dataclass(frozen=True)
class Refuse:
    """A line the server would refuse anyway: say why here, send nothing."""

    text: str


Typed = Send | AskPassword | ShowHelp | Refuse

PASSWORD_COMMANDS = ("NOVO", "ENTRAR")
_FIRST_WORD_RE = re.compile(r"(\S*)\s*(.*)", re.DOTALL)


def _split_first(text: str) -> tuple[str, str]:
    """The first word of ``text`` and the rest, whatever whitespace separates them."""
    match = _FIRST_WORD_RE.match(text)
    assert match is not None  # the pattern matches any string
    return match.group(1), match.group(2)


def _command_word(word: str) -> str:
    """``word`` as a command word: upper case, for ASCII words only (as the server does)."""
    return word.upper() if word.isascii() else word


def tidy_typed(line: str) -> str:
    """The line as it will be sent: one space between the command word and each name.

    A tab or a no-break space (Alt+Space on a Mac keyboard) after ``CHAT``
    would make the server see an unknown command; a ``\r`` left by CRLF input
    would make the last word wrong. A message keeps its text exactly.
    """
    word, rest = _split_first(line.removesuffix("\r").lstrip())
    match _command_word(word):
        case "TODOS":
            return f"{word} {rest}" if rest else word
        case "CHAT":
            name, text = _split_first(rest)
            return " ".join(part for part in (word, name, text) if part)
    return " ".join(line.split())


def interpret(line: str, can_prompt: bool) -> Typed | None:
    """Decide what to do with one typed line; ``None`` for a blank line.

    The client checks with the protocol module the server uses, so a typo gets
    its hint at once; what only the server knows (who is online, passwords) it
    still decides.
    """
    line = tidy_typed(line)
    if not line:
        return None
    words = line.split(" ")
    word = _command_word(words[0])
    if word in ("?", "AJUDA") and len(words) == 1:
        return ShowHelp()
    if can_prompt and word in PASSWORD_COMMANDS and len(words) == 2:
        try:
            return AskPassword(word, protocol.validate_name(words[1]))
        except protocol.ProtocolError as error:
            return Refuse(f"Erro: {error.text}")
    if len(protocol.encode_line(line)) > protocol.DEFAULT_MAX_LINE:
        return Refuse(
            f"Erro: linha longa demais (o máximo é {protocol.DEFAULT_MAX_LINE - 1} bytes); "
            "não foi enviada."
        )
    try:
        command = protocol.parse_command(line)
    except protocol.ProtocolError as error:
        if error.code is not protocol.ErrorCode.UNKNOWN_COMMAND:
            return Refuse(f"Erro: {error.text}")
        return Refuse(unknown_command_hint(words[0]))
    return None if command is None else Send(line, command)


def unknown_command_hint(word: str) -> str:
    """What to say about a word that is no command; the rest of the line is never repeated,
    because a mistyped ``ENTRAR`` may be followed by a password."""
    unknown = f"Comando desconhecido: {make_visible(word[:protocol.MAX_NAME_LENGTH])}."
    if suggestion := protocol.closest_command(word):
        return f"{unknown} Você quis dizer {suggestion}?"
    return f"{unknown} Para falar com todos: TODOS <mensagem>. AJUDA mostra os comandos."


def history_entry(line: str) -> str | None:
    """What history keeps of a typed line, never a password; ``None`` to keep nothing.

    ``ENTRAR alice s3nh4`` is kept as ``ENTRAR alice``; recalled, it asks for
    the password again. A line whose first word is no command is not kept at
    all: it may be a mistyped ``ENTRAR`` (``ENTRARbob s3nh4``, ``LOGIN bob
    s3nh4``) followed by a password.
    """
    line = tidy_typed(line)
    words = line.split(" ")
    word = _command_word(words[0])
    if word in PASSWORD_COMMANDS:
        return " ".join(words[:2])
    if word in protocol.COMMAND_WORDS or word == "?":
        return line
    return None


def completions(line: str, begin: int, text: str, online: Iterable[str]) -> list[str]:
    """Tab's candidates for ``text``, the word starting at ``begin`` in ``line``.

    The first word completes to a command; any other word to the name of
    someone online, ignoring case.
    """
    if not line[:begin].strip():
        upper = text.upper()
        return [f"{word} " for word in protocol.COMMAND_WORDS if word.startswith(upper)]
    key = protocol.name_key(text)
    return sorted(f"{name} " for name in online if protocol.name_key(name).startswith(key))
