"""Clients that speak another protocol: an HTTP request or a TLS ClientHello where BatChat lines belong.

Owns :func:`foreign_protocol` (naming the protocol from a connection's first
bytes) and :func:`foreign_protocol_error` (the one line such a client gets).
Pure; called by the read loop and the TLS handshake, on a connection's start only.
"""

from __future__ import annotations

import re

from protocol import ErrorCode, ProtocolError

_HTTP_REQUEST_RE = re.compile(
    rb"(GET|HEAD|POST|PUT|DELETE|OPTIONS|PATCH|CONNECT|TRACE|PRI) \S+ HTTP/\d(\.\d)?\r?\n?"
)
_TLS_HANDSHAKE = 0x16  # the first byte of every TLS (and SSL 3) handshake record


def foreign_protocol(first_bytes: bytes) -> str | None:
    """Name the protocol a connection's first bytes belong to, if not ours.

    ``"HTTP"`` for an HTTP request line, ``"TLS"`` for a TLS ClientHello;
    ``None`` when it may be BatChat. Only the start of a connection is checked.
    """
    if first_bytes[:1] == bytes([_TLS_HANDSHAKE]):
        return "TLS"
    first_line = first_bytes.split(b"\n", 1)[0] + b"\n"
    if _HTTP_REQUEST_RE.fullmatch(first_line):
        return "HTTP"
    return None


def foreign_protocol_error(name: str) -> ProtocolError:
    """The one line a non-BatChat client gets before being disconnected."""
    return ProtocolError(
        ErrorCode.WRONG_PROTOCOL,
        f"Isto é um servidor de chat BatChat (texto puro), não {name}. "
        "Use: python3 cliente.py --host <servidor>",
    )
