"""State tests: the user store and the session registry alone, with no server process."""

from __future__ import annotations

import base64
import errno
import json
import os
import subprocess
import socket
import tempfile
import threading
import types
import unittest
from collections.abc import Callable
from pathlib import Path
from unittest import mock

from protocol import ErrorCode, ProtocolError
from batchat import formatting, prices
from batchat.server import accounts, presence, storage, users_file
from batchat.server import connection as connection_module
from batchat.server import registry as registry_module
from batchat.server.limits import Limits
from batchat.server.session import ChatSession, ServerContext
from batchat.server.storage import WritePacer
from batchat.server.accounts import UserStore
from batchat.server.users_file import UserStoreError
from batchat.server.connection import QUEUE_FULL, Connection
from batchat.server.limits import GuessThrottle, RateLimiter, TokenBucket
from batchat.server.registry import SessionRegistry
from batchat.server.timing import DEFAULT_TIMING, Timing
from tests.support import PYTHON, long_test, socket_pair, UsersFileTestCase

HASH_COST = 4
PASSWORD = "segredo-muito-bom"


class UserStoreTest(UsersFileTestCase):
    def register_error(self, store: UserStore, name: str) -> ErrorCode | None:
        try:
            store.register(name, PASSWORD)
        except ProtocolError as error:
            return error.code
        return None

    def test_a_full_hash_queue_refuses_and_says_when_to_retry(self) -> None:
        store = self.store()
        store.register("alice", PASSWORD)
        store.max_hashing = 0  # as if the queue held all it may
        with self.assertRaises(ProtocolError) as refused:
            store.authenticate("alice", PASSWORD)
        self.assertEqual(refused.exception.code, ErrorCode.LIMIT)
        self.assertRegex(refused.exception.text, r"tente de novo em \d+ s\.$")
        store.max_hashing = 1
        self.assertEqual(store.authenticate("alice", PASSWORD), "alice", "nothing stays counted")

    def test_the_hash_queue_grows_with_what_the_machine_hashes(self) -> None:
        slots = accounts.HASH_CONCURRENCY
        fits = int(accounts.HASH_QUEUE_SECONDS * slots / 0.1)
        self.assertEqual(accounts.hash_queue_bound(0.1), min(fits, accounts.MAX_HASH_QUEUE))
        self.assertEqual(accounts.hash_queue_bound(60.0), accounts.MIN_HASH_QUEUE, "a slow machine: a class still queues")
        self.assertEqual(accounts.hash_queue_bound(1e-5), accounts.MAX_HASH_QUEUE)
        self.assertGreater(self.store().hash_seconds, 0, "measured at the start")

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
        self.assertTrue(reloaded.registered_name("JOÃO") == "joão")

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
        real_write = accounts.write_file_durably

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

        with mock.patch.object(accounts, "write_file_durably", recording_write), \
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

    def test_unwritable_file_answers_unavailable_then_recovers(self) -> None:
        folder = self.folder / "contas"
        folder.mkdir()
        store = UserStore(folder / "users.json", HASH_COST)
        self.addCleanup(store.close)
        store.register("alice", PASSWORD)
        folder.rename(self.folder / "fora")  # the folder vanishes: every write fails
        with self.assertLogs("batchat", "ERROR") as logs:
            self.assertEqual(self.register_error(store, "bob"), ErrorCode.UNAVAILABLE)
        self.assertNotIn(PASSWORD, "\n".join(logs.output))
        self.assertFalse(store.registered_name("bob"))
        self.assertIsNone(store.authenticate("bob", PASSWORD))
        self.assertEqual(store.authenticate("alice", PASSWORD), "alice", "logins keep working")
        (self.folder / "fora").rename(folder)  # fixed: registrations work again
        self.assertIsNone(self.register_error(store, "bob"))
        self.assertEqual(sorted(p.name for p in folder.iterdir()), ["users.json"])
        self.assertEqual(sorted(json.loads((folder / "users.json").read_text("utf-8"))["users"]), ["alice", "bob"])

    def test_unknown_name_costs_a_hash_like_a_known_one(self) -> None:
        store = self.store()
        store.register("alice", PASSWORD)
        for name in ("alice", "ninguem"):
            with self.subTest(name=name), mock.patch.object(users_file, "_scrypt", wraps=users_file._scrypt) as scrypt:
                self.assertIsNone(store.authenticate(name, "senha-errada"))
                self.assertEqual(scrypt.call_count, 1)
                self.assertEqual(scrypt.call_args.args[2], 2**HASH_COST, "same cost, same time")

    def test_at_most_a_few_hashes_run_at_once(self) -> None:
        store = self.store()
        limit = accounts.HASH_CONCURRENCY
        active = 0
        changed = threading.Condition()
        release = threading.Event()

        def blocking_scrypt(*args: object) -> bytes:
            nonlocal active
            with changed:
                active += 1
                changed.notify_all()
            release.wait(10)
            with changed:
                active -= 1
            return b"x" * 32

        with mock.patch.object(users_file, "_scrypt", blocking_scrypt):
            threads = [
                threading.Thread(target=store.authenticate, args=(f"u{i}", PASSWORD))
                for i in range(limit + 5)
            ]
            for thread in threads:
                thread.start()
            with changed:
                self.assertTrue(changed.wait_for(lambda: active == limit, timeout=5))
                self.assertFalse(changed.wait_for(lambda: active > limit, timeout=0.5))
            release.set()
            for thread in threads:
                thread.join(5)

    def test_one_address_holds_one_hash_slot_and_others_still_get_theirs(self) -> None:
        store = self.store()
        active: list[str] = []  # the password of each hash running now
        changed = threading.Condition()
        release = threading.Event()

        def blocking_scrypt(password: str, *args: object) -> bytes:
            with changed:
                active.append(password)
                changed.notify_all()
            release.wait(10)
            with changed:
                active.remove(password)
            return b"x" * 32

        with mock.patch.object(users_file, "_scrypt", blocking_scrypt):
            threads = [
                threading.Thread(target=store.authenticate, args=(f"u{i}", "loop-senha", "10.0.0.1"))
                for i in range(accounts.HASH_CONCURRENCY + 3)
            ]
            threads.append(threading.Thread(target=store.authenticate, args=("outra", "vizinha", "10.0.0.2")))
            for thread in threads:
                thread.start()
            with changed:
                self.assertTrue(changed.wait_for(lambda: "vizinha" in active, timeout=5), active)
                self.assertEqual(active.count("loop-senha"), 1, "one address, one slot")
                self.assertFalse(changed.wait_for(lambda: active.count("loop-senha") > 1, timeout=0.3))
            release.set()
            for thread in threads:
                thread.join(5)
        self.assertEqual(len(store._turns), 0, "no line kept for addresses gone quiet")

    def test_disk_full_mid_write_leaves_no_temp_file_and_the_old_file_intact(self) -> None:
        store = self.store()
        store.register("alice", PASSWORD)
        before = self.path.read_bytes()
        disk_full = OSError(errno.ENOSPC, "No space left on device")
        with mock.patch.object(storage.os, "fsync", side_effect=disk_full), self.assertLogs("batchat", "ERROR"):
            self.assertEqual(self.register_error(store, "bob"), ErrorCode.UNAVAILABLE)
        self.assertEqual(self.path.read_bytes(), before)
        self.assertEqual(sorted(p.name for p in self.folder.iterdir()), ["users.json"])
        self.assertIsNone(self.register_error(store, "bob"), "works again once there is space")

    def test_dummy_hash_costs_what_stored_accounts_cost(self) -> None:
        UserStore(self.path, hash_cost=6).register("alice", PASSWORD)
        restarted = UserStore(self.path, hash_cost=4)  # new accounts cheaper; old ones are not
        with mock.patch.object(users_file, "_scrypt", wraps=users_file._scrypt) as scrypt:
            restarted.authenticate("ninguem", PASSWORD)
        self.assertEqual(scrypt.call_args.args[2], 2**6)

    def test_missing_folder_is_refused_at_start(self) -> None:
        with self.assertRaises(UserStoreError):
            UserStore(self.folder / "nao-existe" / "users.json", HASH_COST)

    def test_valid_json_with_bad_records_is_refused(self) -> None:
        good_hash = json.loads(self._one_account_file())["users"]["alice"]["hash"]
        records = [
            {"name": "bob\nENTROU x", "hash": good_hash},
            {"name": "alice", "hash": {**good_hash, "n": 3}},
            {"name": "alice", "hash": {**good_hash, "alg": "md5"}},
            {"name": "alice", "hash": {**good_hash, "salt": "!!"}},
        ]
        for record in records:
            with self.subTest(record=record):
                self.path.write_text(json.dumps({"users": {"x": record}}), "utf-8")
                with self.assertRaises(UserStoreError):
                    self.store()
        self.path.write_text(
            json.dumps({"users": {"a": {"name": "Ana", "hash": good_hash}, "b": {"name": "ana", "hash": good_hash}}}),
            "utf-8",
        )
        with self.assertRaises(UserStoreError):
            self.store()

    def test_damaged_records_stop_the_start_with_one_sentence_naming_them(self) -> None:
        good_hash = json.loads(self._one_account_file())["users"]["alice"]["hash"]
        hashes = {
            "n 1e999": '{"alg": "scrypt", "n": 1e999, "r": 8, "p": 1, "salt": "c2Fs", "key": "a2V5"}',
            "n true": json.dumps({**good_hash, "n": True}),
            "n 16.0": json.dumps({**good_hash, "n": 16.0}),
            "n 2**22": json.dumps({**good_hash, "n": 2**22}),  # past what hashlib.scrypt can do
            "n 2**21": json.dumps({**good_hash, "n": 2**21}),  # loaded before, but never computable
            "n 2**19": json.dumps({**good_hash, "n": 2**19}),  # 512 MiB: past MAX_SCRYPT_MEMORY
            "n 2**16 r 1": json.dumps({**good_hash, "n": 2**16, "r": 1}),  # OpenSSL wants n < 2**(16 r)
            "r 10**12": json.dumps({**good_hash, "r": 10**12}),  # refused at once, not computed with
        }
        for label, hash_text in hashes.items():
            with self.subTest(label):
                self.path.write_text(f'{{"users": {{"conta-x": {{"name": "x", "hash": {hash_text}}}}}}}', "utf-8")
                with self.assertRaises(UserStoreError) as raised:
                    self.store()
                self.assertIn(str(self.path), str(raised.exception))
                self.assertIn("'conta-x'", str(raised.exception), "names the record")

    def test_brackets_nested_too_deep_are_damage_not_a_crash(self) -> None:
        self.path.write_text('{"users": ' + "[" * 100_000 + "]" * 100_000 + "}", "utf-8")
        with self.assertRaises(UserStoreError) as raised:
            self.store()
        self.assertIn(str(self.path), str(raised.exception))

    @long_test  # 256 MiB of scrypt: seconds
    def test_the_largest_accepted_parameters_really_compute(self) -> None:
        largest = users_file.MAX_SCRYPT_MEMORY // (128 * 8)
        self.assertEqual(largest, 2**users_file.MAX_HASH_COST, "--hash-cost reaches exactly the bound")
        for n, r in ((largest, 8), (2**15, 1)):
            with self.subTest(n=n, r=r):
                stored = users_file.PasswordHash.from_json({
                    "alg": "scrypt", "n": n, "r": r, "p": 1,
                    "salt": base64.b64encode(bytes(16)).decode(), "key": base64.b64encode(bytes(32)).decode(),
                })
                self.assertFalse(stored.matches("qualquer"))  # computed, not refused by hashlib

    def test_repeated_keys_and_wrong_sizes_stop_the_start_naming_the_record(self) -> None:
        alice = json.loads(self._one_account_file())["users"]["alice"]
        record = json.dumps(alice)

        def users(*records: str) -> str:
            return '{"version": 1, "users": {' + ", ".join(records) + "}}"

        def with_hash(**fields: object) -> str:
            return '"alice": ' + json.dumps({**alice, "hash": {**alice["hash"], **fields}})

        def cut(field: str, size: int) -> str:
            return base64.b64encode((base64.b64decode(alice["hash"][field]) * 2)[:size]).decode()

        hash_text = json.dumps(alice["hash"])
        key_twice = hash_text.replace('"key":', f'"key": "{alice["hash"]["key"]}", "key":')
        cases = {  # label: (users.json, what the sentence must say besides the file)
            "alice twice": (users(f'"alice": {record}', f'"alice": {record}'), ["a conta 'alice' aparece duas vezes"]),
            "users twice": (f'{{"users": {{"alice": {record}}}, "users": {{}}}}', ["o campo 'users' aparece duas vezes"]),
            "name twice in a record": (
                users(f'"alice": {{"name": "alice", "name": "alice", "hash": {hash_text}}}'),
                ["conta 'alice': o campo 'name' aparece duas vezes"],
            ),
            "key twice in a hash": (
                users(f'"alice": {{"name": "alice", "hash": {key_twice}}}'),
                ["conta 'alice': o campo 'hash.key' aparece duas vezes"],
            ),
            "repeated deep in lists": (
                users(f'"alice": {{"name": "alice", "extra": [[1, {{"a": 1, "a": 2}}]], "hash": {hash_text}}}'),
                ["conta 'alice': o campo 'extra.a' aparece duas vezes"],
            ),
            "alice and Alice": (
                users(f'"alice": {record}', '"Alice": ' + json.dumps({**alice, "name": "Alice"})),
                ["conta 'Alice'", "o nome 'Alice' é o mesmo da conta 'alice' ('alice')"],
            ),
            "key 31 bytes": (users(with_hash(key=cut("key", 31))), ["conta 'alice': o campo 'key' do hash tem 31 bytes"]),
            "key 33 bytes": (users(with_hash(key=cut("key", 33))), ["conta 'alice': o campo 'key' do hash tem 33 bytes"]),
            "key not base64": (users(with_hash(key="!!")), ["conta 'alice': o campo 'key' do hash não está em base64"]),
            "key a number": (users(with_hash(key=12)), ["conta 'alice': o campo 'key' do hash não está em base64"]),
            "salt 15 bytes": (users(with_hash(salt=cut("salt", 15))), ["conta 'alice': o campo 'salt' do hash tem 15 bytes"]),
            "salt not ASCII": (users(with_hash(salt="sál")), ["conta 'alice': o campo 'salt' do hash não está em base64"]),
        }
        for label, (content, details) in cases.items():
            with self.subTest(label):
                self.path.write_text(content, "utf-8")
                with self.assertRaises(UserStoreError) as raised:
                    self.store()
                sentence = str(raised.exception)
                self.assertIn(f"o arquivo de contas {self.path} está corrompido", sentence)
                for detail in details:
                    self.assertIn(detail, sentence)
                self.assertNotIn("\n", sentence)
                self.assertEqual(self.path.read_text("utf-8"), content, "the file is left as it was")
                self.assertEqual(sorted(p.name for p in self.folder.iterdir()), ["users.json"])

    def _one_account_file(self) -> str:
        self.store().register("alice", PASSWORD)
        return self.path.read_text("utf-8")


class WritePacerTest(unittest.TestCase):
    """Whole-file writes under a storm are spaced, on a clock the test moves."""

    def setUp(self) -> None:
        self.now = 100.0
        self.slept: list[float] = []
        self.pacer = WritePacer(factor=2.0, longest=0.25, clock=lambda: self.now, sleep=self.sleep)

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds

    def write(self, seconds: float) -> None:
        self.pacer.wait()
        started = self.pacer.clock()
        self.now += seconds
        self.pacer.wrote(started)

    def test_back_to_back_writes_pause_twice_the_last_one(self) -> None:
        for length, gap, expected_pause in [
            (0.010, 0.0, None),  # the first write waits for nothing
            (0.010, 0.0, 0.020),  # right after a 10 ms write: 20 ms
            (0.010, 0.005, 0.015),  # a change 5 ms later: the rest of the pause
            (0.200, 0.0, 0.020),
            (0.010, 0.0, 0.25),  # after a 200 ms write: never more than `longest`
            (0.010, 1.0, None),  # a lone change long after: no wait
        ]:
            with self.subTest(length=length, gap=gap):
                self.now += gap
                self.slept.clear()
                self.write(length)
                expected = [] if expected_pause is None else [expected_pause]
                self.assertEqual([round(seconds, 9) for seconds in self.slept], expected)


class DataLockTest(unittest.TestCase):
    def setUp(self) -> None:
        folder = tempfile.TemporaryDirectory()
        self.addCleanup(folder.cleanup)
        self.path = Path(folder.name) / "users.json"

    def test_one_holder_at_a_time(self) -> None:
        fd = storage.lock_data_file(self.path)
        with self.assertRaises(storage.FolderInUse) as raised:
            storage.lock_data_file(self.path)  # another open file: refused, even in this process
        self.assertIn(str(self.path.parent), str(raised.exception))
        os.close(fd)
        os.close(storage.lock_data_file(self.path))  # released: free again

    def test_a_lock_held_by_a_process_that_dies_is_released(self) -> None:
        code = (
            "import sys, pathlib; from batchat.server import storage; storage.lock_data_file(pathlib.Path(sys.argv[1])); "
            "print('travado', flush=True); sys.stdin.read()"
        )
        holder = subprocess.Popen(
            [*PYTHON, "-c", code, str(self.path)], cwd=Path(storage.__file__).parents[2],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
        )
        for cleanup in (holder.stdout.close, holder.stdin.close, holder.kill):  # type: ignore[union-attr]
            self.addCleanup(cleanup)
        self.assertEqual(holder.stdout.readline(), "travado\n")  # type: ignore[union-attr]
        with self.assertRaises(storage.FolderInUse):
            storage.lock_data_file(self.path)
        holder.kill()
        holder.wait(10)
        os.close(storage.lock_data_file(self.path))

    def test_a_lock_file_taken_back_while_it_was_being_locked_is_no_lock(self) -> None:
        """A failing start removes its lock file while holding it; whoever opened that file
        just before must not go on holding a lock on a file gone from the folder."""
        lock_path = self.path.with_name("users.json.lock")
        with mock.patch.object(storage.os_support, "lock_file_exclusively", lambda _fd: lock_path.unlink()):
            with self.assertRaises(storage.FolderInUse):
                storage.lock_data_file(self.path)
        os.close(storage.lock_data_file(self.path))  # the next try takes a lock file in the folder

    def test_a_failed_start_takes_back_only_what_it_created(self) -> None:
        folder = self.path.parent
        mailbox = folder / "mailbox.sqlite3"
        self.path.write_text("antes")
        (folder / "users.json.lock").write_text("")  # left by an earlier server
        other = storage.lock_data_file(mailbox)  # another server holds the mailbox
        before = sorted(path.name for path in folder.iterdir())
        files = storage.DataFiles([self.path, mailbox])
        with self.assertRaises(storage.FolderInUse):
            files.lock()
        files.abandon()
        os.close(other)
        self.assertEqual(sorted(path.name for path in folder.iterdir()), before)
        self.assertEqual(self.path.read_text(), "antes")

        for lock in ("users.json.lock", "mailbox.sqlite3.lock"):
            (folder / lock).unlink()
        files = storage.DataFiles([self.path, mailbox])
        files.lock()
        for created in ("mailbox.sqlite3", "mailbox.sqlite3-wal", "mailbox.sqlite3-shm"):
            (folder / created).write_text("desta partida")
        files.abandon()
        self.assertEqual(sorted(path.name for path in folder.iterdir()), ["users.json"])
        os.close(storage.lock_data_file(self.path))  # released

    def test_no_posix_module_is_needed_to_import_the_server(self) -> None:
        for module in (storage, accounts, registry_module, connection_module):
            self.assertNotIn("fcntl", vars(module), "imported only where used: Windows has no fcntl")


class TokenBucketTest(unittest.TestCase):
    def test_burst_then_rate(self) -> None:
        bucket = TokenBucket(rate=5, burst=20, now=0.0)
        self.assertEqual([bucket.take(1, 0.0) for _ in range(21)], [True] * 20 + [False])
        self.assertFalse(bucket.take(1, 0.1))  # half a token
        self.assertTrue(bucket.take(1, 0.2))
        self.assertFalse(bucket.take(1, 0.2))
        self.assertTrue(bucket.is_full(100.0), "refills up to the burst, no further")
        self.assertEqual(sum(bucket.take(1, 100.0) for _ in range(30)), 20)

    def test_cost_above_burst_is_slow_not_impossible(self) -> None:
        bucket = TokenBucket(rate=1, burst=5, now=0.0)
        self.assertTrue(bucket.take(50, 0.0))
        self.assertFalse(bucket.take(50, 4.0))
        self.assertTrue(bucket.take(50, 5.0))


class RateLimiterTest(unittest.TestCase):
    def test_per_key_budget_refills_per_minute(self) -> None:
        now = [0.0]
        limiter = RateLimiter(per_minute=5, clock=lambda: now[0])
        self.assertEqual([limiter.spend("a") for _ in range(6)], [True] * 5 + [False])
        self.assertTrue(limiter.spend("b"), "keys are independent")
        now[0] = 12.0  # one event's worth of a minute
        self.assertTrue(limiter.spend("a"))
        self.assertFalse(limiter.spend("a"))

    def test_zero_means_unlimited(self) -> None:
        limiter = RateLimiter(per_minute=0)
        self.assertTrue(all(limiter.spend("a") for _ in range(1000)))

    def test_idle_keys_are_forgotten(self) -> None:
        now = [0.0]
        limiter = RateLimiter(per_minute=5, clock=lambda: now[0])
        for key in range(5000):
            limiter.spend(key)
        self.assertEqual(len(limiter), 5000)
        now[0] = 3600.0  # the first 5000 keys are idle now: their budgets are full again
        for key in range(5000, 8500):  # crosses the next pruning point (8192 keys)
            limiter.spend(key)
        self.assertEqual(len(limiter), 8500 - 5000)


def guesser(ip: str, failures: int = 0) -> types.SimpleNamespace:
    """What ChatService.authenticate needs of a member: its address and its failed logins."""
    return types.SimpleNamespace(connection=types.SimpleNamespace(ip=ip), name=None, failed_logins=failures)


NO_PAUSE = Timing(failure_pause=0)  # the line's tests: no pause per connection (its own test)


class GuessThrottleTest(unittest.TestCase):
    """--login-rate with the default limits: per account, wrong guesses wait their turn
    (no more than 30 checked in any minute), and the owner is checked at the next turn."""

    def setUp(self) -> None:
        self.now = 0.0
        self.hashed: list[float] = []  # when each password was checked, on the fake clock
        self.order: list[str] = []  # who was checked, in order (the line test)
        self.asleep: set[int] = set()  # the threads that waited for their turn
        self.changed = threading.Condition()

    def sleep(self, condition: threading.Condition, seconds: float) -> None:
        """The connection thread's wait for its turn: here the fake clock moves instead."""
        self.now += seconds

    def fake_users(self) -> mock.MagicMock:
        users = mock.MagicMock()

        def check_login(name: str, password: str, owner: object = None) -> types.SimpleNamespace | None:
            self.hashed.append(self.now)
            return types.SimpleNamespace(name="alice") if password == "certa" else None

        users.check_login.side_effect = check_login
        return users

    def test_at_most_thirty_guesses_a_minute_are_hashed_for_one_account(self) -> None:
        limits = Limits()
        clock = lambda: self.now  # noqa: E731
        context = ServerContext(
            self.fake_users(), SessionRegistry(), mock.Mock(), limits,
            login_attempts=RateLimiter(limits.login_attempts, clock),
            guesses=GuessThrottle(limits.login_rate, clock=clock, wait=self.sleep),
        )
        # 100 addresses take turns (a lab, a botnet, an IPv6 block): 600 wrong guesses.
        for i in range(600):
            with self.assertRaises(ProtocolError) as refused:
                context.chat.authenticate(guesser(f"10.0.{i % 100}.1", i // 100), "alice", f"errada{i}")
            self.assertEqual(refused.exception.code, ErrorCode.CREDENTIALS, "a delay, not a refusal")
        busiest = max(sum(1 for t in self.hashed if start <= t < start + 60) for start in self.hashed)
        self.assertLessEqual(busiest, 30, "never more than --login-rate checked in any minute")
        self.assertGreaterEqual(busiest, 29, "a delay, not a lock: the guesses go on at that pace")
        self.assertGreater(self.now, 20 * 60, "600 guesses took their time")
        # The owner, from any address, is checked at the next turn: 2.4 s at most.
        before = self.now
        self.assertEqual(context.chat.authenticate(guesser("10.0.0.1"), "alice", "certa").name, "alice")
        self.assertLess(self.now - before, 2.5, "one turn of 2.4 s")

    def test_refused_retries_do_not_spend_the_addresss_logins(self) -> None:
        clock = lambda: self.now  # noqa: E731
        context = ServerContext(
            self.fake_users(), SessionRegistry(), mock.Mock(), Limits(),
            login_attempts=RateLimiter(20, clock),  # per address
            guesses=GuessThrottle(30, timing=Timing(login_wait=0, failure_pause=0), clock=clock, wait=self.sleep),
        )
        for i in range(45):  # the burst is checked; the rest find no turn and are refused at once
            with self.assertRaises(ProtocolError):
                context.chat.authenticate(guesser("10.0.0.1"), "alice", f"errada{i}")
        self.assertLess(len(self.hashed), 20)
        self.now += 2.4  # the account's next turn
        account = context.chat.authenticate(guesser("10.0.0.1"), "alice", "certa")
        self.assertEqual(account.name, "alice", "the owner behind the same address still gets in")

    def test_a_connection_pauses_after_three_wrong_passwords_whatever_the_names(self) -> None:
        clock = lambda: self.now  # noqa: E731
        context = ServerContext(
            self.fake_users(), SessionRegistry(), mock.Mock(), Limits(),
            guesses=GuessThrottle(Limits().login_rate, clock=clock, wait=self.sleep),
        )
        member, pauses = guesser("10.0.0.1"), []
        for i in range(8):  # a name each: no account's budget is involved
            before = self.now
            with self.assertRaises(ProtocolError):
                context.chat.authenticate(member, f"nome{i}", "errada")
            pauses.append(self.now - before)
        self.assertEqual(pauses, [0, 0, 0, 1, 2, 3, 4, 4])
        self.assertEqual(member.failed_logins, 8)
        before = self.now  # another connection, same address: its own count
        self.assertEqual(context.chat.authenticate(guesser("10.0.0.1"), "alice", "certa").name, "alice")
        self.assertEqual(self.now, before)

    def test_the_owner_goes_before_guessers_and_the_line_is_bounded(self) -> None:
        throttle = GuessThrottle(30, timing=NO_PAUSE, clock=lambda: self.now, wait=self.wait_asleep)
        for _ in range(5):  # the burst: checked at once
            self.assertIsNone(throttle.check("alice", 5, self.check_wrong))
        outcomes: dict[str, object] = {}
        threads = [self.in_thread(throttle, f"guesser{i}", 5 + i, outcomes) for i in range(3)]
        self.wait_until_asleep(3)  # a full line: 8 s / 2.4 s per turn
        with self.assertRaises(ProtocolError) as refused:  # one more guesser: no place
            throttle.check("alice", 9, self.check_wrong)
        self.assertEqual(refused.exception.code, ErrorCode.LIMIT)
        threads.append(self.in_thread(throttle, "owner", 0, outcomes, password="certa"))
        self.wait_until_asleep(4)
        threads[2].join(10)  # the last guesser was pushed out of the line
        self.assertEqual(outcomes["guesser2"], ErrorCode.LIMIT)
        self.now += 2.4  # the next turn: the owner's, then (her token back) guesser0's
        threads[3].join(10)
        self.assertEqual(outcomes["owner"], "alice")
        self.now += 2.4  # guesser0 spent that turn: guesser1's comes next
        for thread in threads:
            thread.join(10)
        self.assertEqual(self.order[5:], ["owner", "guesser0", "guesser1"], "the owner first, then the line")
        self.assertEqual((outcomes["guesser0"], outcomes["guesser1"]), (None, None), "checked: wrong")

    def test_a_stopping_server_wakes_the_logins_that_wait(self) -> None:
        throttle = GuessThrottle(30, timing=NO_PAUSE, clock=lambda: self.now, wait=self.wait_asleep)
        for _ in range(5):
            throttle.check("alice", 0, self.check_wrong)
        outcomes: dict[str, object] = {}
        waiting = self.in_thread(throttle, "guesser", 5, outcomes)
        self.wait_until_asleep(1)
        throttle.close()
        waiting.join(10)
        self.assertEqual(outcomes["guesser"], ErrorCode.LIMIT, "refused at once, the clock never moved")

    # --- helpers of the line test: real threads, the fake clock ----------------

    def check_wrong(self) -> None:
        self.order.append("guess")

    def wait_asleep(self, condition: threading.Condition, seconds: float) -> None:
        with self.changed:
            self.asleep.add(threading.get_ident())
            self.changed.notify_all()
        condition.wait(0.01)  # the clock is the test's: wake up often and look again

    def wait_until_asleep(self, count: int) -> None:
        with self.changed:
            self.assertTrue(self.changed.wait_for(lambda: len(self.asleep) >= count, 10))

    def in_thread(
        self, throttle: GuessThrottle, who: str, failures: int, outcomes: dict[str, object], password: str = "x"
    ) -> threading.Thread:
        def check() -> str | None:
            self.order.append(who)
            return "alice" if password == "certa" else None

        def run() -> None:
            try:
                outcomes[who] = throttle.check("alice", failures, check)
            except ProtocolError as error:
                outcomes[who] = error.code

        thread = threading.Thread(target=run, daemon=True)
        thread.start()
        return thread


class FakeConnection:
    """Records the presence notices the registry has for a session."""

    def __init__(self) -> None:
        self.lines: list[str] = []
        self._feed: presence.PresenceCursor | None = None
        self._lock = threading.Lock()  # the registry's own thread delivers too

    def follow(self, feed: presence.PresenceCursor) -> None:
        with self._lock:
            self._feed = feed

    def pull_feed(self) -> None:
        with self._lock:
            if self._feed is not None:
                self.lines += self._feed.take().decode("utf-8").splitlines()

    def enqueue(self, data: bytes, *, bounded: bool = True) -> bool:
        with self._lock:
            self.lines += data.decode("utf-8").splitlines()
        return True


class FakeSession:
    """Stands in for ChatSession: the registry needs a name, a connection and mark_replaced."""

    def __init__(self, name: str) -> None:
        self.name: str | None = name
        self.connection = FakeConnection()
        self.replaced = False
        self.failed_logins = 0

    def mark_replaced(self) -> None:
        self.replaced = True


class SessionRegistryTest(unittest.TestCase):
    def log_in(self, registry: SessionRegistry, session: FakeSession) -> FakeSession | None:
        assert session.name is not None
        return registry.log_in(session, session.name)  # type: ignore[arg-type,return-value]

    def test_log_in_tells_the_others(self) -> None:
        registry = SessionRegistry()
        alice, bob = FakeSession("alice"), FakeSession("bob")
        self.assertIsNone(self.log_in(registry, alice))
        self.assertIsNone(self.log_in(registry, bob))
        registry.deliver_presence()
        self.assertEqual(alice.connection.lines, ["ENTROU bob"])
        self.assertEqual(bob.connection.lines, [], "nobody is told of their own login")
        self.assertIs(registry.find("ALICE"), alice)
        self.assertEqual(registry.broadcast(bob, None), [alice])  # type: ignore[arg-type]

    def test_names_sorted_ignoring_case(self) -> None:
        registry = SessionRegistry()
        for name in ("carol", "Bob", "alice", "Ana"):
            self.log_in(registry, FakeSession(name))
        self.assertEqual(registry.names(), ["alice", "Ana", "Bob", "carol"])

    def test_second_login_replaces_quietly_and_only_holder_logs_out(self) -> None:
        registry = SessionRegistry()
        old, new, bob = FakeSession("alice"), FakeSession("alice"), FakeSession("bob")
        self.log_in(registry, old)
        self.log_in(registry, bob)
        self.assertIs(self.log_in(registry, new), old)
        self.assertTrue(old.replaced)
        registry.deliver_presence()
        self.assertEqual(bob.connection.lines, [], "a takeover is not a SAIU plus ENTROU")
        self.assertFalse(registry.log_out(old, "alice"), "the replaced session must not log out")  # type: ignore[arg-type]
        self.assertIs(registry.find("alice"), new)
        self.assertTrue(registry.log_out(new, "alice"))  # type: ignore[arg-type]
        registry.deliver_presence()
        self.assertEqual(bob.connection.lines, ["SAIU alice"])
        self.assertIsNone(registry.find("alice"))
        self.assertEqual(registry.names(), ["bob"])

    def test_each_claim_displaces_the_one_before_and_only_the_last_logs_in(self) -> None:
        registry = SessionRegistry()
        first, second, third, bob = (FakeSession(name) for name in ("alice", "alice", "Alice", "bob"))
        self.log_in(registry, first)
        self.log_in(registry, bob)
        self.assertIs(registry.claim(second, "alice"), first)  # type: ignore[arg-type]
        self.assertIs(registry.claim(third, "ALICE"), second, "the pending login, not the holder")  # type: ignore[arg-type]
        self.assertTrue(first.replaced and second.replaced and not third.replaced)
        with self.assertRaises(registry_module.ClaimLost):
            registry.check_claim(second, "alice")  # type: ignore[arg-type]
        registry.check_claim(third, "alice")  # type: ignore[arg-type]
        self.assertIs(self.log_in(registry, third), first)
        with self.assertRaises(registry_module.ClaimLost, msg="still lost once the name is held"):
            registry.check_claim(second, "alice")  # type: ignore[arg-type]
        self.assertFalse(registry.log_out(second, "alice"))  # type: ignore[arg-type]
        self.assertIs(registry.find("alice"), third)
        registry.deliver_presence()
        self.assertEqual(bob.connection.lines, [], "a takeover is no SAIU nor ENTROU")

    def test_a_login_that_gives_up_after_its_claim_takes_the_holder_it_displaced_along(self) -> None:
        registry = SessionRegistry()
        old, new, bob = FakeSession("alice"), FakeSession("alice"), FakeSession("bob")
        self.log_in(registry, old)
        self.log_in(registry, bob)
        self.assertIs(registry.claim(new, "alice"), old)  # type: ignore[arg-type]
        self.assertTrue(old.replaced, "so it does not log out as it ends (ChatSession.end)")
        self.assertTrue(registry.log_out(new, "alice"), "its login ended before logging in")  # type: ignore[arg-type]
        self.assertIsNone(registry.find("alice"))
        registry.deliver_presence()
        self.assertEqual(bob.connection.lines, ["SAIU alice"], "nobody left holding the name")

    def test_presence_notices_keep_their_order(self) -> None:
        """A log-out and a fast log-in of one name reach the others in that order
        (with no presence budget: else most of these would be coalesced)."""
        with mock.patch.object(registry_module, "PRESENCE_PER_MINUTE", 0):
            registry = SessionRegistry()
        watcher = FakeSession("watcher")
        self.log_in(registry, watcher)
        for round_ in range(200):
            session = FakeSession("alice")
            self.log_in(registry, session)
            thread = threading.Thread(target=registry.log_out, args=(session, "alice"))
            thread.start()
            thread.join(5)
        registry.deliver_presence()
        expected = ["ENTROU alice", "SAIU alice"] * 200
        self.assertEqual(watcher.connection.lines, expected)

    def test_a_login_loop_makes_bounded_noise_and_the_last_word_is_right(self) -> None:
        now = [0.0]
        registry = SessionRegistry(clock=lambda: now[0])
        watcher = FakeSession("watcher")
        self.log_in(registry, watcher)
        for _ in range(255):
            session = FakeSession("alice")
            self.log_in(registry, session)
            registry.log_out(session, "alice")  # type: ignore[arg-type]
        registry.deliver_presence()
        budget = registry_module.PRESENCE_PER_MINUTE
        quiet = ["ENTROU alice", "SAIU alice"] * budget + ["ENTROU alice"]
        self.assertEqual(watcher.connection.lines, quiet, "then alice seems to stay")
        self.assertEqual(registry.names(), ["alice", "watcher"], "to newcomers too")
        self.assertEqual(registry.names(held=False), ["watcher"])
        now[0] += DEFAULT_TIMING.presence_hold - 1
        self.assertEqual(registry.release_departures(), 1.0, "due in a second")
        now[0] += 1
        self.assertIsNone(registry.release_departures())
        registry.deliver_presence()
        self.assertEqual(watcher.connection.lines, [*quiet, "SAIU alice"], "she did not come back: told")
        self.assertEqual(registry.names(), ["watcher"])

    def test_coming_back_while_a_departure_is_held_says_nothing(self) -> None:
        now = [0.0]
        registry = SessionRegistry(clock=lambda: now[0])
        watcher, alice = FakeSession("watcher"), FakeSession("alice")
        self.log_in(registry, watcher)
        for _ in range(registry_module.PRESENCE_PER_MINUTE + 1):
            self.log_in(registry, alice)
            registry.log_out(alice, "alice")  # type: ignore[arg-type]
        self.log_in(registry, alice)
        now[0] += DEFAULT_TIMING.presence_hold
        self.assertIsNone(registry.release_departures())
        registry.deliver_presence()
        budget = registry_module.PRESENCE_PER_MINUTE
        self.assertEqual(watcher.connection.lines, ["ENTROU alice", "SAIU alice"] * budget + ["ENTROU alice"])
        self.assertIs(registry.find("alice"), alice)

    def test_whoever_logs_in_or_lists_while_a_departure_is_held_is_right_at_its_end(self) -> None:
        """carol logs in during alice's held SAIU, and watcher asks LISTA then: both
        see alice as everyone still does, so whether she comes back in time (no notice
        at all) or not (SAIU, late), each one's view at the end is the room."""
        for comes_back in (True, False):
            with self.subTest(comes_back=comes_back):
                now = [0.0]
                registry = SessionRegistry(clock=lambda: now[0])
                views: dict[FakeSession, tuple[set[str], int]] = {}  # LISTA's names, notices before it

                def lista(session: FakeSession) -> None:
                    registry.deliver_presence()  # the notices before the reply come first
                    others = set(registry.names()) - {session.name}
                    views[session] = (others, len(session.connection.lines))

                watcher, alice, carol = FakeSession("watcher"), FakeSession("alice"), FakeSession("carol")
                self.log_in(registry, watcher)
                lista(watcher)
                for _ in range(registry_module.PRESENCE_PER_MINUTE + 1):  # the last SAIU is held
                    self.log_in(registry, alice)
                    registry.log_out(alice, "alice")  # type: ignore[arg-type]
                self.log_in(registry, carol)
                lista(carol)
                lista(watcher)
                if comes_back:
                    self.log_in(registry, alice)
                now[0] += DEFAULT_TIMING.presence_hold
                self.assertIsNone(registry.release_departures())
                registry.deliver_presence()
                online = {name for name in ("watcher", "alice", "carol") if registry.find(name) is not None}
                for session, (view, seen) in views.items():
                    for line in session.connection.lines[seen:]:
                        kind, name = line.split(" ")
                        (view.add if kind == "ENTROU" else view.discard)(name)
                    self.assertEqual(view, online - {session.name}, session.name)

    def test_presence_journal_forgets_only_what_everyone_had(self) -> None:
        journal = presence.PresenceJournal()
        for number in range(3000):
            journal.append(b"ENTROU u%d\n" % number)
        journal.forget_before(2000)
        self.assertEqual(journal.kept, 1000)
        self.assertEqual(journal.end, 3000)
        self.assertEqual(journal.since(2998), (b"ENTROU u2998\nENTROU u2999\n", 3000))
        self.assertEqual(journal.since(3000), (b"", 3000))

    def test_notices_everyone_had_are_forgotten(self) -> None:
        registry = SessionRegistry()
        sessions = [FakeSession(f"u{n}") for n in range(registry_module.FORGET_AFTER + 100)]
        for session in sessions:
            self.log_in(registry, session)
        registry.deliver_presence()
        self.assertEqual(registry._presence.kept, 0, "every session had every notice")
        self.assertEqual(len(sessions[0].connection.lines), len(sessions) - 1)

    def test_notices_of_a_login_storm_reach_every_reader_in_order(self) -> None:
        registry = SessionRegistry()
        readers = [FakeSession(f"r{n}") for n in range(50)]
        for reader in readers:
            self.log_in(registry, reader)
        registry.deliver_presence()
        sends_before = [len(reader.connection.lines) for reader in readers]
        for number in range(500):  # 500 arrivals, then one delivery round
            self.log_in(registry, FakeSession(f"novo{number}"))
        registry.deliver_presence()
        for reader, before in zip(readers, sends_before):
            self.assertEqual(
                reader.connection.lines[before:], [f"ENTROU novo{n}" for n in range(500)]
            )

    def test_admission_limits(self) -> None:
        registry = SessionRegistry(max_clients=3, max_per_ip=2)
        a1, a2, a3 = (FakeAddressConnection("10.0.0.1") for _ in range(3))
        b1, b2 = FakeAddressConnection("10.0.0.2"), FakeAddressConnection("10.0.0.3")
        self.assertIsNone(registry.admit(a1))  # type: ignore[arg-type]
        self.assertIsNone(registry.admit(a2))  # type: ignore[arg-type]
        self.assertIn("IP", registry.admit(a3) or "")  # type: ignore[arg-type]
        self.assertIsNone(registry.admit(b1))  # type: ignore[arg-type]
        self.assertIn("cheio", registry.admit(b2) or "")  # type: ignore[arg-type]
        registry.remove_connection(a1)  # type: ignore[arg-type]
        self.assertIsNone(registry.admit(a3))  # type: ignore[arg-type]
        self.assertEqual(len(registry.connections()), 3)


class RecordingConnection(FakeConnection):
    """A FakeConnection a ChatSession can send to."""

    ip, port = "127.0.0.1", 1
    accepting = True

    def send_encoded(self, data: bytes, *, marks: object = ()) -> bool:
        return self.enqueue(data)


class FloodRoom:
    """A ChatSession called "falante", logged in with ``listeners`` others online and
    ``accounts`` accounts, at the server's default flood limits; time is ``now``."""

    def __init__(self, listeners: int, accounts_count: int, clock: Callable[[], float]) -> None:
        self.registry = SessionRegistry()
        self.others = [FakeSession(f"ouvinte{i}") for i in range(listeners)]
        for other in self.others:
            other.connection = RecordingConnection()
            self.registry.log_in(other, other.name)  # type: ignore[arg-type]
        dummy = users_file.PasswordHash(2, 1, 1, b"sal", b"chave")
        users = mock.MagicMock()
        users.accounts.side_effect = lambda: [users_file.Account(f"conta{i}", dummy) for i in range(accounts_count)]
        users.__len__.return_value = accounts_count
        context = ServerContext(
            users, self.registry, mock.Mock(), Limits(), clock=clock,
        )
        self.connection = RecordingConnection()
        self.session = ChatSession(self.connection, context)  # type: ignore[arg-type]
        self.session.name = "falante"
        self.registry.log_in(self.session, "falante")

    def replies(self, line: bytes) -> list[str]:
        """Every line the session sends itself for ``line`` (no ENTROU: nobody comes)."""
        self.connection.lines.clear()
        self.session.handle_line(line)
        self.session.send_batch()
        return list(self.connection.lines)


class FloodBudgetTest(unittest.TestCase):
    """One line never costs more than the burst: a quiet person can always speak once.
    A line refused for flooding costs nothing, and says what it costs and when it fits."""

    BURST = Limits().flood_burst
    RATE = Limits().flood_rate

    def setUp(self) -> None:
        self.now = 0.0
        self.room(200, 200)

    def room(self, listeners: int, accounts_count: int) -> None:
        room = FloodRoom(listeners, accounts_count, lambda: self.now)
        self.others, self.session, self.connection = room.others, room.session, room.connection
        self.replies = room.replies

    def spend(self, tokens: int) -> None:
        """Spend ``tokens`` of the bucket with PINGs (a token each)."""
        self.assertEqual(set(sum((self.replies(b"PING") for _ in range(tokens)), [])), {"OK PING"})

    def test_a_refused_line_costs_nothing(self) -> None:
        """With 3 tokens, a TODOS to 35 listeners (4) is refused, as often as it is sent,
        without spending them: one token more later, and it goes."""
        self.room(35, 61)
        self.spend(self.BURST - 3)
        refusal = prices.slow_down_error(4, 1 / self.RATE)
        for _ in range(5):
            self.assertEqual(self.replies(b"TODOS oi"), [formatting.format_error(refusal)])
        self.now += 1 / self.RATE
        self.assertEqual(self.replies(b"TODOS oi"), ["OK TODOS"])
        # The registry's own thread may have handed the listener its ENTROU lines meanwhile.
        heard = [line for line in self.others[0].connection.lines if not line.startswith("ENTROU ")]
        self.assertEqual(heard, ["TODOS falante oi"], "once")

    def test_a_refusal_says_the_price_and_when_it_fits(self) -> None:
        self.room(35, 61)
        for line, price in [(b"LISTA TODOS", 7), (b"TODOS oi", 4), (b"PING", 1), (b"PONG", 1)]:
            with self.subTest(line=line):
                self.now += self.BURST / self.RATE  # a full bucket again
                self.spend(self.BURST)
                refused_at = self.now
                (refused,) = self.replies(line)
                stated = prices.parse_slow_down(refused.removeprefix("ERRO DEVAGAR "))
                assert stated is not None, refused
                self.assertEqual(stated.price, price)
                self.assertAlmostEqual(stated.wait, price / self.RATE, delta=0.002)
                self.now = refused_at + price / self.RATE - 0.01
                self.assertTrue(self.replies(line)[-1].startswith("ERRO DEVAGAR "), "not a moment before")
                self.now = refused_at + stated.wait
                self.assertFalse(self.replies(line)[-1].startswith("ERRO DEVAGAR "), "then it fits")

    def test_blank_lines_cost_nothing_and_get_no_reply(self) -> None:
        """After a burst as much as in a quiet moment: a blank line is ignored, not refused."""
        self.spend(self.BURST - 1)
        for _ in range(3 * self.BURST):
            for blank in (b"", b"   "):
                self.assertEqual(self.replies(blank), [])
        self.assertEqual(self.replies(b"PING"), ["OK PING"], "the last token still there")
        self.assertEqual(self.replies(b""), [], "nor with the bucket empty")
        self.assertTrue(self.replies(b"PING")[0].startswith("ERRO DEVAGAR "))

    def test_a_quiet_person_can_always_broadcast_to_a_big_room(self) -> None:
        self.assertEqual(self.replies(b"TODOS oi a todos"), ["OK TODOS"])
        refused = self.replies(b"TODOS de novo")
        self.assertTrue(refused[0].startswith("ERRO DEVAGAR 20 4.001 "), refused)
        self.now += self.BURST / 5  # quiet long enough to refill the burst
        self.assertEqual(self.replies(b"TODOS depois de um tempo"), ["OK TODOS"])
        self.assertIn("TODOS falante depois de um tempo", self.others[0].connection.lines)

    def test_a_quiet_person_can_always_list_every_account(self) -> None:
        self.assertEqual(self.replies(b"LISTA TODOS")[-1], "OK LISTA TODOS")
        self.now += self.BURST / 5
        self.assertEqual(self.replies(b"LISTA TODOS")[-1], "OK LISTA TODOS")


class FakeAddressConnection:
    def __init__(self, ip: str) -> None:
        self.ip = ip


class ConnectionTest(unittest.TestCase):
    def setUp(self) -> None:
        self.server_side, self.peer = socket_pair(self)

    def connection(self, max_queue: int = 0, timing: Timing = DEFAULT_TIMING) -> Connection:
        return Connection(self.server_side, ("127.0.0.1", 1234), max_queue, timing)

    def read_all(self) -> bytes:
        chunks = []
        while data := self.peer.recv(65536):
            chunks.append(data)
        return b"".join(chunks)

    def test_lines_arrive_in_order_and_close_flushes(self) -> None:
        connection = self.connection()
        lines = [f"MSG alice {i} ação" for i in range(1000)]
        for line in lines:
            self.assertTrue(connection.send_line(line))
        connection.close()
        self.assertEqual(self.read_all().decode("utf-8").splitlines(), lines)
        connection.wait_flushed(5)

    def test_send_after_close_is_refused(self) -> None:
        connection = self.connection()
        connection.close()
        connection.wait_flushed(5)
        self.assertFalse(connection.send_line("INFO tarde demais"))
        self.assertEqual(self.read_all(), b"")

    def test_dead_peer_stops_the_writer_without_raising(self) -> None:
        connection = self.connection()
        self.peer.close()
        for _ in range(100):
            connection.send_line("x" * 1000)
        connection.wait_flushed(5)
        self.assertFalse(connection.send_line("INFO depois da queda"))

    @staticmethod
    def writers() -> list[threading.Thread]:
        return [thread for thread in threading.enumerate() if thread.name.startswith("writer-")]

    def test_a_reading_peer_needs_no_writer_thread(self) -> None:
        connection = self.connection()
        for i in range(100):
            self.assertTrue(connection.send_line(f"MSG alice {i}"))
        self.assertEqual(self.writers(), [], "each line went straight to the socket")
        expected = "".join(f"MSG alice {i}\n" for i in range(100)).encode()
        received = b""
        while len(received) < len(expected):
            received += self.peer.recv(65536)
        self.assertEqual(received, expected)

    def test_a_backlog_gets_a_writer_that_ends_once_drained(self) -> None:
        self.server_side.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
        timing = Timing(writer_linger=0.05)  # idle for that long, it ends
        connection = self.connection(timing=timing)
        line = "x" * 1000
        for _ in range(200):  # far more than the socket buffer holds
            self.assertTrue(connection.send_line(line))
        (writer,) = self.writers()
        received = 0
        while received < 200 * (len(line) + 1):
            received += len(self.peer.recv(65536))
        writer.join(timing.writer_linger + 5)
        self.assertFalse(writer.is_alive(), "an idle writer ends")
        self.assertTrue(connection.send_line("depois"), "and the next line goes straight out")
        self.assertEqual(self.peer.recv(100), b"depois\n")
        self.assertEqual(self.writers(), [])

    def test_presence_notices_go_before_the_next_line(self) -> None:
        journal = presence.PresenceJournal()
        journal.append(b"SAIU carol\n")
        connection = self.connection()
        connection.follow(presence.PresenceCursor(journal, journal.end))  # not what came before following
        journal.append(b"ENTROU bob\n")
        self.assertTrue(connection.send_line("MSG bob oi"))
        self.assertEqual(self.peer.recv(100), b"ENTROU bob\nMSG bob oi\n")
        journal.append(b"SAIU bob\n")
        connection.pull_feed()
        self.assertEqual(self.peer.recv(100), b"SAIU bob\n")

    def test_enqueue_sends_nothing_until_flush(self) -> None:
        connection = self.connection()
        self.assertTrue(connection.enqueue(b"ENTROU bob\n"))
        self.peer.settimeout(0.05)
        with self.assertRaises(TimeoutError):
            self.peer.recv(100)
        connection.flush()
        self.peer.settimeout(5)
        self.assertEqual(self.peer.recv(100), b"ENTROU bob\n")

    def test_a_reader_that_never_reads_is_dropped_at_the_bound(self) -> None:
        self.server_side.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
        connection = self.connection(max_queue=64 * 1024)
        line = "TODOS bob " + "x" * 1000
        sent = 0
        while connection.send_line(line):
            sent += 1
            self.assertLess(sent, 10_000, "the queue must be bounded")
        self.assertEqual(connection.ending, QUEUE_FULL)
        connection.wait_flushed(5)
        self.assertFalse(connection.send_line("INFO x"))
        received = len(self.read_all())
        # What reached the peer is what the kernel buffers held plus at most one queue.
        self.assertLess(received, sent * (len(line) + 1))


if __name__ == "__main__":
    unittest.main()


class ChatServiceTest(unittest.TestCase):
    """The chat rules need of a session only the Member interface: a name, a connection
    and mark_replaced (no ChatSession here). What goes to others lands in the caller's
    batch, one line each, encoded once; nothing is sent before the batch is."""

    def setUp(self) -> None:
        from batchat.server.mailbox import Mailbox

        folder = tempfile.TemporaryDirectory()
        self.addCleanup(folder.cleanup)
        self.registry = SessionRegistry()
        self.addCleanup(self.registry.close)
        mailbox = Mailbox(Path(folder.name) / "mailbox.sqlite3", 100)
        self.addCleanup(mailbox.close)
        users = mock.MagicMock()
        users.registered_name.side_effect = lambda name: name if name in ("alice", "bob", "carol") else None
        self.context = ServerContext(users, self.registry, mailbox, Limits())
        self.members = {name: FakeSession(name) for name in ("alice", "bob", "carol")}
        for member in self.members.values():
            member.connection = RecordingConnection()
            self.registry.log_in(member, member.name)  # type: ignore[arg-type]
            member.connection.lines.clear()

    def batch(self) -> object:
        from batchat.server.delivery import Batch

        return Batch(self.context.delivery)

    def test_a_private_message_goes_to_its_recipient_only_when_the_batch_is_sent(self) -> None:
        batch = self.batch()
        outcome = self.context.chat.send_private(self.members["alice"], "alice", "BOB", "oi", batch)  # type: ignore[arg-type]
        self.assertEqual(outcome, ("bob", False))
        self.assertEqual(self.members["bob"].connection.lines, [], "nothing sent before the batch")
        batch.send()  # type: ignore[attr-defined]
        self.assertEqual(self.members["bob"].connection.lines, ["MSG alice oi"])
        self.assertEqual(self.members["carol"].connection.lines, [])

    def test_an_unknown_recipient_is_refused(self) -> None:
        with self.assertRaises(ProtocolError) as caught:
            self.context.chat.send_private(self.members["alice"], "alice", "zeca", "oi", self.batch())  # type: ignore[arg-type]
        self.assertIs(caught.exception.code, ErrorCode.UNKNOWN_USER)

    def test_a_broadcast_reaches_everyone_else_once(self) -> None:
        batch = self.batch()
        self.context.chat.broadcast(self.members["alice"], "alice", "olá", batch)  # type: ignore[arg-type]
        batch.send()  # type: ignore[attr-defined]
        self.assertEqual(self.members["alice"].connection.lines, [])
        for name in ("bob", "carol"):
            self.assertEqual(self.members[name].connection.lines, ["TODOS alice olá"])
