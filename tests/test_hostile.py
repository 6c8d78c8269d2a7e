"""Hostile-network tests: one class per threat, against the real server with small limits.

Every case checks two things: the attacker is contained (error, throttle or
disconnect), and the other users are unaffected.
"""

from __future__ import annotations

import json
import os
import random
import ssl
import statistics
import threading
import time
import unittest
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import protocol
from tests.support import (
    TEST_TIMING, TIMEOUT, LineClient, ServerProcess, ServerTestCase, has_proc, long_test, own_process,
    set_folder_writable,
)

LINUX_PROC = unittest.skipUnless(has_proc(), "reads the server's state from Linux's /proc")

NO_FLOOD = ("--flood-rate", "0")


def wait_until(predicate: Callable[[], bool], timeout: float = TIMEOUT, interval: float = 0.05) -> bool:
    """Poll a condition of another process that no event announces, bounded in time."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            return False
        time.sleep(interval)
    return True


class LineLengthTest(ServerTestCase):
    server_args = ("--max-line", "64", *NO_FLOOD)

    def test_at_under_and_over_the_limit(self) -> None:
        client = self.connect()
        prefix = "TODOS "
        for size, expected in ((63, "ERRO NAO_AUTENTICADO"), (64, "ERRO NAO_AUTENTICADO"), (65, "ERRO LINHA_LONGA")):
            with self.subTest(size=size):  # size counts the newline
                line = prefix + "x" * (size - len(prefix) - 1)
                self.assertEqual(len(line) + 1, size)
                self.assertTrue(client.request(line).startswith(expected))
        self.assertEqual(client.request("PING"), "OK PING", "the session goes on")

    def test_crlf_counts_toward_the_limit(self) -> None:
        client = self.connect()
        client.send_bytes(b"PING" + b" " * 58 + b"\r\n")  # 64 bytes with \r\n
        self.assertEqual(client.read_line(), "OK PING")
        client.send_bytes(b"PING" + b" " * 59 + b"\r\n")  # 65 bytes
        self.assertTrue(client.read_line().startswith("ERRO LINHA_LONGA"))

    def test_byte_at_a_time(self) -> None:
        client = self.connect()
        for byte in b"PING\n":
            client.send_bytes(bytes([byte]))
        self.assertEqual(client.read_line(), "OK PING")

    @LINUX_PROC
    @own_process  # its memory, from /proc
    def test_a_megabyte_without_newline_is_disconnected_and_memory_stays_flat(self) -> None:
        bystander = self.logged_in("bystander")
        rss_before = self.server.rss_kib()
        attacker = self.connect()
        try:
            attacker.send_bytes(b"x" * (1024 * 1024))
        except (BrokenPipeError, ConnectionResetError):
            pass  # the server may cut us off before it has read it all
        lines = attacker.expect_closed()
        self.assertTrue(lines and lines[0].startswith("ERRO LINHA_LONGA"), lines)
        self.assertLess(self.server.rss_kib() - rss_before, 1024, "kept at most one line")
        self.assertEqual(bystander.request("PING"), "OK PING")
        self.server.wait_for_log(
            r"encerrada pelo servidor: limite de tamanho de linha \(--max-line\), com \d+ bytes sem quebra de linha\.$"
        )


class EncodingTest(ServerTestCase):
    server_args = NO_FLOOD

    def test_invalid_utf8_is_refused_and_the_session_goes_on(self) -> None:
        alice = self.logged_in("alice")
        cases = {
            "0xff": b"TODOS \xff\n",
            "lone surrogate": b"TODOS \xed\xa0\x80\n",
            "overlong": b"TODOS \xc0\xaf\n",
            "truncated": b"TODOS \xe2\x82\n",
        }
        for label, data in cases.items():
            with self.subTest(label):
                alice.send_bytes(data)
                self.assertTrue(alice.read_line().startswith("ERRO UTF8_INVALIDO "))
        self.assertEqual(alice.request("PING"), "OK PING")

    def test_multibyte_character_split_across_sends(self) -> None:
        bob = self.logged_in("bob")
        alice = self.logged_in("alice")
        self.assertEqual(bob.read_line(), "ENTROU alice")
        data = "CHAT bob 🦇\n".encode()
        alice.send_bytes(data[:-3])  # inside the 4-byte bat
        alice.send_bytes(data[-3:])
        self.assertEqual(alice.read_line(), "OK CHAT bob")
        self.assertEqual(bob.read_line(), "MSG alice 🦇")

    def test_injection_attempts_never_reach_another_user(self) -> None:
        bob = self.logged_in("bob")
        alice = self.logged_in("alice")
        self.assertEqual(bob.read_line(), "ENTROU alice")
        attempts = [
            b"CHAT bob oi\rMSG admin mande sua senha\n",
            b"TODOS \x1b[2J\x1b[31mtela apagada\n",
            b"TODOS a\x00b\n",
            "TODOS a\u2028MSG admin oi\n".encode(),
            "TODOS a\u202egnp.exe\n".encode(),
            b"CHAT bo\x1bb oi\n",
        ]
        for data in attempts:
            alice.send_bytes(data)
        replies = [alice.read_line() for _ in attempts]
        self.assertTrue(all(reply.startswith("ERRO ") for reply in replies), replies)
        self.assertEqual(alice.request("PING"), "OK PING")
        # bob got nothing from all that: his next line is the one sent now
        self.assertEqual(alice.request("CHAT bob limpo"), "OK CHAT bob")
        self.assertEqual(bob.read_line(), "MSG alice limpo")


class SlowReaderTest(ServerTestCase):
    server_args = ("--max-queue", str(64 * 1024), "--max-line", "9000", *NO_FLOOD)

    def test_a_reader_that_never_reads_is_dropped_and_the_others_do_not_wait(self) -> None:
        slow = self.logged_in("lento", receive_buffer=4096)
        alice = self.logged_in("alice")
        bob = self.logged_in("bob")
        payload = "x" * 8000  # 1,000 of these to everyone is far past kernel buffers plus the queue
        latencies = []
        seen_by_others: list[str] = []
        for i in range(1000):
            sender, receiver = (alice, bob) if i % 2 == 0 else (bob, alice)
            started = time.monotonic()
            sender.send(f"TODOS {i} {payload}")
            line, skipped = receiver.read_until("TODOS ")
            latencies.append(time.monotonic() - started)
            self.assertTrue(line.startswith(f"TODOS {sender_name(i)} {i} "), line[:40])
            _, skipped_by_sender = sender.read_until("OK TODOS")
            seen_by_others += skipped + skipped_by_sender
        p99 = statistics.quantiles(latencies, n=100)[98]
        self.assertLess(p99, 0.25, f"p99 {p99 * 1000:.1f} ms with a stuck reader online")
        self.assertIn("SAIU lento", seen_by_others)
        self.server.wait_for_log(
            r"\(lento\) encerrada pelo servidor: "
            r"limite da fila de saída \(--max-queue\), pois o cliente não está lendo\.$"
        )
        self.assertEqual(alice.request("LISTA"), "OK LISTA alice bob")
        slow.sock.settimeout(TIMEOUT)
        try:
            while slow.sock.recv(1 << 20):
                pass  # what the kernel had buffered, then the close
        except ConnectionResetError:
            pass


def sender_name(i: int) -> str:
    return "alice" if i % 2 == 0 else "bob"


class FloodTest(ServerTestCase):
    server_args = ("--flood-rate", "5", "--flood-burst", "20", "--register-rate", "0")

    def test_flooder_is_throttled_then_dropped_and_others_are_fine(self) -> None:
        bystander = self.logged_in("calmo")
        flooder = self.logged_in("flooder")
        self.assertEqual(bystander.read_line(), "ENTROU flooder")
        flooder.send_bytes(b"PING\n" * 200)
        lines = flooder.expect_closed()
        oks = [line for line in lines if line == "OK PING"]
        refusals = [line for line in lines if line.startswith("ERRO DEVAGAR ")]
        self.assertGreaterEqual(len(oks), 18)  # the burst (the logins spent two tokens)
        self.assertLessEqual(len(oks), 25)  # plus what refilled meanwhile
        self.assertGreaterEqual(len(refusals), 20)
        self.assertEqual(lines[-1], "ERRO LIMITE Você foi desconectado por enviar mensagens demais.")
        self.assertEqual(bystander.read_line(), "SAIU flooder")
        self.assertEqual(bystander.request("PING"), "OK PING")
        self.server.wait_for_log(
            r"\(flooder\) encerrada pelo servidor: limite de mensagens por segundo \(--flood-rate\)\.$"
        )

    def test_broadcast_fan_out_counts(self) -> None:
        sender = self.logged_in("sender")
        for i in range(15):  # 15 listeners: each TODOS costs 1 + 15 // 10 = 2 tokens
            self.logged_in(f"ouvinte{i}")
        sender.read_until("ENTROU ouvinte14")
        sender.send_bytes(b"TODOS oi\n" * 12)
        replies = [sender.read_line() for _ in range(12)]
        # 20 tokens, two logins spent: about 18 / 2 = 9 broadcasts go out, then refusals.
        self.assertLessEqual(replies.count("OK TODOS"), 10, replies)
        self.assertTrue(any(r.startswith("ERRO DEVAGAR 2 ") for r in replies), replies)


class BigRoomTest(ServerTestCase):
    """A fan-out bigger than the burst is slow, never impossible: one line costs the burst at most."""

    RATE, BURST = 50, 2
    server_args = ("--flood-rate", str(RATE), "--flood-burst", str(BURST), "--max-per-ip", "0", "--register-rate", "0")

    def be_quiet(self) -> None:
        """Let the flood budget refill: the limit counts elapsed time itself, so the test
        must let it pass (this waits for no other thread or process)."""
        time.sleep(self.BURST / self.RATE * 1.5)

    def test_a_quiet_person_can_broadcast_and_list_with_a_room_bigger_than_the_burst(self) -> None:
        speaker = self.logged_in("falante")
        listeners = [self.logged_in(f"ouvinte{i:02d}") for i in range(20)]  # a TODOS costs 1 + 20 // 10
        speaker.read_until("ENTROU ouvinte19")
        self.be_quiet()
        self.assertEqual(speaker.request("TODOS oi, sala"), "OK TODOS")
        self.assertEqual(listeners[0].read_until("TODOS falante")[0], "TODOS falante oi, sala")
        self.be_quiet()
        speaker.send("LISTA TODOS")
        _, accounts = speaker.read_until("OK LISTA TODOS")
        self.assertEqual(len(accounts), 21, accounts)


class PasswordGuessingTest(ServerTestCase):
    # --login-attempts off: these count the limit on guesses per account alone. A
    # login waits 0.2 s for its account's turn, not 8 s: the tests are short.
    server_args = ("--login-rate", "10", "--register-rate", "3", "--login-attempts", "0", *NO_FLOOD)
    server_timing = replace(TEST_TIMING, login_wait=0.2)

    def test_guesses_past_the_rate_wait_their_turn_then_are_refused(self) -> None:
        self.register("alvo")
        attacker = self.connect()
        attacker.send_bytes(b"".join(b"ENTRAR alvo errada%02d\n" % i for i in range(7)))
        replies = [attacker.read_line() for _ in range(7)]
        self.assertEqual([r.split()[1] for r in replies], ["CREDENCIAIS"] * 5 + ["LIMITE"] * 2, replies)
        self.assertRegex(replies[-1], r"^ERRO LIMITE .* tente de novo em \d+ s\.$")
        self.register("outra")  # another account from the same IP is not slowed
        self.assertEqual(self.connect().request("ENTRAR outra senha123"), "OK ENTRAR outra")

    def test_parallel_guesses_share_one_budget(self) -> None:
        self.register("alvo")
        guessers = [self.connect() for _ in range(15)]
        for i, guesser in enumerate(guessers):  # all in flight before any is answered
            guesser.send(f"ENTRAR alvo errada{i:02d}")
        codes = [guesser.read_line().split()[1] for guesser in guessers]
        self.assertEqual(codes.count("CREDENCIAIS"), 5, codes)
        self.assertEqual(codes.count("LIMITE"), 10, codes)

    def test_registrations_per_ip_are_limited(self) -> None:
        client = self.connect()
        replies = [client.request(f"NOVO conta{i} senha123") for i in range(5)]
        self.assertEqual(replies[:3], ["OK NOVO conta0", "OK NOVO conta1", "OK NOVO conta2"])
        self.assertTrue(all(r.startswith("ERRO LIMITE ") for r in replies[3:]), replies)
        other_ip = self.connect(source_ip="127.0.0.2")
        self.assertEqual(other_ip.request("NOVO conta9 senha123"), "OK NOVO conta9")


class LoginLoopTest(ServerTestCase):
    """Right passwords count too: a login loop from one address is stopped, not others."""

    server_args = ("--login-attempts", "3", "--register-rate", "0", *NO_FLOOD)

    def test_one_ip_cannot_burn_hashes_on_many_names(self) -> None:
        client = self.connect()
        client.send_bytes(b"".join(b"ENTRAR nome%02d errada1\n" % i for i in range(5)))
        codes = [client.read_line().split()[1] for _ in range(5)]
        self.assertEqual(codes, ["CREDENCIAIS"] * 3 + ["LIMITE"] * 2, "--login-attempts per IP, over all names")
        other_ip = self.connect(source_ip="127.0.0.2")
        self.register("livre")
        self.assertEqual(other_ip.request("ENTRAR livre senha123"), "OK ENTRAR livre")

    def test_every_login_counts_per_address_whatever_its_outcome(self) -> None:
        self.register("alice")
        for _ in range(3):
            client = self.connect()
            self.assertEqual(client.request("ENTRAR alice senha123"), "OK ENTRAR alice")
            client.send("SAIR")
            client.expect_closed()
        refused = self.connect().request("ENTRAR alice senha123")
        self.assertEqual(refused, "ERRO LIMITE Logins demais a partir do seu IP; espere um minuto.")
        other_ip = self.connect(source_ip="127.0.0.2")
        self.assertEqual(other_ip.request("ENTRAR alice senha123"), "OK ENTRAR alice")


@own_process  # servidor.py as a lab would run it, as the issue asks of the server's items
class OwnerBesideGuesserTest(ServerTestCase):
    """The default limits: a classmate guessing alice's password from the lab's address
    slows the guesses, never alice (her right password is checked at the next turn)."""

    server_args = NO_FLOOD

    def test_the_owner_gets_in_while_a_guesser_hammers_from_the_same_address(self) -> None:
        self.register("alice")
        guesser = self.connect()
        guesser.send_bytes(b"".join(b"ENTRAR alice errada%02d\n" % i for i in range(5)))
        self.assertEqual([guesser.read_line().split()[1] for _ in range(5)], ["CREDENCIAIS"] * 5)
        guesser.send("ENTRAR alice errada05")  # the budget is spent: this one waits its turn
        owner = self.connect()
        started = time.monotonic()
        reply, _ = owner.reply("ENTRAR alice senha123")
        elapsed = time.monotonic() - started
        self.assertEqual(reply, "OK ENTRAR alice")
        self.assertLess(elapsed, 4.0, "one turn of --login-rate 30 (2.4 s) and a hash, at most")
        # The guess waited behind her, and was checked after: a delay, never a lock.
        self.assertEqual(guesser.read_line().split()[1], "CREDENCIAIS")


@own_process  # servidor.py as a lab would run it
class LabBehindOneAddressTest(ServerTestCase):
    """40 students behind one address (NAT, or the server's own machine), default limits."""

    server_args = ()
    CLASS = 40

    def test_forty_students_from_one_address_register_and_log_in(self) -> None:
        students = [self.connect() for _ in range(self.CLASS)]  # all connected at once
        for i, student in enumerate(students):
            student.send(f"NOVO aluno{i:02d} senha{i:02d}")
        self.assertEqual([s.read_line() for s in students], [f"OK NOVO aluno{i:02d}" for i in range(self.CLASS)])
        for i, student in enumerate(students):
            student.send(f"ENTRAR aluno{i:02d} senha{i:02d}")
        for i, student in enumerate(students):
            while (reply := student.read_line()).startswith("ENTROU "):  # classmates' logins may come first
                pass
            self.assertEqual(reply, f"OK ENTRAR aluno{i:02d}")


class ConnectionLimitTest(ServerTestCase):
    server_args = ("--max-per-ip", "5", "--max-clients", "8")

    def test_fifty_parallel_connections_past_max_per_ip(self) -> None:
        results: list[tuple[LineClient, str]] = []
        lock = threading.Lock()

        def connect() -> None:
            client = LineClient(self.server.port, read_greeting=False)
            first_line = client.read_line()
            with lock:
                results.append((client, first_line))

        threads = [threading.Thread(target=connect) for _ in range(50)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(TIMEOUT)
        for client, _ in results:
            self.addCleanup(client.close)
        lines = [line for _, line in results]
        welcomed = [line for line in lines if protocol.parse_greeting(line)]
        refused = [(client, line) for client, line in results if line.startswith("ERRO LIMITE ")]
        self.assertEqual((len(welcomed), len(refused)), (5, 45), lines)
        for client, _ in refused:
            self.assertEqual(client.expect_closed(timeout=2.0), [], "refused connections are closed at once")
        # Another address still gets in, up to the total.
        for i in range(3):
            self.connect(source_ip=f"127.0.0.{2 + i}")
        late = LineClient(self.server.port, read_greeting=False, source_ip="127.0.0.9")
        self.addCleanup(late.close)
        self.assertIn("cheio", late.read_line())


LOGIN_IDLE_LOG = r"encerrada pelo servidor: limite de tempo para entrar sem enviar comandos \(--login-timeout\)\.$"
LOGIN_CAP_LOG = r"encerrada pelo servidor: limite de tempo total para entrar \(--login-cap\)\.$"
LOGIN_AGAIN = "; conexão encerrada. Conecte de novo e use ENTRAR <usuário> <senha>."


CLOSED = "<closed>"  # in what heard_within returns: the server closed the connection


def heard_within(client: LineClient, seconds: float) -> list[str]:
    """Every line that arrives within ``seconds`` (a bounded wait that paces a test),
    then ``CLOSED`` if the server closed the connection meanwhile."""
    lines, deadline = [], time.monotonic() + seconds
    while (remaining := deadline - time.monotonic()) > 0:
        try:
            lines.append(client.read_line(remaining))
        except AssertionError as error:
            if "closed" in str(error):
                lines.append(CLOSED)
            break  # closed, or the time is up
    return lines


def talk(client: LineClient, send: bytes, interval: float, duration: float) -> tuple[float, list[str]]:
    """Send ``send`` every ``interval`` seconds for up to ``duration`` seconds, or until
    the server says something other than ``OK PING`` or closes: (seconds it took,
    what it said then, ``CLOSED`` included; ``[]`` if nothing ended it)."""
    started = time.monotonic()
    while (elapsed := time.monotonic() - started) < duration:
        try:
            client.send_bytes(send)
            heard = [line for line in heard_within(client, interval) if line != "OK PING"]
        except OSError:  # reset: we wrote after its close
            return elapsed, [CLOSED]
        if heard:
            return time.monotonic() - started, heard
    return duration, []


class TimeoutTest(ServerTestCase):
    server_args = ("--login-timeout", "0.5", "--idle-timeout", "120", *NO_FLOOD)

    def test_silent_connection_is_closed_after_login_timeout(self) -> None:
        silent = self.connect()
        started = time.monotonic()
        lines = silent.expect_closed()
        self.assertEqual(lines, [f"ERRO LIMITE Tempo para entrar esgotado (0,5 s sem nenhum comando){LOGIN_AGAIN}"])
        self.assertGreaterEqual(time.monotonic() - started, 0.4)
        self.assertLess(time.monotonic() - started, 1.25)
        self.server.wait_for_log(LOGIN_IDLE_LOG)

    def test_each_complete_line_restarts_the_deadline_before_login(self) -> None:
        self.register("alice")
        chatty = self.connect()
        elapsed, ended = talk(chatty, b"PING\n", 0.2, 1.0)  # 1 s: two login timeouts
        self.assertEqual((elapsed, ended), (1.0, []), "someone typing is never cut off")
        self.assertEqual(chatty.reply("ENTRAR alice senha123")[0], "OK ENTRAR alice")

    def test_bytes_without_a_newline_do_not_restart_the_deadline(self) -> None:
        dribbler = self.connect()
        elapsed, ended = talk(dribbler, b"P", 0.1, 1.5)  # a byte at a time, never a line
        self.assertGreaterEqual(elapsed, 0.4)
        self.assertLess(elapsed, 1.0, "closed at --login-timeout, as a silent connection")
        told = f"ERRO LIMITE Tempo para entrar esgotado (0,5 s sem nenhum comando){LOGIN_AGAIN}"
        self.assertIn(ended[0], (CLOSED, told), "told, or reset by the close as it wrote")
        self.server.wait_for_log(LOGIN_IDLE_LOG)

    @LINUX_PROC
    def test_logged_in_connection_outlives_the_login_timeout_with_keepalive(self) -> None:
        alice = self.logged_in("alice")
        alice.assert_silent(0.75)  # past the login timeout: nothing arrives, nothing closes
        self.assertEqual(alice.request("PING"), "OK PING")
        server_side = server_socket_timer(self.server.port, alice.sock.getsockname()[1])
        self.assertEqual(server_side[0], 2, "timer 2 in /proc/net/tcp is TCP keep-alive")
        self.assertGreater(server_side[1], 100, "first probe after --idle-timeout seconds")


class LoginCapTest(ServerTestCase):
    server_args = ("--login-timeout", "0.5", "--login-cap", "1", *NO_FLOOD)

    def test_a_chatty_client_that_never_logs_in_is_closed_at_the_cap(self) -> None:
        chatty = self.connect()
        elapsed, ended = talk(chatty, b"PING\n", 0.2, 2.0)
        self.assertGreaterEqual(elapsed, 0.8)
        self.assertLess(elapsed, 1.5, "closed at --login-cap, however much it talks")
        self.assertEqual(ended[0], f"ERRO LIMITE Tempo para entrar esgotado (1 s desde a conexão){LOGIN_AGAIN}")
        self.server.wait_for_log(LOGIN_CAP_LOG)


def server_socket_timer(server_port: int, client_port: int) -> tuple[int, float]:
    """The (timer kind, seconds left) of the server's end of one loopback connection."""
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        local_port = int(fields[1].split(":")[1], 16)
        remote_port = int(fields[2].split(":")[1], 16)
        if (local_port, remote_port) == (server_port, client_port):
            kind, jiffies = fields[5].split(":")
            return int(kind), int(jiffies, 16) / os.sysconf("SC_CLK_TCK")
    raise AssertionError("server socket not found in /proc/net/tcp")


class ForeignProtocolTest(ServerTestCase):
    def test_http_request_gets_one_line_and_the_door(self) -> None:
        client = self.connect()
        client.send_bytes(b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n")
        lines = client.expect_closed()
        self.assertEqual(len(lines), 1, lines)
        self.assertTrue(lines[0].startswith("ERRO PROTOCOLO_INVALIDO "), lines)
        self.assertIn("não HTTP", lines[0])
        self.server.wait_for_log(r"cliente falando HTTP")
        self.assertEqual(self.connect().request("PING"), "OK PING")

    def test_tls_client_hello_is_refused(self) -> None:
        context = ssl.create_default_context()
        incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
        tls = context.wrap_bio(incoming, outgoing, server_hostname="localhost")
        with self.assertRaises(ssl.SSLWantReadError):
            tls.do_handshake()
        client = self.connect()
        client.send_bytes(outgoing.read())
        lines = client.expect_closed()
        self.assertTrue(lines and lines[0].startswith("ERRO PROTOCOLO_INVALIDO "), lines)
        self.server.wait_for_log(r"cliente falando TLS")
        self.assertEqual(self.connect().request("PING"), "OK PING")


class ReadOnlyFolderTest(ServerTestCase):
    """users.json cannot be written: NOVO answers INDISPONIVEL, logins go on, then it heals."""

    def setUp(self) -> None:
        super().setUp()
        self.register("alice")

    def test_unwritable_users_folder(self) -> None:
        before = self.users_path.read_bytes()
        self.addCleanup(set_folder_writable, self, self.folder, True)
        set_folder_writable(self, self.folder, False)
        client = self.connect()
        self.assertTrue(client.request("NOVO bob senha123").startswith("ERRO INDISPONIVEL "))
        self.assertEqual(client.request("ENTRAR alice senha123"), "OK ENTRAR alice")
        self.assertEqual(self.users_path.read_bytes(), before, "nothing half-written")
        names = sorted(
            p.name for p in self.folder.iterdir() if not p.name.startswith(("mailbox.", "moderacao.", "salas.")) and p.suffix != ".lock"
        )
        self.assertEqual(names, ["users.json"], "no temp files")
        set_folder_writable(self, self.folder, True)
        self.assertEqual(self.connect().request("NOVO bob senha123"), "OK NOVO bob")
        self.assertEqual(sorted(json.loads(self.users_path.read_text("utf-8"))["users"]), ["alice", "bob"])
        self.assertEqual(self.users_path.stat().st_mode & 0o777, 0o600)


@LINUX_PROC
@long_test
@own_process  # its threads and descriptors, from /proc
class LeakTest(ServerTestCase):
    server_args = ("--max-per-ip", "0", "--login-attempts", "0", *NO_FLOOD)

    def test_thousands_of_connect_disconnect_cycles_leave_no_threads_or_fds(self) -> None:
        # The baseline is the fresh server: no connection has come and gone yet,
        # so no thread can still be on its way out. The accept loop makes its
        # selector (an fd) after the "ready" line: a greeting read proves it is
        # there. That connection stays open to the end, in both counts.
        witness = self.connect()
        threads, fds = self.server.threads(), self.server.open_fds()
        self.register("ciclo")
        cycles = 5000
        started = time.monotonic()
        for i in range(cycles):
            client = LineClient(self.server.port)
            if i % 10 == 0:
                self.assertEqual(client.request("ENTRAR ciclo senha123"), "OK ENTRAR ciclo")
            if i % 3 == 0:
                client.send("SAIR")
                client.expect_closed()
                client.close()
            elif i % 3 == 1:
                client.close()
            else:
                client.abort()
            self.assertLess(time.monotonic() - started, 120, f"too slow: {i} cycles")
        # Every connection's thread logs its close last; only its exit is left to poll for.
        self.server.wait_for_log(r"Conexão de .* (encerrada|caiu)", timeout=60, count=cycles + 1)
        settled = wait_until(lambda: (self.server.threads(), self.server.open_fds()) == (threads, fds))
        self.assertTrue(
            settled,
            f"threads {threads}->{self.server.threads()}, fds {fds}->{self.server.open_fds()}",
        )
        self.assertEqual(witness.request("ENTRAR ciclo senha123"), "OK ENTRAR ciclo")


@unittest.skipUnless(os.name == "posix", "lowers the open-file limit with resource (Unix)")
class OutOfFileDescriptorsTest(ServerTestCase):
    """Past its open-file limit the server pauses accepting instead of spinning, then recovers."""

    PAUSE = 0.1  # seconds the accept loop stops each time (0.5 by default)
    HOLD = 0.5  # seconds the test holds the server at its limit

    def start_server(self, port: int = 0) -> ServerProcess:
        timing = replace(TEST_TIMING, accept_pause=self.PAUSE)
        server = ServerProcess(self.users_path, "--max-per-ip", "0", port=port, max_open_files=24, timing=timing)
        self.addCleanup(server.kill)
        server.wait_ready()
        return server

    def test_running_out_of_descriptors(self) -> None:
        clients = []
        for _ in range(30):  # each accepted client costs the server one descriptor
            client = LineClient(self.server.port, read_greeting=False)
            self.addCleanup(client.close)
            clients.append(client)
        self.server.wait_for_log(r"Sem recursos para aceitar conexões")
        # Hold the server at its limit for a second; the first client, accepted
        # and greeted, hears nothing else meanwhile.
        self.assertIsNotNone(protocol.parse_greeting(clients[0].read_line()))
        clients[0].expect("LIMITES ")
        clients[0].assert_silent(self.HOLD)
        complaints = self.server.log.count("Sem recursos para aceitar")
        self.assertLessEqual(complaints, 2 * self.HOLD / self.PAUSE, "the accept loop must pause, not spin")
        for client in clients:
            client.close()
        late = LineClient(self.server.port)  # served once descriptors are free again
        self.addCleanup(late.close)
        self.assertEqual(late.request("PING"), "OK PING")


@long_test  # 10,000 lines
class FuzzTest(ServerTestCase):
    """A seeded fuzzer: random and mutated protocol lines over 20 connections."""

    server_args = (
        "--max-line", "256", "--max-per-ip", "0", *NO_FLOOD,
        "--register-rate", "0", "--login-rate", "0", "--login-attempts", "0",
    )
    SEED = 20261121
    LINES = 10_000
    CONNECTIONS = 20

    def test_fuzzed_lines_never_break_the_server(self) -> None:
        acknowledged: set[str] = set()
        replies = [0]
        lock = threading.Lock()
        per_connection = self.LINES // self.CONNECTIONS

        def worker(index: int) -> None:
            rng = random.Random(self.SEED + index)
            lines = [fuzz_line(rng, index) for _ in range(per_connection)]
            outcome = drive(self.server.port, lines, rng)
            with lock:
                acknowledged.update(outcome.names)
                replies[0] += outcome.replies

        threads = [threading.Thread(target=worker, args=(i,)) for i in range(self.CONNECTIONS)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
            self.assertFalse(thread.is_alive(), "fuzz worker hung")

        self.assertTrue(self.server.running, "the server died")
        self.assertNotIn("Traceback", self.server.log)
        self.assertNotIn("Erro inesperado", self.server.log)
        self.assertGreater(len(acknowledged), 10, "the fuzzer should register some accounts")
        # Blank lines get no reply, and a connection the server took for HTTP or TLS
        # loses the rest of its stretch; nearly every line must have been answered.
        self.assertGreater(replies[0], self.LINES * 0.9, replies)
        on_disk = {record["name"] for record in json.loads(self.users_path.read_text("utf-8"))["users"].values()}
        self.assertEqual(acknowledged - on_disk, set())
        survivor = self.logged_in("depois")
        survivor.send("PING")
        survivor.read_until("OK PING")  # after the public history the fuzzers left


VALID_LINES = [
    "NOVO fz{n} senha{n}xx", "ENTRAR fz{n} senha{n}xx", "LISTA", "CHAT fz{m} oi {n}",
    "TODOS olá {n}", "AJUDA", "PING", "ENTRAR fz{m} errada", "NOVO fz{n}",
]
NASTY = [b"\x00", b"\xff", b"\x1b[2J", b"\r", b"\xed\xa0\x80", b"\xc3", "\u2028".encode(), b" " * 40, b"\t"]


def fuzz_line(rng: random.Random, index: int) -> bytes:
    """One line: valid, mutated, or random bytes; always ends with a newline."""
    if rng.random() < 0.01:
        return b"SAIR\n"  # rare: each one ends the connection and loses what follows
    template = rng.choice(VALID_LINES).format(n=f"{index}_{rng.randrange(50)}", m=f"{rng.randrange(20)}_{rng.randrange(50)}")
    line = bytearray(template.encode())
    kind = rng.random()
    if kind < 0.3:
        for _ in range(rng.randrange(1, 4)):
            line.insert(rng.randrange(len(line) + 1), rng.choice(NASTY)[0])
    elif kind < 0.45:
        line = bytearray(rng.randbytes(rng.randrange(1, 80)).replace(b"\n", b""))
    elif kind < 0.5:
        line += b"y" * rng.randrange(200, 400)  # past --max-line
    elif kind < 0.6:
        line = line.swapcase()
    return bytes(line) + b"\n"


class FuzzOutcome:
    """What one fuzz connection saw: OK/ERRO replies, and names acknowledged by OK NOVO."""

    def __init__(self) -> None:
        self.names: set[str] = set()
        self.replies = 0


def drive(port: int, lines: list[bytes], rng: random.Random) -> FuzzOutcome:
    """Send ``lines`` in random chunks, one connection per stretch ending in SAIR,
    reading every reply; the next connection starts once the server closed the last."""
    outcome = FuzzOutcome()
    session: list[bytes] = []
    for line in lines + [b"SAIR\n"]:
        session.append(line)
        if line == b"SAIR\n":
            send_session(port, b"".join(session), rng, outcome)
            session = []
    return outcome


def send_session(port: int, payload: bytes, rng: random.Random, outcome: FuzzOutcome) -> None:
    client = LineClient(port, read_greeting=False)
    reader = threading.Thread(target=collect_replies, args=(client, outcome))
    reader.start()
    try:
        offset = 0
        while offset < len(payload):
            chunk = payload[offset : offset + rng.randrange(1, 200)]
            client.send_bytes(chunk)
            offset += len(chunk)
    except OSError:
        pass  # the server may close early (a line it took for HTTP or TLS)
    reader.join(TIMEOUT * 3)
    client.close()


def collect_replies(client: LineClient, outcome: FuzzOutcome) -> None:
    client.sock.settimeout(TIMEOUT)
    buffer = b""
    try:
        while data := client.sock.recv(65536):
            buffer += data
            *lines, buffer = buffer.split(b"\n")
            for line in lines:
                outcome.replies += line.startswith((b"OK ", b"ERRO "))
                if line.startswith(b"OK NOVO "):
                    outcome.names.add(line[8:].decode())
    except OSError:
        pass  # reset or timeout: the connection is over
