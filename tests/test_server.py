"""End-to-end tests: the real ``servidor.py`` as a subprocess, raw TCP clients on loopback."""

from __future__ import annotations

import base64
import json
import os
import re
import selectors
import signal
import sqlite3
import subprocess
import time
import threading
import unittest

import protocol
from batchat import prices
from batchat.client import server_lines
from tests.support import PYTHON, SERVER, TIMEOUT, LineClient, ServerTestCase, last_seen, own_process

# Runs the script named next with SIGHUP ignored, as ``nohup`` does.
AS_NOHUP = (
    "import os, runpy, signal, sys; signal.signal(signal.SIGHUP, signal.SIG_IGN); sys.argv = sys.argv[1:]; "
    "sys.path[0] = os.path.dirname(sys.argv[0]); runpy.run_path(sys.argv[0], run_name='__main__')"
)


@own_process
@unittest.skipUnless(hasattr(signal, "SIGHUP"), "no SIGHUP on this system")
class NohupTest(ServerTestCase):
    server_launcher = ("-c", AS_NOHUP)

    def test_a_server_started_with_nohup_outlives_its_terminal(self) -> None:
        """SIGHUP ignored when the server starts (``nohup``) stays ignored."""
        client = self.connect()
        self.server.process.send_signal(signal.SIGHUP)
        self.assertEqual(client.request("PING"), "OK PING")
        self.assertEqual(self.server.stop(signal.SIGTERM), 0)
        self.assertNotIn("SIGHUP", self.server.log)


class ChatStoryTest(ServerTestCase):
    def test_full_story(self) -> None:
        alice = self.logged_in("alice")
        bob = self.logged_in("Bob", "outra-senha")
        self.assertEqual(alice.read_line(), "ENTROU Bob")

        self.assertEqual(alice.request("LISTA"), "OK LISTA alice Bob")
        self.assertEqual(bob.request("lista"), "OK LISTA alice Bob")

        self.assertEqual(alice.request("CHAT bob oi, tudo bem?"), "OK CHAT Bob")
        self.assertEqual(bob.read_line(), "MSG alice oi, tudo bem?")
        self.assertEqual(bob.request("chat ALICE tudo ótimo 🦇"), "OK CHAT alice")
        self.assertEqual(alice.read_line(), "MSG Bob tudo ótimo 🦇")

        carol = self.logged_in("carol")
        self.assertEqual(alice.read_line(), "ENTROU carol")
        self.assertEqual(bob.read_line(), "ENTROU carol")
        self.assertEqual(carol.request("TODOS olá, pessoal"), "OK TODOS")
        self.assertEqual(alice.read_line(), "TODOS carol olá, pessoal")
        self.assertEqual(bob.read_line(), "TODOS carol olá, pessoal")

        carol.send("SAIR")
        self.assertEqual(carol.expect_closed(), ["OK SAIR"])
        self.assertEqual(alice.read_line(), "SAIU carol")
        self.assertEqual(bob.read_line(), "SAIU carol")
        self.assertEqual(alice.request("LISTA"), "OK LISTA alice Bob")

    def test_sair_does_not_delete_the_account(self) -> None:
        alice = self.logged_in("alice")
        alice.send("SAIR")
        self.assertEqual(alice.expect_closed(), ["OK SAIR"])
        self.logged_in("alice", register=False)

    def test_sair_before_login_closes_cleanly(self) -> None:
        client = self.connect()
        client.send("SAIR")
        self.assertEqual(client.expect_closed(), ["OK SAIR"])
        self.assertEqual(self.connect().request("AJUDA")[:5], "INFO ")
        self.assertNotIn("Traceback", self.server.log)

    def test_abrupt_disconnects_broadcast_saiu(self) -> None:
        alice = self.logged_in("alice")
        for how in ("close", "abort"):
            with self.subTest(how=how):
                bob = self.logged_in(f"bob_{how}")
                self.assertEqual(alice.read_line(), f"ENTROU bob_{how}")
                getattr(bob, how)()
                self.assertEqual(alice.read_line(), f"SAIU bob_{how}")
                self.assertEqual(alice.request("LISTA"), "OK LISTA alice")

    def test_help_lists_every_command_but_the_teachers(self) -> None:
        client = self.connect()
        client.send("ajuda")
        words = ("NOVO", "ENTRAR", "LISTA", "CHAT", "TODOS", "SAIR", "AJUDA", "PING", "SENHA", "EXCLUIR",
                 "SALAS", "FALA", "SALA")
        lines = [client.read_line() for _ in words]
        for word, line in zip(words, lines):
            self.assertTrue(line.startswith(f"INFO {word}"), line)
        self.assertEqual(client.read_line(), "OK AJUDA")


class ErrorRepliesTest(ServerTestCase):
    def test_wrong_password_and_unknown_user_look_the_same(self) -> None:
        self.register("alice")
        client = self.connect()
        wrong_password = client.request("ENTRAR alice senha-errada")
        unknown_user = client.request("ENTRAR ninguem senha-errada")
        self.assertTrue(wrong_password.startswith("ERRO CREDENCIAIS "), wrong_password)
        self.assertEqual(wrong_password, unknown_user)

    def test_error_codes(self) -> None:
        alice = self.logged_in("alice")
        anonymous = self.connect()
        cases = [
            (anonymous, "LISTA", "NAO_AUTENTICADO"),
            (anonymous, "CHAT alice oi", "NAO_AUTENTICADO"),
            (anonymous, "TODOS oi", "NAO_AUTENTICADO"),
            (anonymous, "FALAR oi", "COMANDO_DESCONHECIDO"),
            (anonymous, "NOVO alice", "ARGUMENTOS"),
            (anonymous, "NOVO ALICE senha123", "USUARIO_EXISTE"),
            (anonymous, "NOVO al@ce senha123", "NOME_INVALIDO"),
            (anonymous, "NOVO carla 123", "SENHA_INVALIDA"),
            (alice, "NOVO outra senha123", "JA_AUTENTICADO"),
            (alice, "ENTRAR alice senha123", "JA_AUTENTICADO"),
            (alice, "CHAT fantasma oi", "USUARIO_INEXISTENTE"),
            (alice, "CHAT bob", "ARGUMENTOS"),
            (alice, "TODOS a\x1b[2Jb", "ARGUMENTOS"),
        ]
        for client, line, code in cases:
            with self.subTest(line=line):
                self.assertTrue(client.request(line).startswith(f"ERRO {code} "))
        self.assertEqual(alice.request("LISTA"), "OK LISTA alice", "errors keep the session open")

    def test_invalid_utf8_keeps_the_session(self) -> None:
        alice = self.logged_in("alice")
        alice.send_bytes(b"TODOS \xff\xfe\n")
        self.assertTrue(alice.read_line().startswith("ERRO UTF8_INVALIDO "))
        self.assertEqual(alice.request("LISTA"), "OK LISTA alice")


class FramingTest(ServerTestCase):
    def test_byte_at_a_time_and_split_accented_character(self) -> None:
        bob = self.logged_in("bob")
        alice = self.logged_in("alice")
        self.assertEqual(bob.read_line(), "ENTROU alice")
        for byte in "CHAT bob ação 🦇\r\n".encode("utf-8"):
            alice.send_bytes(bytes([byte]))
        self.assertEqual(alice.read_line(), "OK CHAT bob")
        self.assertEqual(bob.read_line(), "MSG alice ação 🦇")

    def test_many_commands_in_one_segment(self) -> None:
        client = self.connect()
        client.send_bytes(b"NOVO ana senha123\nENTRAR ana senha123\nLISTA\nSAIR\n")
        self.assertEqual(client.expect_closed(), ["OK NOVO ana", "OK ENTRAR ana", "OK LISTA ana", "OK SAIR"])


class LimitsLineTest(ServerTestCase):
    server_args = ("--flood-rate", "2.5", "--flood-burst", "7", "--max-line", "300")

    def test_the_line_after_the_greeting_states_the_options(self) -> None:
        client = self.connect(read_greeting=False)
        self.assertEqual(client.read_line(), "BATCHAT 1 Bem-vindo ao BatChat! Digite AJUDA para ver os comandos.")
        line = client.read_line()
        self.assertEqual(line, "LIMITES 2.5 7 300 10")
        self.assertEqual(prices.parse_limits(server_lines.parse_server_line(line).fields), (2.5, 7, 300, 10))
        # The line limit counts the newline, as stated.
        self.assertEqual(client.request("PING" + " " * (300 - 5)), "OK PING")
        self.assertTrue(client.request("PING" + " " * (301 - 5)).startswith("ERRO LINHA_LONGA "))

    def test_defaults_and_no_flood_limit(self) -> None:
        self.server.stop()
        self.server_args = ("--flood-rate", "0")
        self.server = self.start_server()
        self.assertEqual(self.connect().limits_line, "LIMITES 0 20 2048 10")


class DeliveryTest(ServerTestCase):
    server_args = ("--flood-rate", "0")  # bursts of hundreds of lines are the point here
    def test_messages_from_one_sender_arrive_in_order(self) -> None:
        bob = self.logged_in("bob")
        alice = self.logged_in("alice")
        self.assertEqual(bob.read_line(), "ENTROU alice")
        count = 500
        alice.send_bytes("".join(f"CHAT bob mensagem {i}\n" for i in range(count)).encode())
        for i in range(count):
            self.assertEqual(bob.read_line(), f"MSG alice mensagem {i}")
            self.assertEqual(alice.read_line(), "OK CHAT bob")

    def test_dead_recipient_never_disconnects_the_sender(self) -> None:
        alice = self.logged_in("alice")
        bob = self.logged_in("bob")
        self.assertEqual(alice.read_line(), "ENTROU bob")
        alice.send_bytes(b"".join(b"CHAT bob %d\n" % i for i in range(100)))
        for _ in range(50):
            alice.expect("OK CHAT bob")
        bob.abort()  # mid-stream: lines for bob are in flight
        # Go on, one line at a time, until the server has noticed bob is gone:
        # sends to his dead socket fail on the way, and alice must not notice.
        replies, notices = [], []
        sent = 100
        while not (replies and replies[-1] == "OK CHAT bob GUARDADA"):  # kept for him now
            self.assertLess(sent, 5000, "the server notices a dead recipient")
            alice.send(f"CHAT bob {sent}")
            sent += 1
            while len(replies) < sent - 50:  # one reply per line; 50 were read before
                line = alice.read_line()
                (notices if line.startswith("SAIU ") else replies).append(line)
        for line in replies:
            self.assertIn(line, ("OK CHAT bob", "OK CHAT bob GUARDADA"))
        if not notices:
            notices.append(alice.read_line())
        self.assertEqual(notices, ["SAIU bob"])
        self.assertEqual(alice.request("LISTA"), "OK LISTA alice")

    def test_second_login_takes_over(self) -> None:
        bob = self.logged_in("bob")
        first = self.logged_in("alice")
        self.assertEqual(bob.read_line(), "ENTROU alice")
        second = self.connect()
        self.assertEqual(second.request("ENTRAR ALICE senha123"), "OK ENTRAR alice")
        lines = first.expect_closed()
        self.assertEqual(len(lines), 1)
        self.assertTrue(lines[0].startswith("ERRO SESSAO_SUBSTITUIDA "), lines)
        self.assertEqual(bob.request("CHAT alice ainda aí?"), "OK CHAT alice")
        self.assertEqual(second.read_line(), "MSG bob ainda aí?")
        self.assertEqual(bob.request("LISTA"), "OK LISTA alice bob", "no SAIU/ENTROU for a takeover")
        # Ended by the server, not by the client it cut off.
        self.server.wait_for_log(r"\(alice\) encerrada pelo servidor: a conta entrou em outra conexão\.$")


class LifecycleTest(ServerTestCase):
    @own_process  # SIGTERM itself, and the exit status
    def test_sigterm_says_goodbye_and_restart_on_same_port_keeps_accounts(self) -> None:
        alice = self.logged_in("alice")
        anonymous = self.connect()
        port = self.server.port
        started = time.monotonic()
        self.assertEqual(self.server.stop(signal.SIGTERM), 0)
        self.assertLess(time.monotonic() - started, 5)
        for client in (alice, anonymous):
            lines = client.expect_closed()
            self.assertEqual(len(lines), 1, lines)
            self.assertTrue(lines[0].startswith("INFO O servidor está sendo encerrado"), lines)

        self.server = self.start_server(port, own_process=False)  # the signal was the old one's
        self.assertEqual(self.server.port, port)
        self.logged_in("alice", register=False)

    @own_process  # SIGINT itself, and the exit status
    def test_sigint_stops_cleanly(self) -> None:
        self.assertEqual(self.server.stop(signal.SIGINT), 0)
        self.assertIn("Servidor encerrado.", self.server.log)

    @own_process
    @unittest.skipUnless(hasattr(signal, "SIGHUP"), "no SIGHUP on this system")
    def test_closing_the_terminal_takes_the_same_path_as_sigterm(self) -> None:
        """Closing the server's terminal window sends it SIGHUP."""
        alice = self.logged_in("alice")
        stopped_at = int(time.time())  # last-seen times go to the second
        self.assertEqual(self.server.stop(signal.SIGHUP), 0, "the same status as SIGTERM")
        lines = alice.expect_closed()
        self.assertEqual(len(lines), 1, lines)
        self.assertTrue(lines[0].startswith("INFO O servidor está sendo encerrado"), lines)
        for said in ("Sinal SIGHUP recebido.", "Encerrando o servidor...",
                     "0 mensagens privadas ainda não entregues foram guardadas.", "Servidor encerrado."):
            self.assertIn(said, self.server.log)
        seen = last_seen(self.users_path, "alice")
        self.assertTrue(seen is not None and seen >= stopped_at, seen)

    def test_log_shows_connections_and_never_passwords(self) -> None:
        alice = self.logged_in("alice", "senha-secreta-1")
        self.connect().request("ENTRAR alice senha-secreta-errada")
        alice.send("SAIR")
        alice.expect_closed()
        self.server.wait_for_log(r"Conexão de 127\.0\.0\.1:\d+ \(alice\) encerrada pelo cliente \(SAIR\)\.$")
        self.server.stop()
        log = self.server.log
        self.assertRegex(log, r"alice se conectou com o IP 127\.0\.0\.1 por meio da porta \d+\.")
        self.assertIn("Falha de login", log)
        self.assertNotIn("senha-secreta", log)
        self.assertEqual(log.count("SAIR"), 1, "one line for the end, which says it once")
        self.assertEqual(len(re.findall(r"\(alice\) encerrada", log)), 1, "one line for alice's end")
        self.assertNotIn("saiu do chat", log)

    def test_a_reset_is_logged_as_a_dropped_link(self) -> None:
        self.logged_in("bob").abort()
        self.server.wait_for_log(r"\(bob\) caiu: o cliente sumiu sem avisar \(conexão reiniciada\)\.$")

    def test_corrupt_users_file_stops_startup(self) -> None:
        self.server.stop()
        self.users_path.write_text("{ isto não é json", "utf-8")
        result = subprocess.run(
            [*PYTHON, str(SERVER), "--host", "127.0.0.1", "--port", "0",
             "--users", str(self.users_path)],
            capture_output=True, text=True, timeout=TIMEOUT, stdin=subprocess.DEVNULL,
        )
        self.assertEqual(result.returncode, 1)
        self.assertIn("corrompido", result.stderr)
        self.assertNotIn("Traceback", result.stderr)
        self.assertEqual(self.users_path.read_text("utf-8"), "{ isto não é json")

    def run_server(self, *args: str) -> subprocess.CompletedProcess[str]:
        """Run a server on this test's files to its end (it is expected to refuse to start)."""
        return subprocess.run(
            [*PYTHON, str(SERVER), "--host", "127.0.0.1", "--port", "0",
             "--users", str(self.users_path), "--hash-cost", "4", *args],
            capture_output=True, text=True, timeout=TIMEOUT, stdin=subprocess.DEVNULL,
        )

    def test_a_second_server_on_the_same_files_refuses_to_start_and_touches_nothing(self) -> None:
        self.register("alice")
        in_flight = self.folder / ".users.json.abc123.tmp"  # as if the first one were mid-write
        in_flight.write_text('{"users": {', "utf-8")
        before = self.users_path.read_bytes()
        result = self.run_server()
        self.assertEqual(result.returncode, 1, result.stderr)
        self.assertIn(
            f"Outro servidor BatChat já usa os arquivos da pasta {self.folder.resolve()}; "
            "pare-o antes, ou use outra pasta: --users <outra pasta>/users.json.",
            result.stderr,
        )
        self.assertNotIn("Traceback", result.stderr)
        self.assertTrue(in_flight.exists(), "the first server's temp file was left alone")
        self.assertEqual(self.users_path.read_bytes(), before)
        in_flight.unlink()
        self.assertEqual(self.connect().request("ENTRAR alice senha123"), "OK ENTRAR alice")

    @own_process  # SIGKILL
    def test_the_lock_of_a_killed_server_stops_nobody(self) -> None:
        self.register("alice")
        self.server.kill()
        self.assertTrue((self.folder / "users.json.lock").exists())
        self.server = self.start_server(own_process=False)  # only the killed one had to be a process
        self.logged_in("alice", register=False)

    def test_a_mailbox_used_by_another_server_is_refused_too(self) -> None:
        other = self.folder / "outra"
        other.mkdir()
        result = self.run_server("--users", str(other / "users.json"), "--mailbox", str(self.folder / "mailbox.sqlite3"))
        self.assertEqual(result.returncode, 1, result.stderr)
        self.assertIn("Outro servidor BatChat já usa", result.stderr)
        self.assertFalse((other / "users.json").exists())

    def test_damaged_files_stop_the_start_with_one_sentence(self) -> None:
        self.register("alice")
        self.server.stop()
        good = self.users_path.read_text("utf-8")
        alice_line = good.splitlines()[1]
        key = json.loads(good)["users"]["alice"]["hash"]["key"]
        short_key = base64.b64encode(base64.b64decode(key)[:31]).decode()
        mailbox = self.folder / "mailbox.sqlite3"
        with sqlite3.connect(mailbox) as db:
            db.execute("INSERT INTO waiting (recipient, sender, sent_at, text) VALUES ('alice', 'bob', 'ontem', 'oi')")
        db.close()
        damages = [
            ("users.json", good.replace('"n": 16', '"n": 1e999'), "'alice'"),
            ("users.json", '{"users": ' + "[" * 100_000 + "]" * 100_000 + "}", "aninhados demais"),
            ("users.json", good.replace(alice_line, f"{alice_line},\n{alice_line}"), "a conta 'alice' aparece duas vezes"),
            ("users.json", good.replace(key, short_key), "conta 'alice': o campo 'key' do hash tem 31 bytes"),
            ("mailbox.sqlite3", good, "registro inválido (id 1: hora inválida"),
        ]
        for damaged, content, detail in damages:
            with self.subTest(damaged=damaged, detail=detail):
                self.users_path.write_text(content, "utf-8")
                result = self.run_server()
                self.assertEqual(result.returncode, 1)
                self.assertNotIn("Traceback", result.stderr)
                (sentence,) = [line for line in result.stderr.splitlines() if "CRITICAL" in line]
                self.assertIn(damaged, sentence)
                self.assertIn(detail, sentence)
                self.assertEqual(self.users_path.read_text("utf-8"), content, "users.json is left as it was")

    def test_help_option(self) -> None:
        result = subprocess.run(
            [*PYTHON, str(SERVER), "--help"],
            capture_output=True, text=True, timeout=TIMEOUT, stdin=subprocess.DEVNULL,
        )
        self.assertEqual(result.returncode, 0)
        for option in ("--host", "--port", "--users", "--hash-cost"):
            self.assertIn(option, result.stdout)


class ConnectionThreadsTest(ServerTestCase):
    """Each connection's thread is started without waiting for it (``_thread``), and
    leaves nothing in ``threading`` behind it, even when it logs."""

    def test_connections_that_log_leave_no_thread_objects_behind(self) -> None:
        before = threading.active_count()
        with self.assertLogs("batchat.server.main", "INFO"):  # each thread logs "Nova conexão"
            clients = [self.connect() for _ in range(20)]  # at once: 20 threads, 20 idents
            for client in clients:
                self.assertEqual(client.request("PING"), "OK PING")
            for client in clients:
                client.close()
        # A log record asking each thread's name made a _DummyThread per thread, kept
        # after the thread ended: 20 more here.
        self.assertLess(threading.active_count() - before, 5)


@own_process  # SIGKILL
class DurabilityTest(ServerTestCase):
    server_args = ("--flood-rate", "0", "--register-rate", "0")
    def test_sigkill_during_registrations_loses_no_acknowledged_account(self) -> None:
        clients = [self.connect() for _ in range(10)]
        per_client = 40
        for index, client in enumerate(clients):
            client.send_bytes(
                "".join(f"NOVO u{index}_{n} senha123\n" for n in range(per_client)).encode()
            )
        acknowledged = self._collect_acknowledged(clients, kill_after=120)
        self.assertGreaterEqual(len(acknowledged), 120)
        self.assertLess(len(acknowledged), 10 * per_client, "the kill must land mid-burst")

        document = json.loads(self.users_path.read_text("utf-8"))
        missing = acknowledged - set(document["users"])
        self.assertEqual(missing, set(), "accounts acknowledged with OK NOVO but not on disk")

    def _collect_acknowledged(self, clients: list[LineClient], kill_after: int) -> set[str]:
        """Read OK NOVO replies; SIGKILL the server once ``kill_after`` have arrived."""
        acknowledged: set[str] = set()
        buffers = {client.sock: b"" for client in clients}
        deadline = time.monotonic() + TIMEOUT
        killed = False
        with selectors.DefaultSelector() as selector:
            for client in clients:
                selector.register(client.sock, selectors.EVENT_READ)
            while selector.get_map() and time.monotonic() < deadline:
                for key, _ in selector.select(timeout=max(0.0, deadline - time.monotonic())):
                    try:
                        data = key.fileobj.recv(65536)  # type: ignore[union-attr]
                    except ConnectionResetError:
                        data = b""
                    if not data:
                        selector.unregister(key.fileobj)
                        continue
                    buffers[key.fileobj] += data  # type: ignore[index]
                    *lines, buffers[key.fileobj] = buffers[key.fileobj].split(b"\n")  # type: ignore[index]
                    acknowledged.update(
                        line.split()[2].decode() for line in lines if line.startswith(b"OK NOVO ")
                    )
                if not killed and len(acknowledged) >= kill_after:
                    os.kill(self.server.process.pid, signal.SIGKILL)
                    killed = True
        self.assertTrue(killed, f"only {len(acknowledged)} acknowledgements before the deadline")
        self.server.process.wait(TIMEOUT)
        return acknowledged


if __name__ == "__main__":
    unittest.main()
