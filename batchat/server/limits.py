"""What one client may cost the others: the limits, and the counters that enforce them.

Owns :class:`Limits` (the options, frozen), :class:`TokenBucket` (one
budget, unlocked: its owner serialises it), :class:`RateLimiter` (budgets per
key, one lock), :class:`GuessThrottle` (the password checks per account: a
wait, not a refusal) and :class:`OneAtATime` (a line per key). Used by the
accounts, the chat service and the sessions; imports nothing of BatChat but
``protocol``, ``batchat.locks`` and the tiers.
"""

from __future__ import annotations

import bisect
import contextlib
import itertools
import logging
import math
import threading
import time
from collections.abc import Callable, Hashable, Iterator
from dataclasses import dataclass
from typing import TypeVar

import protocol
from protocol import ErrorCode, ProtocolError
from batchat.locks import Lock, tiered_lock
from batchat.server import tiers
from batchat.server.timing import DEFAULT_TIMING, Timing

log = logging.getLogger(__name__)
T = TypeVar("T")


GUESS_BURST = 5  # password checks one account gets at once before they wait their turn
FREE_FAILURES = 3  # wrong passwords on one connection before its next ENTRAR pauses first
MAX_PAUSES = 4  # the longest such pause, in Timing.failure_pause: 4 s
STOPPING = "O servidor está sendo encerrado."  # to a login that was waiting for its turn
MIN_WAIT = 0.001  # seconds: the shortest wait for a turn
MAX_WAITING_LOGINS = 128  # logins waiting for their account's turn, over all accounts


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
    login_rate: int = 30  # passwords checked per minute, per account (from any IP); more wait
    login_attempts: int = 180  # logins per minute per IP, whatever their outcome
    register_rate: int = 60  # registrations per minute, per IP
    max_clients: int = 1000  # connections in all
    max_per_ip: int = 100  # connections from one IP
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
        """Give back the event just spent for ``key``: it turned out not to happen."""
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


Wait = Callable[[threading.Condition, float], object]


def _wait_on(condition: threading.Condition, seconds: float) -> object:
    return condition.wait(seconds)


@dataclass
class _Waiter:
    """One login waiting for its account's turn."""

    rank: tuple[int, int]  # (failed logins of its connection, arrival): lowest goes first
    since: float
    pushed_out: bool = False  # a better-ranked login took its place in the line


@dataclass
class _Turns:
    """One account's budget of checks and the logins waiting for it."""

    bucket: TokenBucket
    waiting: list[_Waiter]  # sorted by rank


class GuessThrottle:
    """Per account: at most ``per_minute`` passwords checked a minute, by delay, not refusal.

    Each check takes a token before it hashes; a right password gives it back,
    so only wrong guesses spend the budget: a burst of GUESS_BURST (at most half
    of ``per_minute``), then one every 60 / (``per_minute`` - burst) seconds (2.4 s
    at 30), never more than ``per_minute`` in any minute (2 if it is 1). With the bucket empty a login *waits* for the
    next token, first the ones whose connection failed fewest logins, then by
    arrival: the owner, on a connection that has not failed, is next whenever
    a token frees, however many guessers wait. At most
    ``Timing.login_wait`` / that interval logins wait for one account (one better-ranked
    pushes the last out, which is refused with ``ERRO LIMITE``), ``max_waiting``
    in all, and none longer than ``Timing.login_wait``: sleeping
    connection threads hold no lock, and their number is bounded.

    Per connection, too: after FREE_FAILURES wrong passwords on one, its next
    attempt first pauses ``failure_pause`` per failure past them (1, 2, 3, 4,
    4... s), whatever the account: one connection guesses a few names a minute.

    ``clock`` and ``wait`` (``Condition.wait``) are injected: a test can run
    hours of guesses in a few milliseconds.
    """

    def __init__(
        self, per_minute: int, *, timing: Timing = DEFAULT_TIMING, max_waiting: int = MAX_WAITING_LOGINS,
        clock: Callable[[], float] = time.monotonic, wait: Wait = _wait_on,
    ) -> None:
        self._burst = max(1, min(GUESS_BURST, per_minute // 2))
        self._rate = max(per_minute - self._burst, 1) / 60  # tokens per second
        self.interval = 1 / self._rate  # seconds between two checks once the burst is spent
        self._per_account = max(1, int(timing.login_wait / self.interval))
        self._max_wait = timing.login_wait
        self._failure_pause = timing.failure_pause
        self._per_minute = per_minute
        self._max_waiting = max_waiting
        self._clock, self._wait = clock, wait
        self._lock = tiered_lock(tiers.LEAF, "GuessThrottle")  # the turns below; never held while hashing
        self._changed = threading.Condition(self._lock)
        self._turns: dict[Hashable, _Turns] = {}
        self._waiting = 0  # over all accounts
        self._arrivals = itertools.count()
        self._next_prune = 1024
        self._closed = False  # the server is stopping: nobody waits any more

    def check(self, key: Hashable, failures: int, check: Callable[[], T]) -> T:
        """``check()`` (a password hash: a true value if the password is right) once ``key``
        has a token for it; ``failures``: the failed logins of the caller's connection,
        its place in line. Raises ``ERRO LIMITE`` if it cannot wait (see the class)."""
        if not self._per_minute:
            return check()
        self._pause(self._failure_pause * min(MAX_PAUSES, failures - FREE_FAILURES + 1))
        self._take_turn(key, failures)
        try:
            right = check()
        except BaseException:  # not checked after all (the hash queue was full): not a guess
            self._give_back(key)
            raise
        if right:  # only wrong guesses spend the budget
            self._give_back(key)
        return right

    def _take_turn(self, key: Hashable, failures: int) -> None:
        with self._changed:
            now = self._clock()
            turns = self._turns.get(key)
            if turns is None:
                self._prune(now)
                turns = self._turns[key] = _Turns(TokenBucket(self._rate, self._burst, now), [])
            if not turns.waiting and turns.bucket.take(1, now):
                return
            if self._closed:
                raise limit_error(STOPPING)
            waiter = self._enrol(turns, (failures, next(self._arrivals)), now)
            try:
                self._wait_for_token(turns, waiter)
            finally:
                if not waiter.pushed_out:
                    turns.waiting.remove(waiter)
                    self._waiting -= 1
                self._forget_if_idle(key, turns)
                self._changed.notify_all()

    def _enrol(self, turns: _Turns, rank: tuple[int, int], now: float) -> _Waiter:
        """A place in ``turns``' line, pushing out its last if it ranks below ``rank``."""
        if len(turns.waiting) >= self._per_account:
            last = turns.waiting[-1]
            if last.rank < rank:
                raise self._busy(len(turns.waiting))
            last.pushed_out = True
            turns.waiting.pop()
            self._waiting -= 1
            self._changed.notify_all()  # its thread is refused at once
        if self._waiting >= self._max_waiting:
            raise self._busy(len(turns.waiting))
        waiter = _Waiter(rank, now)
        bisect.insort(turns.waiting, waiter, key=lambda w: w.rank)
        self._waiting += 1
        return waiter

    def _wait_for_token(self, turns: _Turns, waiter: _Waiter) -> None:
        """Until ``waiter`` is first in line and takes a token. Caller holds the lock."""
        while True:
            if waiter.pushed_out:
                raise self._busy(len(turns.waiting))
            if self._closed:
                raise limit_error(STOPPING)
            now = self._clock()
            first = turns.waiting[0] is waiter
            if first and turns.bucket.take(1, now):
                return
            if now - waiter.since >= self._max_wait:
                raise self._busy(len(turns.waiting))
            delay = turns.bucket.wait_for(1, now) if first else self.interval
            # At least a millisecond: a refill computed in floats may fall short of a token by 1e-16.
            self._wait(self._changed, max(MIN_WAIT, min(delay, waiter.since + self._max_wait - now)))

    def _pause(self, seconds: float) -> None:
        """Wait ``seconds`` (nothing if 0 or less), holding no turn; ``ERRO LIMITE`` if
        the server stops meanwhile."""
        with self._changed:
            until = self._clock() + seconds
            while not self._closed and (now := self._clock()) < until:
                self._wait(self._changed, max(MIN_WAIT, until - now))
            if self._closed:
                raise limit_error(STOPPING)

    def close(self) -> None:
        """The server is stopping: every waiting login is refused now, not at its deadline."""
        with self._changed:
            self._closed = True
            self._changed.notify_all()

    def _give_back(self, key: Hashable) -> None:
        with self._changed:
            turns = self._turns.get(key)
            if turns is not None:
                turns.bucket.give_back(1)
                self._forget_if_idle(key, turns)
                self._changed.notify_all()

    def _forget_if_idle(self, key: Hashable, turns: _Turns) -> None:
        if not turns.waiting and turns.bucket.is_full(self._clock()):
            del self._turns[key]

    def _prune(self, now: float) -> None:
        """Forget the accounts with a full budget and nobody waiting, as RateLimiter does."""
        if len(self._turns) < self._next_prune:
            return
        self._turns = {k: t for k, t in self._turns.items() if t.waiting or not t.bucket.is_full(now)}
        self._next_prune = max(1024, 2 * len(self._turns))

    def _busy(self, waiting: int) -> ProtocolError:
        seconds = math.ceil((waiting + 1) * self.interval)
        return limit_error(f"Tentativas de login demais para essa conta agora; tente de novo em {seconds} s.")

    def __len__(self) -> int:
        """Accounts with a budget not full or a line: memory follows recent guessing."""
        with self._lock:
            return len(self._turns)


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
