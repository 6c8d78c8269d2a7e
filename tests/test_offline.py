"""End-to-end tests of what waits for people: private messages kept while they are
offline, the public history replayed at login, and LISTA TODOS with last seen."""

from __future__ import annotations

import math
import signal
import time

import protocol
from tests.support import LineClient, ServerTestCase

NO_FLOOD = ("--flood-rate", "0")


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

    def test_kept_across_a_restart_and_a_sigkill(self) -> None:
        self.register("bob")
        alice = self.logged_in("alice")
        self.assertEqual(alice.request("CHAT bob antes do SIGTERM"), "OK CHAT bob GUARDADA")
        self.server.stop(signal.SIGTERM)
        self.server = self.start_server()
        alice = self.logged_in("alice", register=False)
        self.assertEqual(alice.request("CHAT bob antes do SIGKILL"), "OK CHAT bob GUARDADA")
        self.server.kill()  # no chance to flush anything: only what was durable survives
        self.server = self.start_server()
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
