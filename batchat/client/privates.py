"""The private messages of this client's run, for ``/privadas`` and ``/r``.

In a busy room a private answer scrolls away in seconds. Owns :class:`Privates`:
the last :data:`KEPT` private lines, both ways (received live, kept for the
person while away, sent and confirmed), each with who wrote it, to whom and
when, and who last wrote to the person (``/r`` answers them). It lives in
:class:`batchat.client.state.ClientState`, which lasts as long as the client
runs: it is kept across reconnections (a login as another account starts it
again). Pure; called by the state (under the shell's send lock); imports
:mod:`protocol`, :mod:`batchat.client.server_lines` and :mod:`batchat.client.render`.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

import protocol
from batchat.client import server_lines
from batchat.client.render import ME, Clock, Shown, Style, When, describe_moment, render_private

KEPT = 20  # private lines kept (and shown by /privadas): one screen of a 24-row terminal
NONE_YET = "Nenhuma mensagem privada desde que o cliente abriu."


@dataclass(frozen=True)
class PrivateLine:
    """One private message: written at ``moment`` (seconds since the epoch), ``sender``
    to ``recipient``; the person is :data:`~batchat.client.render.ME` on their side."""

    moment: float
    sender: str
    recipient: str
    text: str


class Privates:
    """The last private lines of this run, and who last wrote to the person."""

    def __init__(self) -> None:
        self._lines: deque[PrivateLine] = deque(maxlen=KEPT)
        self._last_sender: str | None = None
        self._owner: str | None = None  # the account they were said to

    @property
    def last_sender(self) -> str | None:
        """Who last wrote to the person privately (``/r`` answers them); ``None``: no one yet."""
        return self._last_sender

    def logged_in(self, name: str) -> None:
        """A login as ``name`` worked: the same account keeps its lines, another starts again."""
        if self._owner is not None and protocol.name_key(self._owner) != protocol.name_key(name):
            self._lines.clear()
            self._last_sender = None
        self._owner = name

    def note(self, parsed: server_lines.ServerLine, now: float) -> None:
        """Keep ``parsed`` if it is a private message to the person: ``MSG`` (live, written
        ``now``) or ``PENDENTE`` (kept while away, written when it says)."""
        match parsed.kind, parsed.fields:
            case "MSG", (sender, text):
                moment: float | None = now
            case "PENDENTE", (sender, when, text):
                moment = protocol.parse_timestamp(when)
            case _:
                return
        self._lines.append(PrivateLine(now if moment is None else moment, sender, ME, text))
        self._last_sender = sender

    def sent(self, recipient: str, text: str, now: float) -> None:
        """The server confirmed the person's private message to ``recipient``."""
        self._lines.append(PrivateLine(now, ME, recipient, text))

    def shown(self, clock: Clock) -> list[Shown]:
        """What ``/privadas`` shows: a title, then one row per line, oldest first, each
        with when it was written (``  [14:02] bob → eu: oi``)."""
        if not self._lines:
            return [Shown.of(NONE_YET, Style.NOTICE)]
        lines = sorted(self._lines, key=lambda line: line.moment)
        return [Shown.of(f"Últimas mensagens privadas ({len(lines)}):", Style.NOTICE),
                *(self._row(line, clock) for line in lines)]

    @staticmethod
    def _row(line: PrivateLine, clock: Clock) -> Shown:
        when = describe_moment(line.moment, clock) or "?"
        message = render_private(line.sender, line.recipient, line.text, None)
        return Shown(((Style.NOTICE, f"  [{when}]"), (Style.PLAIN, " "), *message.parts), When.WRITTEN)
