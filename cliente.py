"""BatChat terminal client.

Run ``python3 cliente.py [--host 127.0.0.1] [--port 5050]`` and type the
protocol's commands (``AJUDA`` lists them). Two threads: the main thread
receives server lines and prints them as Portuguese sentences; a second
thread reads what the person types and sends it exactly as typed.

Exit status: 0 after ``SAIR``, Ctrl-D or Ctrl-C; 1 when the server cannot be
reached or closes the connection on its own.
"""

from __future__ import annotations

import argparse
import os
import socket
import sys
import threading
from typing import NoReturn

import protocol

RECV_SIZE = 65536
CONNECT_TIMEOUT = 10.0


def make_visible(text: str) -> str:
    """Show control characters from the network as escapes, never interpret them.

    Another user's ESC sequence must not move our cursor or recolour our
    terminal; ``\\x1b[2J`` is printed as those characters.
    """
    return "".join(
        char.encode("unicode_escape").decode("ascii") if protocol.is_forbidden_char(char) else char
        for char in text
    )


def _join_names(names: list[str]) -> str:
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " e " + names[-1]


def render_ok(command: str, detail: str, own_name: str | None) -> str | None:
    """The sentence for ``OK <command> <detail>``; ``None`` if nothing needs saying."""
    match command:
        case "NOVO":
            return f"Conta {detail} criada. Agora entre com: ENTRAR {detail} <senha>"
        case "ENTRAR":
            return f"Você entrou no chat como {detail}."
        case "LISTA":
            others = [name for name in detail.split() if name != own_name]
            if not others:
                return "Ninguém mais está online."
            return f"Online agora: {_join_names([*others, 'você'])}."
        case "CHAT":
            return f"Mensagem privada enviada para {detail}."
        case "TODOS":
            return "Mensagem enviada para todos."
        case "SAIR":
            return "Você saiu do chat. Até logo!"
        case "AJUDA":
            return None  # the INFO lines before it were the answer
        case "PING":
            return "O servidor está respondendo."
    return f"OK {command} {detail}".rstrip()


def parse_visible(line: str) -> protocol.ServerLine:
    """Split a server line, with its control characters already made visible."""
    return protocol.parse_server_line(make_visible(line))


def render(line: str, own_name: str | None) -> str | None:
    """Turn one server line into what the person reads; ``None`` to print nothing."""
    return render_parsed(parse_visible(line), own_name)


def render_parsed(parsed: protocol.ServerLine, own_name: str | None) -> str | None:
    """:func:`render` for a line :func:`parse_visible` already split."""
    match parsed.kind, parsed.fields:
        case "OK", (command, detail):
            return render_ok(command, detail, own_name)
        case "ERRO", (_code, text):
            return f"Erro: {text}"
        case "MSG", (sender, text):
            return f"[privado] {sender}: {text}"
        case "TODOS", (sender, text):
            return f"[todos] {sender}: {text}"
        case "ENTROU", (name,):
            return f"O cliente {name} entrou no chat."
        case "SAIU", (name,):
            return f"{name} saiu do chat."
        case _, fields:
            return " ".join(fields)


def is_quit_command(line: str) -> bool:
    """Whether the server will read ``line`` as ``SAIR`` (and so close the connection)."""
    try:
        return isinstance(protocol.parse_command(line), protocol.Quit)
    except protocol.ProtocolError:
        return False


class ChatClient:
    """One connection to the server, with a keyboard thread and a receiving loop."""

    def __init__(self, sock: socket.socket) -> None:
        self._sock = sock
        self._own_name: str | None = None
        self._quitting = threading.Event()  # we asked to leave: a close is expected

    def run(self) -> int:
        """Run until the connection ends; return the exit status."""
        keyboard = threading.Thread(target=self._read_keyboard, name="teclado", daemon=True)
        keyboard.start()
        try:
            self._receive_until_closed()
        except KeyboardInterrupt:
            self._quitting.set()
            self._send("SAIR")
            print()
            return 0
        except OSError as error:
            if not self._quitting.is_set():
                print(f"A conexão com o servidor caiu: {error.strerror or error}")
                return 1
        finally:
            self._sock.close()
        if self._quitting.is_set():
            return 0
        print("O servidor encerrou a conexão.")
        return 1

    def _receive_until_closed(self) -> None:
        framer = protocol.LineFramer()
        while data := self._sock.recv(RECV_SIZE):
            for raw in framer.feed(data):
                self._show(raw.decode(protocol.ENCODING, errors="replace"))

    def _show(self, line: str) -> None:
        parsed = parse_visible(line)
        if parsed.kind == "OK" and parsed.fields[0] == "ENTRAR":
            self._own_name = parsed.fields[1]
        text = render_parsed(parsed, self._own_name)
        if text is not None:
            print(text, flush=True)

    def _read_keyboard(self) -> None:
        """Send each typed line; at the end of input (Ctrl-D, end of a pipe) leave politely."""
        try:
            while True:
                line = input()
                if not line.strip(" "):
                    continue
                if is_quit_command(line):
                    self._quitting.set()
                if not self._send(line):
                    return
        except EOFError:
            pass
        except Exception as error:  # never leave the person with a silent, stuck client
            print(f"Erro ao ler o teclado: {error}", file=sys.stderr)
        self._quitting.set()
        self._send("SAIR")

    def _send(self, line: str) -> bool:
        """Send one line as typed; ``False`` if the connection is gone."""
        try:
            data = protocol.encode_line(line)
        except UnicodeEncodeError:  # bytes that were not UTF-8 on stdin
            print("Essa linha tem caracteres inválidos (não é UTF-8) e não foi enviada.", flush=True)
            return True
        try:
            self._sock.sendall(data)
            return True
        except OSError:
            return False  # the receiving loop reports the closed connection


def parse_arguments(argv: list[str] | None = None) -> argparse.Namespace:
    parser = protocol.PortugueseArgumentParser("Cliente de terminal do BatChat.")
    parser.option("--host", default="127.0.0.1", help="endereço do servidor")
    parser.option("--port", type=protocol.port_number, default=5050, help="porta do servidor")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_arguments(argv)
    try:
        sock = socket.create_connection((args.host, args.port), timeout=CONNECT_TIMEOUT)
    except KeyboardInterrupt:  # Ctrl-C while still connecting
        return 0
    except OSError as error:
        print(
            f"Não foi possível conectar a {args.host}:{args.port} "
            f"({error.strerror or error}).\n"
            "Verifique se o servidor está rodando (python3 servidor.py) "
            "e se o endereço e a porta estão certos (--host, --port).",
            file=sys.stderr,
        )
        return 1
    sock.settimeout(None)  # pushes may come at any time: wait for them
    # Bytes that are not UTF-8 arrive as surrogates, whatever the locale, and
    # _send() explains they were not sent, instead of the keyboard thread dying.
    sys.stdin.reconfigure(errors="surrogateescape")  # type: ignore[union-attr]
    return ChatClient(sock).run()


def exit_now(status: int) -> NoReturn:
    """Flush output and end the process, even with the keyboard thread blocked in input().

    A daemon thread blocked reading stdin holds stdin's buffer lock, and a
    normal interpreter shutdown then aborts with "could not acquire lock for
    <stdin> at interpreter shutdown" (CPython issue 23309). Nothing else is
    left to clean up once the session is over, so skip that shutdown.
    """
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(status)


if __name__ == "__main__":
    exit_now(main())
