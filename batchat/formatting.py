"""How the server's lines are written: ``OK``/``ERRO``, ``MSG``, ``TODOS``, ``PENDENTE``,
``HISTORICO``, ``ENTROU``/``SAIU``, ``USUARIO``, ``INFO``, the teacher's (``AVISO``,
``SILENCIADO``, ``LIBERADO``, ``PRIVADO``, ``CARGO``, ``ACAO``) and the words in them
(``GUARDADA``, ``ONLINE``, ``OFFLINE``, ``PROFESSOR``, ``ALUNO``), and the rooms' (``SALA``,
``TOPICO``, ``MEMBRO``, ``HISTORICO <#sala>``, ``FALA``, ``CHEGOU``, ``PARTIU``, ``MOVIDO``,
``ENCERRADA``).

Pure text, no I/O: :mod:`batchat.server.replies` encodes these for the wire; the
client reads the words (:mod:`batchat.client.render`) and tests build expected
lines with them. The grammar, times and the greeting stay in :mod:`protocol`.
"""

from __future__ import annotations

from collections.abc import Iterator

import protocol
from batchat import durations


def format_ok(command: str, detail: str = "") -> str:
    """``OK <COMANDO> [detalhe]``."""
    return f"OK {command} {detail}" if detail else f"OK {command}"


def format_error(error: protocol.ProtocolError) -> str:
    """``ERRO <CODIGO> <texto>``."""
    return f"ERRO {error.code} {error.text}"


def format_private(sender: str, text: str) -> str:
    """``MSG <remetente> <mensagem>``."""
    return f"MSG {sender} {text}"


def format_public(sender: str, text: str) -> str:
    """``TODOS <remetente> <mensagem>``."""
    return f"TODOS {sender} {text}"


def format_joined(name: str) -> str:
    """``ENTROU <usuario>``."""
    return f"ENTROU {name}"


def format_left(name: str) -> str:
    """``SAIU <usuario>``."""
    return f"SAIU {name}"


def format_info(text: str) -> str:
    """``INFO <texto>``."""
    return f"INFO {text}"


STORED = "GUARDADA"  # the detail of ``OK CHAT <usuario> GUARDADA``: kept, not yet delivered
ONLINE = "ONLINE"
OFFLINE = "OFFLINE"


def format_stored_ok(recipient: str) -> str:
    """``OK CHAT <usuario> GUARDADA``: the recipient is offline; the message waits for them."""
    return format_ok("CHAT", f"{recipient} {STORED}")


def format_waiting(sender: str, sent_at: float, text: str) -> str:
    """``PENDENTE <remetente> <quando> <mensagem>``: a private message kept while you were away."""
    return f"PENDENTE {sender} {protocol.format_timestamp(sent_at)} {text}"


def format_history(sender: str, sent_at: float, text: str) -> str:
    """``HISTORICO <remetente> <quando> <mensagem>``: a public message from before you came."""
    return f"HISTORICO {sender} {protocol.format_timestamp(sent_at)} {text}"


def format_account(name: str, online: bool, last_seen: float | None) -> str:
    """``USUARIO <nome> ONLINE`` or ``USUARIO <nome> OFFLINE [<visto>]`` (for ``LISTA TODOS``)."""
    if online:
        return f"USUARIO {name} {ONLINE}"
    seen = "" if last_seen is None else f" {protocol.format_timestamp(last_seen)}"
    return f"USUARIO {name} {OFFLINE}{seen}"


def format_waiting_count(count: int) -> str:
    """The ``INFO`` after the ``PENDENTE`` lines: how many there were."""
    waited = "mensagem privada esperava" if count == 1 else "mensagens privadas esperavam"
    return format_info(f"{count} {waited} por você.")


def help_lines(teacher: bool) -> Iterator[str]:
    """The ``INFO`` lines that answer ``AJUDA``: the commands the asker may use (a
    teacher's too only for a ``teacher``)."""
    return (
        format_info(help.line()) for help in protocol.COMMAND_HELP.values()
        if teacher or help.access is not protocol.Access.TEACHER
    )


# --- The teacher's lines (issue 20) ---

TEACHER = "PROFESSOR"  # the roles, as CARGO names them
STUDENT = "ALUNO"


def format_until(until: float | None) -> str:
    """``<ate>``: when a sanction ends (UTC ISO), or ``SEMPRE``."""
    return durations.FOREVER_WORD if until is None else protocol.format_timestamp(until)


def format_role(teacher: bool) -> str:
    return TEACHER if teacher else STUDENT


def format_announcement(teacher: str, text: str) -> str:
    """``AVISO <professor> <mensagem>``: pushed to everyone, and at each login while pinned."""
    return f"AVISO {teacher} {text}"


def format_muted(until: float, teacher: str, reason: str) -> str:
    """``SILENCIADO <ate> <professor> [motivo]``: pushed to a student just muted."""
    return f"SILENCIADO {format_until(until)} {teacher}" + (f" {reason}" if reason else "")


def format_released(teacher: str) -> str:
    """``LIBERADO <professor>``: the student's sanctions were lifted."""
    return f"LIBERADO {teacher}"


def format_private_chats(allowed: bool, teacher: str) -> str:
    """``PRIVADO NAO|SIM <professor>``: exam mode on (NAO) or off (SIM)."""
    return f"PRIVADO {'SIM' if allowed else 'NAO'} {teacher}"


def format_role_change(name: str, teacher: bool) -> str:
    """``CARGO <usuario> PROFESSOR|ALUNO``: pushed to the account whose role changed."""
    return f"CARGO {name} {format_role(teacher)}"


def format_act(when: float, teacher: str, act: str, target: str, detail: str) -> str:
    """``ACAO <quando> <professor> <ato> <alvo> [detalhe]``: one line of REGISTRO
    (``-`` for the server itself, or no target)."""
    line = f"ACAO {protocol.format_timestamp(when)} {teacher} {act} {target}"
    return f"{line} {detail}" if detail else line


# --- Rooms (issue 21): a room's name always with its '#' ---

NO_TOPIC = "-"  # TOPICO <#sala> -: the topic was taken away


def format_room(room: str, online: int, topic: str | None) -> str:
    """``SALA <#sala> <membros-online> [tópico]`` (SALAS, and at login for one's rooms)."""
    return f"SALA {room} {online} {topic}" if topic else f"SALA {room} {online}"


def format_topic(room: str, topic: str | None) -> str:
    """``TOPICO <#sala> <texto>``, or ``TOPICO <#sala> -`` when it has none now."""
    return f"TOPICO {room} {topic or NO_TOPIC}"


def format_member(room: str, name: str, online: bool) -> str:
    """``MEMBRO <#sala> <usuario> ONLINE|OFFLINE``."""
    return f"MEMBRO {room} {name} {ONLINE if online else OFFLINE}"


def format_room_history(room: str, sender: str, sent_at: float, text: str) -> str:
    """``HISTORICO <#sala> <remetente> <quando> <mensagem>`` (SALA ENTRAR's reply)."""
    return f"HISTORICO {room} {sender} {protocol.format_timestamp(sent_at)} {text}"


def format_room_message(room: str, sender: str, text: str) -> str:
    """``FALA <#sala> <remetente> <mensagem>``."""
    return f"FALA {room} {sender} {text}"


def format_arrived(room: str, name: str) -> str:
    """``CHEGOU <#sala> <usuario>``: someone came into the room."""
    return f"CHEGOU {room} {name}"


def format_departed(room: str, name: str) -> str:
    """``PARTIU <#sala> <usuario>``: someone left the room."""
    return f"PARTIU {room} {name}"


def format_moved(room: str, teacher: str) -> str:
    """``MOVIDO <#sala> <professor>``: a teacher put you in the room (its lines follow)."""
    return f"MOVIDO {room} {teacher}"


def format_room_closed(room: str, name: str) -> str:
    """``ENCERRADA <#sala> <usuario>``: the room was closed, by ``name``."""
    return f"ENCERRADA {room} {name}"
