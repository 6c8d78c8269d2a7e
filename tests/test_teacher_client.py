"""Issue 20 in the client's I/O shell: :class:`batchat.client.threads.ChatClient` against a
fake server over a socketpair (the helpers of :mod:`tests.test_client_ui`): ``/senha`` and
``/excluir`` asked hidden, the pinned announcement, and no reconnection after a sanction;
then ``cliente.py`` itself against the real server, a real teacher kicking it."""

from __future__ import annotations

import tempfile
import unittest
from pathlib import Path
from unittest import mock

from batchat.client import screen, terminal
from tests.clocks import stamp
from tests.support import FAST_RETRY, ClientProcess
from tests.test_client_ui import FakeReadline, FakeServerTestCase
from tests.test_teaching import PASSWORD, TeacherServerTestCase

UNTIL = stamp(2026, 11, 21, 15, 30)  # 15:30 on the tests' clock (15:00, UTC-3)


class AccountCommandsTest(FakeServerTestCase):
    def history(self) -> tuple[screen.InputHistory, FakeReadline]:
        folder = tempfile.TemporaryDirectory()  # not enterContext: that is Python 3.11+
        self.addCleanup(folder.cleanup)
        readline = FakeReadline()
        history = screen.InputHistory(Path(folder.name) / "historico", readline, lambda text: None)
        history.load()
        return history, readline

    def test_senha_asks_three_times_hidden_and_keeps_no_password(self) -> None:
        history, readline = self.history()
        answers = ["senha123", "nova-senha9", "nova-senha9"]
        with mock.patch.object(terminal, "read_hidden", side_effect=answers) as asked:
            self.start_client(history=history)
            self.log_in()
            self.screen.typed.put("/senha")
            self.assertEqual(self.receive(), "SENHA senha123 nova-senha9")
        self.assertEqual([call.args[0] for call in asked.call_args_list],
                         ["Senha atual: ", "Nova senha: ", "Repita a nova senha: "])
        self.assertTrue(all(not call.kwargs.get("echo") for call in asked.call_args_list), "all hidden")
        self.push("OK SENHA")
        self.screen.wait_for(r"^\[15:00\] Senha trocada: da próxima vez, entre com a nova\.$")
        self.assertEqual(readline.history, ["ENTRAR alice", "/senha"])

    def test_senha_with_two_different_new_ones_sends_nothing(self) -> None:
        with mock.patch.object(terminal, "read_hidden", side_effect=["senha123", "nova-senha9", "outra-senha9"]):
            self.start_client()
            self.log_in()
            self.screen.typed.put("/senha")
            self.screen.wait_for(r"^As senhas novas não conferem; a senha não foi trocada\.$")
        self.type_and_receive("PING")  # nothing went before it

    def test_excluir_says_what_is_lost_asks_to_confirm_then_the_password(self) -> None:
        with mock.patch.object(terminal, "read_hidden", side_effect=["alice", "senha123"]) as asked:
            self.start_client(reconnect=True)
            self.log_in()
            self.screen.typed.put("/excluir")
            warning = self.screen.wait_for(r"^Excluir a conta alice")
            self.assertEqual(self.receive(), "EXCLUIR senha123")
        self.assertIn("mensagens guardadas", warning)
        self.assertIn("outra pessoa pode criar uma conta com ele", warning)
        confirm, password = asked.call_args_list
        self.assertEqual((confirm.args[0], confirm.kwargs), ("Para confirmar, digite alice ou sim: ", {"echo": True}))
        self.assertEqual((password.args[0], password.kwargs), ("Senha de alice: ", {}))
        self.push("OK EXCLUIR alice")
        self.hang_up()
        self.screen.wait_for(r"Conta alice excluída")
        self.assertEqual(self.exit_status(), 0, "a goodbye: no reconnection, no error")

    def test_excluir_not_confirmed_sends_nothing(self) -> None:
        with mock.patch.object(terminal, "read_hidden", side_effect=["não"]):
            self.start_client()
            self.log_in()
            self.screen.typed.put("/excluir")
            self.screen.wait_for(r"^A conta não foi excluída\.$")
        self.type_and_receive("PING")


class TeacherLinesTest(FakeServerTestCase):
    def test_the_pinned_announcement_is_shown_first_thing(self) -> None:
        self.start_client()
        self.log_in("AVISO ana prova às 10h")
        self.assertEqual(self.screen.lines_until(r"Aviso fixado"),  # the very next line
                         ["[15:00] *** Aviso fixado pelo professor ana: prova às 10h"])

    def test_a_provisional_password_is_told_to_be_changed(self) -> None:
        self.start_client(interactive=True)
        self.log_in()
        self.assertEqual(self.receive(), "LISTA")  # the client's own, after login
        self.push("ERRO TROCAR_SENHA Troque a senha.")
        self.screen.wait_for(r"^\[15:00\] Erro: Você entrou com uma senha provisória: .* troque-a com /senha")

    def test_a_sanction_that_closes_is_never_retried(self) -> None:
        for line in (f"ERRO EXPULSO {UNTIL} Expulso.", "ERRO BANIDO SEMPRE Banido.",
                     "ERRO SENHA_REDEFINIDA Redefinida."):
            with self.subTest(line=line):
                self.start_client(reconnect=True)
                self.log_in()
                self.push(line)
                self.hang_up()
                self.screen.wait_for(r"^\[\d\d:\d\d\] Este cliente não vai reconectar sozinho")
                self.assertEqual(self.exit_status(), 1, "the end: not a loop of retries")

    def test_the_record_is_a_list_with_local_times(self) -> None:
        self.start_client()
        self.log_in()
        self.screen.typed.put("/registro 2")
        self.assertEqual(self.receive(), "REGISTRO 2")
        self.push(f"ACAO {stamp(2026, 11, 21, 9, 2)} ana SILENCIAR bob {UNTIL} conversa",
                  f"ACAO {stamp(2026, 11, 21, 9, 5)} ana LIBERAR bob", "OK REGISTRO 2")
        self.assertEqual(self.screen.lines_until(r"liberou"), [
            "[15:00] Registro (2 atos, o mais antigo primeiro):",
            "  [hoje 09:02] ana silenciou bob até 15:30 (motivo: conversa)",
            "  [hoje 09:05] ana liberou bob",
        ])


class KickedEndToEndTest(TeacherServerTestCase):
    def test_the_pinned_announcement_then_a_kick_that_ends_the_client(self) -> None:
        """cliente.py (piped; it would reconnect after 0.2 s) shows the teacher's pinned
        announcement right after entering; kicked, it says until when and ends, stdin still
        open, instead of trying again and again."""
        teacher = self.enter("prof")
        self.assertEqual(teacher.reply("AVISO prova às 10h")[0], "OK AVISO")
        student = ClientProcess(self.server.port, *FAST_RETRY)
        self.addCleanup(student.kill)
        student.type(f"ENTRAR bob {PASSWORD}")
        student.output.wait_for(r"^\[\d\d:\d\d\] \*\*\* Aviso fixado pelo professor prof: prova às 10h$")
        self.assertIn("Você entrou no chat como bob.\n", student.output.text.split("*** Aviso")[0])
        self.assertEqual(self.ends_a_session(teacher, "EXPULSAR bob conversa", "bob").split()[:3],
                         ["OK", "EXPULSAR", "bob"])
        student.output.wait_for(r"Erro: Você foi expulso do chat por um professor e não pode entrar de novo até "
                                r"(amanhã às )?\d\d:\d\d; depois disso, rode o cliente e entre de novo\.$")
        self.assertEqual(student.wait(), 1)
        self.assertIn("Este cliente não vai reconectar sozinho", student.output.text)
        self.assertNotIn("Tentando reconectar", student.output.text)


if __name__ == "__main__":
    unittest.main()
