"""The terminal client's start-up: options, the first connection, and a clean exit.

Owns :func:`parse_arguments` (``--host``/``--port``, or ``HOST PORT`` as
plain words), the signals (:func:`stop_on_sigterm`, :func:`catch_ctrl_c`),
:func:`main` (connect, set up the screen, run a
:class:`batchat.client.threads.ChatClient`) and :func:`run_and_exit`, which
``cliente.py`` calls. Imports :mod:`batchat.client.threads` and the modules below it.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import traceback
from typing import NoReturn

import protocol
from batchat import cli
from batchat.client import terminal
from batchat.client.flow import FIRST_RETRY_DELAY
from batchat.client.threads import ChatClient
from batchat.client.link import connect_problem, open_link, tls_context, TlsRefused
from batchat.client.render import Style
from batchat.client.screen import history_path, make_screen, set_up_readline, InputHistory, PlainScreen

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 5050
INSECURE_WARNING = (
    "ATENÇÃO: --tls-insecure: o certificado do servidor NÃO é verificado. A conexão é cifrada, "
    "mas qualquer um no caminho pode se passar pelo servidor e ler tudo, senha inclusive."
)
NO_READLINE_NOTE = (
    "Este Python não tem readline (é assim no Windows): uma mensagem que chega enquanto você "
    "digita aparece embaixo do que você já digitou, e o prompt volta embaixo dela; continue "
    "digitando: o Enter envia a linha inteira."
)


def parse_arguments(argv: list[str] | None = None) -> argparse.Namespace:
    parser = cli.PortugueseArgumentParser("Cliente de terminal do BatChat.")
    words = parser.add_argument_group("endereço, também sem --host e --port")
    words.add_argument("host_word", nargs="?", metavar="HOST", help="como --host: python3 cliente.py 192.168.0.10")
    words.add_argument(
        "port_word", nargs="?", metavar="PORTA", help="como --port: python3 cliente.py 192.168.0.10 5050"
    )
    parser.option("--host", help=f"endereço do servidor (padrão: {DEFAULT_HOST})")
    parser.option("--port", type=cli.port_number, help=f"porta do servidor (padrão: {DEFAULT_PORT})")
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
    # Hidden (not in --help): the first reconnection wait, for tests that watch a
    # reconnection through a real cliente.py. A person has no use for it: 1 s, then
    # doubling, is what keeps a restarting server from being hammered.
    parser.option("--first-retry", type=float, default=FIRST_RETRY_DELAY, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.tls_insecure and args.cafile:
        parser.error("--tls-insecure não verifica nada: não combina com --cafile")
    _take_positional_address(parser, args)
    return args


def _take_positional_address(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """``HOST``, ``HOST PORT`` or ``PORT`` as plain words, as ``nc`` and ``telnet`` take them."""
    words = [word for word in (args.host_word, args.port_word) if word is not None]
    if len(words) == 1 and words[0].isdigit():
        words = [DEFAULT_HOST if args.host is None else args.host, words[0]]
    if words and args.host is not None and words[0] != args.host:
        parser.error(f"dois endereços: {words[0]} e --host {args.host}; use um só")
    if len(words) == 2:
        try:
            port = cli.port_number(words[1])
        except argparse.ArgumentTypeError as error:
            parser.error(str(error))
        if args.port is not None and port != args.port:
            parser.error(f"duas portas: {port} e --port {args.port}; use uma só")
        args.port = port
    if words:
        args.host = words[0]
    args.host = DEFAULT_HOST if args.host is None else args.host
    args.port = DEFAULT_PORT if args.port is None else args.port
    del args.host_word, args.port_word


def stop_on_sigterm() -> None:
    """``kill`` leaves like Ctrl-C: SAIR sent, terminal restored, exit status 0."""

    def interrupt(_signal: int, _frame: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, interrupt)


def catch_ctrl_c(screen: PlainScreen) -> None:
    """Ctrl-C clears the line being typed, where the screen can (GNU readline: the
    keyboard thread does it from readline's hook, see :meth:`PlainScreen.interrupt`);
    elsewhere it leaves at once, as Python's own KeyboardInterrupt."""

    def interrupt(_signal: int, _frame: object) -> None:
        if not screen.interrupt():
            raise KeyboardInterrupt

    signal.signal(signal.SIGINT, interrupt)


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
    terminal.use_utf8_text()  # accents under LC_ALL=C; bytes that are not UTF-8 reported, not fatal
    screen, readline_module = make_screen(interactive)
    catch_ctrl_c(screen)
    try:
        history = None
        if readline_module is not None:
            history = InputHistory(history_path(os.environ), readline_module, screen.say)
            history.load()
        client = ChatClient(
            (args.host, args.port), screen, interactive=interactive, can_prompt=sys.stdin.isatty(),
            reconnect=args.reconnect, history=history, tls=tls, unverified=args.tls_insecure,
            first_retry=args.first_retry,
        )
        if readline_module is not None:
            set_up_readline(readline_module, client.online_names)
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
