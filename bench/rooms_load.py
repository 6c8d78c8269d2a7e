"""Rooms under load (issue 21): ``--users`` people in ``--rooms`` rooms, all talking at once.

Starts a fresh ``servidor.py`` (``--salas-livres``, limits off, as bench/run.py does) unless
``--port`` names a running one; one account makes the rooms (``#s0`` ...) and leaves them;
then ``--processes`` processes, each a ``selectors`` loop, log their share of the users in
(user ``i`` joins room ``i % rooms``) and, after a common start, each user sends a ``FALA``
to its room ``--rate`` times a second for ``--seconds`` (open loop), carrying its send time
(CLOCK_MONOTONIC, shared by the processes). Every ``FALA`` line a user receives is a
delivery; its latency is now minus that time. Prints deliveries/s, p50 and p99, and
whether every delivery expected arrived (each line reaches the room's other members).
Bounded: the load lasts ``--seconds``, then at most ``--drain`` seconds for the rest.

    python3 bench/rooms_load.py --users 1000 --rooms 50 --seconds 20
"""

from __future__ import annotations

import argparse
import multiprocessing
import re
import selectors
import socket
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from loadgen import bucket_of, percentile  # noqa: E402  (after the path is set)
from run import Server  # noqa: E402

FALA_RE = re.compile(rb"^FALA \S+ \S+ t=(\d+) ", re.MULTILINE)
PASSWORD = "senha-bench"


def exchange(sock: socket.socket, line: str, buffer: bytearray) -> None:
    """Send ``line`` and read until its ``OK`` (an ``ERRO`` stops the benchmark)."""
    sock.sendall(line.encode() + b"\n")
    while True:
        while b"\n" not in buffer:
            chunk = sock.recv(65536)
            if not chunk:
                raise RuntimeError(f"o servidor fechou a conexão depois de {line!r}")
            buffer += chunk
        raw, _, rest = bytes(buffer).partition(b"\n")
        buffer[:] = rest
        if raw.startswith(b"ERRO "):
            raise RuntimeError(f"{line!r}: {raw.decode()}")
        if raw.startswith(b"OK "):
            return


def connect(port: int, name: str, room: str | None) -> tuple[socket.socket, bytearray]:
    sock = socket.create_connection(("127.0.0.1", port), timeout=60)
    buffer = bytearray()
    for line in (f"NOVO {name} {PASSWORD}", f"ENTRAR {name} {PASSWORD}",
                 *([f"SALA ENTRAR {room}"] if room else [])):
        exchange(sock, line, buffer)
    return sock, buffer


def make_rooms(port: int, rooms: int) -> None:
    sock, buffer = connect(port, "dono", None)
    for room in range(rooms):
        exchange(sock, f"SALA CRIAR #s{room}", buffer)
        exchange(sock, f"SALA SAIR #s{room}", buffer)
    sock.close()


def worker(port: int, users: range, rooms: int, rate: float, seconds: float, drain: float,
           ready: Any, start: Any, results: Any) -> None:
    clients = [connect(port, f"u{user}", f"#s{user % rooms}") for user in users]
    selector = selectors.DefaultSelector()
    for sock, buffer in clients:
        sock.setblocking(False)
        selector.register(sock, selectors.EVENT_READ, buffer)
    ready.wait()
    begin = start.get()
    histogram: Counter[int] = Counter()
    sent = delivered = 0
    end = begin + seconds
    while (now := time.monotonic()) < end + drain:
        due = int((min(now, end) - begin) * rate * len(clients)) if now >= begin else 0  # spread evenly
        while sent < due and now < end:
            sock = clients[sent % len(clients)][0]
            user = users[sent % len(clients)]
            try:
                sock.send(f"FALA #s{user % rooms} t={time.monotonic_ns()} oi\n".encode())
            except BlockingIOError:
                break
            sent += 1
        for key, _ in selector.select(0.01):
            data = key.fileobj.recv(1 << 20)  # type: ignore[union-attr]
            buffer = key.data
            buffer += data
            cut = buffer.rfind(b"\n") + 1
            arrived = time.monotonic_ns()
            for match in FALA_RE.finditer(bytes(buffer[:cut])):
                histogram[bucket_of((arrived - int(match.group(1))) / 1e6)] += 1
                delivered += 1
            del buffer[:cut]
    results.put((sent, delivered, histogram))
    for sock, _ in clients:
        sock.close()


def run(port: int, args: argparse.Namespace) -> dict[str, Any]:
    make_rooms(port, args.rooms)
    context = multiprocessing.get_context("fork")
    ready = context.Barrier(args.processes + 1)
    start, results = context.Queue(), context.Queue()
    shares = [range(i, args.users, args.processes) for i in range(args.processes)]
    processes = [context.Process(target=worker, args=(port, share, args.rooms, args.rate, args.seconds,
                                                      args.drain, ready, start, results)) for share in shares]
    for process in processes:
        process.start()
    ready.wait(timeout=600)
    begin = time.monotonic() + 0.5
    for _ in processes:
        start.put(begin)
    sent = delivered = 0
    histogram: Counter[int] = Counter()
    for _ in processes:
        s, d, h = results.get(timeout=args.seconds + args.drain + 120)
        sent, delivered, histogram = sent + s, delivered + d, histogram + h
    for process in processes:
        process.join()
    per_room = args.users / args.rooms
    expected = int(sent * (per_room - 1))
    return {"users": args.users, "rooms": args.rooms, "sent": sent, "delivered": delivered,
            "expected": expected, "deliveries_per_s": round(delivered / args.seconds),
            "p50_ms": round(percentile(histogram, 0.50), 1), "p99_ms": round(percentile(histogram, 0.99), 1)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Salas sob carga: usuários em salas, todos falando ao mesmo tempo.")
    parser.add_argument("--users", type=int, default=1000)
    parser.add_argument("--rooms", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--rate", type=float, default=1.0, help="FALAs por segundo de cada usuário")
    parser.add_argument("--drain", type=float, default=5.0, help="segundos, no máximo, para o resto chegar")
    parser.add_argument("--processes", type=int, default=4)
    parser.add_argument("--port", type=int, help="um servidor já rodando (com --salas-livres e sem limites)")
    args = parser.parse_args(argv)
    if args.port:
        print(run(args.port, args))
        return 0
    with tempfile.TemporaryDirectory() as folder:
        server = Server(Path(folder), extra=["--salas-livres"])
        try:
            print(run(server.port, args))
        finally:
            server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
