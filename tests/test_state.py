"""State tests: the user store and the session registry alone, with no server process."""

from __future__ import annotations

import json
import socket
import tempfile
import threading
import unittest
from pathlib import Path
from unittest import mock

import protocol
from protocol import ErrorCode, ProtocolError
import servidor
from servidor import Connection, SessionRegistry, UserStore, UserStoreError

HASH_COST = 4
PASSWORD = "segredo-muito-bom"


class UserStoreTest(unittest.TestCase):
    def setUp(self) -> None:
        folder = tempfile.TemporaryDirectory()
        self.addCleanup(folder.cleanup)
        self.folder = Path(folder.name)
        self.path = self.folder / "users.json"

    def store(self) -> UserStore:
        return UserStore(self.path, HASH_COST)

    def register_error(self, store: UserStore, name: str) -> ErrorCode | None:
        try:
            store.register(name, PASSWORD)
        except ProtocolError as error:
            return error.code
        return None

    def test_missing_file_means_no_accounts(self) -> None:
        self.assertEqual(len(self.store()), 0)
        self.assertFalse(self.path.exists(), "the file is created only by a registration")

    def test_register_then_authenticate(self) -> None:
        store = self.store()
        self.assertEqual(store.register("Alice", PASSWORD), "Alice")
        self.assertEqual(store.authenticate("alice", PASSWORD), "Alice")
        self.assertEqual(store.authenticate("ALICE", PASSWORD), "Alice")
        self.assertIsNone(store.authenticate("alice", PASSWORD + "x"))
        self.assertIsNone(store.authenticate("bob", PASSWORD))

    def test_names_are_unique_ignoring_case(self) -> None:
        store = self.store()
        store.register("Alice", PASSWORD)
        self.assertEqual(self.register_error(store, "alice"), ErrorCode.USER_EXISTS)
        self.assertEqual(self.register_error(store, "ALICE"), ErrorCode.USER_EXISTS)

    def test_accounts_survive_a_reload(self) -> None:
        self.store().register("joão", PASSWORD)
        reloaded = self.store()
        self.assertEqual(reloaded.authenticate("JOÃO", PASSWORD), "joão")
        self.assertTrue(reloaded.exists("joão"))

    def test_file_holds_no_clear_password_and_is_private(self) -> None:
        store = self.store()
        store.register("alice", PASSWORD)
        text = self.path.read_text("utf-8")
        self.assertNotIn(PASSWORD, text)
        record = json.loads(text)["users"]["alice"]
        self.assertEqual(record["name"], "alice")
        self.assertEqual(record["hash"]["alg"], "scrypt")
        self.assertEqual(record["hash"]["n"], 2**HASH_COST)
        self.assertEqual(self.path.stat().st_mode & 0o777, 0o600)
        self.assertEqual(sorted(p.name for p in self.folder.iterdir()), ["users.json"])

    def test_same_name_from_50_threads_exactly_one_wins(self) -> None:
        store = self.store()
        results = self._run_concurrently(store, ["Disputado"] * 25 + ["disputado"] * 25)
        self.assertEqual(results.count(None), 1, results)
        self.assertEqual(results.count(ErrorCode.USER_EXISTS), 49, results)
        self.assertEqual(list(json.loads(self.path.read_text("utf-8"))["users"]), ["disputado"])

    def test_concurrent_registrations_all_reach_the_file(self) -> None:
        names = [f"user{i}" for i in range(50)]
        results = self._run_concurrently(self.store(), names)
        self.assertEqual(results, [None] * 50)
        self.assertEqual(sorted(json.loads(self.path.read_text("utf-8"))["users"]), sorted(names))

    def test_registration_returns_only_once_its_account_is_written(self) -> None:
        written: set[str] = set()
        not_yet_durable: list[str] = []
        real_write = servidor.write_file_durably

        def recording_write(path: Path, data: bytes) -> None:
            real_write(path, data)
            written.update(json.loads(data)["users"])

        store = self.store()
        original_register = store.register

        def register_and_check(name: str, password: str) -> str:
            result = original_register(name, password)
            if name not in written:
                not_yet_durable.append(name)
            return result

        with mock.patch.object(servidor, "write_file_durably", recording_write), \
                mock.patch.object(store, "register", register_and_check):
            results = self._run_concurrently(store, [f"user{i}" for i in range(50)])
        self.assertEqual(results, [None] * 50)
        self.assertEqual(not_yet_durable, [])

    def _run_concurrently(self, store: UserStore, names: list[str]) -> list[ErrorCode | None]:
        results: list[ErrorCode | None] = [None] * len(names)
        start = threading.Barrier(len(names))

        def register(index: int) -> None:
            start.wait()
            results[index] = self.register_error(store, names[index])

        threads = [threading.Thread(target=register, args=(i,)) for i in range(len(names))]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(30)
            self.assertFalse(thread.is_alive())
        return results

    def test_corrupt_file_is_refused_and_kept(self) -> None:
        for content in ("{not json", "[]", '{"users": {"a": {"name": "a"}}}', ""):
            with self.subTest(content=content):
                self.path.write_text(content, "utf-8")
                with self.assertRaises(UserStoreError) as raised:
                    self.store()
                self.assertIn("corrompido", str(raised.exception))
                self.assertEqual(self.path.read_text("utf-8"), content)

    def test_temp_files_left_by_a_killed_server_are_removed(self) -> None:
        self.store().register("alice", PASSWORD)
        stale = self.folder / ".users.json.abc123.tmp"
        stale.write_text('{"users": {', "utf-8")
        unrelated = self.folder / "notes.tmp"
        unrelated.write_text("keep me", "utf-8")
        with self.assertLogs("batchat", "WARNING"):
            store = self.store()
        self.assertFalse(stale.exists())
        self.assertTrue(unrelated.exists())
        self.assertEqual(store.authenticate("alice", PASSWORD), "alice")

    def test_unwritable_file_answers_unavailable_and_rolls_back(self) -> None:
        store = UserStore(self.folder / "missing-folder" / "users.json", HASH_COST)
        with self.assertLogs("batchat", "ERROR") as logs:
            self.assertEqual(self.register_error(store, "alice"), ErrorCode.UNAVAILABLE)
        self.assertNotIn(PASSWORD, "\n".join(logs.output))
        self.assertFalse(store.exists("alice"))
        self.assertIsNone(store.authenticate("alice", PASSWORD))


class FakeSession:
    """Stands in for ChatSession: the registry only needs a name and identity."""

    def __init__(self, name: str) -> None:
        self.name: str | None = name


class SessionRegistryTest(unittest.TestCase):
    def test_log_in_returns_the_others(self) -> None:
        registry = SessionRegistry()
        alice, bob = FakeSession("alice"), FakeSession("bob")
        self.assertEqual(registry.log_in(alice), (None, []))  # type: ignore[arg-type]
        self.assertEqual(registry.log_in(bob), (None, [alice]))  # type: ignore[arg-type]
        self.assertIs(registry.find("ALICE"), alice)
        self.assertEqual(registry.everyone_but(bob), [alice])  # type: ignore[arg-type]

    def test_names_sorted_ignoring_case(self) -> None:
        registry = SessionRegistry()
        for name in ("carol", "Bob", "alice", "Ana"):
            registry.log_in(FakeSession(name))  # type: ignore[arg-type]
        self.assertEqual(registry.names(), ["alice", "Ana", "Bob", "carol"])

    def test_second_login_replaces_and_only_holder_logs_out(self) -> None:
        registry = SessionRegistry()
        old, new, bob = FakeSession("alice"), FakeSession("Alice"), FakeSession("bob")
        registry.log_in(old)  # type: ignore[arg-type]
        registry.log_in(bob)  # type: ignore[arg-type]
        replaced, others = registry.log_in(new)  # type: ignore[arg-type]
        self.assertIs(replaced, old)
        self.assertEqual(others, [bob])
        self.assertIsNone(registry.log_out(old), "the replaced session must not log the name out")  # type: ignore[arg-type]
        self.assertIs(registry.find("alice"), new)
        self.assertEqual(registry.log_out(new), [bob])  # type: ignore[arg-type]
        self.assertIsNone(registry.find("alice"))
        self.assertEqual(registry.names(), ["bob"])

    def test_session_never_logged_in_logs_out_quietly(self) -> None:
        anonymous = FakeSession("x")
        anonymous.name = None
        self.assertIsNone(SessionRegistry().log_out(anonymous))  # type: ignore[arg-type]


class ConnectionTest(unittest.TestCase):
    def setUp(self) -> None:
        self.server_side, self.peer = socket.socketpair()
        self.peer.settimeout(5)
        self.addCleanup(self.peer.close)
        self.addCleanup(self.server_side.close)
        self.connection = Connection(self.server_side, ("127.0.0.1", 1234))

    def read_all(self) -> bytes:
        chunks = []
        while data := self.peer.recv(65536):
            chunks.append(data)
        return b"".join(chunks)

    def test_lines_arrive_in_order_and_close_flushes(self) -> None:
        lines = [f"MSG alice {i} ação" for i in range(1000)]
        for line in lines:
            self.assertTrue(self.connection.send_line(line))
        self.connection.close()
        received = self.read_all().decode("utf-8").splitlines()
        self.assertEqual(received, lines)
        self.connection.wait_closed(5)

    def test_send_after_close_is_refused(self) -> None:
        self.connection.close()
        self.connection.wait_closed(5)
        self.assertFalse(self.connection.send_line("INFO tarde demais"))
        self.assertEqual(self.read_all(), b"")

    def test_dead_peer_stops_the_writer_without_raising(self) -> None:
        self.peer.close()
        for _ in range(100):
            self.connection.send_line("x" * 1000)
        self.connection.wait_closed(5)
        self.assertFalse(self.connection.send_line("INFO depois da queda"))


if __name__ == "__main__":
    unittest.main()
