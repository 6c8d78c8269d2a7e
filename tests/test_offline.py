"""End-to-end tests of what waits for people: private messages kept while they are
offline, the public history replayed at login, and LISTA TODOS with last seen."""

from __future__ import annotations

import math
import signal
import threading
import time

import protocol
from tests.support import TIMEOUT, LineClient, ServerTestCase, own_process

NO_FLOOD = ("--flood-rate", "0")
RACING_LOGINS = 4  # logins of one account at the same moment
# The log line of bob's connection, ended by the server after its close grace with lines unwritten.
BOB_TOO_SLOW = r"\(bob\) encerrada pelo servidor: o cliente não recebeu as últimas mensagens a tempo\.$"


def pending_fields(line: str) -> tuple[str, str, float | None, str]:
    """``PENDENTE alice <quando> oi`` -> ("PENDENTE", "alice", seconds, "oi")."""
    kind, sender, when, text = line.split(" ", 3)
    return kind, sender, protocol.parse_timestamp(when), text


class OfflineMessagesTest(ServerTestCase):
    server_args = NO_FLOOD

    def log_in(self, name: str) -> LineClient:
        """``name`` logged in (already registered); the kept messages still to read."""
        return self.logged_in(name, register=False)

    def read_kept(self, client: LineClient) -> list[str]:
        """The PENDENTE lines before OK ENTRAR, checked to end with the INFO that counts them."""
        *kept, info = client.login_lines
        count = len(kept)
        expected = "1 mensagem privada esperava" if count == 1 else f"{count} mensagens privadas esperavam"
        self.assertEqual(info, f"INFO {expected} por você.")
        return kept

    def test_kept_for_an_offline_user_and_delivered_at_login_in_order(self) -> None:
        self.register("bob")
        alice = self.logged_in("alice")
        carol = self.logged_in("carol")
        self.assertEqual(alice.read_line(), "ENTROU carol")
        before = time.time()
        self.assertEqual(alice.request("CHAT BOB oi, bob"), "OK CHAT bob GUARDADA")
        self.assertEqual(carol.request("CHAT bob é a carol 🦇"), "OK CHAT bob GUARDADA")
        self.assertEqual(alice.request("CHAT bob de novo"), "OK CHAT bob GUARDADA")
        after = time.time()
        self.assertTrue(alice.request("CHAT fantasma oi").startswith("ERRO USUARIO_INEXISTENTE "))

        bob = self.log_in("bob")
        kept = [pending_fields(line) for line in self.read_kept(bob)]
        self.assertEqual([(kind, sender, text) for kind, sender, _, text in kept], [
            ("PENDENTE", "alice", "oi, bob"), ("PENDENTE", "carol", "é a carol 🦇"),
            ("PENDENTE", "alice", "de novo"),
        ])
        for _, _, when, _ in kept:
            assert when is not None
            self.assertTrue(int(before) <= when <= after, (before, when, after))
        self.assertEqual(bob.request("CHAT alice recebi"), "OK CHAT alice", "then a normal session")
        self.assertEqual(alice.read_line(), "ENTROU bob")
        self.assertEqual(alice.read_line(), "MSG bob recebi")

        bob.send("SAIR")
        bob.expect_closed()
        again = self.log_in("bob")
        self.assertEqual(again.request("PING"), "OK PING", "delivered once: nothing waits any more")

    @own_process  # SIGKILL
    def test_kept_across_a_restart_and_a_sigkill(self) -> None:
        self.register("bob")
        alice = self.logged_in("alice")
        self.assertEqual(alice.request("CHAT bob antes do SIGTERM"), "OK CHAT bob GUARDADA")
        self.server.stop(signal.SIGTERM)
        self.server = self.start_server()
        alice = self.logged_in("alice", register=False)
        self.assertEqual(alice.request("CHAT bob antes do SIGKILL"), "OK CHAT bob GUARDADA")
        self.server.kill()  # no chance to flush anything: only what was durable survives
        self.server = self.start_server(own_process=False)  # only reads what the others left
        bob = self.log_in("bob")
        texts = [pending_fields(line)[3] for line in self.read_kept(bob)]
        self.assertEqual(texts, ["antes do SIGTERM", "antes do SIGKILL"])

    def test_bounded_per_recipient(self) -> None:
        self.server.stop()
        self.server_args = (*NO_FLOOD, "--max-pending", "3")
        self.server = self.start_server()
        self.register("bob")
        alice = self.logged_in("alice")
        for index in range(3):
            self.assertEqual(alice.request(f"CHAT bob {index}"), "OK CHAT bob GUARDADA")
        refused = alice.request("CHAT bob 3")
        self.assertTrue(refused.startswith("ERRO CAIXA_CHEIA "), refused)
        self.assertEqual(alice.request("LISTA"), "OK LISTA alice", "the session goes on")
        bob = self.log_in("bob")
        self.assertEqual([pending_fields(line)[3] for line in self.read_kept(bob)], ["0", "1", "2"])
        bob.send("SAIR")
        bob.expect_closed()
        self.assertEqual(alice.read_until("SAIU bob")[0], "SAIU bob")
        self.assertEqual(alice.request("CHAT bob 4"), "OK CHAT bob GUARDADA", "room again")

    def test_many_kept_messages_keep_their_order(self) -> None:
        self.register("bob")
        alice = self.logged_in("alice")
        count = 100
        alice.send_bytes("".join(f"CHAT bob mensagem {i}\n" for i in range(count)).encode())
        for _ in range(count):
            self.assertEqual(alice.read_line(), "OK CHAT bob GUARDADA")
        bob = self.log_in("bob")
        texts = [pending_fields(line)[3] for line in self.read_kept(bob)]
        self.assertEqual(texts, [f"mensagem {i}" for i in range(count)])


class AcknowledgedUnwrittenTest(ServerTestCase):
    """``OK CHAT bob`` for messages still unwritten, bob online but not reading: what
    becomes of them when the server stops, when bob's connection dies, and how many
    there may be. Every message is numbered, so order and loss are checked exactly."""

    BASE = (*NO_FLOOD, "--max-line", "32768")
    server_args = (*BASE, "--max-queue", "0", "--max-pending", "0")
    PAD = "x" * 30_000  # 300 of these are twice what loopback TCP buffers take (tcp_wmem: 4 MiB at most)

    def setUp(self) -> None:
        super().setUp()
        self.register("bob")

    def restart(self, *args: str) -> None:
        self.server.stop()
        self.server_args = (*self.BASE, *args)
        self.server = self.start_server()

    def stalled_bob_and_alice(self) -> tuple[LineClient, LineClient]:
        """bob logged in with a tiny receive window, reading nothing from now on; alice."""
        bob = self.logged_in("bob", register=False, receive_buffer=4096)
        return bob, self.logged_in("alice")

    def send_burst(self, alice: LineClient, first: int, count: int) -> list[tuple[int, str]]:
        """CHAT bob ``first``..``first + count - 1`` in one send: (number, reply) for each."""
        alice.send_bytes("".join(f"CHAT bob {i} {self.PAD}\n" for i in range(first, first + count)).encode())
        return [(i, alice.read_line()) for i in range(first, first + count)]

    @staticmethod
    def numbers(lines: list[str], kind: str) -> list[int]:
        """The message numbers of the ``kind`` lines (MSG or PENDENTE) from alice."""
        field = 2 if kind == "MSG" else 3
        return [int(line.split(" ")[field]) for line in lines if line.startswith(f"{kind} alice ")]

    def kept_for_bob(self) -> list[int]:
        """bob logs in again: the numbers of his PENDENTE lines (a live MSG is not one)."""
        bob = self.logged_in("bob", register=False)
        bob.send("PING")
        _, lines = bob.read_until("OK PING")
        return self.numbers(bob.login_lines + lines, "PENDENTE")

    def check_shutdown_keeps_them(self, sig: signal.Signals) -> None:
        bob, alice = self.stalled_bob_and_alice()
        replies = self.send_burst(alice, 0, 300)
        self.assertEqual({reply for _, reply in replies}, {"OK CHAT bob"})
        old = self.server
        old.stop(sig)
        delivered = self.numbers(bob.expect_closed(), "MSG")  # what reached bob's kernel, read now
        self.server = self.start_server(own_process=False)  # only reads what the old one kept
        kept = self.kept_for_bob()
        self.assertGreater(len(kept), 0, "the kernel cannot have taken 9 MB")
        self.assertEqual(delivered + kept, list(range(300)), "each acknowledged message once, in order")
        self.assertIn(f"{len(kept)} mensagens privadas ainda não entregues foram guardadas.", old.log)

    @own_process  # SIGTERM itself
    def test_sigterm_keeps_what_was_acknowledged_and_not_written(self) -> None:
        self.check_shutdown_keeps_them(signal.SIGTERM)

    @own_process  # SIGINT itself
    def test_ctrl_c_keeps_them_too(self) -> None:
        self.check_shutdown_keeps_them(signal.SIGINT)

    def test_order_holds_when_the_same_account_logs_in_elsewhere(self) -> None:
        """A takeover (a laptop that changed networks reconnects before the server notices the
        old link is dead): what the old connection never wrote comes before anything newer,
        and the others hear no SAIU nor ENTROU (alice's next line is her OK)."""
        old_bob, alice = self.stalled_bob_and_alice()
        self.assertEqual({reply for _, reply in self.send_burst(alice, 0, 300)}, {"OK CHAT bob"})
        new_bob = self.logged_in("bob", register=False)  # while the old connection still takes lines
        self.assertEqual(alice.request(f"CHAT bob 300 {self.PAD}"), "OK CHAT bob")
        self.server.wait_for_log(r"\(bob\) encerrada pelo servidor: a conta entrou em outra conexão")
        new_bob.send("PING")
        _, after_login = new_bob.read_until("OK PING")
        later = self.numbers(new_bob.login_lines, "PENDENTE") + self.numbers(after_login, "MSG")
        delivered = self.numbers(old_bob.expect_closed(), "MSG")  # what reached the old one's kernel
        self.assertGreater(len(later), 1, "the kernel cannot have taken 9 MB")
        self.assertEqual(delivered + later, list(range(301)), "each once, the older ones first")

    def test_logins_racing_while_the_old_connection_holds_messages_leave_one_session(self) -> None:
        """Four logins of bob at once while his first connection, not reading, still holds
        300 acknowledged messages (each login waits for them to come back): the last to
        claim the name keeps it; every other is told SESSAO_SUBSTITUIDA and closed (none
        is left a silent zombie); and each acknowledged message reaches bob once, in order."""
        old_bob, alice = self.stalled_bob_and_alice()
        self.assertEqual({reply for _, reply in self.send_burst(alice, 0, 300)}, {"OK CHAT bob"})
        clients = [self.connect() for _ in range(RACING_LOGINS)]
        replies = self.log_in_at_once(clients, "ENTRAR bob senha123")
        self.assertIn(alice.request(f"CHAT bob 300 {self.PAD}"), ("OK CHAT bob", "OK CHAT bob GUARDADA"))
        self.assertEqual(alice.request("CHAT bob marcador"), "OK CHAT bob", "every claim was made by now")
        winners, received = [], []
        for client, (reply, before) in zip(clients, replies):
            if reply.startswith("ERRO "):  # replaced before its login was done
                self.assertTrue(reply.startswith("ERRO SESSAO_SUBSTITUIDA "), reply)
                self.assertEqual((before, client.expect_closed()), ([], []), "then nothing, and closed")
                continue
            self.assertEqual(reply, "OK ENTRAR bob")
            after, holds_the_name = self.lines_until_marker_or_closed(client)
            if holds_the_name:
                winners.append(client)
            else:  # logged in, then replaced
                self.assertTrue(after and after[-1].startswith("ERRO SESSAO_SUBSTITUIDA "), after)
            numbers = self.numbers(before, "PENDENTE") + self.numbers(after, "MSG")
            self.assertEqual(numbers, sorted(numbers), "each session's in order")
            received += numbers
        self.assertEqual(len(winners), 1, "exactly one session holds the name")
        delivered = self.numbers(old_bob.expect_closed(), "MSG")  # what reached the old one's kernel
        self.assertEqual(delivered, list(range(len(delivered))))
        self.assertEqual(sorted(delivered + received), list(range(301)), "each acknowledged one once")
        self.assertEqual(winners[0].request("PING"), "OK PING")
        self.assertEqual(alice.request("LISTA"), "OK LISTA alice bob")

    @staticmethod
    def log_in_at_once(clients: list[LineClient], line: str) -> list[tuple[str, list[str]]]:
        """Send ``line`` from every client at the same moment; each one's final reply and
        the lines before it."""
        start = threading.Barrier(len(clients))
        replies: list[tuple[str, list[str]]] = [("", [])] * len(clients)
        failures: list[BaseException] = []

        def log_in(index: int) -> None:
            try:
                start.wait(TIMEOUT)
                replies[index] = clients[index].reply(line)
            except BaseException as error:  # reported by the test thread below
                failures.append(error)

        threads = [threading.Thread(target=log_in, args=(index,)) for index in range(len(clients))]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(2 * TIMEOUT)
        if failures:
            raise failures[0]
        return replies

    @staticmethod
    def lines_until_marker_or_closed(client: LineClient) -> tuple[list[str], bool]:
        """What ``client`` reads until alice's ``marcador`` (``True``: it holds the name) or
        until the server closes the connection (``False``)."""
        lines = []
        while True:
            try:
                line = client.read_line()
            except (AssertionError, ConnectionResetError) as error:
                if isinstance(error, AssertionError) and "closed" not in str(error):
                    raise
                return lines, False
            if line == "MSG alice marcador":
                return lines, True
            lines.append(line)

    def test_order_holds_when_the_recipient_drops_with_messages_unwritten(self) -> None:
        bob, alice = self.stalled_bob_and_alice()
        acknowledged = [i for i, reply in self.send_burst(alice, 0, 300) if reply == "OK CHAT bob"]
        self.assertEqual(len(acknowledged), 300)
        bob.abort()  # what the kernel took dies with the connection; the rest comes back
        stored = 0
        for burst in range(100):  # alice goes on while bob's unwritten ones are given back
            for i, reply in self.send_burst(alice, 300 + 20 * burst, 20):
                if reply.startswith("SAIU "):
                    reply = alice.read_line()
                self.assertIn(reply, ("OK CHAT bob", "OK CHAT bob GUARDADA"))
                acknowledged.append(i)
                stored += reply == "OK CHAT bob GUARDADA"
            if stored >= 100:
                break
        kept = self.kept_for_bob()
        self.assertGreater(len(kept), stored, "some came back from the dead connection")
        self.assertEqual(kept, acknowledged[-len(kept):], "only the oldest lost, the rest in order")

    def test_a_login_right_after_waits_for_what_the_last_connection_never_wrote(self) -> None:
        bob, alice = self.stalled_bob_and_alice()
        self.assertEqual({reply for _, reply in self.send_burst(alice, 0, 300)}, {"OK CHAT bob"})
        bob.send("SAIR")  # reading nothing: his connection gets the close grace to write them, then ends
        self.assertEqual(alice.read_line(), "SAIU bob")
        self.assertEqual({reply for _, reply in self.send_burst(alice, 300, 10)}, {"OK CHAT bob GUARDADA"})
        kept = self.kept_for_bob()  # at once, while the old connection still holds most of them
        self.server.wait_for_log(BOB_TOO_SLOW)
        delivered = self.numbers(bob.expect_closed(), "MSG")  # the old connection, read only now
        self.assertEqual(delivered + kept, list(range(310)), "the older ones before the newer, once each")

    def test_max_pending_counts_what_an_online_recipient_has_not_been_written(self) -> None:
        self.restart("--max-pending", "5", "--max-line", str(512 * 1024), "--max-queue", "0")
        bob, alice = self.stalled_bob_and_alice()
        acknowledged, refusal = [], ""
        pad = "x" * 500_000  # the kernel's buffers (4 MiB at most) take about eight of these
        for i in range(100):
            reply = alice.request(f"CHAT bob {i} {pad}")
            if reply != "OK CHAT bob":
                refusal = reply
                break
            acknowledged.append(i)
        self.assertEqual(refusal, "ERRO CAIXA_CHEIA bob ainda não leu 5 mensagens; tente daqui a pouco.")
        self.assertEqual(alice.request("LISTA"), "OK LISTA alice bob", "the session goes on")
        bob.send("SAIR")  # bob still reads nothing: his connection ends with them unwritten
        self.server.wait_for_log(BOB_TOO_SLOW)
        delivered = self.numbers(bob.expect_closed(), "MSG")
        kept = self.kept_for_bob()
        self.assertLessEqual(len(kept), 5, "never more than --max-pending waiting")
        self.assertEqual(delivered + kept, acknowledged, "and none of the acknowledged ones lost")


class HistoryTest(ServerTestCase):
    server_args = (*NO_FLOOD, "--history", "3")

    def test_a_late_arrival_sees_the_last_public_messages_marked_as_history(self) -> None:
        alice = self.logged_in("alice")
        before = time.time()
        for index in range(5):
            self.assertEqual(alice.request(f"TODOS mensagem {index}"), "OK TODOS")
        carol = self.logged_in("carol")
        history = carol.login_lines
        self.assertEqual(len(history), 3, history)
        self.assertEqual([line.split(" ", 3)[::3] for line in history], [
            ["HISTORICO", f"mensagem {index}"] for index in (2, 3, 4)
        ])
        for line in history:
            kind, sender, when, _ = pending_fields(line)
            self.assertEqual(sender, "alice")
            self.assertTrue(when is not None and int(before) <= when <= time.time())
        self.assertEqual(alice.read_line(), "ENTROU carol")
        self.assertEqual(alice.request("TODOS ao vivo"), "OK TODOS")
        self.assertEqual(carol.read_line(), "TODOS alice ao vivo", "live after the history, once")

    def history_and_a_kept_message(self) -> tuple[LineClient, LineClient]:
        """alice online, who said "bom dia" to all and kept a message for bob; and bob,
        connected, not logged in yet."""
        self.register("bob")
        alice = self.logged_in("alice")
        self.assertEqual(alice.request("TODOS bom dia"), "OK TODOS")
        self.assertEqual(alice.request("CHAT bob só para você"), "OK CHAT bob GUARDADA")
        bob = self.connect()
        return alice, bob

    def test_history_comes_after_the_kept_messages_and_ok_entrar_last(self) -> None:
        alice, bob = self.history_and_a_kept_message()
        bob.send("ENTRAR bob senha123")
        lines = [bob.read_line() for _ in range(4)]
        self.assertEqual([line.split(" ")[0] for line in lines], ["PENDENTE", "INFO", "HISTORICO", "OK"])
        self.assertEqual(lines[3], "OK ENTRAR bob", "the reply ends with its OK")
        self.assertEqual(alice.read_line(), "ENTROU bob")
        self.assertEqual(alice.request("TODOS ao vivo"), "OK TODOS")
        self.assertEqual(bob.read_line(), "TODOS alice ao vivo", "live only after OK ENTRAR")

    def test_a_refused_login_gets_neither_kept_messages_nor_history(self) -> None:
        _, bob = self.history_and_a_kept_message()
        refused = bob.request("ENTRAR bob errada123")
        self.assertTrue(refused.startswith("ERRO CREDENCIAIS "), refused)
        self.assertEqual(bob.request("PING"), "OK PING", "nothing came with the refusal")
        reply, before = bob.reply("ENTRAR bob senha123")
        self.assertEqual((reply, [line.split(" ")[0] for line in before]),
                         ("OK ENTRAR bob", ["PENDENTE", "INFO", "HISTORICO"]))


class NoHistoryTest(ServerTestCase):
    server_args = (*NO_FLOOD, "--history", "0")

    def test_zero_turns_history_off(self) -> None:
        alice = self.logged_in("alice")
        self.assertEqual(alice.request("TODOS ninguém guarda isto"), "OK TODOS")
        self.assertEqual(self.logged_in("carol").request("PING"), "OK PING")


class ListEveryoneTest(ServerTestCase):
    server_args = NO_FLOOD

    def list_everyone(self, client: LineClient) -> list[str]:
        client.send("LISTA TODOS")
        reply, lines = client.read_until("OK LISTA")
        self.assertEqual(reply, "OK LISTA TODOS")
        return lines

    def test_online_offline_with_last_seen_and_never_seen(self) -> None:
        self.register("carol")  # never logs in
        self.register("Bob")
        bob = self.logged_in("Bob", register=False)
        alice = self.logged_in("alice")
        self.assertEqual(bob.read_line(), "ENTROU alice")
        # Times go to the second: let the clock pass one, so that the log-out
        # time is told apart from the login time. (Not synchronisation: no
        # other thread is waited for.)
        bob_left = math.floor(time.time()) + 1
        time.sleep(bob_left - time.time())
        bob.send("SAIR")
        bob.expect_closed()
        self.assertEqual(alice.read_line(), "SAIU Bob")
        lines = self.list_everyone(alice)
        self.assertEqual(lines[0], "USUARIO alice ONLINE")
        kind, name, state, seen = lines[1].split(" ")
        self.assertEqual((kind, name, state), ("USUARIO", "Bob", "OFFLINE"))
        seen_at = protocol.parse_timestamp(seen)
        self.assertTrue(seen_at is not None and bob_left <= seen_at <= time.time(), seen)
        self.assertEqual(lines[2], "USUARIO carol OFFLINE", "never logged in: no time")
        self.assertEqual(len(lines), 3)
        self.assertEqual(alice.request("LISTA"), "OK LISTA alice", "plain LISTA is unchanged")

    def test_last_seen_survives_a_restart(self) -> None:
        alice = self.logged_in("alice")
        self.register("bob")
        self.logged_in("bob", register=False)  # online when the server stops
        self.assertEqual(alice.read_line(), "ENTROU bob")
        alice.send("SAIR")
        alice.expect_closed()
        self.server.stop(signal.SIGTERM)
        self.server = self.start_server()
        carol = self.logged_in("carol")
        lines = self.list_everyone(carol)
        self.assertEqual([line.split(" ")[:3] for line in lines], [
            ["USUARIO", "alice", "OFFLINE"], ["USUARIO", "bob", "OFFLINE"], ["USUARIO", "carol", "ONLINE"],
        ])
        for line in lines[:2]:
            self.assertIsNotNone(protocol.parse_timestamp(line.split(" ")[3]), line)

    def test_needs_login(self) -> None:
        self.assertTrue(self.connect().request("LISTA TODOS").startswith("ERRO NAO_AUTENTICADO "))
