"""Issue 21, rooms: the protocol layer (every new command's parsing, bad room names, the
lines and prices) and the state layer (:class:`RoomService` behind real ChatSessions, with
real stores in a temporary folder: a room's message reaches its members and nobody else;
MOVER, ENCERRAR, permissions, a muted student). The end-to-end tests are in
tests/test_room_server.py.
"""

from __future__ import annotations

import unittest

import protocol
from protocol import ErrorCode, ListRooms, ProtocolError, RoomCommand, RoomMessage
from batchat import formatting, parsing, prices
from batchat.server.delivery import Batch
from batchat.server.ending import SessionEnded
from batchat.server.accounts import UserStore
from batchat.server.chat import ServerContext
from batchat.server.limits import Limits
from batchat.server.mailbox import Mailbox
from batchat.server.moderation import Kind, Moderation
from batchat.server.registry import SessionRegistry
from batchat.server.rooms import RoomStore
from batchat.server.session import ChatSession
from tests.support import temporary_folder
from tests.test_teaching import HASH_COST, LoggingInConnection, PASSWORD

T0 = 1_800_000_000.0  # the injected wall clock: 2027-01-15


class RoomParsingTest(unittest.TestCase):
    """Every new command's lines, valid and not, as the one parser reads them."""

    VALID = [
        ("SALAS", ListRooms()),
        ("salas  ", ListRooms()),
        ("FALA #grupo1 oi, time!", RoomMessage("#grupo1", "oi, time!")),
        ("FALA grupo1  recuado", RoomMessage("#grupo1", " recuado")),
        ("fala #Grupo1 oi", RoomMessage("#Grupo1", "oi")),
        ("SALA CRIAR #g1", RoomCommand("CRIAR", "#g1")),
        ("sala entrar g1", RoomCommand("ENTRAR", "#g1")),
        ("SALA SAIR #g1", RoomCommand("SAIR", "#g1")),
        ("SALA QUEM #g1", RoomCommand("QUEM", "#g1")),
        ("SALA ENCERRAR #g1", RoomCommand("ENCERRAR", "#g1")),
        ("SALA TOPICO #g1", RoomCommand("TOPICO", "#g1")),
        ("SALA TOPICO #g1 prova às 10h", RoomCommand("TOPICO", "#g1", "prova às 10h")),
        ("SALA TOPICO #g1 -", RoomCommand("TOPICO", "#g1", "-")),
        ("SALA MOVER #g1 ana bia", RoomCommand("MOVER", "#g1", names=("ana", "bia"))),
        ("SALA MOVER #g1 ana Bia ANA", RoomCommand("MOVER", "#g1", names=("ana", "Bia"))),
        ("SALA ENTRAR #jo\u0303ao", RoomCommand("ENTRAR", "#jõao")),  # NFC
    ]
    INVALID = [
        ("SALAS x", ErrorCode.ARGUMENTS),
        ("FALA #g1", ErrorCode.ARGUMENTS),
        ("FALA #g1    ", ErrorCode.ARGUMENTS),
        ("FALA", ErrorCode.ARGUMENTS),
        ("FALA #g1 a\x1b[2Jb", ErrorCode.ARGUMENTS),
        ("SALA", ErrorCode.ARGUMENTS),
        ("SALA ENTRAR", ErrorCode.ARGUMENTS),
        ("SALA PULAR #g1", ErrorCode.ARGUMENTS),
        ("SALA ENTRAR #g1 extra", ErrorCode.ARGUMENTS),
        ("SALA CRIAR #g1 #g2", ErrorCode.ARGUMENTS),
        ("SALA MOVER #g1", ErrorCode.ARGUMENTS),
        ("SALA MOVER #g1 a/b", ErrorCode.INVALID_NAME),
        ("SALA TOPICO #g1 a\u202eb", ErrorCode.ARGUMENTS),
        ("SALA ENTRAR #", ErrorCode.INVALID_ROOM),
        ("SALA ENTRAR ##g1", ErrorCode.INVALID_ROOM),
        ("SALA ENTRAR #g/1", ErrorCode.INVALID_ROOM),
        ("SALA CRIAR #" + "a" * 21, ErrorCode.INVALID_ROOM),
        ("SALA CRIAR #a\u200bb", ErrorCode.INVALID_ROOM),  # invisible
        ("SALA CRIAR #--", ErrorCode.INVALID_ROOM),
        ("FALA #g\u00a0 oi", ErrorCode.INVALID_ROOM),
        ("FALA #a:b oi", ErrorCode.INVALID_ROOM),
    ]

    def test_valid_lines(self) -> None:
        for line, expected in self.VALID:
            with self.subTest(line=line):
                self.assertEqual(parsing.parse_command(line), expected)

    def test_invalid_lines_get_their_code(self) -> None:
        for line, code in self.INVALID:
            with self.subTest(line=line):
                with self.assertRaises(ProtocolError) as raised:
                    parsing.parse_command(line)
                self.assertIs(raised.exception.code, code)
                self.assertTrue(raised.exception.text)

    def test_the_table_knows_the_words(self) -> None:
        for command, word, access in [(ListRooms(), "SALAS", protocol.Access.LOGGED_IN),
                                      (RoomMessage("#a", "b"), "FALA", protocol.Access.LOGGED_IN),
                                      (RoomCommand("MOVER", "#a", names=("b",)), "SALA", protocol.Access.LOGGED_IN)]:
            with self.subTest(word=word):
                self.assertEqual(protocol.command_word(command), word)
                self.assertIs(protocol.command_help(command).access, access)

    def test_server_lines(self) -> None:
        lines = [
            (formatting.format_room("#g1", 3, "prova"), "SALA #g1 3 prova"),
            (formatting.format_room("#g1", 0, None), "SALA #g1 0"),
            (formatting.format_topic("#g1", "x y"), "TOPICO #g1 x y"),
            (formatting.format_topic("#g1", None), "TOPICO #g1 -"),
            (formatting.format_member("#g1", "ana", True), "MEMBRO #g1 ana ONLINE"),
            (formatting.format_member("#g1", "ana", False), "MEMBRO #g1 ana OFFLINE"),
            (formatting.format_room_history("#g1", "ana", T0, "oi"), "HISTORICO #g1 ana 2027-01-15T08:00:00Z oi"),
            (formatting.format_room_message("#g1", "ana", " oi"), "FALA #g1 ana  oi"),
            (formatting.format_arrived("#g1", "ana"), "CHEGOU #g1 ana"),
            (formatting.format_departed("#g1", "ana"), "PARTIU #g1 ana"),
            (formatting.format_moved("#g1", "prof"), "MOVIDO #g1 prof"),
            (formatting.format_room_closed("#g1", "prof"), "ENCERRADA #g1 prof"),
        ]
        for formatted, expected in lines:
            with self.subTest(expected=expected):
                self.assertEqual(formatted, expected)

    def test_prices(self) -> None:
        cases = [
            (RoomMessage("#a", "b"), 0, 1), (RoomMessage("#a", "b"), 19, 2), (RoomMessage("#a", "b"), 500, 20),
            (RoomCommand("MOVER", "#a", names=tuple(f"n{i}" for i in range(25))), 25, 3),
            (RoomCommand("ENTRAR", "#a"), 999, 1), (ListRooms(), 999, 1),
        ]
        for command, fan_out, price in cases:
            with self.subTest(command=command, fan_out=fan_out):
                self.assertEqual(prices.line_price(command, fan_out, burst=20), price)


class RoomWorld:
    """Real stores in a folder, and a ChatSession logged in per account, each recording
    what its connection gets (the registry's presence thread stays out of it: ENTROU
    and SAIU go through a feed these connections do not read)."""

    def __init__(self, test: unittest.TestCase, students: list[str], teachers: list[str] = (),
                 free_rooms: bool = False) -> None:
        folder = temporary_folder(test)
        self.users = UserStore(folder / "users.json", HASH_COST)
        test.addCleanup(self.users.close)
        for name in [*teachers, *students]:
            self.users.register(name, PASSWORD)
        for name in teachers:
            self.users.set_role(name, True)
        self.mailbox = Mailbox(folder / "mailbox.sqlite3", 100)
        test.addCleanup(self.mailbox.close)
        self.store = RoomStore(folder / "salas.sqlite3", 50, clock=lambda: T0)
        test.addCleanup(self.store.close)
        self.registry = SessionRegistry()
        test.addCleanup(self.registry.close)
        self.moderation = Moderation.in_memory()
        test.addCleanup(self.moderation.close)
        self.context = ServerContext(self.users, self.registry, self.mailbox, Limits(flood_rate=0),
                                     moderation=self.moderation, now=lambda: T0, rooms=self.store,
                                     free_rooms=free_rooms)
        self.sessions: dict[str, ChatSession] = {}

    def log_in(self, name: str) -> list[str]:
        """``name`` online; what its login's reply held."""
        connection = LoggingInConnection()
        session = ChatSession(connection, self.context)  # type: ignore[arg-type]
        self.sessions[name] = session
        return self.send(name, f"ENTRAR {name} {PASSWORD}")

    def send(self, name: str, line: str) -> list[str]:
        """``line`` from ``name``; the lines its own connection got for it (cleared)."""
        session = self.sessions[name]
        session.handle_lines([line.encode("utf-8")])
        return self.take(name)

    def take(self, name: str) -> list[str]:
        """What ``name``'s connection got since the last take, but the presence notices
        (ENTROU, SAIU), which the registry's own thread delivers whenever it runs."""
        connection = self.sessions[name].connection
        with connection._lock:  # type: ignore[attr-defined]
            lines, connection.lines = connection.lines, []  # type: ignore[attr-defined]
        return [line for line in lines if not line.startswith(("ENTROU ", "SAIU "))]

    def ok(self, name: str, line: str) -> list[str]:
        lines = self.send(name, line)
        assert lines and lines[-1].startswith("OK "), (line, lines)
        return lines

    def refused(self, name: str, line: str) -> str:
        lines = self.send(name, line)
        assert len(lines) == 1 and lines[0].startswith("ERRO "), (line, lines)
        return lines[0].split(" ")[1]


class RoomStateTest(unittest.TestCase):
    def test_a_room_message_reaches_its_members_and_nobody_else(self) -> None:
        """Ten rooms of six, everyone talking in their room: each line reaches the other five
        members of its room once, in order, and nobody else (offline members neither)."""
        rooms = {f"#r{r}": [f"u{r}x{m}" for m in range(6)] for r in range(10)}
        everyone = [name for members in rooms.values() for name in members]
        world = RoomWorld(self, everyone, ["prof"])
        world.log_in("prof")
        for room, members in rooms.items():
            self.assertEqual(world.ok("prof", f"SALA MOVER {room} {' '.join(members)}")[-1], f"OK SALA MOVER {room} 6")
        offline = {members[-1] for members in rooms.values()}  # one of each room stays away
        for name in everyone:
            if name not in offline:
                login = world.log_in(name)
                self.assertTrue(login[-2].startswith(f"SALA #r{name[1:name.index('x')]} "), login)
                self.assertEqual(login[-1], f"OK ENTRAR {name}")
        for name in everyone:
            if name not in offline:
                world.take(name)
        received: dict[str, list[str]] = {name: [] for name in everyone}
        for turn in range(2):
            for room, members in rooms.items():
                for name in members[:-1]:
                    *before, ok = world.send(name, f"FALA {room} {turn} de {name}")
                    self.assertEqual(ok, f"OK FALA {room}")
                    received[name] += before
        for room, members in rooms.items():
            for name in members[:-1]:
                with self.subTest(name=name):
                    expected = [f"FALA {room} {other} {turn} de {other}"
                                for turn in range(2) for other in members[:-1] if other != name]
                    self.assertEqual(received[name] + world.take(name), expected)
        self.assertEqual(world.take("prof"), [], "the teacher who moved them is in none")
        self.assertEqual(len(world.store.history("#r0", 100)), 10, "what was said is kept, for the offline too")

    def test_fala_from_a_non_member_and_to_unknown_or_closed_rooms(self) -> None:
        world = RoomWorld(self, ["ana", "bia"], ["prof"])
        for name in ("ana", "bia", "prof"):
            world.log_in(name)
        world.ok("prof", "SALA MOVER #g1 ana")
        world.take("ana")
        self.assertEqual(world.refused("bia", "FALA #g1 oi"), "FORA_DA_SALA")
        self.assertEqual(world.refused("prof", "FALA #g1 oi"), "FORA_DA_SALA", "a teacher speaks in rooms they are in")
        self.assertEqual(world.refused("bia", "FALA #nada oi"), "SALA_INEXISTENTE")
        world.ok("prof", "SALA ENCERRAR #g1")
        self.assertEqual(world.take("ana"), ["ENCERRADA #g1 prof"])
        self.assertEqual(world.refused("ana", "FALA #g1 oi"), "SALA_INEXISTENTE")
        self.assertEqual(world.refused("ana", "SALA ENTRAR #g1"), "SALA_INEXISTENTE")
        self.assertEqual(world.ok("ana", "SALAS"), ["SALA #geral 3", "OK SALAS 1"])

    def test_todos_go_into_geral_history_on_disk(self) -> None:
        world = RoomWorld(self, ["ana", "bia"])
        world.log_in("ana")
        world.log_in("bia")
        for i in range(30):
            self.assertEqual(world.send("ana" if i % 2 else "bia", f"TODOS {i}")[-1], "OK TODOS")
        world.send("bia", "FALA #geral 30")
        world.store.close()  # what was queued is written first
        again = RoomStore(world.store._path, 50)
        self.addCleanup(again.close)
        self.assertEqual([(line.sender, line.text) for line in again.history("#geral", 100)],
                         [("ana" if i % 2 else "bia", str(i)) for i in range(31)])

    def test_fala_geral_is_todos(self) -> None:
        world = RoomWorld(self, ["ana", "bia"])
        world.log_in("ana")
        world.log_in("bia")
        self.assertEqual(world.send("ana", "FALA #geral oi"), ["OK FALA #geral"])
        self.assertEqual(world.take("bia"), ["TODOS ana oi"])

    def test_enter_leave_and_who(self) -> None:
        world = RoomWorld(self, ["ana", "bia", "caio"], free_rooms=True)
        for name in ("ana", "bia", "caio"):
            world.log_in(name)
        self.assertEqual(world.send("ana", "SALA CRIAR #Grupo1"), ["OK SALA CRIAR #Grupo1"])
        self.assertEqual(world.refused("bia", "SALA CRIAR #grupo1"), "SALA_EXISTE")
        world.ok("ana", "FALA grupo1 primeira")
        world.ok("ana", "SALA TOPICO #grupo1 trabalho 2")
        self.assertEqual(world.send("bia", "SALA ENTRAR #GRUPO1"), [
            "TOPICO #Grupo1 trabalho 2", "MEMBRO #Grupo1 ana ONLINE", "MEMBRO #Grupo1 bia ONLINE",
            "HISTORICO #Grupo1 ana 2027-01-15T08:00:00Z primeira", "OK SALA ENTRAR #Grupo1",
        ])
        self.assertEqual(world.take("ana"), ["CHEGOU #Grupo1 bia"])
        self.assertEqual(world.refused("caio", "SALA QUEM #grupo1"), "FORA_DA_SALA")
        self.assertEqual(world.refused("caio", "SALA SAIR #grupo1"), "FORA_DA_SALA")
        self.assertEqual(world.send("bia", "SALA QUEM #grupo1"),
                         ["MEMBRO #Grupo1 ana ONLINE", "MEMBRO #Grupo1 bia ONLINE", "OK SALA QUEM #Grupo1 2"])
        self.assertEqual(world.send("bia", "SALA SAIR #grupo1"), ["OK SALA SAIR #Grupo1"])
        self.assertEqual(world.take("ana"), ["PARTIU #Grupo1 bia"])
        self.assertEqual(world.refused("bia", "SALA SAIR #geral"), "SALA_GERAL")
        self.assertEqual(world.refused("ana", "SALA ENCERRAR #geral"), "SALA_GERAL")
        self.assertEqual(world.send("ana", "SALAS"), ["SALA #geral 3", "SALA #Grupo1 1 trabalho 2", "OK SALAS 2"])
        self.assertEqual(world.send("caio", "SALA QUEM #geral"),
                         ["MEMBRO #geral ana ONLINE", "MEMBRO #geral bia ONLINE", "MEMBRO #geral caio ONLINE",
                          "OK SALA QUEM #geral 3"])

    def test_permissions(self) -> None:
        world = RoomWorld(self, ["ana", "bia"], ["prof"])
        for name in ("ana", "bia", "prof"):
            world.log_in(name)
        self.assertEqual(world.refused("ana", "SALA CRIAR #g1"), "SEM_PERMISSAO", "without --salas-livres")
        self.assertEqual(world.refused("ana", "SALA MOVER #g1 bia"), "SEM_PERMISSAO")
        world.ok("prof", "SALA CRIAR #g1")
        world.ok("ana", "SALA ENTRAR #g1")
        self.assertEqual(world.take("prof"), ["CHEGOU #g1 ana"], "the teacher who made it is in it")
        self.assertEqual(world.refused("ana", "SALA TOPICO #g1 meu"), "SEM_PERMISSAO")
        self.assertEqual(world.refused("ana", "SALA ENCERRAR #g1"), "SEM_PERMISSAO")
        self.assertEqual(world.refused("ana", "SALA TOPICO #geral x"), "SEM_PERMISSAO")
        self.assertEqual(world.send("prof", "SALA TOPICO #g1 tópico"), ["OK SALA TOPICO #g1"])
        self.assertEqual(world.take("ana"), ["TOPICO #g1 tópico"])
        self.assertEqual(world.send("ana", "SALA TOPICO #g1"), ["TOPICO #g1 tópico", "OK SALA TOPICO #g1"])
        world.ok("prof", "SALA TOPICO #g1 -")
        self.assertEqual(world.take("ana"), ["TOPICO #g1 -"])
        self.assertEqual(world.send("bia", "SALA ENTRAR #nada"), [f"ERRO SALA_INEXISTENTE A sala #nada não existe."])

    def test_owner_rights_with_free_rooms(self) -> None:
        world = RoomWorld(self, ["ana", "bia"], free_rooms=True)
        world.log_in("ana")
        world.log_in("bia")
        world.ok("ana", "SALA CRIAR #g1")
        world.ok("bia", "SALA ENTRAR #g1")
        world.take("ana")
        self.assertEqual(world.refused("bia", "SALA ENCERRAR #g1"), "SEM_PERMISSAO", "not hers")
        world.ok("ana", "SALA TOPICO #g1 nosso")
        self.assertEqual(world.send("ana", "SALA ENCERRAR #g1"), ["OK SALA ENCERRAR #g1"])
        self.assertEqual(world.take("bia"), ["TOPICO #g1 nosso", "ENCERRADA #g1 ana"])
        self.assertEqual(world.store.members("#g1"), frozenset())

    def test_mover_checks_every_name_first_then_moves_them_all(self) -> None:
        world = RoomWorld(self, ["ana", "bia", "caio"], ["prof"])
        for name in ("ana", "bia", "prof"):
            world.log_in(name)
        refusal = world.send("prof", "SALA MOVER #g1 ana zeca bia")
        self.assertEqual(refusal[0].split(" ")[:2], ["ERRO", "USUARIO_INEXISTENTE"])
        self.assertIn("zeca", refusal[0])
        self.assertNotIn("#g1", [room.name for room in world.store.rooms()], "nobody moved, no room made")
        self.assertEqual(world.send("prof", "SALA MOVER #g1 ANA caio"), ["OK SALA MOVER #g1 2"])
        self.assertEqual(world.take("ana"), ["MOVIDO #g1 prof", "MEMBRO #g1 ana ONLINE", "MEMBRO #g1 caio OFFLINE"])
        self.assertEqual(world.take("bia"), [])
        self.assertFalse(world.store.is_member("#g1", "prof"), "the teacher is not in it unless listed")
        self.assertEqual(world.send("prof", "SALA MOVER #g1 ana bia"), ["OK SALA MOVER #g1 1"])
        self.assertEqual(world.take("ana"), ["CHEGOU #g1 bia"])
        self.assertEqual(world.take("bia")[0], "MOVIDO #g1 prof")
        self.assertEqual(world.send("prof", "SALA QUEM #g1")[-1], "OK SALA QUEM #g1 3", "a teacher reads any room")

    def test_encerrar_tells_the_members_and_empties_the_room(self) -> None:
        world = RoomWorld(self, ["ana", "bia", "caio"], ["prof"])
        for name in ("ana", "bia", "caio", "prof"):
            world.log_in(name)
        world.ok("prof", "SALA MOVER #g1 ana bia")
        world.take("ana"), world.take("bia")
        self.assertEqual(world.send("prof", "SALA ENCERRAR #g1"), ["OK SALA ENCERRAR #g1"])
        self.assertEqual(world.take("ana"), ["ENCERRADA #g1 prof"])
        self.assertEqual(world.take("bia"), ["ENCERRADA #g1 prof"])
        self.assertEqual(world.take("caio"), [])
        self.assertEqual(world.store.rooms_of("ana"), [])
        self.assertEqual(world.refused("prof", "SALA ENCERRAR #g1"), "SALA_INEXISTENTE")

    def test_a_muted_student_is_muted_in_rooms_too(self) -> None:
        world = RoomWorld(self, ["ana", "bia"], ["prof"])
        for name in ("ana", "bia", "prof"):
            world.log_in(name)
        world.ok("prof", "SALA MOVER #g1 ana bia prof")
        world.take("ana"), world.take("bia")
        world.moderation.sanction("ana", Kind.MUTE, T0 + 600, "prof")
        self.assertEqual(world.refused("ana", "FALA #g1 oi"), "SILENCIADO")
        self.assertEqual(world.take("bia"), [])
        self.assertEqual(world.store.history("#g1", 10), [], "nothing kept either")
        self.assertEqual(world.send("prof", "FALA #g1 ok"), ["OK FALA #g1"], "a teacher is never held back")

    def test_login_lists_ones_rooms_and_fala_costs_by_listeners(self) -> None:
        world = RoomWorld(self, [f"a{i}" for i in range(12)], ["prof"])
        world.log_in("prof")
        world.ok("prof", "SALA MOVER #g1 " + " ".join(f"a{i}" for i in range(12)))
        world.ok("prof", "SALA TOPICO #g1 tema")
        for i in range(11):
            world.log_in(f"a{i}")
        self.assertEqual(world.log_in("a11")[-2:], ["SALA #g1 11 tema", "OK ENTRAR a11"])
        session = world.sessions["a0"]
        self.assertEqual(session._price(RoomMessage("#g1", "x")), 2, "11 others online: one token more")
        self.assertEqual(session._price(RoomMessage("#nada", "x")), 1)


    def test_a_deleted_account_leaves_its_rooms_and_a_new_owner_of_the_name_is_in_none(self) -> None:
        world = RoomWorld(self, ["ana", "bia"], ["prof"])
        world.log_in("prof")
        world.ok("prof", "SALA MOVER #g1 ana bia")
        world.log_in("ana")
        with self.assertRaises(SessionEnded):  # the connection ends after its OK
            world.send("ana", f"EXCLUIR {PASSWORD}")
        self.assertEqual(world.take("ana")[-1], "OK EXCLUIR ana")
        world.sessions["ana"].end()  # as the read loop does once the session ended
        world.log_in("bia")
        self.assertEqual(world.ok("bia", "SALA QUEM #g1")[-1], "OK SALA QUEM #g1 1", "bia alone in it")
        world.users.register("ana", "outra-senha")
        world.sessions["ana"] = ChatSession(LoggingInConnection(), world.context)  # type: ignore[arg-type]
        self.assertEqual(world.send("ana", "ENTRAR ana outra-senha")[-1:], ["OK ENTRAR ana"])
        self.assertNotIn("SALA #g1", " ".join(world.take("ana")))
        self.assertEqual(world.refused("ana", "FALA #g1 oi"), "FORA_DA_SALA")

    def test_a_fala_kept_before_an_entry_and_delivered_after_it_arrives_once(self) -> None:
        """SALA ENTRAR reads the history between a FALA's write and its delivery: the line
        is in that history, and is not given again live."""
        world = RoomWorld(self, ["ana", "bia", "caio"], ["prof"])
        world.log_in("prof")
        world.ok("prof", "SALA MOVER #g1 ana caio")
        for name in ("ana", "bia", "caio"):
            world.log_in(name)
        rooms = world.context.rooms_service
        room, line_id = rooms.speak("ana", "#g1", "no meio")  # on disk, not yet delivered
        entry = world.ok("bia", "SALA ENTRAR #g1")
        self.assertIn("HISTORICO #g1 ana", " ".join(entry))
        batch = Batch(world.context.delivery)
        rooms.deliver("ana", room, "no meio", line_id, batch)
        batch.send()
        self.assertNotIn("FALA #g1 ana no meio", world.take("bia"), "once: in the history")
        self.assertIn("FALA #g1 ana no meio", world.take("caio"), "a member before it gets it live")

if __name__ == "__main__":
    unittest.main()
