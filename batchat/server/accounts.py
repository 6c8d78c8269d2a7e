"""The registered accounts: passwords hashed with scrypt, kept in ``users.json``.

Owns :class:`UserStore` (the accounts in memory and on disk, when each was
last online, which name each look-alike belongs to, who is a teacher). The
stored form (:class:`Account`, :class:`PasswordHash`, users.json's format) is
:mod:`batchat.server.users_file`'s. Called by the chat service (register,
authenticate, names, roles) and the server (save at shutdown). Hashing and
file writes never happen under the store's lock.
"""

from __future__ import annotations

import collections
import dataclasses
import logging
import math
import os
import threading
import time
from collections.abc import Callable, Hashable
from pathlib import Path
from typing import TypeVar

import protocol
from protocol import ErrorCode, ProtocolError
from batchat.locks import tiered_lock, tiered_semaphore
from batchat.server import tiers
from batchat.server.limits import limit_error, OneAtATime
from batchat.server.storage import WritePacer, remove_stale_temp_files, write_file_durably
from batchat.server.users_file import Account, load, PasswordHash, serialize, UserStoreError

log = logging.getLogger(__name__)
T = TypeVar("T")


DEFAULT_HASH_COST = 15  # scrypt n = 2**15: ~90 ms and 32 MiB per hash on a 2020s core


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


def _exists_error(name: str, holder: str) -> ProtocolError:
    """``USUARIO_EXISTE`` for ``name``, naming ``holder``, the account that has it or looks like it."""
    if holder == name:
        return ProtocolError(ErrorCode.USER_EXISTS, "Esse nome de usuário já está em uso.")
    return ProtocolError(
        ErrorCode.USER_EXISTS, f"Já existe a conta {holder}, parecida demais com {name}; escolha outro nome."
    )


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
        self._accounts: dict[str, Account] = load(path)
        remove_stale_temp_files(path)
        self._pending: dict[str, Account] = {}  # registered, not yet on disk
        # skeleton -> key of the account (registered or pending) that looks so
        self._by_skeleton, clashes = _skeleton_index(self._accounts)
        if clashes:
            log.warning("%s", _clashes_sentence(clashes))
        self._version = 0  # bumped on every change to the set of accounts
        self._durable_version = 0  # the newest version known to be on disk
        self._pacer = WritePacer()  # under _write_lock only
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
        """The registered name if the password is right, else ``None`` (see :meth:`check_login`)."""
        account = self.check_login(name, password, owner)
        return None if account is None else account.name

    def check_login(self, name: str, password: str, owner: Hashable = None) -> Account | None:
        """The account, as it was when the password matched, if the password is right, else
        ``None``; ``owner`` as for :meth:`register`.

        A one-time password (REDEFINIR's: ``provisional``) works once: the
        match locks the account (a hash no password matches) in the same step,
        so a second login with it fails, also after a restart. The session
        holds the one-time password until ``SENHA`` replaces it.
        """
        key = protocol.name_key(name)
        with self._lock:
            account = self._accounts.get(key)
        stored = account.password_hash if account else self._dummy_hash
        if not (self._hash(lambda: stored.matches(password), owner) and account):
            return None
        if not account.provisional:
            return account
        locked = dataclasses.replace(account, password_hash=PasswordHash.unusable(self._hash_cost), provisional=False)
        with self._lock:
            if self._accounts.get(key) is not account:
                return None  # changed meanwhile: another login used it, or a new password
            version = self._replace_locked(key, locked, account)
        self._write_change(version)
        return account

    def is_teacher(self, name: str) -> bool:
        """Whether the account ``name`` is a teacher now (one dict lookup)."""
        with self._lock:
            account = self._accounts.get(protocol.name_key(name))
        return account is not None and account.teacher

    def teachers(self) -> list[str]:
        """The names of the teachers, sorted."""
        return [account.name for account in self.accounts() if account.teacher]

    def set_role(self, name: str, teacher: bool) -> str:
        """Make ``name`` a teacher or a student, on disk before this returns; its name as
        registered. ``USUARIO_INEXISTENTE``; ``ULTIMO_PROFESSOR`` to demote the last one."""
        return self._change(name, lambda account: self._with_role_locked(account, teacher))

    def set_password(self, name: str, password: str, owner: Hashable = None, *, provisional: bool = False) -> str:
        """Replace ``name``'s password (hashed at today's cost), on disk before this returns;
        ``provisional``: a one-time password (REDEFINIR). Its name as registered."""
        new_hash = self._hash(lambda: PasswordHash.create(password, self._hash_cost), owner)
        return self._change(
            name, lambda account: dataclasses.replace(account, password_hash=new_hash, provisional=provisional)
        )

    def delete(self, name: str) -> str:
        """Delete the account ``name`` (EXCLUIR): the name is free again once this returns.
        ``ULTIMO_PROFESSOR`` for the last teacher."""
        return self._change(name, self._removal_locked)

    def _removal_locked(self, account: Account) -> None:
        """Nothing in place of ``account``, unless it is the last teacher. Caller holds ``_lock``."""
        self._with_role_locked(account, False)

    def _with_role_locked(self, account: Account, teacher: bool) -> Account:
        """``account`` with the role ``teacher``; refuses to leave no teacher. Caller holds ``_lock``."""
        if account.teacher and not teacher and sum(other.teacher for other in self._accounts.values()) <= 1:
            raise ProtocolError(ErrorCode.LAST_TEACHER, f"{account.name} é o último professor; promova outro antes.")
        return dataclasses.replace(account, teacher=teacher)

    def _change(self, name: str, change: Callable[[Account], Account | None]) -> str:
        """Apply ``change`` to the account ``name`` under the lock (``None``: delete it), then
        write it to disk. ``USUARIO_INEXISTENTE`` if there is no such account."""
        key = protocol.name_key(name)
        with self._lock:
            account = self._accounts.get(key)
            if account is None:
                raise ProtocolError(ErrorCode.UNKNOWN_USER, f"O usuário {name} não existe.")
            version = self._replace_locked(key, change(account), account)
        self._write_change(version)
        return account.name

    def _replace_locked(self, key: str, changed: Account | None, before: Account) -> int:
        """Put ``changed`` in place of ``before`` (``None``: delete it); the new version.
        Caller holds ``_lock``."""
        if changed is None:
            del self._accounts[key]
            skeleton = protocol.name_skeleton(before.name)
            if self._by_skeleton.get(skeleton) == key:
                del self._by_skeleton[skeleton]
        else:
            self._accounts[key] = changed
        self._version += 1
        return self._version

    def _write_change(self, version: int) -> None:
        """Write the file as of ``version``; ``INDISPONIVEL`` if it cannot be written (the
        change stays in memory, and the saving thread tries again)."""
        try:
            self._write(version)
        except OSError as error:
            log.error("Não foi possível gravar %s: %s", self._path, error)
            self._seen_changed.set()  # the saving thread tries again
            raise ProtocolError(ErrorCode.UNAVAILABLE, "Não foi possível gravar a mudança agora.") from error

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
                others_coming = self._hashing > 0  # still hashing: they could join this write
            if others_coming:
                self._pacer.wait()  # a storm: more registrations join this write
            with self._lock:
                snapshot = {**self._accounts, **self._pending}
                snapshot_version = self._version
            started = self._pacer.clock()
            try:
                write_file_durably(self._path, serialize(snapshot.values()))
            except OSError:
                if rollback is not None:
                    with self._lock:
                        del self._pending[rollback[0]]
                        del self._by_skeleton[rollback[1]]
                        self._version += 1
                raise
            self._pacer.wrote(started)
            with self._lock:
                self._durable_version = snapshot_version
                for written in snapshot.keys() & self._pending.keys():
                    self._accounts[written] = self._pending.pop(written)

