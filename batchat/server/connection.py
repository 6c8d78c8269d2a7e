"""One client socket: its outbox, its writer thread, its TLS session.

Owns :class:`Connection`. Anyone may send to a connection (its own session,
other users' sessions, the presence thread, the delivery); only its own
reader thread reads from it and finally closes it. See the class for the
numbered guarantees of :meth:`Connection.enqueue`.
"""

from __future__ import annotations

import collections
import logging
import socket
import ssl
import threading
from collections.abc import Sequence
from typing import Protocol

import protocol
from batchat import tls_bytes
from batchat.locks import tiered_lock
from batchat.server import os_support, tiers
from batchat.server.ending import Closer, Ending
from batchat.server.timing import DEFAULT_TIMING, Timing

log = logging.getLogger(__name__)


RECV_SIZE = 65536  # bytes asked of a recv() when the one before filled its buffer


# CPython allocates a recv()'s whole buffer before the call, and a connection's
# thread waits inside recv() nearly all its life: 10,000 idle connections asking
# 64 KiB each held 30 KiB of touched memory apiece (bench/README.md). So a
# connection asks this much, and RECV_SIZE only while a recv() comes back full.
RECV_SMALL = 4096


def next_recv_size(received: int, asked: int) -> int:
    """How much to ask of the next recv(), after one asked ``asked`` and got ``received``
    bytes: a full buffer means more is waiting, so read big; else small again."""
    return RECV_SIZE if received >= asked else RECV_SMALL


QUEUE_FULL = Ending(Closer.LIMIT, "da fila de saída (--max-queue), pois o cliente não está lendo")


# (offset in the data where a part ends, an opaque token): see Connection.enqueue.
Marks = Sequence[tuple[int, object]]


class WriteProgress(Protocol):
    """Told which marked bytes (:meth:`Connection.enqueue`'s ``marks``) reached the kernel,
    and, when the connection ends, which never will. Called outside the connection's
    lock, in the order the marks were made; ``batchat.server.delivery.Receipts`` is one."""

    def written(self, tokens: list[object]) -> None: ...

    def ended(self, written: list[object], unwritten: list[object]) -> None: ...


class Feed(Protocol):
    """Bytes a connection puts before anything else it enqueues (the presence notices:
    ``batchat.server.presence.PresenceCursor``), so they precede what follows them."""

    def ready(self) -> bool:
        """Whether bytes wait (a hint, read without the connection's lock)."""
        ...

    def take(self) -> bytes:
        """The bytes waiting (``b""``: none); called under the connection's lock."""
        ...


class Connection:
    """One client socket and the bytes waiting to go out on it.

    :meth:`send_encoded` never blocks. When nothing is waiting before it, the
    sending thread writes straight to the socket with a non-blocking send:
    no other thread is woken, which is what keeps a busy server fast. What the
    socket cannot take at once waits in the outbox, and a writer thread,
    started only then and gone again once the outbox stays empty, finishes
    the job with blocking sends. So an idle or fast-reading client costs no
    second thread, and a client that does not read blocks nobody but its own
    writer. When the outbox would pass ``max_queue`` bytes the client is
    dropped: the outbox is thrown away and the socket shut down.

    ``_lock`` belongs to this connection alone. Holding it across a
    non-blocking send is what keeps lines in order, and such a send never
    waits for the network. :meth:`enqueue` does no I/O at all, so it may be
    called under another lock; :meth:`flush` does the sending (and the
    shutdown of a client the enqueue found over its limit).

    With TLS, lines are encrypted as they enter the outbox, under ``_lock``,
    which also serialises every other use of the TLS session (see
    :class:`tls_bytes.TlsEndpoint`); the outbox holds ciphertext.

    Bytes may be marked as they are enqueued (``marks``); the connection's one
    :class:`WriteProgress` listener (``progress``) is told when marked bytes
    have been written to the socket, or, when the connection ends first, that
    they never will be. Bytes count as written as each send hands them to the
    kernel, so a send cut short by a drop still tells which went out before
    it. What a mark means (a receipt for a private message) is the listener's.
    """

    def __init__(
        self, sock: socket.socket, address: tuple[str, int], max_queue: int, timing: Timing = DEFAULT_TIMING
    ) -> None:
        self.sock = sock
        self.ip, self.port = os_support.peer_ip(address), address[1]
        self.ending: Ending | None = None  # why the server ended it (drop, close, stop_reading)
        self._max_queue = max_queue
        self._timing = timing  # close_grace and writer_linger
        self._lock = tiered_lock(tiers.CONNECTION, "Connection")  # everything below, and every use of TLS
        self._wake_writer = threading.Condition(self._lock)
        self._outbox: collections.deque[bytes] = collections.deque()
        self._queued = 0  # bytes not yet handed to the kernel: outbox plus the writer's batch
        # Bytes enqueued past max_queue on purpose (bounded=False), as a range of
        # the stream: until written, they do not count against max_queue.
        self._exempt_start = self._exempt_end = 0
        self._writer: threading.Thread | None = None  # alive only while there is a backlog
        self._closing = False  # no more lines are accepted
        self._shut = False  # closed and flushed: the socket was shut down
        self._feed: Feed | None = None  # taken before anything enqueued (presence, once logged in)
        self._tls: tls_bytes.TlsEndpoint | None = None
        self._awaiting_tls = False  # a TLS handshake is under way: no line may go out yet
        self._must_shut_down = False  # dropped by enqueue(); flush() shuts the socket down
        self._enqueued_total = 0  # bytes ever put in the outbox
        self._written_total = 0  # bytes ever handed to the kernel
        # (stream position, token), in order; progress is told about them.
        self._marks: collections.deque[tuple[int, object]] = collections.deque()
        self.progress: WriteProgress | None = None  # set before making any mark

    def __str__(self) -> str:
        return protocol.format_address(self.ip, self.port)

    @property
    def accepting(self) -> bool:
        """Whether lines are still accepted (a racy hint, checked again under the lock by
        :meth:`enqueue`: see the unlocked reads in :mod:`batchat.server.tiers`)."""
        return not self._closing

    def send_line(self, line: str) -> bool:
        """Send ``line`` (tests); ``False`` if it was not accepted (closing, or dropped now)."""
        return self.send_encoded(protocol.encode_line(line))

    def expect_tls(self) -> None:
        """A TLS handshake comes first: until :meth:`use_tls`, accept no line (a plaintext
        goodbye at shutdown must not land in the middle of the handshake)."""
        with self._lock:
            self._awaiting_tls = True

    def use_tls(self, endpoint: tls_bytes.TlsEndpoint) -> bytes:
        """From now on, encrypt what goes out and decrypt what comes in. Returns the
        plaintext that already came with the end of the handshake."""
        with self._lock:
            self._tls = endpoint
            self._awaiting_tls = False
        return self.decrypt(b"") or b""

    def send_encoded(self, data: bytes, *, marks: Marks = ()) -> bool:
        """Send bytes already encoded (one or more whole lines), as :meth:`send_line` does;
        ``marks`` as for :meth:`enqueue`. Both steps in one hold of the lock: every
        line to every recipient passes here (a TODOS to 99 people, 99 times)."""
        with self._lock:
            accepted = self._enqueue_locked(data, True, marks)
            outcome = self._flush_locked()
        self._after_flush(*outcome)
        return accepted

    def enqueue(
        self,
        data: bytes,
        *,
        bounded: bool = True,
        marks: Marks = (),
    ) -> bool:
        """Put ``data`` in the outbox without any I/O; :meth:`flush` sends it.

        The feed's bytes (:meth:`follow`) go first, so they precede what
        follows them. ``False`` if not accepted: closing, or over ``max_queue`` (the
        client is then dropped at the next flush). ``bounded=False`` lets
        ``data`` past ``max_queue``, for what the caller bounds itself: the
        kept messages and history at login, which must never lock anyone out;
        anything after them still counts them. ``marks``: (offset in ``data``
        where a part ends, a token), in order; ``progress`` is told each token
        once that part was written to the socket, or that it never will be.
        """
        with self._lock:
            return self._enqueue_locked(data, bounded, marks)

    def _enqueue_locked(self, data: bytes, bounded: bool, marks: Marks) -> bool:
        if self._closing or self._awaiting_tls:
            return False
        self._take_feed_locked()
        if self._closing:  # the feed's bytes found the TLS session broken
            return False
        # The cheap test first (every message passes here): exempt bytes only lower the count.
        over = self._max_queue and self._queued + len(data) > self._max_queue
        if over and bounded and self._over_limit_locked(len(data)):
            self._drop_locked(QUEUE_FULL)
            return False
        start = self._enqueued_total
        if not self._append_locked(data):
            return False
        if not bounded:
            self._exempt_locked(start, self._enqueued_total)
        if marks:
            self._mark_locked(start, marks)
        return True

    def _mark_locked(self, start: int, marks: Marks) -> None:
        """Note where each part ends in the stream; encrypted, where a part ends is
        not known, so each is marked at the end of the whole (never too early)."""
        for end, token in marks:
            self._marks.append((start + end if self._tls is None else self._enqueued_total, token))

    def decrypt(self, data: bytes) -> bytes | None:
        """What the client sent, from bytes received: plaintext (``b""`` for half a TLS
        record), or ``None`` once it has closed its TLS session."""
        if self._tls is None:
            return data
        with self._lock:
            if self._closing:
                return None  # our close_notify went out, or we dropped it: the session is over
            try:
                plaintext, reply = self._tls.decrypt(data)
            except ssl.SSLError as error:
                # A forged or corrupted record: the session is unusable both ways.
                # Closed here, under the lock, so no sender ever meets it broken.
                self._drop_locked(Ending(Closer.SERVER, f"TLS inválido ({error.reason or error})"))
                raise
            if reply:
                self._push_locked(reply)
        if reply:
            self.flush()
        return plaintext

    def _append_locked(self, data: bytes) -> bool:
        """Queue plaintext lines, encrypted first on a TLS connection; ``False`` if the
        TLS session can no longer encrypt (the connection is then dropped)."""
        if self._tls is not None:
            try:
                data = self._tls.encrypt(data)
            except ssl.SSLError as error:
                self._drop_locked(Ending(Closer.SERVER, f"TLS inválido ({error.reason or error})"))
                return False
        self._push_locked(data)
        return True

    def _over_limit_locked(self, extra: int) -> bool:
        """Whether ``extra`` more bytes would take the unsent bytes past ``max_queue``,
        not counting what was let past it on purpose and is still unsent."""
        if not self._max_queue:
            return False
        exempt = max(0, self._exempt_end - max(self._written_total, self._exempt_start))
        return self._queued - exempt + extra > self._max_queue

    def _exempt_locked(self, start: int, end: int) -> None:
        if self._exempt_end <= self._written_total:  # the previous range is all written
            self._exempt_start = start
        self._exempt_end = end

    def _drop_locked(self, reason: Ending) -> None:
        """:meth:`drop` for callers holding the lock: the shutdown (which wakes a writer
        blocked in sendall() and the reader blocked in recv()) waits for the next flush."""
        self._discard_locked(reason)
        self._must_shut_down = True
        self._wake_writer.notify()

    def _push_locked(self, data: bytes) -> None:
        """Queue bytes exactly as they must go on the wire."""
        self._outbox.append(data)
        self._queued += len(data)
        self._enqueued_total += len(data)

    def _written_locked(self, count: int) -> list[object]:
        """``count`` more bytes reached the kernel: the tokens now passed, to report unlocked."""
        self._written_total += count
        if not self._marks:  # often: only kept and private messages are marked
            return _NOTHING_DUE
        due = []
        while self._marks and self._marks[0][0] <= self._written_total:
            due.append(self._marks.popleft()[1])
        return due

    def _report_written(self, due: list[object]) -> None:
        """Tell the listener (outside the lock) which marks the bytes passed."""
        if due and self.progress is not None:
            self.progress.written(due)

    def follow(self, feed: Feed) -> None:
        """From now on, put ``feed``'s bytes before anything else enqueued."""
        with self._lock:
            self._feed = feed

    def pull_feed(self) -> None:
        """Send what the feed holds, if anything (the presence thread's pass)."""
        feed = self._feed
        if feed is None or not feed.ready():  # racy, but only a shortcut: checked again below
            return
        with self._lock:
            if self._closing:
                return
            self._take_feed_locked()
            overflow = self._over_limit_locked(0)
        if overflow:
            self.drop(QUEUE_FULL)
        else:
            self.flush()

    def _take_feed_locked(self) -> None:
        feed = self._feed
        if feed is not None and (data := feed.take()):
            self._append_locked(data)

    def flush(self) -> None:
        """Send what the outbox holds now, without blocking; a writer thread takes the rest."""
        with self._lock:
            outcome = self._flush_locked()
        self._after_flush(*outcome)

    def _flush_locked(self) -> tuple[bool, list[object], RuntimeError | None]:
        """:meth:`flush`'s locked part: whether to shut the socket down, the tokens
        written, and the error if a writer thread was needed and could not start."""
        must_shut_down, self._must_shut_down = self._must_shut_down, False
        due, backlog = self._send_now_locked()
        return must_shut_down, due, self._start_writer_locked() if backlog else None

    def _after_flush(self, must_shut_down: bool, due: list[object], failure: RuntimeError | None) -> None:
        """:meth:`flush`'s unlocked part: the shutdown, the news of what was written."""
        if must_shut_down:
            self._shut_down(socket.SHUT_RDWR)
        if due:
            self._report_written(due)
        if failure is not None:
            self.drop(Ending(Closer.SERVER, f"sem recursos para enviar ({failure})"))

    def _start_writer_locked(self) -> RuntimeError | None:
        """Start the writer thread for a backlog; the error if no thread could be started.

        Started under the lock, and published only once started: :meth:`finish`
        and :meth:`wait_flushed` read ``_writer`` under the lock and join it, and
        a thread published before its start (the listener ran in between) made
        that join raise, skipping the socket's close and the listener's news of what
        was never written. ``start()`` waits only for the new thread to begin,
        never for the network, and the thread's first step waits for this lock.
        """
        writer = threading.Thread(target=self._write_loop, name=f"writer-{self}", daemon=True)
        try:
            writer.start()
        except RuntimeError as error:  # "can't start new thread": dropped by the caller
            return error
        self._writer = writer
        return None

    def _send_now_locked(self) -> tuple[list[object], bool]:
        """One non-blocking send of the whole outbox: the tokens now passed, and
        whether a writer thread must start for what the socket did not take."""
        if self._writer is not None:
            self._wake_writer.notify()
            return [], False
        if not self._outbox:
            return [], False
        data = self._outbox[0] if len(self._outbox) == 1 else b"".join(self._outbox)  # one: nearly always
        self._outbox.clear()
        try:
            sent = os_support.send_without_blocking(self.sock, data)
        except OSError as error:
            self._discard_locked(Ending(Closer.LINK, f"falha ao enviar ({error.strerror or error})"))
            return [], False
        self._queued -= sent
        due = self._written_locked(sent)
        if sent < len(data):
            self._outbox.append(data[sent:])
        return due, sent < len(data)

    def close(self, ending: Ending | None = None) -> None:
        """Accept no more lines; what is waiting still goes out, then the socket is shut down.
        ``ending``: why the server closes it (for the log), unless another reason came first."""
        with self._lock:
            if ending is not None and self.ending is None:
                self.ending = ending
            if self._tls is not None and not self._closing:
                self._push_locked(self._tls.close())  # close_notify: the end is no truncation
            self._closing = True
        self.flush()  # sends what is waiting, the notices not yet had among it
        with self._lock:
            if self._writer is not None:
                self._wake_writer.notify()  # it shuts the socket down once drained
                return
            if self._shut:
                return
            self._shut = True
        self._shut_down(socket.SHUT_RDWR)

    def drop(self, reason: Ending) -> None:
        """Cut the client off now: discard what is waiting and shut the socket down."""
        with self._lock:
            self._drop_locked(reason)
        self.flush()  # nothing left to send: it only does the shutdown

    def stop_reading(self, ending: Ending) -> None:
        """Make the reader's recv() return at once, for ``ending``; waiting lines still go out."""
        with self._lock:
            if self.ending is None:
                self.ending = ending
        self._shut_down(socket.SHUT_RD)

    def finish(self) -> None:
        """Called by the reader thread last: flush, wait a little, then release the socket."""
        self.close()
        with self._lock:  # a writer is published only once started (see _start_writer_locked)
            writer = self._writer
        if writer is not None:
            writer.join(self._timing.close_grace)
            if writer.is_alive():
                self.drop(Ending(Closer.SERVER, "o cliente não recebeu as últimas mensagens a tempo"))
                writer.join()  # shutdown() makes its sendall() fail at once
        # Every send happens under _lock after a _closing check, and the writer
        # is gone: only now may the file descriptor be closed and reused.
        with self._lock:
            self.sock.close()
            written = [token for mark, token in self._marks if mark <= self._written_total]
            unwritten = [token for mark, token in self._marks if mark > self._written_total]
            self._marks.clear()
        if (written or unwritten) and self.progress is not None:
            self.progress.ended(written, unwritten)

    def wait_flushed(self, timeout: float) -> None:
        """Wait up to ``timeout`` for the writer thread, if there is one, to end."""
        with self._lock:  # as in finish(): never a writer not yet started
            writer = self._writer
        if writer is not None:
            writer.join(timeout)

    def _write_loop(self) -> None:
        """Drain the outbox with blocking sends; end when idle, or when closed and drained.

        On the two ways out that touch the socket (closed, failed) the thread
        stays registered as the writer, so :meth:`finish` joins it before the
        socket is closed.
        """
        try:
            while batch := self._next_batch():
                self._send_all(memoryview(batch))
        except OSError as error:
            log.debug("Falha ao enviar para %s: %s", self, error)
            with self._lock:
                self._discard_locked(Ending(Closer.LINK, f"falha ao enviar ({error.strerror or error})"))
            self._shut_down(socket.SHUT_RDWR)

    def _send_all(self, data: memoryview) -> None:
        """sendall(), counting what each send hands to the kernel: when a drop cuts it
        short, the messages that went out are not taken for unwritten (and kept twice)."""
        while data:
            sent = self.sock.send(data)
            with self._lock:
                # Counted against max_queue until sent; a drop meanwhile reset the count to 0.
                self._queued = max(0, self._queued - sent)
                due = self._written_locked(sent)
            if due:
                self._report_written(due)
            data = data[sent:]

    def _next_batch(self) -> bytes:
        """Everything waiting, joined into one send; ``b""`` when the writer should end."""
        with self._lock:
            while not self._outbox and not self._closing:
                if not self._wake_writer.wait(self._timing.writer_linger) and not self._outbox:
                    if not self._closing:
                        self._writer = None  # idle: the next backlog starts a new writer
                        return b""
            if self._outbox:
                batch = b"".join(self._outbox)
                self._outbox.clear()
                return batch
            self._shut = True  # closing and drained
        self._shut_down(socket.SHUT_RDWR)
        return b""

    def _discard_locked(self, reason: Ending) -> None:
        """Accept nothing more and forget what is waiting; the first reason given sticks."""
        if self.ending is None:
            self.ending = reason
        self._closing = True
        self._outbox.clear()
        self._queued = 0

    def _shut_down(self, how: int) -> None:
        try:
            self.sock.shutdown(how)
        except OSError:
            log.debug("Socket de %s já estava desconectado.", self)


_NOTHING_DUE: list[object] = []  # shared, never appended to
