"""Who is connected, who is online under which name, what they missed.

Owns :class:`SessionRegistry` (connections, names online, the public
history) and the :class:`PresenceJournal` of ``ENTROU``/``SAIU`` notices it
writes under its lock. Called by the chat service and the server. It knows
sessions only through the small :class:`Member` interface, which the chat
service uses too.
"""

from __future__ import annotations

import collections
import logging
import threading
import time
from collections.abc import Callable
from typing import Protocol

import protocol
from batchat.locks import tiered_lock
from batchat.server import replies, tiers
from batchat.server.connection import Connection
from batchat.server.limits import RateLimiter
from batchat.server.presence import PresenceCursor, PresenceJournal
from batchat.server.timing import DEFAULT_TIMING, Timing

log = logging.getLogger(__name__)


class Member(Protocol):
    """What the registry and the chat service need of a session: its connection, its
    name once logged in (set by ``ChatService.log_in``), its failed logins (counted by
    ``ChatService.authenticate``), and a way to tell it a newer login of the same
    account replaced it (called under the registry's lock: it may queue, never send)."""

    connection: Connection
    name: str | None
    failed_logins: int

    def mark_replaced(self) -> None: ...


class ClaimLost(Exception):
    """A newer login of the same account claimed the name (see :meth:`SessionRegistry.claim`)
    while this one waited: this login must end, without logging in."""


PRESENCE_TICK = 0.02  # seconds the presence thread waits, so a burst of notices shares a send


FORGET_AFTER = 1024  # presence notices kept before the registry looks for ones all have had


# A name that leaves more than PRESENCE_PER_MINUTE times a minute (a login loop)
# has its SAIU held Timing.presence_hold seconds: if it comes back meanwhile, nobody
# hears it left nor came back. Everyone's screen stays quiet, and still right:
# meanwhile LISTA shows it online to everyone, newcomers too (see names).
PRESENCE_PER_MINUTE = 4


class SessionRegistry:
    """Every open connection, and which logged-in session holds each name.

    API: :meth:`admit`, :meth:`remove_connection`, :meth:`connections`, :meth:`wait_until_empty`,
    :meth:`claim`, :meth:`check_claim`, :meth:`log_in`, :meth:`log_out`, :meth:`find`,
    :meth:`find_online`, :meth:`connection_of`, :meth:`names`, :meth:`online_count`,
    :meth:`broadcast`, :meth:`close`. Methods return copies.

    Writes take the lock; :meth:`find`, on every private message's path, reads
    without it, as do a few other hints (listed in :mod:`batchat.server.tiers`). Messages are
    sent after the lock is released, by the caller. Presence notices
    (``ENTROU``/``SAIU``) go into a :class:`PresenceJournal` under the lock, so
    a fast log-out and log-in of one name reach everyone in that order; a
    thread of the registry's own delivers them.

    The last ``history`` public messages are kept too, for those who log in
    later: :meth:`broadcast` records one and picks its recipients under the
    lock, and :meth:`log_in` replays them under it, so a newcomer gets each
    message exactly once, as history or live.
    """

    def __init__(
        self, max_clients: int = 0, max_per_ip: int = 0, history: int = 0,
        clock: Callable[[], float] = time.monotonic, timing: Timing = DEFAULT_TIMING,
    ) -> None:
        self._lock = tiered_lock(tiers.REGISTRY, "SessionRegistry")  # connections, names, history, presence
        self._emptied = threading.Condition(self._lock)  # the last connection was removed
        self._clock = clock
        self._presence_hold = timing.presence_hold
        self._departures = RateLimiter(PRESENCE_PER_MINUTE, clock)  # SAIU told at once, per name
        self._held: dict[str, tuple[str, float]] = {}  # name key -> (name, when its SAIU is due)
        self._max_clients = max_clients
        self._max_per_ip = max_per_ip
        self._by_name: dict[str, Member] = {}
        self._claims: dict[str, Member] = {}  # name key -> the login about to hold it (see claim)
        self._connections: set[Connection] = set()
        self._per_ip: collections.Counter[str] = collections.Counter()
        self._presence = PresenceJournal()
        self._cursors: dict[str, PresenceCursor] = {}  # name key -> its holder's place in _presence
        self._history: collections.deque[bytes] = collections.deque(maxlen=history)
        self._presence_changed = threading.Event()
        self._closed = threading.Event()
        threading.Thread(target=self._deliver_presence_forever, name="presença", daemon=True).start()

    def seed_history(self, lines: list[bytes]) -> None:
        """Start the replayed history with ``lines`` (#geral's last, from the disk), oldest first."""
        with self._lock:
            self._history.extend(lines)

    def close(self) -> None:
        """End the presence thread (the server has stopped: nobody is left to tell)."""
        self._closed.set()
        self._presence_changed.set()

    def admit(self, connection: Connection) -> str | None:
        """Count a new connection in, or return why it is refused."""
        with self._lock:
            if self._max_clients and len(self._connections) >= self._max_clients:
                return "O servidor está cheio; tente mais tarde."
            if self._max_per_ip and self._per_ip[connection.ip] >= self._max_per_ip:
                return "Conexões demais a partir do seu endereço IP."
            self._connections.add(connection)
            self._per_ip[connection.ip] += 1
        return None

    def remove_connection(self, connection: Connection) -> None:
        with self._lock:
            if connection in self._connections:
                self._connections.remove(connection)
                self._per_ip[connection.ip] -= 1
                if not self._per_ip[connection.ip]:
                    del self._per_ip[connection.ip]
                if not self._connections:
                    self._emptied.notify_all()

    def wait_until_empty(self, timeout: float) -> bool:
        """Wait until every connection's thread has ended; ``False`` if some had not by ``timeout``."""
        with self._lock:
            return self._emptied.wait_for(lambda: not self._connections, timeout)

    def connections(self) -> list[Connection]:
        """Every open connection, logged in or not."""
        with self._lock:
            return list(self._connections)

    def claim(self, session: Member, name: str) -> Member | None:
        """Make ``session``, a login of ``name`` not done yet, the one to hold it next;
        return the session it displaces, marked replaced here: the login that claimed
        the name before and has not finished, else the session holding it.

        Recorded at once, under the lock, so that of any number of logins of
        one account racing, each finds the one before it to replace, and one
        live session is left: the last to claim. A displaced login learns it at
        :meth:`check_claim`. Called through ``Delivery.claim`` (a hand-over and
        a claim never cross); nothing is sent here.
        """
        key = protocol.name_key(name)
        with self._lock:
            displaced = self._claims.get(key) or self._by_name.get(key)
            self._claims[key] = session
            if displaced is not None:
                displaced.mark_replaced()
        return displaced

    def check_claim(self, session: Member, name: str) -> None:
        """Raise :class:`ClaimLost` unless ``session`` still holds its claim of ``name``:
        a newer login claimed it since (and may even have logged in already)."""
        with self._lock:
            if self._claims.get(protocol.name_key(name)) is not session:
                raise ClaimLost(name)

    def log_in(self, session: Member, name: str, reply: bytes = b"") -> Member | None:
        """Make ``session`` the holder of ``name``, replay the public history to it,
        then ``reply`` (``OK ENTRAR``, which ends the login's reply), and tell the
        others it came in. Nothing is sent here; the caller flushes.

        Returns the session it replaced (the same person on an older
        connection), which is marked replaced; nobody else hears of a takeover.
        """
        key = protocol.name_key(name)
        with self._lock:
            if self._claims.get(key) is session:
                del self._claims[key]  # claimed, now held
            if self._history:  # bounded by --history lines: past max_queue if need be
                session.connection.enqueue(b"".join(self._history), bounded=False)
            if reply:  # under the lock too: no live message can come before it
                session.connection.enqueue(reply)
            replaced = self._by_name.get(key)
            self._by_name[key] = session
            if replaced is not None:
                replaced.mark_replaced()
            elif self._held.pop(key, None) is None:  # else back before anyone heard it left
                self._presence.append(replies.joined(name))
            # From here on, it hears of everyone else (and not of itself).
            cursor = self._cursors[key] = PresenceCursor(self._presence, self._presence.end)
            session.connection.follow(cursor)
        self._presence_changed.set()
        return replaced

    def log_out(self, session: Member, name: str) -> bool:
        """Remove ``session`` if it still holds ``name``, and tell the others it left.

        ``False`` if ``session`` was not the holder (a newer login replaced it).
        """
        key = protocol.name_key(name)
        with self._lock:
            if self._claims.get(key) is session:  # a login that gave up after its claim:
                del self._claims[key]  # the holder it displaced leaves with it
                session = self._by_name.get(key, session)
            if self._by_name.get(key) is not session:
                return False
            del self._by_name[key]
            del self._cursors[key]
            if self._departures.spend(key):
                self._presence.append(replies.left(name))
            else:  # leaving again and again: say it only if it stays away (release_departures)
                self._held[key] = (name, self._clock() + self._presence_hold)
        self._presence_changed.set()
        return True

    def release_departures(self) -> float | None:
        """Publish the held ``SAIU`` notices now due; seconds until the next one is
        (``None``: none held). Nothing is sent here."""
        now = self._clock()
        with self._lock:
            for key in [key for key, (_, due) in self._held.items() if due <= now]:
                name, _ = self._held.pop(key)
                self._presence.append(replies.left(name))
            next_due = min((due for _, due in self._held.values()), default=None)
        return None if next_due is None else max(0.0, next_due - now)

    def deliver_presence(self) -> None:
        """Bring every session up to date with the presence journal, one send each,
        then forget the notices everyone has had."""
        # list(values()) is one C call: atomic under the GIL, and under the dict's
        # own lock in free-threaded CPython; a session missed here catches up later.
        for session in list(self._by_name.values()):
            session.connection.pull_feed()
        if self._presence.kept <= FORGET_AFTER:
            return  # not worth a pass over every session under the lock
        with self._lock:
            seen = (cursor.seen for cursor in self._cursors.values())
            self._presence.forget_before(min(seen, default=self._presence.end))

    def _deliver_presence_forever(self) -> None:
        wait: float | None = None  # until a held SAIU is due
        while not self._closed.is_set():
            self._presence_changed.wait(wait)
            # A short pause lets a burst of logins reach each reader in one send.
            time.sleep(PRESENCE_TICK)
            self._presence_changed.clear()
            try:
                wait = self.release_departures()
                self.deliver_presence()
            except Exception:  # a bug here must not silence presence for good
                log.exception("Erro inesperado ao entregar avisos de presença.")

    def find(self, name: str) -> Member | None:
        """The session holding ``name``, if any; read without the lock (every private
        message does this: why that is safe is written once, in :mod:`batchat.server.tiers`)."""
        return self._by_name.get(protocol.name_key(name))

    def find_online(self, name: str) -> Member | None:
        """The session logged in as ``name``, if its connection still takes lines."""
        session = self.find(name)
        if session is None or session.name is None or not session.connection.accepting:
            return None
        return session

    def connection_of(self, name: str) -> Connection | None:
        """The connection ``name`` is logged in on, if it still takes lines."""
        session = self.find_online(name)
        return None if session is None else session.connection

    def connections_online(self, *, but: str) -> list[Connection]:
        """The connections of everyone online but ``but`` (a hint: read without the lock, see find)."""
        skip = protocol.name_key(but)
        return [session.connection for key, session in list(self._by_name.items()) if key != skip]

    def online_count(self) -> int:
        return len(self._by_name)

    @property
    def keeps_history(self) -> bool:
        return self._history.maxlen != 0

    def names(self, *, held: bool = True) -> list[str]:
        """Names online, sorted ignoring case: as everyone was told, so, with ``held``,
        also those whose ``SAIU`` is held (see ``Timing.presence_hold``).

        Everyone online before such a log-out still shows that person online,
        and hears nothing if they come back in time; whoever logs in or asks
        ``LISTA`` meanwhile must be shown the same, or would never hear they
        are back. If they stay away, the late ``SAIU`` reaches everyone alike.
        """
        with self._lock:
            names = [name for session in self._by_name.values() if (name := session.name)]
            if held:  # never also in _by_name: log_in takes a name out of _held
                names += [name for name, _ in self._held.values()]
        return sorted(names, key=lambda name: (name.casefold(), name))

    def broadcast(self, session: Member, history_line: bytes | None) -> list[Member]:
        """Everyone online but ``session``; ``history_line`` joins the history at the
        same moment, so each newcomer has the message once: live or replayed."""
        if history_line is None:  # list(values()): one C call, atomic under the GIL (see find)
            return [other for other in list(self._by_name.values()) if other is not session]
        with self._lock:
            self._history.append(history_line)
            return [other for other in self._by_name.values() if other is not session]
