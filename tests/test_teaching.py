"""Issue 20: the teacher's powers and the accounts people manage themselves.

State: roles, one-time passwords and deletion in :class:`UserStore` on a real file, and
``--professor`` (:func:`appoint_teachers`) with a fake terminal. End to end: a real
server as ``nc`` sees it, each teacher created the way a class would (``--professor``
over an account, kept in users.json).
"""

from __future__ import annotations

import io
import json
import unittest
from unittest import mock
from collections.abc import Callable
from pathlib import Path

import protocol
from protocol import ErrorCode, ProtocolError
from batchat.server.accounts import UserStore
from batchat.server import appointment, main as server_main, options
from batchat.server.appointment import appoint_teachers, AppointmentError
from batchat.server.chat import ServerContext
from batchat.server.delivery import Batch
from batchat.server.limits import GuessThrottle, Limits
from batchat.server.timing import Timing
from batchat.server.mailbox import Mailbox
from batchat.server.moderation import Kind, Moderation
from batchat.server.ending import SessionEnded
from batchat.server.registry import SessionRegistry
from batchat.server.session import ChatSession
from batchat.server.users_file import Account, PasswordHash, serialize, UserStoreError
from tests.test_state import FakeSession, RecordingConnection
from tests.support import LineClient, server_options, ServerTestCase, temporary_folder, TEST_HASH_COST, UsersFileTestCase

PASSWORD = "senha123"
HASH_COST = int(TEST_HASH_COST)

# Every teacher's command, as a student would try it (each must get SEM_PERMISSAO).
TEACHER_LINES = {
    "AVISO": "AVISO oi", "SILENCIAR": "SILENCIAR bob 10m", "EXPULSAR": "EXPULSAR bob",
    "BANIR": "BANIR bob SEMPRE", "LIBERAR": "LIBERAR bob", "PRIVADO": "PRIVADO NAO",
    "REDEFINIR": "REDEFINIR bob", "REGISTRO": "REGISTRO", "CARGO": "CARGO bob PROFESSOR",
}


def make_accounts(path: Path, students: tuple[str, ...] = (), teachers: tuple[str, ...] = ()) -> None:
    """users.json with these accounts (password :data:`PASSWORD`), as an earlier run left it:
    written in the store's own format, at once (no server, no fsync per account)."""
    accounts = [
        Account(name, PasswordHash.create(PASSWORD, HASH_COST), teacher=name in teachers)
        for name in (*teachers, *students)
    ]
    path.write_bytes(serialize(accounts))



def two_checks_then_no_wait() -> GuessThrottle:
    """A login budget of two wrong passwords per account, and no waiting for more: the
    third attempt gets ``ERRO LIMITE`` at once."""
    return GuessThrottle(4, timing=Timing(login_wait=0, failure_pause=0))  # a burst of 4 // 2

class LoggingInConnection(RecordingConnection):
    """A RecordingConnection a ChatSession can log in on (its sends are recorded at once)."""

    def flush(self) -> None:
        """Nothing waits: enqueue recorded it."""


def fake_member(name: str) -> FakeSession:
    """A session as the services see one: a name and a connection that records what it gets."""
    member = FakeSession(name)
    member.connection = RecordingConnection()
    return member


class RoleStoreTest(UsersFileTestCase):
    """Roles, passwords and deletion in the account store, on a real users.json."""

    def test_a_teacher_is_kept_in_users_json_and_survives_a_reload(self) -> None:
        make_accounts(self.path, students=("bob", "Ana"))
        self.assertEqual(self.store().set_role("ana", True), "Ana")  # on disk when it returns
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


class AppointmentTest(UsersFileTestCase):
    """``--professor``: marks accounts; creates a missing one with the terminal's password."""

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

    def test_ctrl_d_or_ctrl_c_at_the_prompt_refuses_in_one_sentence(self) -> None:
        for interruption in (EOFError, KeyboardInterrupt):
            def ask(prompt: str) -> str:
                raise interruption()
            with self.subTest(interruption.__name__), self.assertRaises(AppointmentError) as raised:
                appoint_teachers(self.store(), ["ana"], ask=ask, has_terminal=lambda: True)
            self.assertIn("interrompida", str(raised.exception))
            self.assertIsNone(self.store().registered_name("ana"))

    def test_three_invalid_passwords_are_not_called_a_mismatch(self) -> None:
        with self.assertLogs("batchat.server.appointment", "WARNING"), self.assertRaises(AppointmentError) as raised:
            appoint_teachers(self.store(), ["ana"], ask=lambda prompt: "curta", has_terminal=lambda: True)
        self.assertIn("nenhuma senha válida", str(raised.exception))

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
        self.context = ServerContext(users, self.registry, self.mailbox, Limits())
        self.folder = folder

    def test_excluir_deletes_what_was_kept_and_a_new_owner_starts_empty(self) -> None:
        self.mailbox.store("bob", "carla", "guardada")
        bob = fake_member("bob")
        self.assertEqual(self.context.chat.delete_account(bob, "BOB", PASSWORD, Batch(self.context.delivery)), "bob")
        self.assertEqual(self.mailbox.waiting("bob"), [])
        self.mailbox.store("bob", "carla", "a que a conexão de bob nunca escreveu")  # given back as it ends
        self.assertEqual(self.context.chat.register(fake_member("bob"), "Bob", "outra-senha"), "Bob")
        self.assertEqual(self.mailbox.waiting("bob"), [], "nothing from before reaches the new owner")
        self.mailbox.close()
        self.assertEqual(Mailbox(self.folder / "mailbox.sqlite3", 100).waiting("bob"), [], "nor from the disk")

    def test_a_wrong_password_in_senha_spends_the_login_budget(self) -> None:
        context = ServerContext(
            self.context.users, self.registry, self.mailbox, Limits(), guesses=two_checks_then_no_wait()
        )
        bob = fake_member("bob")
        for _ in range(2):
            with self.assertRaises(ProtocolError) as raised:
                context.chat.change_password(bob, "bob", "errada1", "nova-senha", None)
            self.assertIs(raised.exception.code, ErrorCode.CREDENTIALS)
        with self.assertRaises(ProtocolError) as raised:
            context.chat.change_password(bob, "bob", PASSWORD, "nova-senha", None)
        self.assertIs(raised.exception.code, ErrorCode.LIMIT, "the right one waits, as a login would")

    def test_cargo_tells_the_target_online(self) -> None:
        bob = fake_member("bob")
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

    def enter(self, name: str, password: str = PASSWORD) -> LineClient:
        return self.logged_in(name, password, register=False)

    def ends_a_session(self, teacher: LineClient, line: str, student: str) -> str:
        """Send ``line`` (EXPULSAR, BANIR...), which ends ``student``'s session; its reply.
        The others' ``SAIU`` comes when that connection ends: before or after the reply."""
        reply, before = teacher.reply(line)
        if f"SAIU {student}" not in before:
            teacher.expect(f"SAIU {student}")
        return reply


class RolesEndToEndTest(TeacherServerTestCase):
    def test_a_student_may_use_none_of_the_teachers_commands(self) -> None:
        bob = self.enter("bob")
        for word, line in TEACHER_LINES.items():
            with self.subTest(word=word):
                reply = bob.request(line)
                self.assertTrue(reply.startswith("ERRO SEM_PERMISSAO "), reply)
        self.assertEqual(bob.request("LISTA"), "OK LISTA bob", "still connected, nothing happened")
        records = json.loads(self.users_path.read_text("utf-8"))["users"]
        self.assertEqual({key for key, record in records.items() if "cargo" in record}, {"prof"},
                         "no path over the network made anyone a teacher")

    def test_a_students_malformed_teachers_command_is_refused_for_permission_first(self) -> None:
        bob = self.enter("bob")
        for line in ("CARGO", "silenciar bob", "BANIR bob 0s", "REGISTRO abc", "PRIVADO talvez", "AVISO"):
            with self.subTest(line=line):
                reply = bob.request(line)
                self.assertTrue(reply.startswith("ERRO SEM_PERMISSAO "), reply)
        prof = self.enter("prof")
        self.assertTrue(prof.request("BANIR bob 0s").startswith("ERRO DURACAO_INVALIDA "), "a teacher gets the usage")
        self.assertTrue(self.connect().request("CARGO").startswith("ERRO NAO_AUTENTICADO "))

    def test_the_start_names_each_teacher_in_the_log(self) -> None:
        self.server.wait_for_log(r"INFO .*prof é professor\.")

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
        reply = self.ends_a_session(prof, "REDEFINIR Bob", "bob")
        word, command, name, one_time = reply.split(" ")
        self.assertEqual((word, command, name), ("OK", "REDEFINIR", "bob"))
        self.assertEqual(protocol.validate_password(one_time), one_time)
        self.assertTrue(bob.read_line().startswith("ERRO SENHA_REDEFINIDA "))
        bob.expect_closed()
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


class ProfessorOptionTest(unittest.TestCase):
    """``--professor`` over a missing account, with no terminal: servidor.py's own start-up."""

    def test_a_missing_teacher_without_a_terminal_stops_the_start_in_one_sentence(self) -> None:
        users_path = temporary_folder(self) / "users.json"
        args = options.parse_arguments(server_options(users_path, ("--professor", "ana"), 0, "127.0.0.1", None))
        with mock.patch.object(appointment.sys, "stdin", io.StringIO("")), \
                self.assertRaises(server_main.StartUpError) as raised:
            server_main.start(args)
        self.assertRegex(str(raised.exception), r"^A conta ana de --professor não existe.*terminal.*\.$")
        self.assertEqual(list(users_path.parent.iterdir()), [], "nothing was created, nothing left locked")


class SanctionServiceTest(unittest.TestCase):
    """TeachingService with the real stores in a folder and a clock the test moves."""

    def setUp(self) -> None:
        self.folder = temporary_folder(self)
        make_accounts(self.folder / "users.json", students=("bob", "carla"), teachers=("prof",))
        self.time = 1_800_000_000.0
        self.open_stores()

    def open_stores(self) -> None:
        """The stores and a context as a (re)started server has them."""
        self.users = UserStore(self.folder / "users.json", HASH_COST)
        self.addCleanup(self.users.close)
        self.moderation = Moderation(self.folder / "moderacao.sqlite3", clock=lambda: self.time)
        self.addCleanup(self.moderation.close)
        self.mailbox = Mailbox(self.folder / "mailbox.sqlite3", 100)
        self.addCleanup(self.mailbox.close)
        registry = SessionRegistry()
        self.addCleanup(registry.close)
        self.context = ServerContext(
            self.users, registry, self.mailbox, Limits(kick_wait=300), guesses=two_checks_then_no_wait(),
            moderation=self.moderation, now=lambda: self.time,
        )
        self.teaching = self.context.teaching

    def batch(self) -> Batch:
        return Batch(self.context.delivery)

    def refused(self, call: Callable[[], object], code: ErrorCode) -> str:
        """The text of the ``ProtocolError`` ``call`` raises, which must be ``code``."""
        with self.assertRaises(ProtocolError) as raised:
            call()
        self.assertIs(raised.exception.code, code)
        return raised.exception.text

    def test_a_muted_student_writes_only_to_teachers_until_it_ends(self) -> None:
        name, until = self.teaching.sanction("prof", "BOB", Kind.MUTE, 600, "spam", self.batch())
        self.assertEqual((name, until), ("bob", protocol.format_timestamp(self.time + 600)))
        text = self.refused(lambda: self.teaching.check_public("bob"), ErrorCode.MUTED)
        self.assertEqual(text.split(" ")[0], until, "the first field is <ate>")
        self.refused(lambda: self.teaching.check_private("bob", "carla"), ErrorCode.MUTED)
        self.teaching.check_private("bob", "PROF")  # a question to the teacher goes through
        self.teaching.check_public("carla")
        self.time += 600
        self.teaching.check_public("bob")
        self.teaching.check_private("bob", "carla")

    def test_a_student_promoted_while_sanctioned_is_a_teacher_at_once(self) -> None:
        self.teaching.sanction("prof", "bob", Kind.MUTE, 600, "", self.batch())
        self.teaching.sanction("prof", "bob", Kind.BAN, None, "", self.batch())
        self.teaching.set_role("prof", "bob", True, self.batch())
        self.teaching.check_public("bob")
        self.teaching.check_private("bob", "carla")
        self.assertIsNone(self.teaching.login_refusal("bob"))

    def test_exam_mode_blocks_chat_between_students_only(self) -> None:
        prof = fake_member("prof")
        self.teaching.set_private_chats(prof, False, self.batch())
        self.refused(lambda: self.teaching.check_private("bob", "carla"), ErrorCode.PRIVATE_BLOCKED)
        self.teaching.check_private("bob", "prof")
        self.teaching.check_private("prof", "bob")
        self.assertEqual(self.teaching.login_notices(), b"PRIVADO NAO prof\n")
        self.teaching.set_private_chats(prof, True, self.batch())
        self.teaching.check_private("bob", "carla")
        self.assertEqual(self.teaching.login_notices(), b"")

    def test_kick_wait_and_ban_at_login(self) -> None:
        self.assertIsNone(self.teaching.login_refusal("bob"))
        self.teaching.sanction("prof", "bob", Kind.KICK, None, "", self.batch())
        error = self.teaching.login_refusal("BOB")
        self.assertIs(error.code, ErrorCode.KICKED)
        self.assertEqual(error.text.split(" ")[0], protocol.format_timestamp(self.time + 300), "--espera-expulsao")
        self.time += 300
        self.assertIsNone(self.teaching.login_refusal("bob"))
        self.teaching.sanction("prof", "bob", Kind.BAN, None, "cola", self.batch())
        self.time += 10 * 365 * 86400
        error = self.teaching.login_refusal("bob")
        self.assertIs(error.code, ErrorCode.BANNED)
        self.assertTrue(error.text.startswith("SEMPRE "), error.text)
        self.teaching.release("prof", "bob", self.batch())
        self.assertIsNone(self.teaching.login_refusal("bob"))

    def test_a_ban_at_login_costs_the_budget_of_a_wrong_password(self) -> None:
        self.teaching.sanction("prof", "bob", Kind.BAN, 3600, "", self.batch())
        bob = fake_member("bob")
        for _ in range(2):  # two_checks_then_no_wait, as in setUp
            self.refused(lambda: self.context.chat.authenticate(bob, "bob", PASSWORD), ErrorCode.BANNED)
        self.refused(lambda: self.context.chat.authenticate(bob, "bob", PASSWORD), ErrorCode.LIMIT)

    def test_a_wrong_password_gets_credentials_whatever_the_ban(self) -> None:
        self.teaching.sanction("prof", "bob", Kind.BAN, None, "", self.batch())
        bob = fake_member("bob")
        self.refused(lambda: self.context.chat.authenticate(bob, "bob", "errada1"), ErrorCode.CREDENTIALS)
        self.refused(lambda: self.context.chat.authenticate(bob, "ninguem", PASSWORD), ErrorCode.CREDENTIALS)

    def test_teachers_are_never_sanctioned_and_unknown_names_are_told(self) -> None:
        for kind in Kind:
            with self.subTest(kind=kind):
                self.refused(lambda: self.teaching.sanction("prof", "Prof", kind, 60, "", self.batch()),
                             ErrorCode.TARGET_TEACHER)
                self.refused(lambda: self.teaching.sanction("prof", "zé", kind, 60, "", self.batch()),
                             ErrorCode.UNKNOWN_USER)
        self.refused(lambda: self.teaching.release("prof", "zé", self.batch()), ErrorCode.UNKNOWN_USER)

    def test_a_sanction_survives_a_restart_and_excluir_with_a_new_registration(self) -> None:
        self.teaching.sanction("prof", "bob", Kind.BAN, None, "", self.batch())
        self.context.chat.delete_account(fake_member("bob"), "bob", PASSWORD, self.batch())
        self.users.close()
        self.moderation.close()
        self.mailbox.close()
        self.open_stores()
        self.users.register("Bob", "outra-senha")
        self.assertIs(self.teaching.login_refusal("Bob").code, ErrorCode.BANNED)

    def test_a_mute_follows_the_name_to_a_look_alike_registered_after_excluir(self) -> None:
        self.teaching.sanction("prof", "bob", Kind.MUTE, 3600, "", self.batch())
        self.context.chat.delete_account(fake_member("bob"), "bob", PASSWORD, self.batch())
        self.users.register("bób", "outra-senha")  # one name for NOVO: the same for the mute
        self.refused(lambda: self.teaching.check_public("bób"), ErrorCode.MUTED)

    def test_a_ban_given_while_a_login_is_under_way_ends_that_login(self) -> None:
        session = ChatSession(LoggingInConnection(), self.context)  # type: ignore[arg-type]
        authenticate = self.context.chat.authenticate

        def authenticate_then_ban(member: object, name: str, password: str) -> object:
            account = authenticate(member, name, password)  # type: ignore[arg-type]
            self.teaching.sanction("prof", "bob", Kind.BAN, None, "", self.batch())  # no session to end yet
            return account

        with mock.patch.object(self.context.chat, "authenticate", authenticate_then_ban), \
                self.assertRaises(SessionEnded):
            session.handle_lines([b"ENTRAR bob senha123"])
        self.assertTrue(session.connection.lines[-1].startswith("ERRO BANIDO SEMPRE "), session.connection.lines)

    def test_the_record_has_every_act_oldest_first(self) -> None:
        prof = fake_member("prof")
        self.teaching.announce(prof, "prova às 10h", self.batch())
        self.time += 1
        self.teaching.sanction("prof", "bob", Kind.MUTE, 60, "spam demais", self.batch())
        self.teaching.set_private_chats(prof, False, self.batch())
        self.teaching.set_role("prof", "carla", True, self.batch())
        self.teaching.announce(prof, None, self.batch())
        when, later = protocol.format_timestamp(self.time - 1), protocol.format_timestamp(self.time)
        self.assertEqual([line.decode("utf-8") for line in self.teaching.last_acts(20)], [
            f"ACAO {when} prof AVISO - prova às 10h\n",
            f"ACAO {later} prof SILENCIAR bob {protocol.format_timestamp(self.time + 60)} spam demais\n",
            f"ACAO {later} prof PRIVADO - NAO\n",
            f"ACAO {later} prof CARGO carla PROFESSOR\n",
            f"ACAO {later} prof AVISO - -\n",
        ])
        self.assertEqual(len(self.teaching.last_acts(2)), 2)


class ModerationEndToEndTest(TeacherServerTestCase):
    """The teacher's commands over raw TCP, and what survives a restart of the server."""

    def restart(self, own_process: bool = False) -> None:
        self.server.stop()
        self.server = self.start_server(own_process=own_process)

    def test_aviso_reaches_everyone_and_stays_pinned_across_a_restart(self) -> None:
        prof, bob = self.enter("prof"), self.enter("bob")
        prof.expect("ENTROU bob")
        self.assertEqual(prof.reply("AVISO prova às 10h"), ("OK AVISO", ["AVISO prof prova às 10h"]))
        self.assertEqual(bob.read_line(), "AVISO prof prova às 10h")
        self.assertEqual(self.enter("carla").login_lines[-1], "AVISO prof prova às 10h", "right before OK ENTRAR")
        self.restart()
        self.assertEqual(self.enter("bob").login_lines, ["AVISO prof prova às 10h"])
        prof = self.enter("prof")
        self.assertEqual(prof.reply("AVISO -"), ("OK AVISO -", []))
        self.assertEqual(self.enter("carla").login_lines, [], "unpinned")

    def test_silenciar_then_liberar(self) -> None:
        prof, bob, carla = self.enter("prof"), self.enter("bob"), self.enter("carla")
        prof.read_until("ENTROU carla")
        bob.expect("ENTROU carla")
        reply = prof.request("SILENCIAR bob 10m spam demais")
        word, command, name, until = reply.split(" ")
        self.assertEqual((word, command, name), ("OK", "SILENCIAR", "bob"))
        self.assertEqual(bob.read_line(), f"SILENCIADO {until} prof spam demais")
        for line in ("TODOS oi", "CHAT carla oi"):
            with self.subTest(line=line):
                self.assertTrue(bob.request(line).startswith(f"ERRO SILENCIADO {until} "))
        self.assertEqual(bob.request("CHAT prof desculpa"), "OK CHAT prof")
        self.assertEqual(prof.read_line(), "MSG bob desculpa")
        self.assertEqual(prof.request("LIBERAR bob"), "OK LIBERAR bob")
        self.assertEqual(bob.read_line(), "LIBERADO prof")
        self.assertEqual(bob.request("CHAT carla voltei"), "OK CHAT bob".replace("bob", "carla"))
        self.assertEqual(carla.read_line(), "MSG bob voltei")

    def test_expulsar_closes_the_session_and_holds_entrar_for_a_while(self) -> None:
        prof, bob = self.enter("prof"), self.enter("bob")
        prof.expect("ENTROU bob")
        word, command, name, until = self.ends_a_session(prof, "EXPULSAR bob bagunça", "bob").split(" ")
        self.assertEqual((word, command, name), ("OK", "EXPULSAR", "bob"))
        self.assertTrue(bob.read_line().startswith(f"ERRO EXPULSO {until} "))
        bob.expect_closed()
        client = self.connect()
        self.assertTrue(client.request("ENTRAR bob errada1").startswith("ERRO CREDENCIAIS "), "a wrong password first")
        self.assertTrue(client.request("ENTRAR bob senha123").startswith(f"ERRO EXPULSO {until} "))
        self.assertEqual(prof.request("LIBERAR bob"), "OK LIBERAR bob")
        self.assertEqual(client.request("ENTRAR bob senha123"), "OK ENTRAR bob")

    def test_a_ban_and_exam_mode_survive_a_restart(self) -> None:
        prof, bob, carla = self.enter("prof"), self.enter("bob"), self.enter("carla")
        prof.read_until("ENTROU carla")
        self.assertEqual(self.ends_a_session(prof, "BANIR bob SEMPRE cola", "bob"), "OK BANIR bob SEMPRE")
        self.assertTrue(bob.read_until("ERRO ")[0].startswith("ERRO BANIDO SEMPRE "))
        bob.expect_closed()
        carla.expect("SAIU bob")
        self.assertEqual(prof.reply("PRIVADO NAO"), ("OK PRIVADO NAO", ["PRIVADO NAO prof"]))
        self.assertEqual(carla.read_line(), "PRIVADO NAO prof")
        self.restart(own_process=True)
        client = self.connect()
        self.assertTrue(client.request("ENTRAR bob senha123").startswith("ERRO BANIDO SEMPRE "))
        carla = self.enter("carla")
        self.assertEqual(carla.login_lines, ["PRIVADO NAO prof"])
        self.register("dani")
        self.assertTrue(carla.request("CHAT dani oi").startswith("ERRO PRIVADO_BLOQUEADO "))
        self.assertEqual(carla.request("CHAT prof posso sair?"), "OK CHAT prof GUARDADA")
        prof = self.enter("prof")
        self.assertEqual(prof.reply("PRIVADO SIM")[0], "OK PRIVADO SIM")
        self.assertEqual(carla.read_until("PRIVADO SIM")[0], "PRIVADO SIM prof")
        self.assertEqual(carla.request("CHAT dani oi"), "OK CHAT dani GUARDADA")

    def test_registro_lists_the_acts(self) -> None:
        prof = self.enter("prof")
        prof.request("SILENCIAR carla 1h")
        prof.request("CARGO bob PROFESSOR")
        self.server_args = ("--professor", "prof", "--professor", "Carla")  # prof was one already
        self.restart()
        reply, lines = self.enter("bob").reply("REGISTRO 5")
        self.assertEqual(reply, f"OK REGISTRO {len(lines)}")
        self.assertEqual([line.split(" ")[2:5] for line in lines], [
            ["prof", "SILENCIAR", "carla"], ["prof", "CARGO", "bob"], ["-", "PROFESSOR", "carla"],
        ])
        prof = self.enter("prof")
        self.assertTrue(all(protocol.parse_timestamp(line.split(" ")[1]) for line in lines))
        self.assertEqual(prof.reply("REGISTRO 1"), ("OK REGISTRO 1", [lines[-1]]))
