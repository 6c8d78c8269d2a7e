"""The ``ENTROU``/``SAIU`` notices, written once and read by every connection at its own pace.

Owns :class:`PresenceJournal`, pure data with no lock of its own: the
registry appends and forgets under its lock, and each connection reads
without one (see the class for why that is safe); and :class:`PresenceCursor`,
one logged-in connection's place in it, which that connection takes as its
feed (``batchat.server.connection.Feed``). Imports nothing of BatChat.
"""

from __future__ import annotations

class PresenceJournal:
    """The ``ENTROU``/``SAIU`` notices, written once and read by each session at its own pace.

    Telling n people online that someone came in used to mean n queued lines
    and n sends; n people arriving together made that n² (2,000 logins took
    29 s). Now a login appends one line here, and each connection catches up
    with everything it has not seen in one send: as soon as anything else is
    sent to it (so a notice always comes before the messages that follow it),
    or when the registry's presence thread passes, PRESENCE_TICK later.

    Appends and :meth:`forget_before` happen under the registry's lock;
    :meth:`since` and :attr:`end` read without it, from any connection's thread.
    That is safe because ``_state`` is replaced as a whole (reading one
    attribute is atomic) and the list it holds only ever grows (``append``,
    ``len`` and slicing are each atomic: under the GIL, and in free-threaded
    CPython under the list's own per-object lock). A reader may miss a notice
    appended a moment ago; it gets it at its next catch-up.
    """

    def __init__(self) -> None:
        self._state: tuple[int, list[bytes]] = (0, [])  # (index of the first line kept, lines)

    @property
    def end(self) -> int:
        """The index the next notice will get."""
        first, lines = self._state
        return first + len(lines)

    @property
    def kept(self) -> int:
        """How many notices are kept."""
        return len(self._state[1])

    def append(self, line: bytes) -> None:
        self._state[1].append(line)

    def since(self, index: int) -> tuple[bytes, int]:
        """The notices from ``index`` on, joined, and the index to continue from."""
        first, lines = self._state
        end = first + len(lines)
        return b"".join(lines[max(0, index - first):end - first]), end

    def forget_before(self, index: int) -> None:
        first, lines = self._state
        if index > first:
            self._state = (index, lines[index - first:])


class PresenceCursor:
    """One connection's place in the journal: its feed (``batchat.server.connection.Feed``).

    :meth:`take` runs under that connection's lock (one taker at a time);
    :meth:`ready` and :attr:`seen` are read without it, as hints (see the
    list of unlocked reads in :mod:`batchat.server.tiers`).
    """

    __slots__ = ("_journal", "seen")

    def __init__(self, journal: PresenceJournal, start: int) -> None:
        self._journal = journal
        self.seen = start  # journal index of the next notice to send

    def ready(self) -> bool:
        """Whether notices wait (a racy hint: the caller takes the lock and checks again)."""
        return self.seen < self._journal.end

    def take(self) -> bytes:
        """The notices not yet taken, joined (``b""``: none). Every enqueue of a logged-in
        connection calls this: the test reads the journal's state itself, one call less."""
        first, lines = self._journal._state
        if self.seen >= first + len(lines):
            return b""
        data, self.seen = self._journal.since(self.seen)
        return data
