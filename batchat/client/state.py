"""The client's protocol state, without I/O (sans-I/O, in the manner of h11).

Owns what one session knows of the conversation with the server: the commands
sent and not yet answered (the server answers each one, in order, ending every
reply with its one ``OK`` or ``ERRO``), the person's name once logged in, the
credentials that worked (for logging in again after a drop; memory only), who
is online, what each line costs (the server's ``LIMITES``, who listens, how
many accounts there are, and what a refusal for flooding said), the public
messages shown, the lines of a login's reply held
until its ``OK ENTRAR`` and those of ``LISTA TODOS`` until its ``OK``,
whether this connection's server identified itself as BatChat (its first line
is the greeting ``BATCHAT <versao> <texto>``: until then no line that carries a
password may be sent, see :attr:`ClientState.identified`), and the
conversation typed text goes to (``/conversa bob``), which the prompt shows.

A first line that is no greeting ends the connection (:class:`Disconnect`):
an ``ERRO`` refusal (over a limit; or ``PROTOCOLO_INVALIDO``, which a BatChat
server sends a plaintext client only when it wants TLS), or anything else: then
the peer is not a BatChat server, and nothing brings the session back to it.

:class:`ClientState` decides; it never touches a socket, a thread, the screen
or the machine's clock (only the injected :class:`~batchat.client.render.Clock`).
Feed it each server line with :meth:`ClientState.receive`, tell it of each
line sent with :meth:`ClientState.sent` and of a dropped connection with
:meth:`ClientState.connection_lost`; each returns small frozen events (show
this, set the prompt, send that, send that again, pace by these limits, hang
up, reconnect) for the I/O shell, :class:`batchat.client.threads.ChatClient`, to
carry out. It is not thread-safe: the shell calls it under one lock.

Imports :mod:`protocol`, :mod:`batchat.prices`, :mod:`batchat.client.flow` and :mod:`batchat.client.render` only.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

import protocol
from batchat import prices
from batchat.client.flow import ServerLimits
from batchat.client.render import (
    SYSTEM_CLOCK, Clock, Shown, Style, make_visible, online_others, parse_visible, prompt_text,
    render_accounts, render_echo, render_parsed,
)

RECENT_PUBLIC = 1000  # public messages remembered, so a replayed history skips what was shown
FIRST_LINE_SHOWN = 60  # characters of a non-BatChat peer's first line quoted to the person
_ERROR_CODES = frozenset(code.value for code in protocol.ErrorCode)
# What a login's reply holds before its OK ENTRAR: the private messages kept
# (then an INFO that counts them) and the public history.
KEPT, HISTORY = "PENDENTE", "HISTORICO"

PublicKey = tuple[str, str]  # (sender's name key, text): a public message, as far as we can tell


def public_key(sender: str, text: str) -> PublicKey:
    return protocol.name_key(sender), text


def replay_overlap(shown: list[PublicKey], replayed: list[PublicKey]) -> int:
    """How many of the history lines replayed at a re-login were shown already.

    The replay is the newest stretch of the public messages, and what was
    shown is an older stretch of them; so the answer is the longest start of
    ``replayed`` that is also the end of ``shown``. Matching stretches, not
    single lines, keeps a new "oi" that repeats an old one.
    """
    for count in range(min(len(shown), len(replayed)), 0, -1):
        if replayed[:count] == shown[-count:]:
            return count
    return 0


class Sent:
    """A command sent and not yet answered; the server answers each one, in order."""

    def __init__(self, command: protocol.Command, *, automatic: bool = False, line: str = "") -> None:
        self.command = command
        self.line = line  # as sent, to send it again if the flood limit refuses it
        self.automatic = automatic  # sent by the client itself (log in again, LISTA, PING)
        self.outcome: str | None = None  # "OK", or the ERRO code, once answered
        self.abandoned = False  # never sent, or the connection ended before its answer
        self.queued_at: float | None = None  # when it was queued (the shell's clock), if it was
        self.sequence: int | None = None  # the order it was first sent in: a resend keeps it

    @property
    def finished(self) -> bool:
        """Answered, or never going to be; not while it waits to be sent again."""
        return self.outcome is not None or self.abandoned


# --- Events: what the shell is to do ----------------------------------------------------


@dataclass(frozen=True)
class Show:
    """Print this line (already stamped with the time when it should be)."""

    shown: Shown


@dataclass(frozen=True)
class SetPrompt:
    """Show this prompt from now on: ``alice> `` once logged in (``alice → bob> `` in a
    conversation), ``> `` before."""

    text: str


@dataclass(frozen=True)
class SendLine:
    """Send this line on the connection (the client's own: log in again, LISTA)."""

    line: str
    command: protocol.Command
    automatic: bool = True


@dataclass(frozen=True)
class HangUp:
    """Close this connection: the reconnection loop tries again later, after a longer wait."""


@dataclass(frozen=True)
class LoggedIn:
    """A login worked: the next outage's waits start again at the shortest."""

    name: str


@dataclass(frozen=True)
class Disconnect:
    """End this connection now, saying ``how``: its first line was no greeting. The
    session is not worth getting back if that line showed no BatChat server."""

    how: str


@dataclass(frozen=True)
class Reconnect:
    """The connection is gone, and worth getting back: reconnect with backoff, log in again."""


@dataclass(frozen=True)
class Resend:
    """The server's flood limit refused this line, unexecuted: send it again first, once
    ``wait`` seconds have passed (``None``: not said) for its ``price``; or, if that is too
    late for it, give it up and show ``refusal``."""

    sent: Sent
    price: int = 1
    wait: float | None = None
    refusal: tuple[Event, ...] = ()  # how it is shown, if given up


@dataclass(frozen=True)
class SetLimits:
    """The server stated its limits (``LIMITES``): pace what is sent by them."""

    limits: ServerLimits


Event = Show | SetPrompt | SendLine | HangUp | LoggedIn | Reconnect | Resend | SetLimits | Disconnect


def say(text: str, style: Style = Style.PLAIN) -> Show:
    """A line of the client's own (not from the server): no time stamp."""
    return Show(Shown.of(text, style))


# --- The state ------------------------------------------------------------------------------


class ClientState:
    """One person's session as the protocol sees it, across reconnections.

    ``reconnect``: a dropped connection is followed by :class:`Reconnect`
    when the session can log in again. ``list_after_login``: ask ``LISTA``
    after each login (a person at a terminal: names for Tab, and who is here).
    ``log_in_after_register``: ``OK NOVO`` is followed by ENTRAR with the same
    password (a person; a script says ENTRAR itself).
    """

    def __init__(
        self, clock: Clock = SYSTEM_CLOCK, *, reconnect: bool = False, list_after_login: bool = False,
        log_in_after_register: bool = False,
    ) -> None:
        self._clock = clock
        self._reconnect = reconnect
        self._list_after_login = list_after_login
        self._log_in_after_register = log_in_after_register
        self._where = ""  # the server's address, as the person gave it ("127.0.0.1:5050")
        self._details = ""  # how the connection is protected, said with the first greeting
        self._encrypted = False  # this connection uses TLS
        self._identified = False  # this connection's server greeted us as BatChat
        self._turned_away = False  # this connection's first line was no greeting: nothing more counts
        self._ever_identified = False  # some connection's did: a later greeting means "back"
        self._given_up = False  # the peer is no BatChat server, or wants TLS: never reconnect
        self._accounts: list[protocol.ServerLine] = []  # USUARIO lines, until OK LISTA TODOS
        self._pending: deque[Sent] = deque()
        self._own_name: str | None = None
        self._credentials: protocol.Login | None = None  # the last login that worked
        # Replaced, never mutated: Tab reads it from the keyboard thread.
        self._online: frozenset[str] = frozenset()
        self._said_goodbye = False  # the server answered OK SAIR
        self._replaced = False  # the account logged in elsewhere: do not fight over it
        self._public_shown: deque[PublicKey] = deque(maxlen=RECENT_PUBLIC)
        self._held: list[protocol.ServerLine] = []  # a login's reply, until its OK ENTRAR
        self._partner: str | None = None  # /conversa: who typed text goes to; kept across drops
        # What lines cost: the server's limits, the accounts (counted by LISTA TODOS, or
        # at least as many as a refusal's price implies), whether everyone online is
        # known by name (after LISTA), and the listeners a refusal implies beyond those
        # we know by name (a script never asks LISTA).
        self._limits = ServerLimits()
        self._account_count: int | None = None
        self._accounts_counted = False
        self._online_listed = False
        self._unseen_listeners = 0

    @property
    def own_name(self) -> str | None:
        return self._own_name

    @property
    def credentials(self) -> protocol.Login | None:
        """The last login that worked, unless the server refused it since."""
        return self._credentials

    @property
    def online(self) -> frozenset[str]:
        """Who else is online, as far as this session knows."""
        return self._online

    def price(self, command: protocol.Command) -> int:
        """The flood tokens the server will charge for ``command``, as far as this session
        knows (see :meth:`price_known`)."""
        fan_out = 0
        if not self._logged_in_or_logging_in():
            pass  # refused by the server (NAO_AUTENTICADO): it costs what any line costs
        elif isinstance(command, protocol.Broadcast):
            fan_out = len(self._online) + self._unseen_listeners
        elif prices.fans_out(command):
            fan_out = self._account_count or 0
        return self._limits.price(command, fan_out)

    def price_known(self, command: protocol.Command) -> bool:
        """Whether :meth:`price` is more than a guess: a TODOS once everyone online was
        listed (LISTA), a LISTA TODOS once the accounts were counted (its answer); and
        either before logging in, when the server charges no fan-out."""
        if not prices.fans_out(command) or not self._logged_in_or_logging_in():
            return True
        return self._online_listed if isinstance(command, protocol.Broadcast) else self._accounts_counted

    def _logged_in_or_logging_in(self) -> bool:
        return self._own_name is not None or any(isinstance(sent.command, protocol.Login) for sent in self._pending)

    @property
    def said_goodbye(self) -> bool:
        return self._said_goodbye

    @property
    def logged_in(self) -> bool:
        """Typed text has somewhere to go: logged in, or about to be again after a drop
        (the automatic ENTRAR goes out first; without a connection, the shell says so)."""
        return self._own_name is not None or self._credentials is not None

    @property
    def partner(self) -> str | None:
        """Who typed text goes to privately (``/conversa bob``); ``None``: everyone."""
        return self._partner

    def converse(self, partner: str | None) -> list[Event]:
        """``/conversa bob`` (``partner``) or ``/conversa`` alone (``None``): the new prompt
        and a word on where typed text goes from now on."""
        self._partner = partner
        if partner is None:
            notice = "Fim da conversa privada: o que você digitar vai para todos."
        else:
            notice = (f"Conversa com {partner}: o que você digitar vai só para {partner}; "
                      "/conversa sozinho volta a falar com todos.")
        return [SetPrompt(prompt_text(self._own_name, partner)), say(notice, Style.NOTICE)]

    # -- what the shell sent -----------------------------------------------------------------

    def sent(self, command: protocol.Command, *, automatic: bool = False, line: str = "") -> Sent:
        """Record a command just sent; its :attr:`Sent.outcome` is set once answered."""
        return self.record(Sent(command, automatic=automatic, line=line))

    def record(self, sent: Sent) -> Sent:
        """Record ``sent`` as just sent (again, after a flood refusal)."""
        self._pending.append(sent)
        return sent

    def connected(self, where: str, details: str = "", *, encrypted: bool = False) -> None:
        """A new connection to ``where``, protected as ``details`` says (`` com TLSv1.3``,
        shown with the first greeting): not identified until its server greets us."""
        self._where, self._details, self._encrypted = where, details, encrypted
        self._identified = self._turned_away = False

    @property
    def identified(self) -> bool:
        """This connection's server sent the BatChat greeting. Until then the shell sends
        no line that carries a password (:func:`protocol.carries_password`), typed or
        automatic: the peer may be any program that took the address."""
        return self._identified

    def no_greeting(self, seconds: float) -> str:
        """How a connection ends whose peer sent no line in ``seconds`` after connecting."""
        if self._ever_identified:
            return f"{self._where} aceitou a conexão, mas não respondeu em {seconds:g} s."
        return (f"{self._where} aceitou a conexão, mas não respondeu como um servidor BatChat "
                f"(nenhuma saudação em {seconds:g} s). O endereço e a porta (--host, --port) estão certos?")

    def is_pending(self, sent: Sent) -> bool:
        """``sent`` still awaits its answer (``False`` once answered or the connection is gone)."""
        return sent in self._pending

    def log_in_again(self) -> SendLine | None:
        """The automatic ENTRAR for a new connection, once its server greeted us; ``None``
        if there is nothing to log in with, or no greeting yet."""
        login = self._credentials
        if login is None or not self._identified:
            return None
        return SendLine(f"ENTRAR {login.name} {login.password}", login)

    # -- what the server said ----------------------------------------------------------------

    def receive(self, line: str) -> list[Event]:
        """What to do about one line from the server (without its line end)."""
        if self._turned_away:
            return []  # a greeting after a stranger's first line is no greeting
        if not self._identified:
            return self._first_line(line)
        return self._receive(parse_visible(line))

    def _receive(self, parsed: protocol.ServerLine) -> list[Event]:
        if self._holds(parsed):
            self._held.append(parsed)  # shown after OK ENTRAR, which says who we are
            return []
        match parsed.kind, parsed.fields:
            case "OK", (word, detail):
                return self._answered_ok(word, detail, parsed)
            case "ERRO", (code, text):
                return self._refused(code, text, parsed)
            case "LIMITES", fields:
                limits = ServerLimits.from_fields(fields)
                if limits is None:
                    return []
                self._limits = limits
                return [SetLimits(limits)]
            case "USUARIO", _ if self._listing_accounts():
                self._accounts.append(parsed)
                return []
            case "ENTROU", (name,):
                self._online = self._online | {name}
            case "SAIU", (name,):
                if name not in self._online:  # one of those we knew only by count
                    self._unseen_listeners = max(0, self._unseen_listeners - 1)
                self._online = self._online - {name}
        self._remember_public(parsed)
        return self._render(parsed)

    def _first_line(self, line: str) -> list[Event]:
        """The connection's first line: the greeting (the server is BatChat), a refusal
        (``ERRO``), or anything else, which shows that the peer is not BatChat."""
        greeting = protocol.parse_greeting(line)
        if greeting is not None:
            return self._greeted(make_visible(greeting.text))
        self._turned_away = True
        parsed = parse_visible(line)
        code, text = parsed.fields if parsed.kind == "ERRO" else ("", "")
        if code == protocol.ErrorCode.WRONG_PROTOCOL:  # by its code: the text is for people
            self._given_up = True
            if not self._encrypted:  # the one reason a BatChat server says it to this client
                return [Disconnect(f"{self._where} é um servidor BatChat com TLS e esta conexão não é "
                                   "cifrada: use --tls (e --cafile <arquivo>, se o certificado do "
                                   "servidor for próprio).")]
            return [Disconnect(f"{self._where} recusou a conexão: {text}")]
        if code in _ERROR_CODES:  # refused before being served: over a limit, try later
            return [Disconnect(f"{self._where} recusou a conexão: {text}")]
        self._given_up = True
        return [Disconnect(self._not_batchat(make_visible(line)))]

    def _greeted(self, text: str) -> list[Event]:
        """The greeting: said with where we connected to, or as being back."""
        self._identified = True
        if self._ever_identified:
            back = say(f"Conexão com {self._where} restabelecida.", Style.NOTICE)
            return [back, self._stamped(Shown.of(text, Style.NOTICE))] if text else [back]
        self._ever_identified = True
        where = f"Conectado a {self._where}{self._details}."
        return [self._stamped(Shown.of(f"{where} {text}" if text else where, Style.NOTICE))]

    def _not_batchat(self, first_line: str) -> str:
        """One sentence: the peer is no BatChat server, so nothing was sent to it."""
        if len(first_line) > FIRST_LINE_SHOWN:
            first_line = first_line[:FIRST_LINE_SHOWN - 1] + "…"
        if self._ever_identified:
            return (f"{self._where} não é mais um servidor BatChat (a primeira linha foi \"{first_line}\"): "
                    "outro programa deve ter ocupado a porta, então nenhuma senha foi enviada e o "
                    "cliente não vai reconectar.")
        return (f"{self._where} não é um servidor BatChat (a primeira linha foi \"{first_line}\"), então "
                "nenhuma senha foi enviada: confira o endereço e a porta (--host, --port).")

    def _listing_accounts(self) -> bool:
        return any(isinstance(sent.command, protocol.ListUsers) and sent.command.everyone
                   for sent in self._pending)

    def _holds(self, parsed: protocol.ServerLine) -> bool:
        """Is ``parsed`` part of a login's reply? The counting INFO comes right after
        the kept messages, so no other INFO (a notice) is ever taken for it."""
        if not any(isinstance(sent.command, protocol.Login) for sent in self._pending):
            return False
        if parsed.kind == "INFO":
            return bool(self._held) and self._held[-1].kind == KEPT
        return parsed.kind in (KEPT, HISTORY)

    def _answered_ok(self, word: str, detail: str, parsed: protocol.ServerLine) -> list[Event]:
        """``OK <word> <detail>``: settle the command it answers, and say so."""
        sent = self._settle(word, "OK")
        command = sent.command if sent else None
        match command:
            case protocol.Login():
                return self._logged_in(command, parsed, automatic=bool(sent and sent.automatic))
            case protocol.ListUsers(everyone=False):
                self._online = frozenset(online_others(detail, self._own_name))
                self._online_listed, self._unseen_listeners = True, 0  # everyone, by name
            case protocol.ListUsers(everyone=True):
                accounts, self._accounts = self._accounts, []  # the USUARIO lines were the answer
                self._account_count, self._accounts_counted = len(accounts), True
                return [self._stamped(shown) for shown in render_accounts(accounts, self._clock)]
            case protocol.Register() if self._log_in_after_register and sent and not sent.automatic:
                login = protocol.Login(command.name, command.password)
                line = f"ENTRAR {login.name} {login.password}"
                return [Show(Shown.of(f"Conta {detail} criada; entrando…", Style.NOTICE)
                             .stamped(self._clock.local_now())), SendLine(line, login, automatic=False)]
            case protocol.Ping() if sent and sent.automatic:
                return []  # the client's own check that the server is there
            case protocol.PrivateMessage() | protocol.Broadcast():
                if isinstance(command, protocol.Broadcast) and self._own_name:
                    self._public_shown.append(public_key(self._own_name, make_visible(command.text)))
                return [self._stamped(render_echo(command, detail))]
            case protocol.Quit():
                self._said_goodbye = True
        return self._render(parsed)

    def _logged_in(
        self, login: protocol.Login, parsed: protocol.ServerLine, *, automatic: bool
    ) -> list[Event]:
        """``OK ENTRAR <name>``: who we are now, then the reply's held lines."""
        name = self._own_name = parsed.fields[1]
        self._credentials = login
        events: list[Event] = [LoggedIn(name), SetPrompt(prompt_text(name, self._partner))]
        if automatic:
            events.append(self._stamped(Shown.of(f"De volta ao chat como {name}.", Style.NOTICE)))
        else:
            events += self._render(parsed)
        events += self._release_held(automatic)
        if self._list_after_login:
            events.append(SendLine("LISTA", protocol.ListUsers()))
        return events

    def _release_held(self, replayed: bool) -> list[Event]:
        """The lines held for a login's reply; after an automatic re-login, without the
        history already shown before the drop."""
        held, self._held = self._held, []
        skip = self._already_shown(held) if replayed else 0
        events: list[Event] = []
        for parsed in held:
            if parsed.kind == HISTORY and skip:
                skip -= 1
                continue
            self._remember_public(parsed)
            events += self._render(parsed)
        return events

    def _already_shown(self, held: list[protocol.ServerLine]) -> int:
        history = [key for parsed in held if (key := _public_of(parsed)) and parsed.kind == HISTORY]
        return replay_overlap(list(self._public_shown), history)

    def _refused(self, code: str, text: str, parsed: protocol.ServerLine) -> list[Event]:
        """``ERRO``: it answers the oldest command, unless the server is closing on us;
        shown, then what follows from it. A refusal for flooding (``DEVAGAR``: not
        executed) is sent again instead, and what it says of the price is learnt. Any
        other ERRO is shown, the last one before the server hangs up too."""
        if code == protocol.ErrorCode.SESSION_REPLACED:
            self._replaced = True
            return self._render(parsed)
        sent = self._settle("", code)
        if sent is not None and sent.line and code == protocol.ErrorCode.SLOW_DOWN:
            sent.outcome = None
            stated = prices.parse_slow_down(text)
            if stated is None:
                return [Resend(sent, refusal=tuple(self._render(parsed)))]
            self._learn_price(sent.command, stated.price)
            return [Resend(sent, stated.price, stated.wait, tuple(self._render(parsed)))]
        return [*self._render(parsed), *self._refusal_follows(sent, code)]

    def _learn_price(self, command: protocol.Command, price: int) -> None:
        """The server charges ``price`` for ``command``: at least that many listeners, or
        accounts, are there (the fewest that give that price)."""
        per_token = self._limits.per_token
        if not per_token or not prices.fans_out(command):
            return
        fewest = (price - 1) * per_token
        if isinstance(command, protocol.Broadcast):
            self._unseen_listeners = max(self._unseen_listeners, fewest - len(self._online))
        else:
            self._account_count = max(self._account_count or 0, fewest)

    def _refusal_follows(self, sent: Sent | None, code: str) -> list[Event]:
        """What follows a refusal of ``sent``: for a login, the end of its reply."""
        self._accounts = []
        if sent is None or not isinstance(sent.command, protocol.Login):
            return []
        events = self._release_held(replayed=False)  # none, for a refused login: nothing is lost
        if not sent.automatic:
            return events
        name = sent.command.name
        if code == protocol.ErrorCode.CREDENTIALS:
            self._credentials = None
            return [*events, say(f"Não foi possível entrar de novo como {name}; entre com ENTRAR {name}.",
                                 Style.ERROR)]
        return [*events, say(f"Não foi possível entrar de novo como {name} agora; tentando mais tarde."),
                HangUp()]

    def _settle(self, word: str, outcome: str) -> Sent | None:
        """Mark the oldest unanswered command called ``word`` (any, if ``word`` is empty)
        answered; older ones must have been refused without a reply."""
        while self._pending:
            sent = self._pending.popleft()
            if not word or protocol.command_word(sent.command) == word:
                sent.outcome = outcome
                return sent
            sent.outcome = "?"
        return None

    # -- the end of a connection -------------------------------------------------------------

    def connection_lost(self, how: str) -> list[Event]:
        """The connection ended without SAIR: what to say, and :class:`Reconnect` if worth it."""
        # A reply cut short still shows what came of it: the server counts the
        # kept messages it wrote as delivered. The history is skipped where it
        # was shown already, as after a re-login.
        events = [*self._release_held(replayed=True), *self._unconfirmed()]
        self._own_name = None
        self._online = frozenset()
        self._online_listed, self._unseen_listeners = False, 0
        events += [SetPrompt(prompt_text(None)), say(how, Style.ERROR)]
        if self._replaced:
            return [*events, say("Sua conta entrou em outro lugar; este cliente não vai reconectar.")]
        if not self._reconnect or self._given_up:
            return events
        if self._credentials is None:
            return [*events, say("Para voltar, rode o cliente de novo.")]
        return [
            *events,
            say("Tentando reconectar (1, 2, 4... até 30 s entre tentativas; Ctrl-C para sair)."),
            Reconnect(),
        ]

    def left_without_goodbye(self, how: str) -> list[Event]:
        """The person asked to leave, and the connection ended before ``OK SAIR``."""
        return [*self._unconfirmed(), say(f"{how} Sem confirmação do SAIR.", Style.ERROR)]

    def _unconfirmed(self) -> list[Event]:
        """Forget every command left unanswered; the messages among them may not have arrived."""
        unanswered, self._pending = list(self._pending), deque()
        self._accounts = []
        for sent in unanswered:
            sent.abandoned = True
        return [
            self._stamped(Shown((
                (Style.ERROR, "Sem confirmação do servidor; talvez não tenha chegado: "),
                *render_echo(sent.command).parts,
            )))
            for sent in unanswered
            if isinstance(sent.command, (protocol.PrivateMessage, protocol.Broadcast))
        ]

    # -- helpers -------------------------------------------------------------------------------

    def _render(self, parsed: protocol.ServerLine) -> list[Event]:
        shown = render_parsed(parsed, self._own_name, self._clock)
        return [] if shown is None else [self._stamped(shown)]

    def _stamped(self, shown: Shown) -> Show:
        """A line from the conversation, with the time it arrived (unless it has its own)."""
        return Show(shown.stamped(self._clock.local_now()))

    def _remember_public(self, parsed: protocol.ServerLine) -> None:
        if key := _public_of(parsed):
            self._public_shown.append(key)


def _public_of(parsed: protocol.ServerLine) -> PublicKey | None:
    """The public message a ``TODOS`` or ``HISTORICO`` line carries; ``None`` for others."""
    match parsed.kind, parsed.fields:
        case ("TODOS", (sender, text)) | ("HISTORICO", (sender, _, text)):
            return public_key(sender, text)
    return None
