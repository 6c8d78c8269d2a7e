"""The teacher's rules: what each of the teacher's commands does to accounts and sessions.

Owns :class:`TeachingService` (CARGO, REDEFINIR; next to them, as the
moderation store arrives, the announcement, the sanctions, exam mode and the
record), stateless itself: the accounts are :class:`batchat.server.accounts.UserStore`'s,
the sessions :class:`batchat.server.registry.SessionRegistry`'s. Like
:class:`batchat.server.chat.ChatService`, it sees sessions only through
:class:`batchat.server.registry.Member`, returns small results for the session
to format, and puts what goes to others into the caller's batch. Who may call
it is checked before (the command table's ``Access.TEACHER``, once, in the
session's dispatch). Called by the chat sessions and the server (``--professor``).
"""

from __future__ import annotations

import logging
import secrets

from protocol import ErrorCode, ProtocolError
from batchat import formatting
from batchat.server import replies
from batchat.server.accounts import UserStore
from batchat.server.delivery import Batch
from batchat.server.ending import Closer, Ending
from batchat.server.registry import SessionRegistry

log = logging.getLogger(__name__)

ONE_TIME_PASSWORD_BYTES = 9  # secrets.token_urlsafe: 12 characters, 72 random bits
PASSWORD_RESET = Ending(Closer.SERVER, "um professor redefiniu a senha")


class TeachingService:
    """The one owner of the teacher's rules, for every session (see the module).

    Each method takes the teacher's name and, when others hear of it, the
    caller's batch. A rule broken raises :class:`protocol.ProtocolError`.
    """

    def __init__(self, users: UserStore, registry: SessionRegistry) -> None:
        self._users = users
        self._registry = registry

    def set_role(self, teacher: str, target: str, make_teacher: bool, batch: Batch) -> str:
        """``CARGO``: ``target`` made a teacher or a student (``ULTIMO_PROFESSOR`` if that
        leaves none). Its sessions are told at once, and its powers change with the
        next line (the dispatch asks the store each time). Returns its name as registered."""
        registered = self._users.set_role(target, make_teacher)
        member = self._registry.find_online(registered)
        if member is not None:
            batch.add(member.connection, replies.line(formatting.format_role_change(registered, make_teacher)))
        log.info("%s tornou %s %s.", teacher, registered, "professor" if make_teacher else "aluno")
        return registered

    def reset_password(self, teacher: str, target: str) -> tuple[str, str]:
        """``REDEFINIR``: a one-time password for the student ``target`` (its name as
        registered, and the password); its open session gets ``ERRO SENHA_REDEFINIDA``
        and ends."""
        self._refuse_teacher(target)
        one_time = secrets.token_urlsafe(ONE_TIME_PASSWORD_BYTES)
        registered = self._users.set_password(target, one_time, provisional=True)
        error = ProtocolError(ErrorCode.PASSWORD_RESET, "Um professor redefiniu a sua senha; peça a senha provisória a ele.")
        self.end_sessions(registered, error, PASSWORD_RESET)
        log.info("%s redefiniu a senha de %s.", teacher, registered)
        return registered, one_time

    def _refuse_teacher(self, target: str) -> None:
        """``ALVO_PROFESSOR`` if ``target`` is a teacher (``USUARIO_INEXISTENTE`` if nobody)."""
        if self._users.registered_name(target) is None:
            raise ProtocolError(ErrorCode.UNKNOWN_USER, f"O usuário {target} não existe.")
        if self._users.is_teacher(target):
            raise ProtocolError(ErrorCode.TARGET_TEACHER, f"{target} é professor: isso não vale para professores.")

    def end_sessions(self, name: str, error: ProtocolError, ending: Ending) -> None:
        """Tell ``name``'s session ``error`` and close it, the way a newer login closes an
        older one: its line goes out, then the socket is shut, and its reader stops."""
        member = self._registry.find(name)
        if member is None:
            return
        connection = member.connection
        connection.enqueue(replies.error(error))
        connection.close(ending)  # sends the error first
        connection.stop_reading(ending)
