"""BatChat terminal client: an irssi-like line interface, standard library only.

Run ``python3 cliente.py [HOST [PORTA]]`` (or ``--host``, ``--port``) and type:
text goes to everyone, commands start with ``/`` (see :mod:`batchat.client.typed` for
the rule); ``AJUDA`` (or ``?``) lists them with examples.

This module is the client's I/O shell: :class:`ChatClient` (threads, locks,
reconnection, the keyboard loop, the queue of typed lines, password
prompts). It is called by :mod:`batchat.client.main` (start-up) only. What it
does with each server line is decided by
:class:`batchat.client.state.ClientState`; the rest lives below it, each
module importing only the ones further down:

screen, link, flow, typed and render (see the package's docstring, which also
says what each thread does, when a password may be sent, and the exit status).
"""

from __future__ import annotations

import contextlib
import itertools
import shutil
import signal
import ssl
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator

import protocol
from batchat import framing, parsing
from batchat.locks import tiered_lock
from batchat.client import flow, link as links, terminal, tiers
from batchat.client.state import (
    ClientState, Disconnect, Event, HangUp, LoggedIn, Reconnect, Resend, SendLine, Sent, SetLimits, SetPrompt,
    Show, say,
)
from batchat.client.grouping import PresenceGroups
from batchat.client.flow import FIRST_RETRY_DELAY, Liveness, Pacer, ServerLimits, pause, retry_delays
from batchat.client.password_prompt import ask_line
from batchat.client.link import Link, TlsRefused, network_error_reason, open_link
from batchat.client.render import SYSTEM_CLOCK, Clock, Style, help_text, queued_prompt, timed
from batchat.client.screen import InputHistory, PlainScreen
from batchat.client.rooms import SwitchRoom, interpret_typed
from batchat.client.typed import AskPassword, Converse, Refuse, Send, ShowHelp, ShowPrivates

SERVER_LINE_TOO_LONG = "O servidor mandou uma linha longa demais; conexão encerrada."
NOT_SENT = "Sem conexão com o servidor; a linha não foi enviada (↑ a traz de volta depois)."


# --- The client ---------------------------------------------------------------------------


class ChatClient:
    """One person's session: the connection (and its replacements), the keyboard, the screen.

    The I/O shell around :class:`ClientState`: it reads and sends bytes, runs
    the threads, waits, prompts for passwords, and carries out the events
    the state returns. The state is only ever used under the send lock.

    ``now`` (a monotonic clock) and ``pause`` (how the sending thread waits
    its turn) are the pacing's time, replaceable in tests.
    """

    def __init__(
        self,
        address: tuple[str, int],
        screen: PlainScreen,
        *,
        interactive: bool,
        reconnect: bool,
        can_prompt: bool | None = None,
        history: InputHistory | None = None,
        tls: ssl.SSLContext | None = None,
        unverified: bool = False,
        clock: Clock = SYSTEM_CLOCK,
        now: Callable[[], float] = time.monotonic,
        pause: Callable[[threading.Condition, float], None] = pause,
        first_retry: float = FIRST_RETRY_DELAY,
    ) -> None:
        self._address = address
        self._screen = screen
        self._can_prompt = interactive if can_prompt is None else can_prompt  # hidden passwords
        # Typed lines from a pipe wait for each answer: output in input order.
        self._lockstep = not self._can_prompt
        self._history = history
        self._unverified = unverified  # --tls-insecure: said with the greeting
        # A person at a terminal gets LISTA after each login (names for Tab, and who is
        # here), and is logged in after creating an account.
        self._state = ClientState(
            clock, reconnect=reconnect, list_after_login=interactive,
            log_in_after_register=self._can_prompt,
        )
        # One sender at a time; guards _link (and its TLS session), _state, _outbox, _pacer.
        self._send_lock = tiered_lock(tiers.SEND, "envio do cliente")  # see batchat/client/__init__.py
        self._answered = threading.Condition(self._send_lock)  # a command got its answer
        self._outbox_changed = threading.Condition(self._send_lock)  # a line queued, or a turn came
        self._outbox: deque[Sent] = deque()  # typed lines waiting for their turn, in order
        self._sequence = itertools.count(1)  # the order lines are first sent in
        self._guess: tuple[Sent, int] | None = None  # a line sent at a guessed price, and that price
        self._clock, self._now, self._pause = clock, now, pause  # the times shown; the pacing's time
        self._limits = ServerLimits()  # until the server states its own
        self._pacer = Pacer(self._limits, now())
        self._presence = PresenceGroups()  # joins and leaves shown in groups; main thread only
        self._prompt = "> "  # as the state wants it, before the queue count is added
        self._tls = tls
        self._link: Link | None = None
        self._retry_delays: Iterator[tuple[float, float]] | None = None  # during an outage
        self._first_retry = first_retry  # the first of them (1 s; lower in tests)
        self._quitting = threading.Event()  # the person asked to leave
        self._greeted = threading.Event()  # the server's first line was shown
        self._login_refused = False  # piped input: the last typed ENTRAR or NOVO was refused

    # -- main thread -------------------------------------------------------------------------

    def run(self, link: Link) -> int:
        """Serve the session until the person leaves or it ends for good; the exit status."""
        self._attach(link)
        self._catch_ctrl_c()
        for target, name in ((self._read_keyboard, "teclado"), (self._send_queued, "envio")):
            threading.Thread(target=target, name=name, daemon=True).start()
        try:
            while True:
                ended = self._receive_until_closed()
                if self._screen.broken.is_set():
                    self._leave_now()
                    return 1
                if self._quitting.is_set() or self._state.said_goodbye:  # SAIR, or OK EXCLUIR
                    return max(self._quit_status(ended), int(self._login_refused))
                if not any(isinstance(event, Reconnect) for event in self._drop(ended)):
                    return 1
                if not self._wait_and_reconnect():
                    return 0  # the person left while we waited
        except KeyboardInterrupt:
            self._leave_now()
            self._screen.say("Até logo!", Style.NOTICE)
            return 0
        finally:
            self._detach()

    def _catch_ctrl_c(self) -> None:
        """Ctrl-C at the input line (see :func:`batchat.client.main.catch_ctrl_c`): the line
        cleared goes to ↑ as the history keeps it (never a password); leaving is /sair's."""
        history = self._history
        self._screen.on_ctrl_c(
            cleared=history.add if history is not None else lambda line: None,
            leave=lambda: self._send_typed(protocol.Quit(), "SAIR"),
        )

    def _leave_now(self) -> None:
        """Ctrl-C, kill or a closed output: say SAIR if possible and go, whatever comes next."""
        for number in (signal.SIGINT, signal.SIGTERM):
            signal.signal(number, signal.SIG_IGN)  # a second Ctrl-C must not cut this short
        # Bounded: against a frozen server the keyboard thread may hold the lock in sendall().
        self._leave(lock_timeout=1.0)

    def _leave(self, lock_timeout: float = -1) -> Sent | None:
        """SAIR now, ahead of the queued lines, which are dropped, and said: the person
        leaves at once (SAIR is free on the server: never held by the flood limit). The
        SAIR sent; ``None`` without a connection (or the lock within ``lock_timeout``)."""
        self._quitting.set()  # wakes the main thread, if it waits to reconnect
        if not self._send_lock.acquire(timeout=lock_timeout):
            return None
        try:
            dropped, self._outbox = list(self._outbox), deque()
            for sent in dropped:
                sent.abandoned = True
            self._answered.notify_all()
            self._outbox_changed.notify_all()
            quit_sent = self._send_locked(protocol.Quit(), "SAIR")
        finally:
            self._send_lock.release()
        if dropped:
            count = len(dropped)
            self._screen.say("1 linha na fila não foi enviada." if count == 1 else
                             f"{count} linhas na fila não foram enviadas.", Style.ERROR)
        return quit_sent

    def _attach(self, link: Link) -> None:
        """Use ``link``, a new connection: its greeting and its flood budget are new too."""
        with self._send_lock:
            self._use_link(link)

    def _use_link(self, link: Link) -> None:
        self._link = link
        self._pacer = Pacer(self._limits, self._now())
        unverified = " SEM VERIFICAÇÃO" if self._unverified else ""
        self._state.connected(
            protocol.format_address(*self._address), f"{link.description}{unverified}", encrypted=link.encrypted
        )
        self._outbox_changed.notify_all()

    def _detach(self, ending: Callable[[], list[Event]] | None = None) -> list[Event]:
        """Forget the connection and close it; whoever waits for an answer stops waiting.

        ``ending`` tells the state, under the same lock as the link is
        forgotten: nothing can be sent on it after the state's last word on it
        (after the joins and leaves still held: main thread only).
        """
        with self._send_lock:
            link, self._link = self._link, None
            events = self._presence.arrange(ending(), self._now()) if ending is not None else []
            self._answered.notify_all()
            self._outbox_changed.notify_all()
        if link is not None:
            link.close()
        return events

    def _drop(self, ended: str) -> list[Event]:
        """The connection ended: close it, and carry out what the state makes of that."""
        events = self._detach(lambda: self._lost_locked(ended))
        self._carry_out(events)
        return events

    def _lost_locked(self, ended: str) -> list[Event]:
        """What the state makes of the end (lock held). If the peer never greeted and the
        client will not try again, the lines queued for its greeting are dropped unsaid:
        the one sentence that ends the session (not a BatChat server, use --tls, no
        greeting, a refusal) already says that nothing, no password, was sent to it."""
        greeted = self._state.identified
        events = self._state.connection_lost(ended)
        if not greeted and not any(isinstance(event, Reconnect) for event in events):
            for sent in self._outbox:
                sent.abandoned = True
            self._outbox.clear()
        return events

    def _receive_until_closed(self) -> str:
        """Show every line until the connection ends, or the server stops answering;
        say how it ended."""
        link = self._link
        assert link is not None
        # Bounded: a hostile server (or anyone in the middle of a plaintext
        # connection) could otherwise grow this process with one endless line.
        framer = framing.LineFramer(protocol.MAX_SERVER_LINE)
        liveness = Liveness(self._now(), probe=not link.encrypted)
        while True:
            now = self._now()
            self._carry_out(self._presence.tick(now))  # joins and leaves gathered long enough
            if not link.wait_readable(self._presence.wait(liveness.next_check(now), now)):
                if (gone := self._check_liveness(liveness)) is not None:
                    return gone
                continue
            try:
                data = link.receive(self._send_lock)
            except OSError as error:  # ssl.SSLError too: a corrupted or forged record
                return f"A conexão com o servidor caiu ({network_error_reason(error)})."
            if data is None:
                return "O servidor encerrou a conexão."
            try:
                lines = framer.feed(data)
            except framing.FramingError:
                return SERVER_LINE_TOO_LONG
            liveness.heard(self._now(), line=bool(lines))
            for raw in lines:
                if not isinstance(raw, bytes):  # no server sends that: replies would be out of step
                    return SERVER_LINE_TOO_LONG
                if (how := self._handle(raw.decode(protocol.ENCODING, errors="replace"))) is not None:
                    return how  # not served: not a line more from this peer
            if self._screen.broken.is_set():
                return "A saída foi fechada."

    def _check_liveness(self, liveness: Liveness) -> str | None:
        """Nothing came for a while: PING, or give up on the server (how it ended)."""
        now = self._now()
        match liveness.due(now):
            case "probe":
                self._probe()
                liveness.probed()
            case "ping":
                self._send(protocol.Ping(), "PING", automatic=True)
                liveness.pinged(now)
            case "silent":
                seconds = flow.PING_AFTER + flow.ANSWER_DEADLINE
                return (f"O servidor parou de responder (nada chegou em {seconds:g} s, "
                        "nem resposta ao PING); conexão encerrada.")
            case "no greeting":
                with self._send_lock:
                    return self._state.no_greeting(flow.GREETING_DEADLINE)
        return None

    def _probe(self) -> None:
        """A plaintext connection still without a greeting: send one blank line (see
        :data:`batchat.client.flow.PROBE_AFTER`), so that a TLS server says at once that it
        wants TLS. A BatChat server ignores it, at no cost (blank lines never count against
        its limit); the client's own pacing still counts it, which only errs on the safe side."""
        with self._send_lock:
            if self._link is not None:
                self._pacer.charge(self._now())
                with contextlib.suppress(OSError):  # a failed send: the receiving loop sees the end
                    self._link.send(protocol.encode_line(""))

    def _handle(self, line: str) -> str | None:
        """Carry out what ``line`` means; how the connection ends, if this line ends it."""
        with self._send_lock:
            identified = self._state.identified
            events = self._presence.arrange(self._state.receive(line), self._now())
            if self._state.identified and not identified:
                self._log_in_again_locked()
            self._answered.notify_all()
            if self._guess is not None and not self._state.is_pending(self._guess[0]):
                self._settle_guess_locked(*self._guess)
        self._carry_out(events)
        how = next((event.how for event in events if isinstance(event, Disconnect)), None)
        if how is None:  # piped input waits for a greeting, and none will come here
            self._greeted.set()  # after the greeting is shown: piped output keeps one order
        return how

    def _log_in_again_locked(self) -> None:
        """The server just greeted us: the automatic ENTRAR of a reconnection goes now,
        before any typed line (the sending thread waited for the greeting too)."""
        login = self._state.log_in_again()
        if login is not None:
            self._send_locked(login.command, login.line, automatic=True)
        self._outbox_changed.notify_all()

    def _carry_out(self, events: list[Event]) -> None:
        """Do what the state decided, in its order."""
        for event in events:
            match event:
                case Show(shown=shown):
                    self._screen.show(timed(shown, self._clock))  # the one place times are put
                case SetPrompt(text=text):
                    with self._send_lock:
                        self._prompt = text
                        self._show_queue_locked()
                case SendLine(line=line, command=command, automatic=automatic):
                    self._send(command, line, automatic=automatic)
                case Resend():
                    self._queue_again(event)
                case SetLimits(limits=limits):
                    with self._send_lock:
                        self._limits = limits
                        self._pacer = Pacer(limits, self._now())
                        self._outbox_changed.notify_all()
                case HangUp():
                    self._hang_up()
                case LoggedIn():
                    self._retry_delays = None  # back in: the next outage starts again at 1 s
                case Disconnect():
                    pass  # the receiving loop ends the connection with its words (_handle)

    def _hang_up(self) -> None:
        with self._send_lock, contextlib.suppress(OSError):  # already disconnected: the receive loop ends
            if self._link is not None:
                self._link.shutdown()

    def _quit_status(self, ended: str) -> int:
        """The person asked to leave and the connection ended: 0 if the server said goodbye."""
        if self._state.said_goodbye:  # set by this thread only, in _handle
            return 0
        self._carry_out(self._detach(lambda: self._state.left_without_goodbye(ended)))
        return 1

    def _wait_and_reconnect(self) -> bool:
        """Reconnect with backoff and log back in; ``False`` if the person left first.

        The waits keep growing until a login works again, so a server that
        accepts and at once closes is not hammered every second.
        """
        where = protocol.format_address(*self._address)
        if self._retry_delays is None:
            self._retry_delays = itertools.pairwise(retry_delays(self._first_retry))
        for delay, next_delay in self._retry_delays:
            if self._quitting.wait(delay):
                return False
            try:
                link = open_link(self._address, self._tls)
            except (OSError, TlsRefused) as error:
                reason = str(error) if isinstance(error, TlsRefused) else network_error_reason(error)
                self._carry_out([say(f"Ainda sem conexão com {where} ({reason}); nova tentativa em "
                                     f"{next_delay:g} s.", Style.NOTICE)])
                continue
            return self._attach_unless_leaving(link)
        raise AssertionError("retry_delays() never ends")

    def _attach_unless_leaving(self, link: Link) -> bool:
        """Use ``link``; ``False`` (link closed) if the person left meanwhile. Nothing is
        sent on it, the automatic ENTRAR included, until its server greets us as BatChat
        (:meth:`_handle`), which is also when "restabelecida" is said."""
        with self._send_lock:
            if self._quitting.is_set():
                link.close()
                return False
            self._use_link(link)
        return True

    # -- all threads ----------------------------------------------------------------------

    def _send(self, command: protocol.Command, line: str, *, automatic: bool = False) -> Sent | None:
        """Send one line now; ``None`` when there is no connection to send it on."""
        with self._send_lock:
            return self._send_locked(command, line, automatic=automatic)

    def _send_locked(
        self, command: protocol.Command, line: str, *, automatic: bool = False, sent: Sent | None = None
    ) -> Sent | None:
        """Send one line now (lock held): the one place a line reaches the socket. A line
        that carries a password never goes before this connection's greeting."""
        if self._link is None or (protocol.carries_password(command) and not self._state.identified):
            return None
        if sent is None:
            sent = Sent(command, automatic=automatic, line=line)
        if sent.sequence is None:
            sent.sequence = next(self._sequence)
        self._state.record(sent)
        price = self._state.price(command)
        if not self._state.price_known(command):
            # A guess: if the server refuses it, the lines sent after it must not pass
            # before it is sent again, so the next one waits for its answer.
            self._guess = sent, price
        self._pacer.charge(self._now(), price)  # automatic lines count too
        # A failed send needs no handling here: the receiving loop sees the
        # connection end and reports this command among the unconfirmed ones.
        with contextlib.suppress(OSError):
            self._link.send(protocol.encode_line(line))
        return sent

    def _settle_guess_locked(self, sent: Sent, guessed: int) -> None:
        """The line sent at price ``guessed`` was answered: the next may go. If it went
        through, its answer may have told the price (LISTA TODOS counts the accounts):
        the pacer is charged what the guess missed. (Refused, it cost nothing.)"""
        self._guess = None
        if sent.outcome == "OK":
            self._pacer.charge(self._now(), max(0, self._state.price(sent.command) - guessed))
        self._outbox_changed.notify_all()

    def _queue(self, sent: Sent) -> None:
        """Put a typed line at the end of the queue; the sending thread sends it in its turn."""
        with self._send_lock:
            sent.queued_at = self._now()
            self._outbox.append(sent)
            self._outbox_changed.notify_all()

    def _queue_again(self, resend: Resend) -> None:
        """The server's flood limit refused a line, unexecuted: it goes again before the
        lines sent after it, once the server said it can be paid. Unless that is past the
        minute it may wait in all: then it is given up, and the refusal shown."""
        sent = resend.sent
        with self._send_lock:
            now = self._now()
            if sent.queued_at is None:  # an automatic line: it waits from now
                sent.queued_at = now
            if resend.wait is not None and now + resend.wait > sent.queued_at + flow.MAX_DELAY:
                sent.outcome = protocol.ErrorCode.SLOW_DOWN.value
                self._answered.notify_all()
            else:
                self._pacer.refused(now, resend.price, resend.wait)
                first = sent.sequence or 0  # before the lines sent after it, and those never sent
                self._outbox.insert(sum(1 for queued in self._outbox if (queued.sequence or first) < first), sent)
                self._outbox_changed.notify_all()
                return
        self._carry_out(list(resend.refusal))

    # -- sending thread ---------------------------------------------------------------------

    def _send_queued(self) -> None:
        """Send each queued line in order, each when the pacer allows it. A bug here must
        not leave a client that silently sends nothing: it is said, and the client ends."""
        try:
            self._send_forever()
        except Exception as error:
            self._carry_out([say(f"Erro interno ao enviar ({error}); o cliente vai sair.", Style.ERROR)])
            self._quitting.set()
            self._hang_up()

    def _send_forever(self) -> None:
        while True:
            with self._send_lock:
                sent = self._next_turn()
                if sent is not None and self._send_locked(sent.command, sent.line, sent=sent) is None:
                    sent.abandoned = True  # the connection dropped: say so, and go on
                    self._answered.notify_all()
                self._show_queue_locked()
            if sent is not None and sent.abandoned and not isinstance(sent.command, protocol.Quit):
                self._screen.say(NOT_SENT, Style.ERROR)

    def _next_turn(self) -> Sent | None:
        """Wait (lock held) for a queued line and its turn; take it off the queue.

        Its turn comes when the pacer has its price, and, while a line sent at a
        guessed price awaits its answer, once that answer came; but never later than
        :data:`batchat.client.flow.MAX_DELAY` after it was queued. On a connection whose
        server has not greeted us yet, typed lines wait: a password must not go to
        whatever answered, and after a reconnection the automatic ENTRAR goes first
        (without a connection, the line is taken, and not sent).
        """
        while not self._outbox or (self._link is not None and not self._state.identified):
            self._outbox_changed.wait()
        sent = self._outbox[0]
        if self._link is not None:
            now = self._now()
            since = now if sent.queued_at is None else sent.queued_at
            answer_due = self._guess is not None and self._state.is_pending(self._guess[0])
            if answer_due:
                delay = max(0.0, since + flow.MAX_DELAY - now)
            else:
                delay = self._pacer.delay(now, self._state.price(sent.command), since)
            if delay > 0:
                self._show_queue_locked(waiting=True)
                if answer_due:  # an answer, not time: woken when it comes (see _handle)
                    self._outbox_changed.wait(delay)
                else:
                    self._pause(self._outbox_changed, delay)
                return None
        return self._outbox.popleft()

    def _show_queue_locked(self, *, waiting: bool = False) -> None:
        """The prompt, with how many typed lines wait their turn when some do."""
        waiting_lines = len(self._outbox) if (waiting or self._outbox) and not self._lockstep else 0
        self._screen.set_prompt(queued_prompt(self._prompt, waiting_lines))

    # -- keyboard thread -------------------------------------------------------------------

    def _read_keyboard(self) -> None:
        """Handle each typed line until SAIR; at the end of input (Ctrl-D, a pipe's end) leave."""
        if self._lockstep:  # the greeting first, so that output always comes in one order
            self._greeted.wait(links.CONNECT_TIMEOUT)
        try:
            while not self._quitting.is_set():
                self._handle_typed(self._screen.read_line())
                self._screen.flush()
            return
        except EOFError:
            self._screen.flush()  # Ctrl-D or the end of a pipe: leave politely
        except Exception as error:  # never leave the person with a silent, stuck client
            self._screen.say(f"Erro ao ler o teclado: {error}", Style.ERROR)
        self._send_typed(protocol.Quit(), "SAIR")  # after what is queued; wakes the main thread

    def _handle_typed(self, line: str) -> None:
        try:
            line.encode(protocol.ENCODING)
        except UnicodeEncodeError:  # bytes that were not UTF-8 on stdin, kept as surrogates
            self._screen.say("Essa linha tem caracteres inválidos (não é UTF-8) e não foi enviada.")
            return
        if self._history is not None:  # before it is sent or refused: nothing typed is lost
            self._history.add(line)
        with self._send_lock:
            logged_in, partner, rooms = self._state.logged_in, self._state.partner, self._state.rooms.view()
            max_line, replying_to = self._limits.max_line, self._state.privates.last_sender
        match interpret_typed(line, self._can_prompt, rooms, logged_in=logged_in, partner=partner,
                              max_line=max_line, replying_to=replying_to):
            case None:
                return
            case Converse() | SwitchRoom() as choice:
                with self._send_lock:
                    events = self._state.choose(choice)
                self._carry_out(events)
            case ShowPrivates():
                with self._send_lock:
                    rows = self._state.privates.shown(self._clock)
                self._carry_out([Show(shown) for shown in rows])
            case ShowHelp(teacher=teacher):
                for text in help_text(shutil.get_terminal_size().columns, teacher=teacher):
                    self._screen.say(text)
            case Refuse(text=text):
                self._screen.say(text, Style.ERROR)
            case AskPassword(word=word, name=name):
                self._ask_password_and_send(word, name)
            case Send(line=line, command=command):
                self._send_typed(command, line)

    def _send_typed(self, command: protocol.Command, line: str) -> None:
        """Queue a typed line (its length checked by :func:`~batchat.client.typed.interpret`); piped,
        or EXCLUIR (its answer ends the session before any prompt), wait for its answer. SAIR
        goes at once instead, and what is still queued is dropped, and said."""
        if isinstance(command, protocol.Quit):
            sent = self._leave()
        elif self._link is None:
            self._screen.say(NOT_SENT, Style.ERROR)
            return
        else:
            sent = Sent(command, line=line)
            self._queue(sent)
        if (self._lockstep or isinstance(command, protocol.DeleteAccount)) and sent is not None:
            outcome = self._wait_for_answer(sent)
            if isinstance(command, (protocol.Login, protocol.Register)):
                self._login_refused = outcome != "OK"

    def _wait_for_answer(self, sent: Sent) -> str | None:
        """Wait until ``sent`` is answered or never will be; its outcome."""
        with self._answered:
            self._answered.wait_for(lambda: sent.finished or self._link is None)
        return sent.outcome

    def _ask_password_and_send(self, word: str, name: str) -> None:
        """``NOVO``/``ENTRAR <name>``, or ``/senha``, ``/excluir`` (no name): ask, hidden, and send."""
        self._screen.flush()
        with self._send_lock:
            own_name = self._state.own_name or ""
        line = ask_line(self._screen.say, word, name, own_name, self._screen.flush)
        if line is None:
            return
        command = parsing.parse_command(line)
        assert command is not None
        self._send_typed(command, line)

    def online_names(self) -> frozenset[str]:
        """Who else is online, and the rooms known (``#grupo1``), as far as this client knows (for Tab)."""
        return self._state.online | self._state.rooms.names
