"""The client's pacing, line length check and liveness (:mod:`batchat.client.flow`), on their own:
time is a number passed in, so nothing here waits."""

from __future__ import annotations

import unittest

import protocol
from batchat.client import flow
from batchat.client.flow import Liveness, Pacer, ServerLimits
from batchat.server.limits import TokenBucket


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

    def test_automatic_lines_overdraw_it(self) -> None:
        pacer = Pacer(ServerLimits(5, 20, 2048), 0.0)
        for _ in range(20):
            pacer.charge(0.0)
        self.assertAlmostEqual(pacer.delay(0.0), 3 / 4.5)

    def test_limits_from_the_line(self) -> None:
        line = protocol.parse_server_line(protocol.format_limits(2.5, 7, 4096))
        self.assertEqual(ServerLimits.from_fields(line.fields), ServerLimits(2.5, 7, 4096))
        self.assertIsNone(ServerLimits.from_fields(protocol.parse_server_line("LIMITES x 1 2").fields))
        self.assertEqual(protocol.format_limits(5.0, 20, 2048), "LIMITES 5 20 2048")


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
