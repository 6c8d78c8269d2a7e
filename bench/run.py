"""Run BatChat's performance scenarios and print a table and JSON.

    python3 bench/run.py            # every scenario (several minutes)
    python3 bench/run.py --quick    # smaller ones, under a minute
    python3 bench/run.py --generator chatload --chatload /tmp/chatload

Each scenario starts a fresh ``servidor.py`` on a free loopback port with its
limits turned off (they are on by default; here they would refuse the load
itself) and a low ``--hash-cost``, drives it with the load generator, and
reads the server's CPU time and peak RSS from ``/proc``. Deliveries/s counts
messages received by clients per second. "CPU s/100k" is the server's CPU
time (user + system, the whole run, logins included) per 100,000 deliveries.

Generators: ``python`` is :mod:`bench.loadgen` (standard library, several
processes); ``chatload`` is an independent C generator, not part of this
repository, to check the Python one is not the
bottleneck (it is, for broadcast: see the README).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(Path(__file__).resolve().parent))

from loadgen import Settings, run_load  # noqa: E402  (after the path is set)

SERVER = ROOT / "servidor.py"
NO_LIMITS = [
    "--flood-rate", "0", "--max-clients", "0", "--max-per-ip", "0", "--login-rate", "0", "--login-attempts", "0",
    "--register-rate", "0", "--login-timeout", "0", "--idle-timeout", "0", "--max-queue", "0",
]
READY_RE = re.compile(r"pronto em [\d.]+:(\d+)")


@dataclass
class Scenario:
    name: str
    clients: int
    messages: int
    window: int = 8
    broadcast: bool = False
    rate: float = 0.0
    timeout: float = 120.0
    logins_only: bool = False  # measure connecting and logging in, then leave


FULL = [
    Scenario("unicast-100", 100, 2000, window=16),
    Scenario("unicast-1000", 1000, 200, window=4),
    Scenario("broadcast-100", 100, 20000, window=16, broadcast=True),
    Scenario("broadcast-1000", 1000, 2000, window=16, broadcast=True),
    Scenario("logins-10000", 10000, 1, logins_only=True, timeout=300),
    Scenario("open-loop-10000", 10000, 15, rate=5000, timeout=300),
    Scenario("open-loop-10000-fast", 10000, 15, rate=10000, timeout=300),
    Scenario("closed-loop-10000", 10000, 2, window=2, timeout=300),
]
QUICK = [
    Scenario("unicast-100", 100, 500, window=16),
    Scenario("unicast-1000", 1000, 50, window=4),
    Scenario("broadcast-100", 100, 2000, window=16, broadcast=True),
    Scenario("logins-2000", 2000, 1, logins_only=True),
]


class Server:
    """``servidor.py`` with limits off, on a free port, in a fresh folder."""

    def __init__(self, folder: Path, extra: list[str] | tuple[str, ...] = ()) -> None:
        self.log = folder / "servidor.log"  # a file, not a pipe: nobody has to keep reading it
        with self.log.open("w") as log:
            self.process = subprocess.Popen(
                [sys.executable, str(SERVER), "--host", "127.0.0.1", "--port", "0",
                 "--users", str(folder / "users.json"), "--hash-cost", "4",
                 "--log-level", "WARNING", *NO_LIMITS, *extra],
                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=log,
            )
        deadline = time.monotonic() + 30
        while not (match := READY_RE.search(self.log.read_text())):
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the server did not start:\n{self.log.read_text()}")
            time.sleep(0.05)  # a benchmark's start-up, not a test: polling a file is fine
        self.port = int(match.group(1))

    def cpu_seconds(self) -> float:
        fields = Path(f"/proc/{self.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def status(self, key: str) -> int:
        text = Path(f"/proc/{self.process.pid}/status").read_text()
        match = re.search(rf"^{key}:\s+(\d+)", text, re.MULTILINE)
        return int(match.group(1)) if match else 0

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def run_generator(scenario: Scenario, port: int, generator: str, chatload: str, prefix: str,
                  register: bool = True) -> dict[str, Any]:
    if generator == "python":
        settings = Settings(
            port=port, clients=scenario.clients, messages=scenario.messages,
            window=scenario.window, rate=scenario.rate, broadcast=scenario.broadcast,
            prefix=prefix, register=register, timeout=scenario.timeout,
        )
        return run_load(settings)
    command = [chatload, "--port", str(port), "--clients", str(scenario.clients),
               "--messages", str(scenario.messages), "--prefix", prefix,
               "--timeout", str(int(scenario.timeout))]
    command += ["--rate", str(scenario.rate)] if scenario.rate else ["--window", str(scenario.window)]
    command += ["--broadcast"] if scenario.broadcast else []
    command += [] if register else ["--no-register"]
    output = subprocess.run(command, capture_output=True, text=True, timeout=scenario.timeout * 3)
    return {key: _number(value.strip('"'))
            for key, value in re.findall(r'(\w+)=("[^"]*"|\S+)', output.stdout)}


def _number(text: str) -> Any:
    try:
        return float(text) if "." in text else int(text)
    except ValueError:
        return text


def run_scenario(scenario: Scenario, generator: str, chatload: str) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as folder:
        server = Server(Path(folder))
        try:
            cpu_before = server.cpu_seconds()
            started = time.monotonic()
            if scenario.logins_only:
                result = measure_logins(scenario, server, generator, chatload)
            else:
                result = run_generator(scenario, server.port, generator, chatload, "u")
            result["server_cpu_s"] = round(server.cpu_seconds() - cpu_before, 2)
            result["wall_s"] = round(time.monotonic() - started, 2)
            result["server_peak_rss_mib"] = round(server.status("VmHWM") / 1024, 1)
            delivered = result.get("delivered", 0) or 0
            result["cpu_s_per_100k"] = (
                round(result["server_cpu_s"] * 100_000 / delivered, 2) if delivered else None
            )
        finally:
            server.stop()
    return {"scenario": asdict(scenario), "generator": generator, **result}


def measure_logins(scenario: Scenario, server: Server, generator: str, chatload: str) -> dict[str, Any]:
    """Register everyone (NOVO, group commit), then log everyone in again with the accounts
    on file; and the server's memory per connection while they are all idle and logged in."""
    first = run_generator(scenario, server.port, generator, chatload, "u")
    rss_before = server.status("VmRSS")
    second = run_generator(scenario, server.port, generator, chatload, "u", register=False)
    return {
        "ok": first.get("ok", 0) and second.get("ok", 0),
        "clients": scenario.clients,
        "register_and_login_s": first.get("login_s"),
        "login_s": second.get("login_s"),
        "delivered": first.get("delivered", 0) + second.get("delivered", 0),
        "rss_before_kib": rss_before,
        "errors": (first.get("errors") or 0) + (second.get("errors") or 0),
        "first_error": first.get("first_error") or second.get("first_error") or "",
    }


def table(results: list[dict[str, Any]]) -> str:
    columns = ["scenario", "ok", "msgs_per_s", "p50_ms", "p99_ms", "max_ms", "login_s",
               "register_and_login_s", "cpu_s_per_100k", "server_peak_rss_mib"]
    rows = [[str(result["scenario"]["name"] if key == "scenario" else result.get(key, ""))
             for key in columns] for result in results]
    widths = [max(len(column), *(len(row[i]) for row in rows)) for i, column in enumerate(columns)]
    lines = ["  ".join(column.ljust(width) for column, width in zip(columns, widths))]
    lines += ["  ".join(cell.ljust(width) for cell, width in zip(row, widths)) for row in rows]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Cenários de desempenho do BatChat.")
    parser.add_argument("--quick", action="store_true", help="cenários menores (menos de 1 minuto)")
    parser.add_argument("--generator", choices=["python", "chatload"], default="python")
    parser.add_argument("--chatload", default="/tmp/chatload", help="o binário do chatload.c")
    parser.add_argument("--only", help="só os cenários cujo nome contém este texto")
    parser.add_argument("--json", type=Path, help="gravar os resultados neste arquivo")
    args = parser.parse_args(argv)
    if args.generator == "chatload" and not shutil.which(args.chatload):
        parser.error(f"{args.chatload} não existe: indique o binário do chatload com --chatload")
    scenarios = [s for s in (QUICK if args.quick else FULL) if not args.only or args.only in s.name]
    results = []
    for scenario in scenarios:
        print(f"... {scenario.name}", file=sys.stderr, flush=True)
        results.append(run_scenario(scenario, args.generator, args.chatload))
    print(table(results))
    document = json.dumps({"machine": machine(), "results": results}, indent=1)
    if args.json:
        args.json.write_text(document + "\n")
    print(document)
    return 0 if all(result.get("ok") for result in results) else 1


def machine() -> dict[str, Any]:
    cpu = re.search(r"model name\s*:\s*(.*)", Path("/proc/cpuinfo").read_text())
    return {
        "cpus": os.cpu_count(),
        "cpu": cpu.group(1) if cpu else "?",
        "python": sys.version.split()[0],
        "kernel": os.uname().release,
    }


if __name__ == "__main__":
    sys.exit(main())
