"""The server's lines as the client reads them: each split into its kind and its fields.

Owns :class:`ServerLine` and :func:`parse_server_line`; the grammar of those
lines is in ``protocol.py``'s docstring. Pure; called by the client's state
and rendering.
"""

from __future__ import annotations

from dataclasses import dataclass

import protocol

@dataclass(frozen=True)
class ServerLine:
    """One server line split into its kind and fields.

    ``kind`` is the first word (``OK``, ``ERRO``, ``MSG``, ``TODOS``, ``ENTROU``,
    ``SAIU``, ``INFO``, ``PENDENTE``, ``HISTORICO``, ``USUARIO``, ``LIMITES``,
    ``BATCHAT``, and a teacher's ``AVISO``, ``SILENCIADO``, ``LIBERADO``, ``PRIVADO``,
    ``CARGO``, ``ACAO``, and the rooms' lines); ``fields``
    holds the words the grammar defines for that kind, the last one keeping
    the rest of the line (missing ones are ``""``).
    """

    kind: str
    fields: tuple[str, ...]


# How many fields each kind has, the last one taking the rest of the line.
_SERVER_FIELDS = {
    "OK": 2, "ERRO": 2, "MSG": 2, "TODOS": 2, "ENTROU": 1, "SAIU": 1, "INFO": 1,
    "PENDENTE": 3, "HISTORICO": 3, "USUARIO": 3, protocol.GREETING_WORD: 2,
    "LIMITES": 5,  # the four known, then whatever a newer server adds (ignored)
    # A teacher's acts (batchat.client.teacher_lines reads them): AVISO <professor> <mensagem>,
    # SILENCIADO <ate> <professor> [motivo], LIBERADO <professor>, PRIVADO NAO|SIM <professor>,
    # CARGO <usuario> <cargo>, ACAO <quando> <professor> <ato> <alvo> [detalhe].
    "AVISO": 2, "SILENCIADO": 2, "LIBERADO": 1, "PRIVADO": 2, "CARGO": 2, "ACAO": 5,
    # Rooms (batchat.client.rooms reads them): FALA <#sala> <remetente> <mensagem>, CHEGOU|PARTIU
    # <#sala> <usuario>, MOVIDO|ENCERRADA <#sala> <usuario>, TOPICO <#sala> <texto>, MEMBRO <#sala>
    # <usuario> ONLINE|OFFLINE, SALA <#sala> <membros-online> [tópico]; HISTORICO <#sala> ... too.
    "FALA": 3, "CHEGOU": 2, "PARTIU": 2, "MOVIDO": 2, "ENCERRADA": 2, "TOPICO": 2, "MEMBRO": 3, "SALA": 3,
}


def parse_server_line(line: str) -> ServerLine:
    """Split a server line; an unknown kind comes back as ``INFO`` with the whole line."""
    kind, _, rest = line.partition(" ")
    count = _SERVER_FIELDS.get(kind)
    if count is None:
        return ServerLine("INFO", (line,))
    fields = rest.split(" ", count - 1) if rest else []
    fields += [""] * (count - len(fields))
    return ServerLine(kind, tuple(fields))
