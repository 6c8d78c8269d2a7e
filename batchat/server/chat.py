"""The chat rules: who may say what to whom, in one service.

Owns :class:`ChatService` (register, log in with its takeover, its wait for a
dying connection's messages and its hand-over, CHAT, TODOS, LISTA, LISTA
TODOS, SENHA, EXCLUIR, log out; the rooms' rules are
:class:`batchat.server.room_rules.RoomService`'s) and :class:`ServerContext`,
what it is made from. The teacher's rules are
:class:`batchat.server.teaching.TeachingService`'s, which it asks on the
message path (a muted student, exam mode) and at login (a ban). It sees sessions only through
:class:`batchat.server.registry.Member`, returns small results (a name, a
flag, a list) for the session to turn into its reply, and puts what goes to
*other* members into the caller's :class:`batchat.server.delivery.Batch`;
their lines come from :mod:`batchat.server.replies`. It never parses and
never sends on its own. Called by the chat sessions (and the server, which
builds the context); stateless itself: the state is its stores'.
"""

from __future__ import annotations

import dataclasses
import hmac
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Generic, TypeVar

import protocol
from protocol import ErrorCode, ProtocolError
from batchat.server import replies
from batchat.server.accounts import UserStore
from batchat.server.users_file import Account
from batchat.server.delivery import Batch, Delivery
from batchat.server.ending import Closer, Ending
from batchat.server.limits import GuessThrottle, limit_error, Limits, RateLimiter
from batchat.server.mailbox import Mailbox, WaitingMessage
from batchat.server.moderation import Moderation
from batchat.server.registry import Member, SessionRegistry
from batchat.server.room_rules import RoomService
from batchat.server.rooms import RoomStore
from batchat.server.teaching import TeachingService
from batchat.server.timing import DEFAULT_TIMING, Timing

log = logging.getLogger(__name__)
T = TypeVar("T")


REPLACED = Ending(Closer.SERVER, "a conta entrou em outra conexão")  # a newer login took the name


@dataclass(frozen=True)
class _Checked(Generic[T]):
    """A password check as :class:`GuessThrottle` sees it: true (the account's turn given
    back) only for a right password nothing refuses; a ban spends like a wrong guess."""

    account: T | None  # None: a wrong password
    refused: ProtocolError | None = None

    @classmethod
    def of(cls, account: T | None, refusal: Callable[[T], ProtocolError | None]) -> _Checked[T]:
        return cls(account, None if account is None else refusal(account))

    def __bool__(self) -> bool:
        return self.account is not None and self.refused is None


@dataclass
class ServerContext:
    """What every session shares: the stores, the limits, the rate limiters, and the
    chat service made from them. The server always passes every limiter; the
    defaults (unlimited) keep contexts built for tests short."""

    users: UserStore
    registry: SessionRegistry
    mailbox: Mailbox
    limits: Limits
    registrations: RateLimiter = dataclasses.field(default_factory=lambda: RateLimiter(0))  # per IP
    # Per IP, every ENTRAR: right passwords cost a hash too.
    login_attempts: RateLimiter = dataclasses.field(default_factory=lambda: RateLimiter(0))
    # Per account, from any IP: the passwords checked (wrong guesses wait their turn).
    guesses: GuessThrottle = dataclasses.field(default_factory=lambda: GuessThrottle(0))
    clock: Callable[[], float] = time.monotonic  # for the flood budgets; tests pass their own
    timing: Timing = DEFAULT_TIMING  # return_wait, for a login after a connection that is ending
    now: Callable[[], float] = time.time  # the wall clock, for sanctions; tests pass their own
    # Sanctions, the pinned AVISO, exam mode, the record: the server passes its file's; contexts built for tests, one in memory.
    moderation: Moderation = dataclasses.field(default_factory=Moderation.in_memory)
    rooms: RoomStore | None = None  # salas.sqlite3's store; None: no rooms (contexts built for some tests)
    free_rooms: bool = False  # --salas-livres: anyone may create a room
    # Hands the mailbox's messages out, in step with the registry: made from the two.
    delivery: Delivery = dataclasses.field(init=False)
    chat: ChatService = dataclasses.field(init=False)
    teaching: TeachingService = dataclasses.field(init=False)
    rooms_service: RoomService | None = dataclasses.field(init=False)

    def __post_init__(self) -> None:
        self.delivery = Delivery(self.mailbox, self.registry)
        self.teaching = TeachingService(self.users, self.registry, self.moderation, self.limits.kick_wait, self.now)
        self.rooms_service = None if self.rooms is None else RoomService(
            self.rooms, self.registry, self.users, self.teaching, free_rooms=self.free_rooms, now=self.now)
        self.chat = ChatService(self)


class ChatService:
    """The one owner of the chat rules, for every session (see the module).

    Each method takes the calling :class:`Member` and, when others may hear of
    it, the caller's batch. A rule broken raises :class:`protocol.ProtocolError`.
    """

    def __init__(self, context: ServerContext) -> None:
        self._context = context
        self._users = context.users
        self._registry = context.registry
        self._mailbox = context.mailbox
        self._delivery = context.delivery
        self._teaching = context.teaching

    # --- counts, for what a line costs --------------------------------------

    def others_online(self) -> int:
        """How many would hear a TODOS now (a hint: read without a lock)."""
        return max(0, self._registry.online_count() - 1)

    def account_count(self) -> int:
        return len(self._users)

    # --- accounts ------------------------------------------------------------

    def is_teacher(self, name: str) -> bool:
        """Whether the account ``name`` is a teacher now (a dict lookup)."""
        return self._users.is_teacher(name)

    def change_password(self, member: Member, name: str, current: str, new: str, one_time: str | None) -> None:
        """``SENHA``: ``current`` checked like a login's (``one_time``: the session logged in
        with REDEFINIR's password, which it holds; the account is locked meanwhile), then
        ``new`` in its place, hashed at today's cost."""
        if one_time is None:
            self.confirm_password(member, name, current)
        else:
            matches = hmac.compare_digest(current.encode("utf-8"), one_time.encode("utf-8"))
            self._within_login_limits(member, name, lambda: True if matches else None)
        self._users.set_password(name, new, member.connection.ip)
        log.info("%s trocou a senha (%s).", name, member.connection)

    def delete_account(self, member: Member, name: str, password: str, batch: Batch) -> str:
        """``EXCLUIR``: the account, the messages kept for it and its place in rooms, once
        the password is right; the name as it was registered. The last teacher may not."""
        registered = self._users.registered_name(name) or name
        self.confirm_password(member, registered, password)
        self._users.delete(registered)
        self._teaching.record(registered, "EXCLUIR", registered)
        self._mailbox.forget(registered)
        if self._context.rooms_service is not None:
            self._context.rooms_service.forget_account(registered, batch)
        log.info("Conta %s excluída pela própria pessoa (%s).", registered, member.connection)
        return registered

    def register(self, member: Member, name: str, password: str) -> str:
        """``NOVO``: the account's name as registered."""
        ip = member.connection.ip
        if not self._context.registrations.spend(ip):
            raise limit_error("Cadastros demais a partir do seu IP; tente daqui a pouco.")
        if self._users.registered_name(name) is None:
            # The name may be a deleted account's (EXCLUIR): nothing kept for the old owner,
            # such as what its last connection never wrote and gave back, reaches the new one.
            self._mailbox.wait_until_landed(name, self._context.timing.return_wait)
            self._mailbox.forget(name)
        registered = self._users.register(name, password, ip)
        log.info("Conta %s criada a partir de %s.", registered, member.connection)
        return registered

    def authenticate(self, member: Member, name: str, password: str) -> Account:
        """``ENTRAR``'s check: the account ``name`` (as it was when the password matched), if
        ``password`` is its password, within the login rate limits; ``CREDENCIAIS`` if not,
        and ``BANIDO``/``EXPULSO`` after a right one, spent the same way."""
        return self._within_login_limits(
            member, name, lambda: self._users.check_login(name, password, member.connection.ip),
            lambda account: self._teaching.login_refusal(account.name),
        )

    def confirm_password(self, member: Member, name: str, password: str) -> None:
        """SENHA's and EXCLUIR's check of the current password: as a login's, and within
        the same limits (``CREDENCIAIS``)."""
        self._within_login_limits(member, name, lambda: self._users.check_login(name, password, member.connection.ip))

    def _within_login_limits(
        self, member: Member, name: str, check: Callable[[], T | None],
        refusal: Callable[[T], ProtocolError | None] = lambda _: None,
    ) -> T:
        """``check()`` (a password check), if the login rate limits allow one now; its
        ``None`` is a wrong password: ``CREDENCIAIS``, and the attempt stays spent. A right
        one that ``refusal`` still refuses (a ban) is spent the same way, so the answer
        gives nothing away that a wrong password would not."""
        context, ip = self._context, member.connection.ip
        # Every attempt counts here, right password or not: a loop of good
        # logins costs a hash each too, and ENTROU/SAIU for everyone.
        if not context.login_attempts.spend(ip):
            raise limit_error("Logins demais a partir do seu IP; espere um minuto.")
        # Per account, a wrong guess waits its turn rather than locking the owner out:
        # a connection that has not failed goes first (see GuessThrottle).
        try:
            outcome = context.guesses.check(
                protocol.name_key(name), member.failed_logins, lambda: _Checked.of(check(), refusal)
            )
        except ProtocolError:
            # Refused before any hash (the account's line is full, its wait ran out, the hash
            # queue is full): nothing was tried, so the address's budget is given back; else a
            # guesser's script retrying its refusals would keep a whole lab out.
            context.login_attempts.refund(ip)
            raise
        if not outcome:
            member.failed_logins += 1
        if outcome.account is None:
            log.info("Falha de login a partir de %s.", member.connection)
            raise ProtocolError(ErrorCode.CREDENTIALS, "Usuário ou senha incorretos.")
        if outcome.refused is not None:
            log.info("Login recusado a partir de %s: %s.", member.connection, outcome.refused.code)
            raise outcome.refused
        return outcome.account

    # --- logging in and out --------------------------------------------------

    def log_in(self, member: Member, name: str, batch: Batch, reply: bytes) -> Member | None:
        """Make ``member`` (authenticated as ``name``) the one online as ``name``: the
        kept messages, the history and ``reply`` (``OK ENTRAR``) reach its outbox
        before it is visible. Returns the session it replaced, if any. Raises
        :class:`batchat.server.registry.ClaimLost` if a newer login claimed the
        name while this one waited (that one told our client).
        """
        member.name = name
        # Our earlier replies first; what the hand-over queues leaves only once
        # we are visible, so a client that reads OK ENTRAR can at once be written to.
        batch.send()
        self._take_over(member, name)
        self._wait_for_what_comes_back(name)
        replaced = self._delivery.hand_over(
            name, member.connection, lambda: self._registry.log_in(member, name, reply), claimant=member
        )
        connection = member.connection
        connection.flush()
        self._users.record_seen(name, time.time())
        log.info("%s se conectou com o IP %s por meio da porta %d.", name, connection.ip, connection.port)
        if replaced is not None:
            log.info("Sessão anterior de %s (%s) substituída.", name, replaced.connection)
        return replaced

    def _take_over(self, member: Member, name: str) -> None:
        """Claim ``name``; if the same account is on another connection, online or
        still logging in, that one is told ``SESSAO_SUBSTITUIDA`` and closed first.

        The claim is recorded at once (see ``SessionRegistry.claim``): a third
        login finds us to replace, and our login then ends without ``OK
        ENTRAR``. The old connection accepts no line from now on, so a private
        message sent to us meanwhile is kept in the mailbox, after (by its id)
        what the old connection never wrote, which comes back there as that
        connection ends; this login's hand-over then gives them all, in order.
        The old session stays the name's holder until our login replaces it
        (see :meth:`log_out`), so nobody hears SAIU and ENTROU for a takeover.
        """
        previous = self._delivery.claim(name, member)
        if previous is None:
            return
        # Even if it is ending already: a drop (the error over max_queue) shuts it down only here.
        previous.connection.close(REPLACED)  # sends the error mark_replaced queued
        previous.connection.stop_reading(REPLACED)

    def _wait_for_what_comes_back(self, name: str) -> None:
        """If our last connection is ending (dropped, just left, or taken over), wait a
        little for what it never wrote to come back to the mailbox: the login's
        hand-over then has it, before what was kept after it."""
        if not self._mailbox.wait_until_landed(name, self._context.timing.return_wait):
            log.warning("Mensagens para %s ainda em uma conexão que acaba; elas chegarão depois.", name)

    def log_out(self, member: Member) -> None:
        """``member`` leaves: the others hear ``SAIU`` if it held its name (a session
        replaced by a newer login of the same account does not)."""
        if member.name is not None and self._registry.log_out(member, member.name):
            self._users.record_seen(member.name, time.time())

    # --- messages ------------------------------------------------------------

    def send_private(self, member: Member, sender: str, recipient_name: str, text: str, batch: Batch) -> tuple[str, bool]:
        """``CHAT``: the message to ``recipient_name``'s connection in ``batch`` if they are
        online, else kept in the mailbox. Returns the recipient's name and whether it
        was kept (``GUARDADA``). A muted student, or exam mode, may refuse it first."""
        self._teaching.check_private(sender, recipient_name)
        recipient = self._registry.find_online(recipient_name)
        if recipient is not None and (name := recipient.name) is not None:
            # Counted before it is acknowledged: a recipient who does not read gets no more
            # than max_pending, and all of them can be kept if the connection ends.
            message = self._reserve_live(name, sender, text, batch)
            batch.add_private(recipient.connection, replies.private(sender, text), message)
            return name, False
        registered = self._users.registered_name(recipient_name)
        if registered is None:
            raise ProtocolError(ErrorCode.UNKNOWN_USER, f"O usuário {recipient_name} não existe.")
        # Our earlier lines first: the recipient may come online while this is
        # stored, and get it at once.
        batch.send()
        self._delivery.after_store(self._mailbox.store(registered, sender, text))
        log.info("Mensagem de %s para %s guardada: %s está offline.", sender, registered, registered)
        return registered, True

    def _reserve_live(self, recipient: str, sender: str, text: str, batch: Batch) -> WaitingMessage:
        """:meth:`Mailbox.reserve` for a recipient online. Refused, it is tried once more
        after sending the caller's batch: lines handled from one recv count as unwritten
        only because they were not sent yet, and a reader's socket takes them at once."""
        try:
            return self._mailbox.reserve(recipient, sender, text, online=True)
        except ProtocolError as error:
            if error.code is not ErrorCode.MAILBOX_FULL or not batch.holds_private:
                raise
        batch.send()
        return self._mailbox.reserve(recipient, sender, text, online=True)

    def check_broadcast(self, sender: str) -> None:
        """Whether ``sender`` may send a TODOS now (``SILENCIADO`` if not): before its ``OK``."""
        self._teaching.check_public(sender)

    def broadcast(self, member: Member, sender: str, text: str, batch: Batch) -> None:
        """``TODOS``: the message, encoded once, to everyone online but ``member``, into the
        replayed history if one is kept, and into #geral's history on disk (queued, not
        waited for: the ``OK`` of TODOS promises delivery, not history; bench/README.md)."""
        registry = self._registry
        history = replies.history(sender, time.time(), text) if registry.keeps_history else None
        data = replies.public(sender, text)
        batch.add_to_each([recipient.connection for recipient in registry.broadcast(member, history)], data)
        if self._context.rooms_service is not None:
            self._context.rooms_service.keep_general(sender, text)

    # --- lists ---------------------------------------------------------------

    def names_online(self) -> list[str]:
        """``LISTA``: the names online, as everyone was told (held ``SAIU`` too)."""
        return self._registry.names()

    def accounts(self) -> list[tuple[str, bool, float | None]]:
        """``LISTA TODOS``: (name, online, last seen) for every account."""
        accounts = self._users.accounts()  # paid for already, by their count
        online = {protocol.name_key(name) for name in self._registry.names()}
        return [
            (account.name, protocol.name_key(account.name) in online, account.last_seen) for account in accounts
        ]
