"""Names that look alike (``joão`` and ``joao``): one name at ``NOVO``, in three layers.

The folding alone (:func:`protocol.name_skeleton`), the user store (refusal naming
the existing account, racing registrations, clashes already in ``users.json``),
and the real ``servidor.py``.
"""

from __future__ import annotations

import json
import threading
import unittest
from collections.abc import Callable, Hashable
from pathlib import Path
from typing import TypeVar
from unittest import mock

import protocol
from batchat.client import server_lines
from batchat.server import accounts
from batchat.server.accounts import UserStore
from batchat.server.users_file import PasswordHash
from protocol import ErrorCode, ProtocolError
from tests.support import TIMEOUT, TEST_HASH_COST, ServerTestCase, temporary_folder, UsersFileTestCase

HASH_COST = int(TEST_HASH_COST)
PASSWORD = "segredo-muito-bom"
T = TypeVar("T")
CLASH_LINE = "Contas com nomes parecidos demais (continuam separadas): "


def write_users(path: Path, passwords: dict[str, str]) -> None:
    """A users.json as an older server (or a hand) could have left it: one account per
    name, look-alikes included, each with its own password."""
    users = {
        protocol.name_key(name): {"hash": PasswordHash.create(password, HASH_COST).to_json(), "name": name}
        for name, password in passwords.items()
    }
    path.write_text(json.dumps({"version": 1, "users": users}, ensure_ascii=False), "utf-8")


class NameSkeletonTest(unittest.TestCase):
    # Each name and the one it must be taken for.
    SAME = [
        ("joão", "joao"),  # accents
        ("JOÃO", "joao"),  # case
        ("JOA\u0303O", "joão"),  # the accent as a combining mark
        ("ｊｏａｏ", "joao"),  # fullwidth
        ("Ｊｏãｏ", "JOAO"),
        ("j\u043e\u0430\u043e", "joao"),  # Cyrillic о, а, о
        ("\u0430lice", "alice"),  # Cyrillic а
        ("\u0435lena", "elena"),  # Cyrillic е
        ("\u0440edro", "pedro"),  # Cyrillic р
        ("\u0420\u0415DRO", "pedro"),  # Cyrillic Р, Е
        ("j\u03bfao", "joao"),  # Greek ο
        ("\u03bdera", "vera"),  # Greek ν reads as v in lower case...
        ("\u039dINA", "nina"),  # ...and as N in capitals
        ("m\u03b1ria", "maria"),  # Greek α
        ("\u0131gor", "igor"),  # Turkish dotless ı
    ]
    DIFFERENT = [
        ("ana", "anna"),
        ("joao1", "joao"),
        ("joao", "joaquim"),
        ("ana", "ana-"),  # a hyphen is seen: only letters are folded
        ("\u03bdina", "nina"),  # Greek ν is a v
        ("か", "が"),  # a dakuten is part of the letter, not an accent
    ]

    def test_names_that_look_alike_share_a_skeleton(self) -> None:
        for first, second in self.SAME:
            with self.subTest(first=first, second=second):
                self.assertEqual(protocol.name_skeleton(first), protocol.name_skeleton(second))

    def test_names_that_look_different_do_not(self) -> None:
        for first, second in self.DIFFERENT:
            with self.subTest(first=first, second=second):
                self.assertNotEqual(protocol.name_skeleton(first), protocol.name_skeleton(second))


class UserStoreLookAlikeTest(UsersFileTestCase):
    def refusal(self, store: UserStore, name: str) -> ProtocolError | None:
        """Why registering ``name`` failed, or ``None`` if it worked."""
        try:
            store.register(name, PASSWORD)
        except ProtocolError as error:
            return error
        return None

    def refused(self, store: UserStore, name: str) -> ProtocolError:
        """Why registering ``name`` failed (the test fails if it worked)."""
        with self.assertRaises(ProtocolError) as raised:
            store.register(name, PASSWORD)
        return raised.exception

    def names_on_disk(self) -> list[str]:
        return sorted(record["name"] for record in json.loads(self.path.read_text("utf-8"))["users"].values())

    def test_a_look_alike_is_refused_naming_the_existing_account(self) -> None:
        with self.assertNoLogs("batchat", "WARNING"):  # nothing to report: no line
            store = self.store()
        store.register("joão", PASSWORD)
        for name in ("joao", "JOAO", "j\u043eão", "ｊｏａｏ"):
            with self.subTest(name=name):
                error = self.refused(store, name)
                self.assertEqual(error.code, ErrorCode.USER_EXISTS)
                self.assertEqual(
                    error.text, f"Já existe a conta joão, parecida demais com {name}; escolha outro nome."
                )
        self.assertEqual(self.refused(store, "joão").text, "Esse nome de usuário já está em uso.")
        store.register("joao1", PASSWORD)
        self.assertEqual(self.names_on_disk(), ["joao1", "joão"])

    def test_racing_look_alikes_exactly_one_wins(self) -> None:
        store = self.store()
        names = ["joão", "joao", "j\u043eao", "ｊｏａｏ", "JOÃO", "jo\u0430o"]
        everyone_checked = threading.Barrier(len(names), timeout=TIMEOUT)
        real_hash = store._hash

        def hash_once_everyone_checked(compute: Callable[[], T], owner: Hashable = None) -> T:
            everyone_checked.wait()  # every registration passed the early check: the lock decides
            return real_hash(compute, owner)

        results: dict[str, ProtocolError | None] = {}

        def register(name: str) -> None:
            results[name] = self.refusal(store, name)

        with mock.patch.object(store, "_hash", hash_once_everyone_checked):
            threads = [threading.Thread(target=register, args=(name,)) for name in names]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join(TIMEOUT)
                self.assertFalse(thread.is_alive())
        winners = [name for name, error in results.items() if error is None]
        self.assertEqual(len(winners), 1, results)
        self.assertEqual(self.names_on_disk(), winners)
        for name, error in results.items():
            if error is not None:
                with self.subTest(name=name):
                    self.assertEqual(error.code, ErrorCode.USER_EXISTS)
                    self.assertIn(f"conta {winners[0]},", error.text)

    def test_a_failed_registration_frees_its_look_alikes(self) -> None:
        store = self.store()
        with mock.patch.object(accounts, "write_file_durably", side_effect=OSError(28, "disco cheio")), \
                self.assertLogs("batchat", "ERROR"):
            self.assertEqual(self.refused(store, "joão").code, ErrorCode.UNAVAILABLE)
        store.register("joao", PASSWORD)
        self.assertIn("conta joao,", self.refused(store, "JOÃO").text)
        self.assertEqual(self.names_on_disk(), ["joao"])

    def test_clashes_in_the_file_keep_working_and_are_logged_once(self) -> None:
        passwords = {"joão": "senha-do-joão", "joao": "senha-do-joao", "ana": "senha-da-ana",
                     "\u0430na": "senha-da-outra", "bob": "senha-do-bob"}
        write_users(self.path, passwords)
        with self.assertLogs("batchat", "WARNING") as logs:
            store = self.store()
        self.assertEqual(logs.output, [f"WARNING:batchat.server.accounts:{CLASH_LINE}ana e \u0430na; joao e joão."])
        for name, password in passwords.items():
            with self.subTest(name=name):
                self.assertEqual(store.authenticate(name, password), name)
                self.assertEqual(store.registered_name(name), name)
                others = [other for other in passwords.values() if other != password]
                self.assertFalse([other for other in others if store.authenticate(name, other)])
        with self.assertNoLogs("batchat", "WARNING"):  # once: not again at each change
            self.assertIn("conta joao,", self.refused(store, "j\u043eão").text)
            store.register("carol", PASSWORD)
            store.save()
        self.assertEqual(self.names_on_disk(), sorted([*passwords, "carol"]))


class LookAlikeServerTest(ServerTestCase):
    def test_novo_of_a_look_alike_names_the_existing_account(self) -> None:
        self.register("joão")
        client = self.connect()
        for name in ("joao", "JO\u0410O"):  # the second with a Cyrillic А
            with self.subTest(name=name):
                reply = client.request(f"NOVO {name} senha123")
                self.assertEqual(server_lines.parse_server_line(reply).fields[0], "USUARIO_EXISTE", reply)
                self.assertIn("joão", reply)
        self.assertTrue(client.request("ENTRAR joao senha123").startswith("ERRO CREDENCIAIS "))


class ExistingClashServerTest(ServerTestCase):
    PASSWORDS = {"joão": "senha-do-joão", "joao": "senha-do-joao"}

    def setUp(self) -> None:
        self.folder = temporary_folder(self)
        self.users_path = self.folder / "users.json"
        write_users(self.users_path, self.PASSWORDS)
        self.server = self.start_server()

    def test_both_accounts_work_and_the_log_names_them_once(self) -> None:
        accented = self.logged_in("joão", self.PASSWORDS["joão"], register=False)
        plain = self.logged_in("joao", self.PASSWORDS["joao"], register=False)
        self.assertEqual(accented.read_line(), "ENTROU joao")
        self.assertEqual(plain.request("LISTA"), "OK LISTA joao joão")
        self.assertEqual(plain.request("CHAT joão oi, xará"), "OK CHAT joão")
        self.assertEqual(accented.read_line(), "MSG joao oi, xará")
        self.assertEqual(accented.request("CHAT joao oi!"), "OK CHAT joao")
        self.assertEqual(plain.read_line(), "MSG joão oi!")
        self.assertEqual(self.server.stop(), 0)
        lines = [line for line in self.server.log.splitlines() if CLASH_LINE in line]
        self.assertEqual(len(lines), 1, self.server.log)
        self.assertTrue(lines[0].endswith(f"{CLASH_LINE}joao e joão."), lines[0])
        self.assertEqual(sorted(json.loads(self.users_path.read_text("utf-8"))["users"]), ["joao", "joão"])


if __name__ == "__main__":
    unittest.main()
