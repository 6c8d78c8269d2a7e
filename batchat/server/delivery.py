"""Handing kept private messages to their recipient, and keeping live ones never written.

Owns the order between the mailbox and the registry: a login takes what the
mailbox kept and becomes visible in one step under this module's lock, and a
message kept meanwhile is looked for under the same lock, so it either is
among those handed over or finds its recipient online. A login's claim of
its name is made under the same lock too, so a hand-over either is done
before a newer claim or sees it and takes nothing. The mailbox only stores;
this module decides when its messages go out (their lines come from
:mod:`batchat.server.replies`).

Owns :class:`Receipts` too, the connections' write-progress listener that
turns a mark reached (or never) into a callback with ``True`` (or
``False``), and :class:`Batch`: what the lines of one recv produce, per connection,
sent together at the end, one send per destination, the acknowledged private
messages among them watched until written. Called by the chat service (and
each session, for its batch) only.
"""

from __future__ import annotations

import functools
import itertools
import logging
from collections.abc import Callable, Iterable
from typing import Any, TypeVar

import protocol
from batchat.locks import tiered_lock
from batchat.server import tiers
from batchat.server import replies
from batchat.server.connection import Connection
from batchat.server.mailbox import Mailbox, WaitingMessage
from batchat.server.registry import Member, SessionRegistry

log = logging.getLogger(__name__)
T = TypeVar("T")


Watchers = list[tuple[int, Callable[[bool], None]]]  # (offset where a part ends, its callback)


class Receipts:
    """A connection's :class:`batchat.server.connection.WriteProgress`: its marks are
    callbacks, told ``True`` once their bytes were written, ``False`` if they never
    will be. Stateless (one for all connections); a bug in a callback must not kill
    the thread that sends."""

    def written(self, tokens: list[object]) -> None:
        _run_callbacks(_by_batch(tokens), True)

    def ended(self, written: list[object], unwritten: list[object]) -> None:
        _run_callbacks(_by_batch(written), True)
        _run_callbacks(_by_batch(unwritten), False)


RECEIPTS = Receipts()


def _by_batch(tokens: list[Any]) -> list[Any]:
    """The marks of one report, those of each live batch (:class:`_LiveMark`) made into
    one callback: written, one pass through the mailbox's lock for a recv's worth of
    CHATs. Each mark is popped once, under its connection's lock, by whichever thread
    sends; so each message is settled once, by the report that popped it."""
    if len(tokens) < 2:
        return tokens
    callbacks: list[Any] = []
    by_batch: dict[_LiveBatch, list[int]] = {}
    for token in tokens:
        if isinstance(token, _LiveMark):
            indices = by_batch.get(token.batch)
            if indices is None:
                by_batch[token.batch] = indices = []
                callbacks.append(functools.partial(token.batch.settle, indices))
            indices.append(token.index)
        else:
            callbacks.append(token)
    return callbacks


def _run_callbacks(callbacks: list[Any], written: bool) -> None:
    for callback in callbacks:
        try:
            callback(written)
        except Exception:
            log.exception("Erro inesperado ao confirmar um envio.")


def enqueue_watched(connection: Connection, data: bytes, watchers: Watchers, *, bounded: bool = True) -> bool:
    """:meth:`Connection.enqueue` with a callback per part: ``callback(True)`` once its
    bytes are written to the socket, ``callback(False)`` if they never will be; never
    while a lock of the connection is held."""
    connection.progress = RECEIPTS  # the one listener of every connection
    return connection.enqueue(data, bounded=bounded, marks=watchers)


class Delivery:
    """Kept messages into outboxes, and back to the mailbox when never written.

    API: :meth:`claim` and :meth:`hand_over` (at a login), :meth:`after_store` (a message kept
    for someone found offline), :meth:`watch` (live messages just acknowledged).

    ``_lock`` is ``tiers.DELIVERY``, the first state lock taken: under it the
    registry's (in ``log_in``, ``claim`` and ``check_claim``), a connection's
    (in ``enqueue``; and at a claim, through ``registry.claim`` → ``mark_replaced``,
    the displaced session's error) and the
    mailbox's, briefly. Nothing under it does I/O: ``enqueue`` only
    queues, and the bytes are sent (``flush``) after it is released.
    """

    def __init__(self, mailbox: Mailbox, registry: SessionRegistry) -> None:
        self._mailbox = mailbox
        self._registry = registry
        self._lock = tiered_lock(tiers.DELIVERY, "Delivery")

    def claim(self, name: str, session: Member) -> Member | None:
        """:meth:`SessionRegistry.claim` under this lock, so it never falls inside a
        hand-over: the session displaced, if any (the caller closes its connection)."""
        with self._lock:
            return self._registry.claim(session, name)

    def hand_over(
        self, name: str, connection: Connection, log_in: Callable[[], T], claimant: Member | None = None
    ) -> T:
        """Put the messages kept for ``name`` in ``connection``'s outbox (``PENDENTE``
        lines, then an ``INFO`` with how many), then call ``log_in``, which makes
        the recipient findable, in the same step. Nothing is sent here; the
        caller flushes. ``claimant``: the session that claimed ``name`` for this
        login; raises :class:`batchat.server.registry.ClaimLost`, having taken nothing,
        if a newer login claimed it since."""
        with self._lock:
            if claimant is not None:
                self._registry.check_claim(claimant, name)
            try:
                count = self._put_in_outbox_locked(protocol.name_key(name), connection, kept=True)
            except Exception:  # they stay kept (see _put_in_outbox_locked); the login goes on
                log.exception("Mensagens guardadas para %s não puderam ser entregues agora.", name)
                count = 0
            result = log_in()
        if count:
            log.info("Entregando a %s %d mensagem(ns) guardada(s).", name, count)
        return result

    def after_store(self, recipient: str) -> None:
        """A message was kept for ``recipient`` (a name key) found offline: if they came
        online meanwhile, it goes to them now, as a live ``MSG``."""
        self._deliver_if_online(recipient, kept=False)

    def watch(self, messages: list[WaitingMessage]) -> list[Callable[[bool], None]]:
        """``on_written`` callbacks for live messages from :meth:`Mailbox.reserve`, sent
        together in this order, one each: written, a message frees its place in
        the count; never written, it is kept, with all those after it."""
        batch = _LiveBatch(self, self._mailbox, messages)
        return [_LiveMark(batch, index) for index in range(len(messages))]

    def keep_unwritten(self, messages: list[WaitingMessage]) -> None:
        """Live messages their connection will never write: into the mailbox, and to a
        newer session of the same person if there is one."""
        if self._mailbox.keep(messages):
            self._deliver_if_online(messages[0].recipient, kept=False)

    def _deliver_if_online(self, recipient: str, *, kept: bool) -> None:
        """What waits for ``recipient``, if they are online: ``kept`` ones (given back by
        a connection that never wrote them) as at a login, others as live ones.
        Looked up under the lock: a login in progress finishes first (see the module)."""
        with self._lock:
            connection = self._registry.connection_of(recipient)
            if connection is None:
                return
            self._put_in_outbox_locked(recipient, connection, kept=kept)
        connection.flush()

    def _put_in_outbox_locked(self, recipient: str, connection: Connection, *, kept: bool) -> int:
        """Move what waits for ``recipient`` to ``connection``'s outbox; how many went.

        ``kept``: as ``PENDENTE`` lines with their times and the ``INFO`` that
        counts them, let past ``max_queue`` (they are bounded by
        ``max_pending``; refusing them would lock the recipient out for good).
        Else as live ``MSG`` lines: a message stored while its recipient was
        logging in, which missed the login's hand-over by a hair.
        """
        messages = self._mailbox.take(recipient)
        if not messages:
            return 0
        settle = functools.partial(self._settle, recipient, messages)
        accepted = False
        try:  # whatever fails, even formatting, the messages go back to wait
            if kept:
                data = b"".join(replies.waiting(m.sender, m.sent_at, m.text) for m in messages)
                data += replies.waiting_count(len(messages))
            else:
                data = b"".join(replies.private(m.sender, m.text) for m in messages)
            accepted = enqueue_watched(connection, data, [(len(data), settle)], bounded=not kept)
        finally:
            if not accepted:
                self._mailbox.put_back(recipient, messages)  # they wait for the next login
        return len(messages)

    def _settle(self, recipient: str, messages: list[WaitingMessage], written: bool) -> None:
        """The outbox holding ``messages`` was written to the socket, or never will be."""
        if written:
            self._mailbox.delivered(recipient, messages)
            return
        self._mailbox.put_back(recipient, messages)
        self._deliver_if_online(recipient, kept=True)  # a newer login of the same user, perhaps


class _LiveBatch:
    """Live private messages acknowledged and put in one outbox together (:meth:`Delivery.watch`).

    The connection calls each message's callback once, in order: first the
    written ones, then, in one thread, the ones never written (its outbox was
    thrown away). So the first message never written keeps all the rest with
    it: one commit for the batch, instead of one each while the sender's
    newer messages are being stored. The written ones reported together are
    settled together (:func:`_by_batch`).
    """

    def __init__(self, delivery: Delivery, mailbox: Mailbox, messages: list[WaitingMessage]) -> None:
        self._delivery = delivery
        self._mailbox = mailbox
        self._messages = messages
        self._kept_from = len(messages)  # the ones from here on were kept already

    def settle(self, indices: list[int], written: bool) -> None:
        """The messages at ``indices`` (in order) were written: no longer counted; or
        never will be: the first of them keeps itself and every later one not kept yet."""
        if written:
            self._mailbox.release([self._messages[index] for index in indices])
        elif indices[0] < self._kept_from:
            self._delivery.keep_unwritten(self._messages[indices[0]:self._kept_from])
            self._kept_from = indices[0]


class _LiveMark:
    """One live message's mark: its batch and place in it. Called as a callback, it
    settles that message; :func:`_by_batch` groups the marks of one batch."""

    __slots__ = ("batch", "index")

    def __init__(self, batch: _LiveBatch, index: int) -> None:
        self.batch = batch
        self.index = index

    def __call__(self, written: bool) -> None:
        self.batch.settle([self.index], written)


class Batch:
    """What the lines of one recv produce, per connection, sent by :meth:`send`: one
    send per destination instead of one per line.

    Owned by one session's reader thread (no lock). The read loop hands every
    line of a recv to the session, which sends its batch once they are all
    handled; a step that must see its earlier lines out first (a login, a
    message kept offline, LISTA TODOS) calls :meth:`send` itself, mid-way.
    """

    __slots__ = ("_delivery", "_parts", "_private")

    def __init__(self, delivery: Delivery) -> None:
        self._delivery = delivery
        self._parts: dict[Connection, list[bytes]] = {}
        # The private messages among them, (index of their part, the message),
        # counted by the mailbox until written, kept in it if they never are.
        self._private: dict[Connection, list[tuple[int, WaitingMessage]]] = {}

    def add(self, connection: Connection, data: bytes) -> None:
        """Add encoded lines for ``connection``."""
        parts = self._parts.get(connection)
        if parts is None:
            self._parts[connection] = [data]
        else:
            parts.append(data)

    def add_to_each(self, connections: Iterable[Connection], data: bytes) -> None:
        """:meth:`add` for many connections (a TODOS: everyone online), without a call per
        connection: with 99 listeners, the calls alone cost a TODOS 4 µs. (:meth:`add`'s
        body, inlined on purpose.)"""
        parts_of = self._parts
        for connection in connections:
            parts = parts_of.get(connection)
            if parts is None:
                parts_of[connection] = [data]
            else:
                parts.append(data)

    def add_private(self, connection: Connection, data: bytes, message: WaitingMessage) -> None:
        """Add an acknowledged private message: watched until written, kept if never."""
        parts = self._parts.get(connection)  # add() inlined: every CHAT passes here
        if parts is None:
            self._parts[connection] = parts = []
        parts.append(data)
        self._private.setdefault(connection, []).append((len(parts) - 1, message))

    @property
    def holds_private(self) -> bool:
        """Whether private messages wait here, unsent (so uncounted as written yet)."""
        return bool(self._private)

    def send(self) -> None:
        """Send what was added since the last send, one send per connection."""
        outgoing, self._parts = self._parts, {}
        private, self._private = self._private, {}
        for connection, parts in outgoing.items():
            data = parts[0] if len(parts) == 1 else b"".join(parts)
            messages = private.get(connection)
            if messages is None:
                connection.send_encoded(data)
            else:
                self._send_watched(connection, data, parts, messages)

    def _send_watched(
        self, connection: Connection, data: bytes, parts: list[bytes], messages: list[tuple[int, WaitingMessage]]
    ) -> None:
        """Send ``data``, which holds acknowledged private messages: each one is counted
        until its bytes reach the socket, and kept in the mailbox if they never do
        (refused now, or thrown away with the outbox later)."""
        ends = list(itertools.accumulate(map(len, parts)))
        callbacks = self._delivery.watch([message for _, message in messages])
        watchers = [(ends[index], callback) for (index, _), callback in zip(messages, callbacks)]
        connection.progress = RECEIPTS  # as enqueue_watched, one call less: every CHAT passes here
        if not connection.send_encoded(data, marks=watchers):
            callbacks[0](False)  # the first never written keeps them all
