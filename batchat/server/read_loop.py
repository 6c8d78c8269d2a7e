"""One connection's read loop: bytes in, lines through the session, the login deadlines.

Owns :func:`read_lines` (every line a client sends, decrypted and framed, handed
to its :class:`batchat.server.session.ChatSession` until the client leaves) and
:class:`LoginClock` (when a connection that has not logged in is closed).
Called by :meth:`batchat.server.main.ChatServer._serve_connection`, in the
connection's own thread; imports only the modules below the server.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterator

import protocol
from protocol import ErrorCode, ProtocolError
from batchat import framing, portable
from batchat.server import foreign
from batchat.server.connection import Connection, next_recv_size, RECV_SMALL
from batchat.server.ending import Closer, Ending, SessionEnded
from batchat.server.limits import limit_error, Limits
from batchat.server.session import ChatSession

FOREIGN_HEAD = 4096  # bytes of a connection's start inspected for HTTP or TLS


# What completes "limite" in the log line, for each login deadline.
LOGIN_IDLE = Ending(Closer.LIMIT, "de tempo para entrar sem enviar comandos (--login-timeout)")
LOGIN_CAP = Ending(Closer.LIMIT, "de tempo total para entrar (--login-cap)")


class LoginClock:
    """When a connection that has not logged in yet is closed.

    Two deadlines, the earlier one applies: ``timeout`` seconds after the last
    complete line (or after connecting), so a silent client, or one that
    dribbles bytes without ever ending a line, goes at ``--login-timeout``,
    while someone reading AJUDA and mistyping a password is never cut off
    mid-sentence; and ``cap`` seconds after connecting, however much it
    talks. 0 turns either off. Time is passed in, so tests need no clock.
    """

    def __init__(self, timeout: float, cap: float, now: float) -> None:
        self._timeout = timeout
        self._idle_at = now + timeout if timeout else math.inf
        self._cap_at = now + cap if cap else math.inf

    def line_received(self, now: float) -> None:
        """A complete line came in: the idle deadline starts again."""
        if self._timeout:
            self._idle_at = now + self._timeout

    def deadline(self) -> tuple[float, Ending] | None:
        """The next deadline and the ending it means; ``None`` if there is none."""
        if self._idle_at == self._cap_at == math.inf:
            return None
        if self._idle_at <= self._cap_at:
            return self._idle_at, LOGIN_IDLE
        return self._cap_at, LOGIN_CAP


def login_timeout_error(ending: Ending, limits: Limits) -> ProtocolError:
    """``ERRO LIMITE`` for a login deadline: which one, and what to do."""
    if ending is LOGIN_CAP:
        why = f"{format_duration(limits.login_cap)} desde a conexão"
    else:
        why = f"{format_duration(limits.login_timeout)} sem nenhum comando"
    return limit_error(
        f"Tempo para entrar esgotado ({why}); conexão encerrada. "
        "Conecte de novo e use ENTRAR <usuário> <senha>."
    )


def format_duration(seconds: float) -> str:
    """``10 min``, ``60 s``, ``0,5 s``: a duration as a person reads it, in Portuguese."""
    if seconds >= 120 and seconds % 60 == 0:
        return f"{seconds / 60:g} min"
    return f"{seconds:g} s".replace(".", ",")


def read_lines(connection: Connection, session: ChatSession, limits: Limits, early: bytes = b"") -> None:
    """Handle every line the client sends, starting with ``early``, until it leaves.

    Raises :class:`SessionEnded` when the session must end before that.
    """
    framer = framing.LineFramer(limits.max_line)
    clock = LoginClock(limits.login_timeout, limits.login_cap, time.monotonic())
    head = b""  # the connection's first bytes, until its first line is complete
    first_line = True
    for data in _plaintext(connection, session, clock, limits, early):
        if first_line:
            head = (head + data)[:FOREIGN_HEAD]
            _refuse_foreign_protocol(head, session)
        lines = _frame(framer, data, session)
        if lines and session.name is None:
            clock.line_received(time.monotonic())
        if lines:
            first_line = False
            session.handle_lines(lines)


def _frame(framer: framing.LineFramer, data: bytes, session: ChatSession) -> list[bytes | framing.LineTooLong]:
    """The lines ``data`` completes; a client that never ends a line is told, and ended."""
    try:
        return framer.feed(data)
    except framing.FramingError as error:
        session.send_error(ProtocolError(ErrorCode.LINE_TOO_LONG, "Dados demais sem quebra de linha."))
        raise SessionEnded(Closer.LIMIT, f"de tamanho de linha (--max-line), com {error}") from None


def _plaintext(
    connection: Connection, session: ChatSession, clock: LoginClock, limits: Limits, early: bytes
) -> Iterator[bytes]:
    """What the client sends, decrypted if need be, chunk by chunk, starting with
    ``early``; ends when the client closes the connection (or its TLS session)."""
    if early:
        yield early
    size = RECV_SMALL
    while received := _receive(connection, session, clock, limits, size):
        size = next_recv_size(len(received), size)
        data = connection.decrypt(received)
        if data is None:
            return
        if data:  # else part of a TLS record: no plaintext yet
            yield data


def _receive(connection: Connection, session: ChatSession, clock: LoginClock, limits: Limits, size: int) -> bytes:
    """The next bytes from the client, at most ``size``; before login, ends the session at
    a login deadline.

    The deadline is waited on apart, never with a socket timeout: the socket
    stays blocking, so the writer thread's sends never change mode.
    """
    due = clock.deadline() if session.name is None else None
    if due is not None:
        at, ending = due
        remaining = at - time.monotonic()
        if remaining <= 0 or not portable.wait_readable(connection.sock, remaining):
            session.send_error(login_timeout_error(ending, limits))
            raise SessionEnded.of(ending)
    return connection.sock.recv(size)


def _refuse_foreign_protocol(data: bytes, session: ChatSession) -> None:
    """An HTTP request or a TLS handshake gets one clear line, then the door."""
    name = foreign.foreign_protocol(data)
    if name is not None:
        session.send_error(foreign.foreign_protocol_error(name))
        raise SessionEnded(Closer.SERVER, f"cliente falando {name}, não BatChat")
