"""Issue 20 in the client, pure: the teacher's and the account commands as typed, and the
teacher's lines as read (:mod:`batchat.client.teacher_lines`), then in the session's state
(:class:`batchat.client.state.ClientState`). No socket, no thread; the clock and its zone
fixed (15:00 of 21/11/2026 in UTC-3, :mod:`tests.clocks`), or given explicitly."""

from __future__ import annotations

import datetime
import unittest
from unittest import mock

import protocol
from batchat import parsing
from batchat.client import password_prompt, terminal, typed
from batchat.client.teacher_lines import TeacherLines, act_sentence, until
from batchat.client.render import Style, help_text
from batchat.client.server_lines import parse_server_line
from batchat.client.state import ClientState, HangUp, Reconnect, SendLine
from batchat.client.states import SessionState
from batchat.client.typed import AskPassword, Refuse, Send, ShowHelp
from tests.clocks import CLOCK, fixed_clock, stamp
from tests.test_client_state import GREETING, LOGIN, described, feed, logged_in
from tests.test_typed import IN, OUT, PIPE, interpret

LATER_TODAY = stamp(2026, 11, 21, 15, 30)
TOMORROW = stamp(2026, 11, 22, 9, 0)
NEXT_MONTH = stamp(2026, 12, 3, 10, 5)
NEXT_YEAR = stamp(2027, 1, 5, 10, 0)
YESTERDAY = stamp(2026, 11, 20, 21, 14)


def sent(line: str) -> Send:
    """The Send for a wire line, as the protocol parses it."""
    command = parsing.parse_command(line)
    assert command is not None
    return Send(line, command)


class TypedTest(unittest.TestCase):
    """What the person types, and what goes on the wire."""

    # (typed line, who types it, what the client does)
    LINES = [
        ("/aviso prova às 10h", IN, sent("AVISO prova às 10h")),
        ("/aviso   recuo\tmantido", IN, sent("AVISO   recuo mantido")),  # as TODOS: one space, tabs
        ("/aviso -", IN, sent("AVISO -")),
        ("/aviso sim, amanhã", IN, sent("AVISO sim, amanhã")),  # a message's words stay as typed
        ("/silenciar bob 10m conversa paralela", IN, sent("SILENCIAR bob 10m conversa paralela")),
        ("/expulsar bob", IN, sent("EXPULSAR bob")),
        ("/expulsar bob bagunça", IN, sent("EXPULSAR bob bagunça")),
        ("/banir bob sempre spam", IN, sent("BANIR bob SEMPRE spam")),
        ("/banir bob 1d", IN, sent("BANIR bob 1d")),
        ("/liberar bob", IN, sent("LIBERAR bob")),
        ("/privado nao", IN, sent("PRIVADO NAO")),
        ("/privado não", IN, sent("PRIVADO NAO")),
        ("/privado Sim", IN, sent("PRIVADO SIM")),
        ("/redefinir bob", IN, sent("REDEFINIR bob")),
        ("/registro", IN, sent("REGISTRO")),
        ("/registro 50", IN, sent("REGISTRO 50")),
        ("/cargo bia professor", IN, sent("CARGO bia PROFESSOR")),
        ("/cargo bia professora", IN, sent("CARGO bia PROFESSOR")),
        ("/cargo bia aluna", IN, sent("CARGO bia ALUNO")),
        ("/privado talvez", IN, Refuse("Erro: Uso: /privado nao|sim")),
        # The account's own commands: every password asked hidden, never on the line.
        ("/senha", IN, AskPassword("SENHA", "")),
        ("senha", IN, AskPassword("SENHA", "")),
        ("/excluir", IN, AskPassword("EXCLUIR", "")),
        ("/senha velha123 nova1234", IN, Refuse(
            "Erro: /senha vai sozinho na linha: as senhas são pedidas em seguida, sem aparecer na tela.")),
        ("/excluir s3nh4x", IN, Refuse(
            "Erro: /excluir vai sozinho na linha: as senhas são pedidas em seguida, sem aparecer na tela.")),
        ("/senha", OUT, Refuse(typed.NOT_LOGGED_IN)),
        ("/senha", (False, True, None), Refuse("Erro: Num script, use SENHA <atual> <nova>, em maiúsculas.")),
        ("SENHA velha123 nova1234", (False, True, None), sent("SENHA velha123 nova1234")),
        ("EXCLUIR s3nh4x", IN, sent("EXCLUIR s3nh4x")),
        ("SENHA velha123", IN, Refuse("Erro: Uso: SENHA <atual> <nova>")),  # never asks for a name
        ("/ajuda professor", IN, ShowHelp(teacher=True)),
        ("/ajuda Professores", PIPE, ShowHelp(teacher=True)),
    ]

    def test_interpret(self) -> None:
        for line, who, expected in self.LINES:
            with self.subTest(line=line, who=who):
                self.assertEqual(interpret(line, who), expected)

    # (typed line, what ↑ brings back of it)
    HISTORY = [
        ("SENHA velha123 nova1234", "SENHA"),
        ("/senha velha123 nova1234", "/senha"),
        ("EXCLUIR s3nh4x", "EXCLUIR"),
        ("\\excluir s3nh4x", "/excluir"),
        ("/senha", "/senha"),
        ("/banir bob sempre spam", "/banir bob sempre spam"),
        ("ENTRAR alice senha123", "ENTRAR alice"),  # as before
    ]

    def test_history_keeps_no_password(self) -> None:
        for line, kept in self.HISTORY:
            with self.subTest(line=line):
                self.assertEqual(typed.history_entry(line), kept)

    def test_help_points_to_the_teachers_own(self) -> None:
        everyone = help_text(78)
        self.assertIn("Professores: /ajuda professor mostra os comandos de professor.", everyone)
        self.assertFalse(any(line.startswith("/silenciar") for line in everyone), "a student's help stays short")
        teacher = help_text(78, teacher=True)
        for syntax in ("/aviso <mensagem>|-", "/banir <usuário> <duração>|sempre [motivo]", "/privado nao|sim",
                       "/cargo <usuário> professor|aluno"):
            with self.subTest(syntax=syntax):
                self.assertTrue(any(line.startswith(syntax) for line in teacher), teacher)
        self.assertTrue(any(line.startswith("/senha ") for line in everyone), "no password on the line")
        for columns in (30, 40, 78):
            with self.subTest(columns=columns):
                self.assertLessEqual(max(map(len, help_text(columns, teacher=True))), columns)


class PromptTest(unittest.TestCase):
    def test_excluir_while_away_asks_nothing(self) -> None:
        """Between a drop and the automatic login the client has no name: nothing to confirm."""
        said: list[str] = []
        with mock.patch.object(terminal, "read_hidden") as asked:
            line = password_prompt.ask_account_line(lambda text, *style: said.append(text), "EXCLUIR", "")
        self.assertIsNone(line)
        asked.assert_not_called()
        self.assertEqual(said, ["Sem conexão com o servidor agora; tente /excluir de novo quando voltar ao chat."])


class UntilTest(unittest.TestCase):
    # (<ate> on the wire, how it reads at 15:00 of 21/11/2026 in UTC-3)
    CASES = [
        (LATER_TODAY, "até 15:30"),
        (TOMORROW, "até amanhã às 09:00"),
        (NEXT_MONTH, "até 03/12 às 10:05"),
        (NEXT_YEAR, "até 05/01/2027 às 10:00"),
        ("SEMPRE", "para sempre"),
        ("amanhã", "até amanhã"),  # no time: the field as it came
    ]

    def test_local_time(self) -> None:
        for ate, expected in self.CASES:
            with self.subTest(ate=ate):
                self.assertEqual(until(ate, CLOCK), expected)

    def test_the_same_moment_reads_in_the_zone_of_the_clock(self) -> None:
        zone = datetime.timezone(datetime.timedelta(hours=2))
        clock = fixed_clock(2026, 11, 21, 20, 0, zone=zone)  # 15:00 in UTC-3
        self.assertEqual(until(LATER_TODAY, clock), "até 20:30")


class SentenceTest(unittest.TestCase):
    """Each of issue 20's lines as the person reads it: from its fields, never from the
    server's text (which here says only "texto"), with local times."""

    # (server lines, in order; the last one's text as shown, with its style)
    CASES = [
        (["AVISO ana prova às 10h"], "*** Aviso do professor ana: prova às 10h", Style.ANNOUNCEMENT),
        ([f"SILENCIADO {LATER_TODAY} ana conversa paralela"],
         "O professor ana silenciou você até 15:30 (motivo: conversa paralela): suas mensagens para todos e "
         "para os colegas não serão entregues; você ainda pode escrever ao professor com /msg ana <mensagem>.",
         Style.ERROR),
        ([f"SILENCIADO {LATER_TODAY} ana", f"ERRO SILENCIADO {LATER_TODAY} texto"],
         "Erro: Você está silenciado até 15:30: a mensagem não foi entregue; você ainda pode escrever ao "
         "professor com /msg ana <mensagem>.", Style.ERROR),
        ([f"ERRO SILENCIADO {TOMORROW} texto"],
         "Erro: Você está silenciado até amanhã às 09:00: a mensagem não foi entregue; você ainda pode "
         "escrever ao professor com /msg <professor> <mensagem>.", Style.ERROR),
        (["LIBERADO ana"], "O professor ana liberou você: pode voltar a escrever para todos.", Style.NOTICE),
        ([f"SILENCIADO {LATER_TODAY} ana", "LIBERADO ana", f"ERRO SILENCIADO {LATER_TODAY} texto"],
         "Erro: Você está silenciado até 15:30: a mensagem não foi entregue; você ainda pode escrever ao "
         "professor com /msg <professor> <mensagem>.", Style.ERROR),
        (["PRIVADO NAO ana"], "O professor ana desligou as mensagens privadas entre alunos (modo prova); "
         "você ainda pode escrever ao professor com /msg ana <mensagem>.", Style.ANNOUNCEMENT),
        (["PRIVADO SIM ana"], "O professor ana religou as mensagens privadas entre alunos.", Style.ANNOUNCEMENT),
        (["PRIVADO NAO alice", "PRIVADO SIM ana"],  # alice's own (its OK says it): not shown
         "O professor ana religou as mensagens privadas entre alunos.", Style.ANNOUNCEMENT),
        (["PRIVADO NAO ana", "ERRO PRIVADO_BLOQUEADO texto"],
         "Erro: As mensagens privadas entre alunos estão desligadas (modo prova): a mensagem não foi "
         "entregue; você ainda pode escrever para todos, e ao professor com /msg ana <mensagem>.", Style.ERROR),
        ([f"ERRO EXPULSO {LATER_TODAY} texto"],
         "Erro: Você foi expulso do chat por um professor e não pode entrar de novo até 15:30; depois disso, "
         "rode o cliente e entre de novo.", Style.ERROR),
        ([f"ERRO BANIDO {NEXT_MONTH} texto"],
         "Erro: Você foi banido do chat por um professor e não pode entrar até 03/12 às 10:05; se for um "
         "engano, fale com ele.", Style.ERROR),
        (["ERRO BANIDO SEMPRE texto"],
         "Erro: Você foi banido do chat por um professor, sem prazo para acabar: só um professor pode "
         "liberar você; se for um engano, fale com ele.", Style.ERROR),
        (["ERRO TROCAR_SENHA texto"], "Erro: Você entrou com uma senha provisória: antes de qualquer outra "
         "coisa, troque-a com /senha (ela é pedida sem aparecer na tela).", Style.ERROR),
        (["ERRO SENHA_REDEFINIDA texto"], "Erro: Um professor redefiniu a senha desta conta, e esta sessão foi "
         "encerrada: peça a ele a senha provisória, entre com ela e troque-a com /senha.", Style.ERROR),
        (["ERRO SEM_PERMISSAO texto"],
         "Erro: Esse comando é só para professores; /ajuda mostra os que você pode usar.", Style.ERROR),
        (["ERRO DURACAO_INVALIDA texto"], "Erro: Duração inválida: use um número e uma letra, como 30s, 10m, "
         "2h ou 1d (de 1s a 365d); só /banir aceita também sempre.", Style.ERROR),
        (["ERRO ALVO_PROFESSOR texto"],
         "Erro: Um professor não pode ser silenciado, expulso, banido nem ter a senha redefinida.", Style.ERROR),
        (["ERRO ULTIMO_PROFESSOR texto"], "Erro: Esta é a última conta de professor, e o chat precisa de pelo "
         "menos uma: dê o cargo a outra pessoa antes, com /cargo <nome> professor.", Style.ERROR),
        (["CARGO alice PROFESSOR"],
         "Agora você é professor: /ajuda professor mostra os comandos de professor.", Style.ANNOUNCEMENT),
        (["CARGO alice ALUNO"],
         "Agora você é aluno: os comandos de professor não valem mais para você.", Style.ANNOUNCEMENT),
        (["OK AVISO"], "Aviso enviado a todos e fixado: quem entrar depois também o verá; /aviso - o retira.",
         Style.NOTICE),
        (["OK AVISO -"], "Aviso retirado.", Style.NOTICE),
        ([f"OK SILENCIAR bob {LATER_TODAY}"], "bob está silenciado até 15:30: pode escrever só ao professor.",
         Style.NOTICE),
        ([f"OK EXPULSAR bob {LATER_TODAY}"], "bob foi expulso e não pode entrar de novo até 15:30.", Style.NOTICE),
        (["OK BANIR bob SEMPRE"], "bob está banido para sempre; /liberar bob desfaz.", Style.NOTICE),
        (["OK LIBERAR bob"], "bob foi liberado: nenhum silêncio, expulsão ou banimento vale mais para ele.",
         Style.NOTICE),
        (["OK PRIVADO NAO"], "Modo prova ligado: alunos não trocam mais mensagens privadas; /privado sim religa.",
         Style.NOTICE),
        (["OK PRIVADO SIM"], "Mensagens privadas entre alunos religadas.", Style.NOTICE),
        (["OK CARGO bia PROFESSOR"], "bia agora é professor.", Style.NOTICE),
        (["OK SENHA"], "Senha trocada: da próxima vez, entre com a nova.", Style.NOTICE),
        (["OK EXCLUIR alice"], "Conta alice excluída, com as mensagens guardadas para ela. Até logo!",
         Style.NOTICE),
        (["OK REGISTRO 0"], "O registro está vazio: nenhum ato de professor ainda.", Style.NOTICE),
    ]

    def test_sentences(self) -> None:
        for lines, expected, style in self.CASES:
            with self.subTest(lines=lines):
                reader = TeacherLines(CLOCK)
                for line in lines:
                    shown = reader.render(parse_server_line(line), "alice")
                assert shown is not None
                (last,) = shown
                self.assertEqual(last.plain(), expected)
                self.assertIn(style, [part_style for part_style, _ in last.parts])

    def test_a_teachers_own_exam_mode_is_said_by_its_ok(self) -> None:
        self.assertEqual(TeacherLines(CLOCK).render(parse_server_line("PRIVADO NAO alice"), "alice"), [])

    def test_other_lines_are_not_its_own(self) -> None:
        for line in ("OK LISTA alice", "ERRO CREDENCIAIS texto", "TODOS bob oi", "INFO oi"):
            with self.subTest(line=line):
                self.assertIsNone(TeacherLines(CLOCK).render(parse_server_line(line), "alice"))

    def test_a_provisional_password_is_shown_apart_to_be_read_out(self) -> None:
        (shown,) = TeacherLines(CLOCK).render(parse_server_line("OK REDEFINIR bob k7m2-p9x4"), "ana") or []
        self.assertIn((Style.ANNOUNCEMENT, "k7m2-p9x4"), shown.parts)
        self.assertTrue(shown.plain().startswith("Senha provisória de bob: k7m2-p9x4  (diga-a a bob"))

    # (ACAO's fields after the word, the row as read)
    ACTS = [
        (f"{YESTERDAY} ana SILENCIAR bob {LATER_TODAY} conversa", "[ontem 21:14] ana silenciou bob até 15:30 "
         "(motivo: conversa)"),
        (f"{LATER_TODAY} ana BANIR bob SEMPRE", "[hoje 15:30] ana baniu bob para sempre"),
        (f"{YESTERDAY} ana EXPULSAR bob {TOMORROW}", "[ontem 21:14] ana expulsou bob até amanhã às 09:00"),
        (f"{YESTERDAY} ana LIBERAR bob", "[ontem 21:14] ana liberou bob"),
        (f"{YESTERDAY} ana AVISO - prova às 10h", "[ontem 21:14] ana avisou: prova às 10h"),
        (f"{YESTERDAY} ana AVISO - -", "[ontem 21:14] ana retirou o aviso"),
        (f"{YESTERDAY} ana PRIVADO - NAO", "[ontem 21:14] ana desligou as mensagens privadas entre alunos"),
        (f"{YESTERDAY} ana REDEFINIR bob", "[ontem 21:14] ana redefiniu a senha de bob"),
        (f"{YESTERDAY} ana CARGO bia PROFESSOR", "[ontem 21:14] ana deu a bia o cargo de professor"),
        (f"{YESTERDAY} bob EXCLUIR bob", "[ontem 21:14] bob excluiu a própria conta"),
        (f"{YESTERDAY} - PROFESSOR ana", "[ontem 21:14] ana virou professor ao iniciar o servidor (--professor)"),
        (f"{YESTERDAY} ana NOVIDADE bob x", "[ontem 21:14] ana NOVIDADE bob x"),  # a newer server's act
    ]

    def test_record_rows(self) -> None:
        for fields, expected in self.ACTS:
            with self.subTest(fields=fields):
                self.assertEqual(act_sentence(parse_server_line(f"ACAO {fields}").fields, CLOCK), expected)

    def test_the_record_is_one_list_once_complete(self) -> None:
        reader = TeacherLines(CLOCK)
        for fields, _ in self.ACTS[:2]:
            self.assertEqual(reader.render(parse_server_line(f"ACAO {fields}"), "ana"), [])
        shown = reader.render(parse_server_line("OK REGISTRO 2"), "ana") or []
        self.assertEqual([line.plain() for line in shown], [
            "Registro (2 atos, o mais antigo primeiro):",
            "  [ontem 21:14] ana silenciou bob até 15:30 (motivo: conversa)",
            "  [hoje 15:30] ana baniu bob para sempre",
        ])


def relogged(state: ClientState, *lines: str) -> list[object]:
    """After a drop, the next connection's automatic ENTRAR and ``lines`` as its reply."""
    state.connection_lost("caiu")
    state.connected("127.0.0.1:5050")
    state.receive(GREETING)
    again = state.log_in_again()
    assert again is not None
    state.sent(again.command, automatic=True, line=again.line)
    return feed(state, *lines)


class SessionTest(unittest.TestCase):
    """Issue 20's lines in the session: what is held for a login, who is shut out for good,
    which password a later automatic login uses."""

    def test_the_pinned_announcement_comes_right_after_entering(self) -> None:
        state = ClientState(CLOCK, reconnect=True)
        state.connected("127.0.0.1:5050")
        state.receive(GREETING)
        state.sent(LOGIN)
        self.assertEqual(feed(state, "AVISO ana prova às 10h", "PRIVADO NAO ana"), [], "held for the reply")
        events = feed(state, "OK ENTRAR alice")
        self.assertEqual(events[2:], [
            "[15:00] Você entrou no chat como alice.",
            "[15:00] *** Aviso fixado pelo professor ana: prova às 10h",
            "[15:00] As mensagens privadas entre alunos estão desligadas pelo professor ana (modo prova); você "
            "ainda pode escrever ao professor com /msg ana <mensagem>.",
        ])
        again = relogged(state, "AVISO ana prova às 10h", "PRIVADO NAO ana", "OK ENTRAR alice")
        self.assertEqual(again[2:], ["[15:00] De volta ao chat como alice."], "not twice")
        changed = relogged(state, "AVISO ana prova às 11h", "OK ENTRAR alice")
        self.assertEqual(changed[-1], "[15:00] *** Aviso fixado pelo professor ana: prova às 11h")

    def test_the_pinned_announcement_comes_before_the_history_and_kept_messages(self) -> None:
        state = ClientState(CLOCK, reconnect=True)
        state.connected("127.0.0.1:5050")
        state.receive(GREETING)
        state.sent(LOGIN)
        feed(state, "PENDENTE bob 2026-01-01T10:00:00Z oi", "HISTORICO carol 2026-01-01T10:00:00Z bom dia",
             "AVISO ana prova às 10h", "PRIVADO NAO ana")
        shown = feed(state, "OK ENTRAR alice")
        entered = shown.index("[15:00] Você entrou no chat como alice.")
        self.assertEqual(shown[entered + 1], "[15:00] *** Aviso fixado pelo professor ana: prova às 10h")
        self.assertIn("modo prova", shown[entered + 2])
        self.assertTrue(any("bom dia" in line for line in shown[entered + 3:]), shown)
        self.assertTrue(any("bob" in line and "oi" in line for line in shown[entered + 3:]), shown)

    def test_kicked_banned_or_reset_never_logs_in_again_by_itself(self) -> None:
        for line in (f"ERRO EXPULSO {LATER_TODAY} texto", "ERRO BANIDO SEMPRE texto", "ERRO SENHA_REDEFINIDA texto"):
            with self.subTest(line=line):
                state = logged_in(reconnect=True)
                state.sent(protocol.ListUsers())  # pushed: it answers nothing
                (shown,) = feed(state, line)
                self.assertRegex(str(shown), r"^\[15:00\] Erro: ")
                self.assertEqual(state.session_state, SessionState.SHUT_OUT)
                events = state.connection_lost("O servidor encerrou a conexão.")
                self.assertFalse(any(isinstance(event, Reconnect) for event in events))
                self.assertIn("[15:00] Este cliente não vai reconectar sozinho; a frase acima diz quando voltar.",
                              described(events))
                self.assertIsNone(state.credentials)

    def test_banned_while_away_stops_the_retries(self) -> None:
        state = logged_in(reconnect=True)
        events = relogged(state, "ERRO BANIDO SEMPRE texto")
        self.assertIsInstance(events[-1], HangUp)
        self.assertEqual(state.session_state, SessionState.SHUT_OUT)
        self.assertFalse(any(isinstance(event, Reconnect) for event in state.connection_lost("fechou")))

    def test_banned_at_a_typed_login_leaves_the_session_as_it_was(self) -> None:
        state = ClientState(CLOCK, reconnect=True)
        state.connected("127.0.0.1:5050")
        state.receive(GREETING)
        state.sent(LOGIN)
        (shown,) = feed(state, f"ERRO BANIDO {NEXT_MONTH} texto")
        self.assertIn("não pode entrar até 03/12 às 10:05", str(shown))
        self.assertEqual(state.session_state, SessionState.LOGGED_OUT, "another account may log in")

    def test_a_new_password_is_the_one_used_to_log_in_again(self) -> None:
        state = logged_in(reconnect=True)
        line = "SENHA senha123 nova-senha9"
        state.sent(parsing.parse_command(line), line=line)  # type: ignore[arg-type]
        self.assertEqual(feed(state, "OK SENHA"), ["[15:00] Senha trocada: da próxima vez, entre com a nova."])
        state.connection_lost("caiu")
        state.connected("127.0.0.1:5050")
        state.receive(GREETING)
        again = state.log_in_again()
        self.assertIsInstance(again, SendLine)
        self.assertEqual(again.line if again else "", "ENTRAR alice nova-senha9")

    def test_a_deleted_account_says_goodbye(self) -> None:
        state = logged_in(reconnect=True)
        state.sent(parsing.parse_command("EXCLUIR senha123"), line="EXCLUIR senha123")  # type: ignore[arg-type]
        feed(state, "OK EXCLUIR alice")
        self.assertTrue(state.said_goodbye)
        self.assertIsNone(state.credentials)
        self.assertFalse(any(isinstance(event, Reconnect) for event in state.connection_lost("fechou")))

    def test_a_provisional_password_is_told_at_once(self) -> None:
        state = logged_in(reconnect=True)
        state.sent(protocol.ListUsers(), automatic=True)  # the client's own LISTA after login
        (shown,) = feed(state, "ERRO TROCAR_SENHA texto")
        self.assertIn("troque-a com /senha", str(shown))
        self.assertEqual(state.session_state, SessionState.LOGGED_IN)


if __name__ == "__main__":
    unittest.main()
