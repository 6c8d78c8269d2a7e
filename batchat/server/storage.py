"""The data folder: one server per folder, and files written so a crash never tears them.

Owns nothing shared. :func:`lock_data_file` keeps a second server off the same
files, and :class:`DataFiles` takes back what a failed start created;
:func:`write_file_durably` replaces a file atomically and durably, and
:class:`WritePacer` spaces such writes under a storm;
:func:`data_folder_problem` says, at start-up, why a folder cannot be used.
Called by the accounts and the mailbox (errors) and by the server's start-up.
"""

from __future__ import annotations

import errno
import logging
import os
import tempfile
import time
from collections.abc import Callable, Iterable
from pathlib import Path

from batchat.server import os_support

log = logging.getLogger(__name__)


class WritePacer:
    """Spaces whole-file writes: each waits ``factor`` times the last one's length
    (at most ``longest``) after it ended, so the changes arriving meanwhile share it.

    A file rewritten whole at every change costs a storm of changes one write
    each, back to back, of an ever larger file: 5,000 registrations made 1,068
    writes of up to 850 KB of users.json, and the copies took the disk and the
    GIL (bench/README.md). With ``factor`` 2, writing takes at most a third of
    the time, and each write carries what came during the pause: 342 writes. A
    lone change finds the last write long over and waits for nothing (and the
    owner waits only when others could join: ``UserStore`` asks whether any
    registration is still hashing). Not
    locked: its owner calls it under the lock that orders the writes. The clock
    and the sleep are passed in, so tests need no time.
    """

    def __init__(self, factor: float = 2.0, longest: float = 0.25,
                 clock: Callable[[], float] = time.monotonic, sleep: Callable[[float], None] = time.sleep) -> None:
        self._factor = factor
        self._longest = longest
        self.clock = clock
        self._sleep = sleep
        self._next = -float("inf")  # no write waits before this time

    def wait(self) -> None:
        """Before a write: wait for the pause after the last one to end."""
        pause = self._next - self.clock()
        if pause > 0:
            self._sleep(min(pause, self._longest))

    def wrote(self, started: float) -> None:
        """A write that began at ``started`` (this pacer's clock) has just ended."""
        now = self.clock()
        self._next = now + self._factor * (now - started)


class StorageError(Exception):
    """A file the server keeps its state in cannot be used (corrupt, unreadable)."""


class FolderInUse(StorageError):
    """Another server already holds the lock on these files."""


_LOCK_HELD_ERRNOS = {errno.EACCES, errno.EAGAIN, errno.EWOULDBLOCK, errno.EDEADLK}


def lock_data_file(path: Path) -> int:
    """Take the lock ``<path>.lock`` for the life of this process; the open descriptor.

    Two servers on the same files would each rewrite them from their own
    memory (one erases what the other acknowledged) and remove each other's
    temp files at start-up: the second one refuses to start instead. Call it
    before reading ``path`` or cleaning up beside it.
    """
    lock_path = _lock_path(path)
    if not path.parent.is_dir():
        raise StorageError(f"a pasta {path.parent} não existe")
    try:
        fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o600)
    except OSError as error:
        raise StorageError(f"não foi possível criar {lock_path}: {error.strerror}") from error
    try:
        os_support.lock_file_exclusively(fd)
    except OSError as error:
        os.close(fd)
        if error.errno in _LOCK_HELD_ERRNOS:
            raise _in_use(path) from None
        raise StorageError(f"não foi possível travar {lock_path}: {error.strerror}") from error
    if not _still_in_folder(fd, lock_path):  # another start was failing, and took its lock file back
        os.close(fd)
        raise _in_use(path)
    return fd


def _lock_path(path: Path) -> Path:
    return path.with_name(path.name + ".lock")


def _in_use(path: Path) -> FolderInUse:
    return FolderInUse(
        f"Outro servidor BatChat já usa os arquivos da pasta {path.parent.resolve()}; "
        "pare-o antes, ou use outra pasta: --users <outra pasta>/users.json."
    )


def _still_in_folder(fd: int, lock_path: Path) -> bool:
    """Whether the file locked through ``fd`` is still ``lock_path``. A failed start removes
    its lock file while holding it (:class:`DataFiles`): a server that opened that file
    just before would hold a lock on a file no one else can find any more."""
    try:
        return os.path.samestat(os.fstat(fd), os.stat(lock_path))
    except OSError:
        return False


# SQLite's files beside a database (the mailbox); users.json has none, and no harm asking.
_SQLITE_COMPANIONS = ("-wal", "-shm", "-journal")


class DataFiles:
    """The files one start of the server keeps its data in, their locks, and what this
    start created, so that a start that fails leaves the folders as it found them.

    :meth:`lock` takes each file's lock (:func:`lock_data_file`) and notes which
    of its files were already there. :meth:`abandon` (the start failed) removes
    every other one, while the locks still keep any other server off them,
    then the lock files this start created, and releases the locks.
    :meth:`release` (the server stopped) only releases them: the lock files stay.
    """

    def __init__(self, paths: Iterable[Path]) -> None:
        self._paths = list(dict.fromkeys(paths))
        self._held: list[tuple[Path, int]] = []  # each data file whose lock is held, and the lock's descriptor
        self._existed: set[Path] = set()  # what was there before this start, of the files below

    @staticmethod
    def _files(path: Path) -> list[Path]:
        return [path, *(path.with_name(path.name + suffix) for suffix in _SQLITE_COMPANIONS)]

    def lock(self) -> None:
        """Lock every file, in order; raise as :func:`lock_data_file` does (the locks
        taken until then stay held: :meth:`abandon` takes them back)."""
        for path in self._paths:
            lock_existed = _lock_path(path).exists()
            self._held.append((path, lock_data_file(path)))
            self._existed.update(file for file in self._files(path) if file.exists())
            if lock_existed:
                self._existed.add(_lock_path(path))

    def abandon(self) -> None:
        """Remove what this start created beside each locked file, then its lock file."""
        for path, fd in reversed(self._held):
            for created in (file for file in self._files(path) if file not in self._existed):
                try:
                    created.unlink(missing_ok=True)
                except OSError as error:
                    log.warning("Não foi possível remover %s, criado nesta partida: %s", created, error)
            if _lock_path(path) in self._existed:
                os.close(fd)
            else:
                _remove_lock_file(_lock_path(path), fd)
        self._held.clear()

    def release(self) -> None:
        """Release the locks: the next server may start now."""
        for _, fd in self._held:
            os.close(fd)
        self._held.clear()


def _remove_lock_file(lock_path: Path, fd: int) -> None:
    """Remove a lock file held through ``fd``, then release it. Removed while still held,
    so no server ever locks it once it is gone from the folder (see :func:`_still_in_folder`).
    Windows removes no open file: there it is closed first, and stays if another
    process opened it meanwhile."""
    try:
        lock_path.unlink()
    except PermissionError:
        os.close(fd)
        try:
            lock_path.unlink()
        except OSError as error:
            log.debug("%s fica na pasta: %s", lock_path, error)
        return
    except OSError as error:
        log.debug("%s fica na pasta: %s", lock_path, error)
    os.close(fd)


def _temp_prefix(path: Path) -> str:
    return f".{path.name}."


def remove_stale_temp_files(path: Path) -> None:
    """Delete temp files that a killed server left beside ``path`` mid-write.

    They never hold anything acknowledged: an account is acknowledged only
    after its temp file was renamed over ``path``.
    """
    for stale in path.parent.glob(f"{_temp_prefix(path)}*.tmp"):
        log.warning("Removendo arquivo temporário abandonado %s.", stale)
        stale.unlink(missing_ok=True)


def write_file_durably(path: Path, data: bytes) -> None:
    """Replace ``path`` with ``data`` atomically and durably.

    A temp file in the same folder is written, fsynced and renamed over
    ``path``; then the folder is fsynced so the rename itself survives a
    crash. A reader, or a restart after SIGKILL or power loss, sees either the
    old file or the new one, never a mix. The file is created with mode 0600.
    On failure the temp file is removed and ``path`` is untouched.
    """
    folder = path.parent
    # mkstemp creates the file readable and writable by its owner only (0600).
    fd, temp_name = tempfile.mkstemp(dir=folder, prefix=_temp_prefix(path), suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as temp_file:
            temp_file.write(data)
            temp_file.flush()
            os.fsync(temp_file.fileno())
        os.replace(temp_name, path)
    except BaseException:
        Path(temp_name).unlink(missing_ok=True)
        raise
    os_support.fsync_directory(folder)


def data_folder_problem(folder: Path) -> str | None:
    """Why the server cannot keep its files in ``folder`` (a sentence saying what to
    do), or ``None``. Checked at start-up, so the person hears it at once, not at
    the first NOVO; the folder is named, not a file that does not exist yet."""
    shown = folder.resolve()
    advice = "Rode o servidor numa pasta sua, ou indique outra com --users <pasta>/users.json."
    if not folder.exists():
        return f"A pasta {shown} não existe, e o servidor não inicia sem ela. Crie-a ou: {advice}"
    if not folder.is_dir():
        return f"{shown} não é uma pasta, e o servidor não inicia sem uma. {advice}"
    try:
        tempfile.TemporaryFile(dir=folder).close()
    except OSError as error:
        return (
            f"Não é possível gravar na pasta {shown} ({disk_error_reason(error)}). "
            "O servidor guarda nela as contas e as mensagens, e não inicia sem isso. " + advice
        )
    return None


def disk_error_reason(error: OSError) -> str:
    """The system's reason, after a Portuguese word where we know one."""
    known = {errno.EACCES: "permissão negada", errno.EPERM: "operação não permitida",
             errno.EROFS: "sistema de arquivos somente leitura", errno.ENOSPC: "disco cheio"}
    reason = known.get(error.errno or 0)
    system_text = error.strerror or str(error)
    return f"{reason}; o sistema disse: {system_text}" if reason else f"o sistema disse: {system_text}"
