"""What the client says of a peer that did not greet it as a BatChat server.

Owns the sentences for a connection whose peer sent nothing in time (:func:`no_greeting`)
or whose first line was no BatChat greeting (:func:`not_batchat`): either way no password
was sent. Pure; called by :class:`batchat.client.state.ClientState`; imports nothing of the client.
"""

from __future__ import annotations

FIRST_LINE_SHOWN = 60  # characters of a non-BatChat peer's first line quoted to the person


def no_greeting(where: str, seconds: float, *, back: bool) -> str:
    """The peer at ``where`` sent no line in ``seconds``; ``back``: an earlier connection's
    server had greeted us."""
    if back:
        return f"{where} aceitou a conexão, mas não respondeu em {seconds:g} s."
    return (f"{where} aceitou a conexão, mas não respondeu como um servidor BatChat "
            f"(nenhuma saudação em {seconds:g} s). O endereço e a porta (--host, --port) estão certos?")


def not_batchat(where: str, first_line: str, *, back: bool) -> str:
    """One sentence: the peer at ``where`` is no BatChat server, so nothing was sent to it."""
    if len(first_line) > FIRST_LINE_SHOWN:
        first_line = first_line[:FIRST_LINE_SHOWN - 1] + "…"
    if back:
        return (f"{where} não é mais um servidor BatChat (a primeira linha foi \"{first_line}\"): "
                "outro programa deve ter ocupado a porta, então nenhuma senha foi enviada e o "
                "cliente não vai reconectar.")
    return (f"{where} não é um servidor BatChat (a primeira linha foi \"{first_line}\"), então "
            "nenhuma senha foi enviada: confira o endereço e a porta (--host, --port).")
