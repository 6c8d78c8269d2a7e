"""``--professor NOME`` at start: the one way an account becomes a teacher without a teacher.

Owns :func:`appoint_teachers`: each account named is marked a teacher in
users.json (later starts need no flag); one that does not exist is created
with a password asked twice, hidden, on the server's own terminal, and with
no terminal the start is refused in one sentence. Nothing on the network can
do this (CARGO is a teacher's command). Called by the server's start-up,
before it listens.
"""

from __future__ import annotations

import getpass
import logging
import sys
import unicodedata
from collections.abc import Callable

import protocol
from protocol import ProtocolError
from batchat.server.accounts import UserStore

log = logging.getLogger(__name__)

PASSWORD_TRIES = 3  # times the terminal is asked for a new teacher's password


class AppointmentError(Exception):
    """A teacher of ``--professor`` cannot be appointed: the sentence says why and what to do."""


def appoint_teachers(
    users: UserStore, names: list[str], *, ask: Callable[[str], str] = getpass.getpass,
    has_terminal: Callable[[], bool] = lambda: sys.stdin is not None and sys.stdin.isatty(),
) -> list[str]:
    """Make each of ``names`` a teacher, creating the missing accounts (see the module).
    Returns the names (as registered) of those who were not teachers before, for the
    record (``ACAO ... PROFESSOR``)."""
    appointed = []
    for name in names:
        registered = users.registered_name(name)
        try:
            if registered is None:
                if not has_terminal():
                    raise AppointmentError(
                        f"A conta {name} de --professor não existe, e sem um terminal o servidor não tem como "
                        "pedir a senha dela: inicie o servidor num terminal uma vez, ou crie a conta antes "
                        "(NOVO) e reinicie com --professor."
                    )
                registered = users.register(name, _ask_new_password(name, ask))
            if not users.is_teacher(registered):
                users.set_role(registered, True)
                appointed.append(registered)
        except ProtocolError as error:  # a name like an existing one's, or users.json unwritable
            raise AppointmentError(f"Não foi possível tornar {name} professor: {error.text}") from error
        log.info("%s é professor.", registered)
    return appointed


def _ask_new_password(name: str, ask: Callable[[str], str]) -> str:
    """A password for the new teacher ``name``, typed twice, hidden. Ctrl-D or Ctrl-C at
    the prompt, or the tries used up, refuse the start in one sentence (no traceback)."""
    problem = "as senhas não conferiram"
    try:
        for _ in range(PASSWORD_TRIES):
            try:
                password = protocol.validate_password(ask(f"Senha para a nova conta de professor {name}: "))
            except ProtocolError as error:
                log.warning("%s", error.text)
                problem = "nenhuma senha válida foi digitada"
                continue
            if unicodedata.normalize("NFC", ask("A mesma senha de novo, para conferir: ")) == password:
                return password
            log.warning("As duas senhas não conferem; tente de novo.")
            problem = "as senhas não conferiram"
    except (EOFError, KeyboardInterrupt):
        problem = "a digitação da senha foi interrompida"
    raise AppointmentError(f"A conta de professor {name} não foi criada: {problem}.")
