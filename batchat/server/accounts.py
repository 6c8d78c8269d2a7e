"""The registered accounts: passwords hashed with scrypt, kept in ``users.json``.

Owns :class:`UserStore` (the accounts in memory and on disk, when each was
last online, which name each look-alike belongs to) with its types
:class:`PasswordHash` and :class:`Account`. Called by the chat service
(register, authenticate, names) and the server (save at shutdown). Hashing and
file writes never happen under the store's lock.
"""

from __future__ import annotations

import base64
import collections
import dataclasses
import functools
import hashlib
import hmac
import json
import logging
import math
import os
import threading
import time
from collections.abc import Callable, Hashable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import protocol
from protocol import ErrorCode, ProtocolError
from batchat.locks import tiered_lock, tiered_semaphore
from batchat.server import tiers
from batchat.server.limits import limit_error, OneAtATime
from batchat.server.storage import remove_stale_temp_files, write_file_durably, StorageError

log = logging.getLogger(__name__)
T = TypeVar("T")


DEFAULT_HASH_COST = 15  # scrypt n = 2**15: ~90 ms and 32 MiB per hash on a 2020s core


USERS_FILE_VERSION = 1


SEEN_SAVE_DELAY = 5.0  # seconds between a login or log-out and the write that records it


# Each scrypt call takes 128 * r * n bytes (32 MiB at the default cost): bound how
# many run at once, so a login storm queues instead of eating memory and CPU.
HASH_CONCURRENCY = max(2, os.cpu_count() or 2)


# How many seconds of hashing may wait in the queue: what this machine hashes in that
# time (the start measures one hash) is how many logins and registrations may wait;
# the next is refused with ERRO LIMITE and when to try again. The client waits 10 s
# for an answer before it gives the server up.
HASH_QUEUE_SECONDS = 6.0
MIN_HASH_QUEUE = 64  # however slow the machine: a class logging in together queues
MAX_HASH_QUEUE = 10_000  # however fast (a test's tiny cost): bounded all the same


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
    """A registered user: the name as registered, the password hash, when last online."""

    name: str
    password_hash: PasswordHash
    last_seen: float | None = None  # seconds since the epoch; None: never logged in

    @functools.cached_property
    def json_line(self) -> str:
        """This account's line in users.json, encoded once: every commit writes every account."""
        record: dict[str, Any] = {"hash": self.password_hash.to_json(), "name": self.name}
        if self.last_seen is not None:
            record["last_seen"] = protocol.format_timestamp(self.last_seen)
        key = json.dumps(protocol.name_key(self.name), ensure_ascii=False)
        return f" {key}: {json.dumps(record, ensure_ascii=False, sort_keys=True)}"


def _exists_error(name: str, holder: str) -> ProtocolError:
    """``USUARIO_EXISTE`` for ``name``, naming ``holder``, the account that has it or looks like it."""
    if holder == name:
        return ProtocolError(ErrorCode.USER_EXISTS, "Esse nome de usuário já está em uso.")
    return ProtocolError(
        ErrorCode.USER_EXISTS, f"Já existe a conta {holder}, parecida demais com {name}; escolha outro nome."
    )


# What a damaged record raises while it is read (OverflowError: a number like 1e999).
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
    return Account(name, PasswordHash.from_json(record["hash"]), _load_last_seen(record))


def _load_last_seen(record: dict[str, Any]) -> float | None:
    text = record.get("last_seen")
    if text is None:
        return None
    seconds = protocol.parse_timestamp(text) if isinstance(text, str) else None
    if seconds is None:
        raise ValueError(f"data inválida em last_seen: {text!r}")
    return seconds


def _skeleton_index(accounts: dict[str, Account]) -> tuple[dict[str, str], list[list[str]]]:
    """Which account (its key) each look-alike (:func:`protocol.name_skeleton`) belongs
    to, and the names of the groups of ``accounts`` that already share one (from before
    the rule, or written by hand). A skeleton goes to the first of its accounts in the
    order of ``LISTA TODOS``; the others stay accounts of their own.
    """
    groups: dict[str, list[str]] = {}  # skeleton -> keys, in listing order
    for key, account in sorted(accounts.items(), key=lambda item: _listing_order(item[1])):
        groups.setdefault(protocol.name_skeleton(account.name), []).append(key)
    index = {skeleton: keys[0] for skeleton, keys in groups.items()}
    return index, [[accounts[key].name for key in keys] for keys in groups.values() if len(keys) > 1]


def _listing_order(account: Account) -> tuple[str, str]:
    """How accounts are sorted: by name ignoring case."""
    return account.name.casefold(), account.name


def _clashes_sentence(groups: list[list[str]]) -> str:
    """The one log line naming ``groups`` of look-alike accounts (``joao e joão; maria, mária e márìa``)."""
    listed = "; ".join(", ".join(group[:-1]) + f" e {group[-1]}" for group in groups)
    return f"Contas com nomes parecidos demais (continuam separadas): {listed}."


def _time_one_hash(stored: PasswordHash) -> float:
    """Seconds one check of ``stored`` takes here, measured once at the start (the
    hash that made it took longer: scrypt's first run also gets its memory)."""
    started = time.perf_counter()
    stored.matches("batchat-dummy-password")
    return time.perf_counter() - started


def hash_queue_bound(hash_seconds: float) -> int:
    """How many hashes may run or wait at once: HASH_QUEUE_SECONDS of what the
    HASH_CONCURRENCY slots compute, ``hash_seconds`` each (within the bounds)."""
    fits = HASH_QUEUE_SECONDS * HASH_CONCURRENCY / max(hash_seconds, 1e-6)
    return int(min(MAX_HASH_QUEUE, max(MIN_HASH_QUEUE, fits)))


class UserStore:
    """The registered accounts, kept in a JSON file.

    API: :meth:`register`, :meth:`authenticate`, :meth:`registered_name`,
    :meth:`record_seen`, :meth:`accounts`, :meth:`save`.

    ``_lock`` guards only the in-memory dicts; hashing and file writes happen
    outside it. File writes are serialised by ``_write_lock``, a lock whose
    only job is to order them, and batched: a registration waits until a
    write that includes it is on disk (group commit), so ``OK NOVO`` always
    means durable, and a burst of registrations costs a few file writes
    instead of one per account.

    When each account was last online changes at every login and log-out;
    a thread of the store's own saves those changes SEEN_SAVE_DELAY later, all
    at once, so a stream of logins cannot turn into a stream of file writes.
    A SIGKILL may lose the last few seconds of them, never an account.

    An account is its :func:`protocol.name_key` (``Alice`` is ``alice``), and no new
    one may look like another: ``_by_skeleton`` gives, for each
    :func:`protocol.name_skeleton`, the account that has it, so ``NOVO joao`` after
    ``joão`` is refused in one lookup. Accounts that already shared one when the
    file was read (it had no such rule) stay apart, and the log names them once.
    """

    def __init__(self, path: Path, hash_cost: int = DEFAULT_HASH_COST) -> None:
        self._path = path
        self._hash_cost = hash_cost
        self._lock = tiered_lock(tiers.LEAF, "UserStore")  # the dicts and versions below
        self._write_lock = tiered_lock(tiers.USERS_FILE, "UserStore.write")  # orders the file writes, held across them
        if not path.parent.is_dir():
            raise UserStoreError(f"a pasta {path.parent} não existe")
        self._accounts: dict[str, Account] = self._load(path)
        remove_stale_temp_files(path)
        self._pending: dict[str, Account] = {}  # registered, not yet on disk
        # skeleton -> key of the account (registered or pending) that looks so
        self._by_skeleton, clashes = _skeleton_index(self._accounts)
        if clashes:
            log.warning("%s", _clashes_sentence(clashes))
        self._version = 0  # bumped on every change to the set of accounts
        self._durable_version = 0  # the newest version known to be on disk
        # Unknown names are checked against this hash, so that a login costs
        # the same time whether the name exists or not: same cost as most accounts.
        self._dummy_hash = PasswordHash.create("batchat-dummy-password", self._typical_cost())
        self.hash_seconds = _time_one_hash(self._dummy_hash)  # one login's hash on this machine
        self.max_hashing = hash_queue_bound(self.hash_seconds)
        log.debug("Um hash de senha leva %.0f ms; até %d esperam a vez.", self.hash_seconds * 1000, self.max_hashing)
        self._hashing = 0  # hashes running or waiting for a slot (under _lock)
        self._hash_slots = tiered_semaphore(tiers.HASH_SLOTS, "UserStore.hash", HASH_CONCURRENCY)  # a queue for scrypt
        self._turns = OneAtATime()  # per address: one hash in flight each (tiers.NAME_TURN)
        self._seen_changed = threading.Event()
        self._closed = threading.Event()
        threading.Thread(target=self._save_seen_forever, name="visto-por-último", daemon=True).start()

    def _typical_cost(self) -> int:
        """log2 of the scrypt n most stored hashes use (the configured cost if none)."""
        costs = collections.Counter(account.password_hash.n for account in self._accounts.values())
        return costs.most_common(1)[0][0].bit_length() - 1 if costs else self._hash_cost

    @staticmethod
    def _load(path: Path) -> dict[str, Account]:
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
        return UserStore._load_records(path, records)

    @staticmethod
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

    def __len__(self) -> int:
        with self._lock:
            return len(self._accounts)

    def registered_name(self, name: str) -> str | None:
        """The name as registered of the account called ``name`` (ignoring case), if any."""
        with self._lock:
            account = self._accounts.get(protocol.name_key(name))
        return account.name if account else None

    def accounts(self) -> list[Account]:
        """Every account, sorted by name ignoring case."""
        with self._lock:
            accounts = list(self._accounts.values())
        return sorted(accounts, key=_listing_order)

    def record_seen(self, name: str, when: float) -> None:
        """Note that ``name`` was online at ``when``; on disk within SEEN_SAVE_DELAY."""
        key = protocol.name_key(name)
        with self._lock:
            account = self._accounts.get(key)
            if account is None:
                return
            self._accounts[key] = dataclasses.replace(account, last_seen=when)
            self._version += 1
        self._seen_changed.set()

    def save(self) -> None:
        """Write what changed now (at shutdown, so no last-seen time is lost)."""
        with self._lock:
            version = self._version
        self._write(version)

    def close(self) -> None:
        """Stop the thread that saves last-seen times (call :meth:`save` first to keep them)."""
        self._closed.set()
        self._seen_changed.set()

    def _save_seen_forever(self) -> None:
        while True:
            self._seen_changed.wait()
            if self._closed.wait(SEEN_SAVE_DELAY):  # gather a burst of logins into one write
                return
            self._seen_changed.clear()
            try:
                self.save()
            except OSError as error:
                log.error("Não foi possível gravar %s: %s; nova tentativa em breve.", self._path, error)
                self._seen_changed.set()

    def register(self, name: str, password: str, owner: Hashable = None) -> str:
        """Create an account and return once it is on disk; ``owner`` (the client's
        address) waits for its own earlier hashes first (see :meth:`_hash`).

        Raises ``USUARIO_EXISTE`` if the name is taken, or looks like one that is
        (:func:`protocol.name_skeleton`: ``joao`` after ``joão``), also by a
        registration still being written; ``INDISPONIVEL`` if the file cannot
        be written. Returns the name as registered.
        """
        key, skeleton = protocol.name_key(name), protocol.name_skeleton(name)
        with self._lock:  # cheap early answer; the check under the lock below decides
            holder = self._holder_locked(key, skeleton)
        if holder is not None:
            raise _exists_error(name, holder)
        account = Account(name, self._hash(lambda: PasswordHash.create(password, self._hash_cost), owner))
        with self._lock:
            holder = self._holder_locked(key, skeleton)
            if holder is not None:
                raise _exists_error(name, holder)
            self._pending[key] = account
            self._by_skeleton[skeleton] = key
            self._version += 1
            my_version = self._version
        try:
            self._write(my_version, rollback=(key, skeleton))
        except OSError as error:
            log.error("Não foi possível gravar %s: %s", self._path, error)
            raise ProtocolError(
                ErrorCode.UNAVAILABLE, "Não foi possível criar a conta agora; tente mais tarde."
            ) from error
        return name

    def authenticate(self, name: str, password: str, owner: Hashable = None) -> str | None:
        """Return the registered name if the password is right, else ``None``;
        ``owner`` as for :meth:`register`."""
        with self._lock:
            account = self._accounts.get(protocol.name_key(name))
        stored = account.password_hash if account else self._dummy_hash
        if self._hash(lambda: stored.matches(password), owner) and account:
            return account.name
        return None

    def _holder_locked(self, key: str, skeleton: str) -> str | None:
        """The name of the account, registered or being registered, that is ``key`` or
        looks like ``skeleton``; ``None`` if there is none. Caller holds ``_lock``."""
        holder = key if key in self._accounts or key in self._pending else self._by_skeleton.get(skeleton)
        if holder is None:
            return None
        return (self._accounts.get(holder) or self._pending[holder]).name

    def _hash(self, compute: Callable[[], T], owner: Hashable = None) -> T:
        """Run ``compute`` (an scrypt hash) in one of the HASH_CONCURRENCY slots.

        An ``owner`` (an address) has one hash in flight at a time: its next
        ones wait in its own line, so one address looping logins holds one
        slot, never all of them, and everyone else's login keeps its pace.
        At most ``max_hashing`` run or wait, in all (:func:`hash_queue_bound`):
        the next is refused with ``ERRO LIMITE`` and when to try again.
        """
        with self._lock:
            if self._hashing >= self.max_hashing:
                wait = math.ceil(self._hashing * self.hash_seconds / HASH_CONCURRENCY) + 1
                raise limit_error(f"Servidor ocupado conferindo senhas; tente de novo em {wait} s.")
            self._hashing += 1
        try:
            if owner is None:
                with self._hash_slots:
                    return compute()
            with self._turns.hold(owner), self._hash_slots:
                return compute()
        finally:
            with self._lock:
                self._hashing -= 1

    def _write(self, version: int, rollback: tuple[str, str] | None = None) -> None:
        """Make sure the accounts as of ``version`` are on disk; on failure drop the
        pending account ``rollback`` (a registration: its key and skeleton) and raise.

        The pending account is removed while ``_write_lock`` is still held, so
        no later write can carry an account that was refused.
        """
        with self._write_lock:
            if self._durable_version >= version:
                return  # another thread's write already carried ours
            with self._lock:
                snapshot = {**self._accounts, **self._pending}
                snapshot_version = self._version
            try:
                write_file_durably(self._path, self._serialize(snapshot.values()))
            except OSError:
                if rollback is not None:
                    with self._lock:
                        del self._pending[rollback[0]]
                        del self._by_skeleton[rollback[1]]
                        self._version += 1
                raise
            with self._lock:
                self._durable_version = snapshot_version
                for written in snapshot.keys() & self._pending.keys():
                    self._accounts[written] = self._pending.pop(written)

    @staticmethod
    def _serialize(accounts: Iterable[Account]) -> bytes:
        """The whole file: one account per line, sorted, so it stays easy to read.

        Every commit writes every account, so each account's line is encoded
        once (:attr:`Account.json_line`) and a commit only sorts and joins:
        10,000 registrations no longer cost 10,000 re-encodings each.
        """
        users = ",\n".join(sorted(account.json_line for account in accounts))
        return f'{{"version": {USERS_FILE_VERSION}, "users": {{\n{users}\n}}}}\n'.encode("utf-8")
