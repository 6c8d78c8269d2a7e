"""Joins and leaves grouped into one line (:mod:`batchat.client.grouping`), on their own:
a clock ticked by hand, no socket, no thread, no sleep (issue 19 item 12)."""

from __future__ import annotations

import unittest

from batchat.client.events import SetPrompt, Show
from batchat.client.grouping import LONGEST, SETTLE, PresenceGroups
from batchat.client.render import Shown, news, render_presence

# A script is a list of steps (moment, what): "+ana" comes in, "-ana" leaves, "ana: oi" is a
# message from ana, "aviso" any other line, "prompt" an event that is no line; "tick"
# only lets the time pass. What the person reads comes out, in order.


def event(what: str) -> Show | SetPrompt:
    if what[0] in "+-":
        name = what[1:]
        joined = what[0] == "+"
        return Show(render_presence([name], joined=joined), name, joined=joined)
    if ": " in what:
        return Show(Shown.of(what), what.split(":")[0])
    return SetPrompt("> ") if what == "prompt" else Show(news(what))


def run(script: list[tuple[float, str]]) -> list[str]:
    groups = PresenceGroups()
    out: list[str] = []
    for moment, what in script:
        events = groups.tick(moment)
        if what != "tick":
            events += groups.arrange([event(what)], moment)
        out += [e.shown.plain() if isinstance(e, Show) else "<prompt>" for e in events]
    return out


SIX = [(0.05 * n, f"+{name}") for n, name in enumerate(["a", "b", "c", "d", "e", "f"])]


class PresenceGroupsTest(unittest.TestCase):
    CASES = [
        ("one join keeps today's sentence", [(0, "+ana"), (SETTLE, "tick")],
         ["-- ana entrou no chat."]),
        ("nothing before the window closes", [(0, "+ana"), (SETTLE - 0.01, "tick")], []),
        ("two joins, one line", [(0, "+ana"), (0.1, "+bia"), (0.1 + SETTLE, "tick")],
         ["-- ana e bia entraram no chat."]),
        ("three names at most, then the count", [*SIX, (1.0, "tick")],
         ["-- a, b, c e mais 3 entraram no chat."]),
        ("leaves: saíram", [(0, "-ana"), (0.2, "-bia"), (0.3, "-caio"), (0.9, "tick")],
         ["-- ana, bia e caio saíram do chat."]),
        ("a gap longer than the settle starts a new group",
         [(0, "+ana"), (SETTLE + 0.1, "+bia"), (2 * SETTLE + 0.2, "tick")],
         ["-- ana entrou no chat.", "-- bia entrou no chat."]),
        ("a steady stream is cut at the longest",
         [*[(0.4 * n, f"+p{n}") for n in range(6)], (LONGEST, "tick")],
         ["-- p0, p1, p2 e mais 2 entraram no chat."]),
        ("came and went within the window: nothing changed",
         [(0, "+ana"), (0.1, "+bia"), (0.2, "-ana"), (1.0, "tick")], ["-- bia entrou no chat."]),
        ("went and came back: nothing said", [(0, "-ana"), (0.1, "+ana"), (1.0, "tick")], []),
        ("joins and leaves: one line each, in the order they began",
         [(0, "-zé"), (0.1, "+ana"), (0.2, "+bia"), (0.3, "-yara"), (1.0, "tick")],
         ["-- zé e yara saíram do chat.", "-- ana e bia entraram no chat."]),
        ("a message from someone in the group shows the group first",
         [(0, "+ana"), (0.1, "+bia"), (0.2, "bia: oi"), (1.0, "tick")],
         ["-- ana e bia entraram no chat.", "bia: oi"]),
        ("a message from someone else passes ahead",
         [(0, "+ana"), (0.1, "prof: bom dia"), (1.0, "tick")],
         ["prof: bom dia", "-- ana entrou no chat."]),
        ("any other line (an answer, my own message) shows the group first", [(0, "+ana"), (0.1, "aviso")],
         ["-- ana entrou no chat.", "aviso"]),
        ("an event that is no line passes", [(0, "+ana"), (0.1, "prompt"), (1.0, "tick")],
         ["<prompt>", "-- ana entrou no chat."]),
        ("names are one name in any case", [(0, "+Ana"), (0.1, "-ana"), (1.0, "tick")], []),
    ]

    def test_grouping(self) -> None:
        for what, script, expected in self.CASES:
            with self.subTest(what):
                self.assertEqual(run(script), expected)

    def test_the_shell_waits_no_longer_than_the_group(self) -> None:
        groups = PresenceGroups()
        self.assertEqual(groups.wait(5.0, 0.0), 5.0, "no group: the network's wait")
        groups.arrange([event("+ana")], 10.0)
        self.assertEqual(groups.due(), 10.0 + SETTLE)
        self.assertAlmostEqual(groups.wait(5.0, 10.2), SETTLE - 0.2)
        self.assertEqual(groups.wait(5.0, 11.0), 0.0, "overdue: at once")
        self.assertEqual([e.shown.plain() for e in groups.flush() if isinstance(e, Show)],
                         ["-- ana entrou no chat."])
        self.assertIsNone(groups.due())
        self.assertEqual(groups.flush(), [], "nothing twice")



class RoomPresenceTest(unittest.TestCase):
    """Issue 21: CHEGOU and PARTIU are grouped like ENTROU and SAIU, each room on its own."""

    @staticmethod
    def came(name: str, room: str | None, joined: bool = True) -> Show:
        return Show(render_presence([name], joined=joined, room=room), name, joined=joined, room=room)

    def test_each_room_is_a_group_of_its_own(self) -> None:
        groups = PresenceGroups()
        arrivals = [self.came("ana", "#g1"), self.came("bia", "#g1"), self.came("caio", "#g2"),
                    self.came("ana", None), self.came("dani", "#g1", joined=False)]
        self.assertEqual(groups.arrange(arrivals, 0.0), [])
        self.assertEqual(groups.arrange([self.came("caio", "#g2", joined=False)], 0.1), [], "came and went")
        self.assertEqual([event.shown.plain() for event in groups.tick(LONGEST)], [
            "-- ana e bia entraram na sala #g1.", "-- ana entrou no chat.", "-- dani saiu da sala #g1.",
        ])

if __name__ == "__main__":
    unittest.main()
