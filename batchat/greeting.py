"""The greeting: how a BatChat server says it is one (``BATCHAT <versao> <texto>``).

Owns the greeting's word, the protocol version, :class:`Greeting`, :func:`format_greeting`
and :func:`parse_greeting`; :mod:`protocol` offers them under its own name (its grammar
names the greeting), and says which commands wait for it (``PASSWORD_COMMANDS``). Pure:
no I/O. Called by both programs, through :mod:`protocol`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

GREETING_WORD = "BATCHAT"
PROTOCOL_VERSION = 1
# The word, a version without sign or leading zero, then the welcome text (optional).
_GREETING_RE = re.compile(r"BATCHAT ([1-9][0-9]{0,8})(?: (.*))?", re.ASCII | re.DOTALL)


@dataclass(frozen=True)
class Greeting:
    """``BATCHAT <versao> <texto>``: the server is BatChat, of this protocol version."""

    version: int
    text: str


def format_greeting(text: str) -> str:
    """``BATCHAT <versao> <texto>``: a server's first line on every connection it serves."""
    return f"{GREETING_WORD} {PROTOCOL_VERSION} {text}"


def parse_greeting(line: str) -> Greeting | None:
    """The greeting ``line`` is, or ``None`` if it is none (then the peer is not BatChat).

    Exact: the word in capitals, one space, a version number, and the text after
    one more space; any version is taken (a newer server still says who it is).
    """
    match = _GREETING_RE.fullmatch(line)
    if match is None:
        return None
    return Greeting(int(match.group(1)), match.group(2) or "")
