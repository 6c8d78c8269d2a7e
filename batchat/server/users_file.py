"""The accounts as stored: :class:`Account` and its :class:`PasswordHash` (scrypt), and
``users.json``: its format, its reading (:func:`load`: every damage stops the start
with one sentence naming the file and the record) and its writing (:func:`serialize`).

Pure but for the hashing and :func:`load`'s one read; no state, no lock. Called by
:mod:`batchat.server.accounts` (the store, the one owner of the accounts) and tests.
A record is ``{"name", "hash", "last_seen"?, "cargo"?}``: ``"cargo": "professor"``
marks a teacher (issue 20); a record without it is a student, as every file from
before was, so old files load as they are.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac
import json
import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import protocol
from protocol import ProtocolError
from batchat.server.storage import StorageError


USERS_FILE_VERSION = 1
ROLE_KEY, TEACHER_ROLE = "cargo", "professor"  # a teacher's record: "cargo": "professor"
PROVISIONAL_KEY = "provisoria"  # true: the hash is a one-time password (REDEFINIR)


# The most memory one stored hash may ask scrypt for (128 * r * n bytes): more
# would exhaust the machine, or pass what hashlib.scrypt can compute at all.
# --hash-cost 18 (n = 2**18, r = 8) is exactly this.
MAX_SCRYPT_MEMORY = 256 * 1024 * 1024


MAX_HASH_COST = 18


SALT_BYTES = 16  # every stored hash has a random salt of this size (PasswordHash.create)


KEY_BYTES = 32  # and a key of this size (the dklen of _scrypt): another one never matches



class UserStoreError(StorageError):
    """``users.json`` cannot be used."""


@dataclass(frozen=True)
class PasswordHash:
    """An scrypt hash with the parameters it was made with."""

    n: int
    r: int
    p: int
    salt: bytes
    key: bytes

    @classmethod
    def unusable(cls, cost: int) -> PasswordHash:
        """A hash no password matches (a random key): the account is locked until a new
        password is set. Costs no hashing."""
        return cls(2**cost, 8, 1, os.urandom(SALT_BYTES), os.urandom(KEY_BYTES))

    @classmethod
    def create(cls, password: str, cost: int) -> PasswordHash:
        """Hash ``password`` with a fresh random salt and ``n = 2**cost``."""
        salt = os.urandom(SALT_BYTES)
        return cls(2**cost, 8, 1, salt, _scrypt(password, salt, 2**cost, 8, 1))

    def matches(self, password: str) -> bool:
        """Whether ``password`` hashes to this key (constant-time comparison)."""
        candidate = _scrypt(password, self.salt, self.n, self.r, self.p)
        return hmac.compare_digest(candidate, self.key)

    def to_json(self) -> dict[str, Any]:
        return {
            "alg": "scrypt",
            "n": self.n,
            "r": self.r,
            "p": self.p,
            "salt": base64.b64encode(self.salt).decode("ascii"),
            "key": base64.b64encode(self.key).decode("ascii"),
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> PasswordHash:
        """Read a stored hash, refusing parameters scrypt would choke on later: an
        account whose hash cannot be computed could never log in again."""
        if data.get("alg") != "scrypt":
            raise ValueError(f"algoritmo de hash desconhecido: {data.get('alg')!r}")
        n, r, p = (_stored_int(data, key) for key in ("n", "r", "p"))
        if not _scrypt_can_compute(n, r, p):
            raise ValueError(f"parâmetros do scrypt inválidos: n={n}, r={r}, p={p}")
        return cls(n, r, p, _stored_bytes(data, "salt", SALT_BYTES), _stored_bytes(data, "key", KEY_BYTES))


def _stored_int(data: dict[str, Any], key: str) -> int:
    """``data[key]``, which must be an int: ``1e999`` or ``true`` is no scrypt parameter."""
    value = data[key]
    if type(value) is not int:
        raise ValueError(f"{key} deveria ser um número inteiro, não {str(value)[:40]}")
    return value


def _stored_bytes(data: dict[str, Any], key: str, size: int) -> bytes:
    """``data[key]``, base64 of exactly ``size`` bytes: a salt or key cut short (or
    grown) would never match a password again, so that account could never log in."""
    text = data[key]
    try:
        value = base64.b64decode(text, validate=True) if isinstance(text, str) else None
    except ValueError:  # binascii.Error, or a character outside ASCII
        value = None
    if value is None:
        raise ValueError(f"o campo {key!r} do hash não está em base64")
    if len(value) != size:
        raise ValueError(f"o campo {key!r} do hash tem {len(value)} bytes, e não {size}")
    return value


def _scrypt_can_compute(n: int, r: int, p: int) -> bool:
    """Whether :func:`_scrypt` computes with these parameters within MAX_SCRYPT_MEMORY.

    n a power of two below 2**(16 r) (OpenSSL refuses larger ones), r and p
    small, and 128 r n bytes at most MAX_SCRYPT_MEMORY.
    """
    return (  # r first: 2 ** (16 r) with a damaged r of 10**12 would never finish
        1 <= r <= 64
        and 1 <= p <= 16
        and 2 <= n < 2 ** (16 * r)
        and n & (n - 1) == 0
        and 128 * r * n <= MAX_SCRYPT_MEMORY
    )


def _scrypt(password: str, salt: bytes, n: int, r: int, p: int) -> bytes:
    # OpenSSL refuses by default above 32 MiB; allow what these parameters need.
    maxmem = 128 * r * (n + p + 2) + 1024 * 1024
    return hashlib.scrypt(password.encode("utf-8"), salt=salt, n=n, r=r, p=p, maxmem=maxmem, dklen=KEY_BYTES)


@dataclass(frozen=True)
class Account:
    """A registered user: the name as registered, the password hash, when last online,
    whether a teacher, and whether the password is a teacher's one-time one (REDEFINIR)."""

    name: str
    password_hash: PasswordHash
    last_seen: float | None = None  # seconds since the epoch; None: never logged in
    teacher: bool = False
    provisional: bool = False  # the hash is REDEFINIR's: it works for one ENTRAR

    @functools.cached_property
    def json_line(self) -> str:
        """This account's line in users.json, encoded once: every commit writes every account."""
        record: dict[str, Any] = {"hash": self.password_hash.to_json(), "name": self.name}
        if self.last_seen is not None:
            record["last_seen"] = protocol.format_timestamp(self.last_seen)
        if self.teacher:
            record[ROLE_KEY] = TEACHER_ROLE
        if self.provisional:
            record[PROVISIONAL_KEY] = True
        key = json.dumps(protocol.name_key(self.name), ensure_ascii=False)
        return f" {key}: {json.dumps(record, ensure_ascii=False, sort_keys=True)}"


_DAMAGE = (ValueError, KeyError, TypeError, AttributeError, OverflowError, ProtocolError)


def _damage_reason(error: BaseException) -> str:
    """What is wrong with a stored record, in one short phrase."""
    if isinstance(error, KeyError):
        return f"falta o campo {error.args[0]!r}"
    if isinstance(error, ProtocolError):
        return error.text
    if isinstance(error, RecursionError):
        return "colchetes ou chaves aninhados demais"
    return str(error)[:200] or type(error).__name__


class _JsonObject(dict[str, Any]):
    """A JSON object as read from users.json, with ``repeated``: the keys leading to
    the first key found twice in it or anywhere below it (empty if none).

    ``json.loads`` alone keeps the last of two equal keys and drops the other
    silently: a second ``"alice"`` would hide the first, and the next write
    would erase it from disk.
    """

    repeated: tuple[str, ...] = ()

    @classmethod
    def from_pairs(cls, pairs: list[tuple[str, Any]]) -> _JsonObject:
        """The ``object_pairs_hook`` of ``json.loads`` (objects are read innermost first)."""
        read = cls(pairs)
        seen: set[str] = set()
        for key, value in pairs:
            if key in seen:
                read.repeated = (key,)
                break
            seen.add(key)
            below = _repetition_in(value)
            if below:
                read.repeated = (key, *below)
                break
        return read


def _repetition_in(value: Any) -> tuple[str, ...]:
    """The keys leading to the first repeated key in ``value``, a JSON value read with
    :meth:`_JsonObject.from_pairs`; lists are searched without recursion, and each
    object already knows about everything below it."""
    pending = [value]
    while pending:
        item = pending.pop()
        if isinstance(item, _JsonObject) and item.repeated:
            return item.repeated
        if isinstance(item, list):
            pending.extend(item)
    return ()


def _repetition_problem(keys: tuple[str, ...]) -> str | None:
    """What a repeated key at ``keys`` (from :func:`_repetition_in`) means, naming the record."""
    shown = [key[:40] for key in keys]
    if not shown:
        return None
    if shown[0] != "users" or len(shown) == 1:
        return f"o campo {'.'.join(shown)!r} aparece duas vezes"
    if len(shown) == 2:
        return f"a conta {shown[1]!r} aparece duas vezes, e só a última seria lida"
    return f"conta {shown[1]!r}: o campo {'.'.join(shown[2:])!r} aparece duas vezes"


def _corrupt_users_file(path: Path, reason: str) -> UserStoreError:
    return UserStoreError(
        f"o arquivo de contas {path} está corrompido ({reason}). "
        "Corrija-o ou mova-o para outro lugar; o servidor não inicia por cima dele."
    )


def _load_account(record: dict[str, Any]) -> Account:
    """One record of users.json; raises one of _DAMAGE if it is not a valid account."""
    name = protocol.validate_name(record["name"])
    role = record.get(ROLE_KEY)
    if role not in (None, TEACHER_ROLE):
        raise ValueError(f"cargo desconhecido: {str(role)[:40]!r} (só \"{TEACHER_ROLE}\", ou nenhum)")
    provisional = record.get(PROVISIONAL_KEY, False)
    if type(provisional) is not bool:
        raise ValueError(f"{PROVISIONAL_KEY} deveria ser true ou false")
    password_hash = PasswordHash.from_json(record["hash"])
    return Account(name, password_hash, _load_last_seen(record), role == TEACHER_ROLE, provisional)


def _load_last_seen(record: dict[str, Any]) -> float | None:
    text = record.get("last_seen")
    if text is None:
        return None
    seconds = protocol.parse_timestamp(text) if isinstance(text, str) else None
    if seconds is None:
        raise ValueError(f"data inválida em last_seen: {text!r}")
    return seconds


def load(path: Path) -> dict[str, Account]:
    """Every account in ``path``; each record is checked, and any damage stops the
    start with one sentence naming the file and the record."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return {}
    except OSError as error:
        raise UserStoreError(f"não foi possível ler {path}: {error.strerror}") from error
    try:
        document = json.loads(raw, object_pairs_hook=_JsonObject.from_pairs)
        problem = _repetition_problem(_repetition_in(document))
        records = document["users"].items()
    except (*_DAMAGE, RecursionError) as error:  # RecursionError: brackets nested too deep
        raise _corrupt_users_file(path, _damage_reason(error)) from None
    if problem is not None:
        raise _corrupt_users_file(path, problem)
    return _load_records(path, records)


def _load_records(path: Path, records: Iterable[tuple[Any, Any]]) -> dict[str, Account]:
    """The accounts of users.json's ``users``; ``Alice`` and ``alice`` are one account,
    so two records with those names are a damage like any other."""
    accounts: dict[str, Account] = {}
    record_keys: dict[str, str] = {}  # the key of the record each account was read from
    for key, record in records:
        try:
            account = _load_account(record)
            identity = protocol.name_key(account.name)
            if identity in accounts:
                raise ValueError(
                    f"o nome {account.name!r} é o mesmo da conta {record_keys[identity][:40]!r} "
                    f"({accounts[identity].name!r}), sem contar maiúsculas e minúsculas"
                )
        except (*_DAMAGE, RecursionError) as error:
            raise _corrupt_users_file(path, f"conta {str(key)[:40]!r}: {_damage_reason(error)}") from None
        accounts[identity] = account
        record_keys[identity] = str(key)
    return accounts



def serialize(accounts: Iterable[Account]) -> bytes:
    """The whole file: one account per line, sorted, so it stays easy to read.

    Every commit writes every account, so each account's line is encoded
    once (:attr:`Account.json_line`) and a commit only sorts and joins:
    10,000 registrations no longer cost 10,000 re-encodings each.
    """
    users = ",\n".join(sorted(account.json_line for account in accounts))
    return f'{{"version": {USERS_FILE_VERSION}, "users": {{\n{users}\n}}}}\n'.encode("utf-8")
