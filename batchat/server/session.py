"""One client's protocol state, and the handler of each of its commands.

Owns :class:`ChatSession` (logged in or not, as whom, its flood budget, the
lines its commands produce until they are sent). What a line costs is
:func:`batchat.prices.line_price`, the formula the client paces by too. Called
by the server's connection threads: one session per connection, used by that
thread only.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import protocol
from protocol import ErrorCode, ProtocolError
from batchat import prices
from batchat.server import replies
from batchat.server.accounts import UserStore
from batchat.server.connection import Connection
from batchat.server.delivery import Batch, Delivery
from batchat.server.ending import Closer, Ending, SessionEnded
from batchat.framing import LineTooLong
from batchat.server.limits import limit_error, Limits, RateLimiter, TokenBucket
from batchat.server.mailbox import Mailbox, WaitingMessage
from batchat.server.registry import ClaimLost, Member, SessionRegistry
from batchat.server.timing import DEFAULT_TIMING, Timing

log = logging.getLogger(__name__)


LIST_CHUNK = 1000  # USUARIO lines per send in the answer to LISTA TODOS
REPLACED = Ending(Closer.SERVER, "a conta entrou em outra conexão")  # a newer login took our name


@dataclass
class ServerContext:
    """What every session shares: the stores, the limits and the rate limiters."""

    users: UserStore
    registry: SessionRegistry
    mailbox: Mailbox
    limits: Limits
    failed_logins: RateLimiter  # per (account, IP)
    failed_logins_by_ip: RateLimiter  # per IP, any name: bounds the hashing one address can cause
    registrations: RateLimiter
    # Per IP, every ENTRAR: right passwords cost a hash too. The server always
    # passes one; the default (unlimited) keeps contexts built for tests short.
    login_attempts: RateLimiter = dataclasses.field(default_factory=lambda: RateLimiter(0))
    clock: Callable[[], float] = time.monotonic  # for the flood budgets; tests pass their own
    timing: Timing = DEFAULT_TIMING  # return_wait, for a login after a connection that is ending
    # Hands the mailbox's messages out, in step with the registry: made from the two.
    delivery: Delivery = dataclasses.field(init=False)

    def __post_init__(self) -> None:
        self.delivery = Delivery(self.mailbox, self.registry)


class ChatSession:
    """The protocol state of one connection, and the handler of its commands."""

    def __init__(self, connection: Connection, context: ServerContext) -> None:
        self.connection = connection
        self.name: str | None = None  # set once logged in
        self._context = context
        self._limits = context.limits
        self._replaced = threading.Event()  # set by the registry on a newer login
        self._flood = TokenBucket(self._limits.flood_rate, self._limits.flood_burst, context.clock())
        self._flood_strikes = 0  # lines refused in a row for flooding
        # What this session's lines produce, sent once every line of a recv is
        # handled (see handle_lines). Only the session's own reader thread touches it.
        self._batch = Batch(context.delivery)

    def mark_replaced(self) -> None:
        """A newer login of the same account claimed our name: execute nothing more, and
        tell the client why (the newer login then closes our connection, which sends it).

        Called by the registry under its lock, which makes the test and the set
        one step: the line is only queued (the connection's lock, a higher tier), once.
        """
        if self._replaced.is_set():
            return
        self._replaced.set()
        error = ProtocolError(ErrorCode.SESSION_REPLACED, "Sua conta entrou em outra conexão; esta será encerrada.")
        self.connection.enqueue(replies.error(error))

    def handle_lines(self, lines: list[bytes | LineTooLong]) -> None:
        """Handle the lines of one recv, then send what they produced: one send per
        destination. Raises :class:`SessionEnded` when the session must end (what the
        lines before produced is sent all the same)."""
        try:
            for raw in lines:
                if not self.connection.accepting:
                    # No reply can reach the client now: nothing more gets done as if one had.
                    raise SessionEnded(Closer.SERVER, "a conexão já estava sendo fechada")
                self.handle_line(raw)
        finally:
            self._batch.send()

    def handle_line(self, raw: bytes | LineTooLong) -> None:
        """Decode, parse and execute one framed line into the batch; protocol errors become
        ``ERRO`` replies. :meth:`handle_lines` is the read loop's way in.

        Raises :class:`SessionEnded` when the session must end.
        """
        if self._replaced.is_set():
            raise SessionEnded.of(REPLACED)
        if isinstance(raw, bytes) and protocol.is_blank(raw):
            return  # no reply and no cost; nor is it a sign the client stopped flooding
        try:
            self._pay_and_execute(raw)
        except ProtocolError as error:
            self.send_error(error)
            if error.code is ErrorCode.SLOW_DOWN:
                return  # refused unexecuted, at no cost: the strike it added stands
        self._flood_strikes = 0  # a line got through: the client is not flooding

    def _pay_and_execute(self, raw: bytes | LineTooLong) -> None:
        """Parse the line, pay its whole price, then execute it. A line that is no valid
        command costs one token: its ERRO is a reply too."""
        try:
            if isinstance(raw, LineTooLong):
                raise ProtocolError(
                    ErrorCode.LINE_TOO_LONG,
                    f"Linha longa demais (máximo de {self._limits.max_line} bytes); descartada.",
                )
            command = protocol.parse_command(protocol.decode_line(raw))
        except ProtocolError:
            self._pay(prices.line_price(None, 0, burst=self._limits.flood_burst))
            raise
        if command is not None:  # never None: blank lines do not get here
            self._pay(self._price(command))
            self._execute(command)

    def send_error(self, error: ProtocolError) -> None:
        self._deliver(self.connection, replies.error(error))

    def send_batch(self) -> None:
        """Send what the lines handled since the last send produced, one send per connection."""
        self._batch.send()

    def _deliver(self, connection: Connection, data: bytes) -> int:
        return self._batch.add(connection, data)

    def _price(self, command: protocol.Command) -> int:
        """The flood tokens ``command`` costs now: :func:`batchat.prices.line_price`, with the
        others online for TODOS and the accounts for LISTA TODOS (once logged in:
        before, the command is refused and costs what any line costs)."""
        fan_out = 0
        if self.name is not None and prices.fans_out(command):
            if isinstance(command, protocol.Broadcast):
                fan_out = max(0, self._context.registry.online_count() - 1)
            else:
                fan_out = len(self._context.users)
        return prices.line_price(command, fan_out, burst=self._limits.flood_burst)

    def _pay(self, price: int) -> None:
        """Spend ``price`` flood tokens for the line being handled, all or none: short,
        the line is refused with ``ERRO DEVAGAR`` (its price, and when it can be paid)
        and costs nothing; a client refused more than the burst in a row is ended."""
        now = self._context.clock()
        if not self._limits.flood_rate or self._flood.take(price, now):
            return
        self._flood_strikes += 1
        if self._flood_strikes > self._limits.flood_burst:
            self.send_error(limit_error("Você foi desconectado por enviar mensagens demais."))
            raise SessionEnded(Closer.LIMIT, "de mensagens por segundo (--flood-rate)")
        raise prices.slow_down_error(price, self._flood.wait_for(price, now))

    def _execute(self, command: protocol.Command) -> None:
        """Check once whether ``command`` may be used now (the command table says),
        then run its handler."""
        access = protocol.command_help(command).access
        if access is protocol.Access.LOGGED_IN:
            self._require_logged_in()
        elif access is protocol.Access.LOGGED_OUT:
            self._require_logged_out()
        _HANDLERS[type(command)](self, command)

    def _list(self, command: protocol.ListUsers) -> None:
        if command.everyone:
            self._list_everyone()
        else:
            self._reply("LISTA", " ".join(self._context.registry.names()))

    def _quit(self, command: protocol.Quit) -> None:
        self._reply("SAIR")
        raise SessionEnded(Closer.CLIENT, "SAIR")

    def _help(self, command: protocol.Help) -> None:
        self._deliver(self.connection, replies.help_lines())
        self._reply("AJUDA")

    def _ping(self, command: protocol.Ping) -> None:
        self._reply("PING")

    def _reply(self, command: str, detail: str = "") -> None:
        self._deliver(self.connection, replies.ok(command, detail))

    def _require_logged_in(self) -> str:
        """Our name; ``NAO_AUTENTICADO`` before ENTRAR (the command table's "needs login")."""
        if self.name is None:
            raise ProtocolError(
                ErrorCode.NOT_AUTHENTICATED, "Entre primeiro com ENTRAR <usuário> <senha>."
            )
        return self.name

    def _require_logged_out(self) -> None:
        if self.name is not None:
            raise ProtocolError(ErrorCode.ALREADY_AUTHENTICATED, f"Você já entrou como {self.name}.")

    def _register(self, command: protocol.Register) -> None:
        name, password = command.name, command.password
        if not self._context.registrations.spend(self.connection.ip):
            raise limit_error("Cadastros demais a partir do seu IP; tente daqui a pouco.")
        registered = self._context.users.register(name, password, self.connection.ip)
        log.info("Conta %s criada a partir de %s.", registered, self.connection)
        self._reply("NOVO", registered)

    def _log_in(self, command: protocol.Login) -> None:
        name, password = command.name, command.password
        # Every attempt counts here, right password or not: a loop of good
        # logins costs a hash each too, and ENTROU/SAIU for everyone.
        if not self._context.login_attempts.spend(self.connection.ip):
            raise limit_error("Logins demais a partir do seu IP; espere um minuto.")
        attempt_key = (protocol.name_key(name), self.connection.ip)
        # Each attempt takes a token before hashing, so parallel guesses cannot
        # all slip past the check; a successful login gives its tokens back.
        if not self._context.failed_logins.spend(attempt_key):
            raise limit_error("Tentativas de login demais; espere um minuto.")
        if not self._context.failed_logins_by_ip.spend(self.connection.ip):
            self._context.failed_logins.refund(attempt_key)
            raise limit_error("Tentativas de login demais a partir do seu IP; espere um minuto.")
        registered = self._context.users.authenticate(name, password, self.connection.ip)
        if registered is None:
            log.info("Falha de login a partir de %s.", self.connection)
            raise ProtocolError(ErrorCode.CREDENTIALS, "Usuário ou senha incorretos.")
        self._context.failed_logins.refund(attempt_key)
        self._context.failed_logins_by_ip.refund(self.connection.ip)
        self.name = registered
        # The messages kept for us, the public history and then OK ENTRAR, which
        # ends the reply, go into our outbox before we become visible, so they
        # precede any live message to us; and they leave only once we are
        # visible, so a client that reads OK ENTRAR can at once be written to.
        self._batch.send()
        self._take_over(registered)
        self._wait_for_what_comes_back(registered)
        replaced = self._hand_over(registered)
        self.connection.flush()
        self._context.users.record_seen(registered, time.time())
        log.info(
            "%s se conectou com o IP %s por meio da porta %d.",
            registered,
            self.connection.ip,
            self.connection.port,
        )
        if replaced is not None:
            log.info("Sessão anterior de %s (%s) substituída.", registered, replaced.connection)

    def _hand_over(self, name: str) -> Member | None:
        """The kept messages, the history and ``OK ENTRAR`` into our outbox, and our name
        held, in one step (see ``Delivery.hand_over``); the session it replaced. Ends
        the session if a newer login claimed the name while we waited: it told our client."""
        reply = replies.ok("ENTRAR", name)
        try:
            return self._context.delivery.hand_over(
                name, self.connection, lambda: self._context.registry.log_in(self, name, reply), claimant=self
            )
        except ClaimLost:
            raise SessionEnded.of(REPLACED) from None

    def _take_over(self, name: str) -> None:
        """Claim our name; if the same account is on another connection, online or
        still logging in, that one is told ``SESSAO_SUBSTITUIDA`` and closed first.

        The claim is recorded at once (see ``SessionRegistry.claim``): a third
        login finds us to replace, and our login then ends without ``OK
        ENTRAR``. The old connection accepts no line from now on, so a private
        message sent to us meanwhile is kept in the mailbox, after (by its id)
        what the old connection never wrote, which comes back there as that
        connection ends; this login's hand-over then gives them all, in order.
        The old session stays the name's holder until our login replaces it
        (see :meth:`end`), so nobody hears SAIU and ENTROU for a takeover.
        """
        previous = self._context.delivery.claim(name, self)
        if previous is None:
            return
        # Even if it is ending already: a drop (the error over max_queue) shuts it down only here.
        previous.connection.close(REPLACED)  # sends the error mark_replaced queued
        previous.connection.stop_reading(REPLACED)

    def _wait_for_what_comes_back(self, name: str) -> None:
        """If our last connection is ending (dropped, just left, or taken over), wait a
        little for what it never wrote to come back to the mailbox: the login's
        hand-over then has it, before what was kept after it."""
        if not self._context.mailbox.wait_until_landed(name, self._context.timing.return_wait):
            log.warning("Mensagens para %s ainda em uma conexão que acaba; elas chegarão depois.", name)

    def _send_private(self, command: protocol.PrivateMessage) -> None:
        recipient_name, text = command.recipient, command.text
        sender = self._require_logged_in()  # checked already: this only gives the name
        recipient = self._context.registry.find_online(recipient_name)
        if recipient is not None and recipient.name is not None:  # name: for the type checker
            # Counted before it is acknowledged: a recipient who does not read gets no more
            # than max_pending, and all of them can be kept if the connection ends.
            message = self._reserve_live(recipient.name, sender, text)
            self._batch.add_private(recipient.connection, replies.private(sender, text), message)
            self._reply("CHAT", recipient.name)
            return
        registered = self._context.users.registered_name(recipient_name)
        if registered is None:
            raise ProtocolError(ErrorCode.UNKNOWN_USER, f"O usuário {recipient_name} não existe.")
        # Our earlier lines first: the recipient may come online while this is
        # stored, and get it at once.
        self._batch.send()
        self._context.delivery.after_store(self._context.mailbox.store(registered, sender, text))
        log.info("Mensagem de %s para %s guardada: %s está offline.", sender, registered, registered)
        self._deliver(self.connection, replies.stored_ok(registered))

    def _reserve_live(self, recipient: str, sender: str, text: str) -> WaitingMessage:
        """:meth:`Mailbox.reserve` for a recipient online. Refused, it is tried once more
        after sending our own batch: lines handled from one recv count as unwritten
        only because they were not sent yet, and a reader's socket takes them at once."""
        mailbox = self._context.mailbox
        try:
            return mailbox.reserve(recipient, sender, text, online=True)
        except ProtocolError as error:
            if error.code is not ErrorCode.MAILBOX_FULL or not self._batch.holds_private:
                raise
        self._batch.send()
        return mailbox.reserve(recipient, sender, text, online=True)

    def _broadcast(self, command: protocol.Broadcast) -> None:
        text = command.text
        sender = self._require_logged_in()  # checked already: this only gives the name
        registry = self._context.registry
        self._reply("TODOS")
        history = None
        if registry.keeps_history:
            history = replies.history(sender, time.time(), text)
        data = replies.public(sender, text)
        for recipient in registry.broadcast(self, history):
            self._deliver(recipient.connection, data)

    def _list_everyone(self) -> None:
        """``LISTA TODOS``: a ``USUARIO`` line per account, then ``OK LISTA TODOS``."""
        accounts = self._context.users.accounts()  # paid for already, by their count
        online = {protocol.name_key(name) for name in self._context.registry.names()}
        lines = replies.accounts(
            (account.name, protocol.name_key(account.name) in online, account.last_seen) for account in accounts
        )
        self._batch.send()
        # In pieces: the whole answer may be more than max_queue, which limits
        # what waits unsent, not what a fast reader may be sent.
        for start in range(0, len(lines), LIST_CHUNK):
            self.connection.send_encoded(b"".join(lines[start:start + LIST_CHUNK]))
        self._reply("LISTA", "TODOS")

    def end(self) -> None:
        """Leave the chat: the others hear ``SAIU`` if we were the session holding our name.
        (The server logs the end of the connection, which names us.)"""
        if self._replaced.is_set():
            return  # a newer login of ours takes the name over: it is not a log-out
        if self.name is not None and self._context.registry.log_out(self, self.name):
            self._context.users.record_seen(self.name, time.time())


# The server's half of the command table (protocol.COMMAND_HELP holds the rest:
# the word, who may use it, the help): the handler of each command, by its class.
_HANDLERS: dict[type, Callable[[ChatSession, Any], None]] = {
    protocol.PrivateMessage: ChatSession._send_private,
    protocol.Broadcast: ChatSession._broadcast,
    protocol.Register: ChatSession._register,
    protocol.Login: ChatSession._log_in,
    protocol.ListUsers: ChatSession._list,
    protocol.Quit: ChatSession._quit,
    protocol.Help: ChatSession._help,
    protocol.Ping: ChatSession._ping,
}
