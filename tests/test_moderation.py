"""State tests: the moderation store (``batchat.server.moderation``), on real SQLite files in
a temporary folder: sanctions, the pinned announcement, exam mode, the record, a restart,
a damaged file; and one process killed right after an acknowledged act."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import unittest
from pathlib import Path
from typing import Any
from unittest import mock

from protocol import ErrorCode, ProtocolError
from batchat.server import moderation as moderation_module
from batchat.server.moderation import (
    Act, Announcement, Kind, Moderation, ModerationError, NO_SANCTIONS, PrivateState, Sanction, Sanctions,
)
from tests.support import PYTHON, ROOT, TIMEOUT, ServerTestCase, StreamLines, temporary_folder

NOW = 1_800_000_000.0  # every time here is this one, or counted from it: no clock is read


class ModerationStoreTest(unittest.TestCase):
    def setUp(self) -> None:
        self.path = temporary_folder(self) / "moderacao.sqlite3"

    def open(self) -> Moderation:
        store = Moderation(self.path, clock=lambda: NOW)
        self.addCleanup(store.close)
        return store

    def test_write_ahead_log_and_every_commit_synced(self) -> None:
        store = self.open()
        self.assertEqual(store._db.execute("PRAGMA synchronous").fetchone()[0], 2, "FULL")
        with sqlite3.connect(self.path) as db:  # WAL is the file's own mode: any connection sees it
            self.assertEqual(db.execute("PRAGMA journal_mode").fetchone()[0], "wal")
        db.close()
        self.assertEqual(self.path.stat().st_mode & 0o777, 0o600)

    def test_a_new_store_has_nothing_and_private_messages_open(self) -> None:
        store = self.open()
        self.assertEqual(store.current("bob"), NO_SANCTIONS)
        self.assertFalse(store.current("bob"))
        self.assertIsNone(store.pinned())
        self.assertEqual(store.private_state(), PrivateState(True, None))
        self.assertEqual(store.last_acts(20), [])

    def test_quiet_sums_up_sanctions_and_exam_mode_as_each_commit_lands(self) -> None:
        store = self.open()
        self.assertTrue(store.quiet, "nothing on anyone: the message path skips every check")
        store.sanction("bob", Kind.MUTE, NOW + 60, "Ana")
        self.assertFalse(store.quiet, "set before sanction() returns, so before the teacher's OK")
        store.lift("bob")
        self.assertTrue(store.quiet)
        store.set_private_open(False, "Ana")
        self.assertFalse(store.quiet, "exam mode")
        store.set_private_open(True, "Ana")
        self.assertTrue(store.quiet)
        store.sanction("carol", Kind.KICK, NOW - 1, "Ana")
        self.assertFalse(store.quiet, "an expired sanction kept: the full check, never a wrong shortcut")
        store.close()
        self.assertFalse(self.open().quiet, "read back at start")

    def test_sanctions_by_kind_until_they_expire(self) -> None:
        store = self.open()
        mute = store.sanction("bob", Kind.MUTE, NOW + 60, "Ana", "conversa")
        ban = store.sanction("bob", Kind.BAN, None, "Ana")
        self.assertEqual(store.current("bob", NOW), Sanctions(mute=mute, ban=ban))
        self.assertEqual(store.current("bob"), Sanctions(mute=mute, ban=ban), "the injected clock's now")
        self.assertEqual(store.current("bob", NOW + 60), Sanctions(ban=ban), "a mute ends at its until")
        self.assertEqual(store.current("carol", NOW), NO_SANCTIONS)
        kick = store.sanction("bob", Kind.KICK, NOW + 300, "Ana")
        self.assertEqual(store.current("bob", NOW).kick, kick)

    def test_a_new_sanction_replaces_one_of_its_kind(self) -> None:
        store = self.open()
        store.sanction("bob", Kind.MUTE, NOW + 60, "Ana", "primeira")
        later = store.sanction("bob", Kind.MUTE, NOW + 3600, "Carla", "segunda")
        self.assertEqual(store.current("bob", NOW + 120).mute, later)

    def test_lift_ends_every_kind_for_that_account_only(self) -> None:
        store = self.open()
        for kind in Kind:
            store.sanction("bob", kind, None, "Ana")
        store.sanction("dani", Kind.MUTE, None, "Ana")
        store.lift("bob")
        self.assertEqual(store.current("bob", NOW), NO_SANCTIONS)
        self.assertTrue(store.current("dani", NOW).mute)
        store.lift("ninguem")  # nothing to lift is no error

    def test_pin_replace_and_unpin(self) -> None:
        store = self.open()
        store.pin("Ana", "Prova às 10h")
        self.assertEqual(store.pin("Carla", "Prova adiada"), Announcement("Carla", "Prova adiada"))
        self.assertEqual(store.pinned(), Announcement("Carla", "Prova adiada"))
        store.unpin()
        self.assertIsNone(store.pinned())

    def test_exam_mode_closes_and_opens_private_messages(self) -> None:
        store = self.open()
        store.set_private_open(False, "Ana")
        self.assertEqual(store.private_state(), PrivateState(False, "Ana"))
        store.set_private_open(True, "Carla")
        self.assertEqual(store.private_state(), PrivateState(True, "Carla"))

    def test_the_last_acts_oldest_first(self) -> None:
        store = self.open()
        acts = [store.record(NOW + i, "Ana", "AVISO", "-", f"aviso {i}") for i in range(5)]
        self.assertEqual(store.last_acts(3), acts[2:])
        self.assertEqual(store.last_acts(500), acts)
        self.assertEqual(store.last_acts(0), [])

    def test_memory_keeps_the_newest_acts_and_so_does_a_restart(self) -> None:
        with mock.patch.object(moderation_module, "ACTS_IN_MEMORY", 3):
            store = self.open()
            acts = [store.record(NOW + i, "Ana", "PRIVADO", "-", "NAO") for i in range(5)]
            self.assertEqual(store.last_acts(10), acts[2:])
            store.close()
            self.assertEqual(self.open().last_acts(10), acts[2:])
        with sqlite3.connect(self.path) as db:
            self.assertEqual(db.execute("SELECT count(*) FROM acts").fetchone()[0], 5, "the file keeps them all")
        db.close()

    def test_an_act_given_with_a_write_is_recorded_with_it(self) -> None:
        store = self.open()
        act = Act(NOW, "Ana", "SILENCIAR", "Bob", "2026-12-03T14:30:00Z conversa")
        store.sanction("bob", Kind.MUTE, NOW + 60, "Ana", "conversa", act=act)
        self.assertEqual(store.last_acts(1), [act])
        unpinned = Act(NOW, "Ana", "AVISO", "-", "-")
        store.unpin(act=unpinned)
        self.assertEqual(store.last_acts(2), [act, unpinned])

    def test_everything_is_back_after_a_restart(self) -> None:
        store = self.open()
        mute = store.sanction("bob", Kind.MUTE, NOW + 60, "Ana", "conversa")
        ban = store.sanction("joão", Kind.BAN, None, "Ana")
        store.sanction("carol", Kind.KICK, NOW + 300, "Ana")
        store.lift("carol")
        store.pin("Ana", "Prova às 10h 🦇")
        store.set_private_open(False, "Ana")
        acts = [store.record(NOW, "-", "PROFESSOR", "Ana"), store.record(NOW + 1, "Ana", "BANIR", "João", "SEMPRE")]
        store.close()
        again = self.open()
        self.assertEqual(again.current("bob", NOW), Sanctions(mute=mute))
        self.assertEqual(again.current("joão", NOW), Sanctions(ban=ban))
        self.assertEqual(again.current("carol", NOW), NO_SANCTIONS)
        self.assertEqual(again.pinned(), Announcement("Ana", "Prova às 10h 🦇"))
        self.assertEqual(again.private_state(), PrivateState(False, "Ana"))
        self.assertEqual(again.last_acts(20), acts)

    def test_what_a_line_could_not_carry_is_refused_and_nothing_changes(self) -> None:
        store = self.open()
        bad = {
            "key not a name key": lambda: store.sanction("Bob", Kind.MUTE, None, "Ana"),
            "key with a space": lambda: store.sanction("bo b", Kind.MUTE, None, "Ana"),
            "teacher not a name": lambda: store.sanction("bob", Kind.MUTE, None, "Ana Maria"),
            "newline in the reason": lambda: store.sanction("bob", Kind.MUTE, None, "Ana", "a\nOK ENTRAR x"),
            "until infinite": lambda: store.sanction("bob", Kind.MUTE, float("inf"), "Ana"),
            "escape in the announcement": lambda: store.pin("Ana", "oi\x1b[2J"),
            "empty announcement": lambda: store.pin("Ana", ""),
            "act word in lower case": lambda: store.record(NOW, "Ana", "aviso", "-"),
            "act time past the calendar": lambda: store.record(1e300, "Ana", "AVISO", "-"),
            "act with a bad act given along": lambda: store.sanction(
                "bob", Kind.MUTE, None, "Ana", act=Act(NOW, "Ana", "SILENCIAR", "Bob", "\r")),
        }
        for label, call in bad.items():
            with self.subTest(label):
                with self.assertRaises(ValueError):
                    call()
        self.assertEqual(store.current("bob", NOW), NO_SANCTIONS)
        self.assertIsNone(store.pinned())
        self.assertEqual(store.last_acts(20), [])

    def test_reads_never_touch_the_disk(self) -> None:
        store = self.open()
        store.sanction("bob", Kind.MUTE, None, "Ana")
        store.pin("Ana", "oi")
        act = store.record(NOW, "Ana", "AVISO", "-", "oi")
        real_db = store._db
        store._db = None  # type: ignore[assignment]  # any use would raise
        try:
            self.assertTrue(store.current("bob", NOW).mute)
            self.assertEqual(store.pinned(), Announcement("Ana", "oi"))
            self.assertTrue(store.private_state().open)
            self.assertEqual(store.last_acts(5), [act])
        finally:
            store._db = real_db

    def test_a_disk_that_refuses_answers_unavailable_and_changes_nothing(self) -> None:
        store = self.open()
        real_db = store._db
        store._db = FailingCommit(real_db)  # type: ignore[assignment]
        try:
            with self.assertLogs("batchat.server.moderation", "ERROR"):
                with self.assertRaises(ProtocolError) as raised:
                    store.sanction("bob", Kind.BAN, None, "Ana", act=Act(NOW, "Ana", "BANIR", "Bob", "SEMPRE"))
        finally:
            store._db = real_db
        self.assertIs(raised.exception.code, ErrorCode.UNAVAILABLE)
        self.assertEqual(store.current("bob", NOW), NO_SANCTIONS)
        self.assertEqual(store.last_acts(5), [])
        store.close()
        self.assertEqual(self.open().current("bob", NOW), NO_SANCTIONS, "rolled back on disk too")

    def test_after_close_a_write_is_refused(self) -> None:
        store = self.open()
        store.close()
        with self.assertRaises(ProtocolError) as raised:
            store.pin("Ana", "oi")
        self.assertIs(raised.exception.code, ErrorCode.UNAVAILABLE)

    def test_each_store_in_memory_is_its_own(self) -> None:
        first = Moderation.in_memory()
        first.pin("Ana", "oi")
        first.sanction("bob", Kind.MUTE, None, "Ana")
        second = Moderation.in_memory()  # would read what the first wrote, were they one file
        self.assertEqual(first.pinned(), Announcement("Ana", "oi"))
        self.assertIsNone(second.pinned())
        self.assertEqual(second.current("bob", NOW), NO_SANCTIONS)
        self.assertEqual(list(self.path.parent.iterdir()), [], "no file")


class FailingCommit:
    """A database whose every COMMIT fails as a full or broken disk would."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self._db = db

    def execute(self, sql: str, *args: Any) -> sqlite3.Cursor:
        if sql == "COMMIT":
            raise sqlite3.OperationalError("disk I/O error")
        return self._db.execute(sql, *args)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._db, name)


class DamagedModerationFileTest(unittest.TestCase):
    """A file that is not this store's, or has one bad row, stops the start with one
    sentence naming the file (and the row)."""

    def setUp(self) -> None:
        self.path = temporary_folder(self) / "moderacao.sqlite3"

    def refused(self) -> str:
        with self.assertRaises(ModerationError) as raised:
            Moderation(self.path).close()
        sentence = str(raised.exception)
        self.assertIn(str(self.path), sentence)
        self.assertNotIn("\n", sentence)
        return sentence

    def test_garbage_is_refused(self) -> None:
        self.path.write_bytes(b"isto n\xe3o \xe9 SQLite" * 200)
        self.assertIn("não pode ser usado", self.refused())

    def test_an_unknown_schema_is_refused(self) -> None:
        cases = {
            "a newer version": "PRAGMA user_version = 2",
            "another program's database": "CREATE TABLE waiting (id INTEGER)",
        }
        for label, statement in cases.items():
            with self.subTest(label):
                self.path.unlink(missing_ok=True)
                with sqlite3.connect(self.path) as db:
                    db.execute(statement)
                db.close()
                self.assertIn("formato desconhecido", self.refused())

    def test_missing_tables_are_refused(self) -> None:
        with sqlite3.connect(self.path) as db:
            db.execute(f"PRAGMA user_version = {moderation_module.SCHEMA_VERSION}")
            db.execute("CREATE TABLE other (x)")
        db.close()
        self.assertIn("corrompido", self.refused())

    ROWS: dict[str, tuple[str, tuple[Any, ...], str]] = {  # (table's insert, row, what the sentence names)
        "sanction of an unknown kind": ("sanctions", ("bob", "EXILE", None, "Ana", ""), "tipo desconhecido"),
        "sanction until not a number": ("sanctions", ("bob", "MUTE", "amanhã", "Ana", ""), "hora inválida"),
        "sanction until infinite": ("sanctions", ("bob", "BAN", float("inf"), "Ana", ""), "hora inválida"),
        "sanction by no name": ("sanctions", ("bob", "MUTE", None, "Ana Maria", ""), "nome inválido"),
        "sanction with a newline": ("sanctions", ("bob", "MUTE", None, "Ana", "x\nERRO"), "caracteres proibidos"),
        "sanction on no name key": ("sanctions", ("Bob", "MUTE", None, "Ana", ""), "chave de conta inválida"),
        "unknown setting": ("settings", ("cor", "Ana", "azul"), "ajuste desconhecido"),
        "exam mode neither open nor closed": ("settings", ("private", "Ana", "talvez"), "valor desconhecido"),
        "announcement with an escape": ("settings", ("pinned", "Ana", "oi\x1b[2J"), "caracteres proibidos"),
        "announcement by no name": ("settings", ("pinned", "", "oi"), "nome inválido"),
        "act in lower case": ("acts", (1.0, "Ana", "aviso", "-", ""), "ato inválido"),
        "act time as text": ("acts", ("ontem", "Ana", "AVISO", "-", ""), "hora inválida"),
        "act target with a space": ("acts", (1.0, "Ana", "BANIR", "a b", ""), "nome inválido"),
        "act detail not text": ("acts", (1.0, "Ana", "AVISO", "-", b"oi"), "texto não é texto"),
    }
    INSERTS = {
        "sanctions": "INSERT INTO sanctions (name_key, kind, until, teacher, reason) VALUES (?, ?, ?, ?, ?)",
        "settings": "INSERT INTO settings (name, teacher, value) VALUES (?, ?, ?)",
        "acts": "INSERT INTO acts (at, teacher, act, target, detail) VALUES (?, ?, ?, ?, ?)",
    }

    def test_each_damaged_row_is_refused(self) -> None:
        for label, (table, row, detail) in self.ROWS.items():
            with self.subTest(label):
                self.path.unlink(missing_ok=True)
                Moderation(self.path).close()  # a good file, with its schema
                with sqlite3.connect(self.path) as db:
                    db.execute(self.INSERTS[table], row)
                db.close()
                sentence = self.refused()
                self.assertIn("registro inválido", sentence)
                self.assertIn(detail, sentence)


# A child that opens the store, acts, says so, and waits to be killed.
_ACT_THEN_WAIT = """
import sys
from batchat.server.moderation import Act, Kind, Moderation
store = Moderation(__import__("pathlib").Path(sys.argv[1]))
store.sanction("bob", Kind.BAN, None, "Ana", "spam", act=Act(1.0, "Ana", "BANIR", "Bob", "SEMPRE spam"))
store.pin("Ana", "Prova amanhã")
print("OK", flush=True)
sys.stdin.read()
"""


class KilledRightAfterAnActTest(unittest.TestCase):
    def test_an_acknowledged_act_survives_sigkill(self) -> None:
        path = temporary_folder(self) / "moderacao.sqlite3"
        child = subprocess.Popen(
            [*PYTHON, "-c", _ACT_THEN_WAIT, str(path)], cwd=ROOT,
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        )
        lines = StreamLines(child.stdout)  # type: ignore[arg-type]
        try:
            lines.wait_for("^OK$")  # within TIMEOUT; a traceback shows in the failure (stderr joins stdout)
        finally:
            child.kill()  # SIGKILL on POSIX: nothing runs after it
            child.wait(TIMEOUT)
            lines.close()
            child.stdin.close()  # type: ignore[union-attr]
        store = Moderation(path)
        self.addCleanup(store.close)
        self.assertEqual(store.current("bob", 2.0).ban, Sanction(Kind.BAN, None, "Ana", "spam"))
        self.assertEqual(store.pinned(), Announcement("Ana", "Prova amanhã"))
        self.assertEqual(store.last_acts(5), [Act(1.0, "Ana", "BANIR", "Bob", "SEMPRE spam")])


class ServerKeepsModerationTest(ServerTestCase):
    """The server opens moderacao.sqlite3 beside users.json at start, hands it to the chat
    service, and closes it at shutdown; a damaged one stops the start with one sentence."""

    def store(self) -> Moderation:
        return self.server._server._context.moderation  # type: ignore[no-any-return]

    def test_opened_at_start_closed_at_shutdown_and_back_after_a_restart(self) -> None:
        self.assertTrue((self.folder / "moderacao.sqlite3").is_file())
        self.assertTrue((self.folder / "moderacao.sqlite3.lock").is_file())
        store = self.store()
        store.pin("Ana", "Bem-vindos à aula")
        self.server.stop()
        with self.assertRaises(ProtocolError):
            store.unpin()  # closed with the server
        self.server = self.start_server()
        self.assertEqual(self.store().pinned(), Announcement("Ana", "Bem-vindos à aula"))

    def test_a_damaged_file_stops_the_start_with_one_sentence(self) -> None:
        self.server.stop()
        path = self.folder / "moderacao.sqlite3"
        with sqlite3.connect(path) as db:
            db.execute("INSERT INTO settings (name, teacher, value) VALUES ('private', 'Ana', 'talvez')")
        db.close()
        with self.assertRaises(AssertionError) as raised:  # what start() raised: main() logs it as CRITICAL
            self.start_server()
        self.assertIn(f"{path} tem um registro inválido (ajuste 'private': valor desconhecido)", str(raised.exception))

if __name__ == "__main__":
    unittest.main()
