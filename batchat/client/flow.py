"""When the client sends, and whether the server is still there; without I/O.

Owns :class:`ServerLimits` (what the server's ``LIMITES`` line states, or its
defaults, and so what each line costs), :class:`Pacer` (the client's own token
bucket, a little slower than the server's, so that a pasted block of lines is
spaced out instead of refused; no line waits more than :data:`MAX_DELAY` in
all) and :class:`Liveness` (a ``PING`` after a silence, and
the deadlines after which a silent server is given up on).

Pure but for :func:`pause` (the one wait, on a condition the caller holds):
time is always passed in (seconds of a monotonic clock). Called by
:mod:`batchat.client.threads` and, for :class:`ServerLimits`, the client's
state and events; imports only :mod:`protocol` and :mod:`batchat.prices`.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass

import protocol
from batchat import prices

RATE_MARGIN = 0.9  # the client sends at most 90% of the server's rate...
BURST_SPARE = 2  # ...and keeps this many of its burst back (automatic lines, clock skew)
MAX_DELAY = 60.0  # seconds a queued line waits at most for its turn, in all
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
    """``LIMITES <taxa> <rajada> <linha> <ouvintes-por-ficha>``: lines per second (0:
    none), lines at once, bytes per line counting the newline, and the fan-out price.
    The defaults are the server's (:mod:`protocol` writes them once, for both)."""

    rate: float = protocol.DEFAULT_FLOOD_RATE
    burst: int = protocol.DEFAULT_FLOOD_BURST
    max_line: int = protocol.DEFAULT_MAX_LINE
    per_token: int = protocol.FANOUT_PER_TOKEN

    @classmethod
    def from_fields(cls, fields: tuple[str, ...]) -> ServerLimits | None:
        parsed = prices.parse_limits(fields)
        return None if parsed is None else cls(*parsed)

    def price(self, command: protocol.Command, fan_out: int) -> int:
        """What this server charges for ``command`` (see :func:`batchat.prices.line_price`)."""
        return prices.line_price(command, fan_out, burst=self.burst, per_token=self.per_token)


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

    def delay(self, now: float, cost: float = 1.0, since: float | None = None) -> float:
        """Seconds until a line costing ``cost``, queued at ``since`` (default: now), may
        go (0: now). Bounded, whatever the server stated: a line never waits more than
        :data:`MAX_DELAY` since it was queued, however many waits that takes."""
        if not self._rate:
            return 0.0
        self._refill(now)
        missing = min(cost, self._burst) - self._tokens
        if missing < EPSILON:
            return 0.0
        deadline = (now if since is None else since) + MAX_DELAY
        return max(0.0, min(missing / self._rate, deadline - now))

    def charge(self, now: float, cost: float = 1.0) -> None:
        """A line costing ``cost`` was sent. The server takes up to its whole burst, which
        may overdraw ours (smaller by the spare): the next line waits for that too."""
        if self._rate:
            self._refill(now)
            self._tokens -= min(cost, max(self._burst, self.limits.burst))

    def refused(self, now: float, cost: float = 1.0, wait: float | None = None) -> None:
        """The server refused a line costing ``cost`` for flooding; ``wait``: the seconds it
        said its bucket needs to hold that (``None``: not said, so take it as empty).
        Ours follows: the line is not sent again before then, with our margin."""
        if not self._rate:
            return
        self._refill(now)
        if wait is None:
            self._tokens = min(self._tokens, 0.0)
        else:
            self._tokens = min(self._tokens, min(cost, self._burst) - wait * self.limits.rate)


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


FIRST_RETRY_DELAY = 1.0  # seconds before the first reconnection attempt...
MAX_RETRY_DELAY = 30.0  # ...doubling up to this


def retry_delays(first: float = FIRST_RETRY_DELAY) -> Iterator[float]:
    """Seconds to wait before each reconnection attempt: 1, 2, 4 ... then 30 for ever
    (``first``, then doubling: tests start lower)."""
    delay = first
    while True:
        yield delay
        delay = min(delay * 2, MAX_RETRY_DELAY)


def pause(condition: threading.Condition, seconds: float) -> None:
    """Wait ``seconds`` on ``condition`` (held), or until it is notified: the pacing's wait."""
    condition.wait(seconds)
