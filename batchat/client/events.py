"""What the client's protocol state tells its I/O shell to do, and what it keeps of each line sent.

Owns :class:`Sent` (a command sent and not yet answered) and the small frozen
events :class:`batchat.client.state.ClientState` returns (:class:`Show`,
:class:`SetPrompt`, :class:`SendLine`, :class:`HangUp`, :class:`LoggedIn`,
:class:`Disconnect`, :class:`Reconnect`, :class:`Resend`, :class:`SetLimits`),
for :class:`batchat.client.threads.ChatClient` to carry out. Pure data; imports
:mod:`protocol`, :mod:`batchat.client.flow` and :mod:`batchat.client.render` only.
"""

from __future__ import annotations

from dataclasses import dataclass

import protocol
from batchat.client.flow import ServerLimits
from batchat.client.render import Shown, Style, When


class Sent:
    """A command sent and not yet answered; the server answers each one, in order."""

    def __init__(self, command: protocol.Command, *, automatic: bool = False, line: str = "") -> None:
        self.command = command
        self.line = line  # as sent, to send it again if the flood limit refuses it
        self.automatic = automatic  # sent by the client itself (log in again, LISTA, PING)
        self.outcome: str | None = None  # "OK", or the ERRO code, once answered
        self.abandoned = False  # never sent, or the connection ended before its answer
        self.queued_at: float | None = None  # when it was queued (the shell's clock), if it was
        self.sequence: int | None = None  # the order it was first sent in: a resend keeps it

    @property
    def finished(self) -> bool:
        """Answered, or never going to be; not while it waits to be sent again."""
        return self.outcome is not None or self.abandoned


# --- Events: what the shell is to do ----------------------------------------------------


@dataclass(frozen=True)
class Show:
    """Print this line (with the time its :class:`~batchat.client.render.When` asks for).
    ``person``: whom it is about, a message's author or who came in (``joined``) or left
    (``joined`` ``False``) the chat, or a ``room``: joins and leaves close together are shown
    as one line, per room (:mod:`batchat.client.grouping`)."""

    shown: Shown
    person: str | None = None
    joined: bool | None = None  # a presence line: person came in (True) or left (False)
    room: str | None = None  # ... of this room (CHEGOU, PARTIU); None: of the chat (ENTROU, SAIU)


@dataclass(frozen=True)
class SetPrompt:
    """Show this prompt from now on: ``alice> `` once logged in (``alice → bob> `` in a
    conversation), ``> `` before."""

    text: str


@dataclass(frozen=True)
class SendLine:
    """Send this line on the connection (the client's own: log in again, LISTA)."""

    line: str
    command: protocol.Command
    automatic: bool = True


@dataclass(frozen=True)
class HangUp:
    """Close this connection: the reconnection loop tries again later, after a longer wait."""


@dataclass(frozen=True)
class LoggedIn:
    """A login worked: the next outage's waits start again at the shortest."""

    name: str


@dataclass(frozen=True)
class Disconnect:
    """End this connection now, saying ``how``: its first line was no greeting. The
    session is not worth getting back if that line showed no BatChat server."""

    how: str


@dataclass(frozen=True)
class Reconnect:
    """The connection is gone, and worth getting back: reconnect with backoff, log in again."""


@dataclass(frozen=True)
class Resend:
    """The server's flood limit refused this line, unexecuted: send it again first, once
    ``wait`` seconds have passed (``None``: not said) for its ``price``; or, if that is too
    late for it, give it up and show ``refusal``."""

    sent: Sent
    price: int = 1
    wait: float | None = None
    refusal: tuple[Event, ...] = ()  # how it is shown, if given up


@dataclass(frozen=True)
class SetLimits:
    """The server stated its limits (``LIMITES``): pace what is sent by them."""

    limits: ServerLimits


Event = Show | SetPrompt | SendLine | HangUp | LoggedIn | Reconnect | Resend | SetLimits | Disconnect


def say(text: str, style: Style = Style.PLAIN, when: When = When.NOW) -> Show:
    """A line of the client's own about the session (the connection dropped, is back,
    a login again failed): something that happened, with the time, unless ``when`` is
    :data:`When.NONE` (an answer to what was just typed)."""
    return Show(Shown.of(text, style, when))
