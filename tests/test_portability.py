"""BatChat where students run it: without Unix, on IPv6, and the first errors a person meets.

- The server and the piped client run with the Unix-only modules and names
  missing (``tests/without_unix.py``), as on Windows, through the whole story:
  register, log in, LISTA, CHAT, TODOS, a slow reader, an abrupt drop, SAIR.
- ``--host ::1`` serves, and the client reaches it (skipped where the machine
  has no IPv6 loopback).
- Start-up errors are Portuguese sentences that say what to do, and a start
  that fails leaves its folder as it found it.
- What the server asks Windows to do on a console event (the window closed).
- An old Python gets one line that says which version is needed, from the
  programs and from ``python -m unittest`` (skipped where no Python older than
  3.10 is installed).
"""

from __future__ import annotations

import hashlib
import os
import shutil
import socket
import subprocess
import threading
import unittest
from pathlib import Path
from unittest import mock

from batchat.server import os_support
from batchat.server.main import accounts_phrase, how_to_connect

from tests.support import (
    CLIENT, PYTHON, ROOT, SERVER, TEST_HASH_COST, TIMEOUT, WITHOUT_UNIX, ClientProcess, ServerTestCase,
    set_folder_writable, temporary_folder,
)

STAMP = r"\[\d\d:\d\d\] "
NO_FLOOD = ("--flood-rate", "0")  # the story sends 80 lines at once


def has_ipv6_loopback() -> bool:
    if not socket.has_ipv6:
        return False
    try:
        with socket.create_server(("::1", 0), family=socket.AF_INET6):
            return True
    except OSError:
        return False


class StoryMixin:
    """The core story, against ``self.server`` started however the subclass says."""

    def test_core_story(self) -> None:
        alice = self.logged_in("alice")  # type: ignore[attr-defined]
        bob = self.logged_in("bob")  # type: ignore[attr-defined]
        self.assertEqual(alice.read_line(), "ENTROU bob")
        self.assertEqual(alice.request("LISTA"), "OK LISTA alice bob")
        self.assertEqual(alice.request("CHAT bob olá, bob"), "OK CHAT bob")
        self.assertEqual(bob.read_line(), "MSG alice olá, bob")
        self.assertEqual(bob.request("TODOS bom dia"), "OK TODOS")
        self.assertEqual(alice.read_line(), "TODOS bob bom dia")
        # Many lines at once: with no non-blocking send, the writer thread sends them all.
        # (Fewer than --max-pending: until the writer has written them, they count as unread.)
        for number in range(80):
            bob.send(f"CHAT alice linha {number}")
        for number in range(80):
            self.assertEqual(alice.read_line(), f"MSG bob linha {number}")
        oks = [bob.read_line() for _ in range(80)]
        self.assertEqual(set(oks), {"OK CHAT alice"})
        bob.abort()  # a dropped link
        self.assertEqual(alice.read_line(), "SAIU bob")
        self.assertEqual(alice.request("SAIR"), "OK SAIR")
        self.assertEqual(alice.expect_closed(), [])
        self.server.wait_for_log(r"\(alice\) encerrada pelo cliente \(SAIR\)\.$")  # type: ignore[attr-defined]
        self.assertNotIn("Traceback", self.server.log)  # type: ignore[attr-defined]

    def test_piped_client_session(self) -> None:
        self.register("bob")  # type: ignore[attr-defined]
        client = ClientProcess(
            self.server.port, host=self.server_host, launcher=self.server_launcher  # type: ignore[attr-defined]
        )
        self.addCleanup(client.kill)  # type: ignore[attr-defined]
        client.output.wait_for(rf"^{STAMP}Conectado a .*\. Bem-vindo ao BatChat!")
        for line in ("NOVO alice senha123", "ENTRAR alice senha123", "LISTA", "CHAT bob oi", "TODOS olá", "SAIR"):
            client.type(line)
        client.output.wait_for(r"Você entrou no chat como alice\.$")
        client.output.wait_for(r"Ninguém mais está online\.$")
        client.output.wait_for(r"eu → bob: oi  \(guardada até bob entrar\)$")
        client.output.wait_for(r"eu: olá$")
        client.output.wait_for(r"Você saiu do chat\. Até logo!$")
        self.assertEqual(client.wait(), 0)  # type: ignore[attr-defined]


class WithoutUnixTest(StoryMixin, ServerTestCase):
    """Server and client with resource, fcntl, termios, tty, pty, grp, pwd and readline
    unimportable, and without poll, MSG_DONTWAIT, O_DIRECTORY and Linux's TCP options."""

    server_launcher = (str(WITHOUT_UNIX),)
    server_args = ("--log-level", "DEBUG", *NO_FLOOD)

    def test_what_was_skipped_is_said_at_debug_level(self) -> None:
        self.register("alice")  # writes users.json: the folder fsync is skipped
        for what in ("resource", "MSG_DONTWAIT", "fsync de pastas", "TCP_KEEPIDLE", "SetConsoleCtrlHandler"):
            with self.subTest(what=what):
                self.server.wait_for_log(rf"DEBUG Este sistema não oferece .*{what}")


@unittest.skipUnless(has_ipv6_loopback(), "this machine has no IPv6 loopback (::1)")
class Ipv6Test(StoryMixin, ServerTestCase):
    server_host = "::1"
    server_args = NO_FLOOD

    def test_ready_line_and_log_show_the_address_in_brackets(self) -> None:
        port = self.server.port
        self.server.wait_for_log(rf"pronto em \[::1\]:{port} .* desta máquina: python3 cliente\.py ::1 {port}$")
        self.logged_in("alice")
        self.server.wait_for_log(r"alice se conectou com o IP ::1 ")
        self.server.wait_for_log(r"Nova conexão de \[::1\]:\d+")


class ReadyLineTest(unittest.TestCase):
    """The ready line ends with the command students type: the teacher hands it out as is.

    Listening on every address (the default) is never done in a test: there the
    machine's addresses are made up (``find_addresses``), and the real
    listener is on loopback (``ServerReadyLineTest``)."""

    FOUND = ["192.168.0.12", "10.0.0.5", "2001:db8::5"]
    NONE_FOUND: list[str] = []

    def test_the_command_for_each_way_of_listening(self) -> None:
        cert = Path("certs") / "certificado.pem"
        cases = [  # (host, port, certificate, addresses found, dual stack, the end of the ready line)
            ("0.0.0.0", 5050, None, self.FOUND, False,
             "Os alunos conectam com: python3 cliente.py 192.168.0.12 ou python3 cliente.py 10.0.0.5"),
            ("::", 5050, None, self.FOUND, True, "Os alunos conectam com: python3 cliente.py 192.168.0.12 ou "
             "python3 cliente.py 10.0.0.5 ou python3 cliente.py 2001:db8::5"),
            ("::", 5050, None, self.FOUND, False, "Os alunos conectam com: python3 cliente.py 2001:db8::5"),
            ("0.0.0.0", 5051, cert, ["192.168.0.12"], False,
             "Os alunos conectam com: python3 cliente.py 192.168.0.12 5051 --tls --cafile certificado.pem"),
            ("0.0.0.0", 5050, None, self.NONE_FOUND, False,
             "Nesta máquina, conecte com: python3 cliente.py. O IP desta máquina na rede não foi encontrado: "
             "veja-o com ip addr (no Windows, ipconfig), e das outras máquinas: python3 cliente.py <IP>"),
            ("::", 5051, None, ["192.168.0.12"], False,
             "Nesta máquina, conecte com: python3 cliente.py ::1 5051. O IP desta máquina na rede não foi "
             "encontrado: veja-o com ip addr (no Windows, ipconfig), e das outras máquinas: "
             "python3 cliente.py <IP> 5051"),
            ("192.168.0.12", 5050, None, self.FOUND, False,
             "Os alunos conectam com: python3 cliente.py 192.168.0.12"),
            ("127.0.0.1", 5050, None, self.FOUND, False, "Só conexões desta máquina: python3 cliente.py"),
            ("127.0.0.1", 40000, None, self.FOUND, False, "Só conexões desta máquina: python3 cliente.py 40000"),
            ("::1", 5050, None, self.FOUND, False, "Só conexões desta máquina: python3 cliente.py ::1"),
        ]
        for host, port, certificate, found, dual_stack, expected in cases:
            with self.subTest(host=host, port=port, found=found, dual_stack=dual_stack):
                with mock.patch.object(os_support, "wants_dual_stack", return_value=dual_stack):
                    said = how_to_connect(host, port, certificate, lambda found=found: found)
                self.assertEqual(said, expected)

    def test_the_ready_line_counts_one_account_in_the_singular(self) -> None:
        # The first start with --professor has exactly one account.
        self.assertEqual([accounts_phrase(n) for n in (0, 1, 2, 31)], ["0 contas", "1 conta", "2 contas", "31 contas"])

    def test_only_addresses_another_machine_can_reach_each_once_ipv4_first(self) -> None:
        candidates = ["fd00::2", "127.0.1.1", "192.168.0.12", "::1", "fe80::1%eth0", "0.0.0.0",
                      "192.168.0.12", "::ffff:10.0.0.9", "169.254.3.4", "não é IP"]
        self.assertEqual(
            os_support.shareable_addresses(candidates), ["192.168.0.12", "10.0.0.9", "169.254.3.4", "fd00::2"]
        )


class ServerReadyLineTest(ServerTestCase):
    def test_on_loopback_only_this_machine_connects(self) -> None:
        self.server.wait_for_log(
            rf"pronto em 127\.0\.0\.1:{self.server.port} \(0 contas em \S*users\.json\)\. "
            rf"Só conexões desta máquina: python3 cliente\.py {self.server.port}$"
        )


class WindowsConsoleCloseTest(unittest.TestCase):
    """What BatChat asks Windows to call when a console event comes (the registration
    through ctypes needs Windows: see ``os_support.on_console_close``)."""

    def setUp(self) -> None:
        self.asked: list[str] = []
        self.requested = threading.Event()
        self.finished = threading.Event()

        def stop(name: str) -> None:
            self.asked.append(name)
            self.requested.set()

        self.on_event = os_support.console_event_handler(stop, self.finished, TIMEOUT)

    def test_closed_window_asks_for_the_shutdown_and_holds_the_process_until_it_ends(self) -> None:
        returned: list[int] = []
        windows_thread = threading.Thread(target=lambda: returned.append(self.on_event(2)))  # CTRL_CLOSE_EVENT
        windows_thread.start()
        self.assertTrue(self.requested.wait(TIMEOUT))
        self.assertEqual(self.asked, ["CTRL_CLOSE_EVENT"])
        self.assertTrue(windows_thread.is_alive(), "returning lets Windows end the process mid-shutdown")
        self.finished.set()
        windows_thread.join(TIMEOUT)
        self.assertEqual(returned, [1])

    def test_ctrl_c_ctrl_break_and_log_off_go_on_to_the_next_handler(self) -> None:
        """Python's own makes Ctrl-C and Ctrl-Break signals; a log-off reaches a server run
        as a service whoever logs off, and must not stop it."""
        events = (0, 1, 5)  # CTRL_C_EVENT, CTRL_BREAK_EVENT, CTRL_LOGOFF_EVENT
        self.assertEqual([self.on_event(event) for event in events], [0, 0, 0])
        self.assertEqual(self.asked, [])


class StartUpErrorTest(unittest.TestCase):
    """What a person reads when the server cannot start: what happened, and what to do."""

    def setUp(self) -> None:
        self.folder = temporary_folder(self)

    def start(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*PYTHON, str(SERVER), "--hash-cost", TEST_HASH_COST, *args],
            cwd=self.folder, capture_output=True, text=True, timeout=TIMEOUT, stdin=subprocess.DEVNULL,
        )

    def assert_refused(self, result: subprocess.CompletedProcess[str], *phrases: str) -> None:
        self.assertEqual(result.returncode, 1, result.stderr)
        self.assertNotIn("Traceback", result.stderr)
        for phrase in phrases:
            self.assertIn(phrase, result.stderr)

    def test_port_in_use(self) -> None:
        with socket.create_server(("127.0.0.1", 0)) as taken:
            port = taken.getsockname()[1]
            result = self.start("--host", "127.0.0.1", "--port", str(port))
        self.assert_refused(result, f"Outro programa já usa a porta {port}", "rode com --port")

    def test_host_that_does_not_resolve(self) -> None:
        result = self.start("--host", "nao-existe.invalid", "--port", "0")
        self.assert_refused(result, "O endereço nao-existe.invalid não foi encontrado", "Confira o --host")

    def test_missing_folder_is_named(self) -> None:
        missing = self.folder / "nao" / "existe"
        result = self.start("--host", "127.0.0.1", "--port", "0", "--users", str(missing / "users.json"))
        self.assert_refused(result, f"A pasta {missing.resolve()} não existe", "não inicia")
        self.assertNotIn("users.json", result.stderr.split("não existe")[0])

    def test_unwritable_folder_is_named(self) -> None:
        folder = self.folder / "somente-leitura"
        folder.mkdir()
        set_folder_writable(self, folder, False)
        self.addCleanup(set_folder_writable, self, folder, True)
        result = self.start("--host", "127.0.0.1", "--port", "0", "--users", str(folder / "users.json"))
        self.assert_refused(result, f"Não é possível gravar na pasta {folder.resolve()}", "não inicia")


class FailedStartLeavesNothingTest(unittest.TestCase):
    """A start that fails leaves its folder as it found it: no lock, no mailbox nor
    moderacao.sqlite3 (nor their -wal and -shm), no users.json; and the files that were
    there, untouched."""

    EMPTY_USERS = b'{"version": 1, "users": {\n\n}}\n'

    def setUp(self) -> None:
        self.folder = temporary_folder(self)
        self.taken = socket.create_server(("127.0.0.1", 0))
        self.addCleanup(self.taken.close)

    def start_in(self, folder: Path, *args: str) -> subprocess.CompletedProcess[str]:
        """servidor.py with its default files (in the current folder), which must refuse to start."""
        result = subprocess.run(
            [*PYTHON, str(SERVER), "--hash-cost", TEST_HASH_COST, "--host", "127.0.0.1", *args],
            cwd=folder, capture_output=True, text=True, timeout=TIMEOUT, stdin=subprocess.DEVNULL,
        )
        self.assertEqual(result.returncode, 1, result.stderr)
        self.assertNotIn("Traceback", result.stderr)
        return result

    @staticmethod
    def contents(folder: Path) -> dict[str, tuple[str, int]]:
        """Each file's name, a digest of its bytes, and when it was last written."""
        return {
            path.name: (hashlib.sha256(path.read_bytes()).hexdigest()[:16], path.stat().st_mtime_ns)
            for path in folder.iterdir()
        }

    def test_a_failed_start_leaves_the_folder_as_it_found_it(self) -> None:
        port_taken = ("--port", str(self.taken.getsockname()[1]))
        cases = [  # (what fails, the files there before, the options)
            ("porta ocupada", {}, port_taken),
            ("porta ocupada, com arquivos de antes",
             {"users.json": self.EMPTY_USERS, "users.json.lock": b""}, port_taken),
            ("users.json danificado", {"users.json": b'{"version": 1, "users": {'}, ("--port", "0")),
            ("mailbox.sqlite3 danificado", {"mailbox.sqlite3": b"isto n\xe3o \xe9 SQLite" * 200}, ("--port", "0")),
            ("moderacao.sqlite3 danificado", {"moderacao.sqlite3": b"isto n\xe3o \xe9 SQLite" * 200}, ("--port", "0")),
        ]
        for what, files, options in cases:
            with self.subTest(what):
                folder = self.folder / what.replace(" ", "-")
                folder.mkdir()
                for name, data in files.items():
                    (folder / name).write_bytes(data)
                before = self.contents(folder)
                self.start_in(folder, *options)
                self.assertEqual(self.contents(folder), before)


class ClientFirstContactTest(unittest.TestCase):
    def test_host_that_does_not_resolve(self) -> None:
        result = subprocess.run(
            [*PYTHON, str(CLIENT), "--host", "nao-existe.invalid"],
            capture_output=True, text=True, timeout=TIMEOUT, stdin=subprocess.DEVNULL,
        )
        self.assertEqual(result.returncode, 1, result.stderr)
        self.assertIn("Não foi possível encontrar o servidor nao-existe.invalid", result.stderr)
        self.assertIn("Confira o --host", result.stderr)
        self.assertNotIn("Traceback", result.stderr)


def old_pythons() -> list[str]:
    """Pythons older than 3.10 on this machine that run (pyenv's, or on PATH)."""
    found = []
    pyenv_root = os.environ.get("PYENV_ROOT") or str(Path.home() / ".pyenv")
    for pattern in ("2.7.*", "3.[0-9].*"):
        for version in sorted(Path(pyenv_root, "versions").glob(pattern)):
            found.append(str(version / "bin" / "python"))
    for name in ("python3.9", "python3.8", "python3.7", "python3.6", "python2.7"):
        if (path := shutil.which(name)) and "shims" not in Path(path).parts and path not in found:
            found.append(path)
    return [path for path in found if runs(path)]


def runs(python: str) -> bool:
    try:
        return subprocess.run([python, "-c", "pass"], capture_output=True, timeout=TIMEOUT).returncode == 0
    except OSError:
        return False


class OldPythonTest(unittest.TestCase):
    """A Python older than 3.10 gets one Portuguese line and status 2, nothing else."""

    def setUp(self) -> None:
        self.pythons = old_pythons()
        if not self.pythons:
            self.skipTest("no Python older than 3.10 on this machine")

    def run_old(self, python: str, *args: str) -> subprocess.CompletedProcess[str]:
        """``python args`` in the repository's folder, writing no bytecode there."""
        return subprocess.run(
            [python, *args], capture_output=True, text=True, timeout=TIMEOUT, stdin=subprocess.DEVNULL,
            cwd=ROOT, env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"},
        )

    def assert_one_sentence(self, result: subprocess.CompletedProcess[str]) -> None:
        self.assertEqual(result.returncode, 2, result.stderr)
        self.assertEqual(result.stdout, "")
        lines = result.stderr.splitlines()
        self.assertEqual(len(lines), 1, result.stderr)
        self.assertIn("precisa do Python 3.10 ou mais novo", lines[0])
        self.assertIn("python3 --version", lines[0])

    def test_old_python_gets_one_portuguese_line(self) -> None:
        for python in self.pythons:
            for program in (SERVER, CLIENT):
                with self.subTest(python=python, program=program.name):
                    self.assert_one_sentence(self.run_old(python, str(program), "--help"))

    def test_old_python_running_the_tests_gets_the_same_line(self) -> None:
        """``python -m unittest`` imports tests/__init__.py first, which says it and ends the
        run. Python 2.7's ``-m unittest`` with no words imports nothing at all (it runs
        0 tests): its ``discover`` is what reaches the package."""
        for python in self.pythons:
            python2 = self.run_old(python, "-c", "import sys; sys.exit(sys.version_info[0])").returncode == 2
            for words in ("discover" if python2 else "", "tests.test_server"):
                command = ["-m", "unittest", *words.split()]
                with self.subTest(python=python, command=" ".join(command)):
                    self.assert_one_sentence(self.run_old(python, *command))
