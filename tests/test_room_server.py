"""Issue 21, rooms end to end: a real server as ``nc`` sees it (in this process, or
servidor.py in its own for the restarts and the SIGKILL), with ``--salas-livres`` so
that students make their own rooms.
"""

from __future__ import annotations

import re
import unittest

from batchat.server import main as server_main, options
from tests.support import LineClient, own_process, server_options, ServerTestCase, temporary_folder

NO_FLOOD = ("--flood-rate", "0")
WHEN = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ"


class RoomServerTest(ServerTestCase):
    server_args = ("--salas-livres", *NO_FLOOD)

    def ask(self, client: LineClient, line: str) -> str:
        """Send ``line``; its final line (the presence notices that came meanwhile skipped)."""
        return self.answer(client, line)[0]

    def answer(self, client: LineClient, line: str) -> tuple[str, list[str]]:
        """As ``LineClient.reply``, without the presence notices (ENTROU, SAIU) among the lines."""
        final, lines = client.reply(line)
        return final, [line for line in lines if not line.startswith(("ENTROU ", "SAIU "))]

    def restart(self, *, kill: bool = False) -> None:
        """Stop the server (SIGKILL: nothing flushed) and start a new one on the same folder,
        in this process: it only reads what the other one left."""
        if kill:
            self.server.kill()
        else:
            self.server.stop()
        self.server = self.start_server(own_process=False)

    def test_an_old_client_in_geral_sees_exactly_todays_lines(self) -> None:
        old = self.logged_in("velho")
        ana, bia = self.logged_in("ana"), self.logged_in("bia")
        self.assertEqual(self.ask(ana, "SALA CRIAR #grupo1"), "OK SALA CRIAR #grupo1")
        self.assertEqual(self.answer(bia, "SALA ENTRAR grupo1"),
                         ("OK SALA ENTRAR #grupo1", ["MEMBRO #grupo1 ana ONLINE", "MEMBRO #grupo1 bia ONLINE"]))
        ana.read_until("CHEGOU #grupo1 bia")
        self.assertEqual(self.ask(ana, "SALA TOPICO #grupo1 trabalho"), "OK SALA TOPICO #grupo1")
        self.assertEqual(bia.read_until("TOPICO #grupo1 trabalho")[0], "TOPICO #grupo1 trabalho")
        self.assertEqual(self.ask(ana, "FALA #grupo1 só do grupo"), "OK FALA #grupo1")
        self.assertEqual(bia.read_until("FALA ")[0], "FALA #grupo1 ana só do grupo")
        self.assertEqual(self.ask(bia, "SALA SAIR #grupo1"), "OK SALA SAIR #grupo1")
        self.assertEqual(ana.read_until("PARTIU")[0], "PARTIU #grupo1 bia")
        self.assertEqual(self.ask(ana, "TODOS para todos"), "OK TODOS")
        self.assertEqual(self.ask(bia, "FALA #geral pelo geral"), "OK FALA #geral")
        expected = {"TODOS ana para todos", "TODOS bia pelo geral"}  # from two senders: in either order
        seen = []
        while not expected <= set(seen):
            seen.append(old.read_line())
        self.assertEqual(self.ask(old, "PING"), "OK PING")
        self.assertEqual(sorted(line for line in seen if not line.startswith("ENTROU ")), sorted(expected),
                         "no room line, no new word: TODOS, ENTROU and nothing else")

    def test_bad_input_gets_a_clear_erro(self) -> None:
        ana = self.logged_in("ana")
        cases = [
            ("SALA ENTRAR #a/b", "SALA_INVALIDA"), ("FALA semsala", "ARGUMENTOS"),
            ("SALA ENTRAR #nada", "SALA_INEXISTENTE"), ("FALA #nada oi", "SALA_INEXISTENTE"),
            ("SALA VOAR #x", "ARGUMENTOS"), ("SALA SAIR #geral", "SALA_GERAL"),
            ("SALA MOVER #x ana", "SEM_PERMISSAO"), ("SALA CRIAR #geral", "SALA_EXISTE"),
        ]
        for line, code in cases:
            with self.subTest(line=line):
                reply = self.ask(ana, line)
                self.assertRegex(reply, rf"^ERRO {code} \S")
        self.assertEqual(self.ask(ana, "SALA CRIAR #g1"), "OK SALA CRIAR #g1")
        bia = self.logged_in("bia")
        self.assertRegex(self.ask(bia, "FALA #g1 oi"), r"^ERRO FORA_DA_SALA ")
        self.assertEqual(self.connect().request("SALAS").split(" ")[:2], ["ERRO", "NAO_AUTENTICADO"])
        self.assertEqual(self.ask(ana, "PING"), "OK PING", "the session goes on")

    @own_process  # a restart of servidor.py itself
    def test_after_a_restart_one_is_back_in_ones_rooms_and_their_history(self) -> None:
        ana, bia = self.logged_in("ana"), self.logged_in("bia")
        self.assertEqual(self.ask(ana, "SALA CRIAR #Grupo1"), "OK SALA CRIAR #Grupo1")
        self.assertEqual(self.ask(ana, "SALA TOPICO #grupo1 trabalho 2"), "OK SALA TOPICO #Grupo1")
        self.assertEqual(self.ask(ana, "FALA #grupo1 antes de reiniciar"), "OK FALA #Grupo1")
        self.assertEqual(self.ask(bia, "TODOS no geral"), "OK TODOS")
        self.restart()
        ana = self.logged_in("ana", register=False)
        self.assertEqual(ana.login_lines, [f"HISTORICO bia {ana.login_lines[0].split(' ')[2]} no geral",
                                           "SALA #Grupo1 0 trabalho 2"])
        self.assertEqual(self.logged_in("bia", register=False).login_lines[-1:],
                         [ana.login_lines[0]], "not in any room: only #geral's history")
        carla = self.logged_in("carla")
        reply, lines = self.answer(carla, "SALA ENTRAR #grupo1")
        self.assertEqual(reply, "OK SALA ENTRAR #Grupo1")
        self.assertEqual(lines[:3], ["TOPICO #Grupo1 trabalho 2", "MEMBRO #Grupo1 ana ONLINE",
                                     "MEMBRO #Grupo1 carla ONLINE"])
        self.assertRegex(lines[3], rf"^HISTORICO #Grupo1 ana {WHEN} antes de reiniciar$")
        self.assertEqual(len(lines), 4)

    @own_process  # SIGKILL
    def test_an_acknowledged_fala_survives_a_sigkill(self) -> None:
        ana = self.logged_in("ana")
        self.assertEqual(self.ask(ana, "SALA CRIAR #g1"), "OK SALA CRIAR #g1")
        for i in range(5):
            self.assertEqual(self.ask(ana, f"FALA #g1 linha {i}"), "OK FALA #g1")
        self.restart(kill=True)  # no chance to flush: only what was on disk before each OK
        ana = self.logged_in("ana", register=False)
        self.assertEqual(ana.login_lines, ["SALA #g1 0"])
        _, lines = self.answer(ana, "SALA ENTRAR #g1")
        texts = [re.sub(rf"^HISTORICO #g1 ana {WHEN} ", "", line) for line in lines if line.startswith("HISTORICO")]
        self.assertEqual(texts, [f"linha {i}" for i in range(5)])


class RoomsFileStartTest(unittest.TestCase):
    """The server opens salas.sqlite3 with the other data files: a damaged one stops the start."""

    def test_a_damaged_rooms_file_stops_the_start_and_nothing_is_left_behind(self) -> None:
        folder = temporary_folder(self)
        rooms = folder / "salas.sqlite3"
        rooms.write_bytes(b"isto nao e SQLite" * 100)
        args = options.parse_arguments(server_options(folder / "users.json", (), 0, "127.0.0.1", None))
        self.assertEqual(args.rooms, rooms, "always beside users.json")
        with self.assertRaises(server_main.StartUpError) as raised:
            server_main.start(args)
        self.assertIn(str(rooms), str(raised.exception))
        self.assertEqual(sorted(path.name for path in folder.iterdir()), ["salas.sqlite3"],
                         "nothing created is left, nothing left locked; the damaged file is not touched")
        self.assertEqual(rooms.read_bytes(), b"isto nao e SQLite" * 100)


if __name__ == "__main__":
    unittest.main()
