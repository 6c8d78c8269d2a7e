"""Which public messages were shown, so that a history replayed at a re-login skips them.

Owns :data:`PublicKey` (a public message, as far as the client can tell), :func:`public_of`
(the one a ``TODOS`` or ``HISTORICO`` line carries) and :func:`replay_overlap`. Pure; called by
:class:`batchat.client.state.ClientState`; imports :mod:`protocol` and
:mod:`batchat.client.server_lines` only.
"""

from __future__ import annotations

import protocol
from batchat.client import server_lines

RECENT_PUBLIC = 1000  # public messages remembered, so a replayed history skips what was shown
PublicKey = tuple[str, str]  # (sender's name key, text): a public message, as far as we can tell


def public_key(sender: str, text: str) -> PublicKey:
    return protocol.name_key(sender), text


def replay_overlap(shown: list[PublicKey], replayed: list[PublicKey]) -> int:
    """How many of the history lines replayed at a re-login were shown already.

    The replay is the newest stretch of the public messages, and what was
    shown is an older stretch of them; so the answer is the longest start of
    ``replayed`` that is also the end of ``shown``. Matching stretches, not
    single lines, keeps a new "oi" that repeats an old one.
    """
    for count in range(min(len(shown), len(replayed)), 0, -1):
        if replayed[:count] == shown[-count:]:
            return count
    return 0


def public_of(parsed: server_lines.ServerLine) -> PublicKey | None:
    """The public message a ``TODOS`` or ``HISTORICO`` line carries; ``None`` for others."""
    match parsed.kind, parsed.fields:
        case ("TODOS", (sender, text)) | ("HISTORICO", (sender, _, text)):
            return public_key(sender, text)
    return None
