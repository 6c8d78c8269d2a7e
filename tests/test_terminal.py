"""``cliente.py`` as a person uses it: in a pseudo-terminal, against the real server.

Each test reads the emulated screen (:mod:`tests.terminal`), so what it asserts
is what a person would see: rows of text and where the cursor is. And the
server in a terminal of its own, which a person closes.
"""

from __future__ import annotations

import os
import re
import select
import signal
import socket
import stat
import subprocess
import time
import unittest
from pathlib import Path
from typing import TextIO

try:
    import termios
except ImportError:  # Windows: no pseudo-terminals; the piped tests cover the client there
    raise unittest.SkipTest("pseudo-terminals (pty, termios) are Unix only") from None

from tests.support import (
    FAST_RETRY, PYTHON, READY_RE, SERVER, TEST_HASH_COST, TIMEOUT, LineClient, ServerTestCase, last_seen, temporary_folder,
)
from tests.terminal import CTRL_C, ENTER, LEFT, SGR_RE, TAKE_TERMINAL, TAB, UP, TerminalClient, VirtualScreen

STAMP = r"\[\d\d:\d\d\] "  # the time in front of every line from the server
CTRL_U = "\x15"  # readline: erase the line typed so far


class TerminalTestCase(ServerTestCase):
    def start_terminal(
        self, *args: str, home: Path | None = None, environ: dict[str, str | None] | None = None,
        port: int | None = None, launcher: tuple[str, ...] = (),
    ) -> TerminalClient:
        if home is None:
            home = temporary_folder(self)
        client = TerminalClient(port or self.server.port, home, *args, environ=environ, launcher=launcher)
        self.addCleanup(client.close)
        client.wait_screen(rf"^{STAMP}Conectado a 127\.0\.0\.1:\d+\. Bem-vindo ao BatChat!")
        client.wait_prompt("> ")
        return client

    def log_in(self, client: TerminalClient, name: str = "alice") -> None:
        """Log ``client`` in as ``name`` (registered here), the password typed on the line."""
        self.register(name)
        client.type(f"ENTRAR {name} senha123{ENTER}")
        client.wait_screen(rf"^{STAMP}Você entrou no chat como {name}\.$")
        client.wait_prompt(f"{name}> ")

    def typing_beside_bob(self, text: str) -> tuple[LineClient, TerminalClient]:
        """bob logged in on a socket, and alice on a terminal, logged in, with ``text`` typed
        and not sent yet."""
        bob = self.logged_in("bob")
        alice = self.start_terminal()
        self.log_in(alice)
        self.assertEqual(bob.read_line(), "ENTROU alice")
        alice.type(text)
        alice.wait_prompt(f"alice> {text}")
        return bob, alice


class InputLineTest(TerminalTestCase):
    def test_half_typed_line_survives_incoming_messages(self) -> None:
        bob = self.logged_in("bob")
        alice = self.start_terminal()
        self.log_in(alice)
        alice.wait_screen(rf"^{STAMP}Online agora: bob e você\.$")
        self.assertEqual(bob.read_line(), "ENTROU alice")
        alice.type("TODOS olá, co")
        alice.wait_prompt("alice> TODOS olá, co")

        for number in range(12):
            self.assertEqual(bob.request(f"TODOS mensagem {number}"), "OK TODOS")
        alice.wait_screen(rf"^{STAMP}bob: mensagem 11$")
        alice.wait_prompt("alice> TODOS olá, co")  # redrawn below, cursor at the end

        lines = alice.screen.lines()
        prompt_row = alice.screen.row
        shown = [line for line in lines[:prompt_row] if re.match(rf"{STAMP}bob: mensagem", line)]
        self.assertEqual(len(shown), 12, "every message is shown, in order, above the input")
        self.assertTrue(all(line.endswith(f"mensagem {n}") for n, line in enumerate(shown)))
        self.assertRegex(lines[prompt_row - 1], rf"^{STAMP}bob: mensagem 11$")

        alice.type(f"mo vai?{ENTER}")
        self.assertEqual(bob.read_line(), "TODOS alice olá, como vai?", "the line is sent intact")
        alice.wait_screen(rf"^{STAMP}eu: olá, como vai\?$")  # echoed once the server said OK
        alice.wait_prompt("alice> ")
        self.assertNotIn(
            "alice> TODOS olá, como vai?", alice.screen.lines(), "the typed line gives way to its echo"
        )

    def test_cursor_stays_where_it_was_mid_line(self) -> None:
        bob = self.logged_in("bob")
        alice = self.start_terminal()
        self.log_in(alice)
        self.assertEqual(bob.read_line(), "ENTROU alice")
        alice.type("CHAT bob abcdef" + LEFT * 3)
        alice.wait_prompt("alice> CHAT bob abcdef", column=len("alice> CHAT bob abc"))

        self.assertEqual(bob.request("TODOS interrompendo"), "OK TODOS")
        alice.wait_screen(rf"^{STAMP}bob: interrompendo$")
        alice.wait_prompt("alice> CHAT bob abcdef", column=len("alice> CHAT bob abc"))

        alice.type(f"X{ENTER}")
        self.assertEqual(bob.read_line(), "MSG alice abcXdef")
        alice.wait_screen(rf"^{STAMP}eu → bob: abcXdef$")

    def test_long_line_wrapping_over_rows_is_redrawn_whole(self) -> None:
        bob = self.logged_in("bob")
        alice = self.start_terminal()
        self.log_in(alice)
        self.assertEqual(bob.read_line(), "ENTROU alice")
        text = " ".join(["palavra"] * 15)  # with the prompt, 132 columns: two rows of 80
        prompt = f"alice> TODOS {text}"

        def shows_input_on_two_rows(screen: VirtualScreen) -> bool:
            rows = screen.lines()[screen.row - 1:screen.row + 1]
            return screen.column == len(prompt) - 80 and rows == [prompt[:80], prompt[80:]]

        alice.type(f"TODOS {text}")
        alice.wait_until(shows_input_on_two_rows, "the input wrapped onto two rows")
        self.assertEqual(bob.request("TODOS no meio"), "OK TODOS")
        alice.wait_screen(rf"^{STAMP}bob: no meio$")
        alice.wait_until(shows_input_on_two_rows, "the input redrawn whole, below the message")
        self.assertEqual(
            sum(line.startswith("alice> TODOS palavra") for line in alice.screen.lines()), 1,
            "no leftover copy of the input above the message",
        )
        alice.type(ENTER)
        self.assertEqual(bob.read_line(), f"TODOS alice {text}")


    def test_a_message_wraps_without_losing_its_spaces(self) -> None:
        bob = self.logged_in("bob")
        alice = self.start_terminal()
        self.log_in(alice)
        self.assertEqual(bob.read_line(), "ENTROU alice")
        text = "total:" + " " * 70 + "10 reais"
        alice.type(text + ENTER)
        self.assertEqual(bob.read_line(), f"TODOS alice {text}")
        # "[14:05] eu: total:" and 62 of the spaces fill the 80 columns; the other 8 go on
        # the next row, after the indent, before "10 reais" (it read "total:10 reais").
        alice.wait_screen(rf"^{STAMP}eu: total:\n {{10}}10 reais$")


class PasteTest(TerminalTestCase):
    server_args = ("--flood-rate", "50")  # 20 at once, then 50 a second (default: 5)

    def test_a_pasted_block_arrives_whole_and_in_order(self) -> None:
        bob = self.logged_in("bob")
        alice = self.start_terminal()
        self.log_in(alice)
        self.assertEqual(bob.read_line(), "ENTROU alice")
        count = 30  # past the burst: the last ones wait their turn
        alice.type("".join(f"TODOS linha {number}{ENTER}" for number in range(count)))
        self.assertEqual(
            [bob.read_line() for _ in range(count)],
            [f"TODOS alice linha {number}" for number in range(count)],
        )
        alice.wait_screen(rf"^{STAMP}eu: linha {count - 1}$")
        alice.wait_prompt("alice> ")
        raw = bytes(alice.raw)
        self.assertNotIn(b"Devagar", raw, "the server refused none")
        self.assertIn("linhas na fila] alice> ".encode(), raw, "the queue was shown while it waited")


class PasswordTest(TerminalTestCase):
    def test_passwords_asked_without_echo(self) -> None:
        secret = "segredo99x"
        client = self.start_terminal()
        client.type(f"NOVO carol{ENTER}")
        client.wait_screen(r"^Escolha uma senha para carol:")
        client.type(f"{secret}{ENTER}")
        client.wait_screen(r"^Repita a senha:")
        client.type(f"{secret}{ENTER}")  # asked twice, then straight into the chat
        client.wait_screen(rf"^{STAMP}Conta carol criada; entrando…$")
        client.wait_screen(rf"^{STAMP}Você entrou no chat como carol\.$")
        client.wait_prompt("carol> ")
        self.assertNotIn(secret.encode(), bytes(client.raw), "the password never reaches the screen")

    def test_slash_novo_takes_one_name_and_asks_the_password_hidden(self) -> None:
        """Issue 19 item 8: ``/novo Eduarda Ferreira`` is refused (names have no spaces; the
        extra word, maybe a password, never repeated), and nothing is created."""
        client = self.start_terminal()
        client.type(f"/novo Eduarda Ferreira{ENTER}")
        refusal = client.wait_screen(r"^Erro: Nomes não têm espaços.*\n.*")
        client.wait_prompt("> ")
        self.assertNotIn("Ferreira", refusal.group(0))
        self.assertNotIn(b"Escolha uma senha", bytes(client.raw))
        other = self.connect()
        self.assertEqual(other.request("NOVO Eduarda outra123"), "OK NOVO Eduarda", "nothing was created")

    def test_new_account_needs_the_same_password_twice(self) -> None:
        client = self.start_terminal()
        client.type(f"NOVO dave{ENTER}")
        client.wait_screen(r"^Escolha uma senha para dave:")
        client.type(f"primeira1{ENTER}")
        client.wait_screen(r"^Repita a senha:")
        client.type(f"segunda22{ENTER}")
        client.wait_screen(r"^As senhas não conferem; a conta não foi criada\.$")
        client.wait_prompt("> ")
        other = self.connect()
        self.assertEqual(other.request("NOVO dave outra123"), "OK NOVO dave", "nothing was sent")

    def test_ctrl_c_at_the_password_prompt_cancels_the_prompt_not_the_client(self) -> None:
        client = self.start_terminal()
        client.type(f"ENTRAR alice{ENTER}")
        client.wait_screen(r"^Senha de alice:")
        self.assertFalse(client.terminal_modes()[3] & termios.ECHO, "typing is hidden")
        client.type("meia-senha" + CTRL_C)
        client.wait_screen(r"^Cancelado\.$")
        client.wait_prompt("> ")
        self.log_in(client)  # the client goes on
        client.type(CTRL_C)  # at the input line, Ctrl-C twice leaves: the first says so
        client.wait_screen(r"^Ctrl-C apaga a linha")
        client.type(CTRL_C)
        self.assertEqual(client.wait_exit(), 0)
        self.assertEqual(client.terminal_modes(), client.initial_modes, "echo and line mode are back")


class LeavingTest(TerminalTestCase):
    def test_ctrl_c_twice_while_typing_says_goodbye_and_gives_the_terminal_back(self) -> None:
        bob, alice = self.typing_beside_bob("TODOS pela met")
        self.assertNotEqual(alice.terminal_modes(), alice.initial_modes, "readline's own modes")
        alice.type(CTRL_C)  # clears the line
        alice.wait_prompt("alice> ")
        alice.type(CTRL_C)  # and on the empty line, leaves
        self.assertEqual(alice.wait_exit(), 0)
        self.assertEqual(bob.read_line(), "SAIU alice", "SAIR went out")
        self.assertEqual(alice.terminal_modes(), alice.initial_modes)
        self.assertNotIn(b"Traceback", bytes(alice.raw))


class HistoryTest(TerminalTestCase):
    def test_history_is_kept_across_runs_without_passwords(self) -> None:
        home = temporary_folder(self)
        client = self.start_terminal(home=home)
        self.log_in(client)
        client.type(f"TODOS oi{ENTER}")
        client.wait_screen(rf"^{STAMP}eu: oi$")
        client.type(UP)
        client.wait_prompt("alice> TODOS oi")
        client.type(UP)
        client.wait_prompt("alice> ENTRAR alice")  # recalled without its password
        client.type(CTRL_U + "SAIR" + ENTER)
        self.assertEqual(client.wait_exit(), 0)

        path = home / ".local" / "state" / "batchat" / "historico"
        content = path.read_text(encoding="utf-8")
        self.assertEqual(content.splitlines(), ["ENTRAR alice", "TODOS oi", "SAIR"])
        self.assertNotIn("senha123", content)
        self.assertEqual(stat.S_IMODE(path.stat().st_mode), 0o600, "only its owner reads it")

        again = self.start_terminal(home=home)
        again.type(UP)
        again.wait_prompt("> SAIR")
        again.type(UP)
        again.wait_prompt("> TODOS oi")

    def test_state_folder_follows_xdg_state_home(self) -> None:
        state = temporary_folder(self)
        client = self.start_terminal(environ={"XDG_STATE_HOME": str(state)})
        client.type(f"LISTA{ENTER}")
        client.wait_screen(rf"^{STAMP}Erro: Entre primeiro")
        self.assertEqual((state / "batchat" / "historico").read_text(), "LISTA\n")


class CompletionTest(TerminalTestCase):
    def test_tab_completes_commands_and_online_names(self) -> None:
        bob = self.logged_in("bob")
        self.logged_in("bruna")
        alice = self.start_terminal()
        self.log_in(alice)
        alice.wait_screen(rf"^{STAMP}Online agora: bob, bruna e você\.$")
        alice.type("ch" + TAB)
        alice.wait_prompt("alice> /chat ")
        alice.type("bo" + TAB)
        alice.wait_prompt("alice> /chat bob ")
        alice.type(f"oi{ENTER}")
        self.assertEqual(bob.read_until("MSG ")[0], "MSG alice oi")

        self.logged_in("carol")  # arrives after alice: known from ENTROU
        alice.wait_screen(rf"^{STAMP}-- carol entrou no chat\.$")
        alice.type("TODOS oi CA" + TAB)
        alice.wait_prompt("alice> TODOS oi carol ")

    def test_tab_completes_slash_commands_and_todos_after_lista(self) -> None:
        self.logged_in("bob")
        alice = self.start_terminal()
        self.log_in(alice)
        alice.wait_screen(rf"^{STAMP}Online agora: bob e você\.$")
        alice.type("/li" + TAB)
        alice.wait_prompt("alice> /lista ")
        alice.type(TAB)
        alice.wait_prompt("alice> /lista TODOS ")
        alice.type(CTRL_U + "LISTA " + TAB)
        alice.wait_prompt("alice> LISTA TODOS ")


class ConversationTest(TerminalTestCase):
    def test_plain_text_and_a_conversation_shown_in_the_prompt(self) -> None:
        bob = self.logged_in("bob")
        alice = self.start_terminal()
        self.log_in(alice)
        self.assertEqual(bob.read_line(), "ENTROU alice")
        alice.type(f"tudo ótimo e vc?{ENTER}")
        self.assertEqual(bob.read_line(), "TODOS alice tudo ótimo e vc?")
        alice.type("/conversa bo" + TAB)
        alice.wait_prompt("alice> /conversa bob ")
        alice.type(ENTER)
        alice.wait_prompt("alice → bob> ")
        alice.type(f"só pra você{ENTER}")
        self.assertEqual(bob.read_line(), "MSG alice só pra você")
        alice.wait_screen(rf"^{STAMP}eu → bob: só pra você$")
        alice.type(f"/conversa{ENTER}")
        alice.wait_prompt("alice> ")
        alice.type(f"de volta{ENTER}")
        self.assertEqual(bob.read_line(), "TODOS alice de volta")


class RoomsTest(TerminalTestCase):
    server_args = ("--salas-livres",)  # bob creates the rooms

    def test_the_prompt_shows_the_room_and_lines_from_another_room_are_labelled(self) -> None:
        bob = self.logged_in("bob")
        for room in ("#g1", "#g2"):
            self.assertEqual(bob.request(f"SALA CRIAR {room}"), f"OK SALA CRIAR {room}")
        alice = self.start_terminal()
        self.log_in(alice)
        self.assertEqual(bob.read_line(), "ENTROU alice")
        alice.type(f"/sala #g1{ENTER}")  # not a member: SALA ENTRAR, then there
        alice.wait_prompt("alice #g1> ")
        self.assertEqual(bob.read_line(), "CHEGOU #g1 alice")
        alice.type(f"oi, time{ENTER}")
        self.assertEqual(bob.read_line(), "FALA #g1 alice oi, time")
        alice.type(f"/sala #g2{ENTER}")
        alice.wait_prompt("alice #g2> ")
        self.assertEqual(bob.read_line(), "CHEGOU #g2 alice")
        self.assertEqual(bob.request("FALA #g1 psiu, alice"), "OK FALA #g1")
        alice.wait_screen(rf"^{STAMP}\[#g1\] bob: psiu, alice$")
        alice.type(f"/salas{ENTER}")
        alice.wait_screen(rf"^{STAMP}Salas \(3\):$")
        alice.wait_screen(r"^  #g1: 2 online, 1 não lida$")
        alice.wait_screen(r"^  #g2 \(você está aqui\): 2 online$")
        alice.type(f"/sala{ENTER}")
        alice.wait_prompt("alice> ")


class NarrowTerminalTest(TerminalTestCase):
    def test_help_at_40_columns_keeps_meaning_and_example_apart(self) -> None:
        """Issue 19 item 18: on a 40-column terminal the help is one command per row, its
        meaning and example on indented rows below: nothing cut mid-word or run together."""
        client = TerminalClient(self.server.port, temporary_folder(self), rows=60, columns=40)
        self.addCleanup(client.close)
        client.wait_prompt("> ")
        client.type(f"/ajuda{ENTER}")
        client.wait_screen(r"^  ex\.: /ping$")
        for row in ("/lista [todos]", "  quem está online (ou todos)", "  ex.: /lista todos",
                    "/chat <usuário> <mensagem>", "  ex.: /chat bob oi!"):
            with self.subTest(row=row):
                self.assertIn(row, client.screen.text.splitlines())


class ColourTest(TerminalTestCase):
    def chat_with_colours(self, environ: dict[str, str] | None) -> bytes:
        bob = self.logged_in("bob")
        alice = self.start_terminal(environ=environ)
        self.log_in(alice)
        self.assertEqual(bob.read_line(), "ENTROU alice")
        self.assertEqual(bob.request("CHAT alice oi alice, tudo bem?"), "OK CHAT alice")
        alice.wait_screen(rf"^{STAMP}bob → eu: oi alice, tudo bem\?$")
        alice.type(f"CHAT ninguem oi{ENTER}")
        alice.wait_screen(rf"^{STAMP}Erro: O usuário ninguem não existe\.$")
        return bytes(alice.raw)

    def test_colours_on_a_terminal(self) -> None:
        raw = self.chat_with_colours(None)
        self.assertIn(b"\x1b[1;35mbob \xe2\x86\x92 eu:\x1b[0m", raw, "private messages stand out")
        self.assertIn(b"\x1b[1;33malice\x1b[0m, tudo bem?", raw, "my name, when mentioned")
        self.assertIn(b"\x1b[31mErro: O usu", raw, "errors in red")
        self.assertIn(b"\x1b[2mVoc\xc3\xaa entrou", raw, "notices dim")

    def test_no_color_turns_colour_off(self) -> None:
        raw = self.chat_with_colours({"NO_COLOR": "1"})
        self.assertEqual(SGR_RE.findall(raw), [], "no colour codes at all")


class NetworkTextTest(unittest.TestCase):
    """A server that misbehaves: what it sends is shown, never executed by the terminal."""

    def test_escape_sequences_from_the_network_are_shown_escaped(self) -> None:
        with socket.create_server(("127.0.0.1", 0)) as listener:
            listener.settimeout(TIMEOUT)
            port = listener.getsockname()[1]
            home = temporary_folder(self)
            client = TerminalClient(port, home, environ={"NO_COLOR": "1"})
            self.addCleanup(client.close)
            connection, _ = listener.accept()
            with connection:
                connection.sendall(
                    "BATCHAT 1 oi\nMSG mallory \x1b[2J\x1b[31mvermelho\x07 \x9b1;1H fim\n".encode()
                )
                client.wait_screen(
                    r"mallory → eu: \\x1b\[2J\\x1b\[31mvermelho\\x07 \\x9b1;1H fim$"
                )
                client.wait_screen(rf"^{STAMP}Conectado a .*\. oi$")  # the screen was not cleared
        raw = bytes(client.raw)
        self.assertNotIn(b"\x1b[2J", raw)
        self.assertNotIn(b"\x1b[31m", raw)
        self.assertNotIn(b"\x07", raw)
        self.assertNotIn("\x9b".encode(), raw)  # the C1 form of ESC [


class TeacherAndAccountTest(unittest.TestCase):
    """Issue 20 at a terminal, against a fake server: /senha's passwords never on the screen
    nor in the history, and the pinned announcement shown apart, first thing."""

    def served_and_logged_in(self, home: Path) -> tuple[TerminalClient, socket.socket, TextIO]:
        """A client at a terminal on a fake server, logged in as alice with an announcement
        pinned: the client, the server's end, and its lines."""
        listener = socket.create_server(("127.0.0.1", 0))
        self.addCleanup(listener.close)
        listener.settimeout(TIMEOUT)
        client = TerminalClient(listener.getsockname()[1], home)
        self.addCleanup(client.close)
        connection, _ = listener.accept()
        self.addCleanup(connection.close)
        connection.settimeout(TIMEOUT)
        lines = connection.makefile("r", encoding="utf-8", newline="\n")
        self.addCleanup(lines.close)
        connection.sendall(b"BATCHAT 1 oi\n")
        client.wait_prompt("> ")
        client.type(f"ENTRAR alice senha123{ENTER}")
        self.assertEqual(lines.readline(), "ENTRAR alice senha123\n")
        connection.sendall("AVISO ana prova às 10h\nOK ENTRAR alice\n".encode())
        self.assertEqual(lines.readline(), "LISTA\n")
        connection.sendall(b"OK LISTA alice\n")
        client.wait_prompt("alice> ")
        # The pinned announcement: apart, in colour, right below the login.
        client.wait_screen(rf"^{STAMP}Você entrou no chat como alice\.\n{STAMP}\*\*\* Aviso fixado pelo "
                           r"professor ana: prova às 10h$")
        self.assertIn("\x1b[1;36m*** Aviso fixado pelo professor ana:".encode(), bytes(client.raw), "in colour")
        return client, connection, lines

    def test_senha_asks_hidden_and_nothing_reaches_the_screen_or_the_history(self) -> None:
        """And, on the way in, the pinned announcement shown apart (see served_and_logged_in)."""
        home = temporary_folder(self)
        client, connection, lines = self.served_and_logged_in(home)
        client.type(f"/senha{ENTER}")
        for prompt, secret in (("Senha atual:", "velha-senha1"), ("Nova senha:", "nova-senha22"),
                               ("Repita a nova senha:", "nova-senha22")):
            client.wait_screen(rf"^{prompt}")
            self.assertFalse(client.terminal_modes()[3] & termios.ECHO, "typing is hidden")
            client.type(f"{secret}{ENTER}")
        self.assertEqual(lines.readline(), "SENHA velha-senha1 nova-senha22\n")
        connection.sendall(b"OK SENHA\n")
        client.wait_screen(rf"^{STAMP}Senha trocada: da próxima vez, entre com a nova\.$")
        client.type(f"SAIR{ENTER}")
        self.assertEqual(lines.readline(), "SAIR\n")
        connection.sendall(b"OK SAIR\n")
        connection.shutdown(socket.SHUT_RDWR)  # as the server does after SAIR
        self.assertEqual(client.wait_exit(), 0)
        for secret in (b"velha-senha1", b"nova-senha22"):
            self.assertNotIn(secret, bytes(client.raw), "never on the screen")
        history = (home / ".local" / "state" / "batchat" / "historico").read_text(encoding="utf-8")
        self.assertEqual(history.splitlines(), ["ENTRAR alice", "/senha", "SAIR"])

    def test_excluir_shows_the_confirmation_typed_and_hides_the_password(self) -> None:
        client, connection, lines = self.served_and_logged_in(temporary_folder(self))
        client.type(f"/excluir{ENTER}")
        client.wait_screen(r"^Excluir a conta alice apaga a conta e as mensagens guardadas para ela")
        client.wait_prompt("Para confirmar, digite alice ou sim: ")
        client.type("sin\x7fm")  # a typo, erased
        client.wait_prompt("Para confirmar, digite alice ou sim: sim")
        client.type(ENTER)
        client.wait_screen(r"^Senha de alice:")
        self.assertFalse(client.terminal_modes()[3] & termios.ECHO, "typing is hidden")
        client.type(f"senha-da-conta{ENTER}")
        self.assertEqual(lines.readline(), "EXCLUIR senha-da-conta\n")
        connection.sendall(b"OK EXCLUIR alice\n")
        connection.shutdown(socket.SHUT_RDWR)
        client.wait_screen(rf"^{STAMP}Conta alice excluída, com as mensagens guardadas para ela\. Até logo!$")
        self.assertEqual(client.wait_exit(), 0, "a goodbye, not a drop to reconnect from")
        self.assertNotIn(b"senha-da-conta", bytes(client.raw))


class ReconnectTest(TerminalTestCase):
    def test_reconnects_and_logs_back_in_after_a_server_restart(self) -> None:
        alice = self.start_terminal(*FAST_RETRY)  # the first retry after 0.2 s, not 1 s
        self.log_in(alice)
        port = self.server.port
        self.server.stop(signal.SIGTERM)
        alice.wait_screen(rf"^{STAMP}O servidor encerrou a conexão\.$")
        alice.wait_screen(rf"^{STAMP}Tentando reconectar")
        alice.wait_prompt("> ")

        self.server = self.start_server(port=port)
        alice.wait_screen(rf"^{STAMP}Conexão com 127\.0\.0\.1:{port} restabelecida\.$", timeout=TIMEOUT + 5)
        alice.wait_screen(rf"^{STAMP}De volta ao chat como alice\.$")
        alice.wait_prompt("alice> ")
        bob = self.logged_in("bob")
        self.assertEqual(bob.request("LISTA"), "OK LISTA alice bob")
        alice.type(f"TODOS voltei{ENTER}")
        self.assertEqual(bob.read_line(), "TODOS alice voltei")


class PrivatesTest(TerminalTestCase):
    """Issue 19 item 11: /r answers whoever wrote privately last; /privadas shows the last
    private lines, both ways, with when they were written, after a reconnection too."""

    def test_slash_r_and_privadas_across_a_reconnection(self) -> None:
        bob, carol = self.logged_in("bob"), self.logged_in("carol")
        alice = self.start_terminal(*FAST_RETRY)
        self.log_in(alice)
        alice.type(f"/r alguém?{ENTER}")
        alice.wait_screen(r"^Ninguém escreveu para você no privado ainda: /r responde a quem escreveu")
        for sender, text in ((bob, "oi alice"), (carol, "psiu")):  # (past the ENTROU lines)
            sender.send(f"CHAT alice {text}")
            self.assertEqual(sender.read_until("OK ")[0], "OK CHAT alice")
        alice.wait_screen(rf"^{STAMP}carol → eu: psiu$")
        alice.type(f"/r oi carol{ENTER}")
        self.assertEqual(carol.read_until("MSG ")[0], "MSG alice oi carol")
        alice.wait_screen(rf"^{STAMP}eu → carol: oi carol$")

        port = self.server.port
        self.server.stop(signal.SIGTERM)
        alice.wait_screen(rf"^{STAMP}Tentando reconectar")
        self.server = self.start_server(port=port)
        alice.wait_screen(rf"^{STAMP}De volta ao chat como alice\.$", timeout=TIMEOUT + 5)
        alice.wait_prompt("alice> ")
        alice.type(f"/privadas{ENTER}")
        alice.wait_screen(r"^Últimas mensagens privadas \(3\):\n"
                          r"  \[\d\d:\d\d\] bob → eu: oi alice\n"
                          r"  \[\d\d:\d\d\] carol → eu: psiu\n"
                          r"  \[\d\d:\d\d\] eu → carol: oi carol$")
        carol = self.logged_in("carol", register=False)
        alice.type(f"/r de volta{ENTER}")  # still carol: kept across the reconnection
        self.assertEqual(carol.read_until("MSG ")[0], "MSG alice de volta")


class GroupedPresenceTest(TerminalTestCase):
    """Issue 19 item 12: a class that arrives at once is one line, not a screen of "entrou"."""

    def test_six_joining_at_once_are_one_line(self) -> None:
        alice = self.start_terminal()
        self.log_in(alice)
        alice.wait_screen(rf"^{STAMP}Ninguém mais está online\.$")
        names = ["ana", "bia", "caio", "davi", "eva", "fabio"]
        students = [self.connect() for _ in names]
        for student, name in zip(students, names):
            student.send(f"NOVO {name} senha123")
        for student, name in zip(students, names):
            self.assertEqual(student.read_line(), f"OK NOVO {name}")
        for student, name in zip(students, names):  # all at once, as a class logs in
            student.send(f"ENTRAR {name} senha123")
        joined = alice.wait_screen(rf"^{STAMP}-- (\w+), (\w+), (\w+) e mais 3 entraram no chat\.$")
        self.assertLessEqual(set(joined.groups()), set(names))
        self.assertNotRegex(alice.screen.text, "-- .* entrou no chat", "no line of its own for anyone")


class TimeRuleTest(TerminalTestCase):
    """Issue 19 item 17: one rule for times. What happened shows when: the server's lines,
    and the connection's news; the client's own answers to what was typed, none."""

    def test_what_happened_has_a_time_and_answers_have_none(self) -> None:
        alice = self.start_terminal(*FAST_RETRY)  # "Conectado a" with its time: start_terminal
        self.log_in(alice)  # the server's answer, with its time
        alice.type(f"/lsta{ENTER}")
        alice.wait_screen(r"^Comando desconhecido: /lsta\. Você quis dizer /lista\?$")  # an answer: none
        alice.type(f"/conversa bob{ENTER}")
        alice.wait_screen(r"^Conversa com bob: ")
        alice.type(f"/conversa{ENTER}")
        alice.wait_screen(r"^Fim da conversa privada")
        self.server.stop(signal.SIGTERM)
        alice.wait_screen(rf"^{STAMP}O servidor encerrou a conexão\.$")  # what happened: the time
        alice.wait_screen(rf"^{STAMP}Tentando reconectar")
        alice.wait_screen(rf"^{STAMP}Ainda sem conexão com 127\.0\.0\.1:\d+ \(.*\); nova tentativa")
        # Every line but the answers starts with the time (rows that go on from the one
        # above start with spaces; a typed line, with its /; the prompt is the last row).
        rows = alice.screen.lines()[:alice.screen.row]
        self.assertEqual([row for row in rows if row and not re.match(STAMP, row) and row[0] not in " /"], [
            "Comando desconhecido: /lsta. Você quis dizer /lista?",
            "Conversa com bob: o que você digitar vai só para bob; /conversa sozinho volta a",
            "Fim da conversa privada: o que você digitar vai para todos.",
        ])


class VirtualScreenTest(unittest.TestCase):
    """The emulator the terminal tests rely on: if it is wrong, they prove nothing."""

    def test_text_wraps_and_scrolls(self) -> None:
        screen = VirtualScreen(3, 5)
        screen.feed(b"abcdefg\r\nxy\r\nz")
        self.assertEqual(screen.lines(), ["fg", "xy", "z"])
        self.assertEqual((screen.row, screen.column), (2, 1))

    def test_deferred_wrap_at_the_last_column(self) -> None:
        screen = VirtualScreen(3, 5)
        screen.feed(b"abcde")
        self.assertEqual((screen.row, screen.column), (0, 4))
        screen.feed(b"\r\n")
        self.assertEqual(screen.lines(), ["abcde", "", ""])

    def test_cursor_moves_and_erases(self) -> None:
        screen = VirtualScreen(3, 10)
        screen.feed("olá mundo\r\nsegunda".encode())
        screen.feed(b"\x1b[1A\r\x1b[J")
        self.assertEqual(screen.lines(), ["", "", ""])
        screen.feed(b"abcdef\x08\x08\x1b[K")
        self.assertEqual(screen.lines()[0], "abcd")
        screen.feed(b"\x1b[2D\x1b[1P")
        self.assertEqual(screen.lines()[0], "abd")
        screen.feed(b"\x1b[31mX\x1b[0m")
        self.assertEqual(screen.lines()[0], "abX")

    def test_sequences_split_across_reads(self) -> None:
        screen = VirtualScreen(2, 10)
        for byte in "ação\x1b[2Dx".encode():
            screen.feed(bytes([byte]))
        self.assertEqual(screen.lines()[0], "açxo")


if __name__ == "__main__":
    unittest.main()


class ServerWindowClosedTest(unittest.TestCase):
    """The server's own terminal closed: the kernel sends it SIGHUP, and from then on its
    log cannot be written (EIO). The shutdown is Ctrl-C's all the same."""

    def start_server_in_a_terminal(self, folder: Path) -> tuple[subprocess.Popen[bytes], int, int]:
        """servidor.py with a new pty as its controlling terminal: the process, the pty's
        master side, and the port from the ready line."""
        master, slave = os.openpty()
        process = subprocess.Popen(
            [*PYTHON, "-c", TAKE_TERMINAL, str(SERVER), "--host", "127.0.0.1", "--port", "0",
             "--hash-cost", TEST_HASH_COST],
            stdin=slave, stdout=slave, stderr=slave, start_new_session=True, cwd=folder,
        )
        os.close(slave)
        self.addCleanup(lambda: process.poll() is None and process.kill())
        shown = b""
        deadline = time.monotonic() + TIMEOUT
        while not (ready := READY_RE.search(shown.decode("utf-8", "replace"))):
            if not select.select([master], [], [], max(0.0, deadline - time.monotonic()))[0]:
                self.fail(f"no ready line: {shown!r}")
            shown += os.read(master, 4096)
        return process, master, int(ready.group(1))

    def test_closing_the_servers_terminal_says_goodbye_and_keeps_last_seen(self) -> None:
        folder = temporary_folder(self)
        process, master, port = self.start_server_in_a_terminal(folder)
        alice = LineClient(port)
        self.addCleanup(alice.close)
        self.assertEqual(alice.request("NOVO alice senha123"), "OK NOVO alice")
        self.assertEqual(alice.reply("ENTRAR alice senha123")[0], "OK ENTRAR alice")
        stopped_at = int(time.time())  # last-seen times go to the second
        os.close(master)  # the window closed
        lines = alice.expect_closed()
        self.assertEqual(len(lines), 1, lines)
        self.assertTrue(lines[0].startswith("INFO O servidor está sendo encerrado"), lines)
        self.assertEqual(process.wait(TIMEOUT), 0)
        seen = last_seen(folder / "users.json", "alice")
        self.assertTrue(seen is not None and seen >= stopped_at, seen)
