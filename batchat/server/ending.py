"""How a connection ended: who closed it, why, and the one log line that says so.

Owns :class:`Closer` (the client, the server, a limit, a dead link),
:class:`Ending` (a closer and a detail), :class:`SessionEnded` (raised to end
a session, carrying its ending) and :func:`describe_end` (the log line).
Used by the connection, the session and the server's read loop; imports
nothing of BatChat.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

class Closer(enum.Enum):
    """Who ended a connection."""

    CLIENT = "client"  # the client left: SAIR, or it closed its end
    SERVER = "server"  # the server ended it: shutdown, a newer login, a broken protocol
    LIMIT = "limit"  # one of the limits (--flood-rate, --login-timeout, --max-queue...)
    LINK = "link"  # the link died: reset, no answer to keep-alive, a send that failed


@dataclass(frozen=True)
class Ending:
    """Who ended a connection, and a detail in Portuguese (may be empty).

    The detail completes the closer's phrase (see :func:`describe_end`): for
    ``LIMIT``, what follows the word "limite" (``"de mensagens por segundo"``).
    """

    closer: Closer
    detail: str = ""


class SessionEnded(Exception):
    """The session must end now; ``ending`` says who ended it and why, for the log."""

    def __init__(self, closer: Closer, detail: str = "") -> None:
        super().__init__(detail)
        self.ending = Ending(closer, detail)

    @classmethod
    def of(cls, ending: Ending) -> SessionEnded:
        return cls(ending.closer, ending.detail)


CLIENT_CLOSED = Ending(Closer.CLIENT)  # the client closed its end without a word


def describe_end(peer: str, name: str | None, ending: Ending) -> str:
    """The one log line for a connection's end, e.g. ``Conexão de 1.2.3.4:5 (alice)
    encerrada pelo cliente (SAIR).``"""
    who = f"Conexão de {peer}" + (f" ({name})" if name else "")
    detail = ending.detail
    if ending.closer is Closer.CLIENT:
        return f"{who} encerrada pelo cliente" + (f" ({detail})." if detail else ".")
    if ending.closer is Closer.LIMIT:
        return f"{who} encerrada pelo servidor: limite {detail}."
    if ending.closer is Closer.LINK:
        return f"{who} caiu: {detail or 'falha de rede'}."
    return f"{who} encerrada pelo servidor" + (f": {detail}." if detail else ".")
