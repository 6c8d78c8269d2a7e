"""What both programs need that differs between systems: the readable wait, and the note of what a system lacks.

Owns only the set of things already said to be missing (said once per
process). Called by the server's :mod:`batchat.server.os_support`, the
client's :mod:`batchat.client.terminal`, and the read loops of both sides.
"""

from __future__ import annotations

import logging
import selectors
import socket

log = logging.getLogger(__name__)

_skipped: set[str] = set()  # what was already said to be missing: said once per process


def skip(what: str) -> None:
    """Say once, at debug level, that this platform lacks ``what``."""
    if what not in _skipped:
        _skipped.add(what)
        log.debug("Este sistema não oferece %s; seguindo sem.", what)


# poll() where it exists: select() cannot watch a descriptor numbered 1024 or
# more, which a busy Linux server has. Windows has no poll(), but its select()
# takes any socket.
_WAIT_SELECTOR: type[selectors.BaseSelector] = getattr(selectors, "PollSelector", selectors.SelectSelector)


def wait_readable(sock: socket.socket, timeout: float) -> bool:
    """Whether ``sock`` has bytes (or an end) to read within ``timeout`` seconds."""
    with _WAIT_SELECTOR() as selector:
        selector.register(sock, selectors.EVENT_READ)
        return bool(selector.select(max(0.0, timeout)))
