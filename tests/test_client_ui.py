"""The client's I/O parts without a terminal: the input history file, small helpers,
and :class:`batchat.client.threads.ChatClient` against a fake server over a socketpair.

Rendering, typed lines and the protocol state have their own pure tests
(``test_render``, ``test_typed``, ``test_client_state``).
"""

from __future__ import annotations

import contextlib
import errno
import io
import itertools
import os
import queue
import re
import signal
import shutil
import socket
import sys
import tempfile
import threading
import time
import unittest
from collections.abc import Iterator
from pathlib import Path
from unittest import mock

import protocol
from batchat import formatting
from batchat.client import threads as cliente
from batchat.client import main as client_main, flow, link, screen
from batchat.server import options as server_options
from batchat.client import terminal
from batchat.server.limits import TokenBucket
from batchat.client.events import Sent
from batchat.client.render import Shown, Style
from tests import test_typed
from tests.clocks import CLOCK, stamp
from tests.support import TIMEOUT, ServerTestCase, own_process, received_until_closed

GREETING = protocol.format_greeting("Bem-vindo")
SSH_BANNER = b"SSH-2.0-OpenSSH_9.2\r\n"


class FakeReadline:
    def __init__(self) -> None:
        self.history: list[str] = []

    def add_history(self, line: str) -> None:
        self.history.append(line)


class InputHistoryTest(unittest.TestCase):
    def setUp(self) -> None:
        temporary = tempfile.TemporaryDirectory()  # not enterContext: that is Python 3.11+
        self.addCleanup(temporary.cleanup)
        folder = Path(temporary.name)
        self.path = folder / "estado" / "batchat" / "historico"
        self.warnings: list[str] = []

    def history(self) -> tuple[screen.InputHistory, FakeReadline]:
        readline = FakeReadline()
        history = screen.InputHistory(self.path, readline, self.warnings.append)
        history.load()
        return history, readline

    def test_lines_are_kept_without_passwords_or_repeats(self) -> None:
        history, readline = self.history()
        for line in ["ENTRAR alice senha123", "LISTA", "LISTA", "  ", "TODOS oi"]:
            history.add(line)
        self.assertEqual(readline.history, ["ENTRAR alice", "LISTA", "TODOS oi"])
        self.assertEqual(self.path.read_text(), "ENTRAR alice\nLISTA\nTODOS oi\n")
        self.assertEqual(self.path.stat().st_mode & 0o777, 0o600)
        self.assertEqual(self.path.parent.stat().st_mode & 0o777, 0o700)

    def test_loading_trims_and_heals_the_file(self) -> None:
        self.path.parent.mkdir(parents=True)
        old = [f"CHAT bob {n}" for n in range(screen.HISTORY_LENGTH + 5)] + ["NOVO x senha123"]
        old.append("ＥＮＴＲＡＲ bob senha123")  # kept whole by an older client
        self.path.write_text("\n".join(old) + "\n", encoding="utf-8")
        _, readline = self.history()
        self.assertEqual(len(readline.history), screen.HISTORY_LENGTH)
        self.assertEqual(readline.history[-1], "NOVO x")
        self.assertEqual(self.path.read_text(encoding="utf-8").splitlines(), readline.history)
        self.assertEqual(self.warnings, [])

    def test_an_unwritable_file_is_reported_once(self) -> None:
        self.path.parent.parent.mkdir(parents=True)
        self.path.parent.write_text("not a folder")
        history, readline = self.history()
        history.add("LISTA")
        history.add("TODOS oi")
        self.assertEqual(readline.history, ["LISTA", "TODOS oi"], "history still works in memory")
        self.assertEqual(len(self.warnings), 1, self.warnings)
        self.assertRegex(self.warnings[0], r"^Não foi possível (ler|gravar) o histórico .*historico")

    def test_lines_that_are_not_utf8_are_not_kept_and_unreadable_files_are_set_aside(self) -> None:
        history, readline = self.history()
        history.add("TODOS ol\udce1")  # a byte typed that was not UTF-8 (a Ctrl-C'd line)
        self.assertEqual(readline.history, [])
        self.assertFalse(self.path.exists())
        self.path.parent.mkdir(parents=True)
        self.path.write_bytes(b"TODOS ol\xe1\n")
        history, readline = self.history()
        self.path.write_bytes(b"\xff\n")
        history, readline = self.history()
        self.assertEqual(
            [path.name for path in sorted(self.path.parent.iterdir())],
            ["historico.estragado-1", "historico.estragado-2"], "set aside, never overwritten",
        )
        self.assertEqual(len(self.warnings), 2, self.warnings)

    def test_history_path(self) -> None:
        self.assertEqual(
            screen.history_path({"XDG_STATE_HOME": "/estado", "HOME": "/casa"}),
            Path("/estado/batchat/historico"),
        )
        self.assertEqual(
            screen.history_path({"XDG_STATE_HOME": "", "HOME": "/casa"}),
            Path("/casa/.local/state/batchat/historico"),
        )


class SmallFunctionsTest(unittest.TestCase):
    def test_retry_delays_double_up_to_thirty_seconds(self) -> None:
        delays = cliente.retry_delays()
        self.assertEqual([next(delays) for _ in range(8)], [1, 2, 4, 8, 16, 30, 30, 30])

    def test_display_width(self) -> None:
        for text, width in [("abc", 3), ("ação", 4), ("a\u0303", 1), ("日本", 4), ("", 0)]:
            with self.subTest(text=text):
                self.assertEqual(screen.display_width(text), width)

    def test_wrap_at_spaces(self) -> None:
        greeting = "[03:04] Conectado a 127.0.0.1:5353. Bem-vindo ao BatChat! Digite AJUDA para ver os comandos."
        total = "[14:05] eu: total:" + " " * 70 + "10 reais"
        # (text, columns, the rows a person reads)
        cases = [
            ("curto", 78, ["curto"]),
            (greeting, 78, [greeting[:greeting.index(" ver ") + 1], "  ver os comandos."]),
            ("x" * 170, 78, ["x" * 78, "  " + "x" * 76, "  " + "x" * 16]),
            # The spaces of a break stay at the end of the row as far as they fit, the
            # rest begin the next one: none is lost ("total:10 reais"), none is added.
            (total, 80, [total[:80], "  " + total[80:]]),
            ("total:" + " " * 70 + "10 reais", 80, ["total:" + " " * 70 + "10 ", "  reais"]),
            ("ab " * 10, 8, ["ab ab ab", "   ab ab", "   ab ab", "   ab ab", "   ab "]),
            ("a" + " " * 20 + "b", 8, ["a" + " " * 7, "  " + " " * 6, "  " + " " * 6, "  " + " b"]),
            ("日本語" * 4, 10, ["日本語日本", "  語日本語", "  日本語"]),
            ("ação " * 4, 10, ["ação ação ", "  ação ", "  ação "]),
            ("abc\u3000日本", 7, ["abc\u3000", "  日本"]),  # a wide space that fits
            ("abcde\u3000日", 6, ["abcde", "  \u3000日"]),  # ... and one that does not
        ]
        for text, columns, rows in cases:
            with self.subTest(text=text[:20], columns=columns):
                wrapped = [row.plain() for row in screen.wrap(Shown.of(text), columns)]
                self.assertEqual(wrapped, rows)
                self.assertTrue(all(screen.display_width(row) <= columns for row in wrapped))

    def test_a_path_in_an_error_is_never_cut_mid_name(self) -> None:
        """Issue 19 item 18: the history file's error, at 30, 40 and 80 columns: the path
        goes to a row of its own, and one longer than a row is cut after a "/" only."""
        folder = tempfile.TemporaryDirectory()
        self.addCleanup(folder.cleanup)
        (Path(folder.name) / "arquivo").write_text("")  # a file where a folder should be
        path = Path(folder.name) / "arquivo" / "estado" / "batchat" / "historico"
        warnings: list[str] = []
        screen.InputHistory(path, FakeReadline(), warnings.append).add("oi")
        (sentence,) = warnings
        self.assertIn(str(path), sentence)
        for columns in (30, 40, 80):
            with self.subTest(columns=columns):
                rows = [row.plain() for row in screen.wrap(Shown.of(sentence), columns)]
                self.assert_wraps_losslessly(Shown.of(sentence), columns)
                words = {word for row in rows for word in re.split(r"[/:\s]", row)}
                for name in path.parts[1:]:
                    if len(name) < columns - len(screen.WRAP_INDENT):  # a longer one must be cut
                        self.assertIn(name, words, rows)

    def assert_wraps_losslessly(self, shown: Shown, columns: int) -> None:
        """The rows, less the indent of each row after the first, are ``shown`` again,
        character by character and each in its style; none is wider than ``columns``."""
        rows = screen.wrap(shown, columns)
        where = f"{shown.parts} in {columns} columns: {[row.plain() for row in rows]}"
        styled: list[tuple[Style, str]] = []
        for number, row in enumerate(rows):
            chars = [(style, char) for style, text in row.parts for char in text]
            if number:
                indent = [(Style.PLAIN, char) for char in screen.WRAP_INDENT]
                self.assertEqual(chars[:len(indent)], indent, where)
                chars = chars[len(indent):]
            self.assertTrue(chars, f"a row that is only an indent: {where}")
            styled += chars
            self.assertLessEqual(screen.display_width(row.plain()), columns, where)
        self.assertEqual(styled, [(style, char) for style, text in shown.parts for char in text], where)

    def test_wrap_never_loses_or_adds_a_character(self) -> None:
        pieces = ["a", "palavra", " ", "   ", "ã", "日本", "\u3000", "x" * 11]
        for length in range(1, 4):
            for combination in itertools.product(pieces, repeat=length):
                text = "".join(combination)
                middle = len(text) // 2  # and in two styles, cut anywhere
                two_styles = Shown(((Style.SENDER, text[:middle]), (Style.MENTION, text[middle:])))
                for columns in (4, 5, 6, 8, 13):
                    self.assert_wraps_losslessly(Shown.of(text), columns)
                    self.assert_wraps_losslessly(two_styles, columns)

    def test_a_console_without_readline_wraps_losslessly(self) -> None:
        text = "[14:05] eu: total:" + " " * 70 + "10 reais"
        output = io.StringIO()
        with mock.patch.object(shutil, "get_terminal_size", return_value=os.terminal_size((80, 24))), \
                mock.patch.object(sys, "stdout", output):
            screen.PlainScreen(colour=False, wraps=True).show(Shown.of(text))
        rows = output.getvalue().split("\n")
        self.assertEqual(rows, [text[:80], "  " + text[80:], ""])

    def test_wrap_keeps_each_part_in_its_style(self) -> None:
        shown = Shown(((Style.PRIVATE, "bob → eu:"), (Style.PLAIN, " oi "), (Style.MENTION, "alice")))
        rows = screen.wrap(shown, 12)
        self.assertEqual([row.plain() for row in rows], ["bob → eu: oi", "   alice"])
        self.assertEqual(rows[1].parts, ((Style.PLAIN, "   "), (Style.MENTION, "alice")))

    def test_use_colour(self) -> None:
        cases = [
            (True, {}, True), (False, {}, False), (True, {"NO_COLOR": "1"}, False),
            (True, {"NO_COLOR": ""}, True), (True, {"TERM": "dumb"}, False),
        ]
        for is_terminal, environ, expected in cases:
            with self.subTest(is_terminal=is_terminal, environ=environ):
                self.assertEqual(screen.use_colour(is_terminal, environ), expected)

    def test_network_errors_in_portuguese(self) -> None:
        refused = ConnectionRefusedError(errno.ECONNREFUSED, "Connection refused")
        self.assertEqual(link.network_error_reason(refused), "conexão recusada")
        self.assertEqual(link.network_error_reason(socket.timeout()), "tempo esgotado")
        self.assertEqual(link.network_error_reason(OSError(errno.EACCES, "x")), "x")


# --- ChatClient against a fake server --------------------------------------------------------


class ScriptedScreen(screen.PlainScreen):
    """The keyboard is a queue of lines; what would be printed goes to another queue."""

    def __init__(self) -> None:
        super().__init__(colour=False)
        self.typed: queue.Queue[str | None] = queue.Queue()
        self.printed: queue.Queue[str] = queue.Queue()
        self.prompts: list[str] = []  # every prompt set, in order

    def set_prompt(self, prompt: str) -> None:
        self.prompts.append(prompt)

    def show(self, shown: Shown) -> None:
        self.printed.put(shown.plain())

    def read_line(self) -> str:
        line = self.typed.get()
        if line is None:
            raise EOFError
        return line

    def wait_for(self, pattern: str) -> str:
        """The next printed line matching ``pattern``; fail after TIMEOUT."""
        return self.lines_until(pattern)[-1]

    def lines_until(self, pattern: str) -> list[str]:
        """Every line printed from now to the next one matching ``pattern``, in order;
        fail after TIMEOUT."""
        deadline = time.monotonic() + TIMEOUT
        seen = []
        while True:
            try:
                line = self.printed.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                raise AssertionError(f"nothing matched {pattern!r}; printed: {seen}") from None
            seen.append(line)
            if re.search(pattern, line):
                return seen


class FakeServerTestCase(unittest.TestCase):
    """A ChatClient whose server is the test, at the other end of a socketpair."""

    def start_client(
        self, *, interactive: bool = False, reconnect: bool = False, lockstep: bool = False,
        address: tuple[str, int] = ("127.0.0.1", 9), history: screen.InputHistory | None = None,
        greeting: str | None = GREETING, pace: PaceClock | None = None, probe_after: float = 60.0,
    ) -> None:
        """A client on a socketpair; ``lockstep`` as for piped input (one answer at a time);
        ``pace``: the pacing's clock, instead of the real one; ``probe_after``: seconds
        before a blank line goes to a server that has not greeted (long: none, however
        slow the machine, unless a test asks)."""
        probing = mock.patch.object(flow, "PROBE_AFTER", probe_after)
        probing.start()
        self.addCleanup(probing.stop)
        self.server_end, client_end = socket.socketpair()
        self.server_end.settimeout(TIMEOUT)
        self.addCleanup(self.server_end.close)
        self.screen = ScriptedScreen()
        timing = {} if pace is None else {"now": pace.now, "pause": pace.pause}
        self.client = cliente.ChatClient(
            address, self.screen, interactive=interactive, reconnect=reconnect,
            can_prompt=not lockstep, clock=CLOCK, history=history, **timing,  # type: ignore[arg-type]
        )
        client_link = link.Link(client_end) if pace is None else pace.link(client_end)
        self.status: queue.Queue[int] = queue.Queue()
        thread = threading.Thread(
            target=lambda: self.status.put(self.client.run(client_link)), daemon=True
        )
        thread.start()
        self.addCleanup(self.screen.typed.put, None)  # the keyboard thread ends at EOF
        self.server_lines = self.server_end.makefile("r", encoding="utf-8", newline="\n")
        if greeting is not None:
            self.push(greeting)

    def receive(self) -> str:
        return self.server_lines.readline().rstrip("\n")

    def type_and_receive(self, *lines: str) -> None:
        """Type ``lines`` and check the server gets each one, in order."""
        for line in lines:
            self.screen.typed.put(line)
        for line in lines:
            self.assertEqual(self.receive(), line)

    def hang_up(self) -> None:
        self.server_lines.close()  # the socket's file descriptor closes with its last user
        self.server_end.close()

    def push(self, *lines: str) -> None:
        self.server_end.sendall("".join(line + "\n" for line in lines).encode())

    def exit_status(self) -> int:
        return self.status.get(timeout=TIMEOUT)

    def log_in(self, *reply: str) -> None:
        """alice logs in; the server's ``reply`` lines come before its ``OK ENTRAR``."""
        self.screen.typed.put("ENTRAR alice senha123")
        self.assertEqual(self.receive(), "ENTRAR alice senha123")
        self.push(*reply, "OK ENTRAR alice")
        self.screen.wait_for(r"Você entrou no chat como alice\.$")


class PaceClock:
    """The pacing's time, made up: a pause moves it on at once; each send notes the time."""

    def __init__(self) -> None:
        self.time = 0.0
        self.sent: list[tuple[float, bytes]] = []  # (when, the line) for each send

    def now(self) -> float:
        return self.time

    def pause(self, condition: threading.Condition, seconds: float) -> None:
        self.time += seconds

    def link(self, sock: socket.socket) -> link.Link:
        clock = self

        class NotedLink(link.Link):
            def send(self, data: bytes) -> None:
                clock.sent.append((clock.time, data))
                super().send(data)

        return NotedLink(sock)


class ChatClientTest(FakeServerTestCase):
    def test_own_message_echoed_once_the_server_confirms_it(self) -> None:
        self.start_client()
        self.type_and_receive("CHAT Bob olá")
        self.push("TODOS carol enquanto isso", "OK CHAT bob")
        self.screen.wait_for(r"^\[\d\d:\d\d\] carol: enquanto isso$")
        self.screen.wait_for(r"^\[\d\d:\d\d\] eu → bob: olá$")  # the name as the server has it

    def test_refused_command_is_not_echoed(self) -> None:
        self.start_client()
        self.type_and_receive("TODOS primeiro", "TODOS segundo")
        self.push("ERRO ARGUMENTOS Texto inválido.", "OK TODOS")
        self.screen.wait_for(r"Erro: Texto inválido\.$")
        self.assertRegex(self.screen.wait_for(r"eu:"), r"eu: segundo$")

    def test_online_names_follow_the_server(self) -> None:
        self.start_client(interactive=True)
        self.log_in()
        self.assertEqual(self.receive(), "LISTA", "asked once after login, for Tab")
        self.push("OK LISTA alice bob")
        self.screen.wait_for(r"Online agora: bob e você\.$")
        self.assertEqual(self.client.online_names(), {"bob"})
        self.push("ENTROU carol", "ENTROU dani", "SAIU bob")
        self.screen.wait_for(r"-- bob saiu do chat\.$")
        self.assertEqual(self.client.online_names(), {"carol", "dani"})

    def test_lista_todos_lists_accounts_and_leaves_the_online_names_alone(self) -> None:
        self.start_client(interactive=True)
        self.log_in()
        self.assertEqual(self.receive(), "LISTA")
        self.push("OK LISTA alice bob")
        self.type_and_receive("LISTA TODOS")
        self.push("USUARIO alice ONLINE", "USUARIO bob ONLINE", "USUARIO carol OFFLINE", "OK LISTA TODOS", "OK PING")
        # A list with a header, its rows indented, not styled as messages from those people.
        self.assertRegex(self.screen.wait_for(r"Contas"), r"^\[\d\d:\d\d\] Contas \(3\):$")
        self.assertEqual(self.screen.wait_for(r"."), "  alice: online agora")
        self.assertEqual(self.screen.wait_for(r"."), "  bob: online agora")
        self.assertEqual(self.screen.wait_for(r"."), "  carol: offline, nunca entrou")
        self.screen.wait_for(r"O servidor está respondendo\.$")  # OK LISTA TODOS printed nothing
        self.assertEqual(self.client.online_names(), {"bob"}, "not {'TODOS'}")

    def test_plain_text_goes_to_everyone_once_logged_in(self) -> None:
        self.start_client()
        self.screen.typed.put("tudo ótimo e vc?")
        self.screen.wait_for(r"^Você ainda não entrou: crie uma conta com /novo <nome> ou entre com "
                             r"/entrar <nome>\.$")
        self.log_in()
        self.type_and_receive("TODOS tudo ótimo e vc?")  # typed as plain text...
        # Answered: the room was never listed, so a TODOS's price is a guess, and the next waits.
        self.push("OK TODOS")
        self.screen.typed.put("tudo ótimo e vc?")
        self.assertEqual(self.receive(), "TODOS tudo ótimo e vc?")  # ... it goes to everyone
        self.push("OK TODOS")
        self.screen.typed.put("/msg bob oi")
        self.assertEqual(self.receive(), "CHAT bob oi")

    def test_a_conversation_sends_text_to_one_person_and_shows_in_the_prompt(self) -> None:
        self.start_client()
        self.log_in()
        self.screen.typed.put("/conversa bob")
        self.screen.wait_for(r"^Conversa com bob: o que você digitar vai só para bob")
        self.assertEqual(self.screen.prompts[-2:], ["alice> ", "alice → bob> "])
        self.screen.typed.put("tudo ótimo e vc?")
        self.assertEqual(self.receive(), "CHAT bob tudo ótimo e vc?")
        self.screen.typed.put("/todos bom dia, gente")
        self.assertEqual(self.receive(), "TODOS bom dia, gente", "commands still work")
        self.push("OK TODOS")  # the room was never listed: the next TODOS waits for this answer
        self.screen.typed.put("/conversa")
        self.screen.wait_for(r"^Fim da conversa privada: o que você digitar vai para todos\.$")
        self.assertEqual(self.screen.prompts[-1], "alice> ")
        self.screen.typed.put("de volta")
        self.assertEqual(self.receive(), "TODOS de volta")

    def test_refused_lines_stay_in_history_but_no_password(self) -> None:
        folder = tempfile.TemporaryDirectory()
        self.addCleanup(folder.cleanup)
        readline = FakeReadline()
        warnings: list[str] = []
        history = screen.InputHistory(Path(folder.name) / "historico", readline, warnings.append)
        self.start_client(history=history)
        for line, refusal in [
            ("tudo ótimo e vc?", r"^Você ainda não entrou"),  # not logged in yet
            ("/lsta", r"^Comando desconhecido: /lsta\. Você quis dizer /lista\?$"),
            ("ENTRA alice senha123", r"^Comando desconhecido: ENTRA\. Você quis dizer /entrar\?$"),
            ("NOVO ana minha senha", r"^Erro: A senha não pode ter espaços\."),
        ]:
            self.screen.typed.put(line)
            self.screen.wait_for(refusal)
        self.log_in()
        self.type_and_receive("TODOS oi")
        self.assertEqual(readline.history, ["tudo ótimo e vc?", "/lsta", "NOVO ana", "ENTRAR alice", "TODOS oi"])
        self.assertEqual(warnings, [])

    def test_lookalikes_of_entrar_send_nothing_and_keep_no_password(self) -> None:
        folder = tempfile.TemporaryDirectory()
        self.addCleanup(folder.cleanup)
        path = Path(folder.name) / "historico"
        readline = FakeReadline()
        warnings: list[str] = []
        self.start_client(history=screen.InputHistory(path, readline, warnings.append))
        self.screen.typed.put("\\entrar alice senha123")  # a backslash for the slash
        self.assertEqual(self.receive(), "ENTRAR alice senha123")
        self.push("OK ENTRAR alice")
        self.screen.wait_for(r"Você entrou no chat como alice\.$")
        for line, meant in test_typed.LookalikeTest.REFUSED:
            self.screen.typed.put(line)
            self.screen.wait_for(rf"^Comando desconhecido: .* Você quis dizer /{meant}\?$")
        self.type_and_receive("TODOS fim")  # the first line the server got after the login
        kept = ["/entrar alice", "ENTRE NÓS", "TODOS fim"]  # no word there may be a password
        self.assertEqual(readline.history, kept)
        self.assertEqual(path.read_text(encoding="utf-8"), "".join(f"{line}\n" for line in kept))
        self.assertEqual(warnings, [])

    def test_history_replayed_after_a_reconnection_shows_only_what_is_new(self) -> None:
        when = stamp(2026, 11, 21, 9, 2)
        with fast_retries(), socket.create_server(("127.0.0.1", 0)) as listener:
            listener.settimeout(TIMEOUT)
            self.start_client(reconnect=True, address=listener.getsockname())
            self.log_in()
            self.push(f"HISTORICO carol {when} oi", "TODOS bob oi")  # "oi" twice: both shown
            self.screen.wait_for(r"\[histórico\] \[09:02\] carol: oi$")
            self.screen.wait_for(r"bob: oi$")
            self.type_and_receive("TODOS minha")
            self.push("OK TODOS")
            self.screen.wait_for(r"eu: minha$")
            self.hang_up()
            second = accept(listener)
            with second, second.makefile("r", encoding="utf-8") as lines:
                second.sendall(protocol.encode_line(protocol.format_greeting("Bem-vindo de novo")))
                self.assertEqual(lines.readline(), "ENTRAR alice senha123\n", "after the greeting")
                self.screen.wait_for(r"^\[15:00\] Conexão com .* restabelecida\.$")
                self.assertRegex(self.screen.wait_for(r"."), r"Bem-vindo de novo$")
                replay = [f"HISTORICO {who} {when} {text}" for who, text in
                          [("bob", "oi"), ("alice", "minha"), ("bob", "oi"), ("dani", "durante a queda")]]
                # The history, then the reply's end: OK ENTRAR.
                second.sendall("".join(line + "\n" for line in [*replay, "OK ENTRAR alice", "INFO depois"]).encode())
                self.assertRegex(self.screen.wait_for(r"."), r"De volta ao chat como alice\.$")
                # Shown before: bob's "oi" and "minha"; new: another "oi" from bob, and dani's.
                self.assertRegex(self.screen.wait_for(r"."), r"\[histórico\] \[09:02\] bob: oi$")
                self.assertRegex(self.screen.wait_for(r"."), r"\[histórico\] \[09:02\] dani: durante a queda$")
                self.assertRegex(self.screen.wait_for(r"."), r"depois$")
                self.screen.typed.put("SAIR")
                self.assertEqual(lines.readline(), "SAIR\n")
                second.sendall(b"OK SAIR\n")
        self.assertEqual(self.exit_status(), 0)

    def test_a_message_kept_for_later_is_echoed_as_such(self) -> None:
        self.start_client()
        self.type_and_receive("CHAT bob oi")
        self.push("OK CHAT bob GUARDADA")
        self.screen.wait_for(r"eu → bob: oi  \(guardada até bob entrar\)$")

    def test_unconfirmed_messages_are_reported_when_the_connection_drops(self) -> None:
        self.start_client()
        self.type_and_receive("CHAT bob oi", "TODOS alguém aí?")
        self.push("OK CHAT bob")
        self.hang_up()
        self.screen.wait_for(r"eu → bob: oi$")
        line = self.screen.wait_for(r"talvez não tenha chegado")
        self.assertRegex(line, r"talvez não tenha chegado: eu: alguém aí\?$")
        self.screen.wait_for(r"^\[15:00\] O servidor encerrou a conexão\.$")
        self.assertEqual(self.exit_status(), 1, "--no-reconnect: the end")

    def test_session_taken_over_elsewhere_never_reconnects(self) -> None:
        self.start_client(reconnect=True)
        self.log_in()
        self.push("ERRO SESSAO_SUBSTITUIDA Você entrou em outro lugar.")
        self.hang_up()
        self.screen.wait_for(r"não vai reconectar")
        self.assertEqual(self.exit_status(), 1)

    def test_typing_while_disconnected_sends_nothing_and_says_so(self) -> None:
        self.start_client(reconnect=True, address=("127.0.0.1", closed_port()))
        self.log_in()
        self.hang_up()
        self.screen.wait_for(r"^\[15:00\] Tentando reconectar")
        self.screen.typed.put("TODOS alguém?")
        self.screen.wait_for(r"^Sem conexão com o servidor; a linha não foi enviada")
        self.screen.typed.put("SAIR")
        self.assertEqual(self.exit_status(), 0, "SAIR while waiting to reconnect ends at once")

    def test_a_session_never_logged_in_does_not_reconnect(self) -> None:
        self.start_client(reconnect=True, address=("127.0.0.1", closed_port()))
        self.hang_up()
        self.screen.wait_for(r"^\[15:00\] Para voltar, rode o cliente de novo\.$")
        self.assertEqual(self.exit_status(), 1)

    def test_automatic_login_refused_for_good_is_explained(self) -> None:
        with fast_retries(), socket.create_server(("127.0.0.1", 0)) as listener:
            listener.settimeout(TIMEOUT)
            self.start_client(reconnect=True, address=listener.getsockname())
            self.log_in()
            self.hang_up()
            second = accept(listener)
            with second, second.makefile("r", encoding="utf-8") as lines:
                second.sendall(protocol.encode_line(GREETING))
                self.assertEqual(lines.readline(), "ENTRAR alice senha123\n", "held in memory")
                second.sendall("ERRO CREDENCIAIS Usuário ou senha incorretos.\n".encode())
                self.screen.wait_for(r"Erro: Usuário ou senha incorretos\.$")
                self.screen.wait_for(r"^\[15:00\] Não foi possível entrar de novo como alice; entre com")
                self.screen.typed.put(None)  # Ctrl-D
                self.assertEqual(lines.readline(), "SAIR\n")
                second.sendall(b"OK SAIR\n")
        self.assertEqual(self.exit_status(), 0)

    def test_automatic_login_refused_for_now_is_tried_again(self) -> None:
        with fast_retries() as delays, socket.create_server(("127.0.0.1", 0)) as listener:
            listener.settimeout(TIMEOUT)
            self.start_client(reconnect=True, address=listener.getsockname())
            self.log_in()
            self.hang_up()
            for _ in range(3):  # a server that is full, or one that accepts and closes
                refused = accept(listener)
                with refused, refused.makefile("r", encoding="utf-8") as lines:
                    refused.sendall(protocol.encode_line(GREETING))
                    self.assertEqual(lines.readline(), "ENTRAR alice senha123\n")
                    refused.sendall("ERRO LIMITE O servidor está cheio.\n".encode())
                    self.assertEqual(lines.readline(), "", "the client hangs up to try later")
            accepted = accept(listener)
            with accepted, accepted.makefile("r", encoding="utf-8") as lines:
                accepted.sendall(protocol.encode_line(GREETING))
                self.assertEqual(lines.readline(), "ENTRAR alice senha123\n", "still remembered")
                accepted.sendall(b"OK ENTRAR alice\n")
                self.screen.wait_for(r"De volta ao chat como alice\.$")
                self.assertEqual(delays.started, 1, "the waits kept growing until it was back")
                self.screen.typed.put("SAIR")
                self.assertEqual(lines.readline(), "SAIR\n")
                accepted.sendall(b"OK SAIR\n")
        self.assertEqual(self.exit_status(), 0)

    def test_leaving_without_the_servers_goodbye_is_reported(self) -> None:
        self.start_client()
        self.log_in()
        self.type_and_receive("TODOS importante")
        self.screen.typed.put(None)  # Ctrl-D: SAIR goes out
        self.assertEqual(self.receive(), "SAIR")
        self.hang_up()  # and the server closes without answering either
        self.screen.wait_for(r"talvez não tenha chegado: eu: importante$")
        self.screen.wait_for(r"Sem confirmação do SAIR\.$")
        self.assertEqual(self.exit_status(), 1)


class FirstMinuteTest(FakeServerTestCase):
    """A person's first minute: one greeting line, a paste sent whole, NOVO then in,
    a server that stops answering or is no BatChat server at all."""

    def test_one_greeting_line(self) -> None:
        self.start_client()
        self.assertEqual(self.screen.wait_for(r"."), "[15:00] Conectado a 127.0.0.1:9. Bem-vindo")
        self.type_and_receive("PING")
        self.push("OK PING")
        self.screen.wait_for(r"O servidor está respondendo\.$")

    def test_a_pasted_block_is_sent_whole_in_order_within_the_limits(self) -> None:
        pace = PaceClock()
        self.start_client(pace=pace)
        self.push("LIMITES 5 20 2048", "INFO pronto")
        self.screen.wait_for(r"pronto")
        lines = [f"TODOS linha {number}" for number in range(30)]
        self.type_and_receive(*lines)
        self.assertEqual([data.decode().rstrip("\n") for _, data in pace.sent], lines)
        server_bucket = TokenBucket(5, 20, 0.0)  # what the server's flood limit would say
        refused = [line for when, line in pace.sent if not server_bucket.take(1, when)]
        self.assertEqual(refused, [], "none would be refused")
        self.assertGreater(pace.time, 2.0, "paced: the last ones waited their turn")

    def test_the_stated_limits_are_followed(self) -> None:
        pace = PaceClock()
        self.start_client(pace=pace)
        self.push("LIMITES 1 2 2048", "INFO pronto")  # slower than the defaults
        self.screen.wait_for(r"pronto")
        self.type_and_receive(*[f"TODOS {number}" for number in range(5)])
        server_bucket = TokenBucket(1, 2, 0.0)
        self.assertTrue(all(server_bucket.take(1, when) for when, _ in pace.sent), pace.sent)

    def test_a_flood_refusal_is_sent_again_not_shown(self) -> None:
        for lockstep in (False, True):  # a person at a terminal, and piped input
            with self.subTest(lockstep=lockstep):
                self.start_client(lockstep=lockstep)
                self.type_and_receive("TODOS um")
                self.push("ERRO DEVAGAR 1 0.2 Mensagens demais por segundo; tente de novo em 0,2 s.")
                self.assertEqual(self.receive(), "TODOS um", "sent again")
                self.push("OK TODOS")
                self.assertEqual(self.screen.wait_for(r"um|demais"), "[15:00] eu: um")

    def test_a_line_longer_than_the_server_takes_is_refused_here(self) -> None:
        self.start_client()
        self.push("LIMITES 5 20 100", "INFO pronto")
        self.screen.wait_for(r"pronto")
        self.screen.typed.put("TODOS " + "x" * 200)
        self.screen.wait_for(r"^Erro: linha longa demais: tem 206 caracteres e cabem 99; não foi enviada")
        self.type_and_receive("PING")  # the long one never went out

    def test_novo_then_straight_in(self) -> None:
        with mock.patch.object(terminal, "read_hidden", return_value="senha123") as asked:
            self.start_client()
            self.type_and_receive()
            self.screen.typed.put("NOVO alice")
            self.assertEqual(self.receive(), "NOVO alice senha123")
            self.push("OK NOVO alice")
            self.assertEqual(self.receive(), "ENTRAR alice senha123", "the same password")
            self.push("OK ENTRAR alice")
            self.screen.wait_for(r"Você entrou no chat como alice\.$")
        self.assertEqual(asked.call_count, 2, "asked twice, not three times")

    def test_a_password_prompt_cancelled_sends_nothing(self) -> None:
        with mock.patch.object(terminal, "read_hidden", return_value=None):  # Ctrl-C
            self.start_client()
            self.screen.typed.put("ENTRAR alice")
            self.screen.wait_for(r"^Cancelado\.$")
        self.type_and_receive("PING")

    def test_a_server_that_stops_answering_is_noticed(self) -> None:
        with mock.patch.multiple(flow, PING_AFTER=0.2, ANSWER_DEADLINE=0.3):
            self.start_client()
            self.type_and_receive("TODOS alguém aí?")
            self.assertEqual(self.receive(), "PING", "a silence gets a PING")
            # ... and no answer to it: the server froze.
            self.screen.wait_for(r"talvez não tenha chegado: eu: alguém aí\?$")
            self.screen.wait_for(r"^\[15:00\] O servidor parou de responder \(nada chegou em 0\.5 s")
            self.assertEqual(self.exit_status(), 1, "--no-reconnect: the end")

    def test_an_answered_ping_keeps_the_connection_quietly(self) -> None:
        with mock.patch.multiple(flow, PING_AFTER=0.2, ANSWER_DEADLINE=5.0):
            self.start_client()
            self.assertEqual(self.receive(), "PING")
            self.push("OK PING", "INFO depois")
            self.assertEqual(self.screen.wait_for(r"depois|respondendo"), "[15:00] depois")

    def test_a_server_that_is_not_batchat_is_explained(self) -> None:
        with mock.patch.object(flow, "GREETING_DEADLINE", 0.3):
            self.start_client(greeting=None)
            self.server_end.sendall(b"220-bem-vindo ao FTP, sem quebra de linha")
            line = self.screen.wait_for(r"aceitou a conexão")
            self.assertEqual(line, "[15:00] 127.0.0.1:9 aceitou a conexão, mas não respondeu como um servidor "
                                   "BatChat (nenhuma saudação em 0.3 s). O endereço e a porta "
                                   "(--host, --port) estão certos?")
            self.assertEqual(self.exit_status(), 1)


class IdentificationTest(FakeServerTestCase):
    """No line with a password goes before the server's greeting says it is BatChat:
    typed early, or sent again by a reconnection to whatever took the address."""

    NOT_BATCHAT = ('[15:00] 127.0.0.1:9 não é um servidor BatChat (a primeira linha foi "SSH-2.0-OpenSSH_9.2"), '
                   "então nenhuma senha foi enviada: confira o endereço e a porta (--host, --port).")

    def type_before_the_greeting(self, line: str) -> None:
        """Type ``line``, then a line answered here: once its answer shows, ``line`` was handled."""
        self.screen.typed.put(line)
        self.screen.typed.put("?")
        self.screen.wait_for(r"^Texto sem / vai para todos")

    def test_a_password_typed_early_never_reaches_a_program_that_is_not_batchat(self) -> None:
        self.start_client(greeting=None)
        self.type_before_the_greeting("ENTRAR alice senha123")
        self.server_end.sendall(SSH_BANNER)
        received = received_until_closed(self.server_end, unless=b"senha123")
        self.assertEqual(received, b"", "not a byte, the password least of all")
        self.assertEqual(self.screen.wait_for(r"BatChat"), self.NOT_BATCHAT)
        self.assertEqual(self.exit_status(), 1)

    def said_after_the_end(self) -> list[str]:
        """Every line shown once the session ended, the sending thread's included: it takes
        a line queued after the end (a SAIR: never said "not sent") after any it was still
        on, whose "not sent" it said before that."""
        self.assertEqual(self.exit_status(), 1)
        marker = Sent(protocol.Quit(), line="SAIR")
        self.client._queue(marker)
        with self.client._answered:
            self.assertTrue(self.client._answered.wait_for(lambda: marker.abandoned, TIMEOUT))
        said = []
        with contextlib.suppress(queue.Empty):
            while True:
                said.append(self.screen.printed.get_nowait())
        return said

    def test_a_password_line_typed_early_ends_in_one_sentence(self) -> None:
        """Not BatChat, a TLS server, or a refusal: one sentence says the session ends and
        that no password went; the line that waited for the greeting is not said apart."""
        tls = "ERRO PROTOCOLO_INVALIDO Este servidor BatChat usa TLS. Use: python3 cliente.py --tls"
        for first_line, sentence in (
            (SSH_BANNER, re.escape(self.NOT_BATCHAT)),
            (tls.encode() + b"\n", r"é um servidor BatChat com TLS e esta conexão não é cifrada"),
            (b"ERRO LIMITE O servidor est\xc3\xa1 cheio.\n", r"recusou a conexão: O servidor está cheio\.$"),
        ):
            with self.subTest(first_line=first_line):
                self.start_client(greeting=None)
                self.type_before_the_greeting("ENTRAR alice senha123")
                self.server_end.sendall(first_line)
                self.assertEqual(received_until_closed(self.server_end, unless=b"senha123"), b"")
                said = self.said_after_the_end()
                self.assertEqual([line for line in said if re.search(sentence, line)], [said[-1]])
                self.assertNotIn(cliente.NOT_SENT, said)

    def test_a_password_typed_early_waits_for_the_greeting(self) -> None:
        self.start_client(greeting=None)
        self.type_before_the_greeting("ENTRAR alice senha123")
        self.server_end.settimeout(0.2)
        with self.assertRaises(TimeoutError, msg="nothing goes before the greeting"):
            self.server_end.recv(100, socket.MSG_PEEK)
        self.server_end.settimeout(TIMEOUT)
        self.push(GREETING)
        self.assertEqual(self.receive(), "ENTRAR alice senha123")
        self.push("OK ENTRAR alice")
        self.screen.wait_for(r"Você entrou no chat como alice\.$")

    def test_after_a_drop_a_program_on_the_servers_port_gets_no_password(self) -> None:
        with fast_retries() as delays, socket.create_server(("127.0.0.1", 0)) as listener:
            listener.settimeout(TIMEOUT)
            self.start_client(reconnect=True, address=listener.getsockname())
            self.log_in()
            self.hang_up()
            stranger = accept(listener)
            with stranger:
                stranger.sendall(SSH_BANNER)
                self.assertEqual(received_until_closed(stranger, unless=b"senha123"), b"")
                self.screen.wait_for(r"^\[15:00\] Tentando reconectar")
                line = self.screen.wait_for(r"BatChat|restabelecida")
                self.assertRegex(line, r"^\[15:00\] 127\.0\.0\.1:\d+ não é mais um servidor BatChat "
                                       r"\(a primeira linha foi "
                                       r'"SSH-2\.0-OpenSSH_9\.2"\): outro programa deve ter ocupado a porta, então '
                                       r"nenhuma senha foi enviada e o cliente não vai reconectar\.$")
                self.assertEqual(self.exit_status(), 1, "the reconnection loop stops there")
            self.assertEqual(delays.started, 1)

    def test_a_tls_server_is_asked_with_a_blank_line_and_says_use_tls(self) -> None:
        self.start_client(greeting=None, probe_after=0.05)
        self.assertEqual(self.receive(), "", "a blank line: a TLS server answers it at once")
        self.push("ERRO PROTOCOLO_INVALIDO Este servidor BatChat usa TLS. Use: python3 cliente.py --tls")
        self.assertEqual(self.screen.wait_for(r"TLS"), "[15:00] 127.0.0.1:9 é um servidor BatChat com TLS e esta "
                         "conexão não é cifrada: use --tls (e --cafile <arquivo>, se o certificado do servidor "
                         "for próprio).")
        self.assertEqual(self.exit_status(), 1)

    def test_a_refusal_before_the_greeting_is_shown_and_tried_again_later(self) -> None:
        with fast_retries(), socket.create_server(("127.0.0.1", 0)) as listener:
            listener.settimeout(TIMEOUT)
            self.start_client(reconnect=True, address=listener.getsockname())
            self.log_in()
            self.hang_up()
            full = accept(listener)
            with full:
                full.sendall("ERRO LIMITE O servidor está cheio.\n".encode())
                self.assertEqual(received_until_closed(full, unless=b"senha123"), b"", "hung up, password unsent")
                self.screen.wait_for(r"^\[15:00\] 127\.0\.0\.1:\d+ recusou a conexão: O servidor está cheio\.$")
            accepted = accept(listener)
            with accepted, accepted.makefile("r", encoding="utf-8") as lines:
                accepted.sendall(protocol.encode_line(GREETING))
                self.assertEqual(lines.readline(), "ENTRAR alice senha123\n")
                accepted.sendall(b"OK ENTRAR alice\n")
                self.screen.wait_for(r"De volta ao chat como alice\.$")
                self.screen.typed.put("SAIR")
                self.assertEqual(lines.readline(), "SAIR\n")
                accepted.sendall(b"OK SAIR\n")
        self.assertEqual(self.exit_status(), 0)


@unittest.skipUnless(hasattr(signal, "SIGSTOP"), "SIGSTOP is Unix only")
@own_process  # frozen with SIGSTOP
class FrozenServerTest(ServerTestCase):
    """The real server, frozen with SIGSTOP: noticed, dropped, and back once it wakes."""

    def test_a_frozen_server_is_noticed_and_the_client_comes_back(self) -> None:
        self.register("alice")
        screen_ = ScriptedScreen()
        client = cliente.ChatClient(("127.0.0.1", self.server.port), screen_, interactive=False,
                                    reconnect=True, clock=CLOCK)
        status: queue.Queue[int] = queue.Queue()
        # Short, for a fast test, but well above a loaded machine's login and greeting times.
        timings = mock.patch.multiple(flow, PING_AFTER=0.3, ANSWER_DEADLINE=0.6, GREETING_DEADLINE=0.6)
        with timings, fast_retries():
            first = link.open_link(("127.0.0.1", self.server.port), None)
            threading.Thread(target=lambda: status.put(client.run(first)), daemon=True).start()
            self.addCleanup(screen_.typed.put, None)
            screen_.wait_for(r"Bem-vindo")
            screen_.typed.put("ENTRAR alice senha123")
            screen_.wait_for(r"Você entrou no chat como alice\.$")
            os.kill(self.server.process.pid, signal.SIGSTOP)
            self.addCleanup(os.kill, self.server.process.pid, signal.SIGCONT)
            frozen = screen_.lines_until(r"aceitou a conexão, mas não respondeu em 0\.6 s\.$")  # still frozen
            os.kill(self.server.process.pid, signal.SIGCONT)
            back = screen_.lines_until(r"De volta ao chat como alice\.$")
            screen_.typed.put("SAIR")
            # Issue 19 item 14: said in the order it happens: "restabelecida" only once the
            # new connection's server greets, after the attempt it did not answer.
            self.assertRegex(frozen[0], r"^\[15:00\] O servidor parou de responder")
            self.assertRegex(frozen[1], r"^\[15:00\] Tentando reconectar")
            self.assertFalse([line for line in frozen if "restabelecida" in line], frozen)
            self.assertEqual([line for line in back if "restabelecida" in line],
                             [f"[15:00] Conexão com 127.0.0.1:{self.server.port} restabelecida."], back)
            self.assertRegex(back[-3], r"restabelecida\.$")
            self.assertRegex(back[-2], r"Bem-vindo ao BatChat!")
            self.assertEqual(status.get(timeout=TIMEOUT), 0)


class ArgumentsTest(unittest.TestCase):
    def test_host_and_port_as_plain_words(self) -> None:
        cases = [
            ([], ("127.0.0.1", 5050)),
            (["exemplo.org", "6000"], ("exemplo.org", 6000)),
            (["exemplo.org"], ("exemplo.org", 5050)),
            (["6000"], ("127.0.0.1", 6000)),
            (["--host", "exemplo.org", "--port", "6000"], ("exemplo.org", 6000)),
        ]
        for argv, expected in cases:
            with self.subTest(argv=argv):
                args = client_main.parse_arguments(argv)
                self.assertEqual((args.host, args.port), expected)

    def test_two_addresses_are_refused(self) -> None:
        for argv in (["a", "1", "2"], ["a", "--host", "b"], ["a", "70000"]):
            with self.subTest(argv=argv), mock.patch("sys.stderr"), self.assertRaises(SystemExit):
                client_main.parse_arguments(argv)


class HostileServerTest(FakeServerTestCase):
    """What a server sends is bounded: one endless line must not grow the client."""

    def flood(self, data: bytes) -> None:
        """Send ``data`` from a thread: the client stops reading it partway."""
        def send() -> None:
            try:
                self.server_end.sendall(data)
            except OSError:
                pass  # the client hung up, as it should
        sender = threading.Thread(target=send, daemon=True)
        sender.start()
        self.addCleanup(sender.join, TIMEOUT)

    def test_an_endless_line_ends_the_connection(self) -> None:
        with mock.patch.object(protocol, "MAX_SERVER_LINE", 1024):
            self.start_client()
            self.flood(b"INFO " + b"x" * (64 * 1024))  # no newline, ever
            self.screen.wait_for(r"^\[15:00\] O servidor mandou uma linha longa demais; conexão encerrada\.$")
            self.assertEqual(self.exit_status(), 1)

    def test_a_line_over_the_bound_ends_the_connection_too(self) -> None:
        with mock.patch.object(protocol, "MAX_SERVER_LINE", 1024):
            self.start_client()
            self.flood(b"INFO " + b"x" * 2000 + b"\nINFO depois\n")
            self.screen.wait_for(r"^\[15:00\] O servidor mandou uma linha longa demais; conexão encerrada\.$")
            self.assertEqual(self.exit_status(), 1)

    def test_the_bound_holds_what_a_server_may_send(self) -> None:
        names = " ".join("\U0001f987" * protocol.MAX_NAME_LENGTH for _ in range(12_000))
        self.assertLess(len(protocol.encode_line(formatting.format_ok("LISTA", names))), protocol.MAX_SERVER_LINE)
        longest_text = "x" * (servidor_max_line() - 1)
        line = formatting.format_history("\U0001f987" * protocol.MAX_NAME_LENGTH, 0, longest_text)
        self.assertLess(len(protocol.encode_line(line)), protocol.MAX_SERVER_LINE)


def servidor_max_line() -> int:
    """The largest --max-line the server accepts."""
    (maximum,) = [maximum for name, _, maximum, _ in server_options._LIMIT_OPTIONS if name == "max_line"]
    return int(maximum)


class LockstepTest(FakeServerTestCase):
    """Piped input: each line waits for its answer, and the flood limit paces a script."""

    def test_lines_wait_for_their_answer(self) -> None:
        self.start_client(lockstep=True)
        self.screen.typed.put("TODOS um")
        self.screen.typed.put("TODOS dois")
        self.assertEqual(self.receive(), "TODOS um")
        self.server_end.settimeout(0.2)
        with self.assertRaises(TimeoutError, msg="the next line waits for this one's answer"):
            self.server_end.recv(100, socket.MSG_PEEK)
        self.server_end.settimeout(TIMEOUT)
        self.push("OK TODOS")
        self.assertEqual(self.receive(), "TODOS dois")


def closed_port() -> int:
    """A loopback port nobody listens on: connecting is refused at once."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def accept(listener: socket.socket) -> socket.socket:
    """The next connection to ``listener``, every read on it bounded by TIMEOUT."""
    connection, _ = listener.accept()
    connection.settimeout(TIMEOUT)
    return connection


class fast_retries:
    """Reconnection waits of 10 ms instead of 1, 2, 4 ... s; counts how often they restart."""

    def __init__(self) -> None:
        self.started = 0
        self._patch = mock.patch.object(cliente, "retry_delays", self._delays)

    def _delays(self, first: float = cliente.FIRST_RETRY_DELAY) -> Iterator[float]:
        self.started += 1
        while True:
            yield 0.01

    def __enter__(self) -> fast_retries:
        self._patch.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._patch.stop()


if __name__ == "__main__":
    unittest.main()
