"""BatChat terminal client: an irssi-like line interface, standard library only.

Run ``python3 cliente.py [--host 127.0.0.1] [--port 5050]`` and type: text
goes to everyone, commands start with ``/`` (see :mod:`batchat.typed` for the
rule); ``AJUDA`` (or ``?``) lists them with examples.

This module is the client's I/O shell: :class:`ChatClient` (threads, locks,
reconnection, the keyboard loop, password prompts) and start-up
(:func:`parse_arguments`, :func:`main`, :func:`run_and_exit`). It is called
by ``cliente.py`` only. What it does with each server line is decided by
:class:`batchat.client_state.ClientState`; the rest lives below it, each
module importing only the ones further down:

- :mod:`batchat.screen`: the screen, readline and the input history file;
- :mod:`batchat.link`: the connection, with TLS;
- :mod:`batchat.client_state`: the session's protocol state, without I/O;
- :mod:`batchat.typed`: from typed lines to what is sent;
- :mod:`batchat.render`: from server lines to what the person reads.

Threads
-------
- The main thread connects, receives server lines and turns each into what the
  person reads; when the connection drops without ``SAIR`` it reconnects with
  backoff (1, 2, 4 ... 30 s) and logs back in with the last credentials that
  worked, held in memory only.
- The keyboard thread reads what the person types, asks for passwords with a
  hidden prompt, answers ``AJUDA``, typos and ``/conversa`` locally, and sends
  the rest.

On a terminal, only the keyboard thread writes to the screen (see
:class:`batchat.screen.TerminalScreen`). With ``--tls`` the TLS session is
only ever used under the send lock, since two threads share the connection.

Text from the network is shown with control characters escaped, never
interpreted. Colour follows https://no-color.org: off when ``NO_COLOR`` is set,
``TERM=dumb`` or the output is not a terminal.

Exit status: 0 after ``SAIR``, Ctrl-D, the end of piped input or Ctrl-C; 1 when
the server cannot be reached at start-up, or the connection ends for good
(``--no-reconnect``, or the account logged in somewhere else).
"""

from __future__ import annotations

import argparse
import contextlib
import getpass
import itertools
import os
import signal
import ssl
import sys
import threading
import traceback
from collections.abc import Callable, Iterator
from typing import NoReturn

import protocol
from batchat import link as links
from batchat.client_state import (
    ClientState, Event, HangUp, LoggedIn, Reconnect, SendLine, Sent, SetPrompt, Show,
)
from batchat.link import Link, TlsRefused, connect_problem, describe_os_error, open_link, tls_context
from batchat.render import SYSTEM_CLOCK, Clock, Style, help_text
from batchat.screen import InputHistory, PlainScreen, history_path, make_screen, set_up_readline
from batchat.typed import AskPassword, Converse, Refuse, Send, ShowHelp, interpret

SERVER_LINE_TOO_LONG = "O servidor mandou uma linha longa demais; conexão encerrada."
FIRST_RETRY_DELAY = 1.0
MAX_RETRY_DELAY = 30.0
LIMIT_RETRIES = 10  # piped input: times a line refused by the flood limit is sent again
LIMIT_RETRY_DELAY = 1.0  # seconds before sending it again
INSECURE_WARNING = (
    "ATENÇÃO: --tls-insecure: o certificado do servidor NÃO é verificado. A conexão é cifrada, "
    "mas qualquer um no caminho pode se passar pelo servidor e ler tudo, senha inclusive."
)


def retry_delays() -> Iterator[float]:
    """Seconds to wait before each reconnection attempt: 1, 2, 4 ... then 30 for ever."""
    delay = FIRST_RETRY_DELAY
    while True:
        yield delay
        delay = min(delay * 2, MAX_RETRY_DELAY)


# --- The client ---------------------------------------------------------------------------


class ChatClient:
    """One person's session: the connection (and its replacements), the keyboard, the screen.

    The I/O shell around :class:`ClientState`: it reads and sends bytes, runs
    the two threads, waits, prompts for passwords, and carries out the events
    the state returns. The state is only ever used under the send lock.
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
        clock: Clock = SYSTEM_CLOCK,
    ) -> None:
        self._address = address
        self._screen = screen
        self._can_prompt = interactive if can_prompt is None else can_prompt  # hidden passwords
        # Typed lines from a pipe wait for each answer: output in input order,
        # and a long script paced by the server's flood limit, not refused by it.
        self._lockstep = not self._can_prompt
        self._history = history
        # A person at a terminal gets LISTA after each login: names for Tab, and who is here.
        self._state = ClientState(clock, reconnect=reconnect, list_after_login=interactive)
        # One sender at a time; guards _link (and its TLS session) and _state.
        self._send_lock = threading.Lock()  # tier 1 (see batchat/__init__.py)
        self._answered = threading.Condition(self._send_lock)  # a command got its answer
        self._tls = tls
        self._link: Link | None = None
        self._retry_delays: Iterator[tuple[float, float]] | None = None  # during an outage
        self._quitting = threading.Event()  # the person asked to leave
        self._greeted = threading.Event()  # the server's first line was shown

    # -- main thread -------------------------------------------------------------------------

    def run(self, link: Link) -> int:
        """Serve the session until the person leaves or it ends for good; the exit status."""
        self._attach(link)
        keyboard = threading.Thread(target=self._read_keyboard, name="teclado", daemon=True)
        keyboard.start()
        try:
            while True:
                ended = self._receive_until_closed()
                if self._screen.broken.is_set():
                    self._leave_now()
                    return 1
                if self._quitting.is_set():
                    return self._quit_status(ended)
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

    def _leave_now(self) -> None:
        """Ctrl-C, kill or a closed output: say SAIR if possible and go, whatever comes next."""
        for number in (signal.SIGINT, signal.SIGTERM):
            signal.signal(number, signal.SIG_IGN)  # a second Ctrl-C must not cut this short
        self._quitting.set()
        # Bounded: against a frozen server the keyboard thread may hold the lock in sendall().
        if self._send_lock.acquire(timeout=1.0):
            try:
                self._send_locked(protocol.Quit(), "SAIR")
            finally:
                self._send_lock.release()

    def _attach(self, link: Link) -> None:
        with self._send_lock:
            self._link = link

    def _detach(self, ending: Callable[[], list[Event]] | None = None) -> list[Event]:
        """Forget the connection and close it; whoever waits for an answer stops waiting.

        ``ending`` tells the state, under the same lock as the link is
        forgotten: nothing can be sent on it after the state's last word on it.
        """
        with self._send_lock:
            link, self._link = self._link, None
            events = ending() if ending is not None else []
            self._answered.notify_all()
        if link is not None:
            link.close()
        return events

    def _drop(self, ended: str) -> list[Event]:
        """The connection ended: close it, and carry out what the state makes of that."""
        events = self._detach(lambda: self._state.connection_lost(ended))
        self._carry_out(events)
        return events

    def _receive_until_closed(self) -> str:
        """Show every line until the connection ends; say how it ended."""
        link = self._link
        assert link is not None
        # Bounded: a hostile server (or anyone in the middle of a plaintext
        # connection) could otherwise grow this process with one endless line.
        framer = protocol.LineFramer(protocol.MAX_SERVER_LINE)
        while True:
            try:
                data = link.receive(self._send_lock)
            except OSError as error:  # ssl.SSLError too: a corrupted or forged record
                return f"A conexão com o servidor caiu ({describe_os_error(error)})."
            if data is None:
                return "O servidor encerrou a conexão."
            try:
                lines = framer.feed(data)
            except protocol.FramingError:
                return SERVER_LINE_TOO_LONG
            for raw in lines:
                if not isinstance(raw, bytes):  # no server sends that: replies would be out of step
                    return SERVER_LINE_TOO_LONG
                self._handle(raw.decode(protocol.ENCODING, errors="replace"))
            if self._screen.broken.is_set():
                return "A saída foi fechada."

    def _handle(self, line: str) -> None:
        with self._send_lock:
            events = self._state.receive(line)
            self._answered.notify_all()
        self._carry_out(events)
        self._greeted.set()  # after the greeting is shown: piped output keeps one order

    def _carry_out(self, events: list[Event]) -> None:
        """Do what the state decided, in its order."""
        for event in events:
            match event:
                case Show(shown=shown):
                    self._screen.show(shown)
                case SetPrompt(text=text):
                    self._screen.set_prompt(text)
                case SendLine(line=line, command=command, automatic=automatic):
                    self._send(command, line, automatic=automatic)
                case HangUp():
                    self._hang_up()
                case LoggedIn():
                    self._retry_delays = None  # back in: the next outage starts again at 1 s

    def _hang_up(self) -> None:
        with self._send_lock:
            if self._link is not None:
                try:
                    self._link.shutdown()
                except OSError:
                    return  # already disconnected: the receive loop is ending anyway

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
            self._retry_delays = itertools.pairwise(retry_delays())
        for delay, next_delay in self._retry_delays:
            if self._quitting.wait(delay):
                return False
            try:
                link = open_link(self._address, self._tls)
            except (OSError, TlsRefused) as error:
                reason = str(error) if isinstance(error, TlsRefused) else describe_os_error(error)
                self._screen.say(
                    f"Ainda sem conexão com {where} ({reason}); nova tentativa em {next_delay:g} s.",
                    Style.NOTICE,
                )
                continue
            if not self._attach_and_log_in(link):
                return False
            self._screen.say(f"Conexão com {where} restabelecida.", Style.NOTICE)
            return True
        raise AssertionError("retry_delays() never ends")

    def _attach_and_log_in(self, link: Link) -> bool:
        """Use ``link`` and send the automatic ENTRAR first, in one step: a line typed
        meanwhile goes after it. ``False`` (link closed) if the person left meanwhile."""
        with self._send_lock:
            if self._quitting.is_set():
                link.close()
                return False
            self._link = link
            login = self._state.log_in_again()
            if login is not None:
                self._send_locked(login.command, login.line, automatic=True)
        return True

    # -- both threads ---------------------------------------------------------------------

    def _send(self, command: protocol.Command, line: str, *, automatic: bool = False) -> Sent | None:
        """Send one line; ``None`` when there is no connection to send it on."""
        with self._send_lock:
            return self._send_locked(command, line, automatic=automatic)

    def _send_locked(
        self, command: protocol.Command, line: str, *, automatic: bool = False
    ) -> Sent | None:
        if self._link is None:
            return None
        sent = self._state.sent(command, automatic=automatic)
        # A failed send needs no handling here: the receiving loop sees the
        # connection end and reports this command among the unconfirmed ones.
        with contextlib.suppress(OSError):
            self._link.send(protocol.encode_line(line))
        return sent

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
        self._quitting.set()  # also wakes the main thread if it waits to reconnect
        self._send(protocol.Quit(), "SAIR")

    def _handle_typed(self, line: str) -> None:
        try:
            line.encode(protocol.ENCODING)
        except UnicodeEncodeError:  # bytes that were not UTF-8 on stdin, kept as surrogates
            self._screen.say("Essa linha tem caracteres inválidos (não é UTF-8) e não foi enviada.")
            return
        if self._history is not None:  # before it is sent or refused: nothing typed is lost
            self._history.add(line)
        with self._send_lock:
            logged_in, partner = self._state.logged_in, self._state.partner
        match interpret(line, self._can_prompt, logged_in=logged_in, partner=partner):
            case None:
                return
            case Converse(partner=partner):
                with self._send_lock:
                    events = self._state.converse(partner)
                self._carry_out(events)
            case ShowHelp():
                for text in help_text():
                    self._screen.say(text)
            case Refuse(text=text):
                self._screen.say(text, Style.ERROR)
            case AskPassword(word=word, name=name):
                self._ask_password_and_send(word, name)
            case Send(line=line, command=command):
                self._send_typed(command, line)

    def _send_typed(self, command: protocol.Command, line: str) -> None:
        if isinstance(command, protocol.Quit):
            self._quitting.set()
        for attempt in range(LIMIT_RETRIES + 1):
            sent = self._send(command, line)
            if sent is None:
                if not isinstance(command, protocol.Quit):  # else the main thread sees _quitting
                    self._screen.say(
                        "Sem conexão com o servidor; a linha não foi enviada "
                        "(↑ a traz de volta depois).",
                        Style.ERROR,
                    )
                return
            if not self._lockstep or self._wait_for_answer(sent) != protocol.ErrorCode.LIMIT:
                return
            # A script faster than the server's flood limit: wait, then send it again.
            if attempt < LIMIT_RETRIES and self._quitting.wait(LIMIT_RETRY_DELAY):
                return

    def _wait_for_answer(self, sent: Sent) -> str | None:
        """Wait until ``sent`` is answered or the connection is gone; its outcome."""
        with self._answered:
            self._answered.wait_for(
                lambda: sent.outcome is not None or not self._state.is_pending(sent)
            )
        return sent.outcome

    def _ask_password_and_send(self, word: str, name: str) -> None:
        password = self._ask_password(word, name)
        if password is None:
            return
        line = f"{word} {name} {password}"
        command = protocol.parse_command(line)
        assert command is not None
        self._send_typed(command, line)

    def _ask_password(self, word: str, name: str) -> str | None:
        """The password, typed twice for a new account; ``None`` (and why) if there is none."""
        self._screen.flush()
        first_prompt = f"Escolha uma senha para {name}: " if word == "NOVO" else f"Senha de {name}: "
        try:
            password = getpass.getpass(first_prompt)
            if word == "NOVO" and getpass.getpass("Repita a senha: ") != password:
                self._screen.say("As senhas não conferem; a conta não foi criada.", Style.ERROR)
                return None
        except EOFError:
            self._screen.say("Cancelado.", Style.NOTICE)
            return None
        try:
            return protocol.validate_password(password)
        except protocol.ProtocolError as error:
            self._screen.say(f"Erro: {error.text}", Style.ERROR)
            return None

    def online_names(self) -> frozenset[str]:
        """Who else is online, as far as this client knows (for Tab)."""
        return self._state.online


# --- Start-up -----------------------------------------------------------------------------


def parse_arguments(argv: list[str] | None = None) -> argparse.Namespace:
    parser = protocol.PortugueseArgumentParser("Cliente de terminal do BatChat.")
    parser.option("--host", default="127.0.0.1", help="endereço do servidor")
    parser.option("--port", type=protocol.port_number, default=5050, help="porta do servidor")
    parser.option(
        "--no-reconnect", dest="reconnect", action="store_false",
        help="não tentar reconectar quando a conexão cair",
    )
    parser.option("--tls", action="store_true", help="conectar com TLS, verificando o certificado do servidor")
    parser.option(
        "--cafile", metavar="ARQUIVO",
        help="certificados (PEM) em que confiar, em vez dos do sistema; implica --tls",
    )
    parser.option(
        "--tls-insecure", action="store_true",
        help="TLS SEM verificar o certificado: qualquer um no caminho pode se passar pelo servidor",
    )
    args = parser.parse_args(argv)
    if args.tls_insecure and args.cafile:
        parser.error("--tls-insecure não verifica nada: não combina com --cafile")
    return args


NO_READLINE_NOTE = (
    "Este Python não tem readline (é assim no Windows): mensagens que chegam enquanto você "
    "digita aparecem no meio da linha, mas o que você digitou não se perde."
)


def stop_on_sigterm() -> None:
    """``kill`` leaves like Ctrl-C: SAIR sent, terminal restored, exit status 0."""

    def interrupt(_signal: int, _frame: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, interrupt)


def main(argv: list[str] | None = None) -> int:
    args = parse_arguments(argv)
    stop_on_sigterm()
    interactive = sys.stdin.isatty() and sys.stdout.isatty()
    try:
        tls = tls_context(args)
    except OSError as error:  # ssl.SSLError too: a --cafile that holds no certificate
        print(f"Não foi possível ler --cafile {args.cafile}: {error.strerror or error}", file=sys.stderr)
        return 1
    if args.tls_insecure:
        print(INSECURE_WARNING, file=sys.stderr)
    try:
        link = open_link((args.host, args.port), tls)
    except KeyboardInterrupt:  # Ctrl-C while still connecting
        return 0
    except TlsRefused as error:
        print(f"Conectado a {protocol.format_address(args.host, args.port)}, mas {error}", file=sys.stderr)
        return 1
    except OSError as error:
        print(connect_problem(args.host, args.port, error), file=sys.stderr)
        return 1
    # Bytes that are not UTF-8 arrive as surrogates, whatever the locale, and
    # are reported as such, instead of the keyboard thread dying.
    sys.stdin.reconfigure(errors="surrogateescape")  # type: ignore[union-attr]
    screen, readline_module = make_screen(interactive)
    try:
        history = None
        if readline_module is not None:
            history = InputHistory(history_path(os.environ), readline_module, screen.say)
            history.load()
        client = ChatClient(
            (args.host, args.port), screen, interactive=interactive, can_prompt=sys.stdin.isatty(),
            reconnect=args.reconnect, history=history, tls=tls,
        )
        if readline_module is not None:
            set_up_readline(readline_module, client.online_names)
        protection = link.description + (" SEM VERIFICAÇÃO" if args.tls_insecure else "")
        where = protocol.format_address(args.host, args.port)
        banner = f"BatChat: conectado a {where}{protection}. AJUDA ou ? mostra os comandos."
        screen.say(banner, Style.NOTICE)
        if interactive and readline_module is None:
            screen.say(NO_READLINE_NOTE, Style.NOTICE)
        return client.run(link)
    finally:
        screen.finish()


def exit_now(status: int) -> NoReturn:
    """Flush output and end the process, even with the keyboard thread blocked in input().

    A daemon thread blocked reading stdin holds stdin's buffer lock, and a
    normal interpreter shutdown then aborts with "could not acquire lock for
    <stdin> at interpreter shutdown" (CPython issue 23309). Nothing else is
    left to clean up once the session is over, so skip that shutdown.
    """
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except OSError:
            continue  # a closed pipe: nothing more can be said there
    os._exit(status)


def run_and_exit() -> NoReturn:
    """:func:`main`, and whatever happens, a clean exit: never an abort at shutdown."""
    status = 1
    try:
        status = main()
    except KeyboardInterrupt:  # a Ctrl-C that came before the session or after it
        status = 0
    except SystemExit as exit:  # argparse: --help (0) or a wrong option (2), already explained
        status = exit.code if isinstance(exit.code, int) else 1
    except BaseException:  # a bug: show it, then still leave through exit_now
        traceback.print_exc()
    finally:
        exit_now(status)
