"""End-to-end tests of ``cliente.py`` driven through pipes against the real server."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys

from tests.support import CLIENT, TIMEOUT, ClientProcess, ServerTestCase


class ClientTest(ServerTestCase):
    def start_client(self) -> ClientProcess:
        client = ClientProcess(self.server.port)
        self.addCleanup(client.kill)
        client.output.wait_for(r"^Bem-vindo ao BatChat!")
        return client

    def test_piped_session_exits_zero(self) -> None:
        self.register("alice", "SenhaMista9")
        bob = self.logged_in("bob")
        result = subprocess.run(
            [sys.executable, str(CLIENT), "--port", str(self.server.port)],
            input="entrar alice SenhaMista9\nTODOS Olá, Mundo\nLISTA\nSAIR\n",
            capture_output=True, text=True, timeout=TIMEOUT,
        )
        self.assertEqual(result.returncode, 0, result.stdout + result.stderr)
        self.assertEqual(bob.read_line(), "ENTROU alice")
        self.assertEqual(bob.read_line(), "TODOS alice Olá, Mundo", "text is sent as typed")
        self.assertEqual(
            result.stdout.splitlines(),
            [
                "Bem-vindo ao BatChat! Digite AJUDA para ver os comandos.",
                "Você entrou no chat como alice.",
                "Mensagem enviada para todos.",
                "Online agora: bob e você.",
                "Você saiu do chat. Até logo!",
            ],
        )
        self.assertEqual(result.stderr, "")

    def test_invalid_bytes_typed_are_reported_not_fatal(self) -> None:
        self.register("alice")
        result = subprocess.run(
            [sys.executable, str(CLIENT), "--port", str(self.server.port)],
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
        client.output.wait_for(r"^Você entrou no chat como alice\.$")
        bob = self.logged_in("bob")
        client.output.wait_for(r"^O cliente bob entrou no chat\.$")
        bob.send("CHAT alice oi \x1b[31m vermelho?")
        self.assertTrue(bob.read_line().startswith("ERRO ARGUMENTOS"))
        self.assertEqual(bob.request("CHAT alice oi, alice"), "OK CHAT alice")
        client.output.wait_for(r"^\[privado\] bob: oi, alice$")
        self.assertEqual(bob.request("TODOS olá"), "OK TODOS")
        client.output.wait_for(r"^\[todos\] bob: olá$")
        client.type("CHAT ninguem oi")
        client.output.wait_for(r"^Erro: O usuário ninguem não existe\.$")
        bob.close()
        client.output.wait_for(r"^bob saiu do chat\.$")
        client.type("LISTA")
        client.output.wait_for(r"^Ninguém mais está online\.$")
        client.end_input()  # Ctrl-D leaves politely
        self.assertEqual(client.wait(), 0)
        self.assertNotIn("Traceback", client.output.text)

    def test_ctrl_c_leaves_cleanly(self) -> None:
        bob = self.logged_in("bob")
        self.register("alice")
        client = self.start_client()
        client.type("ENTRAR alice senha123")
        client.output.wait_for(r"^Você entrou no chat como alice\.$")
        self.assertEqual(bob.read_line(), "ENTROU alice")
        client.process.send_signal(signal.SIGINT)
        self.assertEqual(client.wait(), 0)
        self.assertEqual(bob.read_line(), "SAIU alice", "Ctrl-C sends SAIR before leaving")
        self.assertNotIn("Traceback", client.output.text)

    def test_server_closing_the_connection_exits_non_zero(self) -> None:
        client = self.start_client()
        self.server.stop(signal.SIGTERM)
        self.assertEqual(client.wait(), 1)
        self.assertIn("O servidor encerrou a conexão.", client.output.text)
        self.assertNotIn("Traceback", client.output.text)

    def test_unreachable_server_is_explained(self) -> None:
        with socket.socket() as probe:  # a loopback port with nobody listening
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        result = subprocess.run(
            [sys.executable, str(CLIENT), "--port", str(port)],
            stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=TIMEOUT,
        )
        self.assertEqual(result.returncode, 1)
        self.assertIn(f"Não foi possível conectar a 127.0.0.1:{port}", result.stderr)
        self.assertIn("python3 servidor.py", result.stderr)
        self.assertNotIn("Traceback", result.stderr)
