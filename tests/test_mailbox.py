"""State tests: the mailbox of offline messages, the connection's write callbacks and
TLS session, and what becomes of an acknowledged message whose recipient just left.
Real SQLite files in a temporary folder and socketpairs, no server process."""

from __future__ import annotations

import socket
import sqlite3
import ssl
import tempfile
import threading
import unittest
from pathlib import Path
from unittest import mock

import protocol
from batchat import tls_bytes
from batchat import framing
from protocol import ErrorCode, ProtocolError
from batchat.server import connection as connection_module
from batchat.server import mailbox as mailbox_module
from batchat.server import replies
from batchat.server.accounts import UserStore
from batchat.server.connection import Connection
from batchat.server.delivery import Delivery, enqueue_watched, RECEIPTS
from batchat.server.ending import Closer, Ending, SessionEnded
from batchat.server.limits import Limits
from batchat.server.mailbox import Mailbox, MailboxError
from batchat.server.registry import SessionRegistry
from batchat.server.session import ChatSession, ServerContext
from batchat.server.timing import Timing
from tests.support import TIMEOUT, TLS_CERT, TLS_KEY, socket_pair

BOB = protocol.name_key("Bob")


def fill_until_backlog(connection: Connection) -> None:
    """Send until the socket takes no more and a writer thread holds the rest
    (the peer does not read; small socket buffers make this quick)."""
    for _ in range(10_000):
        if not connection.send_encoded(b"x" * 4096) or connection._writer:
            return
    raise AssertionError("the socket never filled up")


def read_until_closed(peer: socket.socket) -> bytes:
    """Everything ``peer`` receives until the other end shuts down (each read with its timeout)."""
    chunks = []
    while data := peer.recv(65536):
        chunks.append(data)
    return b"".join(chunks)


def lines_until_closed_or(peer: socket.socket, last: str) -> tuple[list[str], bool]:
    """The lines ``peer`` reads up to ``last`` (``False``: found) or to the end (``True``)."""
    framer, lines = framing.LineFramer(), []
    while data := peer.recv(65536):
        for raw in framer.feed(data):
            lines.append(raw.decode("utf-8"))  # type: ignore[union-attr]
            if lines[-1] == last:
                return lines, False
    return lines, True


def stored_rows(path: Path) -> list[tuple[str, str, str]]:
    """What is on disk, read through a connection of its own: (recipient, sender, text)."""
    with sqlite3.connect(path) as db:
        return db.execute("SELECT recipient, sender, text FROM waiting ORDER BY id").fetchall()


class OnlineStub:
    """The one thing the delivery asks the registry: who is online, by name key."""

    def __init__(self, online: dict[str, Connection]) -> None:
        self.connection_of = online.get


class MailboxTest(unittest.TestCase):
    """The mailbox, and the delivery that hands its messages out (``batchat.server.delivery``)."""

    def setUp(self) -> None:
        folder = tempfile.TemporaryDirectory()
        self.addCleanup(folder.cleanup)
        self.path = Path(folder.name) / "mailbox.sqlite3"
        self.online: dict[str, Connection] = {}
        self.pairs: list[socket.socket] = []

    def mailbox(self, max_pending: int = 100) -> Mailbox:
        mailbox = Mailbox(self.path, max_pending)
        self.addCleanup(mailbox.close)
        self.delivery = Delivery(mailbox, OnlineStub(self.online))  # type: ignore[arg-type]
        return mailbox

    def connection(self, buffer: int = 0, max_queue: int = 0) -> tuple[Connection, socket.socket]:
        """A server-side Connection and the peer socket that reads from it."""
        server_side, peer = socket_pair(self, buffer)
        return Connection(server_side, ("127.0.0.1", 1), max_queue), peer

    def read_lines(self, peer: socket.socket, count: int) -> list[str]:
        framer, lines = framing.LineFramer(), []
        while len(lines) < count:
            data = peer.recv(65536)
            self.assertTrue(data, "connection closed early")
            lines += [raw.decode() for raw in framer.feed(data)]  # type: ignore[union-attr]
        return lines

    def hand_over(self, mailbox: Mailbox, connection: Connection) -> None:
        self.delivery.hand_over(BOB, connection, lambda: None)
        connection.flush()

    def test_kept_in_order_delivered_with_a_count_then_deleted(self) -> None:
        mailbox = self.mailbox()
        for sender, text in [("alice", "oi"), ("carol", "tudo bem?"), ("alice", "ação 🦇")]:
            mailbox.store(BOB, sender, text)
        self.assertEqual([m.text for m in mailbox.waiting(BOB)], ["oi", "tudo bem?", "ação 🦇"])
        connection, peer = self.connection()
        self.hand_over(mailbox, connection)
        lines = self.read_lines(peer, 4)
        self.assertEqual([line.split(" ", 3)[1::2] for line in lines[:3]],
                         [["alice", "oi"], ["carol", "tudo bem?"], ["alice", "ação 🦇"]])
        for line in lines[:3]:
            kind, _, when, _ = line.split(" ", 3)
            self.assertEqual(kind, "PENDENTE")
            self.assertIsNotNone(protocol.parse_timestamp(when))
        self.assertEqual(lines[3], "INFO 3 mensagens privadas esperavam por você.")
        self.assertEqual(mailbox.waiting(BOB), [])
        mailbox.close()  # finishes the deletes queued
        self.assertEqual(stored_rows(self.path), [])

    def test_kept_messages_survive_a_restart(self) -> None:
        mailbox = self.mailbox()
        mailbox.store(BOB, "alice", "primeira")
        mailbox.store(BOB, "alice", "segunda")
        mailbox.close()
        self.assertEqual([m.text for m in self.mailbox().waiting(BOB)], ["primeira", "segunda"])
        self.assertEqual(self.path.stat().st_mode & 0o777, 0o600, "private messages, private file")

    def test_deleted_only_once_written_and_kept_if_the_connection_ends_first(self) -> None:
        mailbox = self.mailbox()
        mailbox.store(BOB, "alice", "oi")
        connection, peer = self.connection(buffer=4096)
        fill_until_backlog(connection)  # so the kept message waits in the outbox
        self.hand_over(mailbox, connection)
        self.assertEqual(mailbox.waiting(BOB), [], "in the outbox, not waiting")
        self.assertEqual(stored_rows(self.path), [(BOB, "alice", "oi")], "not written: still on disk")
        connection.drop(Ending(Closer.SERVER, "test"))
        connection.finish()  # never written: back in the mailbox
        self.assertEqual([m.text for m in mailbox.waiting(BOB)], ["oi"])
        self.assertEqual(stored_rows(self.path), [(BOB, "alice", "oi")])

        second, peer = self.connection()
        self.hand_over(mailbox, second)
        self.assertEqual(self.read_lines(peer, 2)[0].split(" ", 3)[3], "oi")
        mailbox.close()
        self.assertEqual(stored_rows(self.path), [])

    def test_bounded_per_recipient_until_delivered(self) -> None:
        mailbox = self.mailbox(max_pending=2)
        mailbox.store(BOB, "alice", "1")
        mailbox.store(BOB, "alice", "2")
        with self.assertRaises(ProtocolError) as raised:
            mailbox.store(BOB, "alice", "3")
        self.assertIs(raised.exception.code, ErrorCode.MAILBOX_FULL)
        mailbox.store("carol", "alice", "other recipients have room")
        connection, peer = self.connection()
        self.hand_over(mailbox, connection)
        self.read_lines(peer, 3)
        mailbox.store(BOB, "alice", "room again once delivered")

    def test_parallel_senders_cannot_overshoot_the_bound(self) -> None:
        mailbox = self.mailbox(max_pending=10)
        outcomes: list[ErrorCode | None] = []

        def send(index: int) -> None:
            try:
                mailbox.store(BOB, "alice", str(index))
                outcomes.append(None)
            except ProtocolError as error:
                outcomes.append(error.code)

        threads = [threading.Thread(target=send, args=(index,)) for index in range(30)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(10)
        self.assertEqual(outcomes.count(None), 10)
        self.assertEqual(outcomes.count(ErrorCode.MAILBOX_FULL), 20)
        self.assertEqual(len(stored_rows(self.path)), 10)
        ids = [message.id for message in mailbox.waiting(BOB)]
        self.assertEqual(ids, sorted(ids), "in the order they were stored")

    def test_a_recipient_online_by_the_time_it_is_stored_gets_it_at_once_as_a_live_message(self) -> None:
        mailbox = self.mailbox()
        connection, peer = self.connection()
        self.online[BOB] = connection  # logged in between the sender's check and the store
        self.delivery.after_store(mailbox.store(BOB, "alice", "oi"))
        self.assertEqual(self.read_lines(peer, 1), ["MSG alice oi"])
        self.assertEqual(mailbox.waiting(BOB), [])

    def test_what_an_old_connection_never_wrote_goes_to_the_new_login(self) -> None:
        mailbox = self.mailbox()
        mailbox.store(BOB, "alice", "oi")
        old, _ = self.connection(buffer=4096)
        fill_until_backlog(old)
        self.hand_over(mailbox, old)
        new, peer = self.connection()
        self.online[BOB] = new  # the same user logged in again, replacing the old connection
        old.drop(Ending(Closer.SERVER, "test"))
        old.finish()
        lines = self.read_lines(peer, 2)
        self.assertEqual(pending_fields(lines[0]), ("PENDENTE", "alice", "oi"), "still a kept message")
        self.assertEqual(lines[1], "INFO 1 mensagem privada esperava por você.")

    def test_login_replay_passes_max_queue_without_counting_against_what_follows(self) -> None:
        mailbox = self.mailbox()
        for index in range(40):
            mailbox.store(BOB, "alice", f"mensagem {index:02} " + "x" * 1000)
        connection, peer = self.connection(buffer=4096, max_queue=10_000)  # a quarter of them
        self.delivery.hand_over(BOB, connection, lambda: None)
        connection.flush()
        self.assertTrue(connection.accepting, "never locked out by its own kept messages")
        # The peer has not read yet: most of the replay still waits to be written.
        self.assertTrue(connection.send_line("MSG carol ao vivo"), "the replay does not count")
        self.assertFalse(connection.send_encoded(b"x" * 10_001), "what follows is still bounded")
        self.assertFalse(connection.accepting)

    def test_a_live_message_counts_until_written_and_past_the_bound_is_refused(self) -> None:
        mailbox = self.mailbox(max_pending=2)
        first = mailbox.reserve("Bob", "alice", "1", online=True)  # acknowledged, in an outbox
        mailbox.reserve("Bob", "alice", "2", online=True)
        with self.assertRaises(ProtocolError) as raised:
            mailbox.reserve("Bob", "alice", "3", online=True)
        self.assertIs(raised.exception.code, ErrorCode.MAILBOX_FULL)
        self.assertEqual(raised.exception.text, "Bob ainda não leu 2 mensagens; tente daqui a pouco.")
        with self.assertRaises(ProtocolError):
            mailbox.store("Bob", "alice", "offline now: the same two still count")
        self.delivery.watch([first])[0](True)  # its bytes reached the socket
        mailbox.store("Bob", "alice", "room again")

    def test_live_messages_never_written_are_kept_in_acknowledgement_order_within_the_bound(self) -> None:
        mailbox = self.mailbox(max_pending=3)
        live = [mailbox.reserve("Bob", "alice", text, online=True) for text in ("1", "2")]
        callbacks = self.delivery.watch(live)
        mailbox.store("Bob", "alice", "3")  # stored while 1 and 2 were still in the outbox
        for callback in callbacks:  # the connection ended: never written
            callback(False)
        self.assertEqual([m.text for m in mailbox.waiting(BOB)], ["1", "2", "3"])
        self.assertEqual([row[2] for row in stored_rows(self.path)], ["1", "2", "3"])
        with self.assertRaises(ProtocolError) as raised:
            mailbox.store("Bob", "alice", "4")
        self.assertIs(raised.exception.code, ErrorCode.MAILBOX_FULL)
        mailbox.close()
        again = self.mailbox(max_pending=5)
        self.assertEqual([m.text for m in again.waiting(BOB)], ["1", "2", "3"])
        again.store("Bob", "alice", "5")
        self.assertEqual([m.text for m in again.waiting(BOB)], ["1", "2", "3", "5"], "after a restart too")

    def test_after_close_a_store_fails_at_once(self) -> None:
        mailbox = self.mailbox()
        mailbox.close()
        with self.assertRaises(ProtocolError) as raised:
            mailbox.store(BOB, "alice", "tarde demais")
        self.assertIs(raised.exception.code, ErrorCode.UNAVAILABLE)

    def test_disk_failure_answers_unavailable_and_frees_the_place(self) -> None:
        mailbox = self.mailbox(max_pending=1)
        with mock.patch.object(mailbox_module, "_insert_waiting", side_effect=sqlite3.OperationalError("disco cheio")):
            with self.assertLogs("batchat", "ERROR"), self.assertRaises(ProtocolError) as raised:
                mailbox.store(BOB, "alice", "oi")
        self.assertIs(raised.exception.code, ErrorCode.UNAVAILABLE)
        mailbox.store(BOB, "alice", "the failed one took no place")
        self.assertEqual(len(stored_rows(self.path)), 1)

    def test_a_corrupt_file_stops_the_start(self) -> None:
        self.path.write_bytes(b"isto nao e um banco SQLite" * 100)
        with self.assertRaises(MailboxError):
            Mailbox(self.path, 100)


class DamagedMailboxTest(unittest.TestCase):
    """Every kept row is checked at start-up: a bad one stops it, naming the file and the row."""

    ROWS = {
        "time not a number": ("bob", "alice", "amanhã", "oi"),
        "time infinite": ("bob", "alice", float("inf"), "oi"),
        "time past the calendar": ("bob", "alice", 1e300, "oi"),
        "newline in the text": ("bob", "alice", 0.0, "oi\nENTROU mallory"),
        "escape in the text": ("bob", "alice", 0.0, "oi\x1b[2J"),
        "empty text": ("bob", "alice", 0.0, ""),
        "text not text": ("bob", "alice", 0.0, b"oi"),
        "sender with a space": ("bob", "alice smith", 0.0, "oi"),
        "sender not a name": ("bob", "", 0.0, "oi"),
        "recipient not a name key": ("Bob", "alice", 0.0, "oi"),
        "recipient with a newline": ("bob\nx", "alice", 0.0, "oi"),
    }

    def setUp(self) -> None:
        folder = tempfile.TemporaryDirectory()
        self.addCleanup(folder.cleanup)
        self.path = Path(folder.name) / "mailbox.sqlite3"
        Mailbox(self.path, 100).close()  # creates the table

    def test_each_damaged_row_stops_the_start(self) -> None:
        for label, row in self.ROWS.items():
            with self.subTest(label):
                with sqlite3.connect(self.path) as db:
                    db.execute("DELETE FROM waiting")
                    db.execute("INSERT INTO waiting (recipient, sender, sent_at, text) VALUES ('bob', 'carol', 0, 'boa')")
                    cursor = db.execute("INSERT INTO waiting (recipient, sender, sent_at, text) VALUES (?, ?, ?, ?)", row)
                db.close()
                with self.assertRaises(MailboxError) as raised:
                    Mailbox(self.path, 100)
                self.assertIn(str(self.path), str(raised.exception))
                self.assertIn(f"id {cursor.lastrowid}:", str(raised.exception))

    def test_a_failure_while_handing_messages_over_loses_none(self) -> None:
        with sqlite3.connect(self.path) as db:
            db.execute("INSERT INTO waiting (recipient, sender, sent_at, text) VALUES ('bob', 'carol', 0, 'boa')")
        db.close()
        mailbox = Mailbox(self.path, 100)
        self.addCleanup(mailbox.close)
        delivery = Delivery(mailbox, OnlineStub({}))  # type: ignore[arg-type]
        server_side, peer = socket_pair(self)
        connection = Connection(server_side, ("127.0.0.1", 1), 0)
        logged_in = []
        with mock.patch.object(replies, "waiting", side_effect=ValueError("falhou")):
            with self.assertLogs("batchat", "ERROR"):
                delivery.hand_over(BOB, connection, lambda: logged_in.append(True))
        self.assertEqual(logged_in, [True], "the login goes on")
        self.assertEqual([m.text for m in mailbox.waiting(BOB)], ["boa"], "still kept, for the next login")
        delivery.hand_over(BOB, connection, lambda: None)
        connection.flush()
        self.assertTrue(peer.recv(4096).startswith(b"PENDENTE carol "))


def pending_fields(line: str) -> tuple[str, str, str]:
    kind, sender, _, text = line.split(" ", 3)
    return kind, sender, text


def send_watched(connection: Connection, data: bytes, watchers: list) -> bool:
    """``enqueue_watched``, then the send, as a batch does it."""
    accepted = enqueue_watched(connection, data, watchers)
    connection.flush()
    return accepted


class LiveBatchTest(unittest.TestCase):
    """The live messages one report says were written leave the count together, once
    each, whichever thread reports them and in whatever order; the first never written
    keeps itself and the rest."""

    def reports(self, *calls: tuple[list[int], list[int] | None]) -> list[tuple[str, list[int]]]:
        """Each call: (written, unwritten), as the connection reports them (unwritten
        ``None``: a ``written`` report, else its ``ended``)."""
        done: list[tuple[str, list[int]]] = []
        mailbox = mock.Mock(release=lambda messages: done.append(("release", [m.id for m in messages])))
        delivery = Delivery(mailbox, mock.Mock())
        delivery.keep_unwritten = lambda messages: done.append(("keep", [m.id for m in messages]))  # type: ignore[method-assign]
        marks = delivery.watch([mailbox_module.WaitingMessage(number, "bob", "ana", 0.0, "oi") for number in range(4)])
        for written, unwritten in calls:
            if unwritten is None:
                RECEIPTS.written([marks[index] for index in written])
            else:
                RECEIPTS.ended([marks[index] for index in written], [marks[index] for index in unwritten])
        return done

    def test_each_way_a_batch_can_end(self) -> None:
        for calls, expected in [
            ([([0, 1, 2, 3], None)], [("release", [0, 1, 2, 3])]),  # one send took them all: one pass
            ([([0, 1], None), ([2, 3], None)], [("release", [0, 1]), ("release", [2, 3])]),  # writer took the rest
            ([([0, 1], None), ([], [2, 3])], [("release", [0, 1]), ("keep", [2, 3])]),
            ([([], [0, 1, 2, 3])], [("keep", [0, 1, 2, 3])]),
            ([([0, 1, 2], [3])], [("release", [0, 1, 2]), ("keep", [3])]),
            # A sender that popped 0 and 1 reports them after the reader's end said 2 and 3
            # were never written: 0 and 1 still leave the count (the review's case).
            ([([], [2, 3]), ([0, 1], None)], [("keep", [2, 3]), ("release", [0, 1])]),
        ]:
            with self.subTest(calls=calls):
                self.assertEqual(self.reports(*calls), expected)

    def test_other_marks_in_a_report_keep_their_place(self) -> None:
        seen: list[object] = []
        mailbox = mock.Mock(release=lambda messages: seen.append([m.id for m in messages]))
        marks = Delivery(mailbox, mock.Mock()).watch(
            [mailbox_module.WaitingMessage(number, "bob", "ana", 0.0, "oi") for number in range(2)])
        RECEIPTS.written([marks[0], lambda written: seen.append(("kept ones", written)), marks[1]])
        self.assertEqual(seen, [[0, 1], ("kept ones", True)])


class ConnectionCallbackTest(unittest.TestCase):
    def setUp(self) -> None:
        self.server_side, self.peer = socket_pair(self, buffer=4096)
        self.connection = Connection(self.server_side, ("127.0.0.1", 1), 0)
        self.outcomes: list[bool] = []

    def test_told_once_written(self) -> None:
        enqueue_watched(self.connection, b"MSG a oi\n", [(9, self.outcomes.append)])
        self.assertEqual(self.outcomes, [], "queued is not written")
        self.connection.flush()
        self.assertEqual(self.outcomes, [True])
        self.assertEqual(self.peer.recv(100), b"MSG a oi\n")

    def test_told_never_when_dropped_first(self) -> None:
        fill_until_backlog(self.connection)
        enqueue_watched(self.connection, b"MSG a oi\n", [(9, self.outcomes.append)])
        self.connection.flush()
        self.connection.drop(Ending(Closer.SERVER, "test"))
        self.connection.finish()
        self.assertEqual(self.outcomes, [False])

    def test_each_watched_part_is_told_as_its_own_bytes_are_written(self) -> None:
        short, long = b"MSG a oi\n", b"MSG a " + b"x" * (1 << 20) + b"\n"
        told: list[tuple[str, bool]] = []
        watchers = [(len(short), lambda written: told.append(("short", written))),
                    (len(short) + len(long), lambda written: told.append(("long", written)))]
        self.assertTrue(send_watched(self.connection, short + long, watchers))
        self.assertEqual(told, [("short", True)], "the socket took the short one, not all of the long one")
        self.connection.drop(Ending(Closer.SERVER, "test"))
        self.connection.finish()
        self.assertEqual(told, [("short", True), ("long", False)])

    def test_a_send_cut_short_by_a_drop_still_counts_what_went_out(self) -> None:
        fill_until_backlog(self.connection)  # a writer thread is blocked sending
        short, long = b"MSG a oi\n", b"MSG a " + b"x" * (1 << 20) + b"\n"
        told: list[tuple[str, bool]] = []
        watchers = [(len(short), lambda written: told.append(("short", written))),
                    (len(short) + len(long), lambda written: told.append(("long", written)))]
        self.assertTrue(send_watched(self.connection, short + long, watchers))
        tail = b""
        for _ in range(100_000):  # read until the short one is through: the writer is in the long one
            if short in tail:
                break
            tail = tail[-len(short):] + self.peer.recv(65536)
        self.assertIn(short, tail)
        self.connection.drop(Ending(Closer.SERVER, "test"))
        self.connection.finish()
        self.assertEqual(told, [("short", True), ("long", False)], "the short one is not kept twice")

    def test_finish_and_wait_flushed_meet_a_writer_only_once_it_started(self) -> None:
        """A flush that leaves a backlog runs its written-callbacks after the lock is
        released; finish() (and close() + wait_flushed(), as at shutdown), called by
        another thread meanwhile, must find the writer thread started, or none: joining
        one not yet started raised, which skipped closing the socket and telling the
        callbacks of the rest, so acknowledged messages could be lost."""
        for ending in ("finish", "wait_flushed"):
            with self.subTest(ending):
                server_side, peer = socket_pair(self, buffer=4096)
                connection = Connection(server_side, ("127.0.0.1", 1), 0, Timing(close_grace=TIMEOUT))
                self.check_ending_during_the_callbacks(connection, peer, ending)

    def check_ending_during_the_callbacks(self, connection: Connection, peer: socket.socket, ending: str) -> None:
        in_callback, release = threading.Event(), threading.Event()
        told: list[tuple[str, bool]] = []

        def first_written(written: bool) -> None:  # runs in the sender's flush, lock released
            told.append(("short", written))
            in_callback.set()
            release.wait(TIMEOUT)

        short, long = b"MSG a oi\n", b"MSG a " + b"x" * (1 << 20) + b"\n"
        watchers = [(len(short), first_written),
                    (len(short) + len(long), lambda written: told.append(("long", written)))]
        received: list[bytes] = []
        reader = threading.Thread(target=lambda: received.append(read_until_closed(peer)))
        reader.start()  # reads what the writer drains, until it shuts the socket down
        self.addCleanup(reader.join, TIMEOUT)
        sender = threading.Thread(target=send_watched, args=(connection, short + long, watchers))
        sender.start()
        self.addCleanup(sender.join, TIMEOUT)
        self.addCleanup(release.set)
        self.assertTrue(in_callback.wait(TIMEOUT))  # a backlog is left, and its writer made
        failures: list[BaseException] = []

        def end() -> None:
            try:
                if ending == "finish":
                    connection.finish()
                else:
                    connection.close()
                    connection.wait_flushed(TIMEOUT)
            except BaseException as error:  # reported by the test thread
                failures.append(error)

        ender = threading.Thread(target=end)
        ender.start()
        ender.join(TIMEOUT)
        self.assertFalse(ender.is_alive())
        self.assertEqual(failures, [])
        reader.join(TIMEOUT)
        self.assertEqual(received, [short + long])
        self.assertEqual(told, [("short", True), ("long", True)], "each callback told once")

    def test_an_enqueue_over_the_bound_does_no_io_until_flush(self) -> None:
        connection = Connection(self.server_side, ("127.0.0.1", 1), 10)
        self.assertFalse(connection.enqueue(b"x" * 11))
        self.assertFalse(connection.accepting)
        self.peer.setblocking(False)
        with self.assertRaises(BlockingIOError):  # not shut down yet: nothing to read, no EOF
            self.peer.recv(1)
        connection.flush()
        self.peer.settimeout(5)
        self.assertEqual(self.peer.recv(1), b"", "shut down by the flush")



class TlsConnectionTest(unittest.TestCase):
    """A Connection with TLS over a socketpair; the test plays the client in memory."""

    def setUp(self) -> None:
        server_side, self.peer = socket_pair(self)
        self.connection = Connection(server_side, ("127.0.0.1", 1), 0)
        self.connection.expect_tls()
        self.assertFalse(self.connection.send_line("INFO oi"), "no plaintext during the handshake")

    def connect(self, first_line: bytes = b"") -> bytes:
        """The handshake, shuttled by hand; ``first_line`` travels with the client's
        last handshake flight, as a fast client sends it. What use_tls() returns."""
        server_context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        server_context.load_cert_chain(TLS_CERT, TLS_KEY)
        server = tls_bytes.TlsEndpoint(server_context, server_side=True)
        self.client = tls_bytes.TlsEndpoint(
            ssl.create_default_context(cafile=TLS_CERT), server_side=False, server_hostname="127.0.0.1"
        )
        for _ in range(5):
            if self.client.handshake():
                server.feed(self.client.take_output() + self.client.encrypt(first_line))
                self.assertTrue(server.handshake())
                break
            server.feed(self.client.take_output())
            server.handshake()
            self.client.feed(server.take_output())
        self.client.feed(server.take_output())
        return self.connection.use_tls(server)

    def test_a_corrupted_record_closes_the_session_for_every_sender(self) -> None:
        self.connect()
        record = bytearray(self.client.encrypt(b"PING\n"))
        record[-1] ^= 1
        with self.assertRaises(ssl.SSLError):
            self.connection.decrypt(bytes(record))
        self.assertFalse(self.connection.accepting)
        # Another user's thread sending now gets a refusal, never an exception.
        self.assertFalse(self.connection.send_line("MSG alice oi"))
        bad_record = Ending(Closer.SERVER, "TLS inválido (DECRYPTION_FAILED_OR_BAD_RECORD_MAC)")
        self.assertEqual(self.connection.ending, bad_record)

    def test_a_line_that_came_with_the_handshake_is_not_lost(self) -> None:
        self.assertEqual(self.connect(first_line=b"PING\n"), b"PING\n")
        self.assertEqual(self.connection.decrypt(self.client.encrypt(b"LISTA\n")), b"LISTA\n")
        self.assertTrue(self.connection.send_line("OK PING"))
        self.client.feed(self.peer.recv(65536))
        self.assertEqual(self.client.read(), b"OK PING\n")


class AcknowledgedPrivateMessageTest(unittest.TestCase):
    """CHAT found bob online and was acknowledged; bob left before it was sent."""

    def context(self) -> ServerContext:
        folder = tempfile.TemporaryDirectory()
        self.addCleanup(folder.cleanup)
        users = UserStore(Path(folder.name) / "users.json", 4)
        self.addCleanup(users.close)
        for name in ("alice", "bob"):
            users.register(name, "senha123")
        registry = SessionRegistry()
        mailbox = Mailbox(Path(folder.name) / "mailbox.sqlite3", 100)
        self.addCleanup(mailbox.close)
        limits = Limits(flood_rate=0)
        return ServerContext(users, registry, mailbox, limits)

    def test_refused_at_the_send_it_goes_to_the_mailbox(self) -> None:
        context = self.context()
        mailbox = context.mailbox
        alice, bob = (self.session(context, name) for name in ("alice", "bob"))
        alice.handle_line(b"CHAT bob oi")  # found online: "OK CHAT bob" is in alice's batch
        bob.connection.close()  # bob leaves before alice's batch goes out
        alice.send_batch()
        self.assertEqual([m.text for m in mailbox.waiting("bob")], ["oi"])

    def test_in_the_outbox_when_the_recipient_is_dropped_it_goes_to_the_mailbox(self) -> None:
        context = self.context()
        alice, bob = (self.session(context, name, buffer=4096) for name in ("alice", "bob"))
        fill_until_backlog(bob.connection)  # bob reads nothing
        alice.handle_line(b"CHAT bob segredo")
        alice.send_batch()  # accepted into bob's outbox; alice has her OK CHAT bob
        bob.connection.drop(Ending(Closer.SERVER, "test"))
        bob.end()
        bob.connection.finish()
        self.assertEqual([m.text for m in context.mailbox.waiting("bob")], ["segredo"])

    def test_logins_racing_while_it_is_unwritten_leave_one_holder_and_tell_every_other(self) -> None:
        """bob's connection holds it, not reading, when three logins of bob race: each
        claims the name before any can hand over (they all wait for it to come back),
        so the last claim wins; the others get only SESSAO_SUBSTITUIDA and are closed,
        and the winner gets it and the one kept meanwhile, once each, in order."""
        context = self.context()
        alice, old = self.session(context, "alice"), self.session(context, "bob", buffer=4096)
        fill_until_backlog(old.connection)  # bob reads nothing
        alice.handle_line(b"CHAT bob antes")
        alice.send_batch()  # acknowledged, in bob's outbox
        claimed = threading.Semaphore(0)
        real_wait = context.mailbox.wait_until_landed

        def wait_until_landed(name: str, timeout: float) -> bool:
            claimed.release()  # the name is claimed: now waiting for "antes" to come back
            return real_wait(name, timeout)

        logins = [self.connected(context) for _ in range(3)]
        start = threading.Barrier(len(logins))
        threads = [threading.Thread(target=self.serve_login, args=(start, session)) for session, _ in logins]
        with mock.patch.object(context.mailbox, "wait_until_landed", wait_until_landed):
            for thread in threads:
                thread.start()
            for _ in threads:
                self.assertTrue(claimed.acquire(timeout=TIMEOUT))
            alice.handle_line(b"CHAT bob durante")  # the old connection takes no line: kept
            alice.send_batch()
            old.connection.drop(Ending(Closer.SERVER, "test"))  # as its thread ends it: "antes" back
            old.end()
            old.connection.finish()
            for thread in threads:
                thread.join(TIMEOUT)
        outcomes = [lines_until_closed_or(peer, "OK ENTRAR bob") for _, peer in logins]
        holders = [session for (session, _), (_, closed) in zip(logins, outcomes) if not closed]
        self.assertEqual(len(holders), 1, outcomes)
        self.assertIs(context.registry.find("bob"), holders[0])
        for lines, closed in outcomes:
            if closed:
                self.assertEqual(len(lines), 1, lines)
                self.assertTrue(lines[0].startswith("ERRO SESSAO_SUBSTITUIDA "), lines)
            else:
                kept = [pending_fields(line) for line in lines if line.startswith("PENDENTE ")]
                self.assertEqual(kept, [("PENDENTE", "alice", "antes"), ("PENDENTE", "alice", "durante")])

    def connected(self, context: ServerContext) -> tuple[ChatSession, socket.socket]:
        """A session not logged in yet, and the peer socket that reads from it."""
        server_side, peer = socket_pair(self)
        return ChatSession(Connection(server_side, ("127.0.0.1", 1), 0), context), peer

    @staticmethod
    def serve_login(start: threading.Barrier, session: ChatSession) -> None:
        """``ENTRAR bob``, then, if the session ends, what its connection's thread does."""
        start.wait(TIMEOUT)
        try:
            session.handle_line(b"ENTRAR bob senha123")
            session.send_batch()
        except SessionEnded:
            session.end()
            session.connection.finish()

    def session(self, context: ServerContext, name: str, buffer: int = 0) -> ChatSession:
        server_side, _ = socket_pair(self, buffer)
        session = ChatSession(Connection(server_side, ("127.0.0.1", 1), 0), context)
        session.handle_line(f"ENTRAR {name} senha123".encode())
        session.send_batch()
        self.assertEqual(session.name, name)
        return session
