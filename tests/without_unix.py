"""Run ``servidor.py`` or ``cliente.py`` as a Windows machine would: without Unix.

Usage: ``python3 tests/without_unix.py servidor.py [options]``.

The Unix-only modules become unimportable (``sys.modules[name] = None`` makes
``import name`` raise ImportError), and the Unix-only names that Windows lacks
in modules it does have are removed, before the program is loaded. What the
tests then see is what a student on Windows gets, as far as Python can show it
here: a program that must degrade, not crash.
"""

from __future__ import annotations

import os
import runpy
import select
import selectors
import socket
import sys

UNIX_ONLY_MODULES = ("resource", "fcntl", "termios", "tty", "pty", "grp", "pwd", "readline")
# Names that Windows' socket, select and os modules do not have.
UNIX_ONLY_NAMES = {
    socket: ("MSG_DONTWAIT", "TCP_KEEPIDLE", "TCP_KEEPINTVL", "TCP_KEEPCNT", "TCP_USER_TIMEOUT"),
    select: ("poll", "epoll"),
    selectors: ("PollSelector", "EpollSelector", "DevpollSelector", "KqueueSelector"),
    os: ("O_DIRECTORY",),
}


def hide_unix() -> None:
    for name in UNIX_ONLY_MODULES:
        sys.modules[name] = None  # type: ignore[assignment]
    for module, names in UNIX_ONLY_NAMES.items():
        for name in names:
            if hasattr(module, name):
                delattr(module, name)
    selectors.DefaultSelector = selectors.SelectSelector  # type: ignore[misc]


if __name__ == "__main__":
    hide_unix()
    script = sys.argv[1]
    sys.argv = sys.argv[1:]
    sys.path[0] = os.path.dirname(os.path.abspath(script))
    runpy.run_path(script, run_name="__main__")
