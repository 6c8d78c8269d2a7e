"""How much the read loop asks of each recv() (:mod:`batchat.server.read_loop`): a fake
socket records the sizes asked, so nothing here touches the network."""

from __future__ import annotations

import unittest

from batchat.server.connection import next_recv_size, RECV_SIZE, RECV_SMALL
from batchat.server.limits import Limits
from batchat.server.read_loop import _plaintext, LoginClock


class RecordingSocket:
    """Gives the chunks it was made with, each cut to the size asked, and notes each size."""

    def __init__(self, chunks: list[bytes]) -> None:
        self.chunks = chunks
        self.asked: list[int] = []

    def recv(self, size: int) -> bytes:
        self.asked.append(size)
        if not self.chunks:
            return b""
        chunk = self.chunks.pop(0)
        if len(chunk) > size:
            self.chunks.insert(0, chunk[size:])
        return chunk[:size]


class PlainConnection:
    def __init__(self, sock: RecordingSocket) -> None:
        self.sock = sock

    def decrypt(self, data: bytes) -> bytes:
        return data


class LoggedIn:
    name = "ana"  # no login deadline applies


class ReceiveSizeTest(unittest.TestCase):
    def test_the_rule(self) -> None:
        for received, asked, expected in [
            (RECV_SMALL, RECV_SMALL, RECV_SIZE),  # full: more is waiting
            (RECV_SMALL - 1, RECV_SMALL, RECV_SMALL),
            (RECV_SIZE, RECV_SIZE, RECV_SIZE),
            (100, RECV_SIZE, RECV_SMALL),  # back to small once it drains
        ]:
            with self.subTest(received=received, asked=asked):
                self.assertEqual(next_recv_size(received, asked), expected)

    def test_an_idle_connection_waits_with_a_small_buffer_and_a_burst_reads_big(self) -> None:
        burst = b"x" * (RECV_SMALL + RECV_SIZE + 10)
        sock = RecordingSocket([b"PING\n", burst, b"PING\n"])
        got = b"".join(_plaintext(PlainConnection(sock), LoggedIn(), LoginClock(0, 0, 0.0), Limits(), b""))
        self.assertEqual(got, b"PING\n" + burst + b"PING\n")  # nothing lost or reordered
        self.assertEqual(sock.asked, [RECV_SMALL, RECV_SMALL, RECV_SIZE, RECV_SIZE, RECV_SMALL, RECV_SMALL])


if __name__ == "__main__":
    unittest.main()
