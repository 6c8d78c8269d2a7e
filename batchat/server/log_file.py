"""The server log's copy in a file (``--log-file``), rotated by size, for the teacher to read afterwards.

Owns :func:`open_log_file` and the rotation's sizes. Called only by the
server's start-up (:mod:`batchat.server.main`), which adds the handler to the
root logger beside stderr: every line of the log goes to both.
"""

from __future__ import annotations

import logging
import logging.handlers
from pathlib import Path

from batchat.server.storage import disk_error_reason

LOG_FILE_BYTES = 5 * 1024 * 1024  # a file reaching this size is renamed ARQUIVO.1 and a new one begins
LOG_FILE_BACKUPS = 3  # ARQUIVO.1 to ARQUIVO.3 are kept, the oldest dropped


class LogFileError(Exception):
    """The log file cannot be written; the argument is the sentence that says what to do."""


def open_log_file(path: Path, max_bytes: int = LOG_FILE_BYTES) -> logging.Handler:
    """A handler appending to ``path`` in UTF-8 (whatever the locale), rotated at
    ``max_bytes`` with LOG_FILE_BACKUPS old files kept; raise :class:`LogFileError`
    if it cannot be opened for writing."""
    advice = "Indique outro arquivo com --log-file, ou rode sem essa opção."
    if not path.parent.is_dir():
        raise LogFileError(f"Não foi possível gravar o log em {path}: a pasta {path.parent} não existe. {advice}")
    try:
        return logging.handlers.RotatingFileHandler(
            path, maxBytes=max_bytes, backupCount=LOG_FILE_BACKUPS, encoding="utf-8"
        )
    except OSError as error:
        raise LogFileError(f"Não foi possível gravar o log em {path} ({disk_error_reason(error)}). {advice}") from error
