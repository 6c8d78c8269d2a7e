"""What one client may cost the others: the limits, and the counters that enforce them.

Owns :class:`Limits` (the options, frozen), :class:`TokenBucket` (one
budget, unlocked: its owner serialises it), :class:`RateLimiter` (budgets per
key, one lock) and :class:`OneAtATime` (a line per key). Used by the accounts
the chat service and the sessions; imports nothing of BatChat but ``protocol``.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable, Hashable, Iterator
from dataclasses import dataclass

import protocol
from protocol import ErrorCode, ProtocolError
from batchat.locks import Lock, tiered_lock
from batchat.server import tiers

log = logging.getLogger(__name__)


FAILED_LOGINS_PER_IP_FACTOR = 4  # one IP may fail this many times --login-rate, over all names


@dataclass(frozen=True)
class Limits:
    """What one client may cost the others. 0 turns a limit off.

    docs/seguranca.md's table of limits explains each default; ``kick_wait``, a
    teacher's setting rather than a limit (never 0), is in docs/professor.md.
    """

    max_line: int = protocol.DEFAULT_MAX_LINE  # bytes per line, counting the newline
    max_queue: int = 256 * 1024  # bytes waiting to be sent to one client
    flood_rate: float = protocol.DEFAULT_FLOOD_RATE  # lines per second, sustained
    flood_burst: int = protocol.DEFAULT_FLOOD_BURST  # lines at once after a quiet spell
    login_rate: int = 5  # failed logins per minute, per account and IP
    login_attempts: int = 30  # logins per minute per IP, whatever their outcome
    register_rate: int = 10  # registrations per minute, per IP
    max_clients: int = 1000  # connections in all
    max_per_ip: int = 20  # connections from one IP
    login_timeout: float = 60.0  # seconds before login without a complete line
    login_cap: float = 600.0  # seconds before login in all, however much the client talks
    idle_timeout: float = 300.0  # seconds of silence before TCP keep-alive probes
    max_pending: int = 100  # private messages waiting for one user: kept, or acknowledged and unwritten
    kick_wait: int = 5 * 60  # seconds after EXPULSAR before that account may log in again (--espera-expulsao)


def limit_error(text: str) -> ProtocolError:
    """``ERRO LIMITE <text>``: one of the limits in :class:`Limits` was hit."""
    return ProtocolError(ErrorCode.LIMIT, text)


class TokenBucket:
    """``rate`` tokens per second, holding at most ``burst``; starts full.

    Not locked: each bucket is used by one thread, or under its owner's lock.
    Time is passed in, so tests need no clock.
    """

    def __init__(self, rate: float, burst: float, now: float) -> None:
        self._rate = rate
        self._burst = burst
        self._tokens = burst
        self._stamp = now

    def _refill(self, now: float) -> None:
        self._tokens = min(self._burst, self._tokens + (now - self._stamp) * self._rate)
        self._stamp = now

    def take(self, cost: float, now: float) -> bool:
        """Spend ``cost`` tokens if there are that many (never more than ``burst``);
        if not, spend none."""
        self._refill(now)
        cost = min(cost, self._burst)  # a TODOS to a crowd is slow, never impossible
        if self._tokens < cost:
            return False
        self._tokens -= cost
        return True

    def wait_for(self, cost: float, now: float) -> float:
        """Seconds until ``cost`` tokens are there (never more than ``burst``); 0: now."""
        self._refill(now)
        missing = min(cost, self._burst) - self._tokens
        return max(0.0, missing / self._rate) if self._rate else 0.0

    def give_back(self, cost: float) -> None:
        self._tokens = min(self._burst, self._tokens + cost)

    def is_full(self, now: float) -> bool:
        self._refill(now)
        return self._tokens >= self._burst


class RateLimiter:
    """At most ``per_minute`` events per key per minute (0: unlimited).

    Keys whose budget is full again are forgotten, so memory follows recent
    activity, not every key ever seen.
    """

    def __init__(self, per_minute: int, clock: Callable[[], float] = time.monotonic) -> None:
        self._per_minute = per_minute
        self._clock = clock
        self._lock = tiered_lock(tiers.LEAF, "RateLimiter")  # the buckets
        self._buckets: dict[Hashable, TokenBucket] = {}
        self._next_prune = 1024

    def __len__(self) -> int:
        with self._lock:
            return len(self._buckets)

    def spend(self, key: Hashable) -> bool:
        """Count one event for ``key``; ``False`` if it is over the limit."""
        if not self._per_minute:
            return True
        with self._lock:
            now = self._clock()
            bucket = self._buckets.get(key)
            if bucket is None:
                self._prune(now)
                bucket = self._buckets[key] = TokenBucket(self._per_minute / 60, self._per_minute, now)
            return bucket.take(1, now)

    def refund(self, key: Hashable) -> None:
        """Give back the event just spent for ``key`` (it turned out not to count)."""
        if not self._per_minute:
            return
        with self._lock:
            bucket = self._buckets.get(key)
            if bucket is not None:
                bucket.give_back(1)

    def _prune(self, now: float) -> None:
        if len(self._buckets) < self._next_prune:
            return
        self._buckets = {k: b for k, b in self._buckets.items() if not b.is_full(now)}
        self._next_prune = max(1024, 2 * len(self._buckets))


class OneAtATime:
    """A line per key: :meth:`hold` lets one holder per key in at a time, in any order.

    One lock per key, created while someone holds or waits for it and
    forgotten after, so memory follows the keys active now.
    """

    def __init__(self) -> None:
        self._lock = tiered_lock(tiers.LEAF, "OneAtATime")  # guards _keys only; never held while waiting
        self._keys: dict[Hashable, tuple[Lock, int]] = {}  # lock, holders and waiters

    @contextlib.contextmanager
    def hold(self, key: Hashable) -> Iterator[None]:
        with self._lock:
            turn, users = self._keys.get(key, (None, 0))
            turn = turn or tiered_lock(tiers.NAME_TURN, "OneAtATime.turn")  # the queue for this key
            self._keys[key] = (turn, users + 1)
        try:
            with turn:
                yield
        finally:
            with self._lock:
                turn, users = self._keys[key]
                if users == 1:
                    del self._keys[key]
                else:
                    self._keys[key] = (turn, users - 1)

    def __len__(self) -> int:
        with self._lock:
            return len(self._keys)
