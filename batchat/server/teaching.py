"""The teacher's rules: what each of the teacher's commands does, and what a sanction forbids.

Owns :class:`TeachingService`: AVISO, SILENCIAR, EXPULSAR, BANIR, LIBERAR,
PRIVADO, REDEFINIR, REGISTRO and CARGO; the checks on the message path (a
muted student, exam mode: :meth:`check_private`, :meth:`check_public`) and at
ENTRAR (:meth:`login_refusal`, :meth:`login_notices`). Stateless itself: the
accounts are :class:`batchat.server.accounts.UserStore`'s, the sanctions, the
pinned announcement, exam mode and the record
:class:`batchat.server.moderation.Moderation`'s, the sessions
:class:`batchat.server.registry.SessionRegistry`'s. Like
:class:`batchat.server.chat.ChatService`, it sees sessions only through
:class:`batchat.server.registry.Member`, returns small results for the
session to format, and puts what goes to others into the caller's batch. Who
may call a teacher's command is checked before (the command table's
``Access.TEACHER``, once, in the session's dispatch). Called by the chat
service, the chat sessions and the server (``--professor``).
"""

from __future__ import annotations

import functools
import logging
import secrets
import time
from collections.abc import Callable

import protocol
from protocol import ErrorCode, ProtocolError
from batchat import formatting
from batchat.server import replies
from batchat.server.accounts import UserStore
from batchat.server.delivery import Batch
from batchat.server.ending import Closer, Ending
from batchat.server.moderation import Act, Kind, Moderation, NOBODY, Sanction
from batchat.server.registry import Member, SessionRegistry

log = logging.getLogger(__name__)

ONE_TIME_PASSWORD_BYTES = 9  # secrets.token_urlsafe: 12 characters, 72 random bits
PASSWORD_RESET = Ending(Closer.SERVER, "um professor redefiniu a senha")
KICKED = Ending(Closer.SERVER, "expulso por um professor")
BANNED = Ending(Closer.SERVER, "banido por um professor")
_SANCTION_ACTS = {Kind.MUTE: "SILENCIAR", Kind.KICK: "EXPULSAR", Kind.BAN: "BANIR"}
_SANCTION_WORDS = {
    Kind.MUTE: (ErrorCode.MUTED, "silenciado"), Kind.KICK: (ErrorCode.KICKED, "expulso"),
    Kind.BAN: (ErrorCode.BANNED, "banido"),
}
EXAM_MEANS = "Modo prova: CHAT entre alunos está bloqueado; CHAT para um professor continua valendo."
MUTED_MEANS = "Até lá, TODOS e CHAT para alunos não valem; CHAT para um professor continua valendo."



@functools.lru_cache(maxsize=protocol.NAME_CACHE_SIZE)  # on the message path: TODOS and CHAT
def sanction_key(name: str) -> str:
    """Whose a sanction is: the name's look-alike skeleton (:func:`protocol.name_skeleton`),
    so that deleting the account and registering ``joão`` for a muted ``joao`` keeps the
    mute, as ``NOVO`` treats the two as one name. (Two look-alike accounts from before
    that rule share their sanctions.)"""
    return protocol.name_skeleton(name)

class TeachingService:
    """The one owner of the teacher's rules, for every session (see the module).

    Each command method takes the teacher's name and, when others hear of it,
    the caller's batch. A rule broken raises :class:`protocol.ProtocolError`.
    ``now``: the wall clock (sanctions end at a time of day); tests pass theirs.
    """

    def __init__(
        self, users: UserStore, registry: SessionRegistry, moderation: Moderation, kick_wait: int,
        now: Callable[[], float] = time.time,
    ) -> None:
        self._users = users
        self._registry = registry
        self._moderation = moderation
        self._kick_wait = kick_wait
        self._now = now

    # --- on the message path and at login: memory only --------------------------

    def check_public(self, sender: str) -> None:
        """``TODOS``: ``SILENCIADO`` for a muted student (one dict lookup when nobody is).
        A teacher is never held back, even one promoted while a sanction ran."""
        if self._moderation.quiet:  # nearly always: nobody muted, no exam
            return
        mute = self._moderation.current(sanction_key(sender), self._now()).mute
        if mute is not None and not self._users.is_teacher(sender):
            raise _sanction_error(mute, MUTED_MEANS)

    def check_private(self, sender: str, recipient: str) -> None:
        """``CHAT``: a muted student writes only to teachers; in exam mode, a CHAT where
        neither side is a teacher is ``PRIVADO_BLOQUEADO``. A teacher (the sender or the
        recipient) is never held back."""
        if self._moderation.quiet:  # nearly always: nobody muted, no exam
            return
        mute = self._moderation.current(sanction_key(sender), self._now()).mute
        exam = not self._moderation.private_state().open
        if (mute is None and not exam) or self._users.is_teacher(recipient) or self._users.is_teacher(sender):
            return
        if mute is not None:
            raise _sanction_error(mute, MUTED_MEANS)
        raise ProtocolError(ErrorCode.PRIVATE_BLOCKED, EXAM_MEANS)

    def login_refusal(self, name: str) -> ProtocolError | None:
        """The ``ERRO BANIDO``/``EXPULSO`` for an account whose password was right, or ``None``."""
        sanctions = self._moderation.current(sanction_key(name), self._now())
        if not sanctions or self._users.is_teacher(name):
            return None
        if sanctions.ban is not None:
            return _sanction_error(sanctions.ban)
        if sanctions.kick is not None:
            return _sanction_error(sanctions.kick)
        return None

    def login_notices(self) -> bytes:
        """What a login gets right before ``OK ENTRAR``: the pinned ``AVISO``, and ``PRIVADO
        NAO`` while exam mode lasts."""
        lines = []
        pinned = self._moderation.pinned()
        if pinned is not None:
            lines.append(formatting.format_announcement(pinned.teacher, pinned.text))
        private = self._moderation.private_state()
        if not private.open:
            lines.append(formatting.format_private_chats(False, private.teacher or NOBODY))
        return b"".join(replies.line(line) for line in lines)

    # --- the teacher's commands --------------------------------------------------

    def announce(self, teacher: Member, text: str | None, batch: Batch) -> None:
        """``AVISO``: pinned (``None``: unpinned), and pushed to everyone online, the
        teacher first (before its ``OK``)."""
        name = _name(teacher)
        act = self._act(name, "AVISO", NOBODY, text if text is not None else "-")
        if text is None:
            self._moderation.unpin(act)
            return
        self._moderation.pin(name, text, act)
        self._tell_everyone(teacher, formatting.format_announcement(name, text), batch)

    def set_private_chats(self, teacher: Member, allowed: bool, batch: Batch) -> None:
        """``PRIVADO SIM|NAO``: exam mode off or on; everyone online is told."""
        name = _name(teacher)
        act = self._act(name, "PRIVADO", NOBODY, "SIM" if allowed else "NAO")
        self._moderation.set_private_open(allowed, name, act)
        self._tell_everyone(teacher, formatting.format_private_chats(allowed, name), batch)

    def sanction(
        self, teacher: str, target: str, kind: Kind, seconds: int | None, reason: str, batch: Batch
    ) -> tuple[str, str]:
        """``SILENCIAR``, ``EXPULSAR`` (``seconds`` is the server's kick wait) or ``BANIR``
        (``None``: forever): the student's name as registered, and ``<ate>``."""
        registered = self._student(target)
        if kind is Kind.KICK:
            seconds = self._kick_wait
        now = self._now()
        until = None if seconds is None else now + seconds
        shown_until = formatting.format_until(until)
        detail = f"{shown_until} {reason}".rstrip()
        given = self._moderation.sanction(
            sanction_key(registered), kind, until, teacher, reason,
            self._act(teacher, _SANCTION_ACTS[kind], registered, detail, now),
        )
        if kind is Kind.MUTE:
            member = self._registry.find_online(registered)
            if member is not None:
                batch.add(member.connection, replies.line(formatting.format_muted(until or now, teacher, reason)))
        else:
            error = _sanction_error(given)
            self.end_session(registered, error, BANNED if kind is Kind.BAN else KICKED)
        log.info("%s: %s %s até %s.", teacher, _SANCTION_ACTS[kind], registered, shown_until)
        return registered, shown_until

    def release(self, teacher: str, target: str, batch: Batch) -> str:
        """``LIBERAR``: lifts mute, kick wait and ban; the student hears ``LIBERADO``."""
        registered = self._existing(target)
        self._moderation.lift(sanction_key(registered), self._act(teacher, "LIBERAR", registered, ""))
        member = self._registry.find_online(registered)
        if member is not None:
            batch.add(member.connection, replies.line(formatting.format_released(teacher)))
        log.info("%s liberou %s.", teacher, registered)
        return registered

    def last_acts(self, count: int) -> list[bytes]:
        """``REGISTRO``: an ``ACAO`` line per act, oldest first."""
        return [
            replies.line(formatting.format_act(act.when, act.teacher, act.act, act.target, act.detail))
            for act in self._moderation.last_acts(count)
        ]

    def set_role(self, teacher: str, target: str, make_teacher: bool, batch: Batch) -> str:
        """``CARGO``: ``target`` made a teacher or a student (``ULTIMO_PROFESSOR`` if that
        leaves none). Its session is told at once, and its powers change with its
        next line (the dispatch asks the store each time). Its name as registered."""
        registered = self._users.set_role(target, make_teacher)
        self._record(teacher, "CARGO", registered, formatting.format_role(make_teacher))
        member = self._registry.find_online(registered)
        if member is not None:
            batch.add(member.connection, replies.line(formatting.format_role_change(registered, make_teacher)))
        log.info("%s tornou %s %s.", teacher, registered, "professor" if make_teacher else "aluno")
        return registered

    def reset_password(self, teacher: str, target: str) -> tuple[str, str]:
        """``REDEFINIR``: a one-time password for the student ``target`` (its name as
        registered, and the password); its session gets ``ERRO SENHA_REDEFINIDA`` and ends."""
        self._student(target)
        one_time = secrets.token_urlsafe(ONE_TIME_PASSWORD_BYTES)
        registered = self._users.set_password(target, one_time, provisional=True)
        self._record(teacher, "REDEFINIR", registered)
        error = ProtocolError(
            ErrorCode.PASSWORD_RESET, "Um professor redefiniu a sua senha; peça a senha provisória a ele."
        )
        self.end_session(registered, error, PASSWORD_RESET)
        log.info("%s redefiniu a senha de %s.", teacher, registered)
        return registered, one_time

    def record(self, actor: str, act: str, target: str) -> None:
        """An act that is no teacher's command: ``EXCLUIR`` (a person deleting their own
        account), ``PROFESSOR`` (``--professor`` at start; ``actor`` is ``-``)."""
        self._record(actor, act, target)

    def _record(self, actor: str, act: str, target: str, detail: str = "") -> None:
        self._moderation.record(self._now(), actor, act, target, detail)

    # --- helpers -------------------------------------------------------------------

    def end_session(self, name: str, error: ProtocolError, ending: Ending) -> None:
        """Tell ``name``'s session ``error`` and close it, the way a newer login closes an
        older one: its line goes out, then the socket is shut, and its reader stops
        (the others hear ``SAIU`` as it ends)."""
        member = self._registry.find(name)
        if member is None:
            return
        connection = member.connection
        connection.enqueue(replies.error(error))
        connection.close(ending)  # sends the error first
        connection.stop_reading(ending)

    def _tell_everyone(self, teacher: Member, line: str, batch: Batch) -> None:
        """``line`` to everyone online, the teacher first."""
        data = replies.line(line)
        batch.add(teacher.connection, data)
        for member in self._registry.broadcast(teacher, None):
            batch.add(member.connection, data)

    def _existing(self, target: str) -> str:
        registered = self._users.registered_name(target)
        if registered is None:
            raise ProtocolError(ErrorCode.UNKNOWN_USER, f"O usuário {target} não existe.")
        return registered

    def _student(self, target: str) -> str:
        """``target``'s name as registered; ``ALVO_PROFESSOR`` for a teacher."""
        registered = self._existing(target)
        if self._users.is_teacher(registered):
            raise ProtocolError(
                ErrorCode.TARGET_TEACHER, f"{registered} é professor: isso não vale para professores."
            )
        return registered

    def _act(self, teacher: str, act: str, target: str, detail: str, when: float | None = None) -> Act:
        return Act(self._now() if when is None else when, teacher, act, target, detail)


def _name(member: Member) -> str:
    assert member.name is not None  # a teacher's command: logged in
    return member.name


def _sanction_error(sanction: Sanction, after: str = "") -> ProtocolError:
    """``ERRO SILENCIADO|EXPULSO|BANIDO <ate> <texto>``: who, until when, why, and ``after``
    (what the person can still do)."""
    code, done = _SANCTION_WORDS[sanction.kind]
    when = None if sanction.until is None else protocol.format_timestamp(sanction.until)
    reason = f" (motivo: {sanction.reason})" if sanction.reason else ""
    if sanction.kind is Kind.KICK:
        text = f"Você foi expulso por {sanction.teacher}{reason}; pode entrar de novo a partir de {when}."
    else:
        until = "para sempre" if when is None else f"até {when}"
        text = f"Você foi {done} por {sanction.teacher} {until}{reason}. {after}".rstrip()
    return ProtocolError(code, f"{formatting.format_until(sanction.until)} {text}")
