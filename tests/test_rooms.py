"""State tests: the room-name rule (``batchat.rooms_names``) and the rooms' store
(``batchat.server.rooms``, on ``batchat.server.sqlite_files``). Real SQLite files in a
temporary folder, no server; one real subprocess killed with SIGKILL."""

from __future__ import annotations

import collections
import contextlib
import os
import random
import sqlite3
import subprocess
import threading
import unittest
from pathlib import Path
from typing import Any

from protocol import ErrorCode, ProtocolError
from batchat import rooms_names
from batchat.rooms_names import GENERAL, InvalidRoomName, room_key, room_name
from batchat.server.rooms import (GeneralRoom, Line, RoomClosed, RoomExists, RoomInfo, RoomRefused,
                                  RoomsError, RoomStore, UnknownRoom)
from batchat.server.sqlite_files import GroupCommitWriter, open_durable
from tests.support import PYTHON, ROOT, TIMEOUT, StreamLines, has_proc, temporary_folder


class RoomNameTest(unittest.TestCase):
    def test_a_room_name_is_a_hash_and_a_user_name_its_key_ignores_capitals(self) -> None:
        cases = [  # typed, its name, its key
            ("grupo1", "#grupo1", "#grupo1"),
            ("#grupo1", "#grupo1", "#grupo1"),
            ("#Grupo1", "#Grupo1", "#grupo1"),
            ("GERAL", "#GERAL", GENERAL),
            ("#a.b-c_d", "#a.b-c_d", "#a.b-c_d"),
            ("#soluc\u0327a\u0303o", "#solução", "#solução"),  # decomposed accents become NFC
            ("#" + "x" * 20, "#" + "x" * 20, "#" + "x" * 20),
        ]
        for typed, name, key in cases:
            with self.subTest(typed=typed):
                self.assertEqual(room_name(typed), name)
                self.assertEqual(room_key(typed), key)
                self.assertLessEqual(len(name), rooms_names.MAX_ROOM_NAME_LENGTH)

    def test_anything_else_is_refused_with_one_portuguese_sentence(self) -> None:
        for typed in ["", "#", "##a", "# a", "#a b", "#" + "x" * 21, "#..", "#a\n", "#a\u200bb", "#a#b", "a/b"]:
            with self.subTest(typed=typed):
                with self.assertRaises(ValueError) as raised:
                    room_name(typed)
                self.assertIsInstance(raised.exception, InvalidRoomName)
                self.assertEqual(str(raised.exception), rooms_names.BAD_ROOM_NAME)
                self.assertTrue(str(raised.exception).startswith("Nome de sala inválido"))
                with self.assertRaises(InvalidRoomName):
                    room_key(typed)

    def test_general_in_any_spelling(self) -> None:
        for typed, general in [("#geral", True), ("geral", True), ("#Geral", True), ("#gerais", False)]:
            with self.subTest(typed=typed):
                self.assertIs(rooms_names.is_general(typed), general)


class StoreTestCase(unittest.TestCase):
    max_lines = 5

    def setUp(self) -> None:
        self.folder = temporary_folder(self)
        self.path = self.folder / "salas.sqlite3"
        self.store = self.open()

    def open(self, max_lines: int | None = None) -> RoomStore:
        store = RoomStore(self.path, self.max_lines if max_lines is None else max_lines, clock=lambda: 7.0)
        self.addCleanup(store.close)
        return store

    def reopen(self, max_lines: int | None = None) -> RoomStore:
        self.store.close()
        self.store = self.open(max_lines)
        return self.store

    def say(self, room: str, *texts: str, sender: str = "ana") -> None:
        for number, text in enumerate(texts):
            self.store.append(room, sender, 1000.0 + number, text)

    def texts(self, room: str, count: int = 100) -> list[str]:
        return [line.text for line in self.store.history(room, count)]

    def rows(self, query: str) -> list[tuple[Any, ...]]:
        """What is on disk, read through a connection of its own."""
        db = sqlite3.connect(self.path)
        try:
            return db.execute(query).fetchall()
        finally:
            db.close()


class GeneralHistorySoonTest(StoreTestCase):
    """#geral's lines from TODOS (append_soon): queued, then written together."""

    max_lines = 500

    def test_a_busy_general_lands_whole_in_order_in_few_statements(self) -> None:
        inserts: list[str] = []
        # The writer's own connection: each statement it runs gives up the GIL once.
        self.store._writer._db.set_trace_callback(lambda sql: inserts.append(sql) if sql.startswith("INSERT") else None)
        for number in range(450):
            self.store.append_soon("ana", 1000.0 + number, f"l{number}")
        self.store.close()  # what still waits is written now
        lines = self.open().history("#geral", 500)
        self.assertEqual([line.text for line in lines], [f"l{number}" for number in range(450)])
        self.assertEqual([line.id for line in lines], list(range(lines[0].id, lines[0].id + 450)))
        self.assertLess(len(inserts), 10, "one INSERT per 200 lines, not one per line")


class RoomStoreTest(StoreTestCase):
    def test_the_creator_is_in_the_room_they_create(self) -> None:
        info = self.store.create("Grupo1", "ana", 50.0)
        self.assertEqual(info, RoomInfo("#Grupo1", None, "ana", 50.0, False))
        self.assertEqual(self.store.info("#grupo1"), info)
        self.assertEqual(self.store.members("GRUPO1"), {"ana"})
        self.assertEqual(self.store.rooms_of("ana"), ["#Grupo1"])
        self.assertEqual(self.store.rooms(), [RoomInfo(GENERAL, None, None, 7.0, False), info])

    def test_an_open_room_or_general_is_not_created_again(self) -> None:
        self.store.create("#grupo1", "ana", 50.0)
        for name in ["#GRUPO1", "grupo1", "#geral", "Geral"]:
            with self.subTest(name=name), self.assertRaises(RoomExists):
                self.store.create(name, "bob", 60.0)
        self.assertEqual(self.store.info("#grupo1").owner, "ana")
        self.assertEqual(self.rows("SELECT key, owner FROM rooms ORDER BY key"), [(GENERAL, None), ("#grupo1", "ana")])

    def test_join_leave_and_move_say_whether_anything_changed(self) -> None:
        self.store.create("#grupo1", "ana", 50.0)
        self.assertTrue(self.store.join("#grupo1", "bob"))
        self.assertFalse(self.store.join("#Grupo1", "bob"))
        self.assertEqual(self.store.move("grupo1", ["bob", "caio", "dani"]), {"caio", "dani"})
        self.assertEqual(self.store.members("#grupo1"), {"ana", "bob", "caio", "dani"})
        self.assertTrue(self.store.leave("#grupo1", "ana"))
        self.assertFalse(self.store.leave("#grupo1", "ana"))
        self.assertEqual(self.store.members("#grupo1"), {"bob", "caio", "dani"})
        self.assertEqual((self.store.rooms_of("ana"), self.store.rooms_of("bob")), ([], ["#grupo1"]))
        self.assertFalse(self.store.is_member("#grupo1", "ana"))
        self.assertTrue(self.store.is_member("#GRUPO1", "dani"))
        self.assertEqual(sorted(self.rows("SELECT member FROM members")), [("bob",), ("caio",), ("dani",)])

    def test_general_is_everyones_and_has_no_member_rows(self) -> None:
        self.assertTrue(self.store.is_member("#geral", "quem-for"))
        self.assertFalse(self.store.join("geral", "ana"))
        self.assertEqual(self.store.move("#geral", ["ana", "bob"]), set())
        self.assertEqual(self.store.rooms_of("ana"), [])
        for refused in (lambda: self.store.leave("#geral", "ana"), lambda: self.store.close_room("#Geral"),
                        lambda: self.store.members("#geral")):
            with self.subTest(refused=refused), self.assertRaises(GeneralRoom) as raised:
                refused()
            self.assertIn("#geral", str(raised.exception))
        self.assertEqual(self.rows("SELECT * FROM members"), [])

    def test_a_room_that_does_not_exist_is_refused_by_name(self) -> None:
        calls = {
            "info": lambda: self.store.info("#Nada"), "members": lambda: self.store.members("#Nada"),
            "history": lambda: self.store.history("#Nada", 5), "join": lambda: self.store.join("#Nada", "ana"),
            "move": lambda: self.store.move("#Nada", ["ana"]), "leave": lambda: self.store.leave("#Nada", "ana"),
            "append": lambda: self.store.append("#Nada", "ana", 1.0, "oi"),
            "topic": lambda: self.store.set_topic("#Nada", "x"), "close": lambda: self.store.close_room("#Nada"),
        }
        for call, refused in calls.items():
            with self.subTest(call=call), self.assertRaises(UnknownRoom) as raised:
                refused()
            self.assertIn("nada", str(raised.exception).casefold())
        self.assertFalse(self.store.is_member("#Nada", "ana"))
        self.assertEqual(self.rows("SELECT count(*) FROM rooms"), [(1,)])

    def test_bad_values_are_refused_before_the_disk(self) -> None:
        self.store.create("#grupo1", "ana", 50.0)
        calls = {
            "room name": lambda: self.store.join("#grupo 1", "ana"),
            "member key": lambda: self.store.join("#grupo1", "Ana"),
            "members' keys": lambda: self.store.move("#grupo1", ["bob", "a\nb"]),
            "owner": lambda: self.store.create("#grupo2", "", 50.0),
            "creation time": lambda: self.store.create("#grupo2", "ana", float("nan")),
            "sender": lambda: self.store.append("#grupo1", "a b", 1.0, "oi"),
            "text": lambda: self.store.append("#grupo1", "ana", 1.0, "oi\nERRO forjado"),
            "empty text": lambda: self.store.append("#grupo1", "ana", 1.0, ""),
            "time": lambda: self.store.append("#grupo1", "ana", float("inf"), "oi"),
            "topic": lambda: self.store.set_topic("#grupo1", "x" * 201),
            "blank topic": lambda: self.store.set_topic("#grupo1", "   "),
            "topic with a newline": lambda: self.store.set_topic("#grupo1", "a\nb"),
        }
        for call, refused in calls.items():
            with self.subTest(call=call), self.assertRaises(ValueError):
                refused()
        self.assertEqual(self.store.members("#grupo1"), {"ana"})
        self.assertEqual(self.rows("SELECT count(*) FROM lines"), [(0,)])

    def test_a_closed_room_has_nobody_keeps_its_lines_and_opens_again(self) -> None:
        self.store.create("#grupo1", "ana", 50.0)
        self.store.move("#grupo1", ["bob", "caio"])
        self.store.set_topic("#grupo1", "Trabalho 1")
        self.say("#grupo1", "antes")
        self.assertEqual(self.store.close_room("#Grupo1"), {"ana", "bob", "caio"})
        self.assertEqual(self.store.members("#grupo1"), set())
        self.assertEqual(self.store.rooms_of("bob"), [])
        self.assertTrue(self.store.info("#grupo1").closed)
        for refused in (lambda: self.store.join("#grupo1", "bob"), lambda: self.say("#grupo1", "x"),
                        lambda: self.store.close_room("#grupo1"), lambda: self.store.set_topic("#grupo1", None)):
            with self.subTest(refused=refused), self.assertRaises(RoomClosed):
                refused()
        self.assertFalse(self.store.leave("#grupo1", "bob"))
        self.assertEqual(self.store.create("#GRUPO1", "bob", 90.0), RoomInfo("#GRUPO1", None, "bob", 90.0, False))
        self.assertEqual(self.store.members("#grupo1"), {"bob"})
        self.assertEqual(self.texts("#grupo1"), ["antes"])

    def test_a_topic_is_set_cleared_and_general_has_one_too(self) -> None:
        self.store.create("#grupo1", "ana", 50.0)
        self.assertEqual(self.store.set_topic("#grupo1", "Trabalho: redes").topic, "Trabalho: redes")
        self.assertEqual(self.store.info("#grupo1").topic, "Trabalho: redes")
        self.assertIsNone(self.store.set_topic("#grupo1", None).topic)
        self.store.set_topic("#Geral", "Aula de hoje")
        self.assertEqual([room.topic for room in self.store.rooms()], ["Aula de hoje", None])
        self.assertEqual(self.rows("SELECT key, topic FROM rooms ORDER BY key"),
                         [(GENERAL, "Aula de hoje"), ("#grupo1", None)])

    def test_each_room_keeps_its_last_lines_in_memory_and_on_disk(self) -> None:
        self.store.create("#grupo1", "ana", 50.0)
        self.say("#grupo1", *(f"g{n}" for n in range(8)))
        self.say("#geral", "a", "b", sender="bob")
        self.assertEqual(self.texts("#grupo1"), ["g3", "g4", "g5", "g6", "g7"])
        self.assertEqual(self.texts("#grupo1", 2), ["g6", "g7"])
        self.assertEqual(self.texts("#grupo1", 0), [])
        self.assertEqual(self.store.history("#geral", 5), [Line(9, "bob", 1000.0, "a"), Line(10, "bob", 1001.0, "b")])
        self.assertEqual(self.rows("SELECT text FROM lines WHERE room = '#grupo1' ORDER BY id"),
                         [(f"g{n}",) for n in range(3, 8)])

    def test_a_store_that_keeps_no_lines_still_checks_the_room(self) -> None:
        store = self.reopen(max_lines=0)
        self.assertEqual(store.append("#geral", "ana", 1.0, "oi"), Line(0, "ana", 1.0, "oi"))
        self.assertEqual(store.history("#geral", 10), [])
        with self.assertRaises(UnknownRoom):
            store.append("#nada", "ana", 1.0, "oi")
        self.assertEqual(self.rows("SELECT count(*) FROM lines"), [(0,)])

    def test_everything_is_back_after_a_restart(self) -> None:
        self.store.create("#grupo1", "ana", 50.0)
        self.store.create("#Grupo2", "bob", 60.0)
        self.store.create("#velha", "bob", 70.0)
        self.store.move("#grupo1", ["bob", "caio"])
        self.store.set_topic("#grupo1", "Trabalho 1")
        self.store.set_topic("#geral", "Bem-vindos")
        self.say("#grupo1", "um", "dois")
        self.say("#geral", "oi", sender="dani")
        self.store.close_room("#velha")
        before = (self.store.rooms(), self.store.members("#grupo1"), self.store.members("#grupo2"),
                  self.store.rooms_of("bob"), self.store.history("#grupo1", 10), self.store.history("#geral", 10))
        store = self.reopen()
        after = (store.rooms(), store.members("#grupo1"), store.members("#grupo2"),
                 store.rooms_of("bob"), store.history("#grupo1", 10), store.history("#geral", 10))
        self.assertEqual(after, before)
        self.assertEqual(after[3], ["#grupo1", "#Grupo2"])
        self.assertTrue(store.info("#velha").closed)

    def test_a_smaller_history_option_trims_the_file_at_the_start(self) -> None:
        self.say("#geral", *"abcde")
        store = self.reopen(max_lines=2)
        self.assertEqual([line.text for line in store.history("#geral", 10)], ["d", "e"])
        self.assertEqual(self.rows("SELECT text FROM lines ORDER BY id"), [("d",), ("e",)])

    def test_after_close_a_change_fails_as_unavailable_and_reads_still_answer(self) -> None:
        self.store.create("#grupo1", "ana", 50.0)
        self.store.close()
        with self.assertRaises(ProtocolError) as raised, self.assertLogs("batchat.server.rooms", "ERROR"):
            self.say("#grupo1", "tarde demais")
        self.assertEqual(raised.exception.code, ErrorCode.UNAVAILABLE)
        self.assertEqual(self.store.members("#grupo1"), {"ana"})

    def test_a_commit_that_fails_changes_nothing_and_says_unavailable(self) -> None:
        self.store.create("#grupo1", "ana", 50.0)
        real = self.store._writer._db

        class FailingCommit:
            """The store's connection, whose commits fail as on a disk that broke."""

            def __getattr__(self, name: str) -> Any:
                return getattr(real, name)

            def execute(self, statement: str, *args: Any) -> Any:
                if statement == "COMMIT":
                    raise sqlite3.OperationalError("disk I/O error")
                return real.execute(statement, *args)

        self.store._writer._db = FailingCommit()  # type: ignore[assignment]
        for change in (lambda: self.store.join("#grupo1", "bob"), lambda: self.say("#grupo1", "perdida")):
            with self.subTest(change=change), self.assertRaises(ProtocolError) as raised, \
                    self.assertLogs("batchat.server", "ERROR"):
                change()
            self.assertEqual(raised.exception.code, ErrorCode.UNAVAILABLE)
        self.store._writer._db = real
        self.assertEqual((self.store.members("#grupo1"), self.texts("#grupo1")), ({"ana"}, []))
        self.assertTrue(self.store.join("#grupo1", "bob"))  # rolled back: bob was not in on disk either
        self.assertEqual(self.rows("SELECT count(*) FROM lines"), [(0,)])

    def test_appends_at_the_same_time_all_land_each_senders_in_order(self) -> None:
        store = self.reopen(max_lines=1000)
        senders, count = [f"s{n}" for n in range(8)], 25

        def say_in_order(sender: str) -> None:
            for number in range(count):
                store.append("#geral", sender, 1.0, str(number))
        threads = [threading.Thread(target=say_in_order, args=(sender,)) for sender in senders]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(TIMEOUT)
        lines = store.history("#geral", 1000)
        for sender in senders:
            with self.subTest(sender=sender):
                self.assertEqual([line.text for line in lines if line.sender == sender], [str(i) for i in range(count)])
        self.assertEqual(self.rows("SELECT id, sender, text FROM lines ORDER BY id"),
                         [(line.id, line.sender, line.text) for line in lines])
        self.assertEqual([line.id for line in lines], list(range(1, len(senders) * count + 1)))  # rising, as kept


class GroupCommitTest(unittest.TestCase):
    def test_a_refused_job_is_undone_alone_and_the_rest_of_its_commit_lands(self) -> None:
        folder = temporary_folder(self)
        db = open_durable(folder / "x.sqlite3")
        db.execute("CREATE TABLE t (v TEXT)")
        committed: list[list[Any]] = []
        writer = GroupCommitWriter(db, folder / "x.sqlite3", "teste", committed.append)
        self.addCleanup(writer.close)
        holding, release = threading.Event(), threading.Event()

        def hold(db: sqlite3.Connection) -> str:
            holding.set()
            release.wait(TIMEOUT)
            return "held"

        def insert(value: str, fail: bool = False) -> Any:
            def job(db: sqlite3.Connection) -> str:
                db.execute("INSERT INTO t VALUES (?)", (value,))
                if fail:
                    raise RoomRefused("não")
                return value
            return writer.submit(job)

        first = writer.submit(hold)
        self.assertTrue(holding.wait(TIMEOUT))
        futures = [insert("a"), insert("b", fail=True), insert("c")]  # queued together behind hold
        release.set()
        self.assertEqual(first.result(TIMEOUT), "held")
        self.assertEqual([futures[0].result(TIMEOUT), futures[2].result(TIMEOUT)], ["a", "c"])
        self.assertIsInstance(futures[1].exception(TIMEOUT), RoomRefused)
        self.assertEqual(committed, [["held"], ["a", "c"]])
        writer.close()
        check = sqlite3.connect(folder / "x.sqlite3")
        self.addCleanup(check.close)
        self.assertEqual(check.execute("SELECT v FROM t").fetchall(), [("a",), ("c",)])


class RoomFileTest(StoreTestCase):
    def refusal(self) -> str:
        self.store.close()
        with self.assertRaises(RoomsError) as raised:
            RoomStore(self.path, 5)
        sentence = str(raised.exception)
        self.assertIn(str(self.path), sentence)
        self.assertNotIn("\n", sentence)
        self.assertTrue(sentence.endswith("o servidor não inicia por cima dele."), sentence)
        if has_proc():  # nothing keeps the file open: a failed start can remove what it created
            self.assertEqual(self.open_descriptors(), [])
        return sentence

    def open_descriptors(self) -> list[str]:
        """This process's descriptors on the rooms' file or its companions (Linux)."""
        found = []
        for fd in os.listdir("/proc/self/fd"):
            with contextlib.suppress(OSError):  # the listing's own descriptor is gone already
                if os.readlink(f"/proc/self/fd/{fd}").startswith(str(self.path)):
                    found.append(fd)
        return found

    def change_file(self, *statements: str) -> None:
        db = sqlite3.connect(self.path)
        try:
            for statement in statements:
                db.execute(statement)
            db.commit()
        finally:
            db.close()

    def remove_files(self) -> None:
        for suffix in ("", "-wal", "-shm"):
            Path(f"{self.path}{suffix}").unlink(missing_ok=True)

    def test_garbage_is_refused_in_one_sentence(self) -> None:
        self.store.close()
        self.remove_files()
        self.path.write_bytes(b"isto n\xe3o \xe9 um banco de dados SQLite " * 100)
        self.assertIn("não pode ser usado", self.refusal())

    def test_a_schema_it_did_not_make_is_refused(self) -> None:
        cases = {
            "another version": ("PRAGMA user_version = 2",),
            "a table more": ("CREATE TABLE waiting (id INTEGER)",),
            "a column more": ("ALTER TABLE lines ADD COLUMN color TEXT",),
            "a table less": ("DROP TABLE members",),
        }
        for case, statements in cases.items():
            with self.subTest(case=case):
                self.store.close()
                self.remove_files()
                self.store = self.open()
                self.store.close()
                self.change_file(*statements)
                self.assertIn("esquema desconhecido", self.refusal())

    def test_a_foreign_sqlite_file_is_refused(self) -> None:
        self.store.close()
        self.remove_files()
        self.change_file("CREATE TABLE waiting (id INTEGER PRIMARY KEY, recipient TEXT)")
        self.assertIn("esquema desconhecido, versão 0", self.refusal())

    def test_a_damaged_row_is_refused_naming_it(self) -> None:
        self.store.create("#grupo1", "ana", 50.0)
        self.store.close()
        cases = {
            "room name": ("INSERT INTO rooms VALUES ('#a b', '#a b', NULL, 'ana', 1.0, 0)", "'#a b'"),
            "name and key": ("INSERT INTO rooms VALUES ('#x', '#y', NULL, 'ana', 1.0, 0)", "'#x'"),
            "topic": ("UPDATE rooms SET topic = 'a' || char(10) || 'b' WHERE key = '#grupo1'", "'#grupo1'"),
            "closed": ("UPDATE rooms SET closed = 2 WHERE key = '#grupo1'", "'#grupo1'"),
            "general's owner": ("UPDATE rooms SET owner = 'ana' WHERE key = '#geral'", "'#geral'"),
            "owner": ("UPDATE rooms SET owner = 'Ana' WHERE key = '#grupo1'", "'#grupo1'"),
            "creation": ("UPDATE rooms SET created_at = 'ontem' WHERE key = '#grupo1'", "'#grupo1'"),
            "member of nothing": ("INSERT INTO members VALUES ('#nada', 'bob')", "'#nada bob'"),
            "member of #geral": ("INSERT INTO members VALUES ('#geral', 'bob')", "'#geral bob'"),
            "member key": ("INSERT INTO members VALUES ('#grupo1', 'B OB')", "'#grupo1 B OB'"),
            "line text": ("INSERT INTO lines VALUES (9, '#geral', 'bob', 1.0, 'a' || char(13) || 'b')", "'9'"),
            "line sender": ("INSERT INTO lines VALUES (9, '#geral', 'bob!', 1.0, 'oi')", "'9'"),
            "line time": ("INSERT INTO lines VALUES (9, '#geral', 'bob', 1e300, 'oi')", "'9'"),
            "line room": ("INSERT INTO lines VALUES (9, '#nada', 'bob', 1.0, 'oi')", "'9'"),
        }
        for case, (statement, which) in cases.items():
            with self.subTest(case=case):
                self.change_file(statement)
                self.assertIn(f"{which}:", self.refusal())
                self.change_file("DELETE FROM lines WHERE id = 9", "DELETE FROM members WHERE member != 'ana'",
                                 "DELETE FROM rooms WHERE key NOT IN ('#geral', '#grupo1')",
                                 "UPDATE rooms SET topic = NULL, closed = 0, owner = 'ana', created_at = 50.0 "
                                 "WHERE key = '#grupo1'", "UPDATE rooms SET owner = NULL WHERE key = '#geral'")
                self.store = self.open()  # repaired: starts again
                self.assertEqual(self.store.members("#grupo1"), {"ana"})

    def test_a_folder_that_does_not_exist_is_named(self) -> None:
        with self.assertRaises(RoomsError) as raised:
            RoomStore(self.folder / "nada" / "salas.sqlite3")
        self.assertIn(str(self.folder / "nada"), str(raised.exception))

    @unittest.skipUnless(os.name == "posix", "file modes are POSIX")
    def test_a_new_file_is_private(self) -> None:
        self.assertEqual(self.path.stat().st_mode & 0o777, 0o600)


class IndexTest(StoreTestCase):
    """The memory the fan-out reads is what the file says, whatever happened."""

    ROOMS = ["#a", "#B", "#c", "#geral", "#nova"]
    KEYS = ["ana", "bob", "caio", "dani", "eva"]

    def random_change(self, rng: random.Random, step: int) -> str | None:
        """One change picked at random; its name, or ``None`` if it was refused."""
        room, key = rng.choice(self.ROOMS), rng.choice(self.KEYS)
        change = rng.choice(["create", "close", "join", "join", "leave", "move", "move", "append", "append", "topic"])
        calls = {
            "create": lambda: self.store.create(room, key, float(step)),
            "close": lambda: self.store.close_room(room),
            "join": lambda: self.store.join(room, key),
            "leave": lambda: self.store.leave(room, key),
            "move": lambda: self.store.move(room, rng.sample(self.KEYS, rng.randint(0, 3))),
            "append": lambda: self.store.append(room, key, float(step), f"linha {step}"),
            "topic": lambda: self.store.set_topic(room, rng.choice([None, f"tópico {step}"])),
        }
        try:
            calls[change]()
        except RoomRefused:
            return None  # refused: the state must be unchanged, which the comparison checks
        return change

    def memory(self, store: RoomStore) -> dict[str, Any]:
        rooms = store.rooms()
        open_rooms = [room_key(room.name) for room in rooms if not room.closed and room.name != GENERAL]
        return {
            "rooms": [(room_key(room.name), room.name, room.topic, room.owner, room.created_at, room.closed)
                      for room in rooms],
            "members": {room: set(store.members(room)) for room in open_rooms},
            "rooms_of": {key: store.rooms_of(key) for key in self.KEYS},
            "lines": {room_key(room.name): [(line.id, line.sender, line.sent_at, line.text)
                                            for line in store.history(room.name, 99)] for room in rooms},
        }

    def disk(self) -> dict[str, Any]:
        rooms = self.rows("SELECT key, name, topic, owner, created_at, closed FROM rooms "
                          "ORDER BY key != '#geral', key")
        members = self.rows("SELECT room, member FROM members")
        names = {row[0]: row[1] for row in rooms}
        lines: dict[str, list[tuple[Any, ...]]] = {row[0]: [] for row in rooms}
        for room, *line in self.rows("SELECT room, id, sender, sent_at, text FROM lines ORDER BY id"):
            lines[room].append(tuple(line))
        return {
            "rooms": [(*row[:5], bool(row[5])) for row in rooms],
            "members": {row[0]: {m for r, m in members if r == row[0]}
                        for row in rooms if not row[5] and row[0] != GENERAL},
            "rooms_of": {key: [names[r] for r, m in sorted(members) if m == key] for key in self.KEYS},
            "lines": lines,  # trimmed at each append: exactly what the memory keeps
        }

    def test_memory_equals_the_file_after_random_changes(self) -> None:
        rng = random.Random(2121)
        done, most_members = collections.Counter[Any](), 0
        for step in range(200):
            done[self.random_change(rng, step)] += 1
            if step % 25 == 24:
                memory = self.memory(self.store)
                most_members = max(most_members, sum(map(len, memory["members"].values())))
                with self.subTest(step=step):
                    self.assertEqual(memory, self.disk())
        self.assertGreaterEqual(min(done[change] for change in ("create", "close", "join", "leave", "move",
                                                                 "append", "topic")), 5, done)
        self.assertGreaterEqual(most_members, 8)  # the index had something to get wrong
        final = self.memory(self.store)
        self.assertEqual(self.memory(self.reopen()), final)


KILLED_SCRIPT = """
import sys
from pathlib import Path
from batchat.server.rooms import RoomStore
store = RoomStore(Path(sys.argv[1]), 100)
for number in range(20):
    store.append("#geral", "ana", 1.0, f"linha {number}")
print("ok", flush=True)
sys.stdin.read()  # killed here, the writer thread still running
"""


class KilledTest(StoreTestCase):
    @unittest.skipUnless(hasattr(os, "kill"), "needs a process to kill")
    def test_an_acknowledged_line_survives_sigkill(self) -> None:
        self.store.close()
        process = subprocess.Popen([*PYTHON, "-c", KILLED_SCRIPT, str(self.path)], cwd=ROOT, text=True,
                                   stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        lines = StreamLines(process.stdout)  # type: ignore[arg-type]
        try:
            lines.wait_for("^ok$")
        finally:
            process.kill()  # SIGKILL on POSIX: nothing runs after it
            process.wait(TIMEOUT)
            lines.close()
            process.stdin.close()  # type: ignore[union-attr]
        self.store = self.open(100)
        self.assertEqual(self.texts("#geral"), [f"linha {number}" for number in range(20)])


if __name__ == "__main__":
    unittest.main()
