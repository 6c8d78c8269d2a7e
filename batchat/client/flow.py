"""When the client sends, and whether the server is still there; without I/O.

Owns :class:`ServerLimits` (what the server's ``LIMITES`` line states, or its
defaults), :class:`Pacer` (the client's own token bucket, a little slower than
the server's, so that a pasted block of lines is spaced out instead of
refused) and :class:`Liveness` (a ``PING`` after a silence, and
the deadlines after which a silent server is given up on).

Pure: time is always passed in (seconds of a monotonic clock). Called by
:mod:`batchat.client.threads`; imports only :mod:`protocol`.
"""

from __future__ import annotations

from dataclasses import dataclass

import protocol

RATE_MARGIN = 0.9  # the client sends at most 90% of the server's rate...
MAX_DELAY = 60.0  # seconds a queued line waits at most for its turn
BURST_SPARE = 2  # ...and keeps this many of its burst back (automatic lines, clock skew)
PING_AFTER = 5.0  # seconds without a byte from the server before the client sends PING
ANSWER_DEADLINE = 5.0  # seconds after that PING with still nothing: the server is gone
GREETING_DEADLINE = 5.0  # seconds after connecting for the greeting line to come
# Seconds without a line after connecting before a plaintext client sends one blank
# line. A BatChat server greets at once and ignores a blank line; a TLS server waits
# for the client to speak (a TLS client always speaks first), and answers anything
# that is no TLS handshake at once with "use --tls". Not sent at once, so that a
# server refusing the connection (over a limit) closes before it, not with unread bytes.
PROBE_AFTER = 1.0
EPSILON = 1e-9  # tokens: less missing than this is rounding, not a reason to wait


@dataclass(frozen=True)
class ServerLimits:
    """``LIMITES <taxa> <rajada> <linha>``: lines per second (0: none), lines at once,
    bytes per line counting the newline. The defaults are the server's."""

    rate: float = 5.0
    burst: int = 20
    max_line: int = protocol.DEFAULT_MAX_LINE

    @classmethod
    def from_fields(cls, fields: tuple[str, ...]) -> ServerLimits | None:
        parsed = protocol.parse_limits(fields)
        return None if parsed is None else cls(*parsed)


class Pacer:
    """A token bucket like the server's, with a margin: how long a line must wait.

    Every line sent is charged, automatic ones too (they may overdraw it: they
    are not delayed, but what is typed after them waits longer). A new
    connection starts full, as the server's bucket for it does.
    """

    def __init__(self, limits: ServerLimits, now: float) -> None:
        self.limits = limits
        self._rate = limits.rate * RATE_MARGIN
        self._burst = float(max(1, limits.burst - BURST_SPARE))
        self._tokens = self._burst
        self._stamp = now

    def _refill(self, now: float) -> None:
        self._tokens = min(self._burst, self._tokens + max(0.0, now - self._stamp) * self._rate)
        self._stamp = now

    def delay(self, now: float, cost: float = 1.0) -> float:
        """Seconds until a line costing ``cost`` may go (0: now)."""
        if not self._rate:
            return 0.0
        self._refill(now)
        missing = min(cost, self._burst) - self._tokens
        # Bounded, whatever the server stated: a line never waits more than MAX_DELAY.
        return 0.0 if missing < EPSILON else min(MAX_DELAY, missing / self._rate)

    def charge(self, now: float, cost: float = 1.0) -> None:
        """A line costing ``cost`` was sent."""
        if self._rate:
            self._refill(now)
            self._tokens -= min(cost, self._burst)

    def refused(self, now: float) -> None:
        """The server refused a line for flooding: its bucket is empty, so ours is too."""
        if self._rate:
            self._refill(now)
            self._tokens = min(self._tokens, 0.0)


def line_cost(command: protocol.Command, others_online: int) -> float:
    """Flood tokens the server charges for ``command``: a TODOS one more per ten listeners."""
    if isinstance(command, protocol.Broadcast):
        return 1.0 + others_online // 10
    return 1.0


class Liveness:
    """Is the server still there? Fed the moments bytes arrive; says when to PING and
    when to give up.

    Until the first line (the greeting) the deadline is :data:`GREETING_DEADLINE`
    from connecting, and with ``probe`` (a plaintext connection) a blank line is
    due :data:`PROBE_AFTER` after connecting; after it, a silence of
    :data:`PING_AFTER` calls for a PING, and :data:`ANSWER_DEADLINE` more
    without a byte means the server is gone.
    """

    def __init__(self, now: float, *, probe: bool = False) -> None:
        self._connected = now
        self._heard = now
        self._pinged: float | None = None
        self._probe_at: float | None = now + PROBE_AFTER if probe else None
        self.greeted = False

    def heard(self, now: float, *, line: bool) -> None:
        """Bytes arrived (``line``: at least one whole line)."""
        self._heard = now
        self._pinged = None
        self.greeted = self.greeted or line

    def pinged(self, now: float) -> None:
        self._pinged = now

    def probed(self) -> None:
        """The blank line went out: once per connection."""
        self._probe_at = None

    def next_check(self, now: float) -> float:
        """Seconds until something may be due (never negative)."""
        if not self.greeted:
            due = self._connected + GREETING_DEADLINE
            if self._probe_at is not None:
                due = min(due, self._probe_at)
        elif self._pinged is None:
            due = self._heard + PING_AFTER
        else:
            due = self._pinged + ANSWER_DEADLINE
        return max(0.0, due - now)

    def due(self, now: float) -> str | None:
        """What is due now: ``"probe"`` (send the blank line), ``"ping"``, ``"silent"``
        (the server stopped answering), ``"no greeting"`` (it never spoke BatChat),
        or ``None``."""
        if self.next_check(now) > 0:
            return None
        if not self.greeted:
            if now < self._connected + GREETING_DEADLINE:
                return "probe"
            return "no greeting"
        return "ping" if self._pinged is None else "silent"
