"""Issue 20: the teacher's powers and the accounts people manage themselves.

State: roles, one-time passwords and deletion in :class:`UserStore` on a real file, and
``--professor`` (:func:`appoint_teachers`) with a fake terminal. End to end: a real
server as ``nc`` sees it, each teacher created the way a class would (``--professor``
over an account, kept in users.json).
"""

from __future__ import annotations

import json
import unittest
from pathlib import Path

import protocol
from protocol import ErrorCode, ProtocolError
from batchat.server.accounts import UserStore
from batchat.server.appointment import appoint_teachers, AppointmentError
from batchat.server.chat import ServerContext
from batchat.server.delivery import Batch
from batchat.server.limits import Limits, RateLimiter
from batchat.server.mailbox import Mailbox
from batchat.server.registry import SessionRegistry
from batchat.server.users_file import UserStoreError
from tests.test_state import FakeSession, RecordingConnection
from tests.support import own_process, ServerProcess, ServerTestCase, temporary_folder, TEST_HASH_COST

PASSWORD = "senha123"
HASH_COST = int(TEST_HASH_COST)

# Every teacher's command, as a student would try it (each must get SEM_PERMISSAO).
TEACHER_LINES = {
    "AVISO": "AVISO oi", "SILENCIAR": "SILENCIAR bob 10m", "EXPULSAR": "EXPULSAR bob",
    "BANIR": "BANIR bob SEMPRE", "LIBERAR": "LIBERAR bob", "PRIVADO": "PRIVADO NAO",
    "REDEFINIR": "REDEFINIR bob", "REGISTRO": "REGISTRO", "CARGO": "CARGO bob PROFESSOR",
}


def make_accounts(path: Path, students: tuple[str, ...] = (), teachers: tuple[str, ...] = ()) -> None:
    """users.json with these accounts (password :data:`PASSWORD`), as an earlier run left it."""
    store = UserStore(path, HASH_COST)
    try:
        for name in (*teachers, *students):
            store.register(name, PASSWORD)
        for name in teachers:
            store.set_role(name, True)
    finally:
        store.close()


class RoleStoreTest(unittest.TestCase):
    """Roles, passwords and deletion in the account store, on a real users.json."""

    def setUp(self) -> None:
        self.path = temporary_folder(self) / "users.json"

    def store(self) -> UserStore:
        store = UserStore(self.path, HASH_COST)
        self.addCleanup(store.close)
        return store

    def test_a_teacher_is_kept_in_users_json_and_survives_a_reload(self) -> None:
        make_accounts(self.path, students=("bob",), teachers=("Ana",))
        records = json.loads(self.path.read_text("utf-8"))["users"]
        self.assertEqual(records["ana"]["cargo"], "professor")
        self.assertNotIn("cargo", records["bob"], "a student's record is as before")
        store = self.store()
        self.assertTrue(store.is_teacher("ANA"))
        self.assertFalse(store.is_teacher("bob"))
        self.assertEqual(store.teachers(), ["Ana"])

    def test_an_unknown_role_is_a_damaged_file(self) -> None:
        make_accounts(self.path, students=("bob",))
        document = json.loads(self.path.read_text("utf-8"))
        document["users"]["bob"]["cargo"] = "diretor"
        self.path.write_text(json.dumps(document), "utf-8")
        with self.assertRaises(UserStoreError) as raised:
            UserStore(self.path, HASH_COST)
        self.assertIn("cargo desconhecido", str(raised.exception))

    def test_the_last_teacher_stays(self) -> None:
        make_accounts(self.path, students=("bob",), teachers=("ana",))
        store = self.store()
        for change in (lambda: store.set_role("ana", False), lambda: store.delete("ana")):
            with self.assertRaises(ProtocolError) as raised:
                change()
            self.assertIs(raised.exception.code, ErrorCode.LAST_TEACHER)
        store.set_role("bob", True)
        self.assertEqual(store.set_role("ANA", False), "ana", "with another teacher, it may")
        self.assertEqual(store.teachers(), ["bob"])

    def test_unknown_accounts(self) -> None:
        store = self.store()
        for change in (lambda: store.set_role("zé", True), lambda: store.delete("zé")):
            with self.assertRaises(ProtocolError) as raised:
                change()
            self.assertIs(raised.exception.code, ErrorCode.UNKNOWN_USER)

    def test_a_one_time_password_works_once_also_across_a_reload(self) -> None:
        make_accounts(self.path, students=("bob",))
        store = self.store()
        store.set_password("bob", "provisoria1", provisional=True)
        self.assertIsNone(store.authenticate("bob", PASSWORD), "the old password stopped working")
        store.close()
        store = self.store()  # a restart in between
        account = store.check_login("bob", "provisoria1")
        self.assertIsNotNone(account)
        self.assertTrue(account.provisional)
        self.assertIsNone(store.check_login("bob", "provisoria1"), "never twice")
        self.assertIsNone(self.store().check_login("bob", "provisoria1"), "nor after a restart")

    def test_a_new_password_replaces_the_old_one_on_disk(self) -> None:
        make_accounts(self.path, students=("bob",))
        self.store().set_password("bob", "nova-senha")
        store = self.store()
        self.assertIsNone(store.authenticate("bob", PASSWORD))
        self.assertEqual(store.authenticate("bob", "nova-senha"), "bob")

    def test_a_deleted_account_frees_its_name(self) -> None:
        make_accounts(self.path, students=("joão",))
        self.assertEqual(self.store().delete("JOÃO"), "joão")
        store = self.store()
        self.assertIsNone(store.registered_name("joão"))
        self.assertEqual(store.register("joao", "outra-senha"), "joao", "nor does its look-alike stay taken")


class AppointmentTest(unittest.TestCase):
    """``--professor``: marks accounts; creates a missing one with the terminal's password."""

    def setUp(self) -> None:
        self.path = temporary_folder(self) / "users.json"

    def store(self) -> UserStore:
        store = UserStore(self.path, HASH_COST)
        self.addCleanup(store.close)
        return store

    def test_an_existing_account_becomes_a_teacher_without_a_terminal(self) -> None:
        make_accounts(self.path, students=("Ana",))
        appointed = appoint_teachers(self.store(), ["ana"], ask=self.fail, has_terminal=lambda: False)
        self.assertEqual(appointed, ["Ana"], "newly a teacher")
        self.assertEqual(appoint_teachers(self.store(), ["ana"], ask=self.fail, has_terminal=lambda: False), [],
                         "already one: nothing new for the record")
        self.assertTrue(self.store().is_teacher("ana"), "kept in users.json")

    def test_a_missing_account_is_created_with_the_password_typed_twice(self) -> None:
        typed = iter(["curta", "senha-da-ana", "outra-coisa", "senha-da-ana", "senha-da-ana"])
        prompts: list[str] = []
        ask = lambda prompt: (prompts.append(prompt), next(typed))[1]  # noqa: E731
        with self.assertLogs("batchat.server.appointment", "WARNING") as logs:
            appoint_teachers(self.store(), ["ana"], ask=ask, has_terminal=lambda: True)
        self.assertEqual(len(prompts), 5, "too short, then a mismatch, then right")
        self.assertEqual(len(logs.output), 2)
        store = self.store()
        self.assertEqual(store.authenticate("ana", "senha-da-ana"), "ana")
        self.assertTrue(store.is_teacher("ana"))

    def test_no_terminal_no_new_account(self) -> None:
        with self.assertRaises(AppointmentError) as raised:
            appoint_teachers(self.store(), ["ana"], ask=self.fail, has_terminal=lambda: False)
        self.assertIn("terminal", str(raised.exception))
        self.assertIsNone(self.store().registered_name("ana"))


class ServiceTest(unittest.TestCase):
    """ChatService and TeachingService with the real stores in a folder, sessions as Members."""

    def setUp(self) -> None:
        folder = temporary_folder(self)
        make_accounts(folder / "users.json", students=("bob", "carla"), teachers=("prof",))
        users = UserStore(folder / "users.json", HASH_COST)
        self.addCleanup(users.close)
        self.mailbox = Mailbox(folder / "mailbox.sqlite3", 100)
        self.addCleanup(self.mailbox.close)
        self.registry = SessionRegistry()
        self.addCleanup(self.registry.close)
        self.context = ServerContext(users, self.registry, self.mailbox, Limits(), *(RateLimiter(0) for _ in range(3)))
        self.folder = folder

    def member(self, name: str) -> FakeSession:
        member = FakeSession(name)
        member.connection = RecordingConnection()
        return member

    def test_excluir_deletes_what_was_kept_and_a_new_owner_starts_empty(self) -> None:
        self.mailbox.store("bob", "carla", "guardada")
        bob = self.member("bob")
        self.assertEqual(self.context.chat.delete_account(bob, "BOB", PASSWORD), "bob")
        self.assertEqual(self.mailbox.waiting("bob"), [])
        self.mailbox.store("bob", "carla", "a que a conexão de bob nunca escreveu")  # given back as it ends
        self.assertEqual(self.context.chat.register(self.member("bob"), "Bob", "outra-senha"), "Bob")
        self.assertEqual(self.mailbox.waiting("bob"), [], "nothing from before reaches the new owner")
        self.mailbox.close()
        self.assertEqual(Mailbox(self.folder / "mailbox.sqlite3", 100).waiting("bob"), [], "nor from the disk")

    def test_a_wrong_password_in_senha_spends_the_login_budget(self) -> None:
        context = ServerContext(
            self.context.users, self.registry, self.mailbox, Limits(), RateLimiter(2), RateLimiter(0), RateLimiter(0)
        )
        bob = self.member("bob")
        for _ in range(2):
            with self.assertRaises(ProtocolError) as raised:
                context.chat.change_password(bob, "bob", "errada1", "nova-senha", None)
            self.assertIs(raised.exception.code, ErrorCode.CREDENTIALS)
        with self.assertRaises(ProtocolError) as raised:
            context.chat.change_password(bob, "bob", PASSWORD, "nova-senha", None)
        self.assertIs(raised.exception.code, ErrorCode.LIMIT, "the right one waits, as a login would")

    def test_cargo_tells_the_target_online(self) -> None:
        bob = self.member("bob")
        self.registry.log_in(bob, "bob")
        batch = Batch(self.context.delivery)
        self.assertEqual(self.context.teaching.set_role("prof", "BOB", True, batch), "bob")
        batch.send()
        self.assertIn("CARGO bob PROFESSOR", bob.connection.lines)
        self.assertTrue(self.context.chat.is_teacher("bob"))


class TeacherServerTestCase(ServerTestCase):
    """A server whose users.json has the teacher ``prof`` and the students ``bob`` and ``carla``."""

    server_args = ("--professor", "prof")

    def setUp(self) -> None:
        self.folder = temporary_folder(self)
        self.users_path = self.folder / "users.json"
        make_accounts(self.users_path, students=("bob", "carla"), teachers=("prof",))
        self.server = self.start_server()

    def enter(self, name: str, password: str = PASSWORD) -> object:
        client = self.logged_in(name, password, register=False)
        return client


class RolesEndToEndTest(TeacherServerTestCase):
    def test_a_student_may_use_none_of_the_teachers_commands(self) -> None:
        bob = self.enter("bob")
        for word, line in TEACHER_LINES.items():
            with self.subTest(word=word):
                reply = bob.request(line)
                self.assertTrue(reply.startswith("ERRO SEM_PERMISSAO "), reply)
        self.assertEqual(bob.request("LISTA"), "OK LISTA bob", "still connected, nothing happened")
        self.assertNotIn('"bob": {"cargo"', self.users_path.read_text("utf-8"))

    def test_before_login_the_teachers_commands_need_a_login(self) -> None:
        client = self.connect()
        for word, line in TEACHER_LINES.items():
            with self.subTest(word=word):
                self.assertTrue(client.request(line).startswith("ERRO NAO_AUTENTICADO "))

    def test_help_shows_each_one_the_commands_they_may_use(self) -> None:
        for name, teacher in (("bob", False), ("prof", True)):
            with self.subTest(name=name):
                client = self.enter(name)
                reply, lines = client.reply("AJUDA")
                self.assertEqual(reply, "OK AJUDA")
                words = [line.split(" ")[1] for line in lines]
                expected = [word for word, help in protocol.COMMAND_HELP.items()
                            if teacher or help.access is not protocol.Access.TEACHER]
                self.assertEqual(words, expected)

    def test_a_promotion_takes_effect_at_once_and_the_last_teacher_stays(self) -> None:
        prof, bob = self.enter("prof"), self.enter("bob")
        prof.expect("ENTROU bob")
        self.assertTrue(bob.request("REGISTRO").startswith("ERRO SEM_PERMISSAO"))
        self.assertEqual(prof.request("CARGO BOB professor"), "OK CARGO bob PROFESSOR")
        self.assertEqual(bob.read_line(), "CARGO bob PROFESSOR")
        self.assertFalse(bob.request("CARGO carla ALUNO").startswith("ERRO SEM_PERMISSAO"), "no reconnect needed")
        self.assertEqual(bob.request("CARGO prof ALUNO"), "OK CARGO prof ALUNO")
        self.assertEqual(prof.read_line(), "CARGO prof ALUNO")
        self.assertTrue(prof.request("CARGO bob ALUNO").startswith("ERRO SEM_PERMISSAO"))
        self.assertTrue(bob.request("CARGO bob ALUNO").startswith("ERRO ULTIMO_PROFESSOR "))
        self.assertTrue(bob.request("CARGO zé ALUNO").startswith("ERRO USUARIO_INEXISTENTE "))


class AccountsEndToEndTest(TeacherServerTestCase):
    def test_senha_changes_the_password_and_a_wrong_one_counts_like_a_wrong_login(self) -> None:
        bob = self.enter("bob")
        self.assertTrue(bob.request("SENHA errada1 nova-senha").startswith("ERRO CREDENCIAIS "))
        self.assertEqual(bob.request("SENHA senha123 nova-senha"), "OK SENHA")
        bob.close()
        client = self.connect()
        self.assertTrue(client.request("ENTRAR bob senha123").startswith("ERRO CREDENCIAIS "))
        self.assertEqual(client.request("ENTRAR bob nova-senha"), "OK ENTRAR bob")
        self.assertIn("Falha de login", self.server.log, "the wrong SENHA was logged like a wrong login")

    def test_excluir_ends_the_account_its_messages_and_its_name(self) -> None:
        carla, prof = self.enter("carla"), self.enter("prof")
        carla.expect("ENTROU prof")
        self.assertEqual(carla.request("CHAT bob guardada para o bob antigo"), "OK CHAT bob GUARDADA")
        bob = self.enter("bob")
        carla.expect("ENTROU bob")
        self.assertEqual([line.split(" ")[0] for line in bob.login_lines][:1], ["PENDENTE"])
        bob.close()
        carla.expect("SAIU bob")
        self.assertEqual(carla.request("CHAT bob outra guardada"), "OK CHAT bob GUARDADA")
        bob = self.connect()
        reply, kept = bob.reply("ENTRAR bob senha123")
        carla.expect("ENTROU bob")
        self.assertTrue(bob.request("EXCLUIR errada1").startswith("ERRO CREDENCIAIS "))
        self.assertEqual(carla.request("CHAT bob mais uma"), "OK CHAT bob")
        self.assertEqual(bob.reply("EXCLUIR senha123"), ("OK EXCLUIR bob", ["MSG carla mais uma"]))
        bob.expect_closed()
        carla.expect("SAIU bob")
        self.assertTrue(carla.request("CHAT bob ainda aí?").startswith("ERRO USUARIO_INEXISTENTE "))
        new_bob = self.logged_in("bob", "outra-senha")  # the name is free again
        self.assertEqual([line for line in new_bob.login_lines if not line.startswith("HISTORICO")], [],
                         "nothing meant for the old owner reaches the new one")
        self.assertTrue(prof.reply("EXCLUIR senha123")[0].startswith("ERRO ULTIMO_PROFESSOR "))

    def test_redefinir_gives_a_one_time_password_that_must_be_changed(self) -> None:
        prof, bob = self.enter("prof"), self.enter("bob")
        prof.expect("ENTROU bob")
        self.assertTrue(prof.request("REDEFINIR prof").startswith("ERRO ALVO_PROFESSOR "))
        self.assertTrue(prof.request("REDEFINIR zé").startswith("ERRO USUARIO_INEXISTENTE "))
        reply = prof.request("REDEFINIR Bob")
        word, command, name, one_time = reply.split(" ")
        self.assertEqual((word, command, name), ("OK", "REDEFINIR", "bob"))
        self.assertEqual(protocol.validate_password(one_time), one_time)
        self.assertTrue(bob.read_line().startswith("ERRO SENHA_REDEFINIDA "))
        bob.expect_closed()
        prof.expect("SAIU bob")
        client = self.connect()
        self.assertTrue(client.request("ENTRAR bob senha123").startswith("ERRO CREDENCIAIS "), "the old one is gone")
        self.assertEqual(client.request(f"ENTRAR bob {one_time}"), "OK ENTRAR bob")
        for line in ("LISTA", "TODOS oi", "CHAT prof oi", "EXCLUIR senha123"):
            with self.subTest(line=line):
                self.assertTrue(client.request(line).startswith("ERRO TROCAR_SENHA "))
        self.assertEqual(client.request("PING"), "OK PING")
        self.assertTrue(client.request(f"SENHA {one_time}x nova-senha").startswith("ERRO CREDENCIAIS "))
        self.assertEqual(client.request(f"SENHA {one_time} nova-senha"), "OK SENHA")
        self.assertEqual(client.request("LISTA"), "OK LISTA bob prof")
        again = self.connect()
        self.assertTrue(again.request(f"ENTRAR bob {one_time}").startswith("ERRO CREDENCIAIS "), "never twice")

    def test_leaving_without_senha_spends_the_one_time_password(self) -> None:
        prof = self.enter("prof")
        one_time = prof.request("REDEFINIR carla").split(" ")[3]
        client = self.connect()
        self.assertEqual(client.request(f"ENTRAR carla {one_time}"), "OK ENTRAR carla")
        self.assertEqual(client.request("SAIR"), "OK SAIR")
        again = self.connect()
        self.assertTrue(again.request(f"ENTRAR carla {one_time}").startswith("ERRO CREDENCIAIS "))


@own_process
class ProfessorOptionTest(ServerTestCase):
    """``--professor`` over a missing account, with no terminal (stdin is not one here)."""

    def setUp(self) -> None:
        self.folder = temporary_folder(self)
        self.users_path = self.folder / "users.json"

    def test_a_missing_teacher_without_a_terminal_stops_the_start_in_one_sentence(self) -> None:
        server = ServerProcess(self.users_path, "--professor", "ana")
        self.addCleanup(server.kill)
        self.assertEqual(server.process.wait(10), 1)
        server.stop()
        self.assertRegex(server.log, r"A conta ana de --professor não existe.*terminal")
        self.assertFalse(self.users_path.exists(), "nothing was created")


if __name__ == "__main__":
    unittest.main()
