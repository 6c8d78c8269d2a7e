"""BatChat load generator, standard library only: many clients, several processes.

Speaks the same scenario as the independent C generator ``chatload`` (not part of this repository) so the two can be
compared: clients ``<prefix>0..N-1`` register (``NOVO``) and log in, then

- unicast: every client sends ``CHAT`` to its neighbour, at most ``window``
  messages of its own in flight (closed loop), or
- broadcast: client 0 sends ``TODOS`` to everyone, ``window`` in flight, or
- open loop (``--rate``): that many messages per second in all, round robin.

Each message carries its send time (CLOCK_MONOTONIC, shared by every process),
so latency is measured end to end. The clients are split over ``--processes``
processes, each one a ``selectors`` loop; in unicast each process's clients
form their own ring, so no process waits for another. Latencies go into a
log-scale histogram (1 % resolution), merged at the end.

Run ``python3 bench/loadgen.py --port P --clients 100 --messages 1000``; it
prints one ``key=value`` line like chatload's. :func:`run_load` is what
``bench/run.py`` calls.
"""

from __future__ import annotations

import argparse
import math
import multiprocessing
import os
import re
import selectors
import socket
import sys
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

DELIVERY_RE = re.compile(rb"^(?:MSG|TODOS) \S+ t=(\d+) ", re.MULTILINE)
BUCKETS_PER_DOUBLING = 70  # log-scale latency buckets: about 1 % wide


@dataclass
class Settings:
    port: int
    clients: int = 100
    messages: int = 1000  # per sender (unicast and open loop), or in all (broadcast)
    window: int = 8
    rate: float = 0.0  # open loop: messages per second in all; 0 = closed loop
    broadcast: bool = False
    payload: int = 32
    prefix: str = "u"
    password: str = "senha123"
    register: bool = True
    processes: int = 2
    timeout: float = 60.0
    wave: int = 256  # connections being set up at once, per process
    host: str = "127.0.0.1"


@dataclass
class WorkerResult:
    ready: int = 0
    delivered: int = 0
    errors: int = 0
    first_error: str = ""
    login_seconds: float = 0.0
    traffic_start: float = 0.0
    traffic_end: float = 0.0
    histogram: Counter[int] = field(default_factory=Counter)
    latency_max: float = 0.0


def bucket_of(milliseconds: float) -> int:
    return int(math.log2(max(milliseconds, 1e-3) * 1000) * BUCKETS_PER_DOUBLING)


def milliseconds_of(bucket: int) -> float:
    return 2 ** ((bucket + 0.5) / BUCKETS_PER_DOUBLING) / 1000


def percentile(histogram: Counter[int], fraction: float) -> float:
    total = sum(histogram.values())
    if not total:
        return -1.0
    rank = fraction * total
    seen = 0
    for bucket in sorted(histogram):
        seen += histogram[bucket]
        if seen >= rank:
            return milliseconds_of(bucket)
    return milliseconds_of(max(histogram))


class Client:
    """One connection: what it has to send, and what it has read so far."""

    def __init__(self, index: int, name: str, sock: socket.socket) -> None:
        self.index = index
        self.name = name
        self.sock = sock
        self.state = "connecting"
        self.inbox = b""
        self.outbox = bytearray()
        self.sent = 0
        self.in_flight = 0


class Worker:
    """The clients ``first .. first+count-1`` in one process, driven by one selectors loop."""

    def __init__(self, settings: Settings, first: int, count: int, start: Any, delivered: Any) -> None:
        self.settings = settings
        self.first = first
        self.count = count
        self.start_barrier = start
        self.shared_delivered = delivered  # broadcast: deliveries counted by every process
        self.selector = selectors.DefaultSelector()
        self.clients: list[Client] = []
        self.result = WorkerResult()
        self.filler = ("abcdefghijklmnopqrstuvwxyz" * (settings.payload // 26 + 1))[: settings.payload]

    # -- set-up --------------------------------------------------------------------------

    def connect_all(self) -> None:
        started = time.monotonic()
        for offset in range(self.count):
            while sum(c.state != "ready" for c in self.clients) >= self.settings.wave:
                self.poll(0.1)
            index = self.first + offset
            sock = socket.socket()
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            sock.setblocking(False)
            client = Client(index, f"{self.settings.prefix}{index}", sock)
            self.clients.append(client)
            try:
                sock.connect((self.settings.host, self.settings.port))
            except BlockingIOError:
                pass
            self.selector.register(sock, selectors.EVENT_READ | selectors.EVENT_WRITE, client)
        while self.result.ready + self.result.errors < self.count:
            if time.monotonic() - started > self.settings.timeout:
                break
            self.poll(0.1)
        self.result.login_seconds = time.monotonic() - started

    def on_connected(self, client: Client) -> None:
        if client.sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR):
            self.fail(client, "connect failed")
            return
        word = "NOVO" if self.settings.register else "ENTRAR"
        client.state = "registering" if self.settings.register else "logging in"
        self.queue(client, f"{word} {client.name} {self.settings.password}\n".encode())

    def on_setup_line(self, client: Client, line: bytes) -> None:
        if line.startswith(b"OK NOVO") or (line.startswith(b"ERRO USUARIO_EXISTE")
                                           and client.state == "registering"):
            client.state = "logging in"
            self.queue(client, f"ENTRAR {client.name} {self.settings.password}\n".encode())
        elif line.startswith(b"OK ENTRAR"):
            client.state = "ready"
            self.result.ready += 1
        elif line.startswith(b"ERRO"):
            self.fail(client, line.decode("utf-8", "replace"))

    # -- traffic ---------------------------------------------------------------------------

    def traffic(self) -> None:
        self.start_barrier.wait(self.settings.timeout)
        self.result.traffic_start = time.monotonic()
        deadline = self.result.traffic_start + self.settings.timeout
        expected = self.expected_deliveries()
        if self.settings.rate:
            self.open_loop(deadline, expected)
        else:
            for client in self.clients:
                self.pump(client)
            while self.result.delivered < expected and time.monotonic() < deadline:
                self.poll(0.01 if self.settings.broadcast else 0.1)
                if self.settings.broadcast and self.first == 0:
                    self.pump(self.clients[0])
        self.result.traffic_end = time.monotonic()

    def expected_deliveries(self) -> int:
        if self.settings.broadcast:
            return self.settings.messages * (self.count - (1 if self.first == 0 else 0))
        return self.settings.messages * self.count

    def open_loop(self, deadline: float, expected: int) -> None:
        rate = self.settings.rate / self.settings.processes
        total = self.settings.messages * self.count
        started, sent, turn = time.monotonic(), 0, 0
        while (sent < total or self.result.delivered < expected) and time.monotonic() < deadline:
            due = min(total, int((time.monotonic() - started) * rate))
            while sent < due:
                client = self.clients[turn % self.count]
                turn += 1
                self.send_message(client)
                sent += 1
            self.poll(0.001)

    def pump(self, client: Client) -> None:
        """Closed loop: top up this client's messages in flight."""
        settings = self.settings
        if settings.broadcast:
            if client.index != 0:
                return
            done = self.shared_delivered.value // max(1, settings.clients - 1)
            while client.sent < settings.messages and client.sent - done < settings.window:
                self.send_message(client)
            return
        while client.sent < settings.messages and client.in_flight < settings.window:
            self.send_message(client)

    def send_message(self, client: Client) -> None:
        body = f"t={time.monotonic_ns()} s={client.index} {self.filler}"
        if self.settings.broadcast:
            line = f"TODOS {body}\n"
        else:
            neighbour = self.first + (client.index - self.first + 1) % self.count
            line = f"CHAT {self.settings.prefix}{neighbour} {body}\n"
        client.sent += 1
        client.in_flight += 1
        self.queue(client, line.encode())

    def on_traffic_data(self, client: Client, data: bytes) -> None:
        now = time.monotonic_ns()
        histogram = self.result.histogram
        found = DELIVERY_RE.findall(data)
        for stamp in found:
            latency = (now - int(stamp)) / 1e6
            histogram[bucket_of(latency)] += 1
            if latency > self.result.latency_max:
                self.result.latency_max = latency
        self.result.delivered += len(found)
        if not found:
            return
        if self.settings.broadcast:
            with self.shared_delivered.get_lock():
                self.shared_delivered.value += len(found)
        elif not self.settings.rate:  # closed loop: the sender may send again
            sender = self.clients[(client.index - self.first - 1) % self.count]
            sender.in_flight -= len(found)
            self.pump(sender)

    # -- the loop ----------------------------------------------------------------------------

    def queue(self, client: Client, data: bytes) -> None:
        client.outbox += data
        self.write(client)

    def write(self, client: Client) -> None:
        try:
            sent = client.sock.send(client.outbox)
        except BlockingIOError:
            sent = 0
        except OSError as error:
            self.fail(client, str(error))
            return
        del client.outbox[:sent]
        events = selectors.EVENT_READ | (selectors.EVENT_WRITE if client.outbox else 0)
        self.selector.modify(client.sock, events, client)

    def poll(self, timeout: float) -> None:
        for key, events in self.selector.select(timeout):
            client: Client = key.data
            if client.state == "connecting":
                if events & selectors.EVENT_WRITE:
                    self.on_connected(client)
                continue
            if events & selectors.EVENT_READ:
                self.read(client)
            if events & selectors.EVENT_WRITE and client.outbox:
                self.write(client)

    def read(self, client: Client) -> None:
        try:
            data = client.sock.recv(1 << 20)
        except BlockingIOError:
            return
        except OSError as error:
            self.fail(client, str(error))
            return
        if not data:
            self.fail(client, "the server closed the connection")
            return
        if client.state == "ready":
            data = client.inbox + data
            cut = data.rfind(b"\n") + 1
            client.inbox = data[cut:]
            self.on_traffic_data(client, data[:cut])
            return
        client.inbox += data
        *lines, client.inbox = client.inbox.split(b"\n")
        for line in lines:
            self.on_setup_line(client, line)

    def fail(self, client: Client, why: str) -> None:
        if client.state == "dead":
            return
        self.result.errors += 1
        self.result.first_error = self.result.first_error or f"{client.name}: {why}"
        client.state = "dead"
        self.selector.unregister(client.sock)
        client.sock.close()


def _worker_main(settings: Settings, first: int, count: int, start: Any, delivered: Any,
                 results: Any) -> None:
    worker = Worker(settings, first, count, start, delivered)
    worker.connect_all()
    try:
        worker.traffic()
    except threading.BrokenBarrierError:  # another process never got ready: report what we have
        worker.result.first_error = worker.result.first_error or "another process failed"
    results.put((first, worker.result))
    for client in worker.clients:  # leave quietly: close, the server sees the end
        client.sock.close()


def run_load(settings: Settings) -> dict[str, Any]:
    """Run one scenario; return chatload's keys (deliveries/s, latency percentiles...)."""
    # Each process needs two clients at least: in unicast they form its own ring.
    processes = settings.processes = max(1, min(settings.processes, settings.clients // 2))
    context = multiprocessing.get_context("fork")
    start = context.Barrier(processes)
    delivered = context.Value("q", 0)
    results = context.Queue()
    share = [settings.clients // processes + (1 if i < settings.clients % processes else 0) for i in range(processes)]
    firsts = [sum(share[:i]) for i in range(processes)]
    workers = [
        context.Process(target=_worker_main, args=(settings, first, count, start, delivered, results))
        for first, count in zip(firsts, share)
    ]
    for process in workers:
        process.start()
    collected = [results.get(timeout=settings.timeout * 3) for _ in workers]
    for process in workers:
        process.join(settings.timeout)
    return summarize(settings, [result for _, result in sorted(collected, key=lambda pair: pair[0])])


def summarize(settings: Settings, results: list[WorkerResult]) -> dict[str, Any]:
    histogram: Counter[int] = Counter()
    for result in results:
        histogram.update(result.histogram)
    delivered = sum(result.delivered for result in results)
    expected = settings.messages * (settings.clients - 1 if settings.broadcast else settings.clients)
    start = min(result.traffic_start for result in results)
    end = max(result.traffic_end for result in results)
    traffic = end - start
    errors = sum(result.errors for result in results)
    return {
        "ok": int(delivered == expected and not errors),
        "clients": settings.clients,
        "ready": sum(result.ready for result in results),
        "delivered": delivered,
        "expected": expected,
        "login_s": round(max(result.login_seconds for result in results), 3),
        "traffic_s": round(traffic, 3),
        "msgs_per_s": round(delivered / traffic) if traffic > 0 else 0,
        "p50_ms": round(percentile(histogram, 0.50), 3),
        "p99_ms": round(percentile(histogram, 0.99), 3),
        "max_ms": round(max((result.latency_max for result in results), default=-1), 3),
        "errors": errors,
        "first_error": next((result.first_error for result in results if result.first_error), ""),
    }


def parse_arguments(argv: list[str] | None = None) -> Settings:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--clients", type=int, default=100)
    parser.add_argument("--messages", type=int, default=1000)
    parser.add_argument("--window", type=int, default=8)
    parser.add_argument("--rate", type=float, default=0.0)
    parser.add_argument("--broadcast", action="store_true")
    parser.add_argument("--payload", type=int, default=32)
    parser.add_argument("--prefix", default="u")
    parser.add_argument("--no-register", dest="register", action="store_false")
    parser.add_argument("--processes", type=int, default=os.cpu_count() or 2)
    parser.add_argument("--timeout", type=float, default=60.0)
    return Settings(**vars(parser.parse_args(argv)))


if __name__ == "__main__":
    outcome = run_load(parse_arguments())
    print(" ".join(f"{key}={value}" for key, value in outcome.items()))
    sys.exit(0 if outcome["ok"] else 1)
