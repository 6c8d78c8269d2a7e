"""The benchmark's own load generator, run small against the real server: no timing
asserted (performance figures live in the README, from bench/run.py), only that every
message it sends is counted as delivered, in unicast, broadcast and open loop."""

from __future__ import annotations

import sys

from tests.support import ROOT, ServerTestCase

sys.path.insert(0, str(ROOT / "bench"))

from loadgen import Settings, run_load  # noqa: E402  (bench/ is not a package)


class LoadGeneratorTest(ServerTestCase):
    server_args = ("--flood-rate", "0", "--register-rate", "0", "--max-per-ip", "0")

    def run_scenario(self, **options: object) -> dict[str, object]:
        settings = Settings(port=self.server.port, clients=6, messages=20, processes=2,
                            timeout=10, **options)  # type: ignore[arg-type]
        return run_load(settings)

    def test_unicast_closed_loop(self) -> None:
        result = self.run_scenario(window=4)
        self.assertEqual((result["ok"], result["delivered"]), (1, 120), result)

    def test_broadcast(self) -> None:
        result = self.run_scenario(broadcast=True, prefix="b", window=4)
        self.assertEqual((result["ok"], result["delivered"]), (1, 20 * 5), result)

    def test_open_loop(self) -> None:
        result = self.run_scenario(rate=500, prefix="o")
        self.assertEqual((result["ok"], result["delivered"]), (1, 120), result)
        self.assertGreater(result["p99_ms"], 0)
