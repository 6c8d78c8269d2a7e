"""``cliente.py`` in any terminal (issue 19): a C locale, a console without readline, Ctrl-C.

Through a pseudo-terminal, as in :mod:`tests.test_terminal`; "without readline"
runs the client under ``tests/without_unix.py``, as on Windows.
"""

from __future__ import annotations

import unittest
from pathlib import Path

try:
    import termios  # noqa: F401  (pseudo-terminals need it)
except ImportError:
    raise unittest.SkipTest("pseudo-terminals (pty, termios) are Unix only") from None

from tests.support import WITHOUT_UNIX, temporary_folder
from tests.terminal import CTRL_C, ENTER, UP, TerminalClient
from tests.test_terminal import STAMP, TerminalTestCase

# Where Python's stdin and stdout are ASCII, or readline's locale is: every way a lab gets there.
C_LOCALES: tuple[dict[str, str | None], ...] = (
    {"LC_ALL": "C"}, {"LC_ALL": "POSIX"}, {"LC_ALL": None, "LANG": "C"}, {"LC_ALL": "C", "PYTHONUTF8": "0"},
)
WINDOWS_LIKE = (str(WITHOUT_UNIX),)
CTRL_U = "\x15"


def flowing(text: str) -> str:
    """``text`` with every run of spaces and line breaks as one space: a sentence the
    screen wrapped reads whole again."""
    return " ".join(text.split())


def wait_sentence(client: TerminalClient, sentence: str) -> None:
    client.wait_until(lambda screen: sentence in flowing(screen.text), repr(sentence))


def history_file(home: Path) -> Path:
    return home / ".local" / "state" / "batchat" / "historico"


class LocaleTest(TerminalTestCase):
    def chat_in_accents(self, environ: dict[str, str | None], launcher: tuple[str, ...] = ()) -> TerminalClient:
        """Start in ``environ``, log alice in, send ``não`` and ``ação``: the server gets them
        intact and the screen shows them. The client, still running."""
        home = temporary_folder(self)
        history_file(home).parent.mkdir(parents=True)
        history_file(home).write_text("TODOS já foi\n", encoding="utf-8")
        alice = TerminalClient(self.server.port, home, environ=environ, launcher=launcher)
        self.addCleanup(alice.close)
        alice.wait_screen(rf"^{STAMP}Conectado a 127\.0\.0\.1:\d+\. Bem-vindo ao BatChat!")
        alice.type(f"ENTRAR alice senha123{ENTER}")
        alice.wait_screen(rf"^{STAMP}Você entrou no chat como alice\.$")
        alice.type(f"não{ENTER}")  # a line at a time, as a person types (no type-ahead)
        self.assertEqual(self.bob.read_until("TODOS ")[0], "TODOS alice não")
        alice.wait_screen(rf"^{STAMP}eu: não$")
        alice.type(f"/chat bob ação{ENTER}")
        self.assertEqual(self.bob.read_until("MSG ")[0], "MSG alice ação")
        alice.wait_screen(rf"^{STAMP}eu → bob: ação$")
        self.assertNotIn(b"Erro", bytes(alice.raw))
        return alice

    def setUp(self) -> None:
        super().setUp()
        self.register("alice")
        self.bob = self.logged_in("bob")

    def test_accents_typed_shown_and_stored_under_a_c_locale(self) -> None:
        for environ in C_LOCALES:
            with self.subTest(environ=environ):
                alice = self.chat_in_accents(environ)
                alice.wait_prompt("alice> ")
                alice.type(UP)
                alice.wait_prompt("alice> /chat bob ação")
                alice.type(UP + UP + UP)  # the accented line the file held: it started
                alice.wait_prompt("alice> TODOS já foi")
                alice.type(CTRL_U + f"/sair{ENTER}")
                self.assertEqual(alice.wait_exit(), 0)
                self.assertEqual(
                    history_file(alice.home).read_text(encoding="utf-8").splitlines(),
                    ["TODOS já foi", "ENTRAR alice", "não", "/chat bob ação", "/sair"],
                )

    def test_accents_under_a_c_locale_without_readline(self) -> None:
        for environ in C_LOCALES:
            with self.subTest(environ=environ):
                alice = self.chat_in_accents(environ, WINDOWS_LIKE)
                alice.type(f"/sair{ENTER}")
                self.assertEqual(alice.wait_exit(), 0)

    def test_a_damaged_history_file_is_set_aside(self) -> None:
        for damage in ("bytes", "folder"):
            with self.subTest(damage=damage):
                home = temporary_folder(self)
                path = history_file(home)
                path.parent.mkdir(parents=True)
                if damage == "bytes":
                    path.write_bytes(b"TODOS ol\xe1 \xff\n")
                else:
                    (path / "dentro").mkdir(parents=True)
                client = self.start_terminal(home=home, environ={"LC_ALL": "C"})
                aside = path.with_name("historico.estragado-1")
                said = f"O histórico {path} não pôde ser lido; ficou guardado como {aside} e um novo começa."
                wait_sentence(client, said)
                self.assertTrue(aside.exists(), "nothing is thrown away")
                client.type(f"ajuda{ENTER}")
                client.wait_screen(r"^Tab completa comandos")  # handled (its end: the start may scroll away)
                client.wait_prompt("> ")
                client.type(UP)
                client.wait_prompt("> ajuda")
                self.assertEqual(path.read_text(encoding="utf-8"), "ajuda\n", "a new history")


class WithoutReadlineTest(TerminalTestCase):
    """A console without readline (Windows): the pty's own echo stands in for the console's."""

    def test_the_prompt_is_shown_and_drawn_again_below_a_message(self) -> None:
        bob = self.logged_in("bob")
        alice = self.start_terminal(launcher=WINDOWS_LIKE)  # waits for the prompt "> "
        self.log_in(alice)
        self.assertEqual(bob.read_line(), "ENTROU alice")
        alice.type(f"/conversa bob{ENTER}")
        alice.wait_prompt("alice → bob> ")
        alice.type("meia fr")
        alice.wait_prompt("alice → bob> meia fr")
        self.assertEqual(bob.request("CHAT alice chegou isto"), "OK CHAT alice")
        alice.wait_prompt("alice → bob> ")  # on a fresh row, below the message
        lines, row = alice.screen.lines(), alice.screen.row
        self.assertRegex(lines[row - 1], rf"^{STAMP}bob → eu: chegou isto$")
        self.assertEqual(lines[row - 2], "alice → bob> meia fr", "what was typed stays in sight")
        alice.type(f"ase{ENTER}")
        self.assertEqual(bob.read_line(), "MSG alice meia frase", "one line, as typed")
        alice.wait_screen(rf"^{STAMP}eu → bob: meia frase$")
        alice.wait_prompt("alice → bob> ")
        alice.type(CTRL_C)  # without readline, Ctrl-C leaves at once, as it always did
        self.assertEqual(alice.wait_exit(), 0)
        self.assertEqual(bob.read_line(), "SAIU alice")
        alice.wait_prompt("", column=0)  # no prompt left behind for the shell's to follow
        self.assertEqual(alice.screen.lines()[alice.screen.row - 1], "Até logo!")


HINT = "Ctrl-C apaga a linha; para sair, /sair, Ctrl-D ou Ctrl-C de novo numa linha vazia."


class CtrlCTest(TerminalTestCase):
    def test_ctrl_c_clears_the_line_keeps_it_for_up_and_the_client_stays(self) -> None:
        bob = self.logged_in("bob")
        alice = self.start_terminal()
        self.log_in(alice)
        self.assertEqual(bob.read_line(), "ENTROU alice")
        alice.type("TODOS pela met")
        alice.wait_prompt("alice> TODOS pela met")
        alice.type(CTRL_C)
        wait_sentence(alice, HINT)
        alice.wait_prompt("alice> ")
        alice.type("ENTRAR alice s3nh4")  # a password: ↑ gets the line without it
        alice.wait_prompt("alice> ENTRAR alice s3nh4")
        alice.type(CTRL_C)
        alice.wait_prompt("alice> ")
        alice.type(UP)
        alice.wait_prompt("alice> ENTRAR alice")
        alice.type(UP)
        alice.wait_prompt("alice> TODOS pela met")
        alice.type(f"ade{ENTER}")
        self.assertEqual(bob.read_line(), "TODOS alice pela metade", "the client stayed")
        alice.wait_screen(rf"^{STAMP}eu: pela metade$")
        self.assertEqual(flowing(alice.screen.text).count(HINT), 1, "the hint is said once")
        self.assertNotIn("s3nh4", history_file(alice.home).read_text(encoding="utf-8"))

    def test_ctrl_c_twice_on_an_empty_line_leaves(self) -> None:
        bob = self.logged_in("bob")
        alice = self.start_terminal()
        self.log_in(alice)
        self.assertEqual(bob.read_line(), "ENTROU alice")
        alice.type(CTRL_C)
        wait_sentence(alice, HINT)
        alice.wait_prompt("alice> ")
        self.assertIsNone(alice.process.poll(), "one Ctrl-C on an empty line does not leave")
        alice.type(CTRL_C)
        self.assertEqual(alice.wait_exit(), 0)
        self.assertEqual(bob.read_line(), "SAIU alice", "SAIR went out")
        self.assertEqual(alice.terminal_modes(), alice.initial_modes)
        self.assertNotIn(b"Traceback", bytes(alice.raw))


if __name__ == "__main__":
    unittest.main()
