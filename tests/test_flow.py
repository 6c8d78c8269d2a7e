"""The client's pacing, line length check and liveness (:mod:`batchat.client.flow`), on their own:
time is a number passed in, so nothing here waits."""

from __future__ import annotations

import unittest

import protocol
from batchat import prices
from batchat.client import server_lines
from batchat.client import flow
from batchat.client.flow import Liveness, Pacer, ServerLimits
from batchat.server.limits import Limits, TokenBucket
from batchat.server.main import welcome_lines


def send_times(pacer: Pacer, count: int) -> list[float]:
    """When each of ``count`` lines, all typed at once at time 0, goes out."""
    now, times = 0.0, []
    for _ in range(count):
        now += pacer.delay(now)
        pacer.charge(now)
        times.append(now)
    return times


class PacerTest(unittest.TestCase):
    def test_a_pasted_block_fits_the_servers_bucket(self) -> None:
        for rate, burst in [(5.0, 20), (1.0, 1), (0.5, 3), (100.0, 5)]:
            with self.subTest(rate=rate, burst=burst):
                times = send_times(Pacer(ServerLimits(rate, burst, 2048), 0.0), 60)
                server = TokenBucket(rate, burst, 0.0)
                self.assertTrue(all(server.take(1, when) for when in times), "none refused")
                self.assertEqual(times, sorted(times))

    def test_no_line_waits_more_than_a_minute(self) -> None:
        pacer = Pacer(ServerLimits(1e-30, 1, 2048), 0.0)  # a hostile server's rate
        pacer.charge(0.0)
        self.assertEqual(pacer.delay(0.0), flow.MAX_DELAY)

    def test_no_line_waits_more_than_a_minute_in_all(self) -> None:
        """However many waits it takes: the minute counts from when the line was queued."""
        pacer = Pacer(ServerLimits(1e-12, 1, 2048), 0.0)  # a hostile server's rate
        pacer.charge(0.0)
        self.assertEqual(pacer.delay(0.0, since=0.0), flow.MAX_DELAY)
        self.assertEqual(pacer.delay(45.0, since=0.0), flow.MAX_DELAY - 45.0, "what is left of its minute")
        self.assertEqual(pacer.delay(flow.MAX_DELAY, since=0.0), 0.0, "its minute is up: it goes")
        self.assertEqual(pacer.delay(flow.MAX_DELAY, since=flow.MAX_DELAY), flow.MAX_DELAY, "one queued later")

    def test_default_limits_burst_then_a_steady_pace(self) -> None:
        times = send_times(Pacer(ServerLimits(), 0.0), 30)
        self.assertEqual(times[:18], [0.0] * 18, "the burst, less a spare of two")
        gaps = [later - earlier for earlier, later in zip(times[18:], times[19:])]
        self.assertTrue(all(abs(gap - 1 / 4.5) < 1e-9 for gap in gaps), gaps)  # 90% of 5 a second

    def test_no_limit_means_no_wait(self) -> None:
        self.assertEqual(send_times(Pacer(ServerLimits(0, 0, 2048), 0.0), 100), [0.0] * 100)

    def test_a_refusal_empties_the_bucket(self) -> None:
        pacer = Pacer(ServerLimits(), 0.0)
        pacer.refused(0.0)
        self.assertAlmostEqual(pacer.delay(0.0), 1 / 4.5)

    def test_a_refusal_that_says_when_is_resent_then_with_our_margin(self) -> None:
        """The server's bucket had 2.5 of the 4 a line costs: it said 0.3 s; the line goes
        again a little later (our margin), when the server's bucket holds it."""
        server = TokenBucket(5, 20, 0.0)
        self.assertTrue(server.take(17.5, 0.0))
        self.assertFalse(server.take(4, 0.0))
        wait = server.wait_for(4, 0.0)
        self.assertAlmostEqual(wait, 0.3)
        pacer = Pacer(ServerLimits(), 0.0)
        pacer.refused(0.0, 4, wait)
        resent = pacer.delay(0.0, 4)
        self.assertAlmostEqual(resent, wait / flow.RATE_MARGIN)
        self.assertTrue(server.take(4, resent))

    def test_a_line_costing_the_whole_burst_never_outruns_the_server(self) -> None:
        """The client keeps a spare of two: a line costing all 20 of the server's burst goes
        when ours holds its 18, and charges the server's 20, so the next waits for those."""
        server, pacer = TokenBucket(5, 20, 0.0), Pacer(ServerLimits(), 0.0)
        now = 0.0
        for _ in range(5):
            now += pacer.delay(now, 20)
            pacer.charge(now, 20)
            self.assertTrue(server.take(20, now), now)

    def test_automatic_lines_overdraw_it(self) -> None:
        pacer = Pacer(ServerLimits(5, 20, 2048), 0.0)
        for _ in range(20):
            pacer.charge(0.0)
        self.assertAlmostEqual(pacer.delay(0.0), 3 / 4.5)

    def test_limits_from_the_line(self) -> None:
        line = server_lines.parse_server_line(prices.format_limits(2.5, 7, 4096, 5))
        self.assertEqual(ServerLimits.from_fields(line.fields), ServerLimits(2.5, 7, 4096, 5))
        self.assertIsNone(ServerLimits.from_fields(server_lines.parse_server_line("LIMITES x 1 2").fields))
        self.assertEqual(prices.format_limits(5.0, 20, 2048), "LIMITES 5 20 2048 10")
        older = server_lines.parse_server_line("LIMITES 5 20 2048")  # a server from before the fourth field
        self.assertEqual(ServerLimits.from_fields(older.fields), ServerLimits())

    def test_the_client_assumes_what_a_default_server_states(self) -> None:
        """The defaults are written once (protocol.py): the server's options and the limits a
        client paces by before the LIMITES line are the same ones."""
        (_, stated) = welcome_lines(Limits()).decode().splitlines()
        self.assertEqual(ServerLimits.from_fields(server_lines.parse_server_line(stated).fields), ServerLimits())
        self.assertEqual(ServerLimits(), ServerLimits(protocol.DEFAULT_FLOOD_RATE, protocol.DEFAULT_FLOOD_BURST,
                                                      protocol.DEFAULT_MAX_LINE, protocol.FANOUT_PER_TOKEN))

    def test_prices_follow_the_stated_limits(self) -> None:
        everyone = protocol.ListUsers(everyone=True)
        self.assertEqual(ServerLimits().price(protocol.Broadcast("oi"), 35), 4)
        self.assertEqual(ServerLimits().price(everyone, 61), 7)
        self.assertEqual(ServerLimits(5, 20, 2048, 5).price(protocol.Broadcast("oi"), 35), 8)
        self.assertEqual(ServerLimits(5, 3, 2048).price(everyone, 61), 3, "never more than the burst")


class LivenessTest(unittest.TestCase):
    def test_a_silent_server_gets_a_ping_then_is_given_up(self) -> None:
        liveness = Liveness(0.0)
        liveness.heard(0.1, line=True)  # the greeting
        self.assertIsNone(liveness.due(5.0))
        self.assertAlmostEqual(liveness.next_check(5.0), 0.1)
        self.assertEqual(liveness.due(5.1), "ping")
        liveness.pinged(5.1)
        self.assertIsNone(liveness.due(10.0))
        self.assertEqual(liveness.due(10.1), "silent", "noticed within about 10 s")

    def test_any_byte_answers(self) -> None:
        liveness = Liveness(0.0)
        liveness.heard(0.0, line=True)
        liveness.pinged(5.0)
        liveness.heard(6.0, line=False)
        self.assertIsNone(liveness.due(10.5))
        self.assertEqual(liveness.due(11.0), "ping")

    def test_a_plaintext_connection_probes_once_before_giving_up(self) -> None:
        liveness = Liveness(0.0, probe=True)
        self.assertAlmostEqual(liveness.next_check(0.0), flow.PROBE_AFTER)
        self.assertIsNone(liveness.due(flow.PROBE_AFTER - 0.01))
        self.assertEqual(liveness.due(flow.PROBE_AFTER), "probe")
        liveness.probed()
        self.assertIsNone(liveness.due(4.9), "once")
        self.assertEqual(liveness.due(5.0), "no greeting")
        greeted = Liveness(0.0, probe=True)
        greeted.heard(0.1, line=True)  # the greeting came first: nothing to probe
        self.assertIsNone(greeted.due(flow.PROBE_AFTER))
        self.assertIsNone(Liveness(0.0).due(flow.PROBE_AFTER), "TLS: never")

    def test_no_greeting_or_no_newline(self) -> None:
        liveness = Liveness(0.0)
        liveness.heard(1.0, line=False)  # bytes, but never a whole line
        self.assertIsNone(liveness.due(4.9))
        self.assertEqual(liveness.due(5.0), "no greeting")


if __name__ == "__main__":
    unittest.main()
