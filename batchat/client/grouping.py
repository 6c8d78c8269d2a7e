"""Joins and leaves that come close together, shown as one line.

At the start of a class, and after each server restart, everyone comes in at
once: 24 lines of ``-- X entrou no chat.`` would push the conversation off the
screen. Owns :class:`PresenceGroups`, which holds each join or leave (a
:class:`~batchat.client.events.Show` with ``joined`` set) for a short window
and then shows the group as one line (``-- ana, bia, caio e mais 21 entraram no
chat.``; a group of one keeps its own sentence); a room's (``CHEGOU``, ``PARTIU``) are
grouped the same way, each room on its own (``-- ana e bia entraram na sala #g1.``). The rule:

- a join or leave opens a window, which closes :data:`SETTLE` seconds after the
  last one that came, and at most :data:`LONGEST` seconds after the first;
- someone who comes in and leaves again (or leaves and comes back) within the
  window cancels out: nothing changed, nothing is said;
- a message from someone not in the group passes ahead of it; any other line
  (a message from someone in the group, an answer, a notice, the end of the
  connection) shows the group first, so that what is said keeps its order.

Pure: no I/O, no threads, and no clock of its own: every call is given ``now``
(the shell's monotonic clock), so a test ticks it by hand. Used by the
client's I/O shell (:mod:`batchat.client.threads`), from its main thread only;
imports :mod:`protocol`, :mod:`batchat.client.events` and :mod:`batchat.client.render`.
"""

from __future__ import annotations

import protocol
from batchat.client.events import Event, Show
from batchat.client.render import render_presence

SETTLE = 0.5  # seconds without another join or leave that close a group
LONGEST = 2.0  # seconds after its first that a group is shown, however many keep coming


class PresenceGroups:
    """The joins and leaves not shown yet, and when to show them."""

    def __init__(self, settle: float = SETTLE, longest: float = LONGEST) -> None:
        self._settle = settle
        self._longest = longest
        # (room, name key) -> (name, joined), by arrival; room None: the chat (ENTROU, SAIU)
        self._pending: dict[tuple[str | None, str], tuple[str, bool]] = {}
        self._opened: float | None = None  # when the window opened; None: no group
        self._last = 0.0  # when the last join or leave came

    def arrange(self, events: list[Event], now: float) -> list[Event]:
        """``events``, in the order to carry them out: joins and leaves held back, and
        the group shown before any line that must not pass it."""
        arranged: list[Event] = []
        for event in events:
            if isinstance(event, Show) and event.joined is not None and event.person is not None:
                self._hold(event.room, event.person, event.joined, now)
            elif isinstance(event, Show) and not self._passes(event):
                arranged += [*self.flush(), event]
            else:
                arranged.append(event)
        return arranged

    def _passes(self, event: Show) -> bool:
        """A message from someone who is not in the group goes ahead of it."""
        return event.person is not None and protocol.name_key(event.person) not in {key for _, key in self._pending}

    def _hold(self, room: str | None, name: str, joined: bool, now: float) -> None:
        key = room, protocol.name_key(name)
        earlier = self._pending.get(key)
        if earlier is None:
            self._pending[key] = (name, joined)
        elif earlier[1] is not joined:
            del self._pending[key]  # came and went (or went and came back): nothing changed
        if not self._pending:
            self._opened = None
            return
        if self._opened is None:
            self._opened = now
        self._last = now

    def due(self) -> float | None:
        """When the group is to be shown (the shell's clock); ``None`` without one."""
        if self._opened is None:
            return None
        return min(self._last + self._settle, self._opened + self._longest)

    def wait(self, longest: float, now: float) -> float:
        """How long the shell may wait for the network: ``longest``, or less if the group
        is due sooner (never negative)."""
        due = self.due()
        return longest if due is None else max(0.0, min(longest, due - now))

    def tick(self, now: float) -> list[Event]:
        """The group's lines, if it is due by ``now``; else nothing."""
        due = self.due()
        return self.flush() if due is not None and now >= due else []

    def flush(self) -> list[Event]:
        """The group's lines now: one for those who came in and one for those who left (the
        chat, or each room), in the order each first came; nothing without a group."""
        held = [(room, name, joined) for (room, _), (name, joined) in self._pending.items()]
        self._pending, self._opened = {}, None
        kinds = dict.fromkeys((room, joined) for room, _, joined in held)
        return [
            Show(render_presence([name for where, name, kind in held if (where, kind) == (room, joined)],
                                 joined=joined, room=room))
            for room, joined in kinds
        ]
