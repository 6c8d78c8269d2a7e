"""The server's grace periods and deadlines: how long it waits for what, in seconds.

Owns :class:`Timing`, a frozen value object. The server builds one and hands
it down: :class:`batchat.server.main.ChatServer` and its
:class:`batchat.server.chat.ServerContext`, each :class:`batchat.server.connection.Connection`
and the :class:`batchat.server.registry.SessionRegistry`. The defaults are what every
server runs with; the tests shorten them, so that they do not wait out seconds
of grace (see :meth:`Timing.parse`). Imports nothing of BatChat.

The limits a person chooses (``--login-timeout``, ``--login-cap``,
``--tls-timeout``, ``--idle-timeout``) are options, in :class:`batchat.server.limits.Limits`
and :class:`batchat.server.tls_handshake.TlsSettings`: these here are the waits nobody needs to tune.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields


@dataclass(frozen=True)
class Timing:
    """Seconds the server waits, each for one thing."""

    # A closing connection (SAIR, a limit, a newer login, the shutdown) gets this
    # long to write its last lines; a client that reads nothing is then cut off,
    # and what it never got goes back to the mailbox.
    close_grace: float = 2.0
    # An idle writer thread waits this long for more before ending.
    writer_linger: float = 1.0
    # A login waits at most this long for what the same person's last connection,
    # still ending, never wrote to come back to the mailbox.
    return_wait: float = 5.0
    # A name that leaves again and again (a login loop) has its SAIU held this
    # long: if it comes back meanwhile, nobody hears it left nor came back.
    presence_hold: float = 10.0
    # At shutdown, once cut off, the sessions get this long to end and keep in the
    # mailbox what their connections never wrote.
    end_grace: float = 5.0
    # Out of file descriptors, the accept loop stops this long instead of spinning.
    accept_pause: float = 0.5
    # A login waits at most this long for its account's turn to have a password
    # checked (--login-rate), then is refused: the client says PING after 5 s of
    # silence and gives the server 5 s more.
    login_wait: float = 8.0
    # After FREE_FAILURES wrong passwords on one connection, each next ENTRAR on it
    # first waits this long per failure past them (at most MAX_PAUSES times it).
    failure_pause: float = 1.0

    @classmethod
    def parse(cls, text: str) -> Timing:
        """``close_grace=0.2,end_grace=1``: the defaults with those fields changed.

        For ``servidor.py``'s hidden ``--timing`` option, which only the tests
        use (it is not in ``--help``). An option rather than an environment
        variable: it is read where every other option is, shows in the test's
        command line, and cannot leak from a shell into a person's server.
        Raises ``ValueError`` for an unknown field or a value that is not a
        finite number of seconds from 0 up.
        """
        known = {field.name for field in fields(cls)}
        changes: dict[str, float] = {}
        for item in filter(None, text.split(",")):
            name, _, value = item.partition("=")
            seconds = float(value)
            if name not in known or not (math.isfinite(seconds) and seconds >= 0):
                raise ValueError(f"inválido: {item!r}")
            changes[name] = seconds
        return cls(**changes)

    def as_option(self) -> str:
        """The text :meth:`parse` reads back into this same value."""
        return ",".join(f"{field.name}={getattr(self, field.name)!r}" for field in fields(self))


DEFAULT_TIMING = Timing()
