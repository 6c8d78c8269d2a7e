"""The data folder: one server per folder, and files written so a crash never tears them.

Owns nothing shared. :func:`lock_data_file` keeps a second server off the same
files; :func:`write_file_durably` replaces a file atomically and durably;
:func:`data_folder_problem` says, at start-up, why a folder cannot be used.
Called by the accounts and the mailbox (errors) and by the server's start-up.
"""

from __future__ import annotations

import errno
import logging
import os
import tempfile
from pathlib import Path

from batchat.server import os_support

log = logging.getLogger(__name__)


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
    lock_path = path.with_name(path.name + ".lock")
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
            raise FolderInUse(
                f"Outro servidor BatChat já usa os arquivos da pasta {path.parent.resolve()}; "
                "pare-o antes, ou use outra pasta: --users <outra pasta>/users.json."
            ) from None
        raise StorageError(f"não foi possível travar {lock_path}: {error.strerror}") from error
    return fd


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
