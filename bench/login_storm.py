"""One address looping logins with right passwords: what it costs everyone else.

    python3 bench/login_storm.py                       # --login-attempts at its default
    python3 bench/login_storm.py --server-args --login-attempts 0   # the hashing alone
    python3 bench/login_storm.py --server /tmp/old/servidor.py     # compare another version

Starts ``servidor.py`` on a free loopback port with the real scrypt cost,
registers a victim and four looping accounts, then measures the victim's
login (``ENTRAR`` to ``OK ENTRAR``, from 127.0.0.2 and .5) first on an idle server,
then while four connections from 127.0.0.1 loop ``ENTRAR`` + ``SAIR`` as fast
as the server answers. A bystander (127.0.0.3) counts the ``ENTROU``/``SAIU``
lines the loop makes it receive. The goal: the victim's median login stays
within 2x of its idle time. Linux (loopback addresses beyond 127.0.0.1).
"""

from __future__ import annotations

import argparse
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
READY_RE = re.compile(r"pronto em [\d.]+:(\d+)")
PASSWORD = "senha-do-banco"
TIMEOUT = 30.0


class Client:
    """A blocking line client bound to ``source_ip``; every read has a timeout."""

    def __init__(self, port: int, source_ip: str) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), TIMEOUT, (source_ip, 0))
        self.file = self.sock.makefile("r", encoding="utf-8", newline="\n")
        self.file.readline()  # the greeting

    def request(self, line: str) -> str:
        self.sock.sendall((line + "\n").encode())
        return self.file.readline().rstrip("\n")

    def close(self) -> None:
        self.file.close()
        self.sock.close()


def timed_login(port: int, name: str, source_ip: str) -> float:
    """Seconds from ENTRAR to its answer, on a fresh connection (then SAIR)."""
    client = Client(port, source_ip)
    try:
        started = time.perf_counter()
        reply = client.request(f"ENTRAR {name} {PASSWORD}")
        elapsed = time.perf_counter() - started
        if not reply.startswith("OK ENTRAR"):
            raise RuntimeError(f"login of {name} refused: {reply}")
        client.request("SAIR")
        return elapsed
    finally:
        client.close()


def loop_logins(port: int, name: str, stop: threading.Event, counts: dict[str, int]) -> None:
    while not stop.is_set():
        client = Client(port, "127.0.0.1")
        try:
            reply = client.request(f"ENTRAR {name} {PASSWORD}")
            key = "ok" if reply.startswith("OK ") else "refused"
            counts[key] = counts.get(key, 0) + 1
            client.request("SAIR")
        finally:
            client.close()


def count_presence(client: Client, stop: threading.Event, seen: list[int]) -> None:
    """Count the loop's ENTROU/SAIU lines the bystander receives until ``stop``."""
    client.sock.settimeout(0.2)
    rest = b""
    while not stop.is_set():
        try:
            data = client.sock.recv(65536)
        except TimeoutError:
            continue
        if not data:
            return
        *lines, rest = (rest + data).split(b"\n")
        seen[0] += sum(line.startswith((b"ENTROU laco", b"SAIU laco")) for line in lines)


def start_server(server: Path, folder: Path, extra: list[str]) -> tuple[subprocess.Popen[bytes], int]:
    log = folder / "servidor.log"
    with log.open("w") as output:
        process = subprocess.Popen(
            [sys.executable, str(server), "--host", "127.0.0.1", "--port", "0",
             "--users", str(folder / "users.json"), "--register-rate", "0", *extra],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=output,
        )
    deadline = time.monotonic() + TIMEOUT
    while not (match := READY_RE.search(log.read_text())):
        if process.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"the server did not start:\n{log.read_text()}")
        time.sleep(0.05)  # a benchmark's start-up, not a test: polling a file is fine
    return process, int(match.group(1))


def measure(port: int, samples: int, source_ip: str) -> list[float]:
    """The victim's login times; each phase from an address of its own, so the
    victim stays under --login-attempts itself (keep ``samples`` within it)."""
    return [timed_login(port, "vitima", source_ip) for _ in range(samples)]


def run(server: Path, extra: list[str], samples: int, loopers: int) -> None:
    with tempfile.TemporaryDirectory() as folder_name:
        process, port = start_server(server, Path(folder_name), extra)
        try:
            setup = Client(port, "127.0.0.4")
            for name in ["vitima", "vigia", *(f"laco{i}" for i in range(loopers))]:
                assert setup.request(f"NOVO {name} {PASSWORD}").startswith("OK NOVO"), name
            setup.close()
            idle = measure(port, samples, "127.0.0.2")
            bystander = Client(port, "127.0.0.3")
            assert bystander.request(f"ENTRAR vigia {PASSWORD}").startswith("OK ENTRAR")
            stop, counts, seen = threading.Event(), {}, [0]
            threads = [threading.Thread(target=loop_logins, args=(port, f"laco{i}", stop, counts))
                       for i in range(loopers)]
            threads.append(threading.Thread(target=count_presence, args=(bystander, stop, seen)))
            started = time.perf_counter()
            for thread in threads:
                thread.start()
            time.sleep(1.0)  # let the loop get going
            storm = measure(port, samples, "127.0.0.5")
            stop.set()
            for thread in threads:
                thread.join(TIMEOUT)
            duration = time.perf_counter() - started
        finally:
            process.terminate()
            process.wait(TIMEOUT)
    idle_ms, storm_ms = statistics.median(idle) * 1000, statistics.median(storm) * 1000
    print(f"server: {server}  extra options: {' '.join(extra) or '(none)'}")
    print(f"victim login, idle:        median {idle_ms:7.1f} ms  max {max(idle) * 1000:7.1f} ms")
    print(f"victim login, during loop: median {storm_ms:7.1f} ms  max {max(storm) * 1000:7.1f} ms"
          f"  ({storm_ms / idle_ms:.2f}x idle)")
    print(f"loop: {counts.get('ok', 0)} logins accepted, {counts.get('refused', 0)} refused "
          f"in {duration:.1f} s; bystander got {seen[0]} ENTROU/SAIU lines from it")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--server", type=Path, default=ROOT / "servidor.py")
    parser.add_argument("--samples", type=int, default=15, help="victim logins per phase")
    parser.add_argument("--loopers", type=int, default=4, help="looping connections (one address)")
    parser.add_argument("--server-args", nargs=argparse.REMAINDER, default=[],
                        help="more options for the server (last on the line)")
    args = parser.parse_args()
    run(args.server, args.server_args, args.samples, args.loopers)


if __name__ == "__main__":
    main()
