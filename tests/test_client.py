"""End-to-end tests of ``cliente.py`` driven through pipes against the real server.

With no terminal the client is a plain line filter a script can drive: no
prompt, no colour, no escape codes. The terminal side is in test_terminal.
"""

from __future__ import annotations

import re
import shlex
import signal
import socket
import subprocess

from tests.support import (
    CLIENT, FAST_RETRY, PERSONS_PYTHON, PYTHON, SERVER, TIMEOUT, ClientProcess, ServerTestCase, long_test, received_until_closed,
)

STAMP = r"\[\d\d:\d\d\] "
SSH_BANNER = b"SSH-2.0-OpenSSH_9.2\r\n"


def without_time(line: str) -> str:
    """The line with its times (of arrival, or of a message from before) as [hh:mm]."""
    return re.sub(r"\[\d\d:\d\d\]", "[hh:mm]", line)


class PricedScriptCase(ServerTestCase):
    """Scripts of lines that cost more than one token (see ``batchat.prices.line_price``) arrive
    whole: the client paces by what the server says each costs. Many logins from one
    address here: the limits on those are off; the flood limit is the point."""

    OTHER_LIMITS_OFF = ("--max-per-ip", "0", "--login-attempts", "0", "--register-rate", "0")
    SCRIPT_TIMEOUT = 6 * TIMEOUT

    def run_script(self, lines: list[str]) -> list[str]:
        """``lines`` piped into the client, logged in as alice; what it printed, without times."""
        typed = "".join(f"{line}\n" for line in ["ENTRAR alice senha123", *lines, "SAIR"])
        result = subprocess.run(
            [*PYTHON, str(CLIENT), "--port", str(self.server.port)],
            input=typed, capture_output=True, text=True, timeout=self.SCRIPT_TIMEOUT,
        )
        self.assertEqual(result.returncode, 0, result.stdout + result.stderr)
        printed = [without_time(line) for line in result.stdout.splitlines()]
        self.assertEqual([line for line in printed if "Erro" in line], [], "nothing refused for good")
        return printed


@long_test  # test_pacing.ServerInTheLoopTest asserts the same at default limits, in 0.1 s
class PricedListTest(PricedScriptCase):
    """At the server's default flood limit: 6 x 7 tokens, about 6 s."""

    server_args = PricedScriptCase.OTHER_LIMITS_OFF

    def test_six_lista_todos_with_61_accounts_are_all_answered(self) -> None:
        self.register("alice")
        for first in range(0, 60, 15):  # 15 a connection: within one flood budget
            client = self.connect()
            names = [f"conta{number}" for number in range(first, first + 15)]
            client.send_bytes("".join(f"NOVO {name} senha123\n" for name in names).encode())
            self.assertEqual({client.read_line() for _ in names}, {f"OK NOVO {name}" for name in names})
            client.close()
        printed = self.run_script(["LISTA TODOS"] * 6)
        self.assertEqual(printed.count("[hh:mm] Contas (61):"), 6)
        self.assertEqual(sum(line.startswith("  conta") for line in printed), 6 * 60)


@long_test  # test_pacing.ServerInTheLoopTest asserts the same at default limits, in 0.1 s
class PricedBroadcastTest(PricedScriptCase):
    """The default burst (20) at four times the default rate: the same prices, in a quarter
    of the time. 40 TODOS to 35 listeners cost 160 tokens: at the default 5 a second this
    takes half a minute (32 s measured; 28 s at the least). Not faster: what a retry
    takes besides the pacing's wait is not scaled, and at 50 a second it alone refilled
    enough for the old client's retries to catch up, so the test could not fail."""

    server_args = ("--flood-rate", "20", *PricedScriptCase.OTHER_LIMITS_OFF)

    def test_forty_todos_to_35_listeners_arrive_whole(self) -> None:
        self.register("alice")
        listener = self.logged_in("ouvinte0")
        for number in range(1, 35):
            self.logged_in(f"ouvinte{number}")
        count = 40
        printed = self.run_script([f"TODOS linha {number}" for number in range(count)])
        heard = [line for line in listener.read_until("SAIU alice")[1] if line.startswith("TODOS ")]
        self.assertEqual(heard, [f"TODOS alice linha {number}" for number in range(count)])
        self.assertEqual(sum(line.startswith("[hh:mm] eu: linha") for line in printed), count)


class ClientTest(ServerTestCase):
    def start_client(self, *args: str) -> ClientProcess:
        client = ClientProcess(self.server.port, *args)
        self.addCleanup(client.kill)
        client.output.wait_for(rf"^{STAMP}Conectado a 127\.0\.0\.1:\d+\. Bem-vindo ao BatChat!")
        return client

    def run_piped(self, typed: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*PYTHON, str(CLIENT), "--port", str(self.server.port)],
            input=typed, capture_output=True, text=True, timeout=TIMEOUT,
        )

    def test_piped_session_exits_zero(self) -> None:
        self.register("alice", "SenhaMista9")
        bob = self.logged_in("bob")
        result = self.run_piped("/entrar alice SenhaMista9\nTODOS Olá, Mundo\nlista\n/sair\n")
        self.assertEqual(result.returncode, 0, result.stdout + result.stderr)
        self.assertEqual(bob.read_line(), "ENTROU alice")
        self.assertEqual(bob.read_line(), "TODOS alice Olá, Mundo", "text is sent as typed")
        self.assertEqual(
            [without_time(line) for line in result.stdout.splitlines()],
            [
                f"[hh:mm] Conectado a 127.0.0.1:{self.server.port}. Bem-vindo ao BatChat! "
                "Digite AJUDA para ver os comandos.",
                "[hh:mm] Você entrou no chat como alice.",
                "[hh:mm] eu: Olá, Mundo",
                "[hh:mm] Online agora: bob e você.",
                "[hh:mm] Você saiu do chat. Até logo!",
            ],
        )
        self.assertNotIn("\x1b", result.stdout, "plain lines: no colour, no cursor moves")
        self.assertEqual(result.stderr, "")

    def test_piped_session_whose_login_failed_exits_one(self) -> None:
        """Issue 19 item 16: a script knows its login failed (a refused ENTRAR or NOVO
        typed last), even though it then left with SAIR; a login that works later wins."""
        self.register("alice")
        cases = [
            ("ENTRAR alice errada99\nSAIR\n", 1),
            ("NOVO alice outra123\n", 1),
            ("ENTRAR alice errada99\nENTRAR alice senha123\nSAIR\n", 0),
        ]
        for typed, status in cases:
            with self.subTest(typed=typed):
                result = self.run_piped(typed)
                self.assertEqual(result.returncode, status, result.stdout + result.stderr)

    def test_a_pasted_indented_block_arrives_with_its_shape(self) -> None:
        """Issue 19 item 10: indented and tab-indented lines are text, sent with their
        leading spaces (a tab as spaces to the next multiple of 4); TODOS keeps what follows
        its one separating space."""
        self.register("alice")
        bob = self.logged_in("bob")
        block = "def f(x):\n    if x:\n\treturn x\n\t\treturn -x\nTODOS     fim\n"
        result = self.run_piped(f"ENTRAR alice senha123\n{block}SAIR\n")
        self.assertEqual(result.returncode, 0, result.stdout + result.stderr)
        self.assertEqual(bob.read_line(), "ENTROU alice")
        self.assertEqual(
            [bob.read_line() for _ in range(5)],
            ["TODOS alice def f(x):", "TODOS alice     if x:", "TODOS alice     return x",
             "TODOS alice         return -x", "TODOS alice     fim"],
        )

    def test_the_issue_printf_example(self) -> None:
        """``printf 'ENTRAR alice senha123\\nTODOS oi\\nSAIR\\n' | python3 cliente.py``."""
        self.register("alice")
        bob = self.logged_in("bob")
        command = (
            f"printf 'ENTRAR alice senha123\\nTODOS oi\\nSAIR\\n' | "
            f"{shlex.join(PERSONS_PYTHON)} '{CLIENT}' --port {self.server.port}"
        )
        result = subprocess.run(
            ["sh", "-c", command], capture_output=True, text=True, timeout=TIMEOUT
        )
        self.assertEqual(result.returncode, 0, result.stdout + result.stderr)
        self.assertEqual(bob.read_line(), "ENTROU alice")
        self.assertEqual(bob.read_line(), "TODOS alice oi")
        self.assertEqual(bob.read_line(), "SAIU alice")
        self.assertRegex(result.stdout, rf"(?m)^{STAMP}eu: oi$")

    def test_kept_messages_history_and_everyone_as_a_person_reads_them(self) -> None:
        self.register("bob")
        self.register("carol")
        alice = self.logged_in("alice")
        self.assertEqual(alice.request("TODOS bom dia"), "OK TODOS")
        self.assertEqual(alice.request("CHAT bob oi, bob"), "OK CHAT bob GUARDADA")
        result = self.run_piped("ENTRAR bob senha123\nLISTA TODOS\nCHAT carol até logo\nSAIR\n")
        self.assertEqual(result.returncode, 0, result.stdout + result.stderr)
        lines = [without_time(line) for line in result.stdout.splitlines()]
        self.assertEqual(lines[1:10], [
            "[hh:mm] Você entrou no chat como bob.",
            "[enquanto você estava fora] [hh:mm] alice → eu: oi, bob",
            "[hh:mm] 1 mensagem privada esperava por você.",
            "[histórico] [hh:mm] alice: bom dia",
            "[hh:mm] Contas (3):",
            "  alice: online agora",
            "  bob: online agora",
            "  carol: offline, nunca entrou",
            "[hh:mm] eu → carol: até logo  (guardada até carol entrar)",
        ])

    def test_help_and_typo_hints_answered_locally_in_order(self) -> None:
        result = self.run_piped("?\nENTRA alice senha123\noi gente\nPING\nSAIR\n")
        self.assertEqual(result.returncode, 0, result.stdout + result.stderr)
        lines = [without_time(line) for line in result.stdout.splitlines()]
        self.assertRegex(lines[0], r"^\[hh:mm\] Conectado a 127\.0\.0\.1:\d+\. Bem-vindo ao BatChat! "
                                   r"Digite AJUDA para ver os comandos\.$", "one greeting line")
        self.assertEqual(lines[1], 'Texto sem / vai para todos: "bom dia!" é o mesmo que /todos bom dia!')
        self.assertIn(["comando", "para", "quê", "exemplo"], [line.split() for line in lines])
        self.assertIn("/chat <usuário> <mensagem>  mensagem privada             /chat bob oi!", lines)
        self.assertEqual(
            lines[-4:],
            [
                "Comando desconhecido: ENTRA. Você quis dizer /entrar?",
                "Você ainda não entrou: crie uma conta com /novo <nome> ou entre com /entrar <nome>.",
                "[hh:mm] O servidor está respondendo.",
                "[hh:mm] Até logo!",  # never logged in: nobody left the chat
            ],
            "output in the order of the input",
        )
        self.assertNotIn("senha123", result.stdout)

    def test_plain_text_reaches_everyone_as_a_public_message(self) -> None:
        self.register("alice")
        bob = self.logged_in("bob")
        result = self.run_piped(
            "ENTRAR alice senha123\ntudo ótimo e vc?\n/conversa bob\nentrar na sala\nSAIR\n"
        )
        self.assertEqual(result.returncode, 0, result.stdout + result.stderr)
        self.assertEqual(bob.read_line(), "ENTROU alice")
        self.assertEqual(bob.read_line(), "TODOS alice tudo ótimo e vc?")
        self.assertEqual(bob.read_line(), "MSG alice entrar na sala", "in a conversation: to bob only")
        self.assertRegex(result.stdout, rf"(?m)^{STAMP}eu: tudo ótimo e vc\?$")
        self.assertRegex(result.stdout, rf"(?m)^{STAMP}eu → bob: entrar na sala$")

    def test_crlf_input_works(self) -> None:
        self.register("alice")
        result = self.run_piped("ENTRAR alice senha123\r\nTODOS oi\r\nSAIR\r\n")
        self.assertEqual(result.returncode, 0, result.stdout + result.stderr)
        self.assertRegex(result.stdout, rf"(?m)^{STAMP}eu: oi$")

    def test_a_script_faster_than_the_flood_limit_is_paced_not_dropped(self) -> None:
        self.server.stop()
        self.server_args = ("--flood-rate", "50")  # 20 at once, then 50 a second (default: 5)
        self.server = self.start_server()
        self.register("alice")
        bob = self.logged_in("bob")
        count = 30  # past the burst: the last ones must wait their turn
        typed = "ENTRAR alice senha123\n" + "".join(f"TODOS {n}\n" for n in range(count)) + "SAIR\n"
        result = self.run_piped(typed)
        self.assertEqual(result.returncode, 0, result.stdout + result.stderr)
        self.assertEqual(bob.read_line(), "ENTROU alice")
        self.assertEqual([bob.read_line() for _ in range(count)], [f"TODOS alice {n}" for n in range(count)])
        self.assertNotIn("Devagar", result.stdout, "paced: the server refused none")

    def test_closed_output_ends_the_client_without_a_traceback(self) -> None:
        client = subprocess.Popen(
            [*PYTHON, str(CLIENT), "--port", str(self.server.port)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        )
        assert client.stdin and client.stdout and client.stderr
        self.assertIn(b"Conectado a", client.stdout.readline())
        client.stdout.close()  # as `| head -1` does
        client.stdin.write(b"PING\nPING\n")
        client.stdin.flush()
        self.assertEqual(client.wait(TIMEOUT), 1)
        self.assertEqual(client.stderr.read(), b"")
        client.stderr.close()
        client.stdin.close()

    def test_invalid_bytes_typed_are_reported_not_fatal(self) -> None:
        self.register("alice")
        result = subprocess.run(
            [*PYTHON, str(CLIENT), "--port", str(self.server.port)],
            input=b"ENTRAR alice senha123\n\xff\xfe oi\nLISTA\n",  # no SAIR: end of input leaves
            capture_output=True, timeout=TIMEOUT,
        )
        output = result.stdout.decode("utf-8")
        self.assertEqual(result.returncode, 0, output + result.stderr.decode("utf-8", "replace"))
        self.assertIn("não foi enviada", output)
        self.assertIn("Ninguém mais está online.", output, "the lines after it still go out")
        self.assertEqual(result.stderr, b"")

    def test_pushes_are_rendered_in_portuguese(self) -> None:
        self.register("alice")
        client = self.start_client()
        client.type("ENTRAR alice senha123")
        client.output.wait_for(rf"^{STAMP}Você entrou no chat como alice\.$")
        bob = self.logged_in("bob")
        client.output.wait_for(rf"^{STAMP}-- bob entrou no chat\.$")
        bob.send("CHAT alice oi \x1b[31m vermelho?")
        self.assertTrue(bob.read_line().startswith("ERRO ARGUMENTOS"), "the server refuses ESC")
        self.assertEqual(bob.request("CHAT alice oi, alice"), "OK CHAT alice")
        client.output.wait_for(rf"^{STAMP}bob → eu: oi, alice$")
        self.assertEqual(bob.request("TODOS olá"), "OK TODOS")
        client.output.wait_for(rf"^{STAMP}bob: olá$")
        client.type("CHAT bob até já")
        self.assertEqual(bob.read_line(), "MSG alice até já")
        client.output.wait_for(rf"^{STAMP}eu → bob: até já$")
        client.type("CHAT ninguem oi")
        client.output.wait_for(rf"^{STAMP}Erro: O usuário ninguem não existe\.$")
        bob.close()
        client.output.wait_for(rf"^{STAMP}-- bob saiu do chat\.$")
        client.type("LISTA")
        client.output.wait_for(rf"^{STAMP}Ninguém mais está online\.$")
        client.end_input()  # Ctrl-D leaves politely
        self.assertEqual(client.wait(), 0)
        self.assertNotIn("Traceback", client.output.text)

    def test_slash_r_and_privadas_in_a_script(self) -> None:
        """Issue 19 item 11 with piped input: /r answers whoever wrote privately last (or
        says no one has), /privadas lists the private lines."""
        self.register("alice")
        bob = self.logged_in("bob")
        client = self.start_client()
        client.type("ENTRAR alice senha123")
        client.output.wait_for(rf"^{STAMP}Você entrou no chat como alice\.$")
        client.type("/r tem alguém?")
        client.output.wait_for(r"^Ninguém escreveu para você no privado ainda: /r responde")
        bob.send("CHAT alice oi, alice")
        self.assertEqual(bob.read_until("OK ")[0], "OK CHAT alice")
        client.output.wait_for(rf"^{STAMP}bob → eu: oi, alice$")
        client.type("/r oi, bob")
        self.assertEqual(bob.read_until("MSG ")[0], "MSG alice oi, bob")
        client.output.wait_for(rf"^{STAMP}eu → bob: oi, bob$")
        client.type("/privadas")
        client.output.wait_for(r"^  \[\d\d:\d\d\] eu → bob: oi, bob$")
        self.assertIn("Últimas mensagens privadas (2):", client.output.text)
        client.end_input()
        self.assertEqual(client.wait(), 0)

    def assert_signal_leaves_politely(self, number: signal.Signals) -> None:
        """Logged in, the client gets ``number``: it sends SAIR and exits 0, no traceback."""
        bob = self.logged_in("bob")
        self.register("alice")
        client = self.start_client()
        client.type("ENTRAR alice senha123")
        client.output.wait_for(rf"^{STAMP}Você entrou no chat como alice\.$")
        self.assertEqual(bob.read_line(), "ENTROU alice")
        client.process.send_signal(number)
        self.assertEqual(client.wait(), 0)
        self.assertEqual(bob.read_line(), "SAIU alice", "SAIR goes out before leaving")
        self.assertNotIn("Traceback", client.output.text)

    def test_ctrl_c_leaves_cleanly(self) -> None:
        self.assert_signal_leaves_politely(signal.SIGINT)

    def test_sigterm_leaves_like_ctrl_c(self) -> None:
        self.assert_signal_leaves_politely(signal.SIGTERM)

    def test_server_closing_before_login_ends_the_client(self) -> None:
        client = self.start_client()  # never logged in: nothing to reconnect to
        self.server.stop(signal.SIGTERM)
        self.assertEqual(client.wait(), 1)
        self.assertIn("Para voltar, rode o cliente de novo.", client.output.text)

    def test_server_closing_the_connection_exits_non_zero_without_reconnect(self) -> None:
        self.register("alice")
        client = self.start_client("--no-reconnect")
        client.type("ENTRAR alice senha123")  # logged in: reconnecting would be on by default
        client.output.wait_for(rf"^{STAMP}Você entrou no chat como alice\.$")
        self.server.stop(signal.SIGTERM)
        self.assertEqual(client.wait(), 1)
        self.assertIn("O servidor encerrou a conexão.", client.output.text)
        self.assertNotIn("reconectar", client.output.text)
        self.assertNotIn("Traceback", client.output.text)

    def check_no_password_reaches(self, listener: socket.socket, client: ClientProcess) -> None:
        """A program on ``listener`` that greets with an SSH banner gets at most the blank
        line a TLS server would answer, never the password; the client ends with 1."""
        listener.settimeout(TIMEOUT)
        connection, _ = listener.accept()
        with connection:
            connection.settimeout(TIMEOUT)
            connection.sendall(SSH_BANNER)
            received = received_until_closed(connection, unless=b"senha123")
            self.assertNotIn(b"senha123", received)
            self.assertEqual(client.wait(), 1, "no reconnection loop")
        self.assertEqual(received.strip(b"\n"), b"", "at most the blank line a TLS server would answer")

    def test_a_program_that_takes_the_port_after_a_drop_gets_no_password(self) -> None:
        self.register("alice")
        client = self.start_client(*FAST_RETRY)  # reconnecting is on
        client.type("ENTRAR alice senha123")
        client.output.wait_for(rf"^{STAMP}Você entrou no chat como alice\.$")
        port = self.server.port
        self.server.stop(signal.SIGTERM)
        with socket.create_server(("127.0.0.1", port)) as stranger:  # the server's port, taken
            self.check_no_password_reaches(stranger, client)  # it tries again after 0.2 s, 0.4 s...
        output = client.output.text
        self.assertIn(f"127.0.0.1:{port} não é mais um servidor BatChat (a primeira linha foi "
                      '"SSH-2.0-OpenSSH_9.2"): outro programa deve ter ocupado a porta', output)
        self.assertNotIn("restabelecida", output)
        self.assertNotIn("Traceback", output)

    def test_logging_in_elsewhere_ends_this_client(self) -> None:
        self.register("alice")
        client = self.start_client()  # reconnecting is on, yet it must not fight back
        client.type("ENTRAR alice senha123")
        client.output.wait_for(rf"^{STAMP}Você entrou no chat como alice\.$")
        self.logged_in("alice", register=False)
        self.assertEqual(client.wait(), 1)
        self.assertIn("este cliente não vai reconectar", client.output.text)

    def test_an_ssh_server_gets_no_password_and_the_person_is_told(self) -> None:
        with socket.create_server(("127.0.0.1", 0)) as listener:
            port = listener.getsockname()[1]
            client = ClientProcess(port)
            self.addCleanup(client.kill)
            client.type("ENTRAR alice senha123")
            self.check_no_password_reaches(listener, client)
        self.assertEqual(without_time(client.output.text),
                         f'[hh:mm] 127.0.0.1:{port} não é um servidor BatChat (a primeira linha '
                         'foi "SSH-2.0-OpenSSH_9.2"), então nenhuma senha foi enviada: confira o endereço e a '
                         "porta (--host, --port).")

    def test_unreachable_server_is_explained(self) -> None:
        with socket.socket() as probe:  # a loopback port with nobody listening
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        result = subprocess.run(
            [*PYTHON, str(CLIENT), "--port", str(port)],
            stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=TIMEOUT,
        )
        self.assertEqual(result.returncode, 1)
        self.assertIn(f"Não foi possível conectar a 127.0.0.1:{port} (conexão recusada)", result.stderr)
        self.assertIn("python3 servidor.py", result.stderr)
        self.assertNotIn("Traceback", result.stderr)

    def test_host_and_port_as_plain_words(self) -> None:
        """``python3 cliente.py HOST PORT``, as the first examples (and nc, telnet) write it."""
        self.register("alice")
        result = subprocess.run(
            [*PYTHON, str(CLIENT), "127.0.0.1", str(self.server.port)],
            input="ENTRAR alice senha123\nSAIR\n", capture_output=True, text=True, timeout=TIMEOUT,
        )
        self.assertEqual(result.returncode, 0, result.stdout + result.stderr)
        self.assertRegex(result.stdout, rf"(?m)^{STAMP}Você entrou no chat como alice\.$")

    def test_help_shows_whole_numbers_whole(self) -> None:
        for program, default in ((CLIENT, "(padrão: 5050)"), (SERVER, "(padrão: 300)")):
            with self.subTest(program=program.name):
                result = subprocess.run(
                    [*PERSONS_PYTHON, str(program), "--help"],
                    stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=TIMEOUT,
                )
                self.assertEqual(result.returncode, 0, result.stderr)
                help_text = " ".join(result.stdout.split())  # as wrapped, without the line breaks
                self.assertIn(default, help_text)
                self.assertNotRegex(help_text, r"padrão: \d+\.0\)")

    def test_help_and_wrong_options_exit_cleanly(self) -> None:
        cases = [
            (["--help"], 0, "stdout", "conectar com TLS"),
            (["--bogus"], 2, "stderr", "opções desconhecidas: --bogus"),
            (["--tls-insecure", "--cafile", "ca.pem"], 2, "stderr", "não combina com --cafile"),
        ]
        for args, status, stream, message in cases:
            with self.subTest(args=args):
                result = subprocess.run(
                    [*PYTHON, str(CLIENT), *args],
                    stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=TIMEOUT,
                )
                self.assertEqual(result.returncode, status)
                self.assertIn(message, getattr(result, stream))
                self.assertNotIn("Traceback", result.stdout + result.stderr)
                self.assertNotIn("(padrão: False)", result.stdout, "flags show no default")
                self.assertNotIn("--first-retry", result.stdout, "the tests' option is hidden")
