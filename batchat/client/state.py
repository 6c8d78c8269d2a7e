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
conversation typed text goes to (``/conversa bob``), which the prompt shows,
and the private lines of the run (:attr:`ClientState.privates`, for
``/privadas`` and ``/r``): the state lasts as long as the client runs, so
both are kept across reconnections.

Where the session stands is explicit: two small state machines, the
connection's and the login's, each moved only by its table of transitions
(:mod:`batchat.client.states`: awaiting the greeting, identified, turned away,
not BatChat, given up; logged out, logging in, logged in, away, logging in
again, said goodbye, replaced, shut out). :attr:`ClientState.identified`,
:attr:`~ClientState.logged_in`, :attr:`~ClientState.said_goodbye` and whether
to reconnect are read from them; the queue of commands sent is only for
matching replies. A move no table has (a bug of the client) is shown as such
with the next events, and changes nothing; it never raises.

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

Imports :mod:`protocol`, :mod:`batchat.prices` and, of the client, :mod:`~batchat.client.events`,
:mod:`~batchat.client.states`, :mod:`~batchat.client.flow`, :mod:`~batchat.client.privates`,
:mod:`~batchat.client.render`, :mod:`~batchat.client.teacher_lines` (how the teacher's lines
read), :mod:`~batchat.client.rooms` (the current room, the rooms known, how room lines read),
:mod:`~batchat.client.replay` and :mod:`~batchat.client.peer_sentences` only.
"""

from __future__ import annotations

from collections import deque

import protocol
from batchat import prices
from batchat.client import peer_sentences, server_lines
from batchat.client.peer_sentences import FIRST_LINE_SHOWN  # here too, for the tests
from batchat.client.teacher_lines import SHUT_OUT_CODES, TeacherLines
from batchat.client.events import (  # the events, here too for the shell and the tests
    Disconnect, Event, HangUp, LoggedIn, Reconnect, Resend, SendLine, Sent, SetLimits, SetPrompt, Show, say,
)
from batchat.client.flow import ServerLimits
from batchat.client.render import (
    SYSTEM_CLOCK, Clock, Shown, Style, When, make_visible, news, online_others, parse_visible, prompt_text,
    render_accounts, render_echo, render_parsed, stored_recipient,
)
from batchat.client.privates import Privates
from batchat.client.rooms import Rooms, SwitchRoom, prompt_room
from batchat.client.typed import Converse
from batchat.client.replay import RECENT_PUBLIC, PublicKey, public_key, public_of, replay_overlap
from batchat.client.states import LinkState, SessionMachine, SessionState, StateError, Trigger

_ERROR_CODES = frozenset(code.value for code in protocol.ErrorCode)
# What a login's reply holds before its OK ENTRAR: the private messages kept
# (then an INFO that counts them) and the public history; and what stands for
# everyone: the pinned announcement, the exam mode.
KEPT, HISTORY, PINNED = "PENDENTE", "HISTORICO", "AVISO"
HELD_KINDS = (KEPT, HISTORY, PINNED, "PRIVADO")
STANDING_KINDS = (PINNED, "PRIVADO")  # shown first, right below "Você entrou", above history

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
        # Where the connection and the login stand: the tables of batchat.client.states.
        self._machine = SessionMachine()
        self._bugs: list[StateError] = []  # transitions no table has, to be shown with the next events
        self._ever_identified = False  # some connection's server greeted us: a later greeting means "back"
        self._accounts: list[server_lines.ServerLine] = []  # USUARIO lines, until OK LISTA TODOS
        self._pending: deque[Sent] = deque()
        self._own_name: str | None = None
        self._credentials: protocol.Login | None = None  # the last login that worked
        # Replaced, never mutated: Tab reads it from the keyboard thread.
        self._online: frozenset[str] = frozenset()
        self._public_shown: deque[PublicKey] = deque(maxlen=RECENT_PUBLIC)
        self._held: list[server_lines.ServerLine] = []  # a login's reply, until its OK ENTRAR
        self._partner: str | None = None  # /conversa: who typed text goes to; kept across drops
        self.privates = Privates()  # for /privadas and /r: kept across drops, like the partner
        self._teacher_lines = TeacherLines(clock)  # what the teacher's acts on this session said
        self.rooms = Rooms(clock)  # where plain text goes, the rooms known, their unread lines
        self._prompt_room = self.rooms.current
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
        return self._machine.session in _CHARGED_AS_LOGGED_IN

    @property
    def link_state(self) -> LinkState:
        """Where this session's connection stands (see :mod:`batchat.client.states`)."""
        return self._machine.link

    @property
    def session_state(self) -> SessionState:
        """Where this session's login stands (see :mod:`batchat.client.states`)."""
        return self._machine.session

    @property
    def said_goodbye(self) -> bool:
        return self._machine.session is SessionState.SAID_GOODBYE

    @property
    def logged_in(self) -> bool:
        """Typed text has somewhere to go: logged in, or about to be again after a drop
        (the automatic ENTRAR goes out first; without a connection, the shell says so)."""
        return self._machine.session in _TEXT_HAS_SOMEWHERE_TO_GO

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
        return [SetPrompt(self._prompt(self._own_name)), say(notice, Style.NOTICE, When.NONE)]

    def choose(self, choice: Converse | SwitchRoom) -> list[Event]:
        """``/conversa [bob]``, or ``/sala #g1`` (a room the person is in) or ``/sala`` alone."""
        if isinstance(choice, Converse):
            return self.converse(choice.partner)
        return [*map(Show, self.rooms.switch(choice.room)), SetPrompt(self._prompt(self._own_name))]

    def _prompt(self, name: str | None) -> str:
        self._prompt_room = self.rooms.current  # what the prompt shows, to redraw it when it changes
        return prompt_text(name, self._partner, prompt_room(self.rooms.current))

    # -- what the shell sent -----------------------------------------------------------------

    def sent(self, command: protocol.Command, *, automatic: bool = False, line: str = "") -> Sent:
        """Record a command just sent; its :attr:`Sent.outcome` is set once answered."""
        return self.record(Sent(command, automatic=automatic, line=line))

    def record(self, sent: Sent) -> Sent:
        """Record ``sent`` as just sent (again, after a flood refusal)."""
        self._pending.append(sent)
        if isinstance(sent.command, protocol.Login):
            self._fire(Trigger.LOGIN_SENT)
            self.rooms.logging_in(sent.command.name, self._own_name)
        return sent

    def connected(self, where: str, details: str = "", *, encrypted: bool = False) -> None:
        """A new connection to ``where``, protected as ``details`` says (`` com TLSv1.3``,
        shown with the first greeting): not identified until its server greets us."""
        self._where, self._details, self._encrypted = where, details, encrypted
        self._fire(Trigger.CONNECT)

    @property
    def identified(self) -> bool:
        """This connection's server sent the BatChat greeting. Until then the shell sends
        no line that carries a password (:func:`protocol.carries_password`), typed or
        automatic: the peer may be any program that took the address."""
        return self._machine.link is LinkState.IDENTIFIED

    def no_greeting(self, seconds: float) -> str:
        """How a connection ends whose peer sent no line in ``seconds`` after connecting."""
        return peer_sentences.no_greeting(self._where, seconds, back=self._ever_identified)

    def is_pending(self, sent: Sent) -> bool:
        """``sent`` still awaits its answer (``False`` once answered or the connection is gone)."""
        return sent in self._pending

    def log_in_again(self) -> SendLine | None:
        """The automatic ENTRAR for a new connection, once its server greeted us; ``None``
        if there is nothing to log in with (not :attr:`SessionState.AWAY`), or no greeting yet."""
        login = self._credentials
        if login is None or not self.identified or self._machine.session is not SessionState.AWAY:
            return None
        return SendLine(f"ENTRAR {login.name} {login.password}", login)

    # -- what the server said ----------------------------------------------------------------

    def receive(self, line: str) -> list[Event]:
        """What to do about one line from the server (without its line end)."""
        if self._machine.link is LinkState.AWAITING_GREETING:
            return self._with_bugs(self._first_line(line))
        if not self._fire(Trigger.LINE) or not self.identified:
            return self._with_bugs([])  # turned away: a greeting after that is no greeting
        return self._with_bugs(self._receive(parse_visible(line)))

    def _receive(self, parsed: server_lines.ServerLine) -> list[Event]:
        if self.rooms.take(parsed, self._answering()):
            return []  # the person's rooms (at login), or a row of SALAS, shown at its OK
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
        parsed = parse_visible(line)
        code, text = parsed.fields if parsed.kind == "ERRO" else ("", "")
        wrong_protocol = code == protocol.ErrorCode.WRONG_PROTOCOL  # by its code: the text is for people
        self._fire(Trigger.REFUSAL if code in _ERROR_CODES and not wrong_protocol else Trigger.STRANGER)
        if wrong_protocol:
            if not self._encrypted:  # the one reason a BatChat server says it to this client
                return [Disconnect(f"{self._where} é um servidor BatChat com TLS e esta conexão não é "
                                   "cifrada: use --tls (e --cafile <arquivo>, se o certificado do "
                                   "servidor for próprio).")]
            return [Disconnect(f"{self._where} recusou a conexão: {text}")]
        if code in _ERROR_CODES:  # refused before being served: over a limit, try later
            return [Disconnect(f"{self._where} recusou a conexão: {text}")]
        return [Disconnect(peer_sentences.not_batchat(self._where, make_visible(line),
                                                      back=self._ever_identified))]

    def _greeted(self, text: str) -> list[Event]:
        """The greeting: said with where we connected to, or as being back."""
        self._fire(Trigger.GREETING)
        if self._ever_identified:
            back = say(f"Conexão com {self._where} restabelecida.", Style.NOTICE)
            return [back, Show(news(text))] if text else [back]
        self._ever_identified = True
        where = f"Conectado a {self._where}{self._details}."
        return [Show(news(f"{where} {text}" if text else where))]

    def _answering(self) -> protocol.Command | None:
        """The command the server's lines answer now: the oldest unanswered one (the
        server answers in order, and a reply's lines come before its OK or ERRO)."""
        return self._pending[0].command if self._pending else None

    def _listing_accounts(self) -> bool:
        answering = self._answering()
        return isinstance(answering, protocol.ListUsers) and answering.everyone

    def _holds(self, parsed: server_lines.ServerLine) -> bool:
        """Is ``parsed`` part of a login's reply? The counting INFO comes right after
        the kept messages, so no other INFO (a notice) is ever taken for it."""
        if not isinstance(self._answering(), protocol.Login):
            return False
        if parsed.kind == "INFO":
            return bool(self._held) and self._held[-1].kind == KEPT
        return parsed.kind in HELD_KINDS

    def _answered_ok(self, word: str, detail: str, parsed: server_lines.ServerLine) -> list[Event]:
        """``OK <word> <detail>``: settle the command it answers, and say so."""
        sent = self._settle(word, "OK")
        command = sent.command if sent else None
        if (said := self.rooms.answered(word, detail, sent.line if sent else "")) is not None:
            return self._in_rooms(list(map(Show, said)))
        match command:
            case protocol.Login():
                return self._logged_in(command, parsed, automatic=bool(sent and sent.automatic))
            case protocol.ListUsers(everyone=False):
                self._online = frozenset(online_others(detail, self._own_name))
                self._online_listed, self._unseen_listeners = True, 0  # everyone, by name
            case protocol.ListUsers(everyone=True):
                accounts, self._accounts = self._accounts, []  # the USUARIO lines were the answer
                self._account_count, self._accounts_counted = len(accounts), True
                return [Show(shown) for shown in render_accounts(accounts, self._clock)]
            case protocol.Register() if self._log_in_after_register and sent and not sent.automatic:
                login = protocol.Login(command.name, command.password)
                line = f"ENTRAR {login.name} {login.password}"
                return [Show(news(f"Conta {detail} criada; entrando…")), SendLine(line, login, automatic=False)]
            case protocol.Ping() if sent and sent.automatic:
                return []  # the client's own check that the server is there
            case protocol.PrivateMessage() | protocol.Broadcast():
                if isinstance(command, protocol.Broadcast) and self._own_name:
                    self._public_shown.append(public_key(self._own_name, make_visible(command.text)))
                elif isinstance(command, protocol.PrivateMessage):
                    recipient = stored_recipient(detail)[0] or command.recipient
                    self.privates.sent(recipient, make_visible(command.text), self._clock.now())
                return [Show(render_echo(command, detail))]  # an answer: after any joins held
            case protocol.Quit():
                self._fire(Trigger.GOODBYE)
        self._account_changed(word, sent)
        return self._render(parsed)

    def _shut_out(self) -> None:
        """Kicked, banned or the password reset: never log in again by this session's means."""
        self._fire(Trigger.SHUT_OUT)
        self._credentials = None

    def _account_changed(self, word: str, sent: Sent | None) -> None:
        """``OK SENHA``: a later automatic login uses the new password (the third word of
        the line sent); ``OK EXCLUIR``: the account is gone, and so is the session."""
        if word == "SENHA" and sent is not None and self._credentials is not None:
            self._credentials = protocol.Login(self._credentials.name, sent.line.split(" ")[2])
        elif word == "EXCLUIR":
            self._credentials = None
            self._fire(Trigger.GOODBYE)

    def _logged_in(
        self, login: protocol.Login, parsed: server_lines.ServerLine, *, automatic: bool
    ) -> list[Event]:
        """``OK ENTRAR <name>``: who we are now, then the reply's held lines."""
        self._fire(Trigger.LOGIN_OK)
        name = self._own_name = parsed.fields[1]
        self._credentials = login
        self.privates.logged_in(name)
        self.rooms.logged_in()
        events: list[Event] = [LoggedIn(name), SetPrompt(self._prompt(name))]
        if automatic:
            events.append(Show(news(f"De volta ao chat como {name}.")))
        else:
            events += [*self._render(parsed), *map(Show, self.rooms.yours())]  # (a drop changes none)
        events += self._release_held(automatic)
        if self._list_after_login:
            events.append(SendLine("LISTA", protocol.ListUsers()))
        return events

    def _release_held(self, replayed: bool) -> list[Event]:
        """The lines held for a login's reply; after an automatic re-login, without the
        history already shown before the drop."""
        held, self._held = self._held, []
        held.sort(key=lambda parsed: parsed.kind not in STANDING_KINDS)  # stable: the rest in order
        skip = self._already_shown(held) if replayed else 0
        events: list[Event] = []
        for parsed in held:
            if parsed.kind == HISTORY and skip:
                skip -= 1
                continue
            self._remember_public(parsed)
            events += self._render(parsed, pinned=True, replayed=replayed)
        return events

    def _already_shown(self, held: list[server_lines.ServerLine]) -> int:
        history = [key for parsed in held if (key := public_of(parsed)) and parsed.kind == HISTORY]
        return replay_overlap(list(self._public_shown), history)

    def _refused(self, code: str, text: str, parsed: server_lines.ServerLine) -> list[Event]:
        """``ERRO``: it answers the oldest command, unless the server is closing on us;
        shown, then what follows from it. A refusal for flooding (``DEVAGAR``: not
        executed) is sent again instead, and what it says of the price is learnt. Any
        other ERRO is shown, the last one before the server hangs up too."""
        if code == protocol.ErrorCode.SESSION_REPLACED:
            self._fire(Trigger.TAKEN_OVER)
            return self._render(parsed)
        if code in SHUT_OUT_CODES and self._machine.session is SessionState.LOGGED_IN:
            self._shut_out()  # pushed: the server closes now, and nothing is answered
            return self._render(parsed)
        sent = self._settle("", code)
        if sent is not None and isinstance(sent.command, protocol.Login):
            if sent.automatic and code == protocol.ErrorCode.CREDENTIALS:
                self._fire(Trigger.PASSWORD_REJECTED)
            elif not any(isinstance(later.command, protocol.Login) for later in self._pending):
                self._fire(Trigger.LOGIN_REFUSED)  # (another ENTRAR on its way keeps it logging in)
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
        if code in SHUT_OUT_CODES:  # kicked or banned meanwhile: trying again would not help
            self._shut_out()
            return [*events, HangUp()]
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
        self._fire(Trigger.LOSS)
        events = [*self._release_held(replayed=True), *self._unconfirmed()]
        self._own_name = None
        self._online = frozenset()
        self._online_listed, self._unseen_listeners = False, 0
        events = self._with_bugs([*events, SetPrompt(self._prompt(None)), say(how, Style.ERROR)])
        self._teacher_lines.forget_record()
        if self._machine.session is SessionState.REPLACED:
            return [*events, say("Sua conta entrou em outro lugar; este cliente não vai reconectar.")]
        if self._machine.session is SessionState.SHUT_OUT:
            return [*events, say("Este cliente não vai reconectar sozinho; a frase acima diz quando voltar.")]
        if not self._reconnect or self._machine.link is LinkState.GIVEN_UP:
            return events
        if self._machine.session is not SessionState.AWAY:
            return [*events, say("Para voltar, rode o cliente de novo.")]
        return [
            *events,
            say("Tentando reconectar (1, 2, 4... até 30 s entre tentativas; Ctrl-C para sair)."),
            Reconnect(),
        ]

    def left_without_goodbye(self, how: str) -> list[Event]:
        """The person asked to leave, and the connection ended before ``OK SAIR``."""
        self._fire(Trigger.LOSS)
        return self._with_bugs([*self._unconfirmed(), say(f"{how} Sem confirmação do SAIR.", Style.ERROR)])

    def _unconfirmed(self) -> list[Event]:
        """Forget every command left unanswered; the messages among them may not have arrived."""
        unanswered, self._pending = list(self._pending), deque()
        self._accounts = []
        for sent in unanswered:
            sent.abandoned = True
        return [
            Show(Shown((
                (Style.ERROR, "Sem confirmação do servidor; talvez não tenha chegado: "),
                *render_echo(sent.command).parts,
            ), When.NOW))
            for sent in unanswered
            if isinstance(sent.command, (protocol.PrivateMessage, protocol.Broadcast))
        ]

    # -- helpers -------------------------------------------------------------------------------

    def _fire(self, trigger: Trigger) -> bool:
        """Move the session's states by ``trigger``. A move no table has is a bug of this
        client: kept to be shown (:meth:`_with_bugs`), nothing moved, ``False``; never raised."""
        try:
            self._machine.fire(trigger)
        except StateError as error:
            self._bugs.append(error)
            return False
        return True

    def _with_bugs(self, events: list[Event]) -> list[Event]:
        """``events``, after a line for each bug found since the last events returned."""
        bugs, self._bugs = self._bugs, []
        return [*(say(f"Defeito do cliente: {bug.trigger.name} não era esperado no estado {bug.state.name}; "
                      "foi ignorado.", Style.ERROR) for bug in bugs), *events]

    def _render(self, parsed: server_lines.ServerLine, *, pinned: bool = False, replayed: bool = False) -> list[Event]:
        """What the person reads of ``parsed`` (``pinned``, ``replayed``: as the login reply's
        lines, see :meth:`TeacherLines.render`)."""
        if (in_rooms := self.rooms.render(parsed, self._own_name)) is not None:
            return self._in_rooms(in_rooms)
        said = self._teacher_lines.render(parsed, self._own_name, pinned=pinned, replayed=replayed)
        if said is not None:
            return [Show(line) for line in said]
        shown = render_parsed(parsed, self._own_name, self._clock)
        if shown is None:
            return []
        self.privates.note(parsed, self._clock.now())
        match parsed.kind, parsed.fields:
            case ("ENTROU" | "SAIU") as kind, (name,):
                return [Show(shown, name, joined=kind == "ENTROU")]  # grouped by the shell
            case ("TODOS" | "MSG"), (sender, _):
                return [Show(shown, sender)]
        return [Show(shown)]

    def _remember_public(self, parsed: server_lines.ServerLine) -> None:
        if key := public_of(parsed):
            self._public_shown.append(key)

    def _in_rooms(self, events: list[Event]) -> list[Event]:
        """What the rooms said, and the prompt again when the current room changed."""
        if self.rooms.current != self._prompt_room:
            events.append(SetPrompt(self._prompt(self._own_name)))
        return events

# Where the server charges a fan-out (it will have logged in when the line comes), and
# where typed text has somewhere to go (logged in, or about to be again).
_CHARGED_AS_LOGGED_IN = (SessionState.LOGGING_IN, SessionState.LOGGED_IN, SessionState.LOGGING_IN_AGAIN)
_TEXT_HAS_SOMEWHERE_TO_GO = (SessionState.LOGGED_IN, SessionState.AWAY, SessionState.LOGGING_IN_AGAIN)
