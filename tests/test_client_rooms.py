"""The terminal client's rooms (issue 21): what is typed and what goes, how each room line
reads, unread counts, the prompt, Tab; then :class:`ClientState` with a fixed clock (15:00)."""

from __future__ import annotations

import unittest

import protocol
from batchat.client import render, typed
from batchat.client.rooms import ROOM_USAGE, RoomView, SwitchRoom, interpret_typed
from batchat.rooms_names import BAD_ROOM_NAME
from batchat.client.state import ClientState, SetPrompt
from batchat.client.typed import Refuse, Send
from tests.clocks import stamp
from tests.test_client_ui import FakeServerTestCase
from tests.test_client_state import described, feed, logged_in

GERAL = RoomView(member_keys=frozenset({"#g1"}))  # in #geral, a member of #g1
IN_G1 = RoomView("#g1", frozenset({"#g1"}))  # in #g1, a member of it only


def typed_in(line: str, view: RoomView = GERAL, partner: str | None = None) -> object:
    """What typing ``line`` does: the wire line sent, a switch, or the refusal's text."""
    match interpret_typed(line, True, view, logged_in=True, partner=partner):
        case Send(line=wire):
            return wire
        case SwitchRoom() as switch:
            return switch
        case Refuse(text=text):
            return f"Refuse: {text}"
        case other:
            return other


class TypedInRoomsTest(unittest.TestCase):
    CASES = [
        # (typed, view, partner, what goes or happens)
        ("oi", GERAL, None, "TODOS oi"),
        ("oi", IN_G1, None, "FALA #g1 oi"),
        ("  return x", IN_G1, None, "FALA #g1   return x"),  # indented: text, its shape kept
        ("/todos oi", IN_G1, None, "TODOS oi"),  # asked for #geral by name
        ("TODOS oi", IN_G1, None, "TODOS oi"),
        ("oi", IN_G1, "bob", "CHAT bob oi"),  # a /conversa keeps its own form
        ("/sala #g1", GERAL, None, SwitchRoom("#g1")),  # a member: no line goes
        ("/sala #G1", IN_G1, None, SwitchRoom("#G1")),
        ("/sala g2", IN_G1, None, "SALA ENTRAR #g2"),  # not a member: SALA ENTRAR first
        ("/sala", IN_G1, None, SwitchRoom(None)),
        ("/sala #geral", IN_G1, None, SwitchRoom(None)),
        ("\\sala #g1", GERAL, None, SwitchRoom("#g1")),
        ("/salas", IN_G1, None, "SALAS"),
        ("/sala sair #g1", IN_G1, None, "SALA SAIR #g1"),
        ("/sala entrar #g3", GERAL, None, "SALA ENTRAR #g3"),
        ("/sala criar g3", GERAL, None, "SALA CRIAR #g3"),
        ("/sala CRIAR #g3", GERAL, None, "SALA CRIAR #g3"),
        ("/sala topico #g1 prova amanhã às 10h", IN_G1, None, "SALA TOPICO #g1 prova amanhã às 10h"),
        ("/sala tópico #g1 -", IN_G1, None, "SALA TOPICO #g1 -"),
        ("/sala topico #g1", IN_G1, None, "SALA TOPICO #g1"),
        ("/sala quem", IN_G1, None, "SALA QUEM #g1"),  # the room the person is in
        ("/sala quem", GERAL, None, "SALA QUEM #geral"),
        ("/sala quem #g2", IN_G1, None, "SALA QUEM #g2"),
        ("/sala mover #g4 ana bia", GERAL, None, "SALA MOVER #g4 ana bia"),
        ("/sala encerrar #g1", IN_G1, None, "SALA ENCERRAR #g1"),
        ("/fala #g2 oi", IN_G1, None, "FALA #g2 oi"),
    ]

    def test_what_is_typed_and_what_goes(self) -> None:
        for line, view, partner, expected in self.CASES:
            with self.subTest(line=line, room=view.current, partner=partner):
                self.assertEqual(typed_in(line, view, partner), expected)

    def test_bad_room_lines_are_refused_with_a_sentence(self) -> None:
        usage, bad_name = f"Refuse: Erro: {ROOM_USAGE}", f"Refuse: Erro: {BAD_ROOM_NAME}"
        for line, expected in [("/sala #a b", usage), ("/sala sair", usage), ("/sala entrar", usage),
                               ("/sala #g!", bad_name), ("/sala criar #" + "x" * 40, bad_name)]:
            with self.subTest(line=line):
                self.assertEqual(typed_in(line, IN_G1), expected)

    def test_a_room_line_longer_than_the_server_takes_is_refused(self) -> None:
        for max_line, line, expected in [
            (20, "oi", "FALA #g1 oi"),
            (0, "x" * 3000, "FALA #g1 " + "x" * 3000),  # 0: no limit
            (20, "um dois três", "Refuse: Erro: linha longa demais: tem 12 caracteres e cabem 10; "
             "não foi enviada (↑ a traz de volta)."),
        ]:
            with self.subTest(max_line=max_line, line=line[:12]):
                result = interpret_typed(line, True, IN_G1, logged_in=True, max_line=max_line)
                self.assertEqual(result.line if isinstance(result, Send) else f"Refuse: {result.text}", expected)

    def test_rooms_need_a_login(self) -> None:
        self.assertEqual(interpret_typed("/sala #g1", True, GERAL, logged_in=False), Refuse(typed.NOT_LOGGED_IN))


class PromptTest(unittest.TestCase):
    def test_the_prompt_shows_the_room(self) -> None:
        for own_name, partner, room, expected in [
            ("ana", None, None, "ana> "),  # #geral: nothing extra
            ("ana", None, "#grupo1", "ana #grupo1> "),
            ("ana", "bob", "#grupo1", "ana → bob> "),  # a conversation keeps its form
            (None, None, "#grupo1", "> "),
        ]:
            with self.subTest(own_name=own_name, partner=partner, room=room):
                self.assertEqual(render.prompt_text(own_name, partner, room), expected)


class TabTest(unittest.TestCase):
    ONLINE = frozenset({"bob", "bia", "#grupo1", "#grupo2", "#teste"})

    def test_room_names_after_sala_and_after_hash(self) -> None:
        for line, expected in [
            ("/sala ", ["#geral ", "#grupo1 ", "#grupo2 ", "#teste "]),
            ("/sala gr", ["#grupo1 ", "#grupo2 "]),
            ("/sala sair #t", ["#teste "]),
            ("/fala #g", ["#geral ", "#grupo1 ", "#grupo2 "]),
            ("/chat b", ["bia ", "bob "]),  # names of people, never rooms
            ("/sala mover #grupo1 b", ["bia ", "bob "]),
        ]:
            with self.subTest(line=line):
                begin = line.rfind(" ") + 1
                self.assertEqual(typed.completions(line, begin, line[begin:], self.ONLINE), expected)


def in_rooms(*lines: str) -> ClientState:
    """Logged in as alice, a member of #g1 and #g2 (the login's SALA lines)."""
    state = logged_in()
    state.sent(protocol.Login("alice", "senha123"))
    feed(state, "SALA #g1 2 projeto final", "SALA #g2 1", "OK ENTRAR alice", *lines)
    return state


def switch(state: ClientState, room: str | None) -> list[object]:
    return described(state.choose(SwitchRoom(room)))


class RoomLinesTest(unittest.TestCase):
    """How each room line reads, in #g1 (the current room) and elsewhere."""

    CASES = [
        ("FALA #g1 bob oi, time", "[15:00] bob: oi, time"),  # the current room: like a public line
        ("FALA #g2 bob oi", "[15:00] [#g2] bob: oi"),
        ("TODOS bob bom dia", "[15:00] [#geral] bob: bom dia"),  # #geral, while in #g1
        ("CHEGOU #g1 bob", "[15:00] -- bob entrou na sala #g1."),
        ("PARTIU #g2 bob", "[15:00] -- bob saiu da sala #g2."),
        ("TOPICO #g1 prova às 10h", "[15:00] Tópico de #g1: prova às 10h"),
        ("TOPICO #g1 -", "[15:00] #g1 está sem tópico."),
        (f"HISTORICO #g1 bob {stamp(2026, 11, 20, 21, 14)} oi de ontem",
         "[histórico] [#g1] [ontem 21:14] bob: oi de ontem"),
        ("ERRO SALA_INVALIDA Nome de sala inválido", "[15:00] Erro: Nome de sala inválido: use # e letras, "
         "dígitos, '_', '-' ou '.' (ex.: #grupo1)."),
        ("ERRO SALA_INEXISTENTE x", "[15:00] Erro: Essa sala não existe (ou foi encerrada): /salas mostra as "
         "salas abertas."),
        ("ERRO SALA_EXISTE x", "[15:00] Erro: Já existe uma sala com esse nome: /sala #nome entra nela."),
        ("ERRO FORA_DA_SALA x", "[15:00] Erro: Você não está nessa sala: entre com /sala #nome antes."),
        ("ERRO SALA_GERAL x", "[15:00] Erro: Não dá para sair nem encerrar #geral: todo mundo está sempre nela."),
    ]

    def test_each_room_line_reads_as_a_sentence(self) -> None:
        for line, expected in self.CASES:
            with self.subTest(line=line):
                state = in_rooms()
                switch(state, "#g1")
                self.assertEqual(feed(state, line), [expected])

    def test_moved_switches_the_room_and_says_so(self) -> None:
        state = in_rooms()
        self.assertEqual(feed(state, "MOVIDO #g5 prof", "TOPICO #g5 exercício 3"), [
            "[15:00] O professor prof levou você para a sala #g5.",
            "Você está em #g5: o que você digitar vai para a sala; /sala sozinho volta para #geral.",
            SetPrompt("alice #g5> "),
            "[15:00] Tópico de #g5: exercício 3",
        ])
        self.assertEqual(state.rooms.current, "#g5")

    def test_a_closed_current_room_sends_the_person_back_to_geral(self) -> None:
        state = in_rooms()
        switch(state, "#g1")
        self.assertEqual(feed(state, "ENCERRADA #g1 prof"), [
            "[15:00] A sala #g1 foi encerrada por prof.",
            "De volta a #geral: o que você digitar vai para todos.",
            SetPrompt("alice> "),
        ])


class ClientStateRoomsTest(unittest.TestCase):
    def test_login_says_the_persons_rooms(self) -> None:
        state = logged_in()
        state.sent(protocol.Login("alice", "senha123"))
        self.assertEqual(feed(state, "SALA #g1 2 projeto final", "SALA #g2 1", "OK ENTRAR alice")[2:], [
            "[15:00] Você entrou no chat como alice.",
            "[15:00] Suas salas: #g1 e #g2 (/sala #g1 vai para lá; /salas mostra todas).",
        ])

    def test_login_sala_lines_make_the_rooms_the_persons(self) -> None:
        state = in_rooms()
        self.assertEqual(state.rooms.view().member_keys, frozenset({"#g1", "#g2"}))
        self.assertEqual(switch(state, "#g1"), [
            "Você está em #g1: o que você digitar vai para a sala; /sala sozinho volta para #geral.",
            SetPrompt("alice #g1> "),
        ])
        self.assertEqual(switch(state, None), [
            "De volta a #geral: o que você digitar vai para todos.", SetPrompt("alice> "),
        ])

    def test_sala_entrar_answered_switches_there(self) -> None:
        state = in_rooms()
        state.sent(protocol.RoomCommand("ENTRAR", "#g7"), line="SALA ENTRAR #g7")
        self.assertEqual(feed(state, "MEMBRO #g7 bob ONLINE", "MEMBRO #g7 carol OFFLINE", "OK SALA ENTRAR #g7"), [
            "[15:00] Quem é de #g7:",
            "  bob: online",
            "  carol: offline",
            "[15:00] Você entrou na sala #g7.",
            "Você está em #g7: o que você digitar vai para a sala; /sala sozinho volta para #geral.",
            SetPrompt("alice #g7> "),
        ])

    def test_sala_quem_lists_the_members_under_a_title(self) -> None:
        state = in_rooms()
        state.sent(protocol.RoomCommand("QUEM", "#g1"), line="SALA QUEM #g1")
        lines = ["MEMBRO #g1 bob ONLINE", "MEMBRO #g1 alice ONLINE", "OK SALA QUEM #g1 2"]
        self.assertEqual(feed(state, *lines), [
            "[15:00] Quem é de #g1:", "  bob: online", "  alice: online", "[15:00] #g1: 2 membros.",
        ])

    def test_own_room_message_is_shown_once_confirmed(self) -> None:
        state = in_rooms()
        switch(state, "#g1")
        for room, expected in [("#g1", "[15:00] eu: oi"), ("#g2", "[15:00] [#g2] eu: oi")]:
            with self.subTest(room=room):
                state.sent(protocol.RoomMessage(room, "oi"), line=f"FALA {room} oi")
                self.assertEqual(feed(state, f"OK FALA {room}"), [expected])

    def test_salas_lists_the_rooms_with_their_unread_lines(self) -> None:
        state = in_rooms()
        switch(state, "#g1")
        feed(state, "FALA #g2 bob um", "FALA #g2 bob dois", "FALA #g1 bob aqui", "TODOS bob geral")
        state.sent(protocol.ListRooms(), line="SALAS")
        listing = ["SALA #geral 3", "SALA #g1 2 projeto final", "SALA #g2 1", "OK SALAS 3"]
        self.assertEqual(feed(state, *listing), [
            "[15:00] Salas (3):",
            "  #geral: 3 online, 1 não lida",
            "  #g1 (você está aqui): 2 online — projeto final",
            "  #g2: 1 online, 2 não lidas",
        ])
        switch(state, "#g2")  # read there
        state.sent(protocol.ListRooms(), line="SALAS")
        self.assertIn("  #g2 (você está aqui): 1 online", feed(state, *listing))

    def test_leaving_the_current_room_goes_back_to_geral(self) -> None:
        state = in_rooms()
        switch(state, "#g2")
        state.sent(protocol.RoomCommand("SAIR", "#g2"), line="SALA SAIR #g2")
        self.assertEqual(feed(state, "OK SALA SAIR #g2"), [
            "[15:00] Você saiu da sala #g2.",
            "De volta a #geral: o que você digitar vai para todos.",
            SetPrompt("alice> "),
        ])
        self.assertNotIn("#g2", state.rooms.view().member_keys)

    def test_a_room_no_longer_the_persons_at_login_gives_way_to_geral(self) -> None:
        state = in_rooms()
        switch(state, "#g1")
        state.sent(protocol.Login("alice", "senha123"))
        self.assertEqual(feed(state, "SALA #g2 1", "OK ENTRAR alice")[1], SetPrompt("alice> "))
        self.assertEqual(state.rooms.view(), RoomView("#geral", frozenset({"#g2"})))

    def test_the_room_is_kept_across_a_new_login_of_the_same_account(self) -> None:
        state = in_rooms()
        switch(state, "#g1")
        state.sent(protocol.Login("alice", "senha123"))
        events = feed(state, "SALA #g1 2", "OK ENTRAR alice")
        self.assertEqual(events[1:], [
            SetPrompt("alice #g1> "), "[15:00] Você entrou no chat como alice.",
            "[15:00] Suas salas: #g1 (/sala #g1 vai para lá; /salas mostra todas).",
        ])


class RoomsClientTest(FakeServerTestCase):
    """:class:`ChatClient` against a fake server: the prompt, room lines, /salas."""

    def test_a_room_from_typing_to_the_wire_and_back(self) -> None:
        self.start_client()
        self.log_in("SALA #g1 2 projeto")
        self.screen.typed.put("/sala #g1")  # a member already: no line goes
        self.screen.wait_for(r"^Você está em #g1: ")
        self.assertEqual(self.screen.prompts[-1], "alice #g1> ")
        self.screen.typed.put("oi time")
        self.assertEqual(self.receive(), "FALA #g1 oi time")
        self.push("OK FALA #g1", "FALA #g2 bob psiu", "FALA #g1 bob oi")
        self.screen.wait_for(r"^\[\d\d:\d\d\] eu: oi time$")
        self.screen.wait_for(r"^\[\d\d:\d\d\] \[#g2\] bob: psiu$")
        self.screen.wait_for(r"^\[\d\d:\d\d\] bob: oi$")
        self.screen.typed.put("/salas")
        self.assertEqual(self.receive(), "SALAS")
        self.push("SALA #geral 3", "SALA #g1 2 projeto", "SALA #g2 4", "OK SALAS 3")
        self.screen.wait_for(r"Salas \(3\):$")
        self.screen.wait_for(r"^  #g2: 4 online, 1 não lida$")
        self.screen.typed.put("/sala #g2")  # not a member: SALA ENTRAR, and there once answered
        self.assertEqual(self.receive(), "SALA ENTRAR #g2")
        self.push("MEMBRO #g2 bob ONLINE", "OK SALA ENTRAR #g2")
        self.screen.wait_for(r"Você entrou na sala #g2\.$")
        self.screen.wait_for(r"^Você está em #g2: ")
        self.assertEqual(self.screen.prompts[-1], "alice #g2> ")
        self.screen.typed.put("/sala")
        self.screen.wait_for(r"^De volta a #geral: ")
        self.assertEqual(self.screen.prompts[-1], "alice> ")


if __name__ == "__main__":
    unittest.main()
