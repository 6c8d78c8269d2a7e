"""Locks that know their tier, and the check that keeps them in order.

Owns :func:`tiered_lock`, :func:`tiered_semaphore`, :func:`check_lock_order`
and :class:`LockOrderError`. Every lock of BatChat (server and client) is made
here; nothing else in the package calls ``threading.Lock()``.

The rule, written once: **a thread holding a lock of tier N takes only locks
of a higher tier.** Two threads that obey it can never wait for each other in
a circle, so there is no deadlock. Each side numbers its own locks: the
server's tiers are :mod:`batchat.server.tiers`, the client's
:mod:`batchat.client.tiers`.

In production a tiered lock *is* a plain ``threading.Lock``: the tier costs
nothing. Under the tests (:func:`check_lock_order`, or the environment
variable ``BATCHAT_VERIFICAR_TRAVAS=1`` for a server started as a
subprocess), each lock remembers its tier and every acquisition is checked
against the locks the thread already holds: taking one of a lower or equal
tier raises :class:`LockOrderError` and is recorded, so the suite fails even
when the error is raised in a thread that only logs it.
"""

from __future__ import annotations

import logging
import os
import threading
from typing import Any, Protocol

CHECK_VARIABLE = "BATCHAT_VERIFICAR_TRAVAS"
MARK = "fora da ordem dos níveis"  # in every order error: what a test looks for in a log

log = logging.getLogger(__name__)


class LockOrderError(RuntimeError):
    """A lock taken while holding one of a lower or equal tier."""


class Lock(Protocol):
    """What BatChat uses of a lock (``threading.Lock`` and the checked one alike)."""

    def acquire(self, blocking: bool = True, timeout: float = -1) -> bool:
        self._check()
        # A semaphore's "no timeout" is None, a lock's is -1: pass it only when given.
        taken = self._inner.acquire(blocking) if timeout == -1 else self._inner.acquire(blocking, timeout)
        if not taken:
            return False
        _locks_held().append(self)
        self._owners.append(threading.get_ident())
        return True

    def release(self) -> None: ...
    def __enter__(self) -> bool: ...
    def __exit__(self, *exc: object) -> None: ...


_checking = os.environ.get(CHECK_VARIABLE) == "1"
_held = threading.local()  # .locks: the checked locks this thread holds, in order taken
violations: list[str] = []  # every LockOrderError raised, for the suite's last check


def check_lock_order() -> None:
    """From now on, locks made by :func:`tiered_lock` check their order (tests only)."""
    global _checking
    _checking = True


def tiered_lock(tier: int, name: str) -> Lock:
    """A lock of ``tier``; ``name`` says whose it is, in an order error."""
    if not _checking:
        return threading.Lock()
    return _CheckedLock(tier, name, threading.Lock())


def tiered_semaphore(tier: int, name: str, slots: int) -> Lock:
    """A bounded semaphore of ``tier`` (a queue of ``slots`` turns), checked like a lock."""
    if not _checking:
        return threading.BoundedSemaphore(slots)
    return _CheckedLock(tier, name, threading.BoundedSemaphore(slots))


def _locks_held() -> list[_CheckedLock]:
    locks = getattr(_held, "locks", None)
    if locks is None:
        locks = _held.locks = []
    return locks


class _CheckedLock:
    """A lock or semaphore that checks the tier rule at every acquisition.

    It also offers what ``threading.Condition`` looks for (``_is_owned``,
    ``_release_save``, ``_acquire_restore``), so a condition built on it
    forgets the lock while it waits and checks it again when it wakes.
    """

    def __init__(self, tier: int, name: str, inner: Any) -> None:
        self.tier = tier
        self.name = name
        self._inner = inner
        self._owners: list[int] = []  # thread idents holding it (a semaphore may have several)

    def __repr__(self) -> str:
        return f"<trava {self.name}, nível {self.tier}>"

    def _check(self) -> None:
        for other in _locks_held():
            if other.tier >= self.tier:
                message = f"{threading.current_thread().name} pegou {self!r} segurando {other!r}: {MARK}"
                violations.append(message)
                log.error("%s", message)  # a server started by the tests: its log shows it
                raise LockOrderError(message)

    def acquire(self, blocking: bool = True, timeout: float = -1) -> bool:
        self._check()
        if not self._inner.acquire(blocking, None if timeout == -1 else timeout) if isinstance(
            self._inner, threading.Semaphore
        ) else not self._inner.acquire(blocking, timeout):
            return False
        _locks_held().append(self)
        self._owners.append(threading.get_ident())
        return True

    def release(self) -> None:
        locks = _locks_held()
        for index in range(len(locks) - 1, -1, -1):
            if locks[index] is self:
                del locks[index]
                break
        if threading.get_ident() in self._owners:
            self._owners.remove(threading.get_ident())
        self._inner.release()

    def __enter__(self) -> bool:
        return self.acquire()

    def __exit__(self, *exc: object) -> None:
        self.release()

    # threading.Condition's hooks: wait() releases the lock and takes it back.
    def _is_owned(self) -> bool:
        return threading.get_ident() in self._owners

    def _release_save(self) -> None:
        self.release()

    def _acquire_restore(self, _state: None) -> None:
        self.acquire()
