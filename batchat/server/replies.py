"""The one place that turns the server's results and events into wire lines (bytes).

Owns every ``protocol.encode_line(formatting.format_…)`` of the server: replies
(``OK``/``ERRO``), messages (``MSG``, ``TODOS``, ``PENDENTE``, ``HISTORICO``),
presence (``ENTROU``/``SAIU``), ``USUARIO``, ``INFO``, the teacher's lines
(``AVISO``, ``SILENCIADO``, ``LIBERADO``, ``PRIVADO``, ``CARGO``, ``ACAO``, through
:func:`line`), the rooms' (``FALA``, ``SALA``, ``MEMBRO``, ``HISTORICO <#sala>``; ``TOPICO``,
``CHEGOU``, ``PARTIU``, ``MOVIDO``, ``ENCERRADA`` through :func:`line`), the welcome and the goodbye. The words themselves are :mod:`batchat.formatting`'s; this module
only picks them and encodes, once per line (a line for n recipients is
encoded once, by its caller's one call). Pure: no I/O, no state. Called by
every server module that sends; imports only :mod:`protocol`, :mod:`batchat.formatting`
and :mod:`batchat.prices` (the ``LIMITES`` line).
"""

from __future__ import annotations

from collections.abc import Iterable

import protocol
from batchat import formatting, prices
from protocol import ProtocolError


def ok(command: str, detail: str = "") -> bytes:
    """``OK <COMANDO> [detalhe]``."""
    return protocol.encode_line(formatting.format_ok(command, detail))


def error(problem: ProtocolError) -> bytes:
    """``ERRO <CODIGO> <texto>``."""
    return protocol.encode_line(formatting.format_error(problem))


def stored_ok(recipient: str) -> bytes:
    """``OK CHAT <usuario> GUARDADA``."""
    return protocol.encode_line(formatting.format_stored_ok(recipient))


def private(sender: str, text: str) -> bytes:
    """A live private message: ``MSG <remetente> <mensagem>``."""
    return protocol.encode_line(formatting.format_private(sender, text))


def public(sender: str, text: str) -> bytes:
    """``TODOS <remetente> <mensagem>``, encoded once for all its recipients."""
    return protocol.encode_line(formatting.format_public(sender, text))


def history(sender: str, sent_at: float, text: str) -> bytes:
    """``HISTORICO <remetente> <quando> <mensagem>``."""
    return protocol.encode_line(formatting.format_history(sender, sent_at, text))


def waiting(sender: str, sent_at: float, text: str) -> bytes:
    """A kept private message given at a login: ``PENDENTE <remetente> <quando> <mensagem>``."""
    return protocol.encode_line(formatting.format_waiting(sender, sent_at, text))


def waiting_count(count: int) -> bytes:
    """The ``INFO`` after the ``PENDENTE`` lines."""
    return protocol.encode_line(formatting.format_waiting_count(count))


def joined(name: str) -> bytes:
    """``ENTROU <usuario>``."""
    return protocol.encode_line(formatting.format_joined(name))


def left(name: str) -> bytes:
    """``SAIU <usuario>``."""
    return protocol.encode_line(formatting.format_left(name))


def line(text: str) -> bytes:
    """Any line :mod:`batchat.formatting` wrote (the teacher's: ``AVISO``, ``CARGO``, ``ACAO``...)."""
    return protocol.encode_line(text)


def info(text: str) -> bytes:
    """``INFO <texto>``."""
    return protocol.encode_line(formatting.format_info(text))


def help_lines(teacher: bool) -> bytes:
    """The ``INFO`` lines that answer ``AJUDA`` (its ``OK AJUDA`` aside): a teacher's
    commands only for a ``teacher``."""
    return b"".join(protocol.encode_line(line) for line in formatting.help_lines(teacher))


def accounts(entries: Iterable[tuple[str, bool, float | None]]) -> list[bytes]:
    """A ``USUARIO`` line per (name, online, last seen), for ``LISTA TODOS``."""
    return [protocol.encode_line(formatting.format_account(*entry)) for entry in entries]


def welcome(text: str, rate: float, burst: int, max_line: int) -> bytes:
    """The greeting ``BATCHAT <versao> <texto>``, then ``LIMITES``."""
    greeting = protocol.encode_line(protocol.format_greeting(text))
    return greeting + protocol.encode_line(prices.format_limits(rate, burst, max_line))


# --- Rooms (issue 21) ---


def room_message(room: str, sender: str, text: str) -> bytes:
    """``FALA <#sala> <remetente> <mensagem>``, encoded once for all the room's members online."""
    return protocol.encode_line(formatting.format_room_message(room, sender, text))


def room_summary(room: str, online: int, topic: str | None) -> bytes:
    """``SALA <#sala> <membros-online> [tópico]``."""
    return protocol.encode_line(formatting.format_room(room, online, topic))


def room_members(room: str, members: Iterable[tuple[str, bool]]) -> bytes:
    """A ``MEMBRO <#sala> <usuario> ONLINE|OFFLINE`` line per (name, online)."""
    return b"".join(protocol.encode_line(formatting.format_member(room, *member)) for member in members)


def room_entry(room: str, topic: str | None, members: Iterable[tuple[str, bool]],
               lines: Iterable[tuple[str, float, str]]) -> bytes:
    """What SALA ENTRAR (and MOVIDO) gives before its end: ``TOPICO`` if there is one, the
    ``MEMBRO`` lines, then a ``HISTORICO <#sala>`` line per (sender, when, text), oldest first."""
    head = protocol.encode_line(formatting.format_topic(room, topic)) if topic else b""
    history = b"".join(protocol.encode_line(formatting.format_room_history(room, *line)) for line in lines)
    return head + room_members(room, members) + history
